"""Distribution metrics between real and generated images, computed in a feature space (features.py).

Every function takes feature matrices (N, D) and returns plain floats; none knows about models. float64 is
used throughout: covariance square roots of nearly singular matrices need it.
"""

from __future__ import annotations

import math

import torch


def mean_and_covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = features.double()
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (len(f) - 1)


def sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition (negative round-off
    eigenvalues clipped to 0)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)) between two Gaussians (Dowson & Landau 1982; the FID
    of Heusel et al. 2017 in another feature space). Tr (C1 C2)^(1/2) is computed as Tr (C1^(1/2) C2 C1^(1/2))^(1/2),
    whose argument is symmetric PSD, so eigh applies and no complex round-off appears."""
    root1 = sqrt_psd(cov1.double())
    cross = sqrt_psd(root1 @ cov2.double() @ root1)
    diff = (mu1 - mu2).double()
    return float(diff @ diff + torch.trace(cov1) + torch.trace(cov2) - 2 * torch.trace(cross))


def frechet_distance_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    return frechet_distance(*mean_and_covariance(real), *mean_and_covariance(fake))


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x . y / d + 1)^3, the kernel of KID (Binkowski et al. 2018)."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """KID: the unbiased MMD^2 estimate with the cubic polynomial kernel, averaged over random subsets
    (Binkowski et al. 2018). Returns (mean, standard deviation over subsets)."""
    generator = torch.Generator().manual_seed(seed)
    m = min(subset_size, len(real), len(fake))
    estimates = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=generator)[:m]].double()
        y = fake[torch.randperm(len(fake), generator=generator)[:m]].double()
        kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
        off_diagonal = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
        estimates.append(off_diagonal - 2 * kxy.mean())
    values = torch.stack(estimates)
    return float(values.mean()), float(values.std()) if subsets > 1 else 0.0


def kth_neighbour_distance(x: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row: (N,)."""
    out = []
    for i in range(0, len(x), chunk):
        d = torch.cdist(x[i : i + chunk].double(), x.double())  # (chunk, N), includes the point itself at 0
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _within_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """For every point, how many balls B(centre_i, radius_i) contain it: (len(points),)."""
    counts = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i : i + chunk].double(), centres.double())  # (chunk, N_centres)
        counts.append((d <= radii[None, :]).sum(1))
    return torch.cat(counts)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the union of balls
    reaching every point's k-th nearest neighbour; precision is the share of fakes inside the real manifold,
    recall the share of reals inside the fake manifold."""
    precision = (_within_counts(fake, real, kth_neighbour_distance(real, k)) > 0).double().mean()
    recall = (_within_counts(real, fake, kth_neighbour_distance(fake, k)) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), real balls only: density counts how many real balls hold each
    fake, divided by k (1 on average for matching distributions, above 1 where fakes crowd in dense regions);
    coverage is the share of real balls holding at least one fake."""
    radii = kth_neighbour_distance(real, k)
    density = _within_counts(fake, real, radii).double().sum() / (k * len(fake))
    covered = torch.zeros(len(real), dtype=torch.bool)
    for i in range(0, len(real), 2048):
        d = torch.cdist(real[i : i + 2048].double(), fake.double())  # (chunk, N_fake)
        covered[i : i + 2048] = d.min(1).values <= radii[i : i + 2048]
    return float(density), float(covered.double().mean())


def classifier_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """The Inception Score's formula (Salimans et al. 2016), exp(E_x KL(p(y|x) || p(y))), with genzoo's own
    classifier; mean and standard deviation over `splits` equal parts. 10 is the most for 10 classes."""
    log_p = torch.log_softmax(logits.double(), dim=1)
    scores = []
    for part in log_p.chunk(splits):
        log_marginal = torch.logsumexp(part, 0) - math.log(len(part))
        scores.append(torch.exp((part.exp() * (part - log_marginal)).sum(1).mean()))
    values = torch.stack(scores)
    return float(values.mean()), float(values.std()) if splits > 1 else 0.0
