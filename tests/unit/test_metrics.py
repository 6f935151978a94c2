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


# -- the chunked, one-pass implementations against the textbook formulas on whole distance matrices ------------
def textbook_neighbour_metrics(real: torch.Tensor, fake: torch.Tensor, k_pr: int, k_dc: int) -> dict[str, float]:
    """Precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020) from the full
    (N, M) distance matrices at once, k-th neighbours by kthvalue: the formulas as first written here."""
    d_rr, d_ff, d_fr = torch.cdist(real, real), torch.cdist(fake, fake), torch.cdist(fake, real)
    real_pr, real_dc = d_rr.kthvalue(k_pr + 1, 1).values, d_rr.kthvalue(k_dc + 1, 1).values
    fake_pr = d_ff.kthvalue(k_pr + 1, 1).values
    return {
        "precision": float((d_fr <= real_pr[None, :]).any(1).double().mean()),
        "recall": float((fake_pr[None, :] >= d_fr.T).any(1).double().mean()),
        "density": float((d_fr <= real_dc[None, :]).sum(1).double().sum() / (k_dc * len(fake))),
        "coverage": float((d_fr.T.min(1).values <= real_dc).double().mean()),
    }


@pytest.mark.parametrize("chunk", [1, 37, 256, 5000])  # one row at a time, a ragged last chunk, one chunk
def test_neighbour_metrics_in_chunks_equal_the_textbook_formulas(chunk):
    real, fake = gaussian(700, 6, 0), gaussian(450, 6, 1, shift=0.4, scale=1.3)
    expected = textbook_neighbour_metrics(real, fake, 3, 5)
    assert metrics.neighbour_metrics(real, fake, 3, 5, chunk=chunk) == pytest.approx(expected, abs=1e-12)
    radii = metrics.kth_neighbour_distances(real, (3, 5), chunk=chunk)  # passed in: what a cached reference does
    assert metrics.neighbour_metrics(real, fake, 3, 5, real_radii=radii, chunk=chunk) == pytest.approx(
        expected, abs=1e-12
    )
    assert metrics.precision_recall(real, fake, 3) == pytest.approx((expected["precision"], expected["recall"]))


def test_kth_neighbour_distances_in_chunks_equal_kthvalue_of_the_whole_matrix():
    x = gaussian(600, 5, 3)
    whole = torch.cdist(x, x)
    radii = metrics.kth_neighbour_distances(x, (1, 3, 5), chunk=64)
    for k in (1, 3, 5):
        torch.testing.assert_close(radii[k], whole.kthvalue(k + 1, 1).values, rtol=1e-12, atol=0)
    torch.testing.assert_close(metrics.kth_neighbour_distance(x, 3, chunk=7), radii[3], rtol=1e-12, atol=0)


def test_kernel_distance_equals_the_per_subset_formula_and_reuses_real_terms_exactly():
    real, fake = gaussian(900, 16, 0), gaussian(800, 16, 1, shift=0.2)
    generator, m, estimates = torch.Generator().manual_seed(0), 300, []
    for _ in range(12):  # the estimator as first written: three kernel matrices per subset
        x = real[torch.randperm(len(real), generator=generator)[:m]]
        y = fake[torch.randperm(len(fake), generator=generator)[:m]]
        kxx, kyy, kxy = ((a @ b.T / a.shape[1] + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off_diagonal = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
        estimates.append(off_diagonal - 2 * kxy.mean())
    values = torch.stack(estimates)
    expected = (float(values.mean()), float(values.std()))
    assert metrics.kernel_distance(real, fake, subsets=12, subset_size=m) == expected
    terms = metrics.kid_real_terms(real, len(fake), subsets=12, subset_size=m)
    assert metrics.kernel_distance(real, fake, subsets=12, subset_size=m, real_terms=terms) == expected
