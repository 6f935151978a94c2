"""genzoo with other tools, end to end on tiny runs and real files: samples out as .npz arrays and folders of PNGs
(what torch-fidelity, clean-fid and papers' scripts read), images in from elsewhere scored by `genzoo evaluate
--images` on the protocol of `genzoo evaluate` and ranked by `genzoo compare` beside the runs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo.cli import main
from genzoo.evaluate.images import to_uint8
from genzoo.evaluate.quality import generate

from conftest import build_tiny_config, one_line_error


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory) -> Path:
    """A tiny conditional VAE (1 epoch of 8 steps). Read-only."""
    run_dir = tmp_path_factory.mktemp("interop") / "cvae"
    genzoo.train(build_tiny_config("cvae"), run_dir, verbose=False)
    return run_dir


def png_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture)


# -- samples out --------------------------------------------------------------------------------------------------
def test_sample_to_npz_holds_the_images_evaluate_scores(tiny_vae_run, tmp_path, capsys):
    out = tmp_path / "samples.npz"
    assert main(["sample", str(tiny_vae_run), "-n", "600", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    with np.load(out) as stored:
        assert stored.files == ["images"]  # unconditional: no labels
        images = stored["images"]
    assert images.shape == (600, 1, 28, 28) and images.dtype == np.uint8
    # The very images genzoo evaluate draws for seed 0 (batches of 500 from one generator), rounded to uint8.
    model = genzoo.load(tiny_vae_run)
    drawn, labels = generate(model, 600, 0, 10)
    assert labels is None
    assert np.array_equal(images, to_uint8(drawn))
    assert torch.equal(genzoo.sample(tiny_vae_run, n=600), drawn)
    assert images.std() > 10  # pictures, not a constant


def test_sample_to_a_folder_writes_one_numbered_png_per_image(tiny_vae_run, tmp_path):
    folder = tmp_path / "pngs"
    assert main(["sample", str(tiny_vae_run), "-n", "12", "--seed", "3", "-o", f"{folder}/"]) == 0
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{i:06d}.png" for i in range(12)]
    assert main(["sample", str(tiny_vae_run), "-n", "12", "--seed", "3", "-o", str(tmp_path / "same.npz")]) == 0
    with np.load(tmp_path / "same.npz") as stored:
        expected = stored["images"]
    for i, name in enumerate(names):
        with Image.open(folder / name) as picture:
            assert picture.mode == "L" and picture.size == (28, 28)
        assert np.array_equal(png_pixels(folder / name), expected[i, 0])


def test_a_conditional_model_writes_its_labels(cvae_run, tmp_path):
    assert main(["sample", str(cvae_run), "-n", "25", "-o", str(tmp_path / "c.npz")]) == 0
    with np.load(tmp_path / "c.npz") as stored:
        assert stored["labels"].tolist() == [i % 10 for i in range(25)]  # every class in turn
        assert stored["images"].shape == (25, 1, 28, 28)
    assert main(["sample", str(cvae_run), "-n", "4", "--label", "7", "-o", str(tmp_path / "sevens") + "/"]) == 0
    with open(tmp_path / "sevens" / "labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["file", "label"]] + [[f"{i:06d}.png", "7"] for i in range(4)]


def test_an_existing_empty_folder_takes_pngs_and_the_grid_stays(tiny_vae_run, tmp_path):
    (tmp_path / "empty").mkdir()
    assert main(["sample", str(tiny_vae_run), "-n", "3", "-o", str(tmp_path / "empty")]) == 0
    assert len(list((tmp_path / "empty").glob("*.png"))) == 3
    assert main(["sample", str(tiny_vae_run), "-n", "16", "-o", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size == (4 * 30 + 2, 4 * 30 + 2)  # -o x.png: still one grid


@pytest.mark.parametrize(
    "output, words",
    [
        ("full/", "the folder is not empty; pick a new or empty folder"),
        ("x.txt", "expected a name ending in .png, .jpg, .gif, .webp, ... (a grid), .npz (the images as uint8 arrays)"),
        ("afile/", "afile is a file; expected a new or empty folder"),
    ],
)
def test_a_samples_output_that_cannot_be_written_is_refused_before_any_work(
    tiny_vae_run, tmp_path, capsys, output, words
):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.png").write_bytes(b"")
    (tmp_path / "afile").write_text("")
    assert main(["sample", str(tiny_vae_run), "-o", str(tmp_path) + "/" + output]) == 2
    assert words in one_line_error(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "full"]
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["old.png"]
