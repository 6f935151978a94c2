"""Posterior collapse: how much each latent dimension carries, from the encoder's view of a test set.

- KL per dimension: E_x KL(q(z_d|x) || p(z_d)) in nats; a collapsed dimension sits at 0 (its posterior is the prior).
- Active units (Burda et al. 2015, sec. 5.2): dimension d is active when A_d = Cov_x(E_{q(z|x)}[z_d]) > 0.01,
  i.e. when its posterior mean moves with the input. Burda et al. find many of a VAE's 50 units inactive, and
  more active in an IWAE of the same architecture.

Models compute the per-image figures and their summary (`diagnostics` in models/vae.py, with nets/collapse.py);
this module reports and plots them. Nothing here imports a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from genzoo.explore.plots import pyplot, save_figure
from genzoo.nets.collapse import ACTIVE_THRESHOLD, collapse_summary  # noqa: F401  (the per-epoch figures, read here)


def plot_kl_per_dim(
    kl_per_dim: Sequence[float],
    mean_variance: Sequence[float],
    path: Path | str,
    title: str = "",
    layers: Sequence[int] | None = None,
    threshold: float = ACTIVE_THRESHOLD,
) -> Path:
    """Bars of KL per latent dimension, dark for active units, pale for inactive ones; layer boundaries dashed."""
    plt = pyplot()
    d = len(kl_per_dim)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.18 * d + 2), 3.6), dpi=110)
    active = [v > threshold for v in mean_variance]
    colors = ["tab:blue" if a else "lightgray" for a in active]
    ax.bar(range(d), kl_per_dim, color=colors, width=0.85)
    if layers is not None and len(layers) > 1:
        edge = 0
        for size in layers[:-1]:
            edge += size
            ax.axvline(edge - 0.5, color="black", linestyle="--", linewidth=0.8)
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("KL (nats)")
    ax.set_title(title or f"KL per dimension: {sum(active)} of {d} units active (Cov_x E_q[z] > {threshold})")
    ax.set_xlim(-0.75, d - 0.25)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))  # dimensions are whole numbers
    return save_figure(fig, path)


def active_units_history(metrics: Iterable[dict[str, Any]]) -> list[tuple[float, int]]:
    """(epoch, active units) of every test line of a run's metrics that logged them."""
    return [
        (float(record["epoch"]), int(record["active_units"]))
        for record in metrics
        if record.get("split") == "test" and "active_units" in record
    ]


def plot_active_units(history: Sequence[tuple[float, int]], latent_dim: int, path: Path | str, title: str = "") -> Path:
    """Active units over training (one point per epoch's test evaluation)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    epochs, counts = zip(*history) if history else ((), ())
    ax.plot(epochs, counts, marker="o", markersize=3)
    ax.axhline(latent_dim, color="gray", linestyle=":", linewidth=1, label=f"latent size {latent_dim}")
    ax.set_ylim(0, latent_dim * 1.05 + 0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("active units")
    ax.set_title(title or "active units over training (test set)")
    ax.legend(frameon=False, loc="lower right")
    return save_figure(fig, path)
