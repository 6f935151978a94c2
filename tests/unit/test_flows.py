"""Inverse autoregressive flow (nets/flows.py) and the vae's flow posterior (model.flow=iaf): the exact math.

- MADE is autoregressive: d output_i / d input_j = 0 for j >= i, by autograd, for m and s.
- An IAF step's and a whole flow's log-determinant equal log|det| of the autograd Jacobian.
- The flow VAE's importance weights: log q(z_T|x) is the change-of-variables density, finite, k=1 gives the
  per-sample ELBO of training_step, and the k-sample NLL estimate is at most the negative ELBO.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.models.registry import get_model_class
from genzoo.nets.flows import MADE, IAFStep, InverseAutoregressiveFlow

D, H, CONTEXT = 5, 16, 3


def build_model(name: str, settings: dict):
    cls = get_model_class(name)
    return cls(cls.Config(**settings))


def randomise(module: torch.nn.Module, seed: int) -> None:
    """Weights far from the initial ones, so that sigma and m vary across coordinates."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


@pytest.mark.parametrize("dim", [1, 2, D])
def test_made_outputs_depend_only_on_earlier_inputs(dim):
    torch.manual_seed(0)
    made = MADE(dim, H, CONTEXT)
    randomise(made, 1)
    z, h = torch.randn(dim, dtype=torch.float64), torch.randn(CONTEXT, dtype=torch.float64)
    made.double()
    for part in (0, 1):  # m, then s
        jac = jacobian(lambda v, part=part: made(v, h)[part], z)  # (dim out, dim in)
        upper = torch.triu(torch.ones(dim, dim, dtype=torch.bool))  # j >= i
        assert torch.all(jac[upper] == 0)
        if dim > 1:  # and the mask is not trivially empty: output 1 reads input 0 (strictly lower entries live)
            assert jac[1, 0] != 0


def test_iaf_step_log_det_matches_autograd_jacobian():
    torch.manual_seed(0)
    step = IAFStep(D, H, CONTEXT).double()
    randomise(step, 2)
    z, h = torch.randn(D, dtype=torch.float64), torch.randn(CONTEXT, dtype=torch.float64)
    jac = jacobian(lambda v: step(v, h)[0], z)  # (D, D), lower triangular
    _, log_det = step(z, h)
    assert torch.allclose(jac, torch.tril(jac))
    assert log_det.item() == pytest.approx(torch.linalg.slogdet(jac).logabsdet.item(), abs=1e-10)


def test_flow_log_det_matches_autograd_jacobian_with_reversals():
    torch.manual_seed(0)
    flow = InverseAutoregressiveFlow(D, 3, H, CONTEXT).double()
    randomise(flow, 3)
    z, h = torch.randn(D, dtype=torch.float64), torch.randn(CONTEXT, dtype=torch.float64)
    jac = jacobian(lambda v: flow(v, h)[0], z)  # the reversals make it full, not triangular
    _, log_det = flow(z, h)
    assert not torch.allclose(jac, torch.tril(jac))
    assert log_det.item() == pytest.approx(torch.linalg.slogdet(jac).logabsdet.item(), abs=1e-10)
    # batched draws (k, B, D) with a per-image context (B, H) give each row its own determinant
    zs = torch.randn(2, 4, D, dtype=torch.float64)
    hs = torch.randn(4, CONTEXT, dtype=torch.float64)
    out, log_dets = flow(zs, hs)
    assert out.shape == zs.shape and log_dets.shape == (2, 4)
    single = flow(zs[1, 2], hs[2])[1]
    assert log_dets[1, 2].item() == pytest.approx(single.item(), abs=1e-12)


def flow_vae(**settings):
    torch.manual_seed(0)
    config = {"hidden": (32,), "latent_dim": 4, "flow": "iaf", "flow_steps": 2, "flow_hidden": 16, **settings}
    return build_model("vae", config)  # float32: the encoder hands the posterior over in fp32


def images(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.rand(n, 1, 28, 28, generator=g) * 0.6, generator=g)


