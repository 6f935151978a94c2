"""A validation slice carved from the training set (data.validation_size) and the checkpoint of its best epoch
(train.keep_best)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.config import RunConfig
from genzoo.errors import GenzooError
from genzoo.run_folder import load_weights, validate

from conftest import assert_same_run, build_tiny_config, newest_weights, read_metrics

# 256 training images: the last 64 validate, 192 train = 6 steps of 32 per epoch.
HELD_OUT = {"data": {"validation_size": 64}, "train": {"epochs": 3, "keep_best": True, "lr": 3e-3}}


@pytest.fixture(scope="module")
def best_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("validation") / "vae"
    genzoo.train(build_tiny_config("vae", **HELD_OUT), run, verbose=False)
    return run


def test_validation_lines_come_from_held_out_training_images(best_run):
    records = read_metrics(best_run)
    validation = [r for r in records if r["split"] == "validation"]
    assert [r["step"] for r in validation] == [6, 12, 18]  # 192 images left to train on: 6 steps an epoch
    test = {r["step"]: r for r in records if r["split"] == "test"}
    assert all(r.keys() == test[r["step"]].keys() for r in validation)  # the same figures as the test lines
    assert all(r["loss"] != test[r["step"]]["loss"] for r in validation)  # on other images


def test_best_holds_the_epoch_of_the_lowest_validation_loss(best_run):
    validation = [r for r in read_metrics(best_run) if r["split"] == "validation"]
    best_step = min(validation, key=lambda r: r["loss"])["step"]
    best = validate(best_run / "best")
    assert best.step == best_step
    model = genzoo.load(best_run, best=True)
    for key, value in load_weights(best).items():
        assert torch.equal(model.state_dict()[key], value), key
    if best_step != 18:  # the newest checkpoint is another model
        assert any(not torch.equal(newest_weights(best_run)[k], v) for k, v in load_weights(best).items())


@pytest.mark.parametrize(
    ("model", "sections", "message"),
    [
        ("vae", {"train": {"keep_best": True}}, "train.keep_best=true needs data.validation_size > 0"),
        ("vae", {"data": {"validation_size": -1}}, "data.validation_size=-1"),
    ],
)
def test_keep_best_without_a_validation_slice_is_refused(model, sections, message):
    with pytest.raises(GenzooError, match=message):
        RunConfig.from_dict(build_tiny_config(model, **sections))


def test_a_validation_slice_as_large_as_train_or_a_gan_keeping_best_is_refused(tmp_path):
    with pytest.raises(GenzooError, match="data.validation_size=256 is out of range; expected fewer than the 256"):
        genzoo.train(build_tiny_config("vae", data={"validation_size": 256}), tmp_path / "a", verbose=False)
    with pytest.raises(GenzooError, match="train.keep_best needs one objective"):
        genzoo.train(build_tiny_config("gan", **HELD_OUT), tmp_path / "b", verbose=False)
    assert not (tmp_path / "b").exists()  # refused before any work
    genzoo.train(build_tiny_config("vae"), tmp_path / "c", verbose=False)
    with pytest.raises(GenzooError, match="no best/ checkpoint"):
        genzoo.load(tmp_path / "c", best=True)


def test_a_plateau_run_resumes_bit_exact_after_a_crash(tmp_path):
    sections = {"data": {"validation_size": 64}, "train": {"epochs": 3, "schedule": "plateau", "plateau_patience": 1}}
    reference = tmp_path / "reference"
    genzoo.train(build_tiny_config("vae", **sections), reference, verbose=False)
    run = Path(shutil.copytree(reference, tmp_path / "crashed"))
    shutil.rmtree(run / "checkpoints" / "step-000018")
    genzoo.resume(run, verbose=False)
    assert_same_run(reference, run, final_step=18)


def test_a_run_keeping_best_resumes_bit_exact_after_a_crash(best_run, tmp_path):
    run = Path(shutil.copytree(best_run, tmp_path / "crashed"))
    shutil.rmtree(run / "checkpoints" / "step-000018")  # the end of epoch 3 never made it to disk
    genzoo.resume(run, verbose=False)  # from step 12, knowing the best validation loss up to there
    assert_same_run(best_run, run, final_step=18)
    assert load_weights(validate(run / "best")).keys() == load_weights(validate(best_run / "best")).keys()
    for key, value in load_weights(validate(best_run / "best")).items():
        assert torch.equal(load_weights(validate(run / "best"))[key], value), key
