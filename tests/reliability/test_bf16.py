"""bf16 autocast trains a VAE to the same place as fp32, within a loose tolerance."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from conftest import build_tiny_config, newest_weights, read_metrics

import genzoo
from genzoo.config import RunConfig
from genzoo.train import trainer
from genzoo.train.trainer import Trainer

# On a CPU without bf16 instructions the trainer says bf16 is emulated; these tests use it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:train.precision=bf16 on a CPU without bf16")


def bf16_config(precision: str) -> dict:
    return build_tiny_config("vae", model={"hidden": [64], "latent_dim": 8}, train={"epochs": 2, "precision": precision})


def test_bf16_run_matches_fp32(tmp_path):
    fp32 = genzoo.train(bf16_config("fp32"), tmp_path / "fp32", verbose=False)
    bf16 = genzoo.train(bf16_config("bf16"), tmp_path / "bf16", verbose=False)
    assert RunConfig.load(tmp_path / "bf16" / "config.yaml").train.precision == "bf16"
    for key in ("loss", "recon", "kl"):
        assert math.isfinite(bf16.test[key])
    assert bf16.test["loss"] == pytest.approx(fp32.test["loss"], rel=0.05)
    first_train_loss = read_metrics(tmp_path / "bf16")[0]["loss"]  # mean over steps 1-4
    assert bf16.test["loss"] < 0.9 * first_train_loss  # it trained
    # bf16 really ran: the weights differ from the fp32 run's (same seed, same batches).
    a, b = newest_weights(tmp_path / "fp32"), newest_weights(tmp_path / "bf16")
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float32 for v in b.values())  # master weights stay fp32


def test_bf16_autocast_computes_in_bfloat16(mnist_small, tmp_path):
    config, model = genzoo.api.build_model(RunConfig.from_dict(bf16_config("bf16")), mnist_small)
    trainer = Trainer(model, mnist_small, config, tmp_path, torch.device("cpu"), verbose=False)
    x = mnist_small.train.images[:4].float() / 255
    with trainer.autocast():
        hidden = model.encoder(x.flatten(1))
    assert hidden.dtype == torch.bfloat16


@pytest.mark.parametrize("native", [False, True, None])
def test_bf16_on_a_cpu_that_emulates_it_is_warned_about(tmp_path, monkeypatch, native):
    monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        genzoo.train(build_tiny_config("ae", train={"epochs": 1, "precision": "bf16"}), tmp_path / "run", verbose=False)
    slow = [w for w in caught if "without bf16 instructions" in str(w.message)]
    assert len(slow) == (1 if native is False else 0)
