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
    """k(x, y) = (x . y / d + 1)^3, the kernel of KID (Binkowski et al. 2018): (N, D), (M, D) -> (N, M).
    Scaled, shifted and cubed in place: the same operations as `(x @ y.T / d + 1) ** 3`, hence the same bits,
    without three more (N, M) temporaries."""
    return (x @ y.T).div_(x.shape[1]).add_(1).pow_(3)


def kid_subsets(n_real: int, n_fake: int, subsets: int, subset_size: int, seed: int = 0):
    """KID's random subsets: `subsets` pairs (real rows, fake rows) of min(subset_size, n_real, n_fake) indices
    each, drawn from one seeded generator in the order real, fake, real, fake, ..."""
    generator = torch.Generator().manual_seed(seed)
    m = min(subset_size, n_real, n_fake)
    for _ in range(subsets):
        yield (torch.randperm(n_real, generator=generator)[:m], torch.randperm(n_fake, generator=generator)[:m])


def kid_real_terms(
    real: torch.Tensor, n_fake: int, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> torch.Tensor:
    """The real-real part of every KID subset, (subsets,): it depends on the real set and the subsets drawn
    only, so a real set compared with several fake sets of one size needs it once (`kernel_distance`'s
    `real_terms`)."""
    real, terms = real.double(), []
    for rows, _ in kid_subsets(len(real), n_fake, subsets, subset_size, seed):
        x = real[rows]  # (m, D)
        kxx = polynomial_kernel(x, x)  # (m, m)
        terms.append(kxx.sum() - kxx.diagonal().sum())  # the sum over i != j
    return torch.stack(terms)


def kernel_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    real_terms: torch.Tensor | None = None,
) -> tuple[float, float]:
    """KID: the unbiased MMD^2 estimate with the cubic polynomial kernel, averaged over random subsets
    (Binkowski et al. 2018). Returns (mean, standard deviation over subsets). `real_terms`: kid_real_terms(real,
    len(fake), subsets, subset_size, seed), when already computed for this real set."""
    real, fake = real.double(), fake.double()
    if real_terms is None:
        real_terms = kid_real_terms(real, len(fake), subsets, subset_size, seed)
    m = min(subset_size, len(real), len(fake))
    estimates = []
    for xx, (rows, cols) in zip(real_terms, kid_subsets(len(real), len(fake), subsets, subset_size, seed)):
        x, y = real[rows], fake[cols]  # (m, D) each
        kyy = polynomial_kernel(y, y)  # (m, m)
        off_diagonal = (xx + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))  # summed in the order it always was
        estimates.append(off_diagonal - 2 * polynomial_kernel(x, y).mean())
    values = torch.stack(estimates)
    return float(values.mean()), float(values.std()) if subsets > 1 else 0.0


# The k-NN metrics below need all pairwise distances between two sets of 10,000 points: 10^8 float64 values,
# 800 MB. They are computed in row chunks of CHUNK rows (CHUNK x N, 20 MB for N = 10,000), small enough that the
# allocator reuses the same memory for every chunk instead of mapping (and page-faulting) fresh pages each
# time, and each chunk is read for everything it is needed for before the next is computed.
CHUNK = 256


def distance_chunks(rows: torch.Tensor, cols: torch.Tensor, chunk: int = CHUNK):
    """(start, distances (chunk, len(cols))) for consecutive row chunks: Euclidean, float64."""
    rows, cols = rows.double(), cols.double()
    for i in range(0, len(rows), chunk):
        yield i, torch.cdist(rows[i : i + chunk], cols)


def kth_neighbour_distances(x: torch.Tensor, ks: tuple[int, ...], chunk: int = CHUNK) -> dict[int, torch.Tensor]:
    """{k: distance from each row of x to its k-th nearest other row, (N,)} for several k from one pass."""
    out: dict[int, list[torch.Tensor]] = {k: [] for k in ks}
    for _, d in distance_chunks(x, x, chunk):  # (chunk, N), each row holding its own point at distance ~0
        nearest = d.topk(max(ks) + 1, dim=1, largest=False).values  # (chunk, max k + 1), ascending
        for k, parts in out.items():
            parts.append(nearest[:, k])  # the (k+1)-th smallest: the k-th nearest other point
    return {k: torch.cat(parts) for k, parts in out.items()}


def kth_neighbour_distance(x: torch.Tensor, k: int, chunk: int = CHUNK) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row: (N,)."""
    return kth_neighbour_distances(x, (k,), chunk)[k]


def neighbour_metrics(
    real: torch.Tensor,
    fake: torch.Tensor,
    precision_recall_k: int = 3,
    density_coverage_k: int = 5,
    real_radii: dict[int, torch.Tensor] | None = None,
    chunk: int = CHUNK,
) -> dict[str, float]:
    """Precision, recall, density and coverage (below) from one pass over the fake-to-real distances.

    The real set's k-th neighbour radii do not depend on the fakes: `real_radii` ({k: (N_real,)}, from
    kth_neighbour_distances(real, (precision_recall_k, density_coverage_k))) passes them in when one real set
    is compared with several fake sets."""
    k_pr, k_dc = precision_recall_k, density_coverage_k
    if real_radii is None or not {k_pr, k_dc} <= real_radii.keys():
        real_radii = kth_neighbour_distances(real, (k_pr, k_dc), chunk)
    real_pr, real_dc = real_radii[k_pr], real_radii[k_dc]  # (N_real,) each
    fake_pr = kth_neighbour_distance(fake, k_pr, chunk)  # (N_fake,)
    device = real.device
    in_real_manifold = torch.empty(len(fake), dtype=torch.bool, device=device)  # precision: fake i in a real ball
    real_balls = torch.empty(len(fake), dtype=torch.int64, device=device)  # density: how many real balls hold fake i
    in_fake_manifold = torch.zeros(len(real), dtype=torch.bool, device=device)  # recall: real j in a fake ball
    nearest_fake = torch.full((len(real),), math.inf, dtype=torch.float64, device=device)  # coverage
    for i, d in distance_chunks(fake, real, chunk):  # d: (chunk, N_real), d[a, j] = |fake_(i+a) - real_j|
        rows = slice(i, i + len(d))
        in_real_manifold[rows] = (d <= real_pr).any(1)
        real_balls[rows] = (d <= real_dc).sum(1)
        in_fake_manifold |= (d <= fake_pr[rows, None]).any(0)
        torch.minimum(nearest_fake, d.min(0).values, out=nearest_fake)
    return {
        "precision": float(in_real_manifold.double().mean()),
        "recall": float(in_fake_manifold.double().mean()),
        "density": float(real_balls.double().sum() / (k_dc * len(fake))),
        "coverage": float((nearest_fake <= real_dc).double().mean()),
    }


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the union of balls
    reaching every point's k-th nearest neighbour; precision is the share of fakes inside the real manifold,
    recall the share of reals inside the fake manifold."""
    out = neighbour_metrics(real, fake, precision_recall_k=k, density_coverage_k=k)
    return out["precision"], out["recall"]


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), real balls only: density counts how many real balls hold each
    fake, divided by k (1 on average for matching distributions, above 1 where fakes crowd in dense regions);
    coverage is the share of real balls holding at least one fake."""
    out = neighbour_metrics(real, fake, precision_recall_k=k, density_coverage_k=k)
    return out["density"], out["coverage"]


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
