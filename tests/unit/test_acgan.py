"""AC-GAN (Odena et al. 2017) and the projection discriminator (Miyato & Koyama 2018): acgan's losses by hand on fixed
logits, which players each term reaches, the projection term as an inner product by hand (with spectral norm too),
concat cgan unchanged, bad settings refused in one line, exact resume, RGB / Fashion-MNIST runs, and that a briefly
trained acgan draws the class asked for as the shipped classifier reads it."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import genzoo
from genzoo.config import RunConfig
from genzoo.data.batches import Batch
from genzoo.errors import GenzooError
from genzoo.evaluate.features import load_feature_net
from genzoo.models.gan import DISCRIMINATOR, GENERATOR, TrainingHealthWarning
from genzoo.nets.conditioning import with_label_planes, with_labels
from genzoo.nets.gan_nets import DCDiscriminator, MLPDiscriminator
from genzoo.run_folder import build_model
from genzoo.train import checkpoint as ckpt
from tests.conftest import assert_same_run, build_tiny_config, read_metrics
from tests.unit.test_colour_datasets import picture_folder

TINY = {"width_g": 4, "width_d": 4, "noise_dim": 8}
MLP = {"preset": "small", "width_g": None, "width_d": None, "hidden_g": (16,), "hidden_d": (16,), "noise_dim": 8}


def make(name: str, seed: int = 0, **settings):
    config = RunConfig.from_dict({"model": {"name": name, **settings}, "seed": seed})
    return build_model(config)[1]


def batch_of(n: int = 6, channels: int = 1, side: int = 28) -> Batch:
    gen = torch.Generator().manual_seed(1)
    return Batch(torch.rand(n, channels, side, side, generator=gen), torch.arange(n) % 10)


# -- acgan's losses -------------------------------------------------------------------------------------------
def cross_entropy_by_hand(logits: list[list[float]], labels: list[int]) -> float:
    """Mean over rows of -log softmax(row)[label]."""
    return sum(math.log(sum(math.exp(v) for v in row)) - row[y] for row, y in zip(logits, labels)) / len(labels)


def bce_by_hand(logits: list[float], target: float) -> float:
    """Mean of -(t log sigmoid(l) + (1 - t) log(1 - sigmoid(l)))."""
    sig = [1 / (1 + math.exp(-v)) for v in logits]
    return -sum(target * math.log(p) + (1 - target) * math.log(1 - p) for p in sig) / len(logits)


# Two real images then two fakes: real/fake logits and K = 3 class logits, labels 2 and 0 for both kinds.
REAL_LOGITS, FAKE_LOGITS = [1.5, -0.5], [0.25, -2.0]
REAL_CLASSES, FAKE_CLASSES = [[0.1, 0.2, 2.0], [1.0, -1.0, 0.0]], [[0.0, 0.5, 1.0], [-1.0, 0.5, 3.0]]
LABELS = [2, 0]


def fixed_reads(model):
    """Replace the model's two-headed read of D with the fixed logits above (a joint pass: one call for the real
    and fake images, two rows each; the generator phase's call sees the fakes only)."""

    def read(images):
        if len(images) == 4:
            return torch.tensor(REAL_LOGITS + FAKE_LOGITS), torch.tensor(REAL_CLASSES + FAKE_CLASSES)
        return torch.tensor(FAKE_LOGITS), torch.tensor(FAKE_CLASSES)

    model.read = read


