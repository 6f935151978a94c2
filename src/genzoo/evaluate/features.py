"""The feature networks behind every sample-quality metric: one small classifier per shipped data set.

Published FID uses Inception-v3 features, whose weights are downloaded at run time and were trained on
ImageNet photographs. genzoo instead trains and ships a small convolutional classifier per data set
(`scripts/train_feature_nets.py`, fixed seed) and measures distributions in its 128-d penultimate layer. The
metrics built on it are therefore named "-lenet" (e.g. FD-lenet) and are not comparable with Inception-based
figures from papers; they are comparable between genzoo runs, which is what they are for.

Each network's weights are a safetensors file beside this module, registered in `feature_nets.json` with its
SHA-256 and the test accuracy it reached; the SHA-256 is checked on every load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from genzoo.data.batches import to_float
from genzoo.data.types import ImageSplit
from genzoo.errors import GenzooError

WEIGHTS_DIR = Path(__file__).parent / "weights"
REGISTRY = WEIGHTS_DIR / "feature_nets.json"
FEATURE_DIM = 128
# Which shipped network measures which data set (binarized MNIST is still MNIST digits).
NETWORK_FOR = {"mnist": "mnist", "binarized-mnist": "mnist", "fashion-mnist": "fashion-mnist"}


class MaxPool2x2(nn.MaxPool2d):
    """nn.MaxPool2d(2). Without gradients, on even H and W, computed as the elementwise maximum of even and odd
    rows, then of even and odd columns: the same values (a maximum is exact), ten times faster than ATen's NCHW
    CPU kernel, which also builds the indices of the maxima and took a fifth of the feature network's time.
    With gradients ATen's kernel stays: it sends a tie's gradient to one input, torch.maximum would split it."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (torch.is_grad_enabled() and x.requires_grad) or x.shape[-2] % 2 or x.shape[-1] % 2:
            return super().forward(x)
        rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])  # (B, C, H, W) -> (B, C, H/2, W)
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])  # -> (B, C, H/2, W/2)


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 convs with batch norm, then a 2x2 max-pool: (B, c_in, H, W) -> (B, c_out, H/2, W/2)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        MaxPool2x2(),
    )


class FeatureNet(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> 10 logits, through 128-d features (the metrics' space).

    (1, 28, 28) -> block 32 -> (32, 14, 14) -> block 64 -> (64, 7, 7) -> flatten 3136 -> 128 -> 10.
    About 470k parameters (1.9 MB in fp32).
    """

    def __init__(self, channels: int = 1, classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            conv_block(channels, 32),
            conv_block(32, 64),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(64 * 7 * 7, FEATURE_DIM),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x - 0.5)  # centred input; (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@dataclass(frozen=True)
class FeatureNetInfo:
    name: str
    file: str
    sha256: str
    test_accuracy: float

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


def registry() -> dict[str, FeatureNetInfo]:
    if not REGISTRY.is_file():
        return {}
    return {
        name: FeatureNetInfo(name=name, **{k: v for k, v in entry.items() if k in ("file", "sha256", "test_accuracy")})
        for name, entry in json.loads(REGISTRY.read_text()).items()
    }


def info_for(dataset: str) -> FeatureNetInfo:
    nets = registry()
    name = NETWORK_FOR.get(dataset)
    if name is None or name not in nets:
        raise GenzooError(
            f"no shipped feature network for data set {dataset!r}; sample-quality metrics exist for "
            f"{', '.join(sorted(k for k, v in NETWORK_FOR.items() if v in nets))}"
        )
    return nets[name]


@lru_cache(maxsize=4)
def load_feature_net(dataset: str, device: str = "cpu") -> tuple[FeatureNet, FeatureNetInfo]:
    """The verified, eval-mode feature network for a data set. A file whose SHA-256 differs is refused."""
    info = info_for(dataset)
    data = info.path.read_bytes() if info.path.is_file() else b""
    digest = hashlib.sha256(data).hexdigest()
    if digest != info.sha256:
        raise GenzooError(
            f"{info.path}: SHA-256 {digest} does not match the registered {info.sha256}; "
            "the feature network is missing or damaged (reinstall genzoo)"
        )
    net = FeatureNet()
    net.load_state_dict(load_file(str(info.path)))
    return net.to(device).eval(), info


# Batches of the feature network. It used to take 1000 images at a time everywhere. On a CPU that made its widest
# activations, (B, 32, 28, 28) float32, 100 MB each, which malloc maps afresh for every batch and the kernel
# zero-fills page by page: 3.6 million page faults per 10,000 images on 2 cores, more system time than the
# convolutions took. At 64 images per thread (128 on two threads: 13 MB activations) glibc serves them from memory
# it keeps (in `genzoo evaluate`, about 10 thousand faults in all) and extraction takes half the time; far smaller
# batches would mean many short parallel regions, which a CPU shared with busy processes makes slow.
# The features must not depend on the batching, or neither would the figures. On a CPU an image comes out the
# same, bit for bit, from any batch with enough images per thread; oneDNN runs batches of only a few per thread
# through other kernels, whose round-off differs by ~1e-6 (with 2 threads: batches of 1-11 images, bar 4 and 8).
# So a short last batch joins the one before it. On a GPU, batches stay as they were.
GPU_BATCH_SIZE = 1000


def batch_bounds(n: int, batch_size: int, smallest: int = 1) -> list[tuple[int, int]]:
    """(start, end) of consecutive batches of `batch_size` over n items; a last batch of fewer than `smallest`
    items is merged into the one before it."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < smallest:
        starts.pop()
    return list(zip(starts, [*starts[1:], n]))


def feature_batches(n: int, device: torch.device) -> list[tuple[int, int]]:
    if device.type != "cpu":
        return batch_bounds(n, GPU_BATCH_SIZE)
    threads = torch.get_num_threads()
    return batch_bounds(n, min(64 * threads, 1000), smallest=4 * (threads + 1))


@torch.no_grad()
def extract(net: FeatureNet, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Features (N, 128) of images (N, C, H, W) in [0, 1], in float64 for the statistics downstream."""
    device = next(net.parameters()).device
    bounds = batch_bounds(len(images), batch_size) if batch_size else feature_batches(len(images), device)
    return torch.cat([net.features(images[start:end].to(device).float()).double() for start, end in bounds])


@torch.no_grad()
def extract_split(net: FeatureNet, split: ImageSplit) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, 128), logits (N, 10)) of a uint8 split."""
    device = next(net.parameters()).device
    feats, logits = [], []
    for start, end in feature_batches(len(split), device):
        f = net.features(to_float(split.images[start:end].to(device)))
        feats.append(f.double())
        logits.append(net.classifier(f).double())
    return torch.cat(feats), torch.cat(logits)
