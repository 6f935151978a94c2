"""The autoencoder family under one budget: test reconstruction MSE per pixel and wall-clock seconds.

Every model trains with its default config for the same number of epochs (batch 128, Adam 1e-3, fp32) on
MNIST and Fashion-MNIST; the MSE is per pixel with pixels in [0, 1], over the 10,000 test images, using the
deterministic reconstruction. Writes benchmarks/results/autoencoders.{json,md}.

    python benchmarks/autoencoders.py [--epochs 3] [--datasets mnist fashion-mnist] [--models ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import genzoo
from genzoo.api import load_data
from genzoo.config import RunConfig
from genzoo.evaluate.reconstruction import reconstruction_mse

# (label, model name, model overrides)
CASES = [
    ("ae", "ae", {}),
    ("ae tied", "ae", {"tied": True}),
    ("conv-ae", "conv-ae", {}),
    ("conv-ae classic", "conv-ae", {"network": "conv-classic"}),
    ("dae masking 0.3", "dae", {}),
    ("dae gaussian 0.5", "dae", {"noise": "gaussian"}),
    ("dae conv masking", "dae", {"network": "conv"}),
    ("cae (exact Jacobian)", "cae", {}),
    ("cae deep (projections)", "cae", {"hidden": [512]}),
    ("lstm-ae", "lstm-ae", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--only", nargs="+", help="labels of the cases to run (default all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "autoencoders")
    args = parser.parse_args()

    rows = []
    for dataset in args.datasets:
        for label, name, overrides in CASES:
            if args.only and label not in args.only:
                continue
            config = {
                "model": {"name": name, **overrides},
                "data": {"dataset": dataset},
                "train": {"epochs": args.epochs, "tensorboard": False},
            }
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                result = genzoo.train(config, Path(tmp) / "run", verbose=False)
                wall = time.perf_counter() - start
                model = genzoo.load(result.run_dir)
                mse = reconstruction_mse(model, load_data(RunConfig.from_dict(config)).test)
            params = sum(p.numel() for p in model.parameters())
            rows.append(
                {
                    "dataset": dataset,
                    "model": label,
                    "config": overrides,
                    "epochs": args.epochs,
                    "test_mse_per_pixel": mse,
                    "train_seconds": result.train_seconds,
                    "wall_seconds": wall,
                    "parameters": params,
                }
            )
            print(f"{dataset:<14}{label:<24}{mse:>10.5f}{result.train_seconds:>9.1f} s{params:>11,}", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {"epochs": args.epochs, "threads": torch.get_num_threads(), "torch": torch.__version__, "rows": rows},
            indent=2,
        )
    )
    lines = [
        f"Autoencoders, {args.epochs} epochs each, batch 128, Adam 1e-3, fp32, {torch.get_num_threads()} "
        "CPU threads. MSE per pixel (pixels in [0, 1]) on the 10,000 test images.",
        "",
        "| data set | model | test MSE / pixel | train s | parameters |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['dataset']} | {r['model']} | {r['test_mse_per_pixel']:.5f} | {r['train_seconds']:.1f} | "
        f"{r['parameters']:,} |"
        for r in rows
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
