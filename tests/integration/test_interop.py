"""genzoo with other tools, end to end on tiny runs and real files: samples out as .npz arrays and folders of PNGs
(what torch-fidelity, clean-fid and papers' scripts read), images in from elsewhere scored by `genzoo evaluate
--images` on the protocol of `genzoo evaluate` and ranked by `genzoo compare` beside the runs."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import genzoo
from genzoo.cli import main
from genzoo.evaluate.images import images_from_array, read_images, to_uint8
from genzoo.evaluate.quality import generate
from genzoo.run_folder import RunFolder

from conftest import build_tiny_config, one_line_error, read_metrics


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory) -> Path:
    """A tiny conditional VAE (1 epoch of 8 steps). Read-only."""
    run_dir = tmp_path_factory.mktemp("interop") / "cvae"
    genzoo.train(build_tiny_config("cvae"), run_dir, verbose=False)
    return run_dir


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory) -> Path:
    """A tiny GAN (1 epoch of 8 steps): a sampler without an encoder, so its evaluation is the quality section
    alone. Read-only."""
    run_dir = tmp_path_factory.mktemp("interop") / "gan"
    genzoo.train(build_tiny_config("gan"), run_dir, verbose=False)
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


# -- images in: genzoo evaluate --images ---------------------------------------------------------------------------
QUALITY_FIGURES = ("fd_lenet", "kid_lenet", "precision", "recall", "density", "coverage", "classifier_score")


def figures(section: dict) -> dict:
    return {k: section[k] for k in QUALITY_FIGURES}


def test_images_score_as_the_run_scores_its_own_samples(gan_run, tmp_path, capsys):
    """The run's 600 samples as floats in an .npy, scored by --images, get the figures `genzoo evaluate --samples
    600` gives the run itself: same images, same protocol, same floor."""
    run = tmp_path / "gan"
    run.mkdir()
    for item in gan_run.iterdir():  # a copy that this test may evaluate (eval.json is written into it)
        (run / item.name).symlink_to(item)
    np.save(tmp_path / "floats.npy", genzoo.sample(gan_run, n=600).numpy())
    assert main(["evaluate", "--images", str(tmp_path / "floats.npy"), "--dataset", "mnist"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "floats" / "eval.json") in out and "real data (floor)" in out
    scored = json.loads((tmp_path / "floats" / "eval.json").read_text())["quality"]
    assert scored["protocol"]["samples"] == 600 and scored["protocol"]["sampler"] == "images"
    assert scored["images"]["format"] == "npy" and scored["images"]["n_images"] == 600
    own = genzoo.evaluate(run, samples=600, plots=False, progress=False)["quality"]
    assert figures(scored) == figures(own)
    assert scored["floor"] == own["floor"]
    capsys.readouterr()
    assert main(["compare", str(run), str(tmp_path / "floats")]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert rows[0].startswith("real data (floor)") and {row.split()[0] for row in rows[1:]} == {"gan", "floats"}


def test_npz_and_png_folder_read_alike_and_join_the_leaderboard(gan_run, tmp_path, capsys):
    assert main(["sample", str(gan_run), "-n", "600", "-o", str(tmp_path / "gan-samples.npz")]) == 0
    assert main(["sample", str(gan_run), "-n", "600", "-o", str(tmp_path / "pngs") + "/"]) == 0
    from_npz = read_images(tmp_path / "gan-samples.npz", (1, 28, 28), "mnist", 10)[0]
    assert torch.equal(read_images(tmp_path / "pngs", (1, 28, 28), "mnist", 10)[0], from_npz)  # the same pixels
    # Rounding to uint8 moves a pixel by half a grey level at most.
    assert (from_npz - genzoo.sample(gan_run, n=600)).abs().max() <= 0.5 / 255 + 1e-6
    assert main(["evaluate", "--images", str(tmp_path / "gan-samples.npz"), "--dataset", "mnist"]) == 0
    out_folder = tmp_path / "report-here"
    assert main(["evaluate", "--images", str(tmp_path / "pngs"), "--dataset", "mnist", "--out", str(out_folder)]) == 0
    from_pngs = json.loads((out_folder / "eval.json").read_text())["quality"]
    assert from_pngs["images"]["format"] == "folder" and not (tmp_path / "pngs" / "eval.json").exists()
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "gan-samples"), str(out_folder), "--markdown"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[2].startswith("| real data (floor) |")
    assert rows[3].split(" | ")[1:] == rows[4].split(" | ")[1:]  # the same figures
    assert {row.split(" | ")[0] for row in rows[3:]} == {"| gan-samples", "| report-here"}


def test_real_images_score_as_the_floor(tmp_path):
    """The first 600 training images, given as foreign images (channels last, uint8), are the floor itself."""
    from genzoo.data.datasets import load_dataset

    train = load_dataset("mnist", train_size=600, test_size=1).train
    pixels = train.images.permute(0, 2, 3, 1).numpy()  # (600, 28, 28, 1)
    section = genzoo.evaluate_images(pixels, "mnist", labels=train.labels, out=tmp_path / "real")["quality"]
    assert figures(section) == {k: section["floor"][k] for k in QUALITY_FIGURES}
    assert section["conditional_accuracy"] > 0.95  # the feature network reads real digits
    assert json.loads((tmp_path / "real" / "eval.json").read_text())["quality"]["fd_lenet"] == section["fd_lenet"]


def test_a_conditional_models_folder_brings_its_labels(cvae_run, tmp_path):
    assert main(["sample", str(cvae_run), "-n", "600", "-o", str(tmp_path / "c") + "/"]) == 0
    assert main(["evaluate", "--images", str(tmp_path / "c"), "--dataset", "mnist"]) == 0
    section = json.loads((tmp_path / "c" / "eval.json").read_text())["quality"]
    assert 0 <= section["conditional_accuracy"] <= 1


def write_pngs(folder: Path, pixels: np.ndarray) -> Path:
    folder.mkdir()
    for i, picture in enumerate(pixels):
        Image.fromarray(picture).save(folder / f"{i:03d}.png")
    return folder


BAD_IMAGES = [
    (
        "rgb.npy",
        lambda: np.random.default_rng(0).random((20, 3, 28, 28)),
        "3-channel images (colour); mnist has 1 channel",
    ),
    ("small.npy", lambda: np.zeros((20, 32, 32), np.uint8), "images of 32x32; mnist is 28x28: resize them first"),
    (
        "minus.npy",
        lambda: np.full((20, 28, 28), -0.5),
        "values in [-0.5, -0.5]; expected floats in [0, 1] (for [-1, 1]",
    ),
    ("ints.npy", lambda: np.zeros((20, 28, 28), np.int64), "dtype int64; expected uint8 in [0, 255] or floats"),
    ("few.npy", lambda: np.zeros((5, 28, 28), np.uint8), "5 images; the metrics need at least 10"),
    (
        "five.npy",
        lambda: np.zeros((20, 28, 28, 5), np.uint8),
        "images of shape (20, 28, 28, 5); expected (N, H, W), (N, C, H, W)",
    ),
    ("nan.npy", lambda: np.full((20, 28, 28), np.nan, np.float32), "NaN or infinite values; expected floats in [0, 1]"),
    (
        "two.npz",
        lambda: {"a": np.zeros((20, 28, 28)), "b": np.zeros(3)},
        "holds arrays a, b; expected one named 'images'",
    ),
    (
        "labels.npz",
        lambda: {"images": np.zeros((20, 28, 28)), "labels": np.full(20, 10)},
        "labels.npz labels: values in 10..10; expected 0..9",
    ),
    ("colour", lambda: np.random.default_rng(0).integers(0, 256, (12, 28, 28, 3), np.uint8), "3-channel images"),
    ("sizes", lambda: [np.zeros((28, 28), np.uint8), np.zeros((30, 28), np.uint8)], "a 28x30 picture; the folder's"),
]


@pytest.mark.parametrize("name, make, words", BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_images_genzoo_cannot_score_are_refused_in_one_line(tmp_path, capsys, name, make, words):
    (tmp_path / "in").mkdir()
    path, data = tmp_path / "in" / name, make()
    if name.endswith(".npy"):
        np.save(path, data)
    elif name.endswith(".npz"):
        np.savez(path, **data)
    else:
        write_pngs(path, data)
    before = sorted(path.parent.rglob("*"))
    assert main(["evaluate", "--images", str(path), "--dataset", "mnist"]) == 2
    assert words in one_line_error(capsys.readouterr().err)
    assert sorted(path.parent.rglob("*")) == before  # nothing written


def test_grey_pictures_saved_as_rgb_count_as_grey(tmp_path):
    grey = np.random.default_rng(1).integers(0, 256, (12, 28, 28), np.uint8)
    as_rgb = write_pngs(tmp_path / "rgb", np.repeat(grey[..., None], 3, axis=3))
    images, labels, source = read_images(as_rgb, (1, 28, 28), "mnist", 10)
    assert labels is None and source["format"] == "folder" and source["n_images"] == 12
    assert torch.equal(images, images_from_array(grey, (1, 28, 28), "mnist", "grey"))
    assert torch.equal(images, torch.from_numpy(grey)[:, None].float() / 255)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--images", "X"], "--images needs --dataset"),
        ([], "evaluate needs a run folder, or --images PATH --dataset NAME"),
        (["RUN", "--images", "X", "--dataset", "mnist"], "a run folder (RUN) or --images, not both"),
        (["--images", "X", "--dataset", "mnist", "--nll", "--samples", "5"], "--nll, --samples apply to a run's model"),
        (["--images", "X", "--dataset", "cifar10"], "no shipped feature network for data set 'cifar10'"),
        (["--images", "X", "--dataset", "mnst"], "'mnst'"),
        (["--images", "missing.npz", "--dataset", "mnist"], "--images missing.npz: no such file or folder"),
        (["RUN", "--dataset", "mnist"], "--dataset and --out go with --images"),
    ],
)
def test_evaluate_images_options_are_checked_first(tmp_path, capsys, args, words):
    np.save(tmp_path / "X.npy", np.zeros((20, 28, 28), np.uint8))
    args = [str(tmp_path / "X.npy") if a == "X" else a for a in args]
    assert main(["evaluate", *args]) == 2
    assert words in one_line_error(capsys.readouterr().err)


def test_a_run_folder_is_not_taken_as_out(tiny_vae_run, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((20, 28, 28), np.uint8))
    assert (
        main(["evaluate", "--images", str(tmp_path / "x.npy"), "--dataset", "mnist", "--out", str(tiny_vae_run)]) == 2
    )
    assert "a genzoo run folder, whose eval.json describes its own model" in one_line_error(capsys.readouterr().err)


# -- your own data: genzoo.train(config, data=...) ------------------------------------------------------------------
def mnist_arrays(train: int = 256, test: int = 64):
    from genzoo.data.datasets import load_dataset

    data = load_dataset("mnist", train_size=train, test_size=test)
    return data.train, data.test


def test_own_arrays_train_exactly_as_the_same_registered_images(tmp_path):
    """The first 256/64 MNIST images handed over as arrays give the very run that data.dataset=mnist with those
    sizes gives: the same uint8 splits, the same batches, the same weights and metrics."""
    train, test = mnist_arrays()
    config = build_tiny_config("vae")
    genzoo.train(config, tmp_path / "registered", verbose=False)
    own = {"train": (train.images.numpy(), train.labels.numpy()), "test": (test.images, test.labels)}
    result = genzoo.train({**config, "data": {}}, tmp_path / "own", data=own, verbose=False)
    assert result.run_dir == tmp_path / "own"
    assert (tmp_path / "own" / "metrics.jsonl").read_bytes() == (tmp_path / "registered" / "metrics.jsonl").read_bytes()
    a, b = genzoo.load(tmp_path / "own").state_dict(), genzoo.load(tmp_path / "registered").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    data = RunFolder(tmp_path / "own").config().data
    assert data.dataset == "arrays" and Path(data.data_dir) == (tmp_path / "own" / "data.npz").resolve()


def test_a_run_on_own_data_works_with_every_verb_even_moved(tmp_path, capsys):
    """Floats in [0, 1], channels last, no labels, no test split: a fixed tenth is held out; the run keeps the
    arrays, so reconstruct, evaluate and resume read them again, also after the folder moved."""
    images = np.random.default_rng(0).random((200, 28, 28, 1), dtype=np.float32)
    images[:, 10:18, 10:18] = 1.0  # a square in every picture
    config = build_tiny_config("vae", train={"epochs": 1})
    genzoo.train(config, tmp_path / "mine", data=images, verbose=False)
    with np.load(tmp_path / "mine" / "data.npz") as stored:
        assert stored["train_images"].shape == (180, 1, 28, 28) and stored["test_images"].shape == (20, 1, 28, 28)
        assert stored["train_images"].dtype == np.uint8 and stored["classes"].tolist() == ["0"]
        held_out = stored["test_images"]
    every = (images.transpose(0, 3, 1, 2) * 255 + 0.5).astype(np.uint8)
    assert any(np.array_equal(held_out[0], picture) for picture in every)  # the test split: some of the images
    (tmp_path / "mine").rename(tmp_path / "moved")
    run = tmp_path / "moved"
    originals, recons = genzoo.reconstruct(run, n=8)
    assert originals.shape == recons.shape == (8, 1, 28, 28)
    assert torch.equal(originals, torch.from_numpy(held_out[:8]).float() / 255)
    with pytest.warns(UserWarning, match="no shipped feature network for data set 'arrays'"):
        sections = genzoo.evaluate(run, plots=False, progress=False)
    assert "codes" in sections and sections["codes"]["latent_dim"] == 4
    assert main(["resume", str(run), "--epochs", "2"]) == 0
    assert [r["epoch"] for r in read_metrics(run) if r["split"] == "test"] == [1, 2]


class Pictures(torch.utils.data.Dataset):
    """A map-style Dataset as torchvision's look: (C, H, W) float tensors in [0, 1] and int labels, `classes`."""

    classes: ClassVar[list[str]] = ["zero", "one", "two"]

    def __init__(self, n: int):
        self.x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        self.y = torch.arange(n) % 3

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i])


def test_a_torch_dataset_is_read_once_into_uint8_splits(tmp_path):
    train, test = Pictures(96), Pictures(30)
    genzoo.train(build_tiny_config("cvae"), tmp_path / "c", data={"train": train, "test": test}, verbose=False)
    with np.load(tmp_path / "c" / "data.npz") as stored:
        assert np.array_equal(stored["train_images"], (train.x.numpy() * 255 + 0.5).astype(np.uint8))
        assert stored["train_labels"].tolist() == train.y.tolist()
        assert stored["classes"].tolist() == ["zero", "one", "two"]
    model = genzoo.load(tmp_path / "c")
    assert model.config.num_classes == 3 and model.config.image_shape == (1, 28, 28)
    assert genzoo.sample(model, n=6).shape == (6, 1, 28, 28)


class Broken(Pictures):
    def __getitem__(self, i: int):
        return self.x[i] * 2 - 1, int(self.y[i])  # a Normalize((0.5,), (0.5,)) transform: [-1, 1]


BAD_DATA = [
    (lambda: np.zeros((10, 2, 28, 28), np.uint8), "data images: images of shape (10, 2, 28, 28); expected (N, H, W)"),
    (lambda: np.zeros((10, 28, 28), np.int64), "data images: images of dtype int64; expected uint8 in [0, 255]"),
    (lambda: np.full((10, 28, 28), 2.0), "data images: values in [2, 2]; expected floats in [0, 1]"),
    (lambda: (np.zeros((10, 28, 28)), np.zeros(9, int)), "data labels: shape (9,) and dtype int64; expected (10,)"),
    (lambda: (np.zeros((10, 28, 28)), -np.ones(10, int)), "data labels: values in -1..-1; expected integers >= 0"),
    (lambda: {"train": np.zeros((10, 28, 28)), "valid": 1}, "expected {'train': ..., 'test': ...}"),
    (lambda: {"train": np.zeros((4, 28, 28)), "test": np.zeros((4, 32, 32))}, "data['test'] images of shape"),
    (lambda: Broken(8), "expected floats in [0, 1] (for [-1, 1] images: (x + 1) / 2)"),
    (lambda: np.zeros((1, 28, 28)), "data: 1 image; expected at least two"),
    (lambda: [np.zeros((28, 28)), np.zeros((28, 28, 5))], "data images: not one array (setting an array element"),
]


@pytest.mark.parametrize("make, words", BAD_DATA, ids=[str(i) for i in range(len(BAD_DATA))])
def test_own_data_genzoo_cannot_take_is_refused_in_one_line_before_any_work(tmp_path, make, words):
    with pytest.raises(genzoo.GenzooError) as error:
        genzoo.train(build_tiny_config("vae"), tmp_path / "run", data=make(), verbose=False)
    assert words in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_an_arrays_file_trains_from_the_command_line(tmp_path):
    train, test = mnist_arrays(64, 16)
    np.savez(tmp_path / "mine.npz", train_images=train.images.numpy(), test_images=test.images.numpy())
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"train": {"epochs": 1, "batch_size": 32, "tensorboard": False, "grid_size": 4}}))
    args = ["train", "ae", "--dataset", "arrays", "--data-dir", str(tmp_path / "mine.npz"), "--config", str(config)]
    assert main([*args, "--set", "model.latent_dim=4", "--set", "model.hidden=[16]", "--out", str(tmp_path / "r")]) == 0
    assert len([r for r in read_metrics(tmp_path / "r") if r["split"] == "test"]) == 1
    assert main(["train", "ae", "--dataset", "arrays", "--out", str(tmp_path / "none")]) == 2


# -- your own model class from an installed package: the genzoo.models entry point ---------------------------------
PLUGIN = """
from dataclasses import dataclass

import torch
from torch import nn

from genzoo.models.base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, GenerativeModel, ModelConfig, StepOutput


@dataclass(frozen=True)
class PluginConfig(ModelConfig):
    latent_dim: int = 3


class PluginAE(GenerativeModel):
    name = "plugin-ae"
    summary = "an installed package's autoencoder"
    Config = PluginConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})

    def __init__(self, config):
        super().__init__(config)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, config.latent_dim))
        self.decoder = nn.Linear(config.latent_dim, 784)

    @property
    def latent_dim(self):
        return self.config.latent_dim

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return torch.sigmoid(self.decoder(z)).view(-1, 1, 28, 28)

    def sample(self, n, generator=None, labels=None):
        return self.decode(torch.randn(n, self.latent_dim, generator=generator, device=self.device))

    def training_step(self, batch, step, phase="loss"):
        logits = self.decoder(self.encoder(batch.x))
        loss = nn.functional.binary_cross_entropy_with_logits(logits, batch.x.flatten(1), reduction="sum") / len(batch)
        return StepOutput(loss, {"recon": loss.detach()})
"""


def test_an_installed_packages_model_works_from_the_command_line(tmp_path):
    """A package declaring `[project.entry-points."genzoo.models"] plugin-ae = "plugin_models:PluginAE"` (here its
    installed metadata, a dist-info folder on the path): `genzoo models` lists it, train and sample run it, and a
    broken entry point of another package is a warning, not a failure."""
    site = tmp_path / "site"
    (site / "plugin_models").mkdir(parents=True)
    (site / "plugin_models" / "__init__.py").write_text(PLUGIN)
    info = site / "plugin_models-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-models\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[genzoo.models]\nplugin-ae = plugin_models:PluginAE\nbroken = not_installed_anywhere:Model\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}

    def genzoo_cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "genzoo", *args], env=env, capture_output=True, text=True)

    listed = genzoo_cli("models")
    assert listed.returncode == 0, listed.stderr
    assert re.search(
        r"^plugin-ae +an installed package's autoencoder  \[decode, encode, reconstruct, sample\]$", listed.stdout, re.M
    )
    assert "the genzoo.models entry point broken = not_installed_anywhere:Model failed to load" in listed.stderr
    run = tmp_path / "run"
    trained = genzoo_cli(
        "train", "plugin-ae", "--steps", "4", "--batch-size", "32", "--set", "data.train_size=128",
        "--set", "data.test_size=32", "--set", "train.tensorboard=false", "--set", "train.grid_size=4",
        "--device", "cpu", "--out", str(run),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert yaml.safe_load((run / "code.yaml").read_text())["model"]["class"] == "plugin_models:PluginAE"
    sampled = genzoo_cli("sample", str(run), "-n", "5", "-o", str(tmp_path / "s.npz"))
    assert sampled.returncode == 0, sampled.stderr
    with np.load(tmp_path / "s.npz") as stored:
        assert stored["images"].shape == (5, 1, 28, 28)
