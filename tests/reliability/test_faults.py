"""Faults injected into real processes: SIGKILL at any point, SIGTERM/SIGINT, a non-finite loss, a changed config.

Each kill or signal hits a subprocess running the CLI (tests/reliability/fault_injection.py puts it at an exact
step, inside a checkpoint write or halfway through a metrics line); the resume then runs here, and the finished
run must equal an uninterrupted one bit for bit: weights, optimizer and RNG states, metrics.jsonl, pictures.
"""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

import genzoo
from genzoo import cli
from genzoo.api import build_model, load_data
from genzoo.config import RunConfig
from genzoo.errors import GenzooError
from genzoo.models.base import StepOutput
from genzoo.models.vae import VAE
from genzoo.train import checkpoint as ckpt
from genzoo.train.stopping import NonFiniteLoss
from genzoo.train.trainer import Trainer

from conftest import (
    assert_same_run,
    build_tiny_config,
    genzoo_command,
    newest_weights,
    one_line_error,
    read_metrics,
    run_genzoo,
    write_config,
)

# 8 steps per epoch, 24 in all; train lines every 3 steps (not a divisor of the epoch), checkpoints every 5.
CONFIG = build_tiny_config("vae", train={"epochs": 3, "log_every": 3, "checkpoint_every": 5, "keep_checkpoints": 3})
FINAL = 24


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    genzoo.train(CONFIG, run, verbose=False)
    return run


def train_args(tmp_path: Path) -> list[str]:
    config = write_config(tmp_path / "config.yaml", CONFIG)
    return ["train", "vae", "--config", str(config), "--out", str(tmp_path / "run")]


@pytest.mark.parametrize(
    "fault",
    [
        "signal:KILL@2",  # before the first checkpoint: resume has nothing to start from
        "signal:KILL@7",  # mid-epoch, two steps after a checkpoint
        "signal:KILL@17",  # right after an epoch boundary
        "kill-in-checkpoint@10",  # checkpoint files written, folder not yet renamed into place
        "kill-in-checkpoint@16",  # the same at an epoch's end (after its test line and pictures)
        "kill-in-log@9",  # a torn last line in metrics.jsonl
    ],
)
def test_kill_9_then_resume_equals_the_uninterrupted_run(fault, reference, tmp_path):
    killed = run_genzoo(*train_args(tmp_path), fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = tmp_path / "run"
    if fault == "signal:KILL@2":
        with pytest.raises(GenzooError, match="no valid checkpoint"):
            genzoo.resume(run, verbose=False)
        return
    genzoo.resume(run, verbose=False)
    assert_same_run(reference, run, final_step=FINAL)
    assert not list((run / "checkpoints").glob(".step-*"))  # the killed writer's temporary folder is gone


def test_killed_twice_resumed_twice(reference, tmp_path):
    run = tmp_path / "run"
    assert run_genzoo(*train_args(tmp_path), fault="signal:KILL@6").returncode == -signal.SIGKILL
    assert run_genzoo("resume", run, fault="signal:KILL@19").returncode == -signal.SIGKILL
    genzoo.resume(run, verbose=False)
    assert_same_run(reference, run, final_step=FINAL)


@pytest.mark.parametrize(("sig", "step", "code"), [("TERM", 7, 143), ("INT", 11, 130), ("TERM", 16, 143)])
def test_a_signal_checkpoints_then_exits_and_the_resume_is_exact(sig, step, code, reference, tmp_path):
    # Steps 7 and 11 leave a train line pending (lines come every 3 steps): its sums travel in the checkpoint.
    # Step 16 ends an epoch: the stop waits for that epoch's test line and pictures.
    stopped = run_genzoo(*train_args(tmp_path), fault=f"signal:{sig}@{step}")
    assert stopped.returncode == code, stopped.stderr
    assert f"stopped by SIG{sig} at step {step}" in stopped.stderr
    run = tmp_path / "run"
    assert ckpt.latest_valid(run / "checkpoints").step == step
    assert max(r["step"] for r in read_metrics(run)) <= step  # nothing logged that the resume will log again
    genzoo.resume(run, verbose=False)
    assert_same_run(reference, run, final_step=FINAL)


def test_sigterm_from_outside_at_an_arbitrary_moment(tmp_path):
    """A scheduler's SIGTERM lands wherever the trainer happens to be (a step, a test pass, a checkpoint)."""
    config = build_tiny_config("vae", train={"epochs": 500, "log_every": 3})
    command, env = genzoo_command(
        "train", "vae", "--config", write_config(tmp_path / "c.yaml", config), "--out", tmp_path / "run"
    )
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics, deadline = tmp_path / "run" / "metrics.jsonl", time.monotonic() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 5) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    step = ckpt.latest_valid(tmp_path / "run" / "checkpoints").step
    assert f"stopped by SIGTERM at step {step}" in stderr
    assert 0 < step < 500 * 8
    result = genzoo.resume(tmp_path / "run", steps=step + 8, verbose=False)
    assert result.step == step + 8


