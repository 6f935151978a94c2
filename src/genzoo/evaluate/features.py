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

from genzoo.data.batches import eval_batches
from genzoo.data.datasets import ImageSplit
from genzoo.errors import GenzooError

WEIGHTS_DIR = Path(__file__).parent / "weights"
REGISTRY = WEIGHTS_DIR / "feature_nets.json"
FEATURE_DIM = 128
# Which shipped network measures which data set (binarized MNIST is still MNIST digits).
NETWORK_FOR = {"mnist": "mnist", "binarized-mnist": "mnist", "fashion-mnist": "fashion-mnist"}


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 convs with batch norm, then a 2x2 max-pool: (B, c_in, H, W) -> (B, c_out, H/2, W/2)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.MaxPool2d(2),
    )


class FeatureNet(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> 10 logits, through 128-d features (the metrics' space).

    (1, 28, 28) -> block 32 -> (32, 14, 14) -> block 64 -> (64, 7, 7) -> flatten 3136 -> 128 -> 10.
    About 470k parameters (1.9 MB in fp32).
    """

    def __init__(self, channels: int = 1, classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(conv_block(channels, 32), conv_block(32, 64), nn.Flatten(), nn.Dropout(0.3),
                                  nn.Linear(64 * 7 * 7, FEATURE_DIM), nn.ReLU())
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
    return {name: FeatureNetInfo(name=name, **{k: v for k, v in entry.items() if k in ("file", "sha256",
                                                                                        "test_accuracy")})
            for name, entry in json.loads(REGISTRY.read_text()).items()}


def info_for(dataset: str) -> FeatureNetInfo:
    nets = registry()
    name = NETWORK_FOR.get(dataset)
    if name is None or name not in nets:
        raise GenzooError(f"no shipped feature network for data set {dataset!r}; sample-quality metrics exist for "
                          f"{', '.join(sorted(k for k, v in NETWORK_FOR.items() if v in nets))}")
    return nets[name]


@lru_cache(maxsize=4)
def load_feature_net(dataset: str, device: str = "cpu") -> tuple[FeatureNet, FeatureNetInfo]:
    """The verified, eval-mode feature network for a data set. A file whose SHA-256 differs is refused."""
    info = info_for(dataset)
    data = info.path.read_bytes() if info.path.is_file() else b""
    digest = hashlib.sha256(data).hexdigest()
    if digest != info.sha256:
        raise GenzooError(f"{info.path}: SHA-256 {digest} does not match the registered {info.sha256}; "
                          "the feature network is missing or damaged (reinstall genzoo)")
    net = FeatureNet()
    net.load_state_dict(load_file(str(info.path)))
    return net.to(device).eval(), info


@torch.no_grad()
def extract(net: FeatureNet, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Features (N, 128) of images (N, C, H, W) in [0, 1], in float64 for the statistics downstream."""
    device = next(net.parameters()).device
    out = [net.features(images[i : i + batch_size].to(device).float()).double()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


@torch.no_grad()
def extract_split(net: FeatureNet, split: ImageSplit, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, 128), logits (N, 10)) of a uint8 split."""
    device = next(net.parameters()).device
    feats, logits = [], []
    for batch in eval_batches(split, batch_size, device):
        f = net.features(batch.x)
        feats.append(f.double())
        logits.append(net.classifier(f).double())
    return torch.cat(feats), torch.cat(logits)
