"""Sample quality and code quality of a trained model, measured in the shipped feature network's space.

Protocol (the same for every model, so two runs' eval.json compare without rerunning anything):
- n = 10,000 generated images (fixed seed; a conditional model draws every class in turn) against the 10,000
  test images; the real-data floor is the same metrics for 10,000 training images against the test images,
  i.e. what a perfect generator of this data would score.
- FD-lenet (Frechet distance), KID-lenet (cubic kernel, 100 subsets of 1,000, mean and sd), precision/recall
  (k=3), density/coverage (k=5), classifier score (the Inception Score formula with the shipped classifier, 10
  splits) and, for conditional models, the classifier's accuracy on the labels asked for.
- For models that encode: reconstruction MSE per pixel on the test set, and probe accuracies of k-NN (k=5) and
  logistic regression fit on the codes of the first 10,000 training images and scored on all test codes.

What does not depend on the model (the test set's features, the floor's figures, and the parts of the metrics
that only involve real images) is computed once per data set and protocol and kept in a cache file (reference).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genzoo.data.batches import to_float
from genzoo.data.datasets import binarize_once
from genzoo.data.types import Dataset, cache_dir
from genzoo.errors import GenzooError
from genzoo.evaluate import features, metrics
from genzoo.evaluate.features import FeatureNetInfo, extract, info_for, load_feature_net
from genzoo.evaluate.probes import knn_accuracy, logistic_accuracy
from genzoo.evaluate.reconstruction import reconstruction_mse
from genzoo.files import atomic_write_bytes
from genzoo.models.base import CONDITIONAL, ENCODE, RECONSTRUCT, SAMPLE, GenerativeModel
from genzoo.samplers import MixtureSampler

PROTOCOL = {
    "samples": 10_000,
    "kid_subsets": 100,
    "kid_subset_size": 1000,
    "precision_recall_k": 3,
    "density_coverage_k": 5,
    "classifier_score_splits": 10,
    "probe_train_images": 10_000,
    "knn_k": 5,
}


def quality_section(sampler: str) -> str:
    """eval.json's section for the sample-quality figures of a sampler: "quality" for the model's own prior."""
    return "quality" if sampler == "prior" else f"quality-{sampler}"


@dataclass
class RealFeatures:
    """The test set's features (N, 128) and what comparing any fake set with them reuses, computed on first use:
    the real k-th neighbour radii of precision/recall and density/coverage ({k: (N,)}), and KID's real-real
    kernel sums ({fake count: (kid_subsets,)}; the subsets drawn depend on the fake count)."""

    features: torch.Tensor
    radii: dict[int, torch.Tensor] = field(default_factory=dict)
    kid_terms: dict[int, torch.Tensor] = field(default_factory=dict)

    def neighbour_radii(self) -> dict[int, torch.Tensor]:
        ks = (PROTOCOL["precision_recall_k"], PROTOCOL["density_coverage_k"])
        if not set(ks) <= self.radii.keys():
            self.radii.update(metrics.kth_neighbour_distances(self.features, ks))
        return self.radii

    def kid_real_terms(self, n_fake: int) -> torch.Tensor:
        if n_fake not in self.kid_terms:
            self.kid_terms[n_fake] = metrics.kid_real_terms(
                self.features, n_fake, PROTOCOL["kid_subsets"], PROTOCOL["kid_subset_size"]
            )
        return self.kid_terms[n_fake]


def distribution_metrics(real: RealFeatures, fake: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, float]:
    """Every distribution metric between the real features and a fake feature set (N, 128)."""
    kid, kid_std = metrics.kernel_distance(
        real.features,
        fake,
        PROTOCOL["kid_subsets"],
        PROTOCOL["kid_subset_size"],
        real_terms=real.kid_real_terms(len(fake)),
    )
    near = metrics.neighbour_metrics(
        real.features,
        fake,
        PROTOCOL["precision_recall_k"],
        PROTOCOL["density_coverage_k"],
        real_radii=real.neighbour_radii(),
    )
    score, score_std = metrics.classifier_score(fake_logits, PROTOCOL["classifier_score_splits"])
    return {
        "fd_lenet": metrics.frechet_distance_features(real.features, fake),
        "kid_lenet": kid,
        "kid_lenet_std": kid_std,
        "precision": near["precision"],
        "recall": near["recall"],
        "density": near["density"],
        "coverage": near["coverage"],
        "classifier_score": score,
        "classifier_score_std": score_std,
    }


def real_images(dataset: Dataset, n: int) -> torch.Tensor:
    """The floor's stand-in for a perfect generator: n training images, binarized like the test set if the
    data set is binarized (with a seed other than the test set's)."""
    images = dataset.train.images[:n]
    return to_float(binarize_once(images, seed=1) if dataset.spec.binarize else images)


@torch.no_grad()
def classify(net, features: torch.Tensor) -> torch.Tensor:
    """The feature network's logits (N, 10) for features it extracted (N, 128)."""
    device = next(net.parameters()).device
    return net.classifier(features.float().to(device)).double().cpu()


@torch.no_grad()
def generate(
    model: GenerativeModel,
    n: int,
    seed: int,
    num_classes: int,
    batch_size: int = 500,
    sampler: MixtureSampler | None = None,
):
    """n samples in batches from one seeded generator, and the labels asked for (None if unconditional); drawn
    by `sampler` when given, else by the model's own prior."""
    generator = torch.Generator(model.device).manual_seed(seed)
    draw = sampler or model
    labels = torch.arange(n, device=model.device) % num_classes if CONDITIONAL in draw.capabilities else None
    parts = [
        draw.sample(
            min(batch_size, n - i), generator=generator, labels=None if labels is None else labels[i : i + batch_size]
        )
        for i in range(0, n, batch_size)
    ]
    return torch.cat(parts).float().clamp(0, 1), labels


@torch.no_grad()
def codes_of(model: GenerativeModel, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000):
    return (
        torch.cat(
            [
                model.encode(
                    images[i : i + batch_size].to(model.device), **model.conditioning(labels[i : i + batch_size])
                )
                for i in range(0, len(images), batch_size)
            ]
        )
        .double()
        .cpu()
    )


_REFERENCES: dict[tuple, tuple] = {}


def reference(dataset: Dataset, n: int, device: str):
    """(feature net, its info, the test set's RealFeatures, the floor's metrics) for a data set and sample count.

    They are the same for every run of a data set: a process that evaluates many runs (benchmarks/zoo.py)
    computes them once, and a file in the cache (read_reference, write_reference) keeps them for later processes,
    sparing each two passes of the feature network and a set of metrics. The in-process key names the data set
    and split sizes: its files are SHA-256 verified on load, so equal keys mean equal images."""
    key = (dataset.name, len(dataset.train), len(dataset.test), n, device)
    if key not in _REFERENCES:
        net, info = load_feature_net(dataset.name, device)
        test_images, floor_images = to_float(dataset.test.images), real_images(dataset, n)
        cache_key = reference_key(info, test_images, floor_images, n, device)
        stored = read_reference(cache_key, device)
        if stored is None:
            real = RealFeatures(extract(net, test_images))
            floor_features = extract(net, floor_images)
            floor = distribution_metrics(real, floor_features, classify(net, floor_features))
            real.kid_real_terms(n)  # the fake count every run is scored with (the floor's is smaller if n > train)
            write_reference(cache_key, real, floor)
        else:
            real, floor = stored
        _REFERENCES.clear()  # one data set at a time is all any caller needs; do not hold several in memory
        _REFERENCES[key] = (net, info, real, floor)
    return _REFERENCES[key]


# -- the reference between processes ------------------------------------------------------------------------------
# A file per reference under ~/.cache/genzoo/quality-reference, named by a digest of everything its figures depend
# on: the exact images fed to the feature network (test set and the floor's training images, as float32 bytes),
# the network's SHA-256, the protocol, the source of the modules that compute the figures, and what may change
# their round-off (torch version, device, CPU capability, threads). Any change misses and recomputes; a file
# that does not read back whole, or whose stored key differs, is ignored and rewritten. Tensors are stored as
# computed (float64), the floor's figures as JSON (exact for floats), so a hit gives the very figures a fresh
# computation gives.
REFERENCE_FORMAT = 1
KEEP_REFERENCES = 8


def _digest(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's bytes (its dtype's, in memory order)."""
    return hashlib.sha256(tensor.detach().cpu().contiguous().view(torch.uint8).numpy()).hexdigest()


def reference_key(
    info: FeatureNetInfo, test_images: torch.Tensor, floor_images: torch.Tensor, n: int, device: str
) -> str:
    sources = [Path(module.__file__).read_bytes() for module in (metrics, features)] + [Path(__file__).read_bytes()]
    return json.dumps(
        {
            "format": REFERENCE_FORMAT,
            "feature_net_sha256": info.sha256,
            "samples": n,
            "protocol": {k: v for k, v in PROTOCOL.items() if k != "samples"},
            "test_images": _digest(test_images),
            "floor_images": _digest(floor_images),
            "code": hashlib.sha256(b"\0".join(sources)).hexdigest(),
            "torch": torch.__version__,
            "device": device,
            "cpu": [platform.machine(), torch.backends.cpu.get_cpu_capability()],
            "threads": torch.get_num_threads(),
        },
        sort_keys=True,
    )


def reference_path(key: str) -> Path:
    return cache_dir().parent / "quality-reference" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.safetensors"


def read_reference(key: str, device: str) -> tuple[RealFeatures, dict[str, float]] | None:
    """The stored (RealFeatures, floor) of this key, or None if there is none or it does not read back whole."""
    from safetensors import safe_open

    try:
        with safe_open(str(reference_path(key)), framework="pt") as stored:
            meta = stored.metadata() or {}
            if meta.get("key") != key:
                return None
            tensors = {name: stored.get_tensor(name).to(device) for name in stored.keys()}  # noqa: SIM118 (not a dict)
        floor = json.loads(meta["floor"])
        real = RealFeatures(tensors.pop("features"))
        for name, tensor in tensors.items():
            kind, value = name.split(".")
            {"radius": real.radii, "kid": real.kid_terms}[kind][int(value)] = tensor
    except Exception:
        return None
    with contextlib.suppress(OSError):
        os.utime(reference_path(key))  # recently used: kept by write_reference's pruning
    return real, floor


def write_reference(key: str, real: RealFeatures, floor: dict[str, float]) -> None:
    """Store a reference for later processes; a cache that cannot be written only costs time."""
    from safetensors.torch import save

    tensors = {
        "features": real.features,
        **{f"radius.{k}": v for k, v in real.radii.items()},
        **{f"kid.{n}": v for n, v in real.kid_terms.items()},
    }
    data = save(
        {k: v.detach().cpu().contiguous() for k, v in tensors.items()},
        metadata={"key": key, "floor": json.dumps(floor)},
    )
    path = reference_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        # Each genzoo version, thread count or sample count has its own file (10 MB for MNIST): keep the most
        # recently used few.
        stored = sorted(path.parent.glob("*.safetensors"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in stored[KEEP_REFERENCES:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def evaluate_quality(
    model: GenerativeModel,
    dataset: Dataset,
    *,
    seed: int = 0,
    samples: int | None = None,
    device: str = "cpu",
    sampler: str = "prior",
    components: int = 10,
) -> dict[str, dict[str, Any]]:
    """eval.json sections: "quality" (samples vs test, with the floor and the protocol) and "codes" (encoders).
    `sampler="gmm"`: the samples are decoded from a `components`-Gaussian mixture fitted to the codes of the
    probes' training images (samplers.py), into the section "quality-gmm" instead of "quality"."""
    started = time.perf_counter()
    n = samples or PROTOCOL["samples"]
    model.eval()
    sections: dict[str, dict[str, Any]] = {}
    m = PROTOCOL["probe_train_images"]
    train_x, train_y = to_float(dataset.train.images[:m]), dataset.train.labels[:m]
    train_codes = codes_of(model, train_x, train_y) if ENCODE in model.capabilities else None
    mixture = MixtureSampler(model, train_codes, components, seed) if sampler == "gmm" else None
    try:
        info_for(dataset.name)
        measurable = SAMPLE in (mixture or model).capabilities
    except GenzooError as exc:  # e.g. cifar10 or an image folder: no shipped feature network to measure with
        measurable = False
        if SAMPLE in (mixture or model).capabilities:
            warnings.warn(f"sample-quality metrics skipped: {exc}", stacklevel=2)
    if measurable:
        fake, labels = generate(model, n, seed, dataset.num_classes, sampler=mixture)
        protocol = {"seed": seed, **(mixture.protocol if mixture else {"sampler": "prior"})}
        sections[quality_section(sampler)] = score_samples(fake, labels, dataset, device, protocol)
    if ENCODE in model.capabilities:
        test_x, test_y = to_float(dataset.test.images), dataset.test.labels
        test_codes = codes_of(model, test_x, test_y)
        codes = {
            "knn_accuracy": knn_accuracy(train_codes, train_y, test_codes, test_y, PROTOCOL["knn_k"]),
            "logistic_accuracy": logistic_accuracy(train_codes, train_y, test_codes, test_y),
            "latent_dim": train_codes.shape[1],
        }
        if RECONSTRUCT in model.capabilities and CONDITIONAL not in model.capabilities:
            codes["reconstruction_mse"] = reconstruction_mse(model, dataset.test)
        sections["codes"] = codes
    for section in sections.values():
        section["seconds"] = round(time.perf_counter() - started, 1)
    return sections


@torch.no_grad()
def score_samples(
    images: torch.Tensor, labels: torch.Tensor | None, dataset: Dataset, device: str, protocol: dict[str, Any]
) -> dict[str, Any]:
    """The sample-quality figures of images (N, C, H, W) in [0, 1] against `dataset`'s test set, with the floor
    and the protocol (`protocol` adds how the images came to be: seed and sampler, or the file they were read
    from). With `labels` (N,), the classifier's accuracy on them: the conditional accuracy."""
    n = len(images)
    net, info, real, floor = reference(dataset, n, device)
    features = extract(net, images)
    logits = classify(net, features)
    quality = distribution_metrics(real, features, logits)
    if labels is not None:
        quality["conditional_accuracy"] = (logits.argmax(1) == labels.cpu()).double().mean().item()
    return {
        **quality,
        "floor": dict(floor),
        "protocol": {
            **PROTOCOL,
            "samples": n,
            "test_images": len(dataset.test),
            "real_floor": f"{min(n, len(dataset.train)):,} train vs {len(dataset.test):,} test",
            "feature_net": info.file,
            "feature_net_sha256": info.sha256,
            "feature_net_test_accuracy": info.test_accuracy,
            "dataset": dataset.name,
            **protocol,
        },
    }
