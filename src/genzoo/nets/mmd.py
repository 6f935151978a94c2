"""Maximum mean discrepancy between two samples: the one estimator the models that match an aggregate posterior
q(z) to a prior p(z) share (InfoVAE in models/vae_penalties.py, WAE in models/regularized.py).

MMD^2(P, Q) = E k(u, u') + E k(v, v') - 2 E k(u, v) for u, u' ~ P and v, v' ~ Q (Gretton et al. 2012, "A kernel
two-sample test"). Two kernels, both with a scale C = 2 D s^2 tied to the latent dimension D (Tolstikhin et al.
2018, sec. 4: C = 2 d_z sigma_z^2 for the prior N(0, sigma_z^2 I), for which E |u - v|^2 = C), so a kernel stays
away from 0 and 1 at the prior's scale whatever D is:

    rbf   k(u, v) = exp(-|u - v|^2 / C)
    imq   k(u, v) = C / (C + |u - v|^2)     (inverse multiquadratic; heavier tails, so codes far from the prior's
                                             bulk still get a gradient: Tolstikhin et al. 2018 prefer it)

`scales` multiplies the base C and sums the kernels (a sum of kernels is a kernel): Tolstikhin et al.'s code sums
the IMQ over C x {0.1, 0.2, 0.5, 1, 2, 5, 10}, so no single bandwidth has to be right.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

KERNELS = ("rbf", "imq")
WAE_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # Tolstikhin et al. 2018's code: multiples of C = 2 D sigma^2


def squared_distances(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """|u_i - v_j|^2 for u (n, D), v (m, D) -> (n, m). fp32 even under bf16 autocast: the expansion
    |u|^2 + |v|^2 - 2 u.v cancels digits a bf16 product lacks."""
    with torch.autocast(u.device.type, enabled=False):
        u, v = u.float(), v.float()
        return (u.pow(2).sum(1)[:, None] + v.pow(2).sum(1)[None, :] - 2 * u @ v.T).clamp(min=0)


def kernel_matrix(
    sq: torch.Tensor, dim: int, kernel: str = "rbf", scales: Sequence[float] = (1.0,), sigma: float = 1.0
) -> torch.Tensor:
    """sum over s in `scales` of k_s(u, v), from the squared distances sq (n, m) of D = `dim`-dimensional points:
    rbf exp(-sq / C_s) or imq C_s / (C_s + sq), with C_s = s * 2 * dim * sigma^2. -> (n, m)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel {kernel!r}; expected one of {', '.join(KERNELS)}")  # a programming error
    base = 2.0 * dim * sigma**2
    total = torch.zeros_like(sq)
    for scale in scales:
        c = scale * base
        total = total + (torch.exp(-sq / c) if kernel == "rbf" else c / (c + sq))
    return total


def mmd2(
    a: torch.Tensor,
    b: torch.Tensor,
    kernel: str = "rbf",
    scales: Sequence[float] = (1.0,),
    sigma: float = 1.0,
) -> torch.Tensor:
    """Unbiased estimate MMD^2_u (Gretton et al. 2012, eq. 3) between samples a (n, D) and b (m, D), n, m >= 2:
    the within-sample means leave out the diagonal k(u, u) (a point is not an independent draw of itself), so its
    expectation is MMD^2 exactly and it can come out below 0 when the two distributions are close. -> scalar."""
    n, m, dim = a.shape[0], b.shape[0], a.shape[1]
    k_aa = kernel_matrix(squared_distances(a, a), dim, kernel, scales, sigma)  # (n, n)
    k_bb = kernel_matrix(squared_distances(b, b), dim, kernel, scales, sigma)  # (m, m)
    k_ab = kernel_matrix(squared_distances(a, b), dim, kernel, scales, sigma)  # (n, m)
    within_a = (k_aa.sum() - k_aa.diagonal().sum()) / (n * (n - 1))
    within_b = (k_bb.sum() - k_bb.diagonal().sum()) / (m * (m - 1))
    return within_a + within_b - 2 * k_ab.mean()
