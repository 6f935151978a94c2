"""`genzoo evaluate` and the VAE family through the trainer, end to end on tiny runs: eval.json sections and
their merging, the collapse plots, diagnostics in metrics.jsonl, conditional sampling, FactorVAE's two groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import genzoo
from genzoo.api import evaluate
from genzoo.cli import main

from conftest import build_tiny_config, read_metrics

TINY_VAE = {"hidden": [32], "latent_dim": 4}


@pytest.fixture(scope="module")
def binarized_vae_run(tmp_path_factory) -> Path:
    """A tiny VAE on binarized-mnist, 2 epochs of 8 steps. Read-only."""
    run_dir = tmp_path_factory.mktemp("evaluate") / "vae"
    config = build_tiny_config("vae", model=TINY_VAE, data={"dataset": "binarized-mnist"}, train={"epochs": 2})
    genzoo.train(config, run_dir, verbose=False)
    return run_dir


def test_test_lines_carry_posterior_diagnostics(binarized_vae_run):
    tests = [r for r in read_metrics(binarized_vae_run) if r["split"] == "test"]
    assert len(tests) == 2
    for record in tests:
        assert 0 <= record["active_units"] <= 4
        assert len(record["kl_per_dim"]) == len(record["mean_variance_per_dim"]) == 4
        assert sum(record["kl_per_dim"]) == pytest.approx(record["kl"], rel=1e-3)  # the same KL, per dimension
    train = [r for r in read_metrics(binarized_vae_run) if r["split"] == "train"]
    assert set(train[0]) == {"step", "epoch", "split", "loss", "recon", "kl", "nelbo"}  # train lines unchanged


def test_cli_evaluate_writes_sections_and_plots(binarized_vae_run, capsys):
    run = binarized_vae_run
    (run / "eval.json").write_text(json.dumps({"fid": {"value": 1.0}}))  # a section another tool wrote
    assert (
        main(["evaluate", str(run), "--nll", "--k", "16", "--test-size", "32", "--batch-size", "10", "--no-quality"])
        == 0
    )
    out = capsys.readouterr().out
    assert "test NLL" in out and "latent units active" in out
    data = json.loads((run / "eval.json").read_text())
    assert data["fid"] == {"value": 1.0}  # kept
    nll = data["nll"]
    assert {k: nll[k] for k in ("k", "n_images", "seed", "dataset", "model", "step", "likelihood")} == {
        "k": 16,
        "n_images": 32,
        "seed": 0,
        "dataset": "binarized-mnist",
        "model": "vae",
        "step": 16,
        "likelihood": "bernoulli",
    }
    assert nll["burda_protocol"] is False  # k = 16 on 32 images is not the published protocol
    assert 0 < nll["nll"] < 800 and nll["elbo"] <= -nll["nll"] + 1e-6
    posterior = data["posterior"]
    assert posterior["n_images"] == 32 and len(posterior["kl_per_dim"]) == 4
    assert posterior["plots"] == ["kl_per_dim.png", "active_units.png"]
    for name in posterior["plots"]:
        with Image.open(run / name) as picture:
            assert picture.size[0] > 300 and picture.size[1] > 200

    # The same seed gives the same figure; a later run without --nll keeps the nll section.
    first = nll["nll"]
    assert (
        evaluate(run, nll=True, k=16, test_size=32, batch_size=10, progress=False, quality=False)["nll"]["nll"] == first
    )
    evaluate(run, test_size=32, quality=False)
    assert json.loads((run / "eval.json").read_text())["nll"]["nll"] == first


def test_cli_evaluate_refuses_models_with_nothing_to_evaluate(tiny_ae_run, capsys):
    assert main(["evaluate", str(tiny_ae_run), "--nll"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot log_likelihood" in err
    assert main(["evaluate", str(tiny_ae_run), "--no-quality"]) == 2
    assert (
        "nothing to evaluate for model 'ae' on mnist: --no-quality leaves only posterior diagnostics"
        in capsys.readouterr().err
    )


def test_cvae_samples_the_label_it_is_given(tmp_path):
    run = tmp_path / "cvae"
    genzoo.train(build_tiny_config("cvae", model=TINY_VAE), run, verbose=False)
    assert (run / "reconstructions" / "epoch-001.png").is_file()  # the trainer reconstructs given labels
    assert main(["sample", str(run), "-n", "4", "--label", "7", "-o", str(tmp_path / "sevens.png")]) == 0
    assert (tmp_path / "sevens.png").is_file()
    sevens, threes = genzoo.sample(run, n=4, label=7), genzoo.sample(run, n=4, label=3)
    assert sevens.shape == (4, 1, 28, 28) and not (sevens == threes).all()
    originals, recons = genzoo.reconstruct(run, n=4)
    assert recons.shape == originals.shape


def test_factor_vae_trains_two_groups_through_the_one_trainer(tmp_path):
    run = tmp_path / "factor"
    model = {**TINY_VAE, "discriminator_hidden": [16]}
    genzoo.train(build_tiny_config("factor-vae", model=model), run, verbose=False)
    records = read_metrics(run)
    for record in records:
        assert {"loss", "discriminator_loss", "tc", "discriminator_accuracy", "nelbo"} <= set(record)
    assert [r["split"] for r in records].count("test") == 1