# -- non-finite losses ---------------------------------------------------------------------------------------
@pytest.fixture
def nan_kl_at_step_7(monkeypatch):
    """The VAE's KL term turns NaN while it computes step 7."""
    original = VAE.training_step

    def poisoned(self, batch, step, phase="loss"):
        out = original(self, batch, step, phase)
        if step + 1 == 7:
            kl = out.terms["kl"] * float("nan")
            return StepOutput(out.loss + kl, {**out.terms, "kl": kl})
        return out

    monkeypatch.setattr(VAE, "training_step", poisoned)
    monkeypatch.setattr(VAE, "forward", poisoned)


def assert_only_finite_checkpoints(run: Path, newest: int) -> None:
    assert ckpt.latest_valid(run / "checkpoints").step == newest
    for path in ckpt.list_checkpoints(run / "checkpoints"):
        weights = ckpt.load_weights(ckpt.validate(path))
        assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point()), path.name
    assert "NaN" not in (run / "metrics.jsonl").read_text()


def test_a_non_finite_loss_stops_before_the_update_naming_step_and_term(nan_kl_at_step_7, tmp_path, capsys):
    code = cli.main(train_args(tmp_path))
    assert code == 3
    error = one_line_error(capsys.readouterr().err)
    assert "non-finite loss at step 7" in error and "kl = nan" in error and "step-000005" in error
    assert_only_finite_checkpoints(tmp_path / "run", newest=5)


def test_deferred_check_for_cuda_stops_at_the_next_log_line(nan_kl_at_step_7, tmp_path):
    """On CUDA the flags are read at log lines only (no per-step sync): the stop comes there, named by the
    steps between, and still no checkpoint holds the poisoned weights. Exercised here on the CPU."""
    config, model = build_model(RunConfig.from_dict(CONFIG), dataset := load_data(RunConfig.from_dict(CONFIG)))
    run = tmp_path / "run"
    run.mkdir()
    trainer = Trainer(model, dataset, config, run, torch.device("cpu"), verbose=False)
    trainer.check_every_phase = False
    with pytest.raises(NonFiniteLoss, match=r"between steps 7 and 8: .*kl"):
        trainer.fit()
    assert_only_finite_checkpoints(run, newest=5)


def test_a_diverging_learning_rate_is_stopped_not_saved(tmp_path):
    config = build_tiny_config("vae", train={"lr": 1e12, "epochs": 2})
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss at step \d+") as caught:
        genzoo.train(config, tmp_path / "run", verbose=False)
    step = int(str(caught.value).split("at step ")[1].split()[0])
    checkpoints = ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")
    assert all(ckpt.validate(p).step < step for p in checkpoints)
    if checkpoints:
        assert_only_finite_checkpoints(tmp_path / "run", newest=ckpt.validate(checkpoints[0]).step)
    assert all(math.isfinite(v) for r in read_metrics(tmp_path / "run") for k, v in r.items() if isinstance(v, float))


