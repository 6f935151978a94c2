"""Exact resume: an interrupted and resumed run ends bit for bit where the uninterrupted run ends.

Compared: every tensor of the final model.safetensors (torch.equal), the optimizer states in train_state.pt,
metrics.jsonl byte for byte, and the final sample grid. Configs here log every 2 steps and checkpoint every 4,
so every checkpoint falls on a log line (see test_resume_metrics_when_log_every_does_not_divide_the_epoch for
what happens otherwise).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.models.registry import model_names
from genzoo.train import checkpoint as ckpt

from conftest import assert_same_run, build_tiny_config, newest_weights

RESUME_TRAIN = {"epochs": 2, "log_every": 2, "checkpoint_every": 4, "keep_checkpoints": 2}


def resume_config(model: str = "vae", **train) -> dict:
    return build_tiny_config(model, train={**RESUME_TRAIN, **train})


def train_run(config: dict, run_dir: Path) -> Path:
    genzoo.train(config, run_dir, verbose=False)
    return run_dir


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """The uninterrupted 2-epoch VAE run every resume below must reproduce. Read-only."""
    return train_run(resume_config("vae"), tmp_path_factory.mktemp("reference") / "vae")


@pytest.mark.parametrize("model", model_names())
def test_one_epoch_then_resume_equals_two_epochs(model, tmp_path, request):
    reference = (
        request.getfixturevalue("reference_run")
        if model == "vae"
        else train_run(resume_config(model), tmp_path / "reference")
    )
    run = train_run(resume_config(model, epochs=1), tmp_path / "interrupted")
    assert ckpt.latest_valid(run / "checkpoints").step == 8
    result = genzoo.resume(run, epochs=2, verbose=False)
    assert result.step == 16
    assert_same_run(reference, run)


def test_resume_from_a_mid_epoch_checkpoint_after_a_crash(reference_run, tmp_path, capsys):
    run = Path(shutil.copytree(reference_run, tmp_path / "crashed"))
    # The crash: the newest checkpoint (end of epoch 2) never made it; metrics.jsonl ends in a torn line.
    shutil.rmtree(run / "checkpoints" / "step-000016")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 17, "epo')
    assert ckpt.latest_valid(run / "checkpoints").step == 12  # mid-epoch 2 (8 steps per epoch)
    genzoo.resume(run)
    assert "from step-000012" in capsys.readouterr().out
    assert_same_run(reference_run, run)


def test_a_scheduled_clipped_averaged_adamw_run_resumes_bit_exact_after_a_crash(tmp_path):
    """The schedule is a function of the step and the run's length, clipping and AdamW of the gradients, the
    weights' moving average travels in every checkpoint: a run that crashed mid-epoch and resumed reproduces the
    uninterrupted one (the run's length unchanged; extending a run with --epochs/--steps stretches the schedule
    over the new length)."""
    controls = {
        "schedule": "cosine",
        "warmup_steps": 5,
        "min_lr_ratio": 0.1,
        "clip_grad_norm": 1.0,
        "optimizer": "adamw",
        "weight_decay": 0.01,
        "ema_decay": 0.95,
    }
    reference = train_run(resume_config("vae", **controls), tmp_path / "reference")
    run = Path(shutil.copytree(reference, tmp_path / "crashed"))
    shutil.rmtree(run / "checkpoints" / "step-000016")
    assert ckpt.latest_valid(run / "checkpoints").step == 12
    genzoo.resume(run, verbose=False)
    assert_same_run(reference, run)


def test_resume_by_steps_equals_the_reference(reference_run, tmp_path):
    run = train_run(resume_config("vae", epochs=1), tmp_path / "run")
    result = genzoo.resume(run, steps=16, verbose=False)
    assert result.step == 16
    assert_same_run(reference_run, run, same_config=False)  # config.yaml now says steps: 16


def test_resume_with_epochs_extends_a_steps_based_run(tmp_path):
    """`resume --epochs N` on a run trained with --steps replaces the length in steps by N epochs."""
    run = train_run(build_tiny_config("vae", train={"steps": 4}), tmp_path / "run")
    result = genzoo.resume(run, epochs=1, verbose=False)
    assert result.step == 8


def test_resume_of_a_finished_run_changes_nothing(reference_run, tmp_path):
    run = Path(shutil.copytree(reference_run, tmp_path / "done"))
    result = genzoo.resume(run, verbose=False)
    assert result.step == 16
    assert_same_run(reference_run, run)


def test_resume_metrics_when_log_every_does_not_divide_the_epoch(tmp_path):
    """A train line is flushed before every checkpoint, so no running average straddles one: with log_every=3
    and 8 steps per epoch, the resumed run's metrics.jsonl still equals the uninterrupted run's."""
    reference = train_run(resume_config("vae", log_every=3, checkpoint_every=None), tmp_path / "reference")
    run = train_run(resume_config("vae", log_every=3, checkpoint_every=None, epochs=1), tmp_path / "run")
    genzoo.resume(run, epochs=2, verbose=False)
    for key, value in newest_weights(reference).items():
        assert torch.equal(newest_weights(run)[key], value), key
    assert (run / "metrics.jsonl").read_text() == (reference / "metrics.jsonl").read_text()
