"""The `genzoo` command line end to end: in-process through `genzoo.cli.main`, and as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from genzoo.cli import main
from genzoo.config import RunConfig
from genzoo.train.checkpoint import META, STATE, WEIGHTS

from conftest import one_line_error, read_metrics

PYTHON = sys.executable
GENZOO_SCRIPT = Path(sys.executable).parent / "genzoo"

# The command from the README-level promise: a VAE on 512 MNIST images for 2 epochs of 8 batches.
TRAIN_ARGS = [
    "train",
    "vae",
    "--dataset",
    "mnist",
    "--epochs",
    "2",
    "--set",
    "data.train_size=512",
    "--set",
    "data.test_size=64",
    "--batch-size",
    "64",
    "--set",
    "train.tensorboard=false",
]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "vae-run"
    assert main([*TRAIN_ARGS, "--out", str(out)]) == 0
    return out


# -- train ----------------------------------------------------------------------------------------------------


def test_train_writes_the_run_folder(cli_run):
    config = RunConfig.load(cli_run / "config.yaml")
    assert config.model_name == "vae"
    assert config.train.epochs == 2 and config.train.batch_size == 64
    assert config.data.train_size == 512 and config.data.test_size == 64
    assert config.model.image_shape == (1, 28, 28)  # filled in from the data set

    for folder in ("samples", "reconstructions"):
        assert (cli_run / folder / "epoch-001.png").is_file()
        assert (cli_run / folder / "epoch-002.png").is_file()
    with Image.open(cli_run / "samples" / "epoch-001.png") as picture:
        assert picture.size == (8 * 30 + 2, 8 * 30 + 2)  # grid_size 64: 8 x 8 tiles of 28 px + 2 px padding
    with Image.open(cli_run / "samples" / "progress.gif") as gif:
        assert gif.n_frames == 2

    steps = sorted(p.name for p in (cli_run / "checkpoints").iterdir())
    assert steps == ["step-000008", "step-000016"]
    for step in steps:
        assert sorted(p.name for p in (cli_run / "checkpoints" / step).iterdir()) == sorted([META, STATE, WEIGHTS])
    assert not (cli_run / "tb").exists()


def test_train_logs_a_test_line_per_epoch(cli_run):
    tests = [r for r in read_metrics(cli_run) if r["split"] == "test"]
    assert [(r["step"], r["epoch"]) for r in tests] == [(8, 1.0), (16, 2.0)]
    for record in tests:
        assert {"loss", "recon", "kl", "nelbo"} <= set(record)
    assert tests[1]["nelbo"] < tests[0]["nelbo"]  # it learns


def test_short_run_still_logs_train_lines(cli_run):
    """A run shorter than log_every (16 steps, log_every=50) still logs a train line at each epoch's end."""
    splits = {r["split"] for r in read_metrics(cli_run)}
    assert splits == {"train", "test"}


# -- sample / reconstruct -------------------------------------------------------------------------------------


def test_sample_writes_a_png(cli_run, tmp_path, capsys):
    assert main(["sample", str(cli_run), "-n", "16", "-o", str(tmp_path / "x.png")]) == 0
    with Image.open(tmp_path / "x.png") as picture:
        assert picture.format == "PNG"
        assert picture.size == (4 * 30 + 2, 4 * 30 + 2)  # 16 samples: 4 x 4
    assert str(tmp_path / "x.png") in capsys.readouterr().out
    # The same seed gives the same picture; another seed another one.
    assert main(["sample", str(cli_run), "-n", "16", "-o", str(tmp_path / "again.png")]) == 0
    assert main(["sample", str(cli_run), "-n", "16", "--seed", "1", "-o", str(tmp_path / "other.png")]) == 0
    assert (tmp_path / "x.png").read_bytes() == (tmp_path / "again.png").read_bytes()
    assert (tmp_path / "x.png").read_bytes() != (tmp_path / "other.png").read_bytes()


def test_reconstruct_writes_a_png(cli_run, tmp_path):
    assert main(["reconstruct", str(cli_run), "-o", str(tmp_path / "y.png")]) == 0
    with Image.open(tmp_path / "y.png") as picture:
        assert picture.format == "PNG"
        # 32 originals + 32 reconstructions in rows of 8: 8 rows.
        assert picture.size == (8 * 30 + 2, 8 * 30 + 2)


