"""Training through the Python API: what a run folder holds, and what load/sample/reconstruct give back."""

from __future__ import annotations

import math

import pytest
import torch

import genzoo
from genzoo.config import RunConfig
from genzoo.errors import GenzooError
from genzoo.models.vae import VAE

from conftest import build_tiny_config, newest_weights, read_metrics


def test_session_run_metrics(tiny_vae_run):
    records = read_metrics(tiny_vae_run)
    train = [r for r in records if r["split"] == "train"]
    test = [r for r in records if r["split"] == "test"]
    assert [r["step"] for r in train] == [4, 8, 12, 16]  # log_every=4, 8 steps per epoch
    assert [r["epoch"] for r in train] == [0.5, 1.0, 1.5, 2.0]
    assert [r["step"] for r in test] == [8, 16]
    for r in records:
        assert all(math.isfinite(r[k]) for k in ("loss", "recon", "kl", "nelbo"))
        assert r["nelbo"] == pytest.approx(r["recon"] + r["kl"], rel=1e-5)
    assert train[-1]["loss"] < train[0]["loss"]
    assert test[-1]["loss"] < test[0]["loss"]
    # Lines hold only deterministic content (no clock), so a resumed run can reproduce them byte for byte.
    assert set(train[0]) == {"step", "epoch", "split", "loss", "recon", "kl", "nelbo"}


def test_session_run_keeps_the_newest_checkpoints(tiny_vae_run):
    assert sorted(p.name for p in (tiny_vae_run / "checkpoints").iterdir()) == ["step-000008", "step-000016"]


def test_load_gives_the_trained_model_in_eval_mode(tiny_vae_run):
    model = genzoo.load(tiny_vae_run)
    assert isinstance(model, VAE) and not model.training
    for key, value in newest_weights(tiny_vae_run).items():
        assert torch.equal(model.state_dict()[key], value), key


def test_sample_api_is_reproducible(tiny_vae_run):
    a = genzoo.sample(tiny_vae_run, n=8, seed=1)
    b = genzoo.sample(tiny_vae_run, n=8, seed=1)
    c = genzoo.sample(tiny_vae_run, n=8, seed=2)
    assert a.shape == (8, 1, 28, 28) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(genzoo.sample(genzoo.load(tiny_vae_run), n=8, seed=1), a)  # a model or a run folder


def test_reconstruct_api_returns_test_images_and_reconstructions(tiny_vae_run, mnist_small):
    originals, recons = genzoo.reconstruct(tiny_vae_run, n=8)
    assert originals.shape == recons.shape == (8, 1, 28, 28)
    assert torch.equal(originals, mnist_small.test.images[:8].float() / 255)
    assert recons.min() >= 0 and recons.max() <= 1
    # A trained model reconstructs its inputs better than a constant grey image does.
    assert (recons - originals).pow(2).mean() < (originals - 0.5).pow(2).mean()


def test_autoencoder_run_finishes_and_writes_a_progress_gif(tiny_config, tmp_path):
    """A model that cannot sample animates its reconstructions instead."""
    run = tmp_path / "ae"
    result = genzoo.train(tiny_config("ae"), run, verbose=False)
    assert result.step == 8
    assert (run / "reconstructions" / "epoch-001.png").is_file()
    assert list(run.glob("*/progress.gif"))


def test_autoencoder_run_draws_reconstructions_only(tiny_ae_run):
    assert (tiny_ae_run / "reconstructions" / "epoch-001.png").is_file()
    assert not list((tiny_ae_run / "samples").glob("epoch-*.png"))
    test = [r for r in read_metrics(tiny_ae_run) if r["split"] == "test"]
    assert [r["step"] for r in test] == [8] and set(test[0]) == {"step", "epoch", "split", "loss", "recon"}


def test_steps_replace_epochs_and_stop_mid_epoch(tiny_config, tmp_path):
    run = tmp_path / "run"
    result = genzoo.train(tiny_config("vae", train={"steps": 5, "epochs": 3}), run, verbose=False)
    assert result.step == 5 and result.epochs == pytest.approx(5 / 8)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000005"]
    test = [r for r in read_metrics(run) if r["split"] == "test"]
    assert [(r["step"], r["epoch"]) for r in test] == [(5, 0.625)]
    # loss terms, then the VAE's posterior-collapse diagnostics (models/vae.py: diagnostics)
    assert set(result.test) == {"loss", "recon", "kl", "nelbo", "active_units", "kl_per_dim", "mean_variance_per_dim"}


