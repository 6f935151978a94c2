"""train.ema_decay through the trainer and the run folder: the average travels in every checkpoint, the test lines
come from it, `genzoo.load` and the verbs use it, and resuming continues from the live weights (the crash-resume
tests in tests/reliability/test_resume.py check that the result is bit-exact)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.run_folder import AVERAGE_PREFIX, RunFolder, split_average
from genzoo.train.trainer import Trainer

from conftest import build_tiny_config, newest_weights, read_metrics


@pytest.fixture(scope="module")
def averaged_run(tmp_path_factory) -> Path:
    config = build_tiny_config("vae", train={"epochs": 2, "ema_decay": 0.9})
    run = tmp_path_factory.mktemp("ema") / "vae"
    genzoo.train(config, run, verbose=False)
    return run


def test_checkpoints_hold_the_live_weights_and_their_average(averaged_run):
    live, average = split_average(newest_weights(averaged_run))
    assert live.keys() == average.keys() and live
    assert any(not torch.equal(live[k], average[k]) for k in live)
    for averaged, key in ((True, average), (False, live)):
        model = genzoo.load(averaged_run, averaged=averaged)
        assert all(torch.equal(v, key[k]) for k, v in model.state_dict().items())


def test_the_test_lines_come_from_the_average(averaged_run):
    folder = RunFolder(averaged_run)
    last_test = [r for r in read_metrics(averaged_run) if r["split"] == "test"][-1]
    for averaged in (True, False):
        model = genzoo.load(averaged_run, averaged=averaged)
        config = folder.config()
        trainer = Trainer(model, folder.data(), config, averaged_run, torch.device("cpu"), verbose=False)
        loss = trainer.evaluate()["loss"]  # the same RNG stream as the trainer's test line
        if averaged:
            assert loss == pytest.approx(last_test["loss"], rel=1e-6)
        else:
            assert loss != pytest.approx(last_test["loss"], rel=1e-6)


def test_a_tied_adversarial_autoencoder_can_be_averaged(tmp_path):
    """The old model.ema_decay averaged the AAE's decoder alone and refused a tied one; the whole model's average
    has no such limit."""
    config = build_tiny_config("aae", model={"tied": True}, train={"ema_decay": 0.9})
    genzoo.train(config, tmp_path / "aae", verbose=False)
    weights = newest_weights(tmp_path / "aae")
    assert any(k.startswith(AVERAGE_PREFIX + "encoder.") for k in weights)
    samples = genzoo.sample(tmp_path / "aae", n=4)
    assert samples.shape == (4, 1, 28, 28) and torch.isfinite(samples).all()
