"""Exact math of wae, rae, dip-vae, cat-vae and the vae capacity option: the MMD estimator (nets/mmd.py), the RAE's
decoder penalties, the DIP-VAE covariance penalty, the capacity schedule, the Gumbel-softmax pieces and the
categorical KL, each against a hand computation or autograd."""

from __future__ import annotations

import math

import pytest
import torch

import genzoo
from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.models.cat_vae import CatVAE, CatVAEConfig, temperature
from genzoo.models.regularized import RAE, WAE, RAEConfig, WAEConfig, decoder_jacobian_norm, weight_norm
from genzoo.models.vae import VAE, VAEConfig
from genzoo.models.vae_penalties import DIPVAEConfig, dip_covariance, dip_penalty, rbf_mmd2
from genzoo.nets.distributions import DiagonalGaussian, categorical_kl, gumbel_softmax
from genzoo.nets.mmd import WAE_SCALES, kernel_matrix, mmd2

# -- MMD ----------------------------------------------------------------------------------------------------------


def hand_mmd2(a, b, k):
    """MMD^2_u written out with loops: off-diagonal within-sample means minus twice the cross mean."""
    n, m = len(a), len(b)
    aa = sum(k(a[i], a[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    bb = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    ab = sum(k(a[i], b[j]) for i in range(n) for j in range(m)) / (n * m)
    return aa + bb - 2 * ab


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_of_a_sample_with_itself_is_the_negative_cross_diagonal(kernel):
    """a = b: within terms are equal, the cross mean includes the diagonal k(u, u) = 1 per scale, so the unbiased
    estimate is 2 (mean_offdiag - mean_all) = -2 (scales - mean_offdiag) / n: exactly that, and below 0."""
    a = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    scales = (0.5, 1.0, 2.0)
    k = kernel_matrix(((a[:, None] - a[None]) ** 2).sum(-1), 3, kernel, scales)
    offdiag = (k.sum() - k.diagonal().sum()) / 30
    expected = 2 * offdiag - 2 * k.mean()
    got = mmd2(a, a, kernel, scales)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    assert got.item() == pytest.approx(-2 * (len(scales) - offdiag.item()) / 6, rel=1e-6)
    assert got.item() < 0


def test_mmd_two_point_case_by_hand_for_imq_and_rbf():
    """a = {0, 1}, b = {0, 2} in one dimension, one scale: C = 2 D sigma^2 = 2.
    imq k(d^2) = 2 / (2 + d^2): within a (d^2 = 1) 2/3, within b (d^2 = 4) 1/3, cross d^2 in {0, 4, 1, 1}
    -> (1 + 1/3 + 2/3 + 2/3) / 4 = 2/3; MMD^2 = 2/3 + 1/3 - 4/3 = -1/3.
    rbf k(d^2) = exp(-d^2 / 2): e^-1/2 + e^-2 - 2 (1 + e^-2 + 2 e^-1/2) / 4 = -1/2 + e^-2 / 2."""
    a, b = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]])
    assert mmd2(a, b, "imq").item() == pytest.approx(-1 / 3, abs=1e-6)
    assert mmd2(a, b, "rbf").item() == pytest.approx(-0.5 + math.exp(-2) / 2, abs=1e-6)
    # the loops of the definition agree, with the summed WAE scales too
    for kernel in ("imq", "rbf"):

        def k(u, v, kernel=kernel):
            sq = float(((u - v) ** 2).sum())
            cs = [s * 2.0 for s in WAE_SCALES]
            return sum(math.exp(-sq / c) if kernel == "rbf" else c / (c + sq) for c in cs)

        assert mmd2(a, b, kernel, WAE_SCALES).item() == pytest.approx(hand_mmd2(a, b, k), abs=1e-5)


