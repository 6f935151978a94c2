"""bf16 autocast trains a VAE to the same place as fp32, within a loose tolerance; train.precision=auto picks it
where the hardware has it, and a run keeps what it picked."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch

import genzoo
from genzoo.config import RunConfig
from genzoo.errors import GenzooError
from genzoo.models.registry import get_model_class
from genzoo.train import devices
from genzoo.train.checkpoint import list_checkpoints
from genzoo.train.trainer import Trainer

from conftest import build_tiny_config, newest_weights, read_metrics

# On a CPU without bf16 instructions the trainer says bf16 is emulated; these tests use it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:train.precision=bf16 on a CPU without bf16")


def bf16_config(precision: str) -> dict:
    return build_tiny_config(
        "vae", model={"hidden": [64], "latent_dim": 8}, train={"epochs": 2, "precision": precision}
    )


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
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        genzoo.train(build_tiny_config("ae", train={"epochs": 1, "precision": "bf16"}), tmp_path / "run", verbose=False)
    slow = [w for w in caught if "without bf16 instructions" in str(w.message)]
    assert len(slow) == (1 if native is False else 0)


# -- train.precision: auto (the default), with the hardware probe faked both ways -----------------------------


def auto_config(model: str = "vae", **train) -> dict:
    return build_tiny_config(model, train={"precision": "auto", **train})


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32"), (None, "fp32")])
def test_auto_resolves_by_the_cpu_and_the_run_records_it(tmp_path, monkeypatch, native, expected):
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: native)
    genzoo.train(auto_config(), tmp_path / "run", verbose=False)
    assert RunConfig.load(tmp_path / "run" / "config.yaml").train.precision == expected
    meta = json.loads((list_checkpoints(tmp_path / "run" / "checkpoints")[0] / "meta.json").read_text())
    assert meta["config"]["train"]["precision"] == expected


def test_auto_autocasts_in_bf16_where_native_and_fp32_elsewhere(mnist_small, tmp_path, monkeypatch):
    for native, dtype in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(devices, "cpu_has_bf16", lambda native=native: native)
        config, model = genzoo.api.build_model(RunConfig.from_dict(auto_config()), mnist_small)
        trainer = Trainer(model, mnist_small, config, tmp_path, torch.device("cpu"), verbose=False)
        with trainer.autocast():
            assert model.encoder(mnist_small.train.images[:4].float().flatten(1) / 255).dtype == dtype


def test_auto_gives_fp32_to_a_model_that_loses_quality_in_bf16(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    assert get_model_class("vae").bf16_safe  # measured: benchmarks/results/precision.md
    monkeypatch.setattr(get_model_class("vae"), "bf16_safe", False)
    genzoo.train(auto_config("vae"), tmp_path / "run", verbose=False)
    assert RunConfig.load(tmp_path / "run" / "config.yaml").train.precision == "fp32"


def test_an_explicit_precision_stands_whatever_the_hardware(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    genzoo.train(auto_config(precision="fp32"), tmp_path / "run", verbose=False)
    assert RunConfig.load(tmp_path / "run" / "config.yaml").train.precision == "fp32"


def test_resume_keeps_the_precision_auto_chose_on_another_machine(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)  # trained where bf16 is native ...
    genzoo.train(auto_config(), tmp_path / "run", verbose=False)
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: False)  # ... resumed where it is not: still bf16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = genzoo.resume(tmp_path / "run", epochs=2, verbose=False)
    assert result.step == 16
    assert RunConfig.load(tmp_path / "run" / "config.yaml").train.precision == "bf16"
    assert any("without bf16 instructions" in str(w.message) for w in caught)  # and says it is emulated here


@pytest.mark.parametrize(("capability", "expected"), [((8, 0), "bf16"), ((9, 0), "bf16"), ((7, 5), "fp32")])
def test_auto_on_cuda_follows_the_compute_capability(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert devices.resolve_precision("auto", torch.device("cuda", 0)) == expected
    assert devices.resolve_precision("auto", torch.device("cuda", 0), bf16_safe=False) == "fp32"
    assert devices.resolve_precision("fp32", torch.device("cuda", 0)) == "fp32"


def test_a_bad_precision_is_one_line_naming_the_choices():
    with pytest.raises(GenzooError, match=r"train.precision='fp16'; expected one of auto, fp32, bf16"):
        RunConfig.from_dict(auto_config(precision="fp16"))
