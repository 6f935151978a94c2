"""The exploration verbs end to end: each writes the picture it promises, or says in one line why it cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import genzoo
from genzoo.cli import main
from tests.conftest import build_tiny_config, one_line_error


def picture(path: Path) -> Image.Image:
    assert path.is_file(), path
    return Image.open(path)


def train_tiny(tmp_path_factory, model: str) -> Path:
    run = tmp_path_factory.mktemp("explore") / model
    genzoo.train(build_tiny_config(model), run, verbose=False)
    return run


@pytest.fixture(scope="module")
def tiny_dae_run(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory, "dae")


def test_interpolate_draws_one_row_per_pair(tiny_vae_run, tmp_path):
    out = tmp_path / "interp.png"
    assert main(["interpolate", str(tiny_vae_run), "--pairs", "3", "--steps", "7", "-o", str(out)]) == 0
    width, height = picture(out).size
    assert (width, height) == (7 * 30 + 2, 3 * 30 + 2)  # 28-pixel tiles with 2-pixel padding


def test_manifold_of_a_4d_latent_uses_two_dims(tiny_vae_run, tmp_path):
    out = tmp_path / "manifold.png"
    assert main(["manifold", str(tiny_vae_run), "-n", "5", "--dims", "0", "3", "-o", str(out)]) == 0
    assert picture(out).size == (5 * 30 + 2, 5 * 30 + 2)


def test_manifold_refuses_a_dimension_outside_the_latent(tiny_vae_run, tmp_path, capsys):
    assert main(["manifold", str(tiny_vae_run), "--dims", "0", "9", "-o", str(tmp_path / "m.png")]) == 2
    assert "0..3" in capsys.readouterr().err


def test_traverse_draws_one_row_per_latent_dimension(tiny_ae_run, tmp_path):
    out = tmp_path / "traverse.png"
    assert main(["traverse", str(tiny_ae_run), "--steps", "6", "-o", str(out)]) == 0
    assert picture(out).size == (6 * 30 + 2, 4 * 30 + 2)  # the tiny ae has a 4-d code


def test_embed_writes_codes_labels_and_a_scatter(tiny_vae_run, tmp_path):
    codes, plot = tmp_path / "codes.npz", tmp_path / "scatter.png"
    assert main(["embed", str(tiny_vae_run), "-o", str(codes), "--plot", str(plot)]) == 0
    data = np.load(codes)
    # The whole test split, whatever subset the run trained on.
    assert data["codes"].shape == (10000, 4) and data["labels"].shape == (10000,)
    assert data["points"].shape == (10000, 2)
    assert picture(plot).size[0] > 300


@pytest.mark.parametrize(
    "verb, output, words",
    [
        (["sample"], "x.txt", "cannot write a .txt file here; expected a name ending in .png"),
        (["reconstruct"], "r", "cannot write a suffix-less file here"),
        (["interpolate"], "i.npz", "cannot write a .npz file here"),
        (["embed"], "codes.png", "expected a name ending in .npz"),
        (["embed", "--plot", "PLOT/scatter.txt"], "codes.npz", "expected a name ending in .png, .pdf, .svg"),
    ],
)
def test_an_output_name_the_verb_cannot_write_is_refused_before_any_work(
    tiny_vae_run, tmp_path, capsys, verb, output, words
):
    verb = [part.replace("PLOT", str(tmp_path)) for part in verb]
    assert main([verb[0], str(tiny_vae_run), *verb[1:], "-o", str(tmp_path / output)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert words in line and "Traceback" not in line
    assert list(tmp_path.iterdir()) == []  # nothing written, not even codes.npz before a bad --plot


def test_denoise_shows_noisy_denoised_and_clean_rows(tiny_dae_run, tmp_path):
    out = tmp_path / "denoise.png"
    assert main(["denoise", str(tiny_dae_run), "-n", "6", "-o", str(out)]) == 0
    image = np.asarray(picture(out).convert("L"), dtype=float)
    assert image.shape == (3 * 30 + 2, 6 * 30 + 2)
    noisy, clean = image[2:30], image[62:90]
    assert (noisy == 0).sum() > (clean == 0).sum()  # masking noise zeroes pixels the clean images light


def test_denoise_on_a_plain_autoencoder_exits_2(tiny_ae_run, tmp_path, capsys):
    assert main(["denoise", str(tiny_ae_run), "-o", str(tmp_path / "d.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'ae' cannot denoise" in err


@pytest.fixture(scope="module")
def tiny_cvae_run(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory, "cvae")


def test_every_explore_verb_works_on_a_conditional_vae(tiny_cvae_run, tmp_path):
    """The test images' own labels go to the encoder and decoder; the manifold draws the class asked for."""
    run = str(tiny_cvae_run)
    assert main(["interpolate", run, "--pairs", "2", "--steps", "5", "-o", str(tmp_path / "i.png")]) == 0
    assert picture(tmp_path / "i.png").size == (5 * 30 + 2, 2 * 30 + 2)
    assert main(["traverse", run, "--steps", "5", "-o", str(tmp_path / "t.png")]) == 0
    assert picture(tmp_path / "t.png").size == (5 * 30 + 2, 4 * 30 + 2)
    assert main(["embed", run, "-o", str(tmp_path / "c.npz")]) == 0
    assert np.load(tmp_path / "c.npz")["codes"].shape == (10000, 4)
    for label in ("3", "7"):
        assert main(["manifold", run, "-n", "4", "--label", label, "-o", str(tmp_path / f"m{label}.png")]) == 0
    threes, sevens = (np.asarray(picture(tmp_path / f"m{k}.png")) for k in "37")
    assert threes.shape == sevens.shape and not np.array_equal(threes, sevens)  # the label reached the decoder


def test_manifold_label_is_checked(tiny_cvae_run, tiny_vae_run, tmp_path, capsys):
    assert main(["manifold", str(tiny_cvae_run), "--label", "10", "-o", str(tmp_path / "m.png")]) == 2
    assert "0..9" in capsys.readouterr().err
    assert main(["manifold", str(tiny_vae_run), "--label", "1", "-o", str(tmp_path / "m.png")]) == 2
    assert "not conditional" in capsys.readouterr().err
