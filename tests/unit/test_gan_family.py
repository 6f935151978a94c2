"""The adversarial models: presets as the issue specifies them, the DCGAN layouts, the losses against their
formulas, one generator forward per step, the players' gradients kept apart, WGAN-GP's schedule and penalty,
the moving average, the health warnings, conditional sampling and the adversarial autoencoder's prior."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

import genzoo
from genzoo.config import RunConfig
from genzoo.data.batches import Batch
from genzoo.data.datasets import ImageSplit
from genzoo.errors import GenzooError
from genzoo.models.gan import (
    DISCRIMINATOR,
    GENERATOR,
    AdversarialHealth,
    TrainingHealthWarning,
    binary_entropy,
)
from genzoo.models.registry import get_model_class
from genzoo.nets.gan_nets import DCDiscriminator, DCGenerator, conv_layout
from genzoo.train.checkpoint import META, WEIGHTS, list_checkpoints, sha256_file
from tests.conftest import build_tiny_config, read_metrics


def build(name: str, **overrides):
    cls = get_model_class(name)
    torch.manual_seed(0)
    return cls(cls.Config(**overrides))


def layers(module: nn.Module, kinds=(nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kinds)]


def batch_of(model, n: int = 8, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    return Batch(torch.rand(n, *model.config.image_shape, generator=gen), torch.randint(10, (n,), generator=gen))


def trainer_steps(model, steps: int, batches=None):
    """What the trainer does per step: each phase's loss, backward(inputs=its group), its optimizer, after_step."""
    groups = model.optimizer_groups()
    every = {id(p) for p in model.parameters() if p.requires_grad}
    optimizers = {g.name: torch.optim.Adam(g.params, lr=1e-3) for g in groups}
    inputs = {g.name: None if {id(p) for p in g.params} == every else g.params for g in groups}
    model.train()
    for step in range(steps):
        batch = batches[step % len(batches)] if batches else batch_of(model, seed=step)
        for phase in model.phases(step):
            out = model.training_step(batch, step, phase)
            optimizers[phase].zero_grad(set_to_none=True)
            out.loss.backward(inputs=inputs[phase])
            optimizers[phase].step()
            model.after_step(phase, step)


# -- presets and layouts ------------------------------------------------------------------------------------------


def test_small_preset_is_the_tensorflow_tutorial_gan():
    model = build("gan", preset="small")
    g, d = layers(model.generator), layers(model.discriminator)
    assert [(m.in_features, m.out_features) for m in g] == [(100, 128), (128, 784)]
    assert [(m.in_features, m.out_features) for m in d] == [(784, 128), (128, 1)]
    assert {type(m) for m in model.generator.modules()} >= {nn.ReLU}
    z = model.noise(5000, torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.99 and z.max() > 0.99  # U[-1, 1]
    out = model.fake(z[:4], None)
    assert out.min() >= 0 and out.max() <= 1  # sigmoid images: real data enters D unscaled
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(model.real(x), x)


def test_wide_preset_is_the_pytorch_tutorial_gan():
    model = build("gan")  # the default preset
    assert model.config.preset == "wide"
    g, d = layers(model.generator), layers(model.discriminator)
    assert [(m.in_features, m.out_features) for m in g] == [(100, 1024), (1024, 1024), (1024, 784)]
    assert [(m.in_features, m.out_features) for m in d] == [(784, 256), (256, 256), (256, 1)]
    slopes = [m.negative_slope for m in model.discriminator.modules() if isinstance(m, nn.LeakyReLU)]
    assert slopes == [0.2, 0.2]
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(model.real(x), 2 * x - 1)  # tanh generator: data scaled to [-1, 1]


@pytest.mark.parametrize("side,expected", [(28, (7, 2)), (32, (4, 3)), (48, (6, 3)), (64, (4, 4))])
def test_conv_layout(side, expected):
    assert conv_layout(side) == expected


def test_conv_layout_refuses_sides_that_do_not_halve_cleanly():
    for side in (30, 7, 1):
        with pytest.raises(GenzooError, match="28, 32, 64"):
            conv_layout(side)


def test_classic_64_is_the_pytorch_dcgan_example():
    """nz=100, ngf=ndf=64, 64x64: layer for layer the example's Generator and Discriminator."""
    g, d = DCGenerator(100, (3, 64, 64), 64), DCDiscriminator((3, 64, 64), 64)
    spec = lambda m: (type(m).__name__, m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
    assert [spec(m) for m in layers(g)] == [
        ("ConvTranspose2d", 100, 512, 4, 1, 0),
        ("ConvTranspose2d", 512, 256, 4, 2, 1),
        ("ConvTranspose2d", 256, 128, 4, 2, 1),
        ("ConvTranspose2d", 128, 64, 4, 2, 1),
        ("ConvTranspose2d", 64, 3, 4, 2, 1),
    ]
    assert [spec(m) for m in layers(d)] == [
        ("Conv2d", 3, 64, 4, 2, 1),
        ("Conv2d", 64, 128, 4, 2, 1),
        ("Conv2d", 128, 256, 4, 2, 1),
        ("Conv2d", 256, 512, 4, 2, 1),
        ("Conv2d", 512, 1, 4, 1, 0),
    ]
    assert len([m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]) == 3  # none on the first layer
    assert all(m.bias is None for m in layers(g) + layers(d))
    assert d(g(torch.randn(2, 100))).shape == (2,)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 32, 32), (3, 28, 28)])
