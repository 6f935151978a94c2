"""InfoGAN end to end through `genzoo`: train a few steps, `sample --code`, `traverse` (its code sweep), `evaluate`
(the code-to-class figure), the one-line refusals, and training on Fashion-MNIST and on a folder of RGB pictures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from genzoo.cli import main
from tests.conftest import build_tiny_config, one_line_error, read_metrics
from tests.unit.test_colour_datasets import picture_folder

pytestmark = pytest.mark.filterwarnings("ignore::genzoo.models.gan.TrainingHealthWarning")  # tiny runs collapse

TINY = ["--set=model.width_g=4", "--set=model.width_d=4", "--set=model.noise_dim=8", "--set=model.q_hidden=8"]


def train(tmp: Path, model: str, *extra: str) -> Path:
    out = tmp / model
    args = ["train", model, "--steps", "4", "--batch-size", "32", "--set=data.train_size=128"]
    args += ["--set=data.test_size=64", "--set=train.tensorboard=false", "--set=train.grid_size=16", "--out", str(out)]
    assert main([*args, *(TINY if model == "infogan" else TINY[:3]), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("infogan-cli"), "infogan")


def test_train_logs_the_players_and_what_q_reads(run):
    train_lines = [r for r in read_metrics(run) if r["split"] == "train"]
    keys = set().union(*train_lines)
    assert {"discriminator_loss", "generator_loss", "q_categorical_nll", "q_continuous_nll", "q_accuracy"} <= keys


def test_sample_with_code_and_its_refusals(run, tmp_path, capsys):
    out = tmp_path / "threes.png"
    assert main(["sample", str(run), "--code", "3", "-n", "9", "-o", str(out)]) == 0
    with Image.open(out) as picture:
        assert picture.size == (3 * 30 + 2, 3 * 30 + 2)
    assert main(["sample", str(run), "--code", "10", "-o", str(tmp_path / "x.png")]) == 2
    assert "--code 10 is out of range; this model's categorical code takes 0..9" in one_line_error(
        capsys.readouterr().err
    )
    dcgan = train(tmp_path, "dcgan")
    assert main(["sample", str(dcgan), "--code", "1", "-o", str(tmp_path / "y.png")]) == 2
    assert "no categorical latent code: --code needs" in one_line_error(capsys.readouterr().err)


def test_traverse_sweeps_the_codes(run, tmp_path, capsys):
    out = tmp_path / "traverse.png"
    assert main(["traverse", str(run), "--steps", "5", "-o", str(out)]) == 0
    with Image.open(out) as picture:  # 2 continuous codes x 10 categorical values = 20 rows of 5
        assert picture.size == (5 * 30 + 2, 20 * 30 + 2)
    assert main(["traverse", str(run), "--steps", "4", "--dims", "1", "-o", str(out)]) == 0
    with Image.open(out) as picture:
        assert picture.size == (4 * 30 + 2, 10 * 30 + 2)
    assert main(["traverse", str(run), "--dims", "5", "-o", str(out)]) == 2
    assert "continuous codes are 0..1" in one_line_error(capsys.readouterr().err)


def test_evaluate_reports_the_matched_code_accuracy(run, tmp_path, capsys):
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    assert main(["evaluate", str(copy), "--samples", "200"]) == 0
    out = capsys.readouterr().out
    assert "code-to-class: matched code accuracy" in out and "20 samples per code value" in out
    section = json.loads((copy / "eval.json").read_text())["code_classes"]
    assert 0 <= section["matched_code_accuracy"] <= 1 and section["chance"] == 0.1
    assert len(section["purity_per_code"]) == 10 and section["protocol"]["samples_per_code"] == 20
    assert sum(map(sum, section["counts"])) == 200


def test_infogan_trains_on_fashion_mnist_and_on_rgb_pictures(tmp_path):
    import genzoo

    config = build_tiny_config("infogan", data={"dataset": "fashion-mnist"}, train={"epochs": 1, "steps": 3})
    assert genzoo.train(config, tmp_path / "fashion", verbose=False).step == 3
    folder = picture_folder(tmp_path / "pictures")
    config = build_tiny_config(
        "infogan",
        data={"dataset": "image-folder", "data_dir": str(folder), "image_size": 16, "channels": 3},
        train={"epochs": 1, "steps": 3, "batch_size": 8, "eval_batch_size": 8},
    )
    del config["data"]["train_size"], config["data"]["test_size"]
    assert genzoo.train(config, tmp_path / "rgb", verbose=False).step == 3
    model = genzoo.load(tmp_path / "rgb")
    assert model.sample(2, code=1).shape == (2, 3, 16, 16)