def test_mmd_is_unbiased_and_separates_distributions():
    """Same distribution: the mean over many independent batches is 0 within its standard error (the biased
    V-statistic would sit clearly above 0); a shifted distribution gives a clearly positive estimate."""
    gen = torch.Generator().manual_seed(1)
    same = torch.stack(
        [mmd2(torch.randn(16, 4, generator=gen), torch.randn(16, 4, generator=gen), "imq") for _ in range(400)]
    )
    assert abs(same.mean().item()) < 3 * same.std().item() / math.sqrt(len(same))
    biased = torch.stack(
        [
            kernel_matrix(torch.cdist(u, u) ** 2, 4, "imq").mean()
            + kernel_matrix(torch.cdist(v, v) ** 2, 4, "imq").mean()
            - 2 * kernel_matrix(torch.cdist(u, v) ** 2, 4, "imq").mean()
            for u, v in ((torch.randn(16, 4, generator=gen), torch.randn(16, 4, generator=gen)) for _ in range(400))
        ]
    )
    assert biased.mean().item() > 10 * same.std().item() / math.sqrt(len(same))
    shifted = mmd2(torch.randn(64, 4, generator=gen), torch.randn(64, 4, generator=gen) + 1.5, "imq")
    assert shifted.item() > 10 * same.std().item()  # many standard deviations of the 16-draw null


def test_info_vae_rbf_mmd2_is_the_shared_estimator():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(8, 5, generator=gen), torch.randn(9, 5, generator=gen)
    assert torch.equal(rbf_mmd2(a, b), mmd2(a, b, "rbf", (1.0,)))


def test_wae_loss_is_recon_plus_lambda_mmd_and_samples_from_the_prior():
    model = WAE(WAEConfig(hidden=(16,), latent_dim=3, mmd_lambda=7.0))
    x = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(5)
    out = model.training_step(Batch(x, torch.zeros(10, dtype=torch.long)), 0)
    z = model.encode(x)
    torch.manual_seed(5)
    prior = torch.randn(10, 3)  # the draws the step took from the same RNG state
    assert out.terms["mmd"].item() == pytest.approx(mmd2(z, prior, "imq", WAE_SCALES).item(), rel=1e-5)
    recon = model.reconstruction_loss(model.logits(z), x)
    assert out.loss.item() == pytest.approx((recon + 7.0 * out.terms["mmd"]).item(), rel=1e-5)
    g = torch.Generator().manual_seed(9)
    assert torch.equal(model.sample(4, torch.Generator().manual_seed(9)), model.decode(torch.randn(4, 3, generator=g)))


def test_wae_refuses_bad_kernel_settings():
    with pytest.raises(GenzooError, match="model.kernel_scales"):
        WAEConfig(kernel_scales=(1.0, -1.0))
    with pytest.raises(GenzooError, match="model.kernel"):
        WAEConfig(kernel="laplace")


# -- RAE ----------------------------------------------------------------------------------------------------------


