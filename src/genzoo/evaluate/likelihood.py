"""Test log-likelihood by importance sampling (Burda et al. 2015, "Importance weighted autoencoders").

For a model with log importance weights log w_i = log p(x, z_i) - log q(z_i|x), z_i ~ q(z|x) (the
`log_weights` verb of models/base.py),

    log p(x) >= L_k = log (1/k) sum_{i<=k} w_i   (the k-sample bound, tending to log p(x) as k grows)
    ELBO = E_q[log w] ~ (1/k) sum_i log w_i      (L_1, from the same draws)

The protocol of the published MNIST figures: k = 5000, the mean of -L_k over the 10,000 test images of
dynamically binarized MNIST (test set binarized once with a fixed seed, data/datasets.py), in nats. k draws are
streamed in chunks with a running log-sum-exp, so memory stays flat whatever k is; everything is seeded.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import torch
from tqdm.auto import tqdm

from genzoo.data.batches import eval_batches
from genzoo.data.types import ImageSplit
from genzoo.errors import GenzooError
from genzoo.models.base import CONDITIONAL, LOG_LIKELIHOOD, GenerativeModel

DEFAULT_K = 5000  # Burda et al. 2015
ROWS_PER_CALL = 2048  # decoder rows (draws x images) per log_weights call: large enough for fast matmuls, small
#                       enough that the (rows, 784) logits stay in cache for the element-wise likelihood


@torch.no_grad()
def importance_bounds(
    model: GenerativeModel,
    x: torch.Tensor,
    k: int,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    chunk: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_k, ELBO) per image, each (B,) float64 nats, from k draws per image taken `chunk` at a time."""
    if LOG_LIKELIHOOD not in model.capabilities:
        raise model._cannot(LOG_LIKELIHOOD)
    if k < 1:
        raise GenzooError(f"k={k}: expected at least one importance sample")
    chunk = max(1, min(k, chunk or max(1, ROWS_PER_CALL // max(1, len(x)))))
    log_sum = torch.full((len(x),), -math.inf, dtype=torch.float64, device=x.device)
    total = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    done = 0
    while done < k:
        n = min(chunk, k - done)
        w = model.log_weights(x, n, labels, generator).double()  # (n, B)
        log_sum = torch.logaddexp(log_sum, torch.logsumexp(w, 0))
        total += w.sum(0)
        done += n
    return log_sum - math.log(k), total / k


@torch.no_grad()
def evaluate_nll(
    model: GenerativeModel,
    split: ImageSplit,
    k: int = DEFAULT_K,
    *,
    seed: int = 0,
    batch_size: int = 100,
    chunk: int | None = None,
    progress: bool = True,
    desc: str = "test NLL",
) -> dict[str, Any]:
    """-log p(x) estimated with k importance samples per image, and the ELBO, over every image of `split`.

    Returns the figures in nats (means over images, with the standard error of the mean over images) and the
    protocol they were measured under. A conditional model is scored on log p(x | y) with the split's labels."""
    if not batch_size > 0:
        raise GenzooError(f"batch_size={batch_size}: expected a positive number of images per batch")
    was_training = model.training
    model.eval()
    device = model.device
    generator = torch.Generator(device).manual_seed(seed)
    conditional = CONDITIONAL in model.capabilities
    bounds, elbos = [], []
    started = time.perf_counter()
    bar = tqdm(
        total=len(split), unit="img", desc=desc, disable=None if progress else True, dynamic_ncols=True, file=sys.stderr
    )
    try:
        for batch in eval_batches(split, batch_size, device):
            bound, elbo = importance_bounds(model, batch.x, k, batch.y if conditional else None, generator, chunk)
            bounds.append(bound)
            elbos.append(elbo)
            bar.update(len(batch))
    finally:
        bar.close()
    model.train(was_training)
    seconds = time.perf_counter() - started
    nll, nelbo = -torch.cat(bounds), -torch.cat(elbos)  # (N,)
    n = len(nll)
    stderr = (nll.std() / math.sqrt(n)).item() if n > 1 else float("nan")
    return {
        "nll": nll.mean().item(),  # nats, mean over images of -L_k
        "nll_stderr": stderr,  # standard error of that mean over images (not of the bound's own bias)
        "elbo": -nelbo.mean().item(),  # nats (negative), the same draws' mean log weight
        "gap": (nelbo - nll).mean().item(),  # -ELBO - NLL >= 0: how much tighter L_k is than the ELBO
        "k": k,
        "n_images": n,
        "seed": seed,
        "quantity": "-log p(x | y)" if conditional else "-log p(x)",
        "seconds": round(seconds, 2),
    }