def test_dcgan_sizes_and_channels(shape):
    model = build("dcgan", image_shape=shape, width_g=8, width_d=8, noise_dim=16)
    batch = batch_of(model, 4)
    assert model.fake(model.noise(4), None).shape == (4, *shape)
    assert model.discriminator(model.real(batch.x)).shape == (4,)
    assert model.sample(3, torch.Generator().manual_seed(0)).shape == (3, *shape)


def test_classic_64_preset_resizes_mnist_and_samples_at_the_data_size():
    model = build("dcgan", preset="classic-64", width_g=4, width_d=4, noise_dim=8)
    assert model.side == 64
    assert model.real(torch.rand(2, 1, 28, 28)).shape == (2, 1, 64, 64)
    assert model.fake(model.noise(2), None).shape == (2, 1, 64, 64)
    samples = model.sample(2, torch.Generator().manual_seed(0))
    assert samples.shape == (2, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1


def test_conv_players_are_channels_last():
    model = build("dcgan", image_shape=(3, 32, 32), width_g=4, width_d=4)
    convs = layers(model, (nn.Conv2d, nn.ConvTranspose2d))
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    x = model.real(torch.rand(2, 3, 32, 32))
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert model.fake(model.noise(2), None).is_contiguous(memory_format=torch.channels_last)


def test_wgan_gp_critic_has_no_batch_norm():
    model = build("wgan-gp", width_g=4, width_d=4)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.discriminator.modules())
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in model.discriminator.modules())
    c = model.config
    assert (c.n_critic, c.lr_d, c.betas_d, c.gp_weight) == (5, 1e-4, (0.0, 0.9), 10.0)  # Algorithm 1


@pytest.mark.parametrize(
    "model,overrides,message",
    [
        ("gan", {"width_g": 8}, "model.width_g applies to network=conv"),
        ("dcgan", {"hidden_g": (8,)}, "model.hidden_g applies to network=mlp"),
        ("wgan-gp", {"norm_d": "batch"}, "norm_d=layer or none"),
        ("wgan-gp", {"label_smoothing": 0.1}, "no labels to smooth"),
        ("gan", {"label_smoothing": 0.6}, "label_smoothing=0.6 is out of range"),
        ("gan", {"ema_decay": 0.999}, "model.ema_decay is now train.ema_decay"),
        ("gan", {"n_critic": 0}, "n_critic=0"),
        ("gan", {"lr_d": 0.0}, "lr_d=0.0"),
        ("dcgan", {"image_size": 30}, "does not fit the DCGAN layout"),
        ("aae", {"prior": "mixture", "latent_dim": 3}, "latent_dim=3 is odd"),
    ],
)
def test_bad_settings_fail_in_one_line(model, overrides, message):
    with pytest.raises(GenzooError, match=message) as info:
        RunConfig.from_dict({"model": {"name": model, **overrides}})
    assert "\n" not in str(info.value)


def test_dcgan_on_an_unfit_data_size_says_how_to_resize():
    with pytest.raises(GenzooError, match="set model.image_size"):
        build("dcgan", image_shape=(1, 30, 30))


