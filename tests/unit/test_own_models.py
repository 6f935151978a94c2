"""Your own model classes and networks in genzoo: registered from your code (`@genzoo.register`), checked by
`genzoo.testing.check_model`, trained and loaded through the API like genzoo's own; networks of your own in place
of a model's, checked against the shapes it needs and rebuilt from the run's code.yaml. (Entry points and the
command line: tests/integration/test_interop.py.)"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import torch
import yaml
from torch import nn

import genzoo
from genzoo.api import save_traversal
from genzoo.data.batches import Batch
from genzoo.models.base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, ModelConfig, StepOutput
from genzoo.models.registry import MODELS
from genzoo.run_folder import RunFolder
from genzoo.testing import check_model

from conftest import build_tiny_config, read_metrics


@dataclass(frozen=True)
class TinyConfig(ModelConfig):
    latent_dim: int = 4
    hidden: int = 32


class TinyAE(genzoo.GenerativeModel):
    """A user's model: an MLP autoencoder whose samples decode N(0, I) codes (a toy, but every verb)."""

    name = "tiny-ae"
    summary = "a user's MLP autoencoder"
    Config = TinyConfig
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})

    def __init__(self, config: TinyConfig):
        super().__init__(config)
        pixels = config.image_shape[0] * config.image_shape[1] * config.image_shape[2]
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(pixels, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.latent_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden), nn.ReLU(), nn.Linear(config.hidden, pixels)
        )

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z)).view(-1, *self.config.image_shape)

    def sample(self, n, generator=None, labels=None):
        return self.decode(torch.randn(n, self.latent_dim, generator=generator, device=self.device))

    def training_step(self, batch: Batch, step: int, phase: str = "loss") -> StepOutput:
        logits = self.decoder(self.encoder(batch.x))
        recon = nn.functional.binary_cross_entropy_with_logits(logits, batch.x.flatten(1), reduction="sum") / len(batch)
        return StepOutput(recon, {"recon": recon.detach()})


@pytest.fixture
def tiny_ae():
    """TinyAE registered for one test, then removed (other tests list every registered model)."""
    genzoo.register(TinyAE)
    yield TinyAE
    MODELS.pop("tiny-ae", None)


# -- check_model --------------------------------------------------------------------------------------------------
def test_check_model_passes_a_users_model_and_genzoos_own():
    checks = check_model(TinyAE, {"latent_dim": 4})
    assert checks == [
        "declaration",
        "config through config.yaml",
        "same seed, same weights",
        "optimizer groups and phases",
        "training step",
        "declared verbs",
        "Adam steps lower the loss",
        "state dict round trip (safetensors)",
    ]
    gan = MODELS["gan"]
    assert len(check_model(gan, {"hidden_g": (32,), "hidden_d": (32,), "noise_dim": 8})) == 8  # two players


class NoisySample(TinyAE):
    def sample(self, n, generator=None, labels=None):
        return self.decode(torch.randn(n, self.latent_dim))  # ignores the generator


class Unclamped(TinyAE):
    def decode(self, z):
        return self.decoder(z).view(-1, *self.config.image_shape)  # logits, not images in [0, 1]


class Forgotten(TinyAE):
    def __init__(self, config):
        super().__init__(config)
        self.scale = nn.Parameter(torch.ones(1))

    def optimizer_groups(self):
        return [genzoo.OptimizerGroup("loss", [*self.encoder.parameters(), *self.decoder.parameters()])]


class Stuck(TinyAE):
    def training_step(self, batch, step, phase="loss"):
        loss = 1.0 + 0.0 * sum(p.sum() for p in self.parameters())
        return StepOutput(loss)


@dataclass(frozen=True)
class ListConfig(TinyConfig):
    widths: list = dataclasses.field(default_factory=list)  # a type config.yaml cannot read back


class Unreadable(TinyAE):
    Config = ListConfig


class Undeclared(TinyAE):
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT})  # but sample() still draws


@pytest.mark.parametrize(
    "cls, words",
    [
        (NoisySample, "declared verbs: sample with the same generator seed gives other images"),
        (Unclamped, "declared verbs: decode gives images outside [0, 1]"),
        (Forgotten, "optimizer groups and phases: trainable parameters in no group (never trained): ['scale']"),
        (Stuck, "Adam steps lower the loss: 25 steps took the loss from 1 to 1"),
        (Undeclared, "declared verbs: sample, not declared, runs"),
        (nn.Linear, "declaration: not a GenerativeModel subclass"),
        (Unreadable, "config through config.yaml: TypeError: model.widths: unsupported config type"),
    ],
)
def test_check_model_names_the_check_a_broken_model_fails(cls, words):
    with pytest.raises(AssertionError) as failure:
        check_model(cls, {"latent_dim": 4})
    assert f"check_model({cls.__qualname__}): {words}" in str(failure.value)


