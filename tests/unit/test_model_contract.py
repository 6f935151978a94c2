"""The contract every registered model inherits.

The cases are built from `genzoo.models.registry.model_names()`, so a model registered later gets every test
here without editing this file. `TINY_OVERRIDES` shrinks a model for speed (a model missing from it is built
with its defaults); `EXTRA_CASES` adds option variants that deserve the same contract.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genzoo.api import build_model
from genzoo.config import RunConfig
from genzoo.data.batches import Batch, to_float
from genzoo.errors import CapabilityError
from genzoo.models import base
from genzoo.models.base import ALL_CAPABILITIES, DECODE, ENCODE, RECONSTRUCT, SAMPLE, GenerativeModel
from genzoo.models.registry import get_model_class, model_names
from genzoo.train.checkpoint import latest_valid, load_weights, save_checkpoint

# Per-model tiny config overrides (keys of the model's Config dataclass).
TINY_OVERRIDES: dict[str, dict] = {
    "ae": {"hidden": (32,), "latent_dim": 4},
    "vae": {"hidden": (32,), "latent_dim": 4},
    "conv-ae": {"channels": (4, 8), "latent_dim": 4},
    "dae": {"hidden": (32,), "latent_dim": 4},
    "cae": {"latent_dim": 8},
    "lstm-ae": {"hidden": (16,), "latent_dim": 4},
    "cvae": {"hidden": (32,), "latent_dim": 4},
    "iwae": {"hidden": (32,), "latent_dim": 4, "samples": 3},
    "vamp-vae": {"hidden": (32,), "latent_dim": 4, "pseudo_inputs": 8},
    "info-vae": {"hidden": (32,), "latent_dim": 4},
    "beta-tcvae": {"hidden": (32,), "latent_dim": 4},
    "factor-vae": {"hidden": (32,), "latent_dim": 4, "discriminator_hidden": (16, 16)},
    "ladder-vae": {"hidden": (32, 16), "latent_dims": (4, 2)},
    "wae": {"hidden": (32,), "latent_dim": 4},
    "rae": {"hidden": (32,), "latent_dim": 4},
    "dip-vae": {"hidden": (32,), "latent_dim": 4},
    "cat-vae": {"hidden": (32,), "categoricals": 3, "classes": 4},
    "vq-vae": {"channels": (4, 8), "codes": 8, "code_dim": 4, "prior_channels": 8, "prior_layers": 2},
    "gan": {"hidden_g": (32,), "hidden_d": (32,), "noise_dim": 8},
    "cgan": {"width_g": 4, "width_d": 4, "noise_dim": 8},
    "dcgan": {"width_g": 4, "width_d": 4, "noise_dim": 8},
    "wgan-gp": {"width_g": 4, "width_d": 4, "noise_dim": 8, "n_critic": 2},
    "sngan": {"width_g": 4, "width_d": 4, "noise_dim": 8},
    "infogan": {"width_g": 4, "width_d": 4, "noise_dim": 8, "q_hidden": 8},
    "acgan": {"width_g": 4, "width_d": 4, "noise_dim": 8},
    "aae": {"hidden": (32,), "latent_dim": 4, "hidden_d": (16,)},
    "vae-gan": {"channels": (4, 8), "latent_dim": 4, "width_d": 4},
}
EXTRA_CASES: list[tuple[str, dict]] = [
    ("conv-ae", {"network": "conv-classic", "latent_dim": 32}),
    ("dae", {"noise": "gaussian", "hidden": (32,), "latent_dim": 4}),
    ("dae", {"network": "conv", "channels": (4, 8), "latent_dim": 4}),
    ("cae", {"hidden": (16,), "latent_dim": 4, "projections": 2}),
    ("ae", {"tied": True}),
    ("ae", {"loss": "mse"}),
    ("vae", {"likelihood": "gaussian", "sigma": 0.3}),
    ("vae", {"network": "conv", "channels": (4, 8), "latent_dim": 4}),
    ("vae", {"likelihood": "gaussian", "learn_sigma": True, "hidden": (32,), "latent_dim": 4}),
    ("gan", {"preset": "small", "label_smoothing": 0.1}),
    ("dcgan", {"image_shape": (3, 32, 32)}),
    ("dcgan", {"image_size": 32, "channels_last": False}),
    ("cgan", {"preset": "wide", "width_g": None, "width_d": None, "hidden_g": (32,), "hidden_d": (32,)}),
    ("wgan-gp", {"preset": "wide", "width_g": None, "width_d": None, "hidden_g": (32,), "hidden_d": (32,)}),
    ("gan", {"loss": "relativistic", "spectral_norm": True, "r1_weight": 1.0, "diffaugment": "color,translation"}),
    ("dcgan", {"loss": "lsgan", "norm_d": "none", "r1_weight": 1.0, "r1_every": 2, "diffaugment": "cutout"}),
    ("sngan", {"image_shape": (3, 32, 32), "diffaugment": "color,translation,cutout"}),
    ("infogan", {"preset": "small", "width_g": None, "width_d": None, "noise_dim": 8, "q_std": "learned"}),
    ("cgan", {"conditioning": "projection", "spectral_norm": True, "loss": "hinge"}),
    ("cgan", {"preset": "small", "width_g": None, "width_d": None, "conditioning": "projection"}),
    ("acgan", {"preset": "small", "width_g": None, "width_d": None, "spectral_norm": True, "r1_weight": 1.0}),
    ("acgan", {"loss": "wgan-gp", "diffaugment": "translation", "width_g": 4, "width_d": 4, "noise_dim": 8}),
    ("beta-tcvae", {"hidden": (32,), "latent_dim": 4, "estimator": "mss"}),
    ("aae", {"prior": "mixture"}),
    ("aae", {"network": "conv", "channels": (4, 8)}),
    ("vq-vae", {"channels": (4, 8), "codes": 8, "code_dim": 4, "prior_start": 3, "loss": "mse"}),
    ("wae", {"hidden": (32,), "latent_dim": 4, "kernel": "rbf", "loss": "bce"}),
    ("rae", {"hidden": (32,), "latent_dim": 4, "regularizer": "gp"}),
    ("dip-vae", {"hidden": (32,), "latent_dim": 4, "variant": "ii"}),
    ("vae", {"hidden": (32,), "latent_dim": 4, "capacity_max": 5.0, "capacity_steps": 10, "gamma": 10.0}),
    ("vae", {"hidden": (32,), "latent_dim": 4, "flow": "iaf", "flow_steps": 2, "flow_hidden": 8}),
    ("cat-vae", {"hidden": (32,), "categoricals": 3, "classes": 4, "continuous_dim": 2}),
    ("cat-vae", {"network": "conv", "channels": (4, 8), "categoricals": 2, "classes": 3}),
]

CASES = [(name, {}) for name in model_names()] + EXTRA_CASES


def case_id(case) -> str:
    name, extra = case
    return name + "".join(f"-{k}={v}" for k, v in extra.items())


CASE_IDS = [case_id(c) for c in CASES]
# The verbs with an output to check; other capabilities (e.g. "conditional") qualify how these are called.
VERBS = (ENCODE, DECODE, RECONSTRUCT, SAMPLE)
CONDITIONAL = getattr(base, "CONDITIONAL", "conditional")
UNDECLARED = [
    (name, extra, verb) for name, extra in CASES for verb in VERBS if verb not in get_model_class(name).capabilities
]

BATCH = 5


def model_config(name: str, extra: dict):
    cls = get_model_class(name)
    return cls.Config(**{**TINY_OVERRIDES.get(name, {}), **extra})


def make_model(name: str, extra: dict, seed: int = 0) -> GenerativeModel:
    config = RunConfig(model=model_config(name, extra), model_name=name, seed=seed)
    _, model = build_model(config)  # seeds torch with config.seed, then builds: the path train/load take
    return model


def latent_size(model: GenerativeModel) -> int:
    caps = model.capabilities
    return model.latent_dim if (ENCODE in caps or DECODE in caps or SAMPLE in caps) else 4


def inputs(model: GenerativeModel, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(BATCH, *model.config.image_shape, generator=gen)
    z = torch.randn(BATCH, latent_size(model), generator=gen)
    return x, z


def label_kwargs(model: GenerativeModel, n: int) -> dict:
    """A conditional model takes class labels (n,) with its verbs; other models take none."""
    if CONDITIONAL not in model.capabilities:
        return {}
    return {"labels": torch.arange(n) % model.config.num_classes}


def call_verb(model: GenerativeModel, verb: str, x: torch.Tensor, z: torch.Tensor, sample_seed: int = 7):
    if verb == ENCODE:
        return model.encode(x, **label_kwargs(model, len(x)))
    if verb == DECODE:
        return model.decode(z, **label_kwargs(model, len(z)))
    if verb == RECONSTRUCT:
        return model.reconstruct(x, **label_kwargs(model, len(x)))
    if verb == SAMPLE:
        n = BATCH + 2
        return model.sample(n, generator=torch.Generator().manual_seed(sample_seed), **label_kwargs(model, n))
    raise AssertionError(f"unknown verb {verb}")


@torch.no_grad()
def declared_outputs(model: GenerativeModel, x: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """The output of every verb the model declares, with fixed inputs and fixed sampling noise."""
    model.eval()
    return {verb: call_verb(model, verb, x, z) for verb in VERBS if verb in model.capabilities}


def mnist_batch(mnist_small, model: GenerativeModel, n: int = 64) -> Batch:
    if tuple(model.config.image_shape) == tuple(mnist_small.image_shape):
        return Batch(to_float(mnist_small.train.images[:n]), mnist_small.train.labels[:n])
    gen = torch.Generator().manual_seed(0)  # a future model with another image shape: random images
    return Batch(torch.rand(n, *model.config.image_shape, generator=gen), torch.zeros(n, dtype=torch.long))


# -- declared capabilities ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,extra", CASES, ids=CASE_IDS)
def test_declares_known_capabilities_and_metadata(name, extra):
    cls = get_model_class(name)
    assert cls.name == name
    assert cls.summary
    assert cls.capabilities, "a model must declare at least one verb"
    assert set(cls.capabilities) <= set(ALL_CAPABILITIES)
    if RECONSTRUCT in cls.capabilities:  # the base reconstruct is decode(encode(x))
        assert {ENCODE, DECODE} <= set(cls.capabilities)


CONFIG_CAPABILITIES = [
    (name, verb, setting)
    for name in model_names()
    for verb, setting in get_model_class(name).config_capabilities.items()
]


@pytest.mark.parametrize("name,verb,setting", CONFIG_CAPABILITIES)
def test_a_config_capability_appears_with_its_setting_only(name, verb, setting):
    """`genzoo models` lists "VERB with model.KEY=VALUE": building with that setting must add the verb."""
    assert verb in ALL_CAPABILITIES and verb not in get_model_class(name).capabilities
    key, value = setting.removeprefix("model.").split("=")
    assert verb not in make_model(name, TINY_OVERRIDES.get(name, {})).capabilities
    assert verb in make_model(name, {**TINY_OVERRIDES.get(name, {}), key: value}).capabilities


@pytest.mark.parametrize("name,extra", CASES, ids=CASE_IDS)
def test_declared_outputs_have_declared_shapes(name, extra):
    model = make_model(name, extra)
    x, z = inputs(model)
    out = declared_outputs(model, x, z)
    assert set(out) == set(model.capabilities) & set(VERBS)
    image_shape = tuple(model.config.image_shape)
    for verb, tensor in out.items():
        assert torch.isfinite(tensor).all(), verb
        if verb == ENCODE:
            assert tensor.shape == (BATCH, model.latent_dim)
        elif verb == SAMPLE:
            assert tensor.shape == (BATCH + 2, *image_shape)
        else:
            assert tensor.shape == (BATCH, *image_shape), verb
        if verb != ENCODE:  # images, in [0, 1]
            assert tensor.dtype == torch.float32
            assert tensor.min() >= 0 and tensor.max() <= 1, verb


@pytest.mark.parametrize("name,extra", CASES, ids=CASE_IDS)
def test_reconstruct_is_decode_of_encode(name, extra):
    model = make_model(name, extra)
    if RECONSTRUCT not in model.capabilities:
        with pytest.raises(CapabilityError):
            model.reconstruct(inputs(model)[0])
        return
    x, _ = inputs(model)
    with torch.no_grad():
        code = call_verb(model, ENCODE, x, None)
        assert torch.allclose(call_verb(model, RECONSTRUCT, x, None), call_verb(model, DECODE, None, code))


@pytest.mark.parametrize("name,extra", CASES, ids=CASE_IDS)
def test_sample_is_reproducible_with_a_generator(name, extra):
    model = make_model(name, extra)
    if SAMPLE not in model.capabilities:
        with pytest.raises(CapabilityError):
            model.sample(2, generator=torch.Generator().manual_seed(0))
        return
    with torch.no_grad():
        a = call_verb(model, SAMPLE, None, None, sample_seed=3)
        b = call_verb(model, SAMPLE, None, None, sample_seed=3)
        c = call_verb(model, SAMPLE, None, None, sample_seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name,extra,verb", UNDECLARED, ids=[f"{case_id((n, e))}-{v}" for n, e, v in UNDECLARED])
def test_undeclared_verb_raises_capability_error(name, extra, verb):
    model = make_model(name, extra)
    x, z = inputs(model)
    with pytest.raises(CapabilityError) as info:
        call_verb(model, verb, x, z)
    message = str(info.value)
    assert "\n" not in message  # the CLI prints it on one line
    assert repr(name) in message and verb in message


@pytest.mark.parametrize("name,extra", CASES, ids=CASE_IDS)
def test_log_weights_when_declared(name, extra):
    """log_weights(x, k) -> (k, B) finite, reproducible with a generator; CapabilityError where undeclared."""
    model = make_model(name, extra)
    x, _ = inputs(model)
    log_likelihood = getattr(base, "LOG_LIKELIHOOD", "log_likelihood")
    if log_likelihood not in model.capabilities:
        with pytest.raises(CapabilityError):
            model.log_weights(x, 2, generator=torch.Generator().manual_seed(0))
        return
    model.eval()
    with torch.no_grad():
        a, b, c = (
            model.log_weights(x, 3, generator=torch.Generator().manual_seed(seed), **label_kwargs(model, len(x)))
            for seed in (0, 0, 1)
        )
    assert a.shape == (3, BATCH) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_ae_sample_error_says_why():
    model = make_model("ae", {})
    with pytest.raises(CapabilityError, match="no prior over codes: sample through a mixture .* --sampler gmm"):
        model.sample(4)


def test_a_missing_verb_gives_the_reason_for_that_verb():
    gan = make_model("gan", TINY_OVERRIDES["gan"])
    with pytest.raises(CapabilityError, match="a GAN has no encoder"):
        gan.encode(torch.zeros(1, 1, 28, 28))
    with pytest.raises(
        CapabilityError,
        match=r"cannot log_likelihood \(a test log-likelihood needs a model that "
        r"defines p\(x\): vae, iwae",
    ):
        gan.log_weights(torch.zeros(1, 1, 28, 28), 2)


# -- persistence ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,extra", CASES, ids=CASE_IDS)
def test_checkpoint_round_trip_gives_identical_outputs(name, extra, tmp_path):
    model = make_model(name, extra, seed=0)
    x, z = inputs(model)
    expected = declared_outputs(model, x, z)
    save_checkpoint(tmp_path / "checkpoints", 3, model.state_dict(), {"step": 3}, {"epoch": 0.5, "model": name})
    checkpoint = latest_valid(tmp_path / "checkpoints")
    assert checkpoint is not None and checkpoint.step == 3

    fresh = make_model(name, extra, seed=1)  # different initial weights...
    before = declared_outputs(fresh, x, z)
    assert any(not torch.equal(before[v], expected[v]) for v in expected)
    fresh.load_state_dict(load_weights(checkpoint))  # ...until the checkpoint is loaded
    after = declared_outputs(fresh, x, z)
    for verb in expected:
        assert torch.equal(after[verb], expected[verb]), verb
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


# -- determinism and learning ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name,extra", CASES, ids=CASE_IDS)
def test_same_seed_same_params_and_loss(name, extra, mnist_small):
    a, b, other = make_model(name, extra, seed=5), make_model(name, extra, seed=5), make_model(name, extra, seed=6)
    params_a, params_b = dict(a.named_parameters()), dict(b.named_parameters())
    assert params_a.keys() == params_b.keys()
    for key in params_a:
        assert torch.equal(params_a[key], params_b[key]), key
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), other.parameters()))

    batch = mnist_batch(mnist_small, a, n=16)
    phase = a.phases(0)[0]
    torch.manual_seed(11)
    out_a = a.training_step(batch, 0, phase)
    torch.manual_seed(11)
    out_b = b.training_step(batch, 0, phase)
    assert out_a.loss.ndim == 0 and torch.isfinite(out_a.loss)
    assert out_a.loss.requires_grad
    assert torch.equal(out_a.loss, out_b.loss)
    assert out_a.terms.keys() == out_b.terms.keys()
    for key, value in out_a.terms.items():
        assert value.ndim == 0 and not value.requires_grad, key
        assert torch.equal(value, out_b.terms[key]), key


@pytest.mark.parametrize("name,extra", CASES, ids=CASE_IDS)
def test_adam_steps_on_a_fixed_batch_lower_the_loss(name, extra, mnist_small):
    """25 Adam steps on one batch lower the loss. With several optimizer groups (the players of a GAN) each group
    is checked on its own: its steps lower its own phase's loss while the other groups stay fixed (players of a
    game do not lower the sum of their losses together), at lr 3e-3 (against a fixed opponent the phase is a
    plain minimisation; the players' own small learning rates would need far more than 25 steps)."""
    model = make_model(name, extra)
    batch = mnist_batch(mnist_small, model, n=64)
    groups = model.optimizer_groups()
    trials = [None] if len(groups) == 1 else [g.name for g in groups]  # None: the model's own phases
    model.train()
    for only in trials:
        optimizers = {g.name: torch.optim.Adam(g.params, lr=(g.lr or 3e-3) if only is None else 3e-3) for g in groups}

        def phases(step: int, only: str | None = only) -> tuple[str, ...]:
            return model.phases(step) if only is None else (only,)

        def loss_now() -> float:
            torch.manual_seed(0)  # the same noise for the before/after comparison
            with torch.no_grad():
                return sum(model.training_step(batch, 0, phase).loss.item() for phase in phases(0))

        before = loss_now()
        for step in range(25):
            for phase in phases(step):
                optimizer = optimizers[phase]
                optimizer.zero_grad(set_to_none=True)
                model.training_step(batch, step, phase).loss.backward()
                optimizer.step()
        after = loss_now()
        assert after < 0.9 * before, (only, before, after)


# -- tied autoencoder -----------------------------------------------------------------------------------------


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_tied_ae_has_fewer_parameters_than_untied():
    config = {"hidden": (64, 32), "latent_dim": 8}
    untied = make_model("ae", {**config})
    tied = make_model("ae", {**config, "tied": True})
    assert count_params(tied) < count_params(untied)
    # Exactly the decoder's weight matrices are saved: the decoder only adds biases.
    weight_count = sum(p.numel() for n, p in untied.named_parameters() if n.startswith("decoder") and "weight" in n)
    assert count_params(untied) - count_params(tied) == weight_count
    assert all(not key.startswith("decoder") or "bias" in key for key in tied.state_dict())


def first_linear(module: torch.nn.Module) -> torch.nn.Linear:
    return next(m for m in module.modules() if isinstance(m, torch.nn.Linear))


@pytest.mark.parametrize("tied", [True, False])
def test_tied_decoder_uses_the_encoder_weights(tied):
    model = make_model("ae", {"hidden": (64, 32), "latent_dim": 8, "tied": tied})
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model.decode(z)
        first_linear(model.encoder).weight.add_(0.5)  # the tied decoder's last layer
        after = model.decode(z)
    assert torch.equal(before, after) is (not tied)


@pytest.mark.parametrize("tied", [True, False])
def test_tied_decoder_trains_the_encoder_weights(tied):
    model = make_model("ae", {"hidden": (32,), "latent_dim": 4, "tied": tied})
    z = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))  # codes from outside: no encoder path
    model.decode(z).sum().backward()
    grad = first_linear(model.encoder).weight.grad
    if tied:
        assert grad is not None and grad.abs().sum() > 0
        assert len(list(model.decoder.parameters())) == 2  # one bias per mirrored layer, no weight matrices
    else:
        assert grad is None


PRECISION_EVIDENCE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "precision.json"


@pytest.mark.parametrize("name", model_names())
def test_a_model_declared_bf16_safe_has_the_measurement_behind_it(name):
    """train.precision=auto gives bf16 only to models declared bf16_safe, and a declaration stands on the committed
    measurement (benchmarks/precision.py): bf16 reached fp32's quality figure at the same steps within the seed
    spread. A model without that evidence stays fp32 under auto."""
    if not get_model_class(name).bf16_safe:
        return
    verdicts = json.loads(PRECISION_EVIDENCE.read_text())["verdicts"]
    assert name in verdicts and verdicts[name]["done"], f"{name} is declared bf16_safe but was never measured"
    assert verdicts[name]["keeps_quality"], f"{name} is declared bf16_safe but lost quality in bf16: {verdicts[name]}"