# -- a changed config on resume, an unwritable run folder -----------------------------------------------------
def edit_config(run: Path, section: str, key: str, value) -> None:
    raw = yaml.safe_load((run / "config.yaml").read_text())
    raw[section][key] = value
    (run / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def test_resume_refuses_an_edited_config_naming_the_key(run_copy, capsys):
    edit_config(run_copy, "model", "beta", 4.0)
    assert cli.main(["resume", str(run_copy), "--epochs", "3"]) == 2
    error = one_line_error(capsys.readouterr().err)
    assert "model.beta: 1.0 -> 4.0" in error and "--allow-config-change" in error
    assert ckpt.latest_valid(run_copy / "checkpoints").step == 16  # nothing trained


def test_allow_config_change_continues_with_the_new_values(run_copy):
    edit_config(run_copy, "model", "beta", 4.0)
    result = genzoo.resume(run_copy, epochs=3, allow_config_change=True, verbose=False)
    assert result.step == 24
    assert RunConfig.load(run_copy / "config.yaml").model.beta == 4.0


def test_resume_set_changes_a_value_only_when_allowed(run_copy, capsys):
    assert cli.main(["resume", str(run_copy), "--epochs", "3", "--set", "train.lr=1e-4"]) == 2
    assert "train.lr: 0.001 -> 0.0001" in one_line_error(capsys.readouterr().err)
    assert cli.main(["resume", str(run_copy), "--epochs", "3", "--set", "train.lr=1e-4", "--allow-config-change"]) == 0
    assert RunConfig.load(run_copy / "config.yaml").train.lr == 1e-4


def test_a_typo_in_resume_set_is_blamed_on_the_option_not_the_file(run_copy, capsys):
    assert cli.main(["resume", str(run_copy), "--set", "trian.lr=1", "--allow-config-change"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("genzoo: error: command line (--set)") and "unknown key 'trian'" in line
    assert "config.yaml" not in line


def test_a_changed_learning_rate_is_the_one_the_resumed_steps_use(run_copy):
    """The optimizer's saved moments carry on, its saved lr does not: with lr 1e-12 the 8 resumed Adam steps
    (each moves a weight by about lr) leave the weights where the checkpoint had them."""
    before = newest_weights(run_copy)
    assert cli.main(["resume", str(run_copy), "--epochs", "3", "--set", "train.lr=1e-12", "--allow-config-change"]) == 0
    after = newest_weights(run_copy)
    assert ckpt.latest_valid(run_copy / "checkpoints").step == 24
    assert all(torch.allclose(before[k], after[k], rtol=0, atol=1e-9) for k in before)
    saved = ckpt.load_train_state(ckpt.latest_valid(run_copy / "checkpoints"))["optimizers"]["loss"]
    assert saved["param_groups"][0]["lr"] == 1e-12


def test_length_device_and_data_folder_are_not_config_changes(run_copy):
    edit_config(run_copy, "train", "device", "cpu")
    edit_config(run_copy, "data", "data_dir", None)
    assert genzoo.resume(run_copy, epochs=3, verbose=False).step == 24


def test_a_checkpoint_of_another_model_is_refused_by_name(run_copy, tiny_ae_run):
    shutil.rmtree(run_copy / "checkpoints")
    shutil.copytree(tiny_ae_run / "checkpoints", run_copy / "checkpoints")
    with pytest.raises(GenzooError, match=r"holds a 'ae' model but .*config.yaml describes 'vae'"):
        genzoo.resume(run_copy, epochs=3, verbose=False)


def test_weights_that_do_not_fit_the_config_are_refused_naming_the_tensor(run_copy):
    edit_config(run_copy, "model", "latent_dim", 8)  # the checkpoint's latent layer has 4 units
    with pytest.raises(GenzooError, match=r"model.latent_dim: 4 -> 8"):
        genzoo.resume(run_copy, epochs=3, verbose=False)
    with pytest.raises(
        GenzooError,
        match=r"model.safetensors does not fit the model .*config.yaml describes: "
        r"decoder.0.weight: \(32, 4\) in the checkpoint, \(32, 8\) in the model",
    ):
        genzoo.resume(run_copy, epochs=3, allow_config_change=True, verbose=False)


def test_an_unwritable_run_folder_is_reported_before_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = cli.main(
        ["train", "vae", "--config", str(write_config(tmp_path / "c.yaml", CONFIG)), "--out", str(blocker / "run")]
    )
    assert code == 2
    assert "cannot write the run folder" in one_line_error(capsys.readouterr().err)