def test_sample_on_an_autoencoder_exits_2_with_one_line(tiny_ae_run, tmp_path, capsys):
    assert main(["sample", str(tiny_ae_run), "-o", str(tmp_path / "z.png")]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "'ae' cannot sample" in line
    assert not (tmp_path / "z.png").exists()


def test_reconstruct_on_an_autoencoder_works(tiny_ae_run, tmp_path):
    assert main(["reconstruct", str(tiny_ae_run), "-n", "8", "-o", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").stat().st_size > 0


# -- user errors exit 2 with the closest name -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args,expected",
    [
        (["train", "vea"], "'vae'"),
        (["train", "vae", "--dataset", "mnsit"], "'mnist'"),
        (["train", "vae", "--set", "model.latnt_dim=3"], "latent_dim'"),
        (["train", "vae", "--set", "train.lr=0"], "train.lr"),
        (["train", "vae", "--data-dir", "/nonexistent/mnist"], "data.data_dir='/nonexistent/mnist'"),
        (["train", "vae", "--set", "model.latent_dim=100000000"], "120,200,628,784 parameters"),
    ],
    ids=["model", "dataset", "set-key", "set-range", "data-dir", "too-big"],
)
def test_user_errors_exit_2_naming_the_fix(args, expected, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert expected in line
    assert not (tmp_path / "run").exists()  # nothing created before the config was checked


def test_training_into_an_existing_run_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "train",
        "vae",
        "--steps",
        "2",
        "--batch-size",
        "32",
        "--set",
        "data.train_size=64",
        "--set",
        "data.test_size=32",
        "--set",
        "train.tensorboard=false",
        "--set",
        "model.hidden=[16]",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    before = (out / "metrics.jsonl").read_bytes()
    capsys.readouterr()

    assert main([*args, "--set", "model.latent_dim=3"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "already holds a run" in line and "--overwrite" in line
    assert (out / "metrics.jsonl").read_bytes() == before  # untouched
    assert RunConfig.load(out / "config.yaml").model.latent_dim == 20

    assert main([*args, "--set", "model.latent_dim=3", "--overwrite"]) == 0
    assert RunConfig.load(out / "config.yaml").model.latent_dim == 3
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002"]


def test_resume_extends_a_run(tiny_ae_run, tmp_path, capsys):
    run = Path(shutil.copytree(tiny_ae_run, tmp_path / "run"))
    assert main(["resume", str(run), "--epochs", "2"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert (run / "checkpoints" / "step-000016").is_dir()
    assert RunConfig.load(run / "config.yaml").train.epochs == 2


def test_resume_of_a_folder_that_is_no_run_exits_2(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert "not a genzoo run folder" in one_line_error(capsys.readouterr().err)


def test_models_and_datasets_are_listed(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert "ae" in names and "vae" in names
    vae_line = lines[names.index("vae")]
    assert "sample" in vae_line
    assert "conditional with model.prior=mixture" in lines[names.index("aae")]
    assert main(["datasets"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"mnist", "binarized-mnist", "fashion-mnist", "image-folder", "arrays"} <= set(listed)


def test_argparse_rejects_non_positive_flags(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "vae", "--epochs", "0"])
    assert info.value.code == 2
    assert "positive integer" in capsys.readouterr().err


# -- real processes -------------------------------------------------------------------------------------------


def run_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_python_dash_m_genzoo_lists_models(tmp_path):
    result = run_process(PYTHON, "-m", "genzoo", "models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert "ae" in names and "vae" in names


def test_console_script_exits_2_with_one_line(tmp_path):
    assert GENZOO_SCRIPT.is_file()
    result = run_process(str(GENZOO_SCRIPT), "train", "vea", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert "did you mean 'vae'" in line
    assert "Traceback" not in result.stderr


def test_genzoo_data_dir_that_is_a_file_exits_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").write_text("not a folder")
    monkeypatch.setenv("GENZOO_DATA_DIR", str(tmp_path / "data"))
    assert main(["train", "vae", "--out", str(tmp_path / "run")]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"$GENZOO_DATA_DIR={str(tmp_path / 'data')!r}" in line and "is not a folder" in line
    assert not (tmp_path / "run").exists()