@pytest.mark.parametrize("loss", ["bce", "hinge"])
def test_acgan_losses_match_a_hand_computation_on_fixed_logits(loss):
    smoothing = 0.1 if loss == "bce" else 0.0
    w = 0.5
    model = make("acgan", **TINY, norm_d="none", loss=loss, label_smoothing=smoothing, class_weight=w)
    model.train()
    fixed_reads(model)
    batch = Batch(torch.rand(2, 1, 28, 28), torch.tensor(LABELS))
    d = model.training_step(batch, 0, DISCRIMINATOR)
    g = model.training_step(batch, 0, GENERATOR)
    ce_real = cross_entropy_by_hand(REAL_CLASSES, LABELS)
    ce_fake = cross_entropy_by_hand(FAKE_CLASSES, LABELS)
    if loss == "bce":  # -L_S: BCE(real, 1 - s) + BCE(fake, 0); the generator's non-saturating BCE(fake, 1)
        adversarial_d = bce_by_hand(REAL_LOGITS, 1 - smoothing) + bce_by_hand(FAKE_LOGITS, 0.0)
        adversarial_g = bce_by_hand(FAKE_LOGITS, 1.0)
    else:  # E relu(1 - D(x)) + E relu(1 + D(G(z))); G: -E D(G(z))
        adversarial_d = sum(max(0, 1 - v) for v in REAL_LOGITS) / 2 + sum(max(0, 1 + v) for v in FAKE_LOGITS) / 2
        adversarial_g = -sum(FAKE_LOGITS) / 2
    assert d.loss.item() == pytest.approx(adversarial_d + w * (ce_real + ce_fake), rel=1e-6)
    assert g.loss.item() == pytest.approx(adversarial_g + w * ce_fake, rel=1e-6)
    assert d.terms["class_real"].item() == pytest.approx(ce_real, rel=1e-6)
    assert d.terms["class_fake"].item() == pytest.approx(ce_fake, rel=1e-6)
    # argmax of the class logits: real 2, 0 and fake 2, 2, against labels 2, 0
    assert d.terms["accuracy_real"].item() == 1.0 and d.terms["accuracy_fake"].item() == 0.5


def test_acgan_discriminator_reads_no_label_and_each_term_reaches_its_players():
    model = make("acgan", **TINY, norm_d="none")
    assert model.discriminator.net[0].in_channels == 1  # the image alone: no label planes
    assert model.generator.net[0].in_channels == 8 + 10  # noise + one-hot label
    x = model.real(batch_of().x)
    with torch.no_grad():
        assert torch.equal(model.discriminator(x, torch.zeros(6, dtype=torch.long)), model.discriminator(x))
    groups = {g.name: {id(p) for p in g.params} for g in model.optimizer_groups()}
    assert {id(p) for p in model.classifier.parameters()} <= groups[DISCRIMINATOR]
    assert groups[DISCRIMINATOR].isdisjoint(groups[GENERATOR])
    assert len(groups[DISCRIMINATOR]) + len(groups[GENERATOR]) == len(list(model.parameters()))
    model.train()
    batch = batch_of()
    # The discriminator's loss reaches D and the class head, not G (its fakes are detached).
    loss = model.training_step(batch, 0, DISCRIMINATOR).loss
    model.zero_grad()
    loss.backward()
    assert all(p.grad is None for p in model.generator.parameters())
    assert all(p.grad is not None for p in model.classifier.parameters())
    # The generator's class term alone reaches G through the class head: its label matters to G.
    model.zero_grad()
    _, classes = model.read(model.fake(model.noise(6), batch.y))
    F.cross_entropy(classes, batch.y).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    sevens = model.eval().sample(4, torch.Generator().manual_seed(0), torch.full((4,), 7))
    threes = model.sample(4, torch.Generator().manual_seed(0), torch.full((4,), 3))
    assert not torch.equal(sevens, threes)


# -- the projection discriminator -----------------------------------------------------------------------------
@pytest.mark.parametrize("network", ["conv", "mlp"])
def test_projection_adds_the_inner_product_of_the_class_embedding_and_phi(network):
    """D(x, y) = psi(phi(x)) + <V_y, phi(x)> (Miyato & Koyama 2018, eq. 3): the projection discriminator minus an
    unconditional one with the same weights is that inner product, computed here by hand."""
    torch.manual_seed(0)
    if network == "conv":
        proj = DCDiscriminator((1, 28, 28), 4, "none", 10, "projection")
        plain = DCDiscriminator((1, 28, 28), 4, "none")
    else:
        proj = MLPDiscriminator(784, (16, 8), "leaky_relu_0.2", 10, "projection")
        plain = MLPDiscriminator(784, (16, 8), "leaky_relu_0.2")
    assert proj.num_classes == 0  # no label at the input
    plain.load_state_dict({k: v for k, v in proj.state_dict().items() if not k.startswith("projection.")})
    x, y = batch_of().x, torch.tensor([3, 0, 9, 3, 1, 7])
    phi = plain.net[:-1](x if network == "conv" else x.flatten(1)).flatten(1)  # (B, F)
    embedding = proj.projection.embed.weight  # (K, F)
    by_hand = torch.stack([sum(embedding[y[i], j] * phi[i, j] for j in range(phi.shape[1])) for i in range(len(y))])
    with torch.no_grad():
        assert torch.allclose(proj(x, y) - plain(x), by_hand, atol=1e-5)
        # The class matters only through the inner product: two labels differ by <V_a - V_b, phi>.
        a, b = proj(x, torch.zeros(6, dtype=torch.long)), proj(x, torch.ones(6, dtype=torch.long))
        assert torch.allclose(a - b, phi @ (embedding[0] - embedding[1]), atol=1e-5)


