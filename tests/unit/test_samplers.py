"""Ex-post density estimation: the EM fit of a Gaussian mixture, and sampling a model through it end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

import genzoo
from genzoo.cli import main
from genzoo.errors import GenzooError
from genzoo.samplers import MixtureSampler, fit_gaussian_mixture
from tests.conftest import build_tiny_config, one_line_error

MEANS = torch.tensor([[0.0, 0.0], [6.0, 6.0], [-6.0, 5.0]], dtype=torch.float64)
COVARIANCES = torch.tensor(
    [[[1.0, 0.6], [0.6, 1.0]], [[0.25, 0.0], [0.0, 2.0]], [[0.5, -0.2], [-0.2, 0.5]]], dtype=torch.float64
)
WEIGHTS = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)


def draw(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    which = torch.multinomial(WEIGHTS, n, replacement=True, generator=g)
    noise = torch.randn(n, 2, 1, generator=g, dtype=torch.float64)
    return MEANS[which] + (torch.linalg.cholesky(COVARIANCES)[which] @ noise).squeeze(-1)


def test_em_recovers_a_known_mixture():
    mixture = fit_gaussian_mixture(draw(6000), components=3, seed=1)
    order = torch.cdist(MEANS, mixture.means).argmin(1)  # match fitted components to the true ones
    assert torch.allclose(mixture.means[order], MEANS, atol=0.1)
    assert torch.allclose(mixture.weights[order], WEIGHTS, atol=0.02)
    fitted = mixture.scale_tril @ mixture.scale_tril.transpose(1, 2)
    assert torch.allclose(fitted[order], COVARIANCES, atol=0.1)
    # The fit is at least as likely as the truth on its own data (it is the maximum-likelihood fit, near it).
    truth = torch.distributions.MultivariateNormal(MEANS, COVARIANCES)
    true_ll = torch.logsumexp(truth.log_prob(draw(6000)[:, None]) + WEIGHTS.log(), 1).mean()
    assert mixture.log_likelihood >= float(true_ll) - 1e-3


def test_draws_follow_the_fitted_mixture_and_repeat_with_the_seed():
    mixture = fit_gaussian_mixture(draw(6000), components=3, seed=1)
    a = mixture.sample(20000, torch.Generator().manual_seed(5))
    assert torch.equal(a, mixture.sample(20000, torch.Generator().manual_seed(5)))
    truth = draw(20000, seed=9)
    assert torch.allclose(a.mean(0), truth.mean(0), atol=0.1)
    assert torch.allclose(torch.cov(a.T), torch.cov(truth.T), rtol=0.05, atol=0.1)


def test_a_mixture_needs_as_many_points_as_components():
    with pytest.raises(GenzooError, match="needs at least that many codes"):
        fit_gaussian_mixture(torch.randn(3, 2), components=5)


def test_a_plain_autoencoder_samples_through_the_mixture(tiny_ae_run, tmp_path, capsys):
    out = tmp_path / "samples.png"
    assert main(["sample", str(tiny_ae_run), "--sampler", "gmm", "--components", "3", "-n", "16", "-o", str(out)]) == 0
    assert Image.open(out).size == (4 * 30 + 2, 4 * 30 + 2)
    first = genzoo.sample(tiny_ae_run, n=4, seed=2, sampler="gmm", components=3)
    assert torch.equal(first, genzoo.sample(tiny_ae_run, n=4, seed=2, sampler="gmm", components=3))
    assert main(["sample", str(tiny_ae_run), "-o", str(out)]) == 2  # its own prior: it has none
    assert "cannot sample" in one_line_error(capsys.readouterr().err)


def test_evaluate_with_the_mixture_adds_a_leaderboard_row(tiny_ae_run, tmp_path, capsys):
    run = Path(shutil.copytree(tiny_ae_run, tmp_path / "ae"))
    assert main(["evaluate", str(run), "--sampler", "gmm", "--components", "3", "--samples", "300"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[2].startswith("real data (floor)") and rows[3].startswith("ae (gmm) ")
    sections = json.loads((run / "eval.json").read_text())
    protocol = sections["quality-gmm"]["protocol"]
    assert (
        protocol["sampler"] == "gmm" and protocol["components"] == 3 and protocol["fit_codes"] == 10_000
    )  # the probes' training images
    assert "quality" not in sections and sections["quality-gmm"]["fd_lenet"] > 0


def test_models_the_mixture_cannot_serve_are_refused_by_name(tmp_path):
    gan = genzoo.train(build_tiny_config("gan", train={"steps": 2}), tmp_path / "gan", verbose=False).run_dir
    with pytest.raises(GenzooError, match="needs to encode and decode"):
        MixtureSampler(genzoo.load(gan), torch.randn(20, 4))
    cvae = genzoo.train(build_tiny_config("cvae", train={"steps": 2}), tmp_path / "cvae", verbose=False).run_dir
    with pytest.raises(GenzooError, match="is for unconditional models"):
        MixtureSampler(genzoo.load(cvae), torch.randn(20, 4))