def test_checkpoint_every_and_keep_checkpoints(tiny_config, tmp_path):
    run = tmp_path / "run"
    genzoo.train(
        tiny_config("vae", train={"epochs": 2, "checkpoint_every": 3, "keep_checkpoints": 3}), run, verbose=False
    )
    # Every 3 steps (3, 6, 9, 12, 15) and at each epoch end (8, 16); the newest 3 are kept.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000012", "step-000015", "step-000016"]


def test_eval_loss_uses_the_kl_weight_of_the_current_step(tiny_config, tmp_path):
    """Evaluation uses the current step, so a warm-up's KL weight in the test loss is the one in force."""
    run = tmp_path / "run"
    genzoo.train(tiny_config("vae", model={"kl_warmup_steps": 32}, train={"epochs": 2}), run, verbose=False)
    for record in (r for r in read_metrics(run) if r["split"] == "test"):
        weight = min(1.0, record["step"] / 32)  # 0.25 after epoch 1, 0.5 after epoch 2
        assert record["loss"] == pytest.approx(record["recon"] + weight * record["kl"], rel=1e-6), record


def test_tensorboard_run_writes_events(tiny_config, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    genzoo.train(tiny_config("vae", train={"tensorboard": True}), run, verbose=False)
    events = list((run / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    accumulator = EventAccumulator(str(run / "tb"))
    accumulator.Reload()
    tags = accumulator.Tags()
    assert {"train/loss", "test/loss", "test/kl"} <= set(tags["scalars"])
    assert [e.step for e in accumulator.Scalars("train/loss")] == [4, 8]
    assert {"samples", "reconstructions"} <= set(tags["images"])


def test_binarized_mnist_trains(tiny_config, tmp_path):
    run = tmp_path / "run"
    result = genzoo.train(tiny_config("vae", data={"dataset": "binarized-mnist"}), run, verbose=False)
    assert math.isfinite(result.test["loss"])
    assert RunConfig.load(run / "config.yaml").data.dataset == "binarized-mnist"


def test_train_result_and_config_file(tiny_vae_run):
    config = RunConfig.load(tiny_vae_run / "config.yaml")
    assert config.model.image_shape == (1, 28, 28) and config.model.num_classes == 10
    assert config.train.epochs == 2 and config.data.train_size == 256


def test_load_refuses_a_folder_without_a_run(tmp_path):
    with pytest.raises(GenzooError, match="not a genzoo run folder"):
        genzoo.load(tmp_path)


def test_load_refuses_a_run_without_checkpoints(tiny_config, tmp_path):
    RunConfig.from_dict(tiny_config("vae")).save(tmp_path / "config.yaml")
    with pytest.raises(GenzooError, match="no valid checkpoint"):
        genzoo.load(tmp_path)


def test_load_refuses_weights_of_another_shape(tiny_vae_run, tmp_path):
    import shutil

    run = shutil.copytree(tiny_vae_run, tmp_path / "run")
    config = RunConfig.load(run / "config.yaml").to_dict()
    config["model"]["latent_dim"] = 7
    RunConfig.from_dict(config).save(run / "config.yaml")
    with pytest.raises(GenzooError, match="does not fit the model"):
        genzoo.load(run)


@pytest.mark.parametrize(("name", "model"), [("vae", {"kl_warmup_steps": 6}), ("gan", {})])
def test_train_compile_trains_the_same_model_as_eager(name, model, tmp_path):
    """train.compile compiles the networks, not the step: a step number in a schedule (vae's KL warm-up) or noise
    drawn per batch (gan) must neither recompile every step nor fail to trace, and the run is the eager one up to
    the compiled kernels' round-off, saved under the eager model's parameter names."""
    runs = {}
    for compiled in (False, True):
        config = build_tiny_config(name, model=model, train={"compile": compiled})
        genzoo.train(config, tmp_path / str(compiled), verbose=False)
        runs[compiled] = tmp_path / str(compiled)
    eager, compiled = (read_metrics(runs[c]) for c in (False, True))
    assert [r["step"] for r in compiled] == [r["step"] for r in eager]
    for a, b in zip(eager, compiled):
        assert b.keys() == a.keys()
        for key in a.keys() - {"step", "epoch", "split"}:  # every loss term logged, train and test
            assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-4), (key, a, b)
    assert newest_weights(runs[True]).keys() == newest_weights(runs[False]).keys()
    assert genzoo.sample(runs[True], n=4, seed=0).shape == (4, 1, 28, 28)
