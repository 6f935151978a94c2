"""Train the feature networks that genzoo ships for its sample-quality metrics (see evaluate/features.py).

One run per data set, fixed seed, on the training split only (test images are never seen), with small random
shifts as augmentation. Writes src/genzoo/evaluate/weights/<name>.safetensors and records its SHA-256 and test
accuracy in feature_nets.json.

    python scripts/train_feature_nets.py [--datasets mnist fashion-mnist] [--epochs 8]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from genzoo.data.batches import EpochBatches
from genzoo.data.datasets import load_dataset
from genzoo.evaluate.features import REGISTRY, WEIGHTS_DIR, FeatureNet, extract_split

SEED = 0


def shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Translate every image of the batch by the same random offset of up to max_shift pixels (zero fill)."""
    dx, dy = (torch.randint(-max_shift, max_shift + 1, (2,), generator=generator)).tolist()
    return torch.roll(F.pad(x, (max_shift,) * 4), shifts=(dy, dx), dims=(2, 3))[
        ..., max_shift:-max_shift, max_shift:-max_shift
    ]


def train(name: str, epochs: int) -> dict:
    torch.manual_seed(SEED)
    data = load_dataset(name)
    net = FeatureNet()
    batches = EpochBatches(data.train, 128, seed=SEED)
    steps = epochs * len(batches)
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    generator = torch.Generator().manual_seed(SEED)
    start = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        for batch in batches.epoch(epoch):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = net(shift(batch.x, generator))
            loss = F.cross_entropy(logits.float(), batch.y, label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        net.eval()
        _, test_logits = extract_split(net, data.test)
        accuracy = (test_logits.argmax(1) == data.test.labels).double().mean().item()
        print(
            f"{name} epoch {epoch + 1}/{epochs}: test accuracy {accuracy:.4f} ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    path = WEIGHTS_DIR / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "test_accuracy": round(accuracy, 4),
        "epochs": epochs,
        "seed": SEED,
        "train_seconds": round(time.perf_counter() - start),
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    entries = json.loads(REGISTRY.read_text()) if REGISTRY.is_file() else {}
    for name in args.datasets:
        entries[name] = train(name, args.epochs)
        REGISTRY.write_text(json.dumps(entries, indent=2) + "\n")
        print(json.dumps({name: entries[name]}))


if __name__ == "__main__":
    main()
