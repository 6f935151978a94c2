"""Which class each value of a model's categorical latent code draws (InfoGAN): the code-to-class figure.

For each of the K code values, N samples are drawn with that value (the rest of the latent as usual) and read by
the shipped classifier. The counts (K, C) of code value x predicted class give:

- `matched_code_accuracy`: the fraction of all samples whose predicted class is the one matched to their code value
  under the best one-to-one matching of code values to classes (unsupervised clustering accuracy, as Chen et al.
  2016, sec. 7.1, report for MNIST's categorical code: 5% error). The matching is exact: a dynamic programme over
  the subsets of classes (K x 2^C x C steps, vectorised over the subsets; C <= 16), in place of the Hungarian
  algorithm (scipy is not a dependency). With K != C, max(K - C, 0) code values stay unmatched and count as wrong.
- `purity_per_code`: for each code value, the fraction of its samples in its most frequent class (a code value may
  be pure and still share its class with another value; the matched accuracy charges that).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genzoo.data.types import Dataset
from genzoo.errors import GenzooError
from genzoo.evaluate.features import extract, load_feature_net
from genzoo.evaluate.quality import classify
from genzoo.models.base import GenerativeModel

SAMPLES_PER_CODE = 1000
MAX_CLASSES = 16  # the matching's table has 2^C entries


def best_matching(counts: np.ndarray) -> tuple[list[int], int]:
    """The one-to-one matching of rows (code values) to columns (classes) that maximises the matched counts.
    counts: (K, C) non-negative. -> (class of each row, -1 where unmatched; the total matched count)."""
    k, c = counts.shape
    if c > MAX_CLASSES:
        raise GenzooError(f"code-to-class matching handles at most {MAX_CLASSES} classes; got {c}")
    masks = np.arange(1 << c)
    best = np.full(1 << c, -np.inf)  # best[mask]: the most matched samples using exactly the classes in mask
    best[0] = 0.0
    choice = np.full((k, 1 << c), -1, dtype=np.int64)  # the class row i took to reach mask (-1: none)
    for i in range(k):
        new = best.copy()  # row i left unmatched
        for j in range(c):
            has = masks[(masks >> j) & 1 == 1]
            candidate = best[has ^ (1 << j)] + counts[i, j]
            better = candidate > new[has]
            new[has[better]] = candidate[better]
            choice[i, has[better]] = j
        best = new
    mask = int(np.argmax(best))
    total = best[mask]
    assignment = [-1] * k
    for i in reversed(range(k)):  # walk the choices back from the best final set of classes
        j = int(choice[i, mask])
        assignment[i] = j
        if j >= 0:
            mask ^= 1 << j
    return assignment, int(total)  # a sum of integer counts, exact in float64


@torch.no_grad()
def code_classes(
    model: GenerativeModel,
    dataset: Dataset,
    seed: int = 0,
    per_code: int = SAMPLES_PER_CODE,
    device: str = "cpu",
    batch_size: int = 500,
) -> dict[str, Any]:
    """eval.json's "code_classes" section for a model with a categorical code (see the module's docstring)."""
    values = model.latent_codes[0]
    if not values:
        raise GenzooError(f"model {model.name!r} has no categorical code to match to classes")
    net, info = load_feature_net(dataset.name, device)
    generator = torch.Generator(model.device).manual_seed(seed)
    predicted = []
    for code in range(values):
        images = torch.cat(
            [
                model.sample(min(batch_size, per_code - i), generator=generator, code=code).float().clamp(0, 1)
                for i in range(0, per_code, batch_size)
            ]
        )
        predicted.append(classify(net, extract(net, images)).argmax(1))
    classes = dataset.num_classes
    codes = torch.arange(values).repeat_interleave(per_code)
    counts = torch.bincount(codes * classes + torch.cat(predicted), minlength=values * classes).view(values, classes)
    counts = counts.numpy()
    assignment, matched = best_matching(counts)
    return {
        "matched_code_accuracy": matched / (values * per_code),
        "chance": 1 / classes,  # a generator that ignores its code and draws every class equally often
        "class_of_code": assignment,
        "purity_per_code": (counts.max(1) / per_code).round(4).tolist(),
        "counts": counts.tolist(),
        "protocol": {
            "samples_per_code": per_code,
            "code_values": values,
            "seed": seed,
            "matching": "exact one-to-one (dynamic programme over class subsets)",
            "classifier": info.file,
            "dataset": dataset.name,
        },
    }