def test_projection_embedding_is_spectrally_normalised_and_trains_with_hinge():
    model = make("cgan", **TINY, conditioning="projection", spectral_norm=True, loss="hinge")
    assert model.config.norm_d == "none"  # spectral norm's default: no batch norm in D
    embed = model.discriminator.projection.embed
    original = embed.parametrizations.weight.original
    model.train()
    x = model.real(batch_of().x)
    with torch.no_grad():
        for _ in range(30):  # power iterations, one per training forward
            model.discriminator(x, torch.arange(6))
    sigma = torch.linalg.matrix_norm(original.detach(), ord=2)
    with torch.no_grad():
        assert torch.allclose(embed.weight, original / sigma, rtol=1e-3, atol=1e-6)
    # Both players' hinge losses are finite and the projection's embedding gets D's gradient.
    batch = batch_of()
    loss = model.training_step(batch, 0, DISCRIMINATOR).loss
    loss.backward()
    assert torch.isfinite(loss) and original.grad is not None and original.grad.abs().sum() > 0
    assert torch.isfinite(model.training_step(batch, 0, GENERATOR).loss)


@pytest.mark.parametrize("settings", [TINY, MLP, {**TINY, "spectral_norm": True, "loss": "hinge"}])
def test_concat_conditioning_is_the_cgan_of_before(settings):
    """conditioning=concat (the default) builds exactly the one-hot cgan: same parameters for a seed as without the
    setting, no projection weights, and a discriminator whose output is its network on [x, onehot(y)]."""
    default, concat = make("cgan", **settings), make("cgan", **settings, conditioning="concat")
    assert default.config.conditioning == "concat"
    state, other = default.state_dict(), concat.state_dict()
    assert state.keys() == other.keys() and all(torch.equal(state[k], other[k]) for k in state)
    assert not any("projection" in k for k in state)
    d = default.eval().discriminator
    x, y = default.real(batch_of().x), torch.arange(6) % 10
    if default.config.network == "conv":
        assert d.net[0].in_channels == 1 + 10
        before = d.net(with_label_planes(x, y, 10)).flatten()
    else:
        before = d.net(with_labels(x.flatten(1), y, 10)).squeeze(1)
    with torch.no_grad():
        assert torch.equal(d(x, y), before)


# -- settings -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,setting,words",
    [
        ("acgan", {"class_weight": 0}, "model.class_weight=0"),
        ("acgan", {"class_weight": -1.0}, "model.class_weight=-1"),
        ("acgan", {"conditioning": "projection"}, "conditioning"),  # its D reads no label: not a setting of acgan
        ("cgan", {"conditioning": "embed"}, "conditioning"),
        ("dcgan", {"conditioning": "projection"}, "conditioning"),  # unconditional models have no such setting
    ],
)
def test_bad_settings_are_refused_in_one_line(name, setting, words):
    with pytest.raises(GenzooError, match=words) as info:
        make(name, **TINY, **setting)
    assert "\n" not in str(info.value)


def test_a_python_built_config_checks_conditioning():
    from genzoo.models.gan import CGANConfig

    with pytest.raises(GenzooError, match="model.conditioning='embed'; expected one of concat, projection"):
        CGANConfig(conditioning="embed")


# -- runs -----------------------------------------------------------------------------------------------------
RESUME_TRAIN = {"epochs": 2, "log_every": 2, "checkpoint_every": 4, "keep_checkpoints": 2}
RESUME_CASES = {
    "acgan-sn-lazy-r1-diffaugment": (
        "acgan",
        {"norm_d": "none", "spectral_norm": True, "r1_weight": 1.0, "r1_every": 3, "diffaugment": "translation"},
    ),
    "cgan-projection-sn-hinge-diffaugment": (
        "cgan",
        {"conditioning": "projection", "spectral_norm": True, "loss": "hinge", "diffaugment": "color,cutout"},
    ),
}


