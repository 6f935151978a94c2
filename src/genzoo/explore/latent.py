"""Looking inside a latent space: interpolations, 2-D manifolds, traversals and embeddings.

Every function takes a model that can encode and decode (checked through its declared capabilities) and returns
images (N, C, H, W) in [0, 1] or codes; drawing them is `grids.py`'s job. Where the values along an axis come
from depends on the latent space: a VAE's prior is N(0, I), so its axes use Gaussian quantiles (Kingma &
Welling 2014, fig. 4) and its paths are spherical; an autoencoder has no prior, so its axes span the quantiles of
the test codes and its paths are straight lines.
"""

from __future__ import annotations

import torch

from genzoo.data.batches import eval_batches
from genzoo.data.types import ImageSplit
from genzoo.errors import CapabilityError, GenzooError
from genzoo.models.base import DECODE, ENCODE, GenerativeModel

QUANTILES = (0.05, 0.95)  # manifold axes: the central 90% of the prior or of the codes
TRAVERSAL_QUANTILES = (0.00135, 0.99865)  # traversals sweep wider: +-3 standard deviations of a Gaussian


def require(model: GenerativeModel, *verbs: str) -> None:
    for verb in verbs:
        if verb not in model.capabilities:
            raise model._cannot(verb)


def require_axes(model: GenerativeModel, verb: str) -> None:
    """Refuse a verb that sweeps single latent dimensions (manifold, traverse) for a model whose dimensions are not
    axes worth sweeping: its class says why in `axes_missing_reason` (a VQ-VAE: one coordinate moves one grid
    cell between nearby codes, so every image of the grid is the same)."""
    why = getattr(model, "axes_missing_reason", None)
    if why:
        raise CapabilityError(f"model {model.name!r} cannot {verb} ({why})")


def gaussian_latent(model: GenerativeModel) -> bool:
    return getattr(model, "latent_prior", None) == "gaussian"


@torch.no_grad()
def encode_split(model: GenerativeModel, split: ImageSplit, batch_size: int = 1000) -> torch.Tensor:
    """Codes (N, D) of a whole split, in order."""
    require(model, ENCODE)
    return torch.cat(
        [model.encode(b.x, **model.conditioning(b.y)) for b in eval_batches(split, batch_size, model.device)]
    )


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models): keeps the path at the radius
    typical of a Gaussian latent instead of cutting through its low-density centre. Falls back to lerp for
    (nearly) parallel codes."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    spherical = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / so
    return torch.where(so.abs() < 1e-4, lerp(a, b, t), spherical)