# -- register -----------------------------------------------------------------------------------------------------
def test_register_refuses_what_is_not_a_model_or_a_taken_name(tiny_ae):
    assert genzoo.register(TinyAE) is TinyAE  # the same class again (a notebook cell run twice): fine
    with pytest.raises(genzoo.GenzooError, match="register.*expected a subclass of genzoo.models.GenerativeModel"):
        genzoo.register(nn.Linear)
    taken = type("Other", (TinyAE,), {"name": "vae"})
    with pytest.raises(genzoo.GenzooError, match="model name 'vae' is taken by genzoo.models.vae:VAE; give .*Other"):
        genzoo.register(taken)
    nameless = type("Nameless", (TinyAE,), {"name": ""})
    with pytest.raises(genzoo.GenzooError, match="name=''; expected a non-empty string"):
        genzoo.register(nameless)


def test_a_registered_model_trains_loads_and_samples_like_genzoos_own(tiny_ae, tmp_path):
    run = tmp_path / "mine"
    genzoo.train(build_tiny_config("tiny-ae", model={"latent_dim": 3}), run, verbose=False)
    code = yaml.safe_load((run / "code.yaml").read_text())
    assert code == {"model": {"name": "tiny-ae", "class": f"{TinyAE.__module__}:TinyAE"}}
    assert [r["split"] for r in read_metrics(run)][-1] == "test"
    model = genzoo.load(run)
    assert isinstance(model, TinyAE) and model.latent_dim == 3
    assert genzoo.sample(run, n=4).shape == (4, 1, 28, 28)
    originals, recons = genzoo.reconstruct(run, n=4)
    assert recons.shape == originals.shape == (4, 1, 28, 28)
    assert save_traversal(run, tmp_path / "traverse.png").is_file()  # an explorer: encode, decode, codes' spread
    # In a process where the class is not registered yet, loading finds its module among the imported ones.
    MODELS.pop("tiny-ae")
    assert isinstance(genzoo.load(run), TinyAE)


def test_loading_a_run_of_a_class_nobody_imported_says_what_to_import(tiny_ae, tmp_path):
    run = tmp_path / "mine"
    genzoo.train(build_tiny_config("tiny-ae"), run, verbose=False)
    code = yaml.safe_load((run / "code.yaml").read_text())
    code["model"] = {"name": "ghost-ae", "class": "ghost_models.autoencoders:GhostAE"}
    (run / "code.yaml").write_text(yaml.safe_dump(code))
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["model"]["name"] = "ghost-ae"
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(genzoo.GenzooError) as error:
        genzoo.load(run)
    assert (
        f"{run} (model 'ghost-ae') needs class ghost_models.autoencoders:GhostAE: import ghost_models.autoencoders"
        in str(error.value)
    )
    assert "genzoo imports no code a run folder names" in str(error.value)


# -- your own networks ----------------------------------------------------------------------------------------------
class MyEncoder(nn.Module):
    """A user's encoder for the vae: (B, 784) -> (B, 2 * latent) (posterior means and log-variances)."""

    def __init__(self, pixels: int, latent: int, width: int = 24):
        super().__init__()
        self.pixels, self.latent, self.width = pixels, latent, width
        self.net = nn.Sequential(nn.Linear(pixels, width), nn.Tanh(), nn.Linear(width, 2 * latent))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Forgetful(nn.Module):
    """Keeps no attribute for its argument: an instance cannot be rebuilt."""

    def __init__(self, pixels: int):
        super().__init__()
        self.net = nn.Linear(pixels, 8)

    def forward(self, x):
        return self.net(x)


class Critic(nn.Module):
    """A user's discriminator for the gan: (images (B, 1, 28, 28), labels None) -> (B,) logits."""

    def __init__(self, width: int):
        super().__init__()
        self.width = width
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, x, labels=None):
        return self.net(x).squeeze(1)