def test_presets_combine_with_variants_and_resolve_into_the_saved_config():
    config = RunConfig.from_dict({"model": {"name": "wgan-gp", "preset": "wide"}})
    assert config.model.network == "mlp" and config.model.width_g is None and config.model.n_critic == 5
    again = RunConfig.from_dict(config.to_dict())  # config.yaml round trip
    assert again.model == config.model
    explicit = RunConfig.from_dict({"model": {"name": "gan", "preset": "small", "hidden_g": [64]}})
    assert explicit.model.hidden_g == (64,) and explicit.model.noise == "uniform"


# -- the game -------------------------------------------------------------------------------------------------


def test_bce_losses_match_their_formulas_with_label_smoothing():
    model = build("gan", hidden_g=(16,), hidden_d=(16,), noise_dim=4, label_smoothing=0.1)
    batch = batch_of(model)
    torch.manual_seed(3)
    out = model.training_step(batch, 0, DISCRIMINATOR)
    torch.manual_seed(3)
    z = model.noise(len(batch))
    with torch.no_grad():
        real = torch.sigmoid(model.discriminator(model.real(batch.x)))
        fake = torch.sigmoid(model.discriminator(model.fake(z, None)))
    expected = -(0.9 * real.log() + 0.1 * (1 - real).log()).mean() - (1 - fake).log().mean()
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.terms["d_real"], real.mean())
    # The generator's (non-saturating) loss on the same fakes: -log D(G(z)).
    g_loss = model.training_step(batch, 0, GENERATOR).loss
    torch.testing.assert_close(g_loss, -fake.log().mean())


def test_one_generator_forward_per_step_and_the_generator_scores_the_discriminators_fakes():
    model = build("gan", hidden_g=(16,), hidden_d=(16,), noise_dim=4)
    calls = []
    model.generator.register_forward_hook(lambda *args: calls.append(1))
    trainer_steps(model, 3)
    assert len(calls) == 3
    # The generator phase reuses the exact fakes (and graph) the discriminator phase drew.
    batch = batch_of(model)
    model.training_step(batch, 7, DISCRIMINATOR)
    pending = model._pending
    loss = model.training_step(batch, 7, GENERATOR).loss
    torch.testing.assert_close(
        loss, F.binary_cross_entropy_with_logits(model.discriminator(pending.fake).float(), torch.ones(len(batch)))
    )
    assert model._pending is None


def test_each_phase_moves_only_its_players_weights():
    model = build("dcgan", width_g=4, width_d=4, noise_dim=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    groups = {g.name: g for g in model.optimizer_groups()}
    trainer_steps(model, 1)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("discriminator.") for k in changed) and any(k.startswith("generator.") for k in changed)
    # A generator phase alone: the discriminator's weights get no gradient and stay put.
    model.zero_grad(set_to_none=True)
    batch = batch_of(model)
    model.training_step(batch, 1, GENERATOR).loss.backward(inputs=groups[GENERATOR].params)
    assert all(p.grad is None for p in model.discriminator.parameters())
    assert all(p.grad is not None for p in model.generator.parameters())


def test_wgan_gp_runs_n_critic_steps_per_generator_step():
    model = build("wgan-gp", width_g=4, width_d=4, noise_dim=8)
    schedule = [model.phases(step) for step in range(10)]
    assert schedule == [(DISCRIMINATOR,)] * 4 + [(DISCRIMINATOR, GENERATOR)] + [(DISCRIMINATOR,)] * 4 + [
        (DISCRIMINATOR, GENERATOR)
    ]
    assert build("gan").phases(3) == (DISCRIMINATOR, GENERATOR)


