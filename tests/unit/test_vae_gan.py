"""vae-gan (models/vae_gan.py): which player each phase's loss reaches, by autograd on a tiny model, and the
feature-space reconstruction term against its formula.

Larsen et al. 2016, Algorithm 1: the encoder is updated by L_prior + L_llike, the decoder by gamma L_llike - L_GAN,
the discriminator by L_GAN. The trainer back-propagates a phase's loss into its own group only; what the model must
guarantee is that the discriminator's loss does not reach the encoder or the decoder at all (its fakes are
detached), that the decoder's loss does not reach the encoder (its posterior draw is detached), and that each
phase's loss does reach its own group.
"""

from __future__ import annotations

import pytest
import torch

from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.models.registry import get_model_class
from genzoo.models.vae_gan import DECODER, DISCRIMINATOR, ENCODER

TINY = {"latent_dim": 4, "channels": (4, 8), "width_g": 4, "width_d": 4}


def tiny(**settings):
    cls = get_model_class("vae-gan")
    torch.manual_seed(0)
    return cls(cls.Config(**{**TINY, **settings})).train()


def batch(n=6):
    g = torch.Generator().manual_seed(1)
    return Batch(torch.rand(n, 1, 28, 28, generator=g), torch.zeros(n, dtype=torch.long))


def reached(model, loss) -> dict[str, bool]:
    """Which players' parameters get a nonzero gradient from `loss`."""
    players = {"encoder": model.encoder, "decoder": model.decoder, "discriminator": model.discriminator}
    out = {}
    for name, module in players.items():
        params = list(module.parameters())
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        out[name] = any(g is not None and g.abs().sum() > 0 for g in grads)
    return out


def test_groups_partition_the_parameters_into_the_three_players():
    model = tiny()
    groups = {g.name: {id(p) for p in g.params} for g in model.optimizer_groups()}
    assert list(groups) == [DISCRIMINATOR, DECODER, ENCODER] == list(model.phases(0))
    assert not (groups[ENCODER] & groups[DECODER]) and not (groups[ENCODER] & groups[DISCRIMINATOR])
    assert not (groups[DECODER] & groups[DISCRIMINATOR])
    assert set().union(*groups.values()) == {id(p) for p in model.parameters()}


def test_discriminator_phase_reaches_only_the_discriminator():
    model = tiny()
    loss = model.training_step(batch(), 0, DISCRIMINATOR).loss
    assert reached(model, loss) == {"encoder": False, "decoder": False, "discriminator": True}


def test_decoder_phase_reaches_the_decoder_not_the_encoder():
    model = tiny()
    b = batch()
    model.training_step(b, 0, DISCRIMINATOR)  # the fakes it keeps for this phase ...
    kept = model.training_step(b, 0, DECODER).loss
    fresh = model.training_step(b, 1, DECODER).loss  # ... and fakes drawn afresh (another step's call)
    for loss in (kept, fresh):
        got = reached(model, loss)
        assert got["decoder"] and not got["encoder"]
        # (the discriminator is in its graph, as in the paper; the trainer steps only the decoder's group)


def test_encoder_phase_reaches_the_encoder():
    model = tiny()
    out = model.training_step(batch(), 0, ENCODER)
    assert reached(model, out.loss)["encoder"]
    assert out.loss.item() == pytest.approx((out.terms["kl"] + out.terms["feature_recon"]).item(), rel=1e-6)


def test_feature_reconstruction_is_the_gaussian_nll_on_layer_l_features():
    model = tiny()
    x, y = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    fx, _ = model.features_and_logits(x)
    fy, _ = model.features_and_logits(y)
    assert fx.shape == (3, 2 * TINY["width_d"] * 7 * 7)  # the last hidden layer, (2 w_d, 7, 7) at 28x28
    expected = sum(0.5 * ((fx[i] - fy[i]) ** 2).sum() for i in range(3)) / 3
    assert model.feature_nll(fx, fy).item() == pytest.approx(expected.item(), rel=1e-6)
    # the logit is the discriminator's own output on the same images
    _, logits = model.features_and_logits(x)
    assert torch.allclose(logits, model.discriminator(x))


def test_verbs_and_bad_settings():
    model = tiny().eval()
    x = torch.rand(2, 1, 28, 28)
    assert model.encode(x).shape == (2, 4)
    assert model.reconstruct(x).shape == x.shape
    s = model.sample(3, torch.Generator().manual_seed(0))
    assert s.shape == (3, 1, 28, 28) and s.min() >= 0 and s.max() <= 1
    with pytest.raises(GenzooError, match="model.gamma"):
        tiny(gamma=-1.0)
    with pytest.raises(GenzooError, match="model.lr_dec"):
        tiny(lr_dec=0.0)
    with pytest.raises(GenzooError, match="phases"):
        model.training_step(batch(), 0, "generator")
