"""The rest of the GAN family's options: the losses against hand computations on fixed logits, spectral
normalisation (sigma ~ 1, its power-iteration vectors in checkpoints), R1 against autograd, DiffAugment (one draw
for real and fake, the reference implementation's transformations), truncated sampling, the one-line refusals,
and short end-to-end runs on MNIST, Fashion-MNIST and an RGB image folder."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import genzoo
from genzoo.api import truncated_normal
from genzoo.cli import main
from genzoo.config import RunConfig
from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.models.gan import DISCRIMINATOR, GENERATOR, TrainingHealthWarning
from genzoo.models.registry import get_model_class
from genzoo.nets import augment
from genzoo.nets.gan_losses import LOSSES, discriminator_loss, generator_loss
from tests.conftest import build_tiny_config, newest_weights, read_metrics
from tests.unit.test_colour_datasets import picture_folder

REAL = torch.tensor([2.0, -1.0, 0.5, 0.0])  # fixed discriminator outputs on four real and four fake images
FAKE = torch.tensor([-3.0, 1.5, 0.0, -0.5])
TINY_MLP = {"hidden_g": (16,), "hidden_d": (16,), "noise_dim": 4}
TINY_CONV = {"width_g": 4, "width_d": 4, "noise_dim": 8}


def build(name: str, **overrides):
    cls = get_model_class(name)
    torch.manual_seed(0)
    return cls(cls.Config(**overrides))


def batch_of(model, n: int = 8, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    return Batch(torch.rand(n, *model.config.image_shape, generator=gen), torch.randint(10, (n,), generator=gen))


def log_sigmoid(t: float) -> float:
    return -math.log1p(math.exp(-t))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


# -- the losses on fixed logits -----------------------------------------------------------------------------------


def test_bce_by_hand_with_label_smoothing():
    s = 0.1
    d = mean(-(1 - s) * log_sigmoid(r) - s * log_sigmoid(-r) for r in REAL.tolist()) + mean(
        -log_sigmoid(-f) for f in FAKE.tolist()
    )
    assert discriminator_loss("bce", REAL, FAKE, s).item() == pytest.approx(d, rel=1e-6)
    assert generator_loss("bce", FAKE).item() == pytest.approx(mean(-log_sigmoid(f) for f in FAKE.tolist()), rel=1e-6)


def test_hinge_by_hand():
    # relu(1 - r): 0, 2, 0.5, 1 -> 0.875; relu(1 + f): 0, 2.5, 1, 0.5 -> 1.0
    assert discriminator_loss("hinge", REAL, FAKE).item() == pytest.approx(0.875 + 1.0)
    assert generator_loss("hinge", FAKE).item() == pytest.approx(-(-3.0 + 1.5 + 0.0 - 0.5) / 4)  # -E D(G(z)) = 0.5


def test_lsgan_by_hand():
    # (r - 1)^2: 1, 4, 0.25, 1 -> mean 1.5625; f^2: 9, 2.25, 0, 0.25 -> mean 2.875; (f - 1)^2: 16, 0.25, 1, 2.25
    assert discriminator_loss("lsgan", REAL, FAKE).item() == pytest.approx(0.5 * 1.5625 + 0.5 * 2.875)
    assert generator_loss("lsgan", FAKE).item() == pytest.approx(0.5 * 19.5 / 4)


def test_relativistic_average_by_hand():
    mean_real, mean_fake = mean(REAL.tolist()), mean(FAKE.tolist())  # 0.375, -0.5
    c_real = [r - mean_fake for r in REAL.tolist()]
    c_fake = [f - mean_real for f in FAKE.tolist()]
    d = mean(-log_sigmoid(c) for c in c_real) + mean(-log_sigmoid(-c) for c in c_fake)
    g = mean(-log_sigmoid(c) for c in c_fake) + mean(-log_sigmoid(-c) for c in c_real)
    assert discriminator_loss("relativistic", REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert generator_loss("relativistic", FAKE, REAL).item() == pytest.approx(g, rel=1e-6)
    p_real, p_fake = LOSSES["relativistic"].scores(REAL, FAKE)
    assert p_real.item() == pytest.approx(mean(1 / (1 + math.exp(-c)) for c in c_real), rel=1e-6)
    assert p_fake.item() == pytest.approx(mean(1 / (1 + math.exp(-c)) for c in c_fake), rel=1e-6)


def test_wasserstein_by_hand_and_floors():
    assert discriminator_loss("wgan-gp", REAL, FAKE).item() == pytest.approx(-0.5 - 0.375)
    assert generator_loss("wgan-gp", FAKE).item() == pytest.approx(0.5)
    floors = {name: loss.floor(0.0) for name, loss in LOSSES.items()}
    assert floors == {"bce": 0.0, "wgan-gp": None, "hinge": 0.0, "lsgan": 0.0, "relativistic": 0.0}
    # A discriminator that separates the kinds by a wide margin sits at each floor (the health watch's reference).
    wide_real, wide_fake = torch.full((4,), 30.0), torch.full((4,), -30.0)
    for name in ("bce", "hinge", "relativistic"):
        assert discriminator_loss(name, wide_real, wide_fake).item() == pytest.approx(0.0, abs=1e-6)
    assert discriminator_loss("lsgan", torch.ones(4), torch.zeros(4)).item() == 0.0


@pytest.mark.parametrize("loss", ["hinge", "lsgan", "relativistic"])
def test_each_loss_through_the_model_uses_its_formula_on_the_same_fakes(loss):
    """The model's two phases compute the table's forms on the discriminator's logits: D on real and fake, G on
    the discriminator phase's own fakes (relativistic: with the real images' scores under the updated D)."""
    model = build("gan", loss=loss, **TINY_MLP)
    model.train()
    batch = batch_of(model)
    out = model.training_step(batch, 0, DISCRIMINATOR)
    fake = model._pending.fake
    with torch.no_grad():
        real_logits = model.discriminator(model.real(batch.x))
        fake_logits = model.discriminator(fake)
    torch.testing.assert_close(out.loss, discriminator_loss(loss, real_logits, fake_logits))
    g = model.training_step(batch, 0, GENERATOR).loss
    with torch.no_grad():
        expected = generator_loss(loss, model.discriminator(fake), real_logits)
    torch.testing.assert_close(g, expected)
    assert {"d_real", "d_fake"} <= set(out.terms)


def test_health_watches_the_floor_of_each_loss():
    """bce: H(1 - s) + margin; hinge, lsgan, relativistic: 0 + margin; wgan-gp: no floor, diversity only."""
    for loss in ("hinge", "lsgan", "relativistic"):
        model = build("gan", loss=loss, **TINY_MLP)
        assert model.health.threshold == pytest.approx(0.1)
        assert "label_smoothing" not in model.health.advice and "diffaugment" in model.health.advice
    assert "label_smoothing" in build("gan", **TINY_MLP).health.advice
    hinge = build("gan", loss="hinge", **TINY_MLP)
    hinge.train()
    for step in range(3):  # a discriminator at the hinge's floor is counted as winning
        hinge.health.observe(discriminator_loss("hinge", torch.full((4,), 5.0), torch.full((4,), -5.0)), step)
    assert int(hinge.health.longest) == 3


# -- spectral normalisation ---------------------------------------------------------------------------------------


def normalised_weights(discriminator: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in discriminator.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


@pytest.mark.parametrize("name,overrides", [("sngan", TINY_CONV), ("gan", {**TINY_MLP, "spectral_norm": True})])
def test_spectral_norm_keeps_every_layers_largest_singular_value_near_one(name, overrides):
    model = build(name, **overrides)
    model.train()
    with torch.no_grad():
        for _ in range(30):  # power iterations: one per training forward
            model.discriminator(model.real(batch_of(model).x))
    weights = normalised_weights(model.discriminator)
    assert len(weights) >= 2
    for w in weights:
        sigma = torch.linalg.matrix_norm(w.detach().flatten(1), ord=2)  # the exact largest singular value
        assert sigma.item() == pytest.approx(1.0, abs=0.02)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.discriminator.modules())  # SN replaces it


def test_spectral_norm_defaults_the_discriminator_norm_to_none_unless_asked():
    assert RunConfig.from_dict({"model": {"name": "sngan"}}).model.norm_d == "none"
    assert RunConfig.from_dict({"model": {"name": "dcgan", "spectral_norm": True}}).model.norm_d == "none"
    assert RunConfig.from_dict({"model": {"name": "dcgan", "r1_weight": 1.0}}).model.norm_d == "none"
    explicit = RunConfig.from_dict({"model": {"name": "dcgan", "spectral_norm": True, "norm_d": "batch"}})
    assert explicit.model.norm_d == "batch"
    assert RunConfig.from_dict({"model": {"name": "dcgan"}}).model.norm_d == "batch"
    sngan = RunConfig.from_dict({"model": {"name": "sngan"}}).model
    assert (sngan.loss, sngan.spectral_norm, sngan.lr_d, sngan.betas_d, sngan.n_critic) == (
        "hinge",
        True,
        2e-4,
        (0.5, 0.999),
        1,
    )


@pytest.mark.filterwarnings("ignore::genzoo.models.gan.TrainingHealthWarning")  # tiny runs
def test_spectral_norm_vectors_travel_in_the_checkpoint_and_load_back(tmp_path):
    run = tmp_path / "sngan"
    genzoo.train(build_tiny_config("sngan", train={"steps": 3}), run, verbose=False)
    weights = newest_weights(run)
    vectors = [k for k in weights if k.endswith("._u") or k.endswith("._v")]
    assert len(vectors) == 2 * 3  # u and v of the three discriminator layers, in model.safetensors
    model = genzoo.load(run)
    state = model.state_dict()
    for key in vectors:
        assert torch.equal(state[key], weights[key]), key
    x = torch.rand(4, 1, 28, 28)
    rebuilt = get_model_class("sngan")(RunConfig.load(run / "config.yaml").model).eval()
    rebuilt.load_state_dict(weights)
    with torch.no_grad():  # eval mode: no power iteration, so the loaded estimate alone decides the outputs
        torch.testing.assert_close(model.discriminator(model.real(x)), rebuilt.discriminator(rebuilt.real(x)))


# -- R1 -------------------------------------------------------------------------------------------------------------


def test_r1_matches_autograd_image_by_image():
    """gamma/2 E_x |grad_x D(x)|^2, each image's gradient taken on its own, on a tiny MLP discriminator."""
    model = build("gan", r1_weight=4.0, **TINY_MLP)
    model.train()
    batch = batch_of(model, n=6)
    torch.manual_seed(1)
    out = model.training_step(batch, 0, DISCRIMINATOR)
    x = model.real(batch.x)
    norms = []
    for i in range(len(x)):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model.discriminator(xi).sum(), xi)
        norms.append(grad.pow(2).sum())
    penalty = torch.stack(norms).mean()
    torch.testing.assert_close(out.terms["r1_penalty"], penalty.detach())
    torch.manual_seed(1)
    z = model.noise(len(x))
    with torch.no_grad():
        adversarial = discriminator_loss("bce", model.discriminator(x), model.discriminator(model.fake(z, None)))
    torch.testing.assert_close(out.loss.detach(), adversarial + 2.0 * penalty.detach())
    out.loss.backward()  # the penalty is differentiable in D's weights (double backward)
    grads = [p.grad for p in model.discriminator.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_r1_of_a_linear_discriminator_is_its_squared_weight_norm():
    model = build("gan", preset="wide", hidden_g=(8,), hidden_d=(), noise_dim=4, r1_weight=1.0)
    linear = next(m for m in model.discriminator.modules() if isinstance(m, nn.Linear))
    out = model.training_step(batch_of(model), 0, DISCRIMINATOR)
    torch.testing.assert_close(out.terms["r1_penalty"], linear.weight.detach().pow(2).sum())
    with torch.no_grad():  # evaluation measures it too (and counts it once, not r1_every times)
        assert "r1_penalty" in model.eval().training_step(batch_of(model), 0, DISCRIMINATOR).terms


def test_lazy_r1_runs_every_nth_step_scaled_by_n():
    model = build("gan", r1_weight=2.0, r1_every=4, **TINY_MLP)
    model.train()
    batch = batch_of(model)
    for step in range(8):
        torch.manual_seed(step)
        out = model.training_step(batch, step, DISCRIMINATOR)
        assert ("r1_penalty" in out.terms) == (step % 4 == 0)
        if step % 4 == 0:
            torch.manual_seed(step)
            z = model.noise(len(batch))
            with torch.no_grad():
                x = model.real(batch.x)
                adversarial = discriminator_loss(
                    "bce", model.discriminator(x), model.discriminator(model.fake(z, None))
                )
            torch.testing.assert_close(out.loss.detach(), adversarial + 4 * 2.0 / 2 * out.terms["r1_penalty"])
        model._pending = None


# -- DiffAugment ---------------------------------------------------------------------------------------------------


def reference_translation(x, tx, ty):
    """The reference implementation's rand_translation (Zhao et al. 2020, DiffAugment_pytorch.py) with given
    shifts (B, 1, 1) instead of drawn ones."""
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(x.size(2)), torch.arange(x.size(3)), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + tx + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + ty + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def reference_cutout(x, offset_x, offset_y, ratio=0.5):
    """The reference rand_cutout with given offsets (B, 1, 1)."""
    size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(size[0]), torch.arange(size[1]), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + offset_x - size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


@pytest.mark.parametrize("side", [28, 32])
def test_translation_and_cutout_are_the_reference_transformations(side):
    torch.manual_seed(0)
    x = torch.rand(64, 3, side, side) * 2 - 1
    params = augment.draw(("translation", "cutout"), 64, side, side, torch.device("cpu"))
    limit, size = augment.shift_limit(side), augment.cutout_size(side)
    assert params.shift.min() == -limit and params.shift.max() == limit  # every shift in [-s, s] occurs
    shift = params.shift.view(2, 64, 1, 1)
    shifted = augment.translate(x, params.shift)
    torch.testing.assert_close(shifted, reference_translation(x, shift[0], shift[1]), rtol=0, atol=0)
    start = params.cutout.view(2, 64, 1, 1)
    cut = augment.cut_out(x, params.cutout)
    torch.testing.assert_close(cut, reference_cutout(x, start[0] + size // 2, start[1] + size // 2), rtol=0, atol=0)


def test_color_is_the_reference_brightness_saturation_contrast():
    torch.manual_seed(0)
    x = torch.rand(5, 3, 8, 8)
    params = augment.draw(("color",), 5, 8, 8, torch.device("cpu"))
    b, s, c = params.color
    assert (b >= -0.5).all() and (b < 0.5).all() and (s >= 0).all() and (s < 2).all() and (c >= 0.5).all()
    y = x + b
    y = (y - y.mean(1, keepdim=True)) * s + y.mean(1, keepdim=True)
    y = (y - y.mean((1, 2, 3), keepdim=True)) * c + y.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(augment.apply(x, params), y)


def test_diffaugment_is_one_function_for_real_and_fake_in_a_step():
    """With the generator made to return the real images, the discriminator sees the same images in both
    halves: the very same transformation (one draw) for real and fake. The generator phase transforms its fakes
    with that draw too, and gradients reach the generator through it."""
    model = build("gan", diffaugment="color,translation,cutout", **TINY_MLP)
    model.train()
    batch = batch_of(model)
    seen = []
    model.discriminator.register_forward_hook(lambda module, args, out: seen.append(args[0].detach().clone()))
    real_images = model.real(batch.x)
    original_fake = model.fake
    model.fake = lambda z, labels: real_images + 0 * original_fake(z, labels).sum()  # still attached to G
    out = model.training_step(batch, 0, DISCRIMINATOR)
    both = seen[0].flatten(1)  # one joint pass: real then fake
    real_in, fake_in = both.split(len(batch))
    torch.testing.assert_close(real_in, fake_in, rtol=0, atol=0)
    assert not torch.equal(real_in, real_images.flatten(1))  # they were transformed
    model.training_step(batch, 0, GENERATOR).loss.backward()
    torch.testing.assert_close(seen[1].flatten(1), fake_in, rtol=0, atol=0)  # the generator phase: same draw
    assert all(p.grad is not None for p in model.generator.parameters())
    assert torch.isfinite(out.loss)


def test_diffaugment_draws_afresh_every_step_and_is_differentiable():
    torch.manual_seed(0)
    first = augment.draw(augment.POLICIES, 4, 8, 8, torch.device("cpu"))
    second = augment.draw(augment.POLICIES, 4, 8, 8, torch.device("cpu"))
    assert not torch.equal(first.color, second.color)
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    augment.apply(x, first).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and (x.grad != 0).any()
    x.grad = None
    augment.apply(x, augment.draw(("cutout",), 4, 8, 8, torch.device("cpu"))).sum().backward()
    assert ((x.grad == 0).flatten(1).sum(1) >= 4).all()  # each cut square (4x4, clipped to >= 2x2): no gradient


# -- truncation -----------------------------------------------------------------------------------------------------


def test_truncated_normal_stays_inside_and_a_loose_bound_is_the_plain_draw():
    z = truncated_normal((64, 100), 0.5, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5 and z.std() < 0.35  # N(0, 1) truncated at 0.5 has sd ~0.28
    loose = truncated_normal((64, 100), 1e6, torch.Generator().manual_seed(0))
    assert torch.equal(loose, torch.randn((64, 100), generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("gan", TINY_MLP),
        ("cgan", TINY_CONV),
        ("vae", {"hidden": (16,), "latent_dim": 4}),
    ],
)
def test_sample_with_a_loose_truncation_is_the_models_own_sample(name, overrides):
    """Truncated sampling decodes N(0, I) noise as the model's own sample() does: with a bound no draw exceeds, the
    images are identical; with a tight one, different."""
    model = build(name, **overrides).eval()
    plain = genzoo.sample(model, 8, seed=3)
    torch.testing.assert_close(genzoo.sample(model, 8, seed=3, truncation=1e6), plain, rtol=0, atol=0)
    assert not torch.equal(genzoo.sample(model, 8, seed=3, truncation=0.3), plain)


def test_a_loose_truncation_draws_the_same_images_past_one_sampling_batch():
    model = build("gan", **TINY_MLP).eval()  # api.sample draws 500 images at a time, truncated or not
    torch.testing.assert_close(
        genzoo.sample(model, 600, seed=1, truncation=1e6), genzoo.sample(model, 600, seed=1), rtol=0, atol=0
    )


@pytest.mark.parametrize(
    "name,overrides,message",
    [
        ("gan", {"preset": "small", "noise_dim": 4}, "draws uniform noise"),
        ("ae", {"hidden": (16,), "latent_dim": 4}, "draws no N\\(0, I\\) prior"),
        ("cvae", {"hidden": (16,), "latent_dim": 4}, "draws a prior per class"),
    ],
)
def test_truncation_is_refused_in_one_line_for_models_without_gaussian_noise(name, overrides, message):
    model = build(name, **overrides).eval()
    with pytest.raises(GenzooError, match=message) as info:
        genzoo.sample(model, 4, truncation=0.7)
    assert "\n" not in str(info.value)


def test_truncation_values_are_checked():
    model = build("gan", **TINY_MLP).eval()
    with pytest.raises(GenzooError, match="--truncation 0.0 is out of range"):
        genzoo.sample(model, 4, truncation=0.0)
    with pytest.raises(GenzooError, match="does not go with --sampler gmm"):
        genzoo.sample(model, 4, truncation=0.7, sampler="gmm")


# -- one-line refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model,overrides,message",
    [
        ("gan", {"loss": "hing"}, "model.loss"),
        ("gan", {"diffaugment": "colour"}, "model.diffaugment='colour'; expected none or a comma-separated list"),
        ("gan", {"diffaugment": "color,color"}, "each at most once"),
        ("gan", {"diffaugment": 3}, "model.diffaugment"),
        ("gan", {"r1_weight": -1.0}, "model.r1_weight=-1.0 is out of range"),
        ("gan", {"r1_every": 0, "r1_weight": 1.0}, "model.r1_every=0 is out of range"),
        ("gan", {"r1_every": 4}, "model.r1_every=4 needs model.r1_weight > 0"),
        ("wgan-gp", {"r1_weight": 1.0}, "a loss other than wgan-gp"),
        ("dcgan", {"r1_weight": 1.0, "norm_d": "batch"}, "model.norm_d=none or layer"),
        ("gan", {"loss": "hinge", "label_smoothing": 0.1}, "loss=hinge has no labels to smooth"),
        ("sngan", {"spectral_norm": "yes"}, "model.spectral_norm"),
    ],
)
def test_bad_option_values_fail_in_one_line(model, overrides, message):
    with pytest.raises(GenzooError, match=message) as info:
        RunConfig.from_dict({"model": {"name": model, **overrides}})
    assert "\n" not in str(info.value)


def test_genzoo_models_lists_sngan(capsys):
    assert main(["models"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("sngan ")]
    assert "hinge" in line and "sample" in line


# -- end to end ------------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::genzoo.models.gan.TrainingHealthWarning")  # tiny runs
def test_sngan_trains_end_to_end_and_samples(tmp_path):
    run = tmp_path / "sngan"
    result = genzoo.train(build_tiny_config("sngan", train={"epochs": 2}), run, verbose=False)
    assert result.step == 16
    test = [r for r in read_metrics(run) if r["split"] == "test"]
    assert len(test) == 2
    assert {"discriminator_loss", "generator_loss", "d_real", "d_fake", "discriminator_win_steps"} <= set(test[-1])
    assert all(math.isfinite(v) for r in test for v in r.values() if isinstance(v, float))
    assert main(["sample", str(run), "-n", "4", "--truncation", "0.7", "-o", str(tmp_path / "t.png")]) == 0
    assert (tmp_path / "t.png").stat().st_size > 0


def test_truncation_on_the_command_line_refuses_in_one_line(tiny_ae_run, tmp_path, capsys):
    assert main(["sample", str(tiny_ae_run), "--truncation", "0.7", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--truncation needs a model that draws N(0, I) noise" in err


@pytest.mark.parametrize(
    "dataset,model,overrides",
    [
        ("mnist", "gan", {"loss": "relativistic", "r1_weight": 1.0, "diffaugment": "translation,cutout"}),
        ("fashion-mnist", "dcgan", {"loss": "lsgan", "spectral_norm": True, "diffaugment": "color,translation"}),
        ("image-folder", "sngan", {"r1_weight": 0.5, "r1_every": 2, "diffaugment": "color,translation,cutout"}),
    ],
)
def test_options_train_on_each_kind_of_data(dataset, model, overrides, tmp_path):
    data = {"dataset": dataset}
    if dataset == "image-folder":  # RGB pictures at 32x32 (the DCGAN layout's side for colour data)
        data = {"dataset": dataset, "data_dir": str(picture_folder(tmp_path / "pictures", per_class=16))}
        data.update(image_size=32, test_fraction=0.25, train_size=None, test_size=None)
    config = build_tiny_config(model, model=overrides, data=data, train={"batch_size": 8, "steps": 4})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingHealthWarning)
        genzoo.train(config, tmp_path / "run", verbose=False)
    records = read_metrics(tmp_path / "run")
    test = [r for r in records if r["split"] == "test"][-1]
    assert math.isfinite(test["discriminator_loss"]) and math.isfinite(test["generator_loss"])
    if "r1_weight" in overrides:
        assert test["r1_penalty"] >= 0
    model_loaded = genzoo.load(tmp_path / "run")
    images = genzoo.sample(model_loaded, 4, truncation=0.8)
    channels = 3 if dataset == "image-folder" else 1
    side = 32 if dataset == "image-folder" else 28
    assert images.shape == (4, channels, side, side) and images.min() >= 0 and images.max() <= 1


@pytest.mark.filterwarnings("ignore::genzoo.models.gan.TrainingHealthWarning")  # tiny runs
def test_r1_trains_under_train_compile_as_eager(tmp_path):
    """A gradient penalty needs a double backward, which torch.compile's aot_autograd lacks: R1 (and WGAN-GP's
    penalty, through the same eager_discriminator) run the discriminator's eager forward beneath the compiled one,
    so train.compile trains the same run (up to the compiled kernels' round-off)."""
    lines = {}
    for compiled in (False, True):
        config = build_tiny_config(
            "gan", model={"loss": "hinge", "r1_weight": 1.0}, train={"compile": compiled, "steps": 2}
        )
        genzoo.train(config, tmp_path / str(compiled), verbose=False)
        lines[compiled] = [r for r in read_metrics(tmp_path / str(compiled)) if r["split"] == "test"][-1]
    assert lines[True]["r1_penalty"] == pytest.approx(lines[False]["r1_penalty"], rel=1e-4)
    assert lines[True]["discriminator_loss"] == pytest.approx(lines[False]["discriminator_loss"], rel=1e-4)