def test_flow_vae_log_q_is_the_change_of_variables_density():
    model = flow_vae()
    randomise(model.flow, 4)
    x = images(2)
    q, context = model.encoder_output(x, None)
    z0 = q.sample(torch.Generator().manual_seed(1))  # (B, D)
    z_t, log_det = model.flow(z0, context)
    for b in range(2):  # log q(z_T) = log q(z_0) - log|det dz_T/dz_0|, the Jacobian by autograd
        jac = jacobian(lambda v, b=b: model.flow(v, context[b])[0], z0[b])
        expected = q.log_prob(z0)[b] - torch.linalg.slogdet(jac).logabsdet
        assert (q.log_prob(z0)[b] - log_det[b]).item() == pytest.approx(expected.item(), abs=1e-4)
    inf = model.infer(x, None, 1, torch.Generator().manual_seed(1))  # the same draw through infer
    assert torch.allclose(inf.z[0], z_t) and torch.allclose(inf.log_q[0], q.log_prob(z0) - log_det)
    assert inf.kl is None  # no closed form: the bound's KL is the Monte Carlo one


def test_flow_vae_log_weights_k1_is_the_per_sample_elbo():
    model = flow_vae()
    randomise(model.flow, 5)
    x = images()
    w = model.log_weights(x, 1, generator=torch.Generator().manual_seed(7))  # (1, B)
    assert w.shape == (1, len(x)) and torch.isfinite(w).all()
    # training_step's nelbo with the same draws (same generator state through torch's global RNG)
    model.train()
    torch.manual_seed(7)
    out = model.training_step(Batch(x, torch.zeros(len(x), dtype=torch.long)), step=0)
    torch.manual_seed(7)
    inf = model.infer(x, None, 1)
    recon = model.reconstruction_nll(inf.z, x, None)
    elbo = -recon + inf.log_p - inf.log_q  # (1, B)
    assert out.terms["nelbo"].item() == pytest.approx(-elbo.mean().item(), rel=1e-6)
    torch.manual_seed(7)
    w_same = model.log_weights(x, 1)
    assert torch.allclose(w_same, elbo)
    assert out.loss.item() == pytest.approx(out.terms["nelbo"].item(), rel=1e-6)  # beta 1: loss is the -ELBO


def test_flow_vae_nll_is_below_the_negative_elbo():
    model = flow_vae()
    randomise(model.flow, 6)
    x = images(8)
    with torch.no_grad():  # independent draws for the two estimates, as evaluate --nll and the ELBO would take
        w = model.log_weights(x, 2000, generator=torch.Generator().manual_seed(3))  # (k, B)
        w_elbo = model.log_weights(x, 2000, generator=torch.Generator().manual_seed(4))
    nll = -(torch.logsumexp(w, 0) - math.log(w.shape[0]))  # (B,) the k-sample estimate of -log p(x)
    nelbo = -w_elbo.mean(0)  # (B,) Monte Carlo -ELBO per image
    assert torch.isfinite(nll).all() and torch.isfinite(nelbo).all()
    standard_error = w_elbo.std(0) / math.sqrt(w_elbo.shape[0])  # (B,) of the ELBO estimate
    assert torch.all(nll <= nelbo + 3 * standard_error)
    # and strictly below on average: the flow posterior is not the true posterior (never, at random weights)
    assert (nelbo - nll).mean() > 0.1


def test_flow_vae_sampling_encode_and_reconstruction_shapes():
    model = flow_vae()
    x = images(3)
    code = model.encode(x)
    assert code.shape == (3, 4)
    q, context = model.encoder_output(x, None)
    assert torch.allclose(code, model.flow(q.mean, context)[0])  # the decoder's space, not z_0's
    assert model.reconstruct(x).shape == x.shape
    assert model.sample(4, torch.Generator().manual_seed(0)).shape == (4, 1, 28, 28)
    kl = model.kl_per_dim(x, None)  # the base posterior's closed-form KL, per dimension
    assert torch.allclose(kl, q.kl())


def test_flow_without_flow_is_unchanged_and_bad_settings_are_refused():
    torch.manual_seed(0)
    plain = build_model("vae", {"hidden": (32,), "latent_dim": 4})
    assert plain.flow is None and plain.encoder[-1].out_features == 8  # state-dict shape as before the option
    with pytest.raises(GenzooError, match="model.flow_steps"):
        build_model("vae", {"flow": "iaf", "flow_steps": 0})
    with pytest.raises(GenzooError, match="model.free_bits"):
        build_model("vae", {"flow": "iaf", "free_bits": 0.5})
    with pytest.raises(GenzooError, match="model.flow"):
        build_model("info-vae", {"hidden": (32,), "latent_dim": 4, "flow": "iaf"})