def test_rae_gradient_penalty_matches_the_autograd_jacobian():
    """The estimator is |J^T v|^2 for the drawn v: with the same draws it equals the value from the full Jacobian
    (torch.autograd.functional.jacobian of a tiny decoder), and averaged over many draws it tends to |J|_F^2."""
    torch.manual_seed(0)
    decoder = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3), torch.nn.Sigmoid())
    z = torch.randn(4, 2, dtype=torch.float64)
    decoder = decoder.double()
    jac = torch.stack([torch.autograd.functional.jacobian(decoder, z[i]) for i in range(4)])  # (4, 3, 2)
    v = torch.randn(4, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    expected = torch.einsum("bo,bod->bd", v, jac).pow(2).sum(1)  # |J^T v|^2 per code
    got = decoder_jacobian_norm(decoder, z, 1, torch.Generator().manual_seed(7))
    assert torch.allclose(got, expected, rtol=1e-10)
    many = decoder_jacobian_norm(decoder, z, 4000, torch.Generator().manual_seed(8))
    assert torch.allclose(many, jac.pow(2).sum((1, 2)), rtol=0.1)


def test_rae_l2_penalty_is_the_decoder_weights_squared_norm_and_in_the_loss():
    model = RAE(RAEConfig(hidden=(8,), latent_dim=3, beta=0.5, reg_weight=0.25))
    weights = [p for n, p in model.decoder.named_parameters() if n.endswith("weight")]
    assert weight_norm(model.decoder).item() == pytest.approx(sum(w.pow(2).sum() for w in weights).item(), rel=1e-6)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    out = model.training_step(Batch(x, torch.zeros(6, dtype=torch.long)), 0)
    z = model.encode(x)
    recon = model.reconstruction_loss(model.logits(z), x)
    expected = recon + 0.5 * 0.5 * z.pow(2).sum(1).mean() + 0.25 * weight_norm(model.decoder)
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # its gradient reaches the decoder's weights: with recon and beta off, d loss / d W = 2 lambda W
    quiet = RAE(RAEConfig(hidden=(8,), latent_dim=3, beta=0.0, reg_weight=0.25))
    loss = 0.25 * weight_norm(quiet.decoder)
    loss.backward()
    assert torch.allclose(quiet.decoder[0].weight.grad, 0.5 * quiet.decoder[0].weight)


def test_rae_sample_error_points_at_the_mixture_sampler():
    with pytest.raises(genzoo.errors.CapabilityError, match="--sampler gmm"):
        RAE(RAEConfig(hidden=(8,), latent_dim=3)).sample(2)


def test_rae_gradient_penalty_trains_under_no_grad_too():
    """The test-set pass runs the step under no_grad; the penalty still needs its vector-Jacobian product."""
    model = RAE(RAEConfig(hidden=(8,), latent_dim=3, regularizer="gp"))
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model.training_step(Batch(x, torch.zeros(4, dtype=torch.long)), 0)
    assert torch.isfinite(out.terms["gp"]) and out.terms["gp"].item() > 0


# -- DIP-VAE ------------------------------------------------------------------------------------------------------


def test_dip_covariance_and_penalty_by_hand():
    """Two images, 2-d means mu = (1, 0), (3, 2): centred +-(1, 1), so Cov[mu] = [[1, 1], [1, 1]] (biased moment).
    Variant i: penalty = lambda_od (1 + 1) + lambda_d ((1-1)^2 + (1-1)^2) = 2 lambda_od.
    Variant ii adds E_x diag(exp(logvar)): logvar = log 1, log 3 on dim 0 and log 2 both on dim 1 -> + diag(2, 2):
    Cov = [[3, 1], [1, 3]]: lambda_od 2 + lambda_d (4 + 4)."""
    q = DiagonalGaussian(
        torch.tensor([[1.0, 0.0], [3.0, 2.0]]), torch.tensor([[0.0, math.log(2)], [math.log(3), math.log(2)]])
    )
    cov_i = dip_covariance(q, "i")
    assert torch.allclose(cov_i, torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
    assert dip_penalty(cov_i, 3.0, 30.0).item() == pytest.approx(6.0)
    cov_ii = dip_covariance(q, "ii")
    assert torch.allclose(cov_ii, torch.tensor([[3.0, 1.0], [1.0, 3.0]]))
    assert dip_penalty(cov_ii, 3.0, 5.0).item() == pytest.approx(3.0 * 2 + 5.0 * 8)


def test_dip_lambda_d_follows_the_papers_rule_unless_given():
    assert DIPVAEConfig(lambda_od=4.0).lambda_d == 40.0  # i: lambda_d = 10 lambda_od (Kumar et al. 2018)
    assert DIPVAEConfig(variant="ii", lambda_od=4.0).lambda_d == 4.0  # ii: lambda_d = lambda_od
    assert DIPVAEConfig(lambda_od=4.0, lambda_d=1.0).lambda_d == 1.0
    with pytest.raises(GenzooError, match="model.variant"):
        DIPVAEConfig(variant="iii")


# -- capacity-annealed beta-VAE -----------------------------------------------------------------------------------


def test_capacity_schedule_values():
    model = VAE(VAEConfig(hidden=(8,), latent_dim=2, capacity_max=25.0, capacity_steps=100))
    assert [model.capacity(t) for t in (0, 1, 50, 100, 1000)] == [0.0, 0.25, 12.5, 25.0, 25.0]


def test_capacity_loss_is_recon_plus_gamma_abs_kl_minus_c():
    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=(8,), latent_dim=2, capacity_max=10.0, capacity_steps=10, gamma=3.0))
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1)).round()
    batch = Batch(x, torch.zeros(5, dtype=torch.long))
    for step in (0, 4, 50):
        out = model.training_step(batch, step)
        c = min(1.0, step / 10) * 10.0
        expected = out.terms["recon"] + 3.0 * (out.terms["kl"] - c).abs()
        assert out.terms["capacity"].item() == pytest.approx(c)
        assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_vae_with_capacity_off_is_unchanged():
    """The default vae's loss is still recon + beta KL, bit for bit the same as before the option existed."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=(8,), latent_dim=2, beta=2.0))
    assert model.config.capacity_max is None
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1)).round()
    torch.manual_seed(3)
    out = model.training_step(Batch(x, torch.zeros(5, dtype=torch.long)), 7)
    torch.manual_seed(3)
    q = model.posterior(x)
    z = q.sample(n=1)
    recon = model.reconstruction_nll(z, x, None).mean()
    assert torch.equal(out.loss, recon + 2.0 * q.kl().mean(0).sum())
    assert "capacity" not in out.terms


@pytest.mark.parametrize("setting", [{"beta": 4.0}, {"free_bits": 0.5}, {"kl_warmup_steps": 10}, {"objective": "iwae"}])
def test_capacity_refuses_settings_it_replaces(setting):
    key = next(iter(setting))
    with pytest.raises(GenzooError, match=f"model.{key}"):
        VAEConfig(capacity_max=5.0, **setting)


# -- cat-vae ------------------------------------------------------------------------------------------------------


def test_temperature_schedule_values():
    assert temperature(0, 1.0, 0.5, 1e-4) == 1.0
    assert temperature(1000, 1.0, 0.5, 1e-4) == pytest.approx(math.exp(-0.1))
    assert temperature(10**6, 1.0, 0.5, 1e-4) == 0.5  # floored
    model = CatVAE(CatVAEConfig(hidden=(8,), categoricals=2, classes=3, tau0=2.0, tau_min=0.1, anneal_rate=1e-3))
    assert model.temperature(500) == pytest.approx(2.0 * math.exp(-0.5))


def test_categorical_kl_against_uniform_is_sum_q_log_qk():
    gen = torch.Generator().manual_seed(0)
    q = torch.softmax(torch.randn(4, 3, 6, generator=gen, dtype=torch.float64), -1)  # (B, N, K)
    uniform = torch.full_like(q, 1 / 6)
    by_formula = (q * torch.log(q * 6)).sum(-1)
    assert torch.allclose(categorical_kl(q, uniform), by_formula, rtol=1e-12)
    assert torch.allclose(genzoo.kl_divergence(q, uniform), by_formula, rtol=1e-12)  # the public helper agrees
    # exact conventions: 0 log 0 = 0, and p > 0 = q gives +inf
    assert categorical_kl(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5])).item() == pytest.approx(math.log(2))
    assert categorical_kl(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0])).item() == math.inf


def test_categorical_kl_has_finite_gradients_where_a_softmax_underflows():
    logits = torch.tensor([[0.0, 200.0, -200.0]], requires_grad=True)  # softmax underflows to exact 0s
    p = torch.softmax(logits, -1)
    assert (p == 0).any()
    categorical_kl(p, torch.full_like(p, 1 / 3)).sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_cat_vae_kl_term_is_the_discrete_formula():
    torch.manual_seed(0)
    model = CatVAE(CatVAEConfig(hidden=(8,), categoricals=2, classes=4, continuous_dim=3))
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1)).round()
    out = model.training_step(Batch(x, torch.zeros(5, dtype=torch.long)), 0)
    q = model.posterior(x)
    discrete = (q.probs * torch.log(q.probs * 4)).sum((1, 2)).mean()
    continuous = q.gaussian.kl().sum(1).mean()
    assert out.terms["kl_discrete"].item() == pytest.approx(discrete.item(), rel=1e-5)
    assert out.terms["kl"].item() == pytest.approx((discrete + continuous).item(), rel=1e-5)
    assert model.encode(x).shape == (5, 2 * 4 + 3)


def test_gumbel_softmax_draws_follow_the_categorical_at_low_temperature():
    """At a low temperature the relaxed draws are nearly one-hot and their argmax is a draw from softmax(logits):
    the class frequencies of 20,000 draws match the probabilities."""
    logits = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    y = gumbel_softmax(logits.expand(20000, 3), 0.05, torch.Generator().manual_seed(0))
    assert torch.allclose(y.sum(-1), torch.ones(20000))
    assert y.max(-1).values.mean() > 0.95
    freq = torch.bincount(y.argmax(-1), minlength=3).float() / 20000
    assert torch.allclose(freq, torch.tensor([0.2, 0.5, 0.3]), atol=0.015)


def test_cat_vae_samples_are_decoded_uniform_one_hots():
    model = CatVAE(CatVAEConfig(hidden=(8,), categoricals=2, classes=3))
    g = torch.Generator().manual_seed(4)
    classes = torch.randint(3, (6, 2), generator=g)
    code = torch.nn.functional.one_hot(classes, 3).float().flatten(1)
    assert torch.equal(model.sample(6, torch.Generator().manual_seed(4)), model.decode(code))
