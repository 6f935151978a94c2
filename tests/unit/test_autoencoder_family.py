"""The autoencoder variants: networks, noise, the contractive penalty against autograd, and latent tools."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.explore import latent
from genzoo.models.autoencoder import (
    AEConfig,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    projected_jacobian_norm,
    sigmoid_jacobian_norm,
)
from genzoo.models.registry import get_model_class
from genzoo.nets.conv import ClassicConvEncoder, ConvDecoder, ConvEncoder
from genzoo.nets.sequence import rows


def build(name: str, **overrides):
    cls = get_model_class(name)
    torch.manual_seed(0)
    return cls(cls.Config(**overrides))


def exact_jacobian_norm(encode, x: torch.Tensor) -> torch.Tensor:
    """||d encode(x_i) / d x_i||_F^2 for every image, by materialising each Jacobian."""
    norms = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda v: encode(v.unsqueeze(0))[0], xi)  # (D, C, H, W)
        norms.append(jac.pow(2).sum())
    return torch.stack(norms)


# -- contractive autoencoder ---------------------------------------------------------------------------------


def test_closed_form_jacobian_matches_autograd():
    model = build("cae", image_shape=(1, 6, 6), latent_dim=5)
    x = torch.rand(4, 1, 6, 6)
    h = model.encode(x)
    closed = sigmoid_jacobian_norm(h, model.encoder[-1].weight)
    torch.testing.assert_close(closed, exact_jacobian_norm(model.encode, x), rtol=1e-5, atol=1e-7)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # training under --precision bf16: still an fp32 sum
        assert torch.equal(sigmoid_jacobian_norm(h, model.encoder[-1].weight), closed)


def test_projection_estimator_is_unbiased_for_a_deep_encoder():
    model = build("cae", image_shape=(1, 5, 5), hidden=(7,), latent_dim=4)
    x = torch.rand(3, 1, 5, 5).requires_grad_(True)
    h = model.encode(x)
    estimate = projected_jacobian_norm(x, h, projections=4000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(estimate, exact_jacobian_norm(model.encode, x.detach()), rtol=0.06, atol=0)


def test_contractive_penalty_enters_the_loss_and_is_differentiable():
    for overrides in ({"latent_dim": 8}, {"hidden": (16,), "latent_dim": 4}):
        model = build("cae", image_shape=(1, 28, 28), contraction=2.0, **overrides)
        batch = Batch(torch.rand(8, 1, 28, 28), torch.zeros(8, dtype=torch.long))
        out = model.training_step(batch, 0)
        assert out.terms["jacobian"] > 0
        torch.testing.assert_close(out.loss, out.terms["recon"] + 2.0 * out.terms["jacobian"])
        out.loss.backward()
        assert all(p.grad is not None for p in model.parameters())


def test_contractive_config_refuses_exact_jacobian_for_deep_encoders():
    with pytest.raises(GenzooError, match="jacobian=exact"):
        ContractiveAutoencoder.Config(hidden=(32,), jacobian="exact")


# -- denoising autoencoder -----------------------------------------------------------------------------------


def test_masking_noise_zeroes_the_configured_fraction():
    model = build("dae", mask_fraction=0.3)
    x = torch.rand(64, 1, 28, 28) * 0.9 + 0.1  # no zero pixels before masking
    noisy = model.corrupt(x, torch.Generator().manual_seed(0))
    assert (noisy == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    kept = noisy != 0
    assert torch.equal(noisy[kept], x[kept])


def test_gaussian_noise_has_the_configured_scale():
    model = build("dae", noise="gaussian", noise_std=0.2)
    x = torch.full((64, 1, 28, 28), 0.5)
    noise = model.corrupt(x, torch.Generator().manual_seed(0)) - x
    assert noise.mean().item() == pytest.approx(0.0, abs=0.01)
    assert noise.std().item() == pytest.approx(0.2, rel=0.02)


def test_denoising_loss_compares_with_the_clean_image():
    """With every pixel masked the encoder sees zeros, yet the loss is measured against the clean batch."""
    model = build("dae", mask_fraction=1.0, hidden=(16,), latent_dim=4)
    x = torch.rand(4, 1, 28, 28)
    loss = model.training_step(Batch(x, torch.zeros(4, dtype=torch.long)), 0).loss
    expected = model.reconstruction_loss(model.logits(model.encode(torch.zeros_like(x))), x)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_mask_fraction_outside_unit_interval_is_refused(fraction):
    with pytest.raises(GenzooError, match="mask_fraction"):
        DenoisingAutoencoder.Config(mask_fraction=fraction)


# -- networks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_conv_networks_fit_28_and_32_pixel_images(shape):
    encoder, decoder = ConvEncoder(shape, (8, 16), 6), ConvDecoder(6, shape, (8, 16))
    x = torch.rand(2, *shape)
    assert encoder(x).shape == (2, 6)
    assert decoder(encoder(x)).shape == (2, *shape)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_classic_conv_preset(shape):
    model = build("conv-ae", network="conv-classic", image_shape=shape)
    x = torch.rand(2, *shape)
    assert ClassicConvEncoder(shape[0])(x).shape == (2, 32)  # the 8x2x2 code
    assert model.reconstruct(x).shape == x.shape


def test_conv_network_refuses_sizes_that_do_not_halve():
    with pytest.raises(GenzooError, match="30x30"):
        build("conv-ae", image_shape=(1, 30, 30))


def test_config_combinations_that_cannot_work_are_refused():
    with pytest.raises(GenzooError, match="tied"):
        AEConfig(network="conv", tied=True)
    with pytest.raises(GenzooError, match="conv-classic"):
        AEConfig(network="conv-classic", latent_dim=10)


def test_lstm_reads_rows_in_order():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float).view(2, 3, 4, 5)
    r = rows(x)  # (B, H, C*W)
    assert r.shape == (2, 4, 15)
    assert torch.equal(r[1, 2], torch.cat([x[1, c, 2] for c in range(3)]))


# -- latent tools --------------------------------------------------------------------------------------------


def test_slerp_meets_its_ends_and_keeps_the_radius():
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    t = torch.linspace(0, 1, 5)[:, None]
    path = latent.slerp(a, b, t)
    torch.testing.assert_close(path[0], a[0])
    torch.testing.assert_close(path[-1], b[0])
    torch.testing.assert_close(path.norm(dim=-1), torch.full((5,), 3.0))
    assert latent.lerp(a, b, t)[2].norm() < 3.0  # the straight line cuts inside


def test_slerp_of_parallel_codes_falls_back_to_lerp():
    a = torch.tensor([[1.0, 1.0]])
    torch.testing.assert_close(latent.slerp(a, 2 * a, torch.tensor([[0.5]])), 1.5 * a)


def test_interpolation_rows_start_and_end_at_the_reconstructions():
    model = build("ae", hidden=(16,), latent_dim=3).eval()
    x = torch.rand(4, 1, 28, 28)
    images = latent.interpolate(model, x[:2], x[2:], steps=5)
    assert images.shape == (10, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(images[0], model.reconstruct(x[:1])[0])
        torch.testing.assert_close(images[4], model.reconstruct(x[2:3])[0])


def test_vae_manifold_uses_gaussian_quantiles_on_the_chosen_dims():
    model = build("vae", hidden=(16,), latent_dim=5).eval()
    images, dims = latent.manifold(model, n=4, dims=(1, 3))
    assert images.shape == (16, 1, 28, 28) and dims == (1, 3)
    values = latent.axis_values(model, 4, None, 0)
    q = torch.distributions.Normal(0, 1).icdf(torch.tensor([0.05, 0.95]))
    torch.testing.assert_close(values[[0, -1]], q)


def test_autoencoder_axes_follow_the_codes_and_widest_dims():
    model = build("ae", hidden=(16,), latent_dim=3).eval()
    codes = torch.randn(500, 3) * torch.tensor([0.1, 5.0, 1.0])
    assert latent.widest_dims(codes) == [1, 2]
    values = latent.axis_values(model, 3, codes, 1)
    torch.testing.assert_close(values, torch.quantile(codes[:, 1], torch.tensor([0.05, 0.5, 0.95])))
    images, dims = latent.manifold(model, n=3, codes=codes)
    assert dims == (1, 2) and images.shape == (9, 1, 28, 28)


def test_traversal_sweeps_one_dimension_per_row():
    model = build("vae", hidden=(16,), latent_dim=4).eval()
    images = latent.traverse(model, torch.rand(1, 1, 28, 28), steps=6, dims=[0, 2])
    assert images.shape == (12, 1, 28, 28)


def test_pca_projection_keeps_the_main_axis():
    codes = torch.randn(300, 6) * torch.tensor([0.01, 0.01, 9.0, 0.01, 3.0, 0.01])
    points = latent.pca_2d(codes)
    assert points.shape == (300, 2)
    assert points[:, 0].var() == pytest.approx(codes[:, 2].var().item(), rel=0.05)
    assert math.isclose(points.mean(0).abs().max().item(), 0.0, abs_tol=1e-4)


def test_tsne_projection_has_one_point_per_code():
    assert latent.tsne_2d(torch.randn(60, 5)).shape == (60, 2)
