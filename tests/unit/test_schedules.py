"""Training controls: learning-rate schedules (train/schedules.py), gradient clipping and AdamW, as the trainer
applies them."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

import genzoo
from genzoo.config import RunConfig
from genzoo.errors import GenzooError
from genzoo.run_folder import latest_valid, load_train_state
from genzoo.train.schedules import lr_factor

from conftest import build_tiny_config


def test_constant_is_one_throughout():
    assert [lr_factor(s, 10) for s in range(10)] == [1.0] * 10


def test_warmup_ramps_linearly_then_hands_over():
    assert [lr_factor(s, 100, warmup_steps=4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    # in front of a cosine: the cosine starts at 1 where the ramp ends
    assert lr_factor(3, 100, "cosine", warmup_steps=4) == lr_factor(4, 100, "cosine", warmup_steps=4) == 1.0


def test_cosine_falls_from_one_to_the_floor_at_the_last_step():
    total, floor = 51, 0.1  # 50 steps of decay: step 25 is halfway
    factors = [lr_factor(s, total, "cosine", min_lr_ratio=floor) for s in range(total)]
    assert factors[0] == 1.0 and factors[-1] == pytest.approx(floor)
    assert all(a >= b for a, b in itertools.pairwise(factors))
    assert factors[25] == pytest.approx(floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(total + 10, total, "cosine", min_lr_ratio=floor) == pytest.approx(floor)  # past the end


def test_step_decays_every_n_steps_after_warmup():
    factors = [lr_factor(s, 100, "step", warmup_steps=2, decay_every=3, decay_factor=0.5) for s in range(10)]
    assert factors == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25])


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"schedule": "linear"}, "train.schedule"),
        ({"schedule": "step"}, "train.schedule=step needs train.decay_every"),
        ({"warmup_steps": -1}, "train.warmup_steps=-1"),
        ({"min_lr_ratio": 1.5}, "train.min_lr_ratio=1.5"),
        ({"decay_factor": 0}, "train.decay_factor=0"),
        ({"clip_grad_norm": 0}, "train.clip_grad_norm=0"),
        ({"optimizer": "sgd"}, "train.optimizer"),
    ],
)
def test_bad_training_controls_are_refused_naming_the_key(train, message):
    with pytest.raises(GenzooError, match=message):
        RunConfig.from_dict(build_tiny_config("vae", train=train))


def test_the_trainer_sets_the_scheduled_lr_and_clips_every_update(tmp_path):
    max_norm, norms = 0.5, []

    def record_norm(optimizer, args, kwargs):  # runs just before every optimizer step, after clipping
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    config = build_tiny_config(
        "vae",
        train={
            "schedule": "cosine",
            "warmup_steps": 3,
            "min_lr_ratio": 0.2,
            "clip_grad_norm": max_norm,
            "optimizer": "adamw",
            "weight_decay": 0.01,
            "lr": 2e-3,
        },
    )
    handle = register_optimizer_step_pre_hook(record_norm)  # every optimizer of the process
    try:
        genzoo.train(config, tmp_path / "run", verbose=False)
    finally:
        handle.remove()
    assert len(norms) == 8 and max(norms) <= max_norm * (1 + 1e-5)  # 8 steps, every one clipped to 0.5
    state = load_train_state(latest_valid(tmp_path / "run" / "checkpoints"))
    (group,) = state["optimizers"]["loss"]["param_groups"]
    assert group["lr"] == pytest.approx(2e-3 * 0.2)  # the last update (step 7 of 8) ran at the cosine's floor
    assert group["weight_decay"] == 0.01 and group["decoupled_weight_decay"] is True  # AdamW (Adam: False)


def test_plateau_cuts_the_lr_after_patience_epochs_without_a_better_validation_loss():
    """The trainer's bookkeeping of validation losses (Trainer._judge_epoch), on a stand-in holding its state."""
    from types import SimpleNamespace

    from genzoo.train.trainer import Trainer

    config = RunConfig.from_dict(
        build_tiny_config(
            "vae",
            data={"validation_size": 64},
            train={"schedule": "plateau", "plateau_patience": 2, "decay_factor": 0.5, "keep_best": True},
        )
    )
    trainer = SimpleNamespace(config=config, best_loss=math.inf, stale_epochs=0, plateau_scale=1.0, improved=False)
    seen = []
    for loss in [10.0, 9.0, 9.5, 9.2, 8.0, 8.5, 8.5, 8.1, 8.2]:
        Trainer._judge_epoch(trainer, loss)
        seen.append((trainer.plateau_scale, trainer.improved))
    assert seen == [
        (1.0, True),
        (1.0, True),
        (1.0, False),
        (0.5, False),  # two epochs without beating 9.0: cut
        (0.5, True),
        (0.5, False),
        (0.25, False),  # 8.5 twice, neither beats 8.0
        (0.25, False),
        (0.125, False),
    ]
    assert trainer.best_loss == 8.0


def test_plateau_needs_a_validation_slice():
    with pytest.raises(GenzooError, match="train.schedule=plateau needs data.validation_size > 0"):
        RunConfig.from_dict(build_tiny_config("vae", train={"schedule": "plateau"}))