def test_gradient_penalty_matches_its_formula_for_a_linear_critic():
    """D(x) = w.x + b has gradient w everywhere: the penalty is (||w|| - 1)^2 and the loss -W + lambda * it."""
    model = build("wgan-gp", preset="wide", hidden_g=(8,), hidden_d=(), noise_dim=4, n_critic=1)
    linear = layers(model.discriminator)[0]
    assert (linear.in_features, linear.out_features) == (784, 1)
    with torch.no_grad():
        linear.weight.normal_(0, 0.1)
    batch = batch_of(model)
    out = model.training_step(batch, 0, DISCRIMINATOR)
    norm = linear.weight.norm()
    torch.testing.assert_close(out.terms["gradient_penalty"], (norm - 1) ** 2)
    torch.testing.assert_close(out.loss, -out.terms["wasserstein"] + 10 * (norm - 1) ** 2)
    out.loss.backward()  # differentiable through the penalty (double backward)
    assert linear.weight.grad is not None and torch.isfinite(linear.weight.grad).all()
    with torch.no_grad():  # evaluation still measures the penalty
        torch.testing.assert_close(
            model.training_step(batch, 0, DISCRIMINATOR).terms["gradient_penalty"], (norm - 1) ** 2
        )


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("gan", {"hidden_g": (16,), "hidden_d": (16,), "noise_dim": 4}),
        ("cgan", {"width_g": 4, "width_d": 4, "noise_dim": 4}),
        ("dcgan", {"width_g": 4, "width_d": 4, "noise_dim": 4}),
        ("wgan-gp", {"width_g": 4, "width_d": 4, "noise_dim": 4, "n_critic": 1}),
        ("aae", {"hidden": (16,), "latent_dim": 2, "prior": "mixture"}),
        ("sngan", {"width_g": 4, "width_d": 4, "noise_dim": 4, "r1_weight": 1.0, "diffaugment": "color,cutout"}),
        ("gan", {"hidden_g": (16,), "hidden_d": (16,), "noise_dim": 4, "loss": "relativistic"}),
        ("dcgan", {"width_g": 4, "width_d": 4, "noise_dim": 4, "loss": "lsgan", "diffaugment": "translation"}),
    ],
)
def test_every_phase_runs_under_bf16_autocast(name, overrides):
    model = build(name, **overrides)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        trainer_steps(model, 2)
    assert all(torch.isfinite(p).all() and p.dtype == torch.float32 for p in model.parameters())


# -- health warnings ------------------------------------------------------------------------------------------


def test_discriminator_win_is_counted_on_the_device_and_warned_once_per_epoch():
    health = AdversarialHealth("gan", loss_floor=0.0, patience=5)
    real = torch.rand(16, 1, 4, 4)
    for step, loss in enumerate([0.5, 0.01, 0.02, 0.01, 1.0] + [0.001] * 6 + [0.9]):
        health.observe(torch.tensor(loss), step)
    with pytest.warns(TrainingHealthWarning, match="discriminator is winning outright.*6 consecutive steps"):
        figures = health.report(real.flip(0), real)
    assert figures["discriminator_win_steps"] == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the next epoch starts afresh: nothing to warn about
        assert health.report(real.flip(0), real)["discriminator_win_steps"] == 0


def test_label_smoothing_raises_the_floor_the_win_is_measured_from():
    assert binary_entropy(1.0) == 0
    assert binary_entropy(0.9) == pytest.approx(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)))
    model = build("gan", hidden_g=(16,), hidden_d=(16,), noise_dim=4, label_smoothing=0.1)
    assert model.health.threshold == pytest.approx(binary_entropy(0.9) + 0.1)


