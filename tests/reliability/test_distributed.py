"""Data-parallel training under torchrun: two CPU processes on the gloo backend.

Each rank sees its own half of every global batch; gradients are averaged in one all-reduce per phase, so the
parameters stay identical on both ranks after every update (checked after every step by fault_injection.py's
check-replicas); rank 0 alone writes the run folder; the result equals a single process with the same global
batch within float tolerance; and a killed or signalled job resumes exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.train import checkpoint as ckpt

from conftest import assert_same_run, build_tiny_config, newest_weights, read_metrics, run_genzoo, write_config

# 16 steps of a global batch of 32 (16 per rank); a VAE, so each rank's own noise stream matters for resumes.
VAE = build_tiny_config("vae", train={"epochs": 2, "log_every": 3, "checkpoint_every": 5, "keep_checkpoints": 4})
AE = build_tiny_config("ae", train={"epochs": 2, "log_every": 3})


def torchrun(tmp_path: Path, config: dict, *extra: str, fault: str = "check-replicas", name: str = "run"):
    config_file = write_config(tmp_path / f"{name}.yaml", config)
    return run_genzoo(
        "train",
        config["model"]["name"],
        "--config",
        config_file,
        "--out",
        tmp_path / name,
        *extra,
        fault=fault,
        processes=2,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted two-process VAE run whose replicas were compared after every step."""
    folder = tmp_path_factory.mktemp("ddp")
    done = torchrun(folder, VAE)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done:") == 1  # one line for the job, from rank 0
    return folder / "run"


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    both = torchrun(tmp_path, AE)
    assert both.returncode == 0, both.stderr[-3000:]
    single = genzoo.train(AE, tmp_path / "single", verbose=False)
    assert single.step == 16
    ddp, one = newest_weights(tmp_path / "run"), newest_weights(tmp_path / "single")
    for key in one:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=1e-5)
    lines_ddp, lines_one = read_metrics(tmp_path / "run"), read_metrics(tmp_path / "single")
    # Rank 0 alone wrote metrics.jsonl: the same lines as one process (two writers would have doubled them).
    assert [(r["step"], r["split"]) for r in lines_ddp] == [(r["step"], r["split"]) for r in lines_one]
    for a, b in zip(lines_ddp, lines_one):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)  # the train loss is the mean over both ranks


def test_replicas_agree_after_every_step_and_rank_0_writes_the_folder(reference):
    assert sorted(p.name for p in reference.iterdir()) == [
        "checkpoints",
        "config.yaml",
        "metrics.jsonl",
        "reconstructions",
        "samples",
    ]
    state = ckpt.load_train_state(ckpt.latest_valid(reference / "checkpoints"))
    assert len(state["ranks"]) == 2  # each rank's RNG state, saved by rank 0
    assert not torch.equal(state["ranks"][0]["rng"]["cpu"], state["ranks"][1]["rng"]["cpu"])


def test_kill_9_of_one_rank_then_resume_is_exact(reference, tmp_path):
    killed = torchrun(tmp_path, VAE, fault="check-replicas,signal:KILL@8:rank1")
    assert killed.returncode != 0
    assert ckpt.latest_valid(tmp_path / "run" / "checkpoints").step == 5
    resumed = run_genzoo("resume", tmp_path / "run", fault="check-replicas", processes=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(reference, tmp_path / "run")


def test_sigterm_to_one_rank_stops_every_rank_with_a_checkpoint(reference, tmp_path):
    # Rank 1 gets the signal after step 7's all-reduce; its flag travels with step 8's, so both stop after 8.
    stopped = torchrun(tmp_path, VAE, fault="check-replicas,signal:TERM@7:rank1")
    assert stopped.returncode != 0  # torchrun reports its workers' exit code 143 as a failure
    assert "stopped by SIGTERM at step 8" in stopped.stderr
    assert "exitcode  : 143" in stopped.stderr
    assert ckpt.latest_valid(tmp_path / "run" / "checkpoints").step == 8
    resumed = run_genzoo("resume", tmp_path / "run", fault="check-replicas", processes=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(reference, tmp_path / "run")


def test_the_deferred_checks_of_cuda_stop_every_rank_at_a_log_line(reference, tmp_path):
    """On CUDA the flags are read at log lines only (every 3 steps here): a signal during step 7 stops both
    ranks after step 9. Forced on this CPU by the fault script."""
    stopped = torchrun(tmp_path, VAE, fault="check-replicas,deferred-checks,signal:TERM@7:rank1")
    assert "stopped by SIGTERM at step 9" in stopped.stderr, stopped.stderr[-3000:]
    assert ckpt.latest_valid(tmp_path / "run" / "checkpoints").step == 9
    resumed = run_genzoo("resume", tmp_path / "run", fault="check-replicas,deferred-checks", processes=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(reference, tmp_path / "run")


def test_a_non_finite_loss_on_one_rank_stops_every_rank_before_the_update(tmp_path):
    diverged = torchrun(tmp_path, VAE, fault="check-replicas,nan@7:rank1")
    assert diverged.returncode != 0
    assert "exitcode  : 3" in diverged.stderr  # NonFiniteLoss, not a crash or a timeout
    # (the fault poisons only rank 1's flag, so both ranks' messages read "a loss term on another process");
    # rank 0 names the newest checkpoint for both, and both leave the process group together
    assert "non-finite loss at step 7 (phase 'loss'); that step was not applied" in diverged.stderr
    assert diverged.stderr.count("the newest checkpoint, step-000005, holds finite weights") == 2
    checkpoint = ckpt.latest_valid(tmp_path / "run" / "checkpoints")
    assert checkpoint.step == 5
    assert all(torch.isfinite(w).all() for w in ckpt.load_weights(checkpoint).values())


def test_more_processes_than_gpus_is_one_clear_error(monkeypatch):
    """`auto` picks CUDA where it exists: process LOCAL_RANK=1 on a one-GPU machine must say what to do, not die
    in CUDA with 'invalid device ordinal'."""
    from genzoo.errors import GenzooError
    from genzoo.train.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto", 0) == torch.device("cuda", 0)
    with pytest.raises(GenzooError, match="LOCAL_RANK=1 but this machine has 1 GPU.*--device cpu"):
        resolve_device("auto", 1)
    assert resolve_device("cpu", 1) == torch.device("cpu")
