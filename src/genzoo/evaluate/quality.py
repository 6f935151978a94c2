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
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch

from genzoo.data.batches import to_float
from genzoo.data.datasets import Dataset, binarize_once
from genzoo.evaluate import metrics
from genzoo.errors import GenzooError
from genzoo.evaluate.features import extract, extract_split, info_for, load_feature_net
from genzoo.evaluate.probes import knn_accuracy, logistic_accuracy
from genzoo.evaluate.reconstruction import reconstruction_mse
from genzoo.models.base import CONDITIONAL, ENCODE, RECONSTRUCT, SAMPLE, GenerativeModel
from genzoo.samplers import MixtureSampler

PROTOCOL = {"samples": 10_000, "kid_subsets": 100,
            "kid_subset_size": 1000, "precision_recall_k": 3, "density_coverage_k": 5, "classifier_score_splits": 10,
            "probe_train_images": 10_000, "knn_k": 5}


def quality_section(sampler: str) -> str:
    """eval.json's section for the sample-quality figures of a sampler: "quality" for the model's own prior."""
    return "quality" if sampler == "prior" else f"quality-{sampler}"


def distribution_metrics(real: torch.Tensor, fake: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, float]:
    """Every distribution metric between real and fake feature sets (N, 128)."""
    kid, kid_std = metrics.kernel_distance(real, fake, PROTOCOL["kid_subsets"], PROTOCOL["kid_subset_size"])
    precision, recall = metrics.precision_recall(real, fake, PROTOCOL["precision_recall_k"])
    density, coverage = metrics.density_coverage(real, fake, PROTOCOL["density_coverage_k"])
    score, score_std = metrics.classifier_score(fake_logits, PROTOCOL["classifier_score_splits"])
    return {"fd_lenet": metrics.frechet_distance_features(real, fake), "kid_lenet": kid, "kid_lenet_std": kid_std,
            "precision": precision, "recall": recall, "density": density, "coverage": coverage,
            "classifier_score": score, "classifier_score_std": score_std}


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
def generate(model: GenerativeModel, n: int, seed: int, num_classes: int, batch_size: int = 500,
             sampler: MixtureSampler | None = None):
    """n samples in batches from one seeded generator, and the labels asked for (None if unconditional); drawn
    by `sampler` when given, else by the model's own prior."""
    generator = torch.Generator(model.device).manual_seed(seed)
    draw = sampler or model
    labels = torch.arange(n, device=model.device) % num_classes if CONDITIONAL in draw.capabilities else None
    parts = [draw.sample(min(batch_size, n - i), generator=generator,
                          labels=None if labels is None else labels[i : i + batch_size])
             for i in range(0, n, batch_size)]
    return torch.cat(parts).float().clamp(0, 1), labels


@torch.no_grad()
def codes_of(model: GenerativeModel, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000):
    return torch.cat([model.encode(images[i : i + batch_size].to(model.device),
                                   **model.conditioning(labels[i : i + batch_size]))
                      for i in range(0, len(images), batch_size)]).double().cpu()


_REFERENCES: dict[tuple, tuple] = {}


def reference(dataset: Dataset, n: int, device: str):
    """(feature net, its info, test-set features, the floor's metrics) for a data set and sample count.

    They are the same for every run of a data set, so a process that evaluates many runs (benchmarks/zoo.py)
    computes them once. The key names the data set and split sizes: its files are SHA-256 verified on load, so
    equal keys mean equal images."""
    key = (dataset.name, len(dataset.train), len(dataset.test), n, device)
    if key not in _REFERENCES:
        net, info = load_feature_net(dataset.name, device)
        real_test, _ = extract_split(net, dataset.test)
        floor_features = extract(net, real_images(dataset, n))
        floor = distribution_metrics(real_test, floor_features, classify(net, floor_features))
        _REFERENCES.clear()  # one data set at a time is all any caller needs; do not hold several in memory
        _REFERENCES[key] = (net, info, real_test, floor)
    return _REFERENCES[key]


def evaluate_quality(model: GenerativeModel, dataset: Dataset, *, seed: int = 0, samples: int | None = None,
                     device: str = "cpu", sampler: str = "prior", components: int = 10) -> dict[str, dict[str, Any]]:
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
        net, info, real_test, floor = reference(dataset, n, device)
        fake, labels = generate(model, n, seed, dataset.num_classes, sampler=mixture)
        fake_features = extract(net, fake)
        fake_logits = classify(net, fake_features)
        quality = distribution_metrics(real_test, fake_features, fake_logits)
        if labels is not None:
            quality["conditional_accuracy"] = (fake_logits.argmax(1) == labels.cpu()).double().mean().item()
        sections[quality_section(sampler)] = {
            **quality, "floor": dict(floor),
            "protocol": {**PROTOCOL, "samples": n, "seed": seed, "test_images": len(dataset.test),
                         "real_floor": f"{n:,} train vs {len(dataset.test):,} test",
                         "feature_net": info.file, "feature_net_sha256": info.sha256,
                         "feature_net_test_accuracy": info.test_accuracy, "dataset": dataset.name,
                         **(mixture.protocol if mixture else {"sampler": "prior"})}}
    if ENCODE in model.capabilities:
        test_x, test_y = to_float(dataset.test.images), dataset.test.labels
        test_codes = codes_of(model, test_x, test_y)
        codes = {"knn_accuracy": knn_accuracy(train_codes, train_y, test_codes, test_y, PROTOCOL["knn_k"]),
                 "logistic_accuracy": logistic_accuracy(train_codes, train_y, test_codes, test_y),
                 "latent_dim": train_codes.shape[1]}
        if RECONSTRUCT in model.capabilities and CONDITIONAL not in model.capabilities:
            codes["reconstruction_mse"] = reconstruction_mse(model, dataset.test)
        sections["codes"] = codes
    for section in sections.values():
        section["seconds"] = round(time.perf_counter() - started, 1)
    return sections

