"""The VAE family's pieces against formulas: Monte Carlo KL vs closed form, the ladder posterior, the VampPrior's
mixture density, free bits, warm-up, the IWAE bound, the penalties' estimators, FactorVAE's optimizer groups,
conditioning, config errors and the posterior-collapse summary."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.config import RunConfig
from genzoo.data.batches import Batch, to_float
from genzoo.errors import GenzooError
from genzoo.evaluate.posterior import collapse_summary
from genzoo.models.ladder import precision_weighted
from genzoo.models.registry import get_model_class
from genzoo.models.vae_penalties import minibatch_log_weights, permute_dims, rbf_mmd2, total_correlation
from genzoo.nets.distributions import DiagonalGaussian, GaussianLikelihood
from genzoo.nets.priors import VampPrior


def build(name: str, **overrides):
    torch.manual_seed(0)
    cls = get_model_class(name)
    return cls(cls.Config(**overrides))


def batch_of(mnist_small, n: int = 32, binary: bool = True) -> Batch:
    x = to_float(mnist_small.train.images[:n])
    return Batch(
        torch.bernoulli(x, generator=torch.Generator().manual_seed(0)) if binary else x, mnist_small.train.labels[:n]
    )


def gaussian(shape=(4, 3), seed: int = 0, dtype=torch.float64) -> DiagonalGaussian:
    gen = torch.Generator().manual_seed(seed)
    return DiagonalGaussian(
        torch.randn(shape, generator=gen, dtype=dtype), torch.randn(shape, generator=gen, dtype=dtype) * 0.7
    )


# -- Monte Carlo KL against the closed forms the objectives use --------------------------------------------------


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("vae", {"hidden": (32,), "latent_dim": 3}),
        ("cvae", {"hidden": (32,), "latent_dim": 3}),
        ("ladder-vae", {"hidden": (32, 16), "latent_dims": (3, 2)}),
    ],
)
def test_model_monte_carlo_kl_matches_its_closed_form(name, overrides, mnist_small):
    """E_q[log q(z|x) - log p(z)] over many draws equals the closed-form KL the ELBO objective uses (the cvae's
    prior is p(z|y); for the ladder, the sum over layers of KL(q(z_i | x, z_{i+1}) || p(z_i | z_{i+1})), averaged
    over the same draws)."""
    model = build(name, **overrides).eval()
    batch = batch_of(mnist_small, 4)
    labels = batch.y if model.conditional else None
    if model.conditional:  # move the class priors off N(0, I) so the test sees them
        with torch.no_grad():
            model.prior.mean.normal_(generator=torch.Generator().manual_seed(0))
            model.prior.logvar.uniform_(-1, 1, generator=torch.Generator().manual_seed(1))
    k = 40_000
    with torch.no_grad():
        inf = model.infer(batch.x, labels, k, torch.Generator().manual_seed(1))
    log_ratio = (inf.log_q - inf.log_p).double()  # (k, B)
    estimate, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(k)
    closed = inf.kl.double().sum(1)  # (B,)
    assert torch.all(closed > 0)
    assert torch.all((estimate - closed).abs() < 5 * stderr + 1e-3), (estimate, closed, stderr)


def test_gaussian_to_gaussian_kl_matches_torch_and_monte_carlo():
    q, p = gaussian(seed=0), gaussian(seed=1)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Normal(q.mean, q.std), torch.distributions.Normal(p.mean, p.std)
    )
    assert torch.allclose(q.kl_to(p), reference, atol=1e-12)
    z = q.sample(torch.Generator().manual_seed(2), n=200_000)  # (n, B, D)
    ratio = q.log_prob_per_dim(z) - p.log_prob_per_dim(z)
    assert torch.all((ratio.mean(0) - q.kl_to(p)).abs() < 5 * ratio.std(0) / math.sqrt(200_000) + 1e-3)
    standard = DiagonalGaussian(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 3, dtype=torch.float64))
    assert torch.allclose(q.kl_to(standard), q.kl(), atol=1e-12)  # against N(0, I) it is the VAE's closed form


def test_ladder_posterior_is_the_normalised_product_of_gaussians():
    up, down = gaussian(seed=3), gaussian(seed=4)
    q = precision_weighted(up, down)
    precision = 1 / up.logvar.exp() + 1 / down.logvar.exp()
    assert torch.allclose(q.logvar.exp(), 1 / precision, rtol=1e-10)
    assert torch.allclose(q.mean, (up.mean / up.logvar.exp() + down.mean / down.logvar.exp()) / precision, rtol=1e-10)
    # Pointwise: N(z; q) is proportional to N(z; up) N(z; down) with a z-independent constant.
    z = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    diff = q.log_prob_per_dim(z) - up.log_prob_per_dim(z) - down.log_prob_per_dim(z)
    assert torch.allclose(diff, diff[:1].expand_as(diff), atol=1e-9)


def test_vamp_prior_density_is_the_mixture_of_its_pseudo_input_posteriors():
    model = build("vamp-vae", hidden=(32,), latent_dim=3, pseudo_inputs=7)
    z = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        comps = model.prior.components()  # (K, D)
        mixture = torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(logits=torch.zeros(7)),
            torch.distributions.Independent(torch.distributions.Normal(comps.mean, comps.std), 1),
        )
        assert torch.allclose(model.prior.log_prob(z), mixture.log_prob(z), atol=1e-4)
        marginal = torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(logits=torch.zeros(3, 7)),
            torch.distributions.Normal(comps.mean.T, comps.std.T),
        )  # one 1-D mixture per dimension
        assert torch.allclose(model.prior.log_prob_per_dim(z), marginal.log_prob(z), atol=1e-4)
    assert isinstance(model.prior, VampPrior) and model.prior.pseudo_inputs().shape == (7, 1, 28, 28)
    assert "prior.pseudo_logits" in model.state_dict() and not any(
        k.startswith("prior.posterior") for k in model.state_dict()
    )
    draws = model.prior.sample(4, torch.Generator().manual_seed(0))
    assert draws.shape == (4, 3) and torch.isfinite(draws).all()


def test_vamp_prior_is_trained(mnist_small):
    model = build("vamp-vae", hidden=(32,), latent_dim=3, pseudo_inputs=7)
    model.training_step(batch_of(mnist_small, 16), 0).loss.backward()
    assert model.prior.pseudo_logits.grad is not None and model.prior.pseudo_logits.grad.abs().sum() > 0


# -- the ELBO's knobs ---------------------------------------------------------------------------------------------


def test_free_bits_floor_each_dimension_but_log_the_true_kl(mnist_small):
    batch = batch_of(mnist_small)
    plain, floored = build("vae", hidden=(32,), latent_dim=4), build("vae", hidden=(32,), latent_dim=4, free_bits=50.0)
    torch.manual_seed(3)
    a = plain.training_step(batch, 0)
    torch.manual_seed(3)
    b = floored.training_step(batch, 0)
    assert torch.equal(a.terms["kl"], b.terms["kl"]) and a.terms["kl"] < 4 * 50  # every dimension under its floor
    assert torch.allclose(b.loss, b.terms["recon"] + 4 * 50.0)  # the KL term is the floor: sum_d max(50, KL_d)
    # Under the floor the KL sends no gradient: the same gradients as with no KL term at all (beta = 0).
    no_kl = build("vae", hidden=(32,), latent_dim=4, beta=0.0)
    torch.manual_seed(3)
    no_kl.training_step(batch, 0).loss.backward()
    b.loss.backward()
    for p, q in zip(floored.parameters(), no_kl.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)


def test_kl_warmup_is_linear_from_zero_to_beta():
    model = build("vae", hidden=(8,), latent_dim=2, beta=4.0, kl_warmup_steps=100)
    assert [model.kl_weight(s) for s in (0, 25, 100, 1000)] == [0.0, 1.0, 4.0, 4.0]
    assert build("vae", hidden=(8,), latent_dim=2, beta=2.0).kl_weight(0) == 2.0


def test_iwae_bound_is_tighter_than_the_elbo_of_the_same_draws(mnist_small):
    model = build("iwae", hidden=(32,), latent_dim=4, samples=8)
    out = model.training_step(batch_of(mnist_small), 0)
    assert out.terms["niwae"] < out.terms["nelbo"]  # Jensen, draw by draw: log mean w >= mean log w
    assert torch.allclose(out.loss, out.terms["niwae"])  # beta = 1: the loss is the bound
    one = build("vae", hidden=(32,), latent_dim=4, objective="iwae", samples=1)
    out = one.training_step(batch_of(mnist_small), 0)
    assert torch.allclose(out.loss, out.terms["nelbo"]) and torch.allclose(out.terms["niwae"], out.terms["nelbo"])


def test_learned_sigma_is_a_parameter_that_trains(mnist_small):
    model = build("vae", hidden=(32,), latent_dim=4, likelihood="gaussian", learn_sigma=True, sigma=0.2)
    assert "likelihood.log_sigma" in model.state_dict()
    assert math.isclose(model.likelihood.sigma.item(), 0.2, rel_tol=1e-6)
    model.training_step(batch_of(mnist_small, binary=False), 0).loss.backward()
    assert model.likelihood.log_sigma.grad is not None and model.likelihood.log_sigma.grad != 0
    fixed = build("vae", hidden=(32,), latent_dim=4, likelihood="gaussian", sigma=0.2)
    assert not any(k.startswith("likelihood") for k in fixed.state_dict()) and fixed.likelihood.sigma == 0.2


def test_learned_sigma_nll_matches_torch_normal():
    likelihood = GaussianLikelihood(0.3, learn=True)
    gen = torch.Generator().manual_seed(0)
    out, x = torch.randn(2, 3, 1, 4, 4, generator=gen), torch.rand(3, 1, 4, 4, generator=gen)
    reference = -torch.distributions.Normal(torch.sigmoid(out), 0.3).log_prob(x.expand_as(out)).flatten(2).sum(2)
    assert torch.allclose(likelihood.nll(out, x, batch_dims=2), reference, atol=1e-4)  # x broadcast over draws


# -- conditioning -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("network", ["mlp", "conv"])
def test_cvae_label_changes_what_it_draws_and_is_required(network, mnist_small):
    model = build("cvae", hidden=(32,), latent_dim=4, network=network, channels=(4, 8)).eval()
    with torch.no_grad():
        threes = model.sample(6, torch.Generator().manual_seed(0), torch.full((6,), 3))
        sevens = model.sample(6, torch.Generator().manual_seed(0), torch.full((6,), 7))
        assert threes.shape == (6, 1, 28, 28) and not torch.allclose(threes, sevens)
        batch = batch_of(mnist_small, 8)
        assert model.reconstruct(batch.x, batch.y).shape == (8, 1, 28, 28)
        assert torch.isfinite(model.training_step(batch, 0).loss)
    with pytest.raises(GenzooError, match="conditional: pass labels"):
        model.encode(batch.x)
    model.train()
    model.training_step(batch, 0).loss.backward()  # the class priors p(z|y) are learned
    assert model.prior.mean.grad[batch.y].abs().sum() > 0 and model.prior.logvar.grad is not None


# -- penalties ----------------------------------------------------------------------------------------------------


def test_mmd_is_near_zero_for_one_distribution_and_positive_for_two():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 4, generator=gen), torch.randn(400, 4, generator=gen)
    same, shifted = rbf_mmd2(a, b), rbf_mmd2(a, b + 1.0)
    assert abs(same) < 0.01 and shifted > 0.1
    assert torch.allclose(rbf_mmd2(a, b), rbf_mmd2(b, a), atol=1e-6)
    fp32 = rbf_mmd2(a, b + 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the distance expansion stays fp32 under bf16 training
        assert torch.equal(rbf_mmd2(a, b + 0.1), fp32)


def test_info_vae_scales_the_kl_by_one_minus_alpha_and_adds_mmd(mnist_small):
    model = build("info-vae", hidden=(32,), latent_dim=4, alpha=0.5, mmd_lambda=3.0)
    assert model.kl_weight(0) == 0.5 and model.penalty.weight == 2.5  # alpha + lambda - 1
    torch.manual_seed(0)
    out = model.training_step(batch_of(mnist_small), 0)
    expected = out.terms["recon"] + 0.5 * out.terms["kl"] + 2.5 * out.terms["mmd"]
    assert torch.allclose(out.loss.detach(), expected, rtol=1e-5)


def test_minibatch_tc_is_exact_for_identical_posteriors():
    """If q(z|x) is one factorised Gaussian for every x, q(z) is that Gaussian and TC = 0; the minibatch-weighted
    estimator then gives exactly its constant offset (D - 1) log N (Chen et al. 2018's log(NM) normaliser)."""
    batch, dim, n = 16, 5, 1000
    q = DiagonalGaussian(
        torch.full((batch, dim), 0.3, dtype=torch.float64), torch.full((batch, dim), -0.4, dtype=torch.float64)
    )
    z = q.sample(torch.Generator().manual_seed(0))
    offset = torch.tensor((dim - 1) * math.log(n), dtype=torch.float64)
    assert torch.allclose(total_correlation(q, z, n, "mws"), offset)
    # The stratified weights sum to 1: no offset, the TC of one factorised Gaussian is 0.
    assert abs(total_correlation(q, z, n, "mss")) < 1e-12


def exact_tc_of_the_mixture(q: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
    """TC at the draws z for q(z) = the mean of the N posteriors in q, written out with torch.distributions."""
    n, _dim = z.shape
    normal = torch.distributions.Normal(q.mean[None], (0.5 * q.logvar[None]).exp())  # (1, N, D)
    per_dim = normal.log_prob(z[:, None, :])  # (N_i, N_j, D)
    log_qz = torch.logsumexp(per_dim.sum(2), 1) - math.log(n)
    log_marginals = (torch.logsumexp(per_dim, 1) - math.log(n)).sum(1)
    return (log_qz - log_marginals).mean()


def test_stratified_tc_is_exact_when_the_batch_is_the_data_set():
    """With M = N the stratified weights are all 1/N: the estimate is the mixture's own TC at the draws, which is
    clearly positive for posteriors spread along a line (their codes are correlated)."""
    n, dim = 12, 3
    gen = torch.Generator().manual_seed(0)
    t = torch.linspace(-2, 2, n, dtype=torch.float64)[:, None]
    q = DiagonalGaussian(
        t * torch.tensor([1.0, 0.8, -0.5], dtype=torch.float64), torch.full((n, dim), -3.0, dtype=torch.float64)
    )
    z = q.sample(gen)
    exact = exact_tc_of_the_mixture(q, z)
    assert exact > 0.5
    assert torch.allclose(total_correlation(q, z, n, "mss"), exact)
    # Minibatch-weighted sampling on the same batch is the exact figure shifted by (D - 1) log N.
    assert torch.allclose(total_correlation(q, z, n, "mws"), exact + (dim - 1) * math.log(n))


def test_stratified_density_estimate_is_unbiased_over_random_batches():
    """q(z) at a draw of image 0, estimated with the stratified weights from image 0 plus M - 1 others drawn
    without replacement, averages over every such batch (all enumerated) to the exact mixture density."""
    n, m, dim = 7, 3, 2
    gen = torch.Generator().manual_seed(1)
    q = DiagonalGaussian(
        torch.randn(n, dim, generator=gen, dtype=torch.float64),
        torch.randn(n, dim, generator=gen, dtype=torch.float64) * 0.3,
    )
    z0 = q.sample(gen)[0]
    density = torch.distributions.Normal(q.mean, (0.5 * q.logvar).exp()).log_prob(z0).sum(1).exp()  # (N,) q(z0|x_n)
    batches = [torch.tensor((0, *others)) for others in itertools.combinations(range(1, n), m - 1)]
    row = minibatch_log_weights(m, n, "mss")[0].exp()  # the weights of image 0's draw against its batch
    mean_estimate = torch.stack([(row * density[idx]).sum() for idx in batches]).mean()
    assert torch.allclose(mean_estimate, density.mean())


def test_beta_tcvae_estimator_is_validated_and_reaches_the_penalty(mnist_small):
    with pytest.raises(GenzooError, match="model.estimator=mvs is out of range; expected mws or mss"):
        build("beta-tcvae", estimator="mvs")
    model = build("beta-tcvae", hidden=(32,), latent_dim=4, estimator="mss")
    assert model.penalty.estimator == "mss"
    out = model.training_step(batch_of(mnist_small), 0)
    assert torch.isfinite(out.terms["tc"])


def test_beta_tcvae_adds_beta_minus_one_times_tc(mnist_small):
    model = build("beta-tcvae", hidden=(32,), latent_dim=4, tc_weight=6.0)
    torch.manual_seed(0)
    out = model.training_step(batch_of(mnist_small), 0)
    assert torch.allclose(out.loss.detach(), out.terms["nelbo"] + 5.0 * out.terms["tc"], rtol=1e-5)


def test_permute_dims_keeps_each_column_and_breaks_the_rows():
    z = torch.arange(40.0).view(10, 4) + torch.tensor([0.0, 100.0, 200.0, 300.0])
    torch.manual_seed(0)
    shuffled = permute_dims(z)
    for d in range(4):
        assert torch.equal(shuffled[:, d].sort().values, z[:, d].sort().values)
    assert not torch.equal(shuffled, z)


def test_factor_vae_has_two_disjoint_optimizer_groups(mnist_small):
    model = build("factor-vae", hidden=(32,), latent_dim=4, discriminator_hidden=(16,))
    groups = model.optimizer_groups()
    assert [g.name for g in groups] == ["loss", "discriminator"] and model.phases(0) == ("loss", "discriminator")
    ids = [{id(p) for p in g.params} for g in groups]
    assert not ids[0] & ids[1] and ids[0] | ids[1] == {id(p) for p in model.parameters()}
    assert ids[1] == {id(p) for p in model.penalty.parameters()}
    assert groups[1].lr == 1e-4 and groups[1].betas == (0.5, 0.9)
    batch = batch_of(mnist_small)
    vae_out = model.training_step(batch, 0, "loss")
    vae_out.loss.backward(inputs=groups[0].params)  # what the trainer does: the TC term moves only the VAE
    assert all(p.grad is None for p in groups[1].params)
    assert model.encoder[0].weight.grad is not None
    disc_out = model.training_step(batch, 0, "discriminator")
    assert disc_out.loss.grad_fn is not None and set(disc_out.terms) == {"discriminator_accuracy"}
    disc_out.loss.backward()
    assert model.encoder[0].weight.grad is not None and all(p.grad is not None for p in groups[1].params)


# -- config errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,key,value,match",
    [
        ("vae", "free_bits", -1, r"model\.free_bits=-1"),
        ("vae", "samples", 0, r"model\.samples=0"),
        ("vae", "learn_sigma", True, r"model\.learn_sigma=true needs likelihood=gaussian"),
        ("iwae", "free_bits", 0.5, r"model\.free_bits=0\.5 needs objective=elbo"),
        ("vamp-vae", "free_bits", 0.5, r"model\.free_bits=0\.5 needs a factorised prior"),
        ("vamp-vae", "pseudo_inputs", 0, r"model\.pseudo_inputs=0"),
        ("info-vae", "alpha", 2.0, r"model\.alpha=2\.0"),
        ("info-vae", "objective", "iwae", r"model\.objective=iwae is not supported by info-vae"),
        ("factor-vae", "discriminator_hidden", [], r"model\.discriminator_hidden=\[\]"),
        ("ladder-vae", "latent_dims", [8], r"model\.latent_dims=\[8\]"),
        ("vae", "channels", [], r"model\.channels=\[\]"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_key(name, key, value, match):
    with pytest.raises(GenzooError, match=match) as info:
        RunConfig.from_dict({"model": {"name": name, key: value}})
    assert "\n" not in str(info.value)


# -- posterior collapse -------------------------------------------------------------------------------------------


def test_collapse_summary_counts_units_whose_mean_moves_with_x():
    gen = torch.Generator().manual_seed(0)
    means = torch.stack(
        [
            torch.randn(500, generator=gen),
            torch.full((500,), 0.7),  # active, collapsed
            0.05 * torch.randn(500, generator=gen),
            0.2 * torch.randn(500, generator=gen),
        ],
        1,
    )  # 0.0025, 0.04
    kl = torch.tensor([[2.0, 0.0, 0.1, 0.5]]).expand(500, 4)
    summary = collapse_summary(means, kl, layers=(2, 2))
    assert summary["active_units"] == 2 and summary["active_units_per_layer"] == [1, 1]
    assert summary["kl_per_dim"] == pytest.approx([2.0, 0.0, 0.1, 0.5])
    assert summary["mean_variance_per_dim"][1] == 0.0


def test_diagnostics_report_every_latent_dimension(mnist_small):
    model = build("ladder-vae", hidden=(32, 16), latent_dims=(4, 2)).eval()
    out = model.diagnostics(mnist_small.test, 32)
    assert len(out["kl_per_dim"]) == len(out["mean_variance_per_dim"]) == 6
    assert len(out["active_units_per_layer"]) == 2 and 0 <= out["active_units"] <= 6
    assert all(v >= 0 for v in out["kl_per_dim"])