def test_own_networks_train_and_come_back_on_load_and_resume(tmp_path):
    run = tmp_path / "vae"
    config = build_tiny_config("vae", model={"latent_dim": 4})
    encoder = MyEncoder(784, 4)
    genzoo.train(config, run, networks={"encoder": encoder}, verbose=False)
    code = yaml.safe_load((run / "code.yaml").read_text())
    assert code == {
        "networks": {
            "encoder": {
                "class": f"{MyEncoder.__module__}:MyEncoder",
                "kwargs": {"pixels": 784, "latent": 4, "width": 24},
            }
        }
    }
    model = genzoo.load(run)
    assert isinstance(model.encoder, MyEncoder)
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(model.encode(x), genzoo.load(run).encode(x), rtol=0, atol=0)
    trained = {k: v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    assert trained.keys() == {
        "encoder.net.0.weight",
        "encoder.net.0.bias",
        "encoder.net.2.weight",
        "encoder.net.2.bias",
    }
    genzoo.resume(run, epochs=2, verbose=False)
    assert [r["epoch"] for r in read_metrics(run) if r["split"] == "test"] == [1, 2]
    assert isinstance(RunFolder(run).load_model().encoder, MyEncoder)


def test_a_gan_takes_a_discriminator_as_class_and_arguments(tmp_path):
    run = tmp_path / "gan"
    genzoo.train(build_tiny_config("gan"), run, networks={"discriminator": (Critic, {"width": 16})}, verbose=False)
    assert yaml.safe_load((run / "code.yaml").read_text())["networks"]["discriminator"]["kwargs"] == {"width": 16}
    assert isinstance(genzoo.load(run).discriminator, Critic)


@pytest.mark.parametrize(
    "networks, words",
    [
        (
            {"encoder": MyEncoder(784, 3)},
            "networks['encoder']: MyEncoder gives (4, 6) for input (4, 784), where the vae model's own encoder gives "
            "(4, 8); expected the same shapes",
        ),
        (
            {"encoder": MyEncoder(100, 4)},
            "networks['encoder']: MyEncoder failed on the input the vae model gives its encoder ((4, 784)): "
            "RuntimeError",
        ),
        (
            {"encodr": MyEncoder(784, 4)},
            "networks['encodr']: model 'vae' has no network of that name; its networks: decoder, encoder",
        ),
        (
            {"encoder": Forgetful(784)},
            "genzoo cannot read Forgetful's argument 'pixels' back from the instance (it keeps no attribute",
        ),
        ({"encoder": (MyEncoder, {"pixels": 784, "latent": 4, "act": nn.Tanh()})}, "expected plain values"),
        ({"encoder": "mlp"}, "networks['encoder']: a str; expected an nn.Module or (its class, its arguments)"),
    ],
)
def test_own_networks_that_do_not_fit_are_refused_in_one_line(tmp_path, networks, words):
    with pytest.raises(genzoo.GenzooError) as error:
        genzoo.train(build_tiny_config("vae"), tmp_path / "run", networks=networks, verbose=False)
    assert words in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_a_run_whose_network_class_is_gone_says_what_to_import(tmp_path):
    run = tmp_path / "vae"
    genzoo.train(build_tiny_config("vae"), run, networks={"encoder": MyEncoder(784, 4)}, verbose=False)
    code = yaml.safe_load((run / "code.yaml").read_text())
    code["networks"]["encoder"]["class"] = "their_nets.blocks:MyEncoder"
    (run / "code.yaml").write_text(yaml.safe_dump(code))
    with pytest.raises(
        genzoo.GenzooError,
        match=r"\(its encoder\) needs class their_nets.blocks:MyEncoder: import their_nets.blocks first",
    ):
        genzoo.load(run)


def test_the_check_leaves_the_model_and_the_rng_as_they_were():
    from genzoo.config import RunConfig
    from genzoo.models.own import replace_networks
    from genzoo.run_folder import build_model

    _, model = build_model(RunConfig.from_dict(build_tiny_config("dcgan")))  # batch norm: running statistics
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("discriminator.")}
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    replace_networks(model, {"discriminator": (Critic, {"width": 8})})
    assert torch.equal(torch.rand(2), expected) is False  # building the Critic drew its weights...
    critic = Critic(8)
    torch.manual_seed(3)
    replace_networks(model, {"discriminator": critic})
    assert torch.equal(torch.rand(2), expected)  # ...the check itself draws nothing from the global RNG
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # generator weights and statistics kept
    assert dataclasses.is_dataclass(model.config)
