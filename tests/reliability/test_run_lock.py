"""One writer per run folder: train, resume and evaluate take the folder's lock (rank 0 alone under torchrun), a
second writer gets one line naming the holder and exit 2 before any work, readers never wait for it, and a lock
left by a killed process is taken over. Real processes: a writer is held mid-run by fault_injection.py's hold@STEP
while the others try."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import genzoo
from genzoo.files import LOCK_FILE, FolderBusy, FolderLock
from genzoo.run_folder import RunFolder

from conftest import assert_same_run, build_tiny_config, genzoo_command, one_line_error, run_genzoo, write_config

CONFIG = build_tiny_config("vae", train={"epochs": 2})  # 16 steps, a checkpoint at the end of each epoch (8, 16)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run every writer below must end with."""
    run = tmp_path_factory.mktemp("lock") / "reference"
    genzoo.train(CONFIG, run, verbose=False)
    return run


def start_held(tmp_path: Path, *args) -> subprocess.Popen:
    """`genzoo ARGS` held after step 10 (past the first checkpoint) until tmp_path/release exists."""
    command, env = genzoo_command(*args, fault="hold@10")
    env["GENZOO_TEST_RELEASE"] = str(tmp_path / "release")
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_held(process: subprocess.Popen, tmp_path: Path) -> None:
    """Until the writer waits at its hold (it has held the lock since before its first step)."""
    deadline = time.monotonic() + 120
    while not (tmp_path / "release.held").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def finish(process: subprocess.Popen, tmp_path: Path) -> None:
    (tmp_path / "release").touch()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]


def refused(result: subprocess.CompletedProcess, holder: int) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    line = one_line_error(result.stderr)
    assert "is in use" in line and f"PID {holder} on" in line, line


def test_while_a_run_trains_other_writers_are_refused_and_readers_read(reference, tmp_path):
    config = write_config(tmp_path / "run.yaml", CONFIG)
    run = tmp_path / "run"
    writer = start_held(tmp_path, "train", "vae", "--config", config, "--out", run)
    try:
        wait_until_held(writer, tmp_path)
        holder = json.loads((run / LOCK_FILE).read_text())
        assert holder["pid"] == writer.pid and "train vae" in holder["command"]
        refused(run_genzoo("train", "vae", "--config", config, "--out", run, "--overwrite"), writer.pid)
        refused(run_genzoo("resume", run, "--epochs", "3"), writer.pid)
        refused(run_genzoo("evaluate", run, "--no-quality"), writer.pid)
        sampled = run_genzoo("sample", run, "-n", "4", "-o", tmp_path / "samples.png")  # a reader: never locks
        assert sampled.returncode == 0, sampled.stderr[-2000:]
        assert (tmp_path / "samples.png").is_file()
    finally:
        finish(writer, tmp_path)
    assert_same_run(reference, run)  # nothing the refused writers tried reached the folder
    assert not (run / LOCK_FILE).exists()  # released at the end


def test_while_a_run_resumes_training_over_it_is_refused(reference, tmp_path):
    run = tmp_path / "run"
    genzoo.train(build_tiny_config("vae", train={"epochs": 1}), run, verbose=False)
    writer = start_held(tmp_path, "resume", run, "--epochs", "2")
    try:
        wait_until_held(writer, tmp_path)
        config = write_config(tmp_path / "other.yaml", CONFIG)
        refused(run_genzoo("train", "vae", "--config", config, "--out", run, "--overwrite"), writer.pid)
        assert (run / "checkpoints" / "step-000008").is_dir()  # --overwrite cleared nothing
    finally:
        finish(writer, tmp_path)
    assert_same_run(reference, run, same_config=False)


def test_a_lock_left_by_kill_9_is_taken_over(reference, tmp_path):
    config = write_config(tmp_path / "run.yaml", CONFIG)
    killed = run_genzoo("train", "vae", "--config", config, "--out", tmp_path / "run", fault="signal:KILL@10")
    assert killed.returncode == -9
    assert (tmp_path / "run" / LOCK_FILE).exists()  # the dead writer's lock file stays; its flock died with it
    resumed = run_genzoo("resume", tmp_path / "run")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_run(reference, tmp_path / "run")
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_under_torchrun_rank_0_takes_the_lock_and_every_rank_stops(tmp_path):
    run = tmp_path / "run"
    config = write_config(tmp_path / "run.yaml", CONFIG)
    with RunFolder(run).lock():  # this test process is the other writer
        result = run_genzoo("train", "vae", "--config", config, "--out", run, "--overwrite", processes=2)
    assert result.returncode != 0
    assert result.stderr.count(f"is in use: PID {os.getpid()} on") == 1  # rank 0 tried the lock, rank 1 did not
    assert "rank 0 failed while preparing the run folder" in result.stderr  # and rank 1 learned it: no hang
    assert not (run / "config.yaml").exists()


def test_folder_lock_in_one_process(tmp_path):
    first = FolderLock(tmp_path / "run", {"pid": 1, "command": "first"})
    first.acquire()
    with pytest.raises(FolderBusy) as busy:
        FolderLock(tmp_path / "run", {"pid": 2}).acquire()
    assert busy.value.holder == {"pid": 1, "command": "first"}
    first.release()
    assert not (tmp_path / "run" / LOCK_FILE).exists()
    (tmp_path / "run" / LOCK_FILE).write_text("left by a writer that died mid-write")  # unlocked: taken over
    with FolderLock(tmp_path / "run", {"pid": 3}) as third:
        assert json.loads(third.path.read_text()) == {"pid": 3}
    RunFolder(tmp_path / "run").lock().check_free()  # free: no error, and no lock file left behind
    assert not (tmp_path / "run" / LOCK_FILE).exists()
