"""The shared pieces under the models: config checks and their wording, the activation table's explicit slopes,
settings resolved before a config is built, and the declared latent priors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from genzoo import checks
from genzoo.config import RunConfig
from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.models.base import CONDITIONAL, LATENT_PRIORS, GenerativeModel
from genzoo.models.registry import MODELS, get_model_class
from genzoo.models.vae import Penalty


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: checks.positive("train.lr", 0.0), "train.lr=0.0 is out of range; expected a value > 0"),
        (lambda: checks.positive("train.lr", float("nan")), "train.lr=nan is out of range; expected a value > 0"),
        (
            lambda: checks.at_least("model.free_bits", -1, 0, "nats per latent dimension"),
            "model.free_bits=-1 is out of range; expected >= 0 (nats per latent dimension)",
        ),
        (lambda: checks.sizes("model.hidden", (64, 0)), "model.hidden=[64, 0] is out of range; expected sizes > 0"),
        (
            lambda: checks.sizes("model.channels", (), non_empty=True),
            "model.channels=[] is out of range; expected a non-empty list of sizes > 0",
        ),
        (
            lambda: checks.adam_betas("model.betas_d", (1.0, 0.9)),
            "model.betas_d=[1.0, 0.9] is out of range; expected two values in [0, 1)",
        ),
        (
            lambda: checks.one_of("train.precision", "fp16", ("auto", "fp32", "bf16")),
            "train.precision='fp16'; expected one of auto, fp32, bf16",
        ),
    ],
)
def test_one_wording_names_the_full_key_the_value_and_what_was_expected(call, message):
    with pytest.raises(GenzooError) as info:
        call()
    assert str(info.value) == message


def test_checks_pass_good_values_and_an_unset_positive():
    checks.positive("train.steps", None)
    checks.sizes("model.hidden", ())
    checks.adam_betas("train.betas", (0.0, 0.999))
    checks.at_least("model.beta", 0, 0)


@pytest.mark.parametrize(
    "name,overrides,key",
    [
        ("ae", {"latent_dim": 0}, "model.latent_dim=0"),
        ("ae", {"network": "conv", "tied": True}, "model.tied=true needs network=mlp"),
        ("dae", {"noise_std": -1.0}, "model.noise_std=-1.0"),
        ("cae", {"contraction": -1.0}, "model.contraction=-1.0"),
        ("cae", {"projections": 0}, "model.projections=0"),
        ("gan", {"noise_dim": 0}, "model.noise_dim=0"),
        ("dcgan", {"width_d": 0}, "model.width_d=0"),
        ("aae", {"lr_g": 0.0}, "model.lr_g=0.0 is out of range; expected a value > 0"),
        ("aae", {"hidden_d": [8, 0]}, "model.hidden_d=[8, 0]"),
        ("factor-vae", {"discriminator_lr": 0.0}, "model.discriminator_lr=0.0 is out of range; expected a value > 0"),
    ],
)
def test_every_model_error_names_the_model_key(name, overrides, key):
    with pytest.raises(GenzooError, match="^command line: " + key.replace("[", r"\[").replace("]", r"\]")):
        RunConfig.from_dict({"model": {"name": name, **overrides}}, "command line")


def slopes(module: nn.Module) -> set[float]:
    return {m.negative_slope for m in module.modules() if isinstance(m, nn.LeakyReLU)}


@pytest.mark.parametrize(
    "name,overrides,networks,slope,key,resolved",
    [
        (
            "vae",
            {"activation": "leaky_relu", "hidden": (8,), "latent_dim": 2},
            ("encoder", "decoder"),
            0.01,
            "activation",
            "leaky_relu_0.01",
        ),
        (
            "ae",
            {"activation": "leaky_relu", "hidden": (8,), "latent_dim": 2},
            ("encoder", "decoder"),
            0.01,
            "activation",
            "leaky_relu_0.01",
        ),
        (
            "ladder-vae",
            {"activation": "leaky_relu", "hidden": (8, 4), "latent_dims": (2, 2)},
            ("up", "down", "decoder"),
            0.01,
            "activation",
            "leaky_relu_0.01",
        ),
        (
            "gan",
            {"activation_g": "leaky_relu", "hidden_g": (8,), "hidden_d": (8,), "noise_dim": 2},
            ("generator", "discriminator"),
            0.2,
            "activation_g",
            "leaky_relu_0.2",
        ),
        ("aae", {"hidden": (8,), "hidden_d": (8,)}, ("discriminator",), 0.2, "activation_d", "leaky_relu_0.2"),
    ],
)
def test_a_bare_leaky_relu_keeps_the_slope_its_family_always_meant(name, overrides, networks, slope, key, resolved):
    config = RunConfig.from_dict({"model": {"name": name, **overrides}})
    assert getattr(config.model, key) == resolved  # config.yaml records the explicit name
    assert RunConfig.from_dict(config.to_dict()) == config
    model = get_model_class(name)(config.model)
    assert set().union(*(slopes(getattr(model, n)) for n in networks)) == {slope}


def test_explicit_slopes_can_be_asked_for_in_either_family():
    vae = RunConfig.from_dict({"model": {"name": "vae", "activation": "leaky_relu_0.2", "hidden": (8,)}}).model
    assert slopes(get_model_class("vae")(vae).encoder) == {0.2}
    gan = RunConfig.from_dict(
        {"model": {"name": "gan", "activation_d": "leaky_relu_0.01", "hidden_d": (8,), "hidden_g": (8,)}}
    ).model
    assert slopes(get_model_class("gan")(gan).discriminator) == {0.01}


def test_presets_and_prior_defaults_are_resolved_before_the_frozen_config_exists():
    gan = get_model_class("gan").Config(preset="small")
    assert (gan.network, gan.noise, gan.hidden_g, gan.activation_d, gan.lr_d) == (
        "mlp",
        "uniform",
        (128,),
        "relu",
        1e-3,
    )
    assert gan.width_g is None  # the conv network's settings stay unset
    assert dataclasses.replace(gan, image_shape=(1, 32, 32)).hidden_d == (128,)
    aae = get_model_class("aae").Config(prior="mixture")
    assert (aae.latent_dim, aae.lr_d, aae.betas_g) == (2, 1e-3, (0.9, 0.999))
    with pytest.raises(dataclasses.FrozenInstanceError):
        gan.noise = "gaussian"  # type: ignore[misc]


@pytest.mark.parametrize(
    "name,overrides,conditional",
    [
        ("vae", {"hidden": (8,), "latent_dim": 2}, False),
        ("cvae", {"hidden": (8,), "latent_dim": 2}, True),
        ("gan", {"hidden_g": (8,), "hidden_d": (8,), "noise_dim": 2}, False),
        ("cgan", {"width_g": 2, "width_d": 2, "noise_dim": 2}, True),
        ("aae", {"hidden": (8,), "hidden_d": (8,)}, False),
        ("aae", {"hidden": (8,), "hidden_d": (8,), "prior": "mixture"}, True),  # a setting makes it conditional
    ],
)
def test_conditional_is_the_declared_capability(name, overrides, conditional):
    cls = get_model_class(name)
    model = cls(cls.Config(**overrides))
    assert model.conditional == (CONDITIONAL in model.capabilities) == conditional
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([3, 5])
    assert model.labels_of(Batch(x, y)) is (y if conditional else None)


def test_latent_priors_are_declared_from_the_documented_set():
    for cls in MODELS.values():
        assert cls.latent_prior is None or cls.latent_prior in LATENT_PRIORS, cls.name
    with pytest.raises(TypeError, match="latent_prior='normal'"):
        type("Odd", (GenerativeModel,), {"latent_prior": "normal"})


def test_penalties_declare_their_optimizer_group():
    for name, group in [("info-vae", None), ("beta-tcvae", None), ("factor-vae", "discriminator")]:
        cls = get_model_class(name)
        model = cls(cls.Config(hidden=(8,), latent_dim=2, **({"discriminator_hidden": (4,)} if group else {})))
        assert isinstance(model.penalty, Penalty) and model.penalty.group == group
        assert [g.name for g in model.optimizer_groups()] == ["loss"] + ([group] if group else [])
    assert torch.is_tensor(model.penalty.optimizer_group().params[0])
