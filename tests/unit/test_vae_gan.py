"""The VAE-GAN's pieces checked by autograd: which player each term reaches (the GAN term never reaches the
encoder, the discriminator phase only the discriminator), the feature likelihood against a hand computation, the
reuse of the discriminator phase's fakes, and one-line refusals."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.models.vae_gan import AUTOENCODER, VAEGAN, VAEGANConfig

TINY = {"channels": (4, 8), "latent_dim": 4, "width_d": 4}


def tiny_model(**overrides) -> VAEGAN:
    torch.manual_seed(0)
    return VAEGAN(VAEGANConfig(**{**TINY, **overrides})).train()


def batch(n: int = 6) -> Batch:
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return Batch(x, torch.zeros(n, dtype=torch.long))


def grads(model: VAEGAN, part: str) -> list[torch.Tensor]:
    return [p.grad if p.grad is not None else torch.zeros_like(p) for p in getattr(model, part).parameters()]


def autoencoder_grads(adversarial_weight: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    model = tiny_model(adversarial_weight=adversarial_weight)
    torch.manual_seed(1)  # the same draws of z and z_p for every weight
    model.training_step(batch(), 0, AUTOENCODER).loss.backward()
    return grads(model, "encoder"), grads(model, "decoder")


def test_the_gan_term_reaches_the_decoder_and_never_the_encoder():
    encoder_without, decoder_without = autoencoder_grads(0.0)
    encoder_with, decoder_with = autoencoder_grads(3.0)
    # The encoder's gradient is that of L_prior + L_llike (+ the pixel term) whatever the GAN weight: the paper's.
    for a, b in zip(encoder_without, encoder_with):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert any(not torch.allclose(a, b) for a, b in zip(decoder_without, decoder_with))


def test_the_discriminator_phase_reaches_only_the_discriminator():
    model = tiny_model()
    model.training_step(batch(), 0, "discriminator").loss.backward()
    assert all(p.grad is None for p in [*model.encoder.parameters(), *model.decoder.parameters()])
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.discriminator.parameters())


def test_the_feature_likelihood_is_half_the_squared_feature_distance():
    model = tiny_model(pixel_weight=0.0, adversarial_weight=0.0, feature_weight=1.0)
    b = batch()
    torch.manual_seed(1)
    out = model.training_step(b, 0, AUTOENCODER)
    torch.manual_seed(1)
    model.fakes(b.x)  # the same draws as the step: its fakes first, then z ~ q(z|x)
    q = model.posterior(b.x)
    recon = torch.sigmoid(model.decoder(q.sample()))
    real_features = model.discriminator.net[:-1](b.x).flatten(1)  # (B, 2 w_d 7 7)
    recon_features = model.discriminator.net[:-1](recon).flatten(1)
    by_hand = 0.5 * ((real_features - recon_features) ** 2).sum(1).mean()
    torch.testing.assert_close(out.terms["feature_recon"], by_hand, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.loss, out.terms["kl"] + by_hand, rtol=1e-5, atol=1e-5)


def test_the_autoencoder_phase_reuses_the_discriminator_phase_fakes():
    model = tiny_model()
    b = batch()
    model.training_step(b, 0, "discriminator")
    kept = model._pending.fake
    calls = []
    model.fakes = lambda x: calls.append(x)  # would be called if the fakes were drawn again
    model.training_step(b, 0, AUTOENCODER).loss.backward()
    assert calls == [] and model._pending is None and kept.requires_grad


@pytest.mark.parametrize(
    "setting,expected",
    [
        ({"feature_weight": -1.0}, "model.feature_weight"),
        ({"adversarial_weight": -0.5}, "model.adversarial_weight"),
        ({"pixel_weight": -1.0}, "model.pixel_weight"),
        ({"lr_ae": 0.0}, "model.lr_ae"),
        ({"betas_d": (0.5, 1.0)}, "model.betas_d"),
    ],
)
def test_bad_settings_are_refused_in_one_line(setting, expected):
    with pytest.raises(GenzooError, match=expected) as error:
        VAEGANConfig(**{**TINY, **setting})
    assert "\n" not in str(error.value)


def test_an_unknown_phase_is_refused():
    with pytest.raises(GenzooError, match="vae-gan has phases 'discriminator' and 'autoencoder'"):
        tiny_model().training_step(batch(), 0, "encoder")
