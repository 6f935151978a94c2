"""Checkpoint files: atomic folders, checksums in meta.json, newest-first listing, pruning."""

from __future__ import annotations

import json
import os

import pytest
import torch

from genzoo.errors import GenzooError
from genzoo.files import atomic_write_text
from genzoo.train import checkpoint as ckpt

from conftest import flip_byte


def weights(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"layer.weight": torch.randn(3, 4, generator=gen), "layer.bias": torch.randn(3, generator=gen)}


def save(folder, step: int, seed: int = 0):
    state = {
        "step": step,
        "optimizers": {"loss": {"state": {}, "param_groups": []}},
        "rng": {"cpu": torch.get_rng_state()},
    }
    return ckpt.save_checkpoint(folder, step, weights(seed), state, {"epoch": step / 10, "model": "vae"})


def test_save_writes_three_files_with_checksums(tmp_path):
    path = save(tmp_path, 12)
    assert path == tmp_path / "step-000012"
    assert sorted(p.name for p in path.iterdir()) == sorted([ckpt.WEIGHTS, ckpt.STATE, ckpt.META])
    meta = json.loads((path / ckpt.META).read_text())
    assert meta["step"] == 12 and meta["model"] == "vae" and meta["epoch"] == 1.2
    assert meta["files"] == {name: ckpt.sha256_file(path / name) for name in (ckpt.WEIGHTS, ckpt.STATE)}
    assert [p.name for p in tmp_path.iterdir()] == ["step-000012"]  # no temporary folder left behind


def test_validate_and_load_round_trip(tmp_path):
    save(tmp_path, 5, seed=3)
    checkpoint = ckpt.validate(tmp_path / "step-000005")
    assert checkpoint.step == 5 and checkpoint.epoch == 0.5
    loaded = ckpt.load_weights(checkpoint)
    for key, value in weights(3).items():
        assert torch.equal(loaded[key], value)
    state = ckpt.load_train_state(checkpoint)
    assert state["step"] == 5
    assert state["optimizers"] == {"loss": {"state": {}, "param_groups": []}}
    assert state["rng"]["cpu"].dtype == torch.uint8


def test_list_is_newest_first_and_ignores_other_folders(tmp_path):
    for step in (3, 20, 100, 7):
        save(tmp_path, step)
    (tmp_path / "step-abc").mkdir()
    (tmp_path / ".step-000200.x.tmp").mkdir()
    (tmp_path / "step-000300.old").mkdir()
    (tmp_path / "notes").mkdir()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "step-000100",
        "step-000020",
        "step-000007",
        "step-000003",
    ]
    assert ckpt.list_checkpoints(tmp_path / "missing") == []


def test_prune_keeps_the_newest(tmp_path):
    for step in (1, 2, 3, 4):
        save(tmp_path, step)
    ckpt.prune(tmp_path, keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-000004", "step-000003"]


def test_saving_the_same_step_again_replaces_it(tmp_path):
    save(tmp_path, 8, seed=0)
    save(tmp_path, 8, seed=1)
    checkpoint = ckpt.latest_valid(tmp_path)
    assert torch.equal(ckpt.load_weights(checkpoint)["layer.bias"], weights(1)["layer.bias"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000008"]  # no .old or temporary folder left


@pytest.mark.parametrize("damage", ["flip-weights", "flip-state", "delete-state", "delete-meta", "garble-meta"])
def test_damage_is_detected_and_skipped(tmp_path, damage):
    save(tmp_path, 1, seed=1)
    newest = save(tmp_path, 2, seed=2)
    if damage == "flip-weights":
        flip_byte(newest / ckpt.WEIGHTS)
    elif damage == "flip-state":
        flip_byte(newest / ckpt.STATE)
    elif damage == "delete-state":
        (newest / ckpt.STATE).unlink()
    elif damage == "delete-meta":
        (newest / ckpt.META).unlink()
    else:
        (newest / ckpt.META).write_text("{not json")
    with pytest.raises(GenzooError) as info:
        ckpt.validate(newest)
    assert str(newest) in str(info.value)
    with pytest.warns(UserWarning, match="skipping damaged checkpoint step-000002"):
        checkpoint = ckpt.latest_valid(tmp_path)
    assert checkpoint.step == 1
    assert torch.equal(ckpt.load_weights(checkpoint)["layer.weight"], weights(1)["layer.weight"])


def test_latest_valid_is_none_when_nothing_is_valid(tmp_path):
    assert ckpt.latest_valid(tmp_path) is None
    only = save(tmp_path, 1)
    flip_byte(only / ckpt.WEIGHTS)
    with pytest.warns(UserWarning):
        assert ckpt.latest_valid(tmp_path) is None


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "file.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_run_files_get_the_modes_of_the_umask_not_tempfiles_private_ones(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    atomic_write_text(tmp_path / "config.yaml", "seed: 0\n")
    folder = save(tmp_path / "checkpoints", 3)
    assert (tmp_path / "config.yaml").stat().st_mode & 0o777 == 0o666 & ~mask
    assert folder.stat().st_mode & 0o777 == 0o777 & ~mask
