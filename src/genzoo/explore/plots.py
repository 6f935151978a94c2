"""Plots drawn with matplotlib (Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scatter_by_class(
    points: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], path: Path | str, title: str = ""
) -> Path:
    """A 2-D scatter (N, 2) coloured by label, with a legend of class names."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    cmap = plt.get_cmap("tab10")
    points, labels = points.cpu().numpy(), labels.cpu().numpy()
    for k, name in enumerate(class_names):
        mask = labels == k
        ax.scatter(points[mask, 0], points[mask, 1], s=3, alpha=0.6, color=cmap(k % 10), label=name)
    ax.legend(markerscale=4, fontsize=8, loc="best", frameon=False)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return save_figure(fig, path)


def save_figure(fig, path: Path | str) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    pyplot().close(fig)
    return path
