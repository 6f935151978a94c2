"""Parity and sanity checks of the distribution metrics (evaluate/metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from genzoo.evaluate import metrics


def gaussian(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=torch.Generator().manual_seed(99)) / d**0.5 + torch.eye(d)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) @ mixing.double()) * scale + shift


def scipy_frechet(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook computation with scipy's general matrix square root."""
    mu1, mu2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(c1 @ c2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * root.real))


def test_frechet_distance_matches_scipy():
    x, y = gaussian(2000, 8, 0), gaussian(1500, 8, 1, shift=0.3, scale=1.4)
    assert metrics.frechet_distance_features(x, y) == pytest.approx(scipy_frechet(x.numpy(), y.numpy()), rel=1e-8)


def test_frechet_distance_of_a_mean_shift_is_its_squared_norm():
    x = gaussian(3000, 6, 0)
    assert metrics.frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-8)
    assert metrics.frechet_distance_features(x, x + 2.0) == pytest.approx(6 * 4.0, rel=1e-9)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    x, y, z = gaussian(2000, 16, 0), gaussian(2000, 16, 1), gaussian(2000, 16, 2, shift=0.5)
    same, same_std = metrics.kernel_distance(x, y, subsets=20, subset_size=500)
    different, _ = metrics.kernel_distance(x, z, subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3  # unbiased: zero within noise
    assert different > 20 * max(abs(same), same_std)


def test_precision_and_recall_on_sets_with_known_overlap():
    real = gaussian(2000, 2, 0)
    assert metrics.precision_recall(real, gaussian(2000, 2, 1)) == pytest.approx((1.0, 1.0), abs=0.05)
    half = real[real[:, 0] > real[:, 0].median()]  # fakes that cover half of the real set, and nothing else
    precision, recall = metrics.precision_recall(real, half)
    assert precision == pytest.approx(1.0) and recall == pytest.approx(0.5, abs=0.07)
    assert metrics.precision_recall(real, real + 100.0) == (0.0, 0.0)


def test_density_and_coverage_on_matching_and_collapsed_fakes():
    real, fake = gaussian(2000, 2, 0), gaussian(2000, 2, 1)
    density, coverage = metrics.density_coverage(real, fake)
    assert density == pytest.approx(1.0, abs=0.1)
    assert coverage == pytest.approx(1 - 0.5**5, abs=0.03)  # Naeem et al.: 1 - 2^-k for identical distributions
    collapsed = real[:1].repeat(2000, 1)  # mode collapse onto one real point
    assert metrics.density_coverage(real, collapsed)[1] < 0.01


def test_classifier_score_bounds():
    uniform = torch.zeros(1000, 10)
    assert metrics.classifier_score(uniform)[0] == pytest.approx(1.0)
    confident = torch.full((1000, 10), -50.0)
    confident[torch.arange(1000), torch.arange(1000) % 10] = 50.0
    assert metrics.classifier_score(confident)[0] == pytest.approx(10.0, rel=1e-6)
