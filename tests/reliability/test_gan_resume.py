"""Exact resume of GANs with the family's options: a run interrupted after its first epoch and resumed ends bit for
bit where the uninterrupted run ends (weights with spectral normalisation's power-iteration vectors, optimizer
moments, RNG states, metrics.jsonl, sample grids). DiffAugment's and R1's random draws come from the trainer's
generator, lazy R1 is a function of the step, and the health counters travel in the checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

import genzoo
from genzoo.train import checkpoint as ckpt

from conftest import assert_same_run, build_tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::genzoo.models.gan.TrainingHealthWarning")  # tiny runs

RESUME_TRAIN = {"epochs": 2, "log_every": 2, "checkpoint_every": 4, "keep_checkpoints": 2}
CASES = {
    "hinge-sn-diffaugment": (
        "dcgan",
        {"loss": "hinge", "spectral_norm": True, "diffaugment": "color,translation,cutout"},
        {"ema_decay": 0.9},
    ),
    "lsgan-lazy-r1": ("gan", {"loss": "lsgan", "r1_weight": 2.0, "r1_every": 3}, {}),
    "relativistic-r1-diffaugment": ("gan", {"loss": "relativistic", "r1_weight": 1.0, "diffaugment": "cutout"}, {}),
    "wgan-gp-sn-diffaugment": ("wgan-gp", {"spectral_norm": True, "diffaugment": "translation"}, {}),
}


def train_run(config: dict, run_dir: Path) -> Path:
    genzoo.train(config, run_dir, verbose=False)
    return run_dir


@pytest.mark.parametrize("case", list(CASES))
def test_a_gan_with_the_options_resumes_bit_exact(case, tmp_path):
    model, options, train = CASES[case]
    config = lambda **extra: build_tiny_config(model, model=options, train={**RESUME_TRAIN, **train, **extra})
    reference = train_run(config(), tmp_path / "reference")
    run = train_run(config(epochs=1), tmp_path / "interrupted")
    assert ckpt.latest_valid(run / "checkpoints").step == 8
    assert genzoo.resume(run, epochs=2, verbose=False).step == 16
    assert_same_run(reference, run)