def test_collapsed_samples_warn_and_healthy_ones_do_not():
    model = build("gan", hidden_g=(16,), hidden_d=(16,), noise_dim=4)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    split = ImageSplit(images, torch.zeros(64, dtype=torch.long))
    with torch.no_grad():  # collapse: the generator ignores its noise
        layers(model.generator)[-1].weight.zero_()
    model.eval()
    model.health.peak_diversity.fill_(0.9)  # it had been diverse: this is a collapse, not an untrained start
    with pytest.warns(TrainingHealthWarning, match=r"samples are collapsing.*down from 0\.90"):
        figures = model.diagnostics(split, 64)
    assert figures["sample_diversity"] < 0.01
    health = AdversarialHealth("gan", 0.0)
    real = torch.rand(32, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert health.report(torch.rand(32, 1, 8, 8), real, watch_discriminator=False)["sample_diversity"] > 0.9


def test_an_untrained_generator_is_not_called_collapsed_until_it_fails_to_spread():
    health = AdversarialHealth("gan", 0.0, settle_reports=3)
    real, alike = torch.rand(32, 1, 8, 8), torch.full((32, 1, 8, 8), 0.5) + 0.01 * torch.rand(32, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the first two reports of look-alike samples: the generator is young
        for _ in range(2):
            assert health.report(alike, real, watch_discriminator=False)["sample_diversity"] < 0.1
    with pytest.warns(TrainingHealthWarning, match=r"after 3 reports; .*near 1\); the generator") as caught:
        health.report(alike, real, watch_discriminator=False)
    assert "by step" not in str(caught[0].message)  # no training step seen (a model loaded to be evaluated)


def test_a_wgan_critic_step_dates_the_health_messages():
    """WGAN-GP's critic has no loss floor to watch, but its steps still date a collapse warning."""
    model = build("wgan-gp", width_g=4, width_d=4, noise_dim=8)
    model.train()
    model.training_step(batch_of(model), 6, DISCRIMINATOR)
    assert model.health.last_step == 7


def test_a_checkpoint_from_before_the_collapse_counters_still_loads(tmp_path):
    run = tmp_path / "gan"
    genzoo.train(build_tiny_config("gan", train={"steps": 2}), run, verbose=False)
    weights_file = list_checkpoints(run / "checkpoints")[0] / WEIGHTS
    added = {f"health.{name}" for name in AdversarialHealth.ADDED_STATE}
    old = {k: v for k, v in load_file(str(weights_file)).items() if k not in added}
    save_file(old, str(weights_file))
    meta = json.loads((weights_file.parent / META).read_text())  # re-sign it, as the older version wrote it
    meta["files"][WEIGHTS] = sha256_file(weights_file)
    (weights_file.parent / META).write_text(json.dumps(meta))
    model = genzoo.load(run)
    assert int(model.health.reports) == 0 and float(model.health.peak_diversity) == 0


def test_health_counters_are_saved_so_a_resumed_run_warns_alike():
    model = build("gan", hidden_g=(16,), hidden_d=(16,), noise_dim=4)
    assert {"health.streak", "health.longest"} <= set(model.state_dict())


# -- conditional ----------------------------------------------------------------------------------------------


def test_cgan_labels_pick_what_is_drawn():
    model = build("cgan", preset="wide", hidden_g=(16,), hidden_d=(16,), noise_dim=4).eval()
    first = layers(model.generator)[0]
    assert first.in_features == 4 + 10  # noise and one-hot label
    assert layers(model.discriminator)[0].in_features == 784 + 10
    sevens = model.sample(4, torch.Generator().manual_seed(0), torch.full((4,), 7))
    threes = model.sample(4, torch.Generator().manual_seed(0), torch.full((4,), 3))
    assert not torch.equal(sevens, threes)
    assert torch.equal(sevens, model.sample(4, torch.Generator().manual_seed(0), torch.full((4,), 7)))
    with pytest.raises(GenzooError, match="pass labels"):
        model.decode(torch.randn(2, 4))


def test_conditional_dcgan_stacks_label_planes():
    model = build("cgan", width_g=4, width_d=4, noise_dim=8)  # the default preset: dcgan
    assert model.config.network == "conv"
    assert layers(model.discriminator)[0].in_channels == 1 + 10
    batch = batch_of(model)
    assert torch.isfinite(model.training_step(batch, 0, DISCRIMINATOR).loss)


# -- adversarial autoencoder ----------------------------------------------------------------------------------


def test_aae_groups_follow_the_paper_phases():
    model = build("aae", hidden=(16,), latent_dim=4, hidden_d=(8,))
    groups = {g.name: {id(p) for p in g.params} for g in model.optimizer_groups()}
    assert model.phases(0) == ("autoencoder", DISCRIMINATOR, GENERATOR)
    encoder, decoder = {id(p) for p in model.encoder.parameters()}, {id(p) for p in model.decoder.parameters()}
    assert groups["autoencoder"] == encoder | decoder
    assert groups[GENERATOR] == encoder  # the encoder is the adversarial generator of codes
    assert groups[DISCRIMINATOR] == {id(p) for p in model.discriminator.parameters()}


def test_aae_generator_phase_reuses_the_codes_and_leaves_the_decoder_alone():
    model = build("aae", hidden=(16,), latent_dim=4, hidden_d=(8,))
    calls = []
    model.encoder.register_forward_hook(lambda *args: calls.append(1))
    trainer_steps(model, 2)
    assert len(calls) == 2 * 2  # reconstruction phase + discriminator phase; the generator phase reuses
    model.zero_grad(set_to_none=True)
    batch = batch_of(model)
    model.training_step(batch, 0, DISCRIMINATOR)
    model.training_step(batch, 0, GENERATOR).loss.backward()
    assert all(p.grad is None for p in model.decoder.parameters())
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_aae_mixture_prior_puts_each_class_on_its_own_petal():
    model = build("aae", hidden=(16,), latent_dim=2, prior="mixture")
    gen = torch.Generator().manual_seed(0)
    for k in (0, 2, 7):
        z = model.prior_sample(4000, torch.full((4000,), k), gen)
        angle = 2 * math.pi * k / 10
        torch.testing.assert_close(z.mean(0), 2.0 * torch.tensor([math.cos(angle), math.sin(angle)]), atol=0.05, rtol=0)
    assert "conditional" in model.capabilities and "conditional" not in type(model).capabilities
    assert layers(model.discriminator)[0].in_features == 2 + 10  # codes and one-hot labels
    gaussian = build("aae", hidden=(16,), latent_dim=2)
    assert "conditional" not in gaussian.capabilities and gaussian.latent_prior == "gaussian"


def test_manifold_axes_follow_the_noise_distribution():
    """Uniform noise: the grid spans U[-1, 1]'s quantiles, never values the generator was not trained on."""
    from genzoo.explore.latent import axis_values, manifold

    uniform, gaussian = build("gan", preset="small", noise_dim=4), build("gan", noise="gaussian", noise_dim=4)
    assert uniform.latent_prior == "uniform"
    values = axis_values(uniform, 5, None, 0)
    assert values.abs().max() <= 1 and values[0] == pytest.approx(-0.9) and values[-1] == pytest.approx(0.9)
    assert axis_values(gaussian, 5, None, 0)[-1] == pytest.approx(1.6449, abs=1e-3)  # N(0, 1) at 0.95
    images, dims = manifold(uniform.eval(), n=3)
    assert images.shape == (9, 1, 28, 28) and dims == (0, 1)


# -- through the trainer --------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::genzoo.models.gan.TrainingHealthWarning")  # tiny runs
def test_wgan_gp_through_the_trainer_logs_each_player_per_own_step(tmp_path):
    config = build_tiny_config(
        "wgan-gp", model={"width_g": 4, "width_d": 4, "noise_dim": 8, "n_critic": 3}, train={"log_every": 3}
    )
    genzoo.train(config, tmp_path / "run", verbose=False)
    records = read_metrics(tmp_path / "run")
    train = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train] == [3, 6, 8]
    for r in train:
        assert {"discriminator_loss", "wasserstein", "gradient_penalty"} <= set(r)
    assert "generator_loss" in train[0] and "generator_loss" in train[1]  # steps 2 and 5 ran the generator
    assert "generator_loss" not in train[2]  # steps 6 and 7 did not
    (test,) = [r for r in records if r["split"] == "test"]
    assert {"discriminator_loss", "generator_loss", "sample_diversity"} <= set(test)  # every player, every epoch
    assert "discriminator_win_steps" not in test  # a critic's loss has no floor to win at


@pytest.mark.filterwarnings("ignore::genzoo.models.gan.TrainingHealthWarning")  # tiny runs
def test_gan_learns_the_data_in_a_short_run(tmp_path):
    """A real (if tiny) check that the game learns: after 192 steps on 2048 digits the mean sample is far closer
    to the mean digit than the untrained generator's (a GAN's players never lower the sum of their losses)."""
    config = build_tiny_config(
        "gan",
        model={"hidden_g": (64,), "hidden_d": (64,), "noise_dim": 16, "lr_g": 1e-3, "lr_d": 1e-3},
        data={"train_size": 2048},
        train={"epochs": 3},
    )
    run = tmp_path / "run"
    untrained = get_model_class("gan")(RunConfig.from_dict(config).model)
    result = genzoo.train(config, run, verbose=False)
    model = genzoo.load(run)
    digits = genzoo.api.load_data(RunConfig.from_dict(config)).train.images.float().div(255).mean(0)
    gap = lambda m: (genzoo.sample(m, 256).mean(0) - digits).abs().mean().item()
    assert gap(model) < 0.5 * gap(untrained.eval())
    assert {"d_real", "d_fake", "discriminator_loss", "generator_loss"} <= set(result.test)