@torch.no_grad()
def interpolate(
    model: GenerativeModel,
    starts: torch.Tensor,
    ends: torch.Tensor,
    steps: int = 10,
    spherical: bool | None = None,
    start_labels: torch.Tensor | None = None,
    end_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """One row per pair: decodings along the path from code(start) to code(end). -> (pairs * steps, C, H, W).
    A conditional model encodes each image with its own label and decodes a row with its start's label."""
    require(model, ENCODE, DECODE)
    spherical = gaussian_latent(model) if spherical is None else spherical
    za = model.encode(starts, **model.conditioning(start_labels))[:, None]  # (P, 1, D)
    zb = model.encode(ends, **model.conditioning(end_labels))[:, None]
    t = torch.linspace(0, 1, steps, device=za.device)[None, :, None]  # (1, S, 1)
    z = (slerp if spherical else lerp)(za, zb, t)  # (P, S, D)
    rows = None if start_labels is None else start_labels.repeat_interleave(steps)
    return model.decode(z.flatten(0, 1), **model.conditioning(rows))


def axis_values(
    model: GenerativeModel, n: int, codes: torch.Tensor | None, dim: int, span: tuple[float, float] = QUANTILES
) -> torch.Tensor:
    """n values along latent dimension `dim` between the quantiles `span`: of N(0, 1) for a VAE or a GAN with
    Gaussian noise, of U[-1, 1] for uniform noise, of the codes otherwise."""
    q = torch.linspace(*span, n)
    if getattr(model, "latent_prior", None) == "uniform":  # a GAN fed U[-1, 1] noise: its quantiles
        return 2 * q - 1
    if gaussian_latent(model) or codes is None:
        return torch.distributions.Normal(0.0, 1.0).icdf(q)
    return torch.quantile(codes[:, dim].float().cpu(), q)


def centre(model: GenerativeModel, codes: torch.Tensor | None, dim: int) -> torch.Tensor:
    """The point other dimensions are held at: the prior mean for a VAE, the median code otherwise."""
    if gaussian_latent(model) or codes is None:
        return torch.zeros(dim)
    return codes.float().cpu().median(0).values


def widest_dims(codes: torch.Tensor, k: int = 2) -> list[int]:
    """The k latent dimensions whose codes vary most over the data (the ones worth looking at)."""
    return codes.float().var(0).topk(k).indices.tolist()


@torch.no_grad()
def manifold(
    model: GenerativeModel,
    n: int = 20,
    dims: tuple[int, int] | None = None,
    codes: torch.Tensor | None = None,
    label: int | None = None,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Decodings over an n x n grid of two latent dimensions (rows: second dim, top to bottom high to low;
    columns: first dim); a conditional model draws class `label` (default 0) throughout. Returns images (n*n, C, H, W)
    and
    the two dimensions used."""
    require(model, DECODE)
    require_axes(model, "manifold")
    d = model.latent_dim
    if dims is None:
        dims = (0, 1) if d == 2 or codes is None else tuple(widest_dims(codes))
    if d < 2 or len(set(dims)) != 2 or not all(0 <= k < d for k in dims):
        raise GenzooError(f"manifold needs two distinct latent dimensions in 0..{d - 1}; got {list(dims)}")
    xs, ys = axis_values(model, n, codes, dims[0]), axis_values(model, n, codes, dims[1]).flip(0)
    z = centre(model, codes, d).repeat(n * n, 1)
    z[:, dims[0]] = xs.repeat(n)
    z[:, dims[1]] = ys.repeat_interleave(n)
    return model.decode(z.to(model.device), **model.conditioning(torch.full((n * n,), label or 0))), dims


@torch.no_grad()
def traverse(
    model: GenerativeModel,
    x: torch.Tensor,
    steps: int = 11,
    dims: list[int] | None = None,
    codes: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """One row per latent dimension: the code of image x (1, C, H, W) with that dimension swept over its axis
    values while the others stay fixed (a conditional model keeps x's label, `labels` (1,), throughout).
    -> (len(dims) * steps, C, H, W)."""
    require(model, ENCODE, DECODE)
    require_axes(model, "traverse")
    dims = list(range(model.latent_dim)) if dims is None else dims
    if not all(0 <= d < model.latent_dim for d in dims):
        raise GenzooError(f"traverse: latent dimensions must lie in 0..{model.latent_dim - 1}; got {dims}")
    base = model.encode(x, **model.conditioning(labels))[0].float().cpu()  # (D,)
    z = base.repeat(len(dims) * steps, 1)
    for row, dim in enumerate(dims):
        z[row * steps : (row + 1) * steps, dim] = axis_values(model, steps, codes, dim, TRAVERSAL_QUANTILES)
    rows = None if labels is None else labels.repeat(len(z))
    return model.decode(z.to(model.device), **model.conditioning(rows))


def pca_2d(codes: torch.Tensor) -> torch.Tensor:
    """Project codes (N, D) on their two principal axes -> (N, 2) (a 2-D code is returned centred)."""
    centred = codes.float() - codes.float().mean(0)
    if codes.shape[1] <= 2:
        return centred[:, :2] if codes.shape[1] == 2 else torch.cat([centred, torch.zeros_like(centred)], 1)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v[:2].T


def tsne_2d(codes: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """t-SNE (van der Maaten & Hinton 2008) through scikit-learn, which is an optional extra."""
    try:
        from sklearn.manifold import TSNE
    except ImportError as exc:
        raise GenzooError("t-SNE needs scikit-learn: pip install 'genzoo[extras]'") from exc
    points = TSNE(n_components=2, init="pca", random_state=seed).fit_transform(codes.float().cpu().numpy())
    return torch.from_numpy(points)
