"""The importance-weighted log-likelihood estimate against exact integrals, and the evaluator around it.

Tiny models on 4x4 binary images with one latent dimension per layer, so log p(x) = log int p(x|z) p(z) dz can be
summed on a fine grid (1-D for a VAE and a VampPrior VAE, 2-D for a two-layer ladder) and compared with the
k-sample bound of evaluate/likelihood.py."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.data.datasets import ImageSplit
from genzoo.errors import CapabilityError, GenzooError
from genzoo.evaluate.likelihood import evaluate_nll, importance_bounds
from genzoo.models.registry import get_model_class
from genzoo.nets.distributions import gaussian_log_prob_per_dim

SHAPE = (1, 4, 4)


def tiny(name: str, **overrides):
    torch.manual_seed(0)
    cls = get_model_class(name)
    model = cls(cls.Config(image_shape=SHAPE, **overrides)).eval()
    with torch.no_grad():  # a sharper decoder: a posterior narrower than the prior, so q and k matter
        for module in model.decoder.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.mul_(3.0)
    return model


def binary_images(n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, *SHAPE), 0.4), generator=torch.Generator().manual_seed(seed))


def log_px_given_grid(model, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for grid points z (n, 1) and images x (B, ...) -> (n, B)."""
    out = model.decoder_output(z.float())  # (n, C, H, W)
    return -model.likelihood.nll(out[:, None], x, batch_dims=2).double()


GRID = torch.linspace(-10, 10, 8001, dtype=torch.float64)[:, None]  # (n, 1), spacing 0.0025
STEP = float(GRID[1] - GRID[0])


@torch.no_grad()
def exact_log_px_single_layer(model, x: torch.Tensor) -> torch.Tensor:
    log_prior = model.prior.log_prob(GRID.float()).double()  # (n,) N(0, 1) or the VampPrior mixture
    return torch.logsumexp(log_px_given_grid(model, GRID, x) + log_prior[:, None], 0) + math.log(STEP)


@torch.no_grad()
def exact_log_px_ladder(model, x: torch.Tensor) -> torch.Tensor:
    grid = torch.linspace(-8, 8, 801, dtype=torch.float64)[:, None]  # z1 and z2 axes
    step = float(grid[1] - grid[0])
    p1 = model.prior_given_above(0, grid.float())  # p(z1 | z2) for every z2 on the grid: (n2, 1)
    assert p1.std.min() > 20 * step  # the grid resolves the conditional
    log_p1 = gaussian_log_prob_per_dim(grid.T, p1.mean.double(), p1.logvar.double())  # (n2, n1)
    log_p2 = -0.5 * (math.log(2 * math.pi) + grid.pow(2))  # (n2, 1)
    joint = log_p2[:, :, None] + log_p1[:, :, None] + log_px_given_grid(model, grid, x)[None]  # (n2, n1, B)
    return torch.logsumexp(joint.flatten(0, 1), 0) + 2 * math.log(step)


@pytest.mark.parametrize(
    "name,overrides,exact",
    [
        ("vae", {"hidden": (16,), "latent_dim": 1}, exact_log_px_single_layer),
        ("vamp-vae", {"hidden": (16,), "latent_dim": 1, "pseudo_inputs": 5}, exact_log_px_single_layer),
        ("ladder-vae", {"hidden": (16, 8), "latent_dims": (1, 1)}, exact_log_px_ladder),
    ],
)
def test_importance_bound_matches_the_exact_integral(name, overrides, exact):
    model, x = tiny(name, **overrides), binary_images()
    truth = exact(model, x)  # (B,)
    bound, elbo = importance_bounds(model, x, 20_000, generator=torch.Generator().manual_seed(0), chunk=5000)
    assert torch.all((bound - truth).abs() < 0.02), (bound, truth)
    assert torch.all(elbo < truth - 0.05), (elbo, truth)  # the ELBO is a strictly looser bound here
    few, _ = importance_bounds(model, x, 5, generator=torch.Generator().manual_seed(0))
    assert (truth - few).mean() > (truth - bound).abs().mean()  # more samples, closer


class FixedWeights:
    """A stand-in model whose log weights are a fixed (k, B) table, handed out in the order asked for."""

    capabilities = frozenset({"log_likelihood"})

    def __init__(self, table: torch.Tensor):
        self.table, self.used = table, 0

    def log_weights(self, x, k, labels=None, generator=None):
        out = self.table[self.used : self.used + k]
        self.used += k
        return out


@pytest.mark.parametrize("chunk", [1, 7, 100, 1000])
def test_streamed_chunks_give_the_exact_log_mean_exp(chunk):
    table = torch.randn(1000, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 30 - 200
    bound, elbo = importance_bounds(FixedWeights(table), torch.zeros(4, *SHAPE), 1000, chunk=chunk)
    assert torch.allclose(bound, torch.logsumexp(table, 0) - math.log(1000), rtol=0, atol=1e-9)
    assert torch.allclose(elbo, table.mean(0), rtol=0, atol=1e-9)


def test_estimates_are_seeded():
    model, x = tiny("vae", hidden=(16,), latent_dim=1), binary_images()
    a, _ = importance_bounds(model, x, 500, generator=torch.Generator().manual_seed(2), chunk=7)
    b, _ = importance_bounds(model, x, 500, generator=torch.Generator().manual_seed(2), chunk=7)
    c, _ = importance_bounds(model, x, 500, generator=torch.Generator().manual_seed(3), chunk=7)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bound_from_same_draws_is_at_least_the_elbo():
    model, x = tiny("iwae", hidden=(16,), latent_dim=2), binary_images(8)
    bound, elbo = importance_bounds(model, x, 50, generator=torch.Generator().manual_seed(0), chunk=13)
    assert torch.all(bound >= elbo - 1e-9)  # Jensen, per image, whatever the draws


def split_of(x: torch.Tensor) -> ImageSplit:
    return ImageSplit((x * 255).to(torch.uint8), torch.arange(len(x)) % 10)


def test_evaluate_nll_reports_the_protocol_and_is_seeded():
    model = tiny("vae", hidden=(16,), latent_dim=2)
    split = split_of(binary_images(7))
    a = evaluate_nll(model, split, k=64, seed=3, batch_size=3, progress=False)
    b = evaluate_nll(model, split, k=64, seed=3, batch_size=3, progress=False)
    c = evaluate_nll(model, split, k=64, seed=4, batch_size=3, progress=False)
    assert a["nll"] == b["nll"] and a["nll"] != c["nll"]
    assert {k: a[k] for k in ("k", "n_images", "seed", "quantity")} == {
        "k": 64,
        "n_images": 7,
        "seed": 3,
        "quantity": "-log p(x)",
    }
    assert a["nll"] > 0 and a["elbo"] < -a["nll"] + 1e-9 and a["gap"] >= 0 and a["nll_stderr"] > 0
    assert model.training is False


def test_conditional_models_are_scored_given_their_labels():
    model = tiny("cvae", hidden=(16,), latent_dim=2)
    out = evaluate_nll(model, split_of(binary_images(4)), k=8, progress=False)
    assert out["quantity"] == "-log p(x | y)" and math.isfinite(out["nll"])


def test_models_without_a_likelihood_are_refused():
    cls = get_model_class("ae")
    ae = cls(cls.Config(image_shape=SHAPE, hidden=(8,), latent_dim=2))
    with pytest.raises(CapabilityError, match="log_likelihood"):
        importance_bounds(ae, binary_images(), 4)
    with pytest.raises(GenzooError, match="k=0"):
        importance_bounds(tiny("vae", hidden=(8,), latent_dim=1), binary_images(), 0)
