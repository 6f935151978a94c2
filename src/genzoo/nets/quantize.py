"""Vector quantisation with a codebook learned by exponential moving averages (van den Oord et al. 2017, "Neural
Discrete Representation Learning", sec. 3.1 and appendix A.1), with dead-code restart.

Each encoder output vector z_e (D,) is replaced by its nearest code e_k of K; the decoder reads e_k and its
gradient is handed to z_e unchanged (the straight-through estimator, sec. 3.2). The codebook is not trained by
gradients but by running cluster statistics, updated once per training step from the batch's assignments:

    N_k <- g N_k + (1 - g) n_k              n_k: how many vectors of the batch chose code k
    m_k <- g m_k + (1 - g) sum_{z -> k} z   (K, D) running sum of the vectors that chose k
    e_k  = m_k / N~_k,   N~_k = (N_k + eps) / (n + K eps) * n,   n = sum_k N_k

N~ is the Laplace-smoothed cluster size (as in the authors' Sonnet implementation), which keeps e_k finite for
a code whose N_k has decayed to nothing. A code no vector chose for `dead_after` consecutive steps is re-seeded
with a randomly picked encoder output of the current batch (Dhariwal et al. 2020, "Jukebox", sec. 3.3 restart
codes below a usage threshold the same way), so the codebook does not shrink to the few codes the first batches
happened to pick. Every code starts idle, so the first update re-seeds every code the first batch leaves unused:
a data-dependent start, at the scale of the encoder's outputs.

All statistics are buffers: they travel in checkpoints, are copied into a weight average, and a resumed run
continues them exactly. The update avoids host syncs (no data-dependent shapes), so it can run after every step.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_q in the forward pass, and in the backward pass the gradient of z_q handed to z_e unchanged (van den Oord
    et al. 2017, eq. 3's sg[.]). Written as z_q + (z_e - sg[z_e]): the bracket is exactly zero for finite z_e, so the
    value is exactly z_q (z_e + sg[z_q - z_e] would round), and its derivative in z_e is exactly the identity."""
    return z_q.detach() + (z_e - z_e.detach())


class EMACodebook(nn.Module):
    """K codes of dimension D, learned by EMA (see the module docstring). Vectors are rows: (N, D)."""

    def __init__(self, codes: int, dim: int, decay: float = 0.99, epsilon: float = 1e-5, dead_after: int = 100):
        super().__init__()
        self.codes, self.dim, self.decay, self.epsilon, self.dead_after = codes, dim, decay, epsilon, dead_after
        # Small uniform start (the authors' init); codes the first batch leaves unused are re-seeded at once.
        embedding = torch.empty(codes, dim).uniform_(-1.0 / codes, 1.0 / codes)
        self.register_buffer("embedding", embedding)  # (K, D) the codes e_k
        self.register_buffer("cluster_size", torch.ones(codes))  # (K,) N_k; with m_k = e_k, e = m / N holds
        self.register_buffer("embedding_sum", embedding.clone())  # (K, D) m_k
        self.register_buffer("idle_steps", torch.full((codes,), dead_after, dtype=torch.long))  # (K,) steps unused

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) vectors -> (N,) int64 index of the nearest code (squared Euclidean distance, in fp32)."""
        z, e = z.float(), self.embedding
        # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2; ||z||^2 is the same for every code and does not change the argmin
        distances = e.pow(2).sum(1)[None, :] - 2 * z @ e.t()  # (N, K)
        return distances.argmin(1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(...) int64 indices -> (..., D) codes."""
        return F.embedding(indices, self.embedding)

    def statistics(self, z: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch's assignment counts n (K,) and sums of assigned vectors (K, D), through a one-hot product
        (deterministic on every device, unlike an index_add with atomics)."""
        one_hot = F.one_hot(indices, self.codes).float()  # (N, K)
        return one_hot.sum(0), one_hot.t() @ z.float()

    @torch.no_grad()
    def update(self, counts: torch.Tensor, sums: torch.Tensor, candidates: torch.Tensor) -> None:
        """One EMA step from a batch's `counts` (K,) and `sums` (K, D), then the restart of codes unused for
        `dead_after` steps from `candidates` (N, D), the batch's encoder outputs. Under torchrun the counts and sums
        are summed over the ranks, and rank 0's restarts are broadcast, so every rank keeps the same codebook."""
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if distributed:
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        g = self.decay
        self.cluster_size.mul_(g).add_(counts, alpha=1 - g)
        self.embedding_sum.mul_(g).add_(sums, alpha=1 - g)
        self.embedding.copy_(self.embedding_sum / self.smoothed_sizes()[:, None])
        # Restart: every code idle for dead_after steps takes a random candidate (one draw per code, every step, so
        # the random stream and the shapes do not depend on the data: no host sync).
        self.idle_steps.add_(1).masked_fill_(counts > 0, 0)
        dead = self.idle_steps >= self.dead_after  # (K,)
        picks = candidates[torch.randint(len(candidates), (self.codes,), device=candidates.device)].float()
        self.embedding.copy_(torch.where(dead[:, None], picks, self.embedding))
        self.embedding_sum.copy_(torch.where(dead[:, None], picks, self.embedding_sum))  # N = 1, so m = e
        self.cluster_size.masked_fill_(dead, 1.0)
        self.idle_steps.masked_fill_(dead, 0)
        if distributed:
            for buffer in (self.embedding, self.embedding_sum, self.cluster_size, self.idle_steps):
                dist.broadcast(buffer, 0)

    def smoothed_sizes(self) -> torch.Tensor:
        """N~_k = (N_k + eps) / (n + K eps) * n: Laplace smoothing that keeps every size positive and their sum n."""
        n = self.cluster_size.sum()
        return (self.cluster_size + self.epsilon) / (n + self.codes * self.epsilon) * n


def usage_figures(indices: torch.Tensor, codes: int) -> dict[str, float]:
    """How much of a codebook a set of assignments (any shape, int64) uses: the fraction of the K codes chosen at
    least once, their number, and the perplexity exp(H(p)) of the codes' frequencies p (K for uniform use, 1 for a
    single code; van den Oord et al. 2017 and later VQ work report it)."""
    p = torch.bincount(indices.flatten(), minlength=codes).double()
    p = p / p.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    used = int((p > 0).sum())
    return {"codebook_usage": used / codes, "codes_used": used, "perplexity": float(entropy.exp())}
