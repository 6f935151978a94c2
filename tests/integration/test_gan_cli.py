"""The adversarial models end to end through `genzoo`: train (one trainer, per-player losses, sample grids and the
GIF), sample (with --label for the conditional ones), and the one-line refusals of verbs they cannot do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from genzoo.cli import main
from genzoo.config import RunConfig
from tests.conftest import one_line_error, read_metrics

pytestmark = pytest.mark.filterwarnings("ignore::genzoo.models.gan.TrainingHealthWarning")  # tiny runs collapse

TINY = {
    "gan": ["model.hidden_g=[32]", "model.hidden_d=[32]", "model.noise_dim=8"],
    "cgan": ["model.width_g=4", "model.width_d=4", "model.noise_dim=8"],
    "dcgan": ["model.width_g=4", "model.width_d=4", "model.noise_dim=8", "train.ema_decay=0.9"],
    "wgan-gp": ["model.width_g=4", "model.width_d=4", "model.noise_dim=8", "model.n_critic=2"],
    "aae": ["model.hidden=[32]", "model.latent_dim=4", "model.hidden_d=[16]"],
    "aae-mixture": ["model.hidden=[32]", "model.latent_dim=2", "model.hidden_d=[16]", "model.prior=mixture"],
}
PLAYERS = {"aae": {"autoencoder_loss", "recon", "discriminator_loss", "generator_loss"}}


def train_args(name: str, out: Path) -> list[str]:
    model = name.split("-mixture")[0]
    sets = [f"--set={s}" for s in TINY[name]]
    return [
        "train",
        model,
        "--dataset",
        "mnist",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--set=data.train_size=128",
        "--set=data.test_size=64",
        "--set=train.tensorboard=false",
        "--set=train.grid_size=16",
        *sets,
        "--out",
        str(out),
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gan-cli")
    out = {}
    for name in TINY:
        out[name] = root / name
        assert main(train_args(name, out[name])) == 0, name
    return out


@pytest.mark.parametrize("name", list(TINY))
def test_train_writes_grids_gif_checkpoints_and_per_player_losses(runs, name):
    run = runs[name]
    config = RunConfig.load(run / "config.yaml")
    assert config.model_name == name.split("-mixture")[0]
    for epoch in (1, 2):
        with Image.open(run / "samples" / f"epoch-{epoch:03d}.png") as picture:
            assert picture.size == (4 * 30 + 2, 4 * 30 + 2)  # grid_size 16: 4 x 4 tiles of 28 px
    with Image.open(run / "samples" / "progress.gif") as gif:
        assert gif.n_frames == 2
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000004", "step-000008"]
    records = read_metrics(run)
    players = PLAYERS.get(name.split("-mixture")[0], {"discriminator_loss", "generator_loss"})
    train = [r for r in records if r["split"] == "train"]
    assert players <= set().union(*train)
    tests = [r for r in records if r["split"] == "test"]
    assert [r["step"] for r in tests] == [4, 8]
    for record in tests:
        assert players <= set(record)
        assert record["sample_diversity"] >= 0


def test_cgan_samples_the_asked_label(runs, tmp_path, capsys):
    out = tmp_path / "sevens.png"
    assert main(["sample", str(runs["cgan"]), "--label", "7", "-n", "9", "-o", str(out)]) == 0
    with Image.open(out) as picture:
        assert picture.size == (3 * 30 + 2, 3 * 30 + 2)
    assert main(["sample", str(runs["cgan"]), "--label", "10", "-o", str(tmp_path / "x.png")]) == 2
    assert "labels 0..9" in one_line_error(capsys.readouterr().err)


def test_mixture_aae_is_conditional_and_gaussian_aae_is_not(runs, tmp_path, capsys):
    assert main(["sample", str(runs["aae-mixture"]), "--label", "3", "-n", "4", "-o", str(tmp_path / "a.png")]) == 0
    assert main(["sample", str(runs["aae"]), "--label", "3", "-o", str(tmp_path / "b.png")]) == 2
    assert "not conditional" in one_line_error(capsys.readouterr().err)
    assert main(["reconstruct", str(runs["aae"]), "-n", "8", "-o", str(tmp_path / "r.png")]) == 0


@pytest.mark.parametrize("verb", ["reconstruct", "traverse"])
def test_a_gan_cannot_encode_and_says_so_in_one_line(runs, tmp_path, capsys, verb):
    assert main([verb, str(runs["gan"]), "-o", str(tmp_path / "x.png")]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "'gan' cannot" in line and "no encoder" in line


def test_bad_gan_setting_exits_2_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "wgan-gp", "--set", "model.norm_d=batch", "--out", str(out)]) == 2
    assert "norm_d=layer or none" in one_line_error(capsys.readouterr().err)
    assert not out.exists()


def test_evaluate_of_a_gan_files_its_health_figures_as_diagnostics_not_posterior(runs, tmp_path, capsys):
    run = Path(shutil.copytree(runs["dcgan"], tmp_path / "dcgan"))
    assert main(["evaluate", str(run), "--samples", "200"]) == 0
    out = capsys.readouterr().out
    assert "real data (floor)" in out and "diagnostics: " in out and "sample_diversity" in out
    sections = json.loads((run / "eval.json").read_text())
    assert {"quality", "diagnostics"} <= sections.keys() and "posterior" not in sections
    assert sections["diagnostics"]["sample_diversity"] > 0
