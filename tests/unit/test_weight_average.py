"""train.ema_decay's moving average of the weights (train/averaging.py), on its own."""

from __future__ import annotations

import torch
from torch import nn

from genzoo.run_folder import AVERAGE_PREFIX, split_average
from genzoo.train.averaging import WeightAverage


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_the_average_is_a_frozen_copy_that_warms_up_then_lerps():
    live = small_net()
    average = WeightAverage(live, decay=0.99)
    assert all(not p.requires_grad for p in average.model.parameters())
    assert not {id(p) for p in live.parameters()} & {id(p) for p in average.model.parameters()}
    before = [p.clone() for p in average.model.parameters()]
    with torch.no_grad():
        for p in live.parameters():
            p.add_(1.0)
    average.update(step=5)
    decay = min(0.99, 6 / 15)  # the warm-up at step 5: (1 + t) / (10 + t)
    for old, now, new in zip(before, live.parameters(), average.model.parameters()):
        torch.testing.assert_close(new, decay * old + (1 - decay) * now)
    before = [p.clone() for p in average.model.parameters()]
    average.update(step=10**6)  # past the warm-up: the configured decay
    for old, now, new in zip(before, live.parameters(), average.model.parameters()):
        torch.testing.assert_close(new, 0.99 * old + 0.01 * now)


def test_buffers_are_the_live_models_own_statistics():
    live = small_net().train()
    average = WeightAverage(live, decay=0.9)
    live(torch.randn(8, 3))  # batch norm updates its running statistics and counter
    average.update(step=100)
    for a, b in zip(average.model.buffers(), live.buffers()):
        assert torch.equal(a, b)


def test_a_checkpoints_tensors_split_into_live_and_average():
    live = small_net()
    average = WeightAverage(live, decay=0.9)
    with torch.no_grad():
        for p in live.parameters():
            p.mul_(2.0)
    weights = {**live.state_dict(), **average.state_dict()}
    assert all(k.startswith(AVERAGE_PREFIX) for k in average.state_dict())
    got_live, got_average = split_average(weights)
    assert got_live.keys() == got_average.keys() == live.state_dict().keys()
    assert all(torch.equal(got_live[k], v) for k, v in live.state_dict().items())
    assert all(torch.equal(got_average[k], v) for k, v in average.model.state_dict().items())
    assert split_average(live.state_dict())[1] == {}  # a run without an average

    resumed = WeightAverage(small_net(), decay=0.9)
    resumed.load(got_average)
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.parameters(), average.model.parameters()))