@pytest.mark.filterwarnings("ignore::genzoo.models.gan.TrainingHealthWarning")  # tiny runs
@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resumes_bit_exact(case, tmp_path):
    model, options = RESUME_CASES[case]
    config = lambda **extra: build_tiny_config(model, model=options, train={**RESUME_TRAIN, **extra})
    genzoo.train(config(), tmp_path / "reference", verbose=False)
    run = tmp_path / "interrupted"
    genzoo.train(config(epochs=1), run, verbose=False)
    assert ckpt.latest_valid(run / "checkpoints").step == 8
    assert genzoo.resume(run, epochs=2, verbose=False).step == 16
    assert_same_run(tmp_path / "reference", run)


@pytest.mark.parametrize("dataset", ["fashion-mnist", "image-folder"])
def test_acgan_trains_on_fashion_mnist_and_an_rgb_folder(dataset, tmp_path):
    data = {"dataset": dataset}
    if dataset == "image-folder":  # RGB pictures at 32x32 (the DCGAN layout's side for colour data), 2 classes
        data = {"dataset": dataset, "data_dir": str(picture_folder(tmp_path / "pictures", per_class=16))}
        data.update(image_size=32, test_fraction=0.25, train_size=None, test_size=None)
    config = build_tiny_config("acgan", data=data, train={"batch_size": 8, "steps": 4})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingHealthWarning)
        genzoo.train(config, tmp_path / "run", verbose=False)
    test = [r for r in read_metrics(tmp_path / "run") if r["split"] == "test"][-1]
    assert all(math.isfinite(test[k]) for k in ("discriminator_loss", "generator_loss", "class_real", "class_fake"))
    model = genzoo.load(tmp_path / "run")
    classes = model.config.num_classes
    images = model.sample(4, torch.Generator().manual_seed(0), torch.arange(4) % classes)
    channels, side = (3, 32) if dataset == "image-folder" else (1, 28)
    assert images.shape == (4, channels, side, side) and images.min() >= 0 and images.max() <= 1


# -- learning: the label picks the class ----------------------------------------------------------------------
# Measured (loaded 2-core AMD EPYC, one thread, fp32): BRIEF trains and scores in about 32 CPU s; the shipped
# classifier reads the asked-for digit in 0.894 of 500 samples (seed 0; chance 0.10). The generator's lr 1e-3 (the
# InfoGAN paper's, 5x DCGAN's) and batch 32 are what makes this budget enough: at DCGAN's 2e-4, batch 32, 1,000 steps
# gave 0.244, and batch 64 at 300-600 steps drew grey-background blobs that the classifier files under 8 (0.100).
BRIEF = {"steps": 1000, "batch_size": 32}


def test_briefly_trained_acgan_draws_the_class_asked_for(tmp_path):
    config = {
        "model": {"name": "acgan", "width_g": 16, "width_d": 16, "noise_dim": 32, "lr_g": 1e-3},
        "data": {"dataset": "mnist"},
        "train": {**BRIEF, "precision": "fp32", "device": "cpu", "tensorboard": False, "log_every": 100},
        "seed": 0,
    }
    genzoo.train(config, tmp_path / "run", verbose=False)
    model = genzoo.load(tmp_path / "run")
    labels = torch.arange(500) % 10
    images = model.sample(500, torch.Generator().manual_seed(0), labels)
    net, _ = load_feature_net("mnist")
    with torch.no_grad():
        accuracy = (net(images).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.5, accuracy


def test_class_head_mirrors_the_discriminators_last_layer():
    conv, mlp = make("acgan", **TINY), make("acgan", **MLP)
    assert isinstance(conv.classifier.layer, nn.Conv2d)
    assert conv.classifier.layer.kernel_size == conv.discriminator.net[-1].kernel_size
    assert isinstance(mlp.classifier.layer, nn.Linear) and mlp.classifier.layer.out_features == 10
    with torch.no_grad():
        assert conv.read(conv.real(batch_of().x))[1].shape == (6, 10)
