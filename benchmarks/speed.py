"""Training throughput: the real trainer against a bare loop of the same model on pre-made tensors.

The model is the classic 784-400-20 VAE, batch 128, one MNIST epoch (468 steps). The bare loop is the compute
floor: batches already shuffled and converted to float, nothing but forward, backward and fused Adam. The trainer
run is `genzoo.train` for one epoch, timed by the trainer over its step loop (batching, steps, logging); the
end-of-epoch work (test evaluation, grids, checkpoint) is reported separately. Both precisions are measured in
the same process, interleaved, best of `--repeats`, because this shared machine is noisy.

    python benchmarks/speed.py [--repeats 3] [--json benchmarks/results/speed.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

import genzoo
from genzoo.api import build_model, load_data
from genzoo.config import RunConfig
from genzoo.data.batches import EpochBatches

CONFIG = {
    "model": {"name": "vae", "hidden": [400], "latent_dim": 20},
    "data": {"dataset": "mnist"},
    "train": {"epochs": 1, "batch_size": 128, "lr": 1e-3, "tensorboard": False},
}


def bare_loop(precision: str) -> float:
    """Seconds for one epoch of forward + backward + fused Adam over pre-made float batches."""
    config = RunConfig.from_dict(CONFIG)
    dataset = load_data(config)
    config, model = build_model(config, dataset)
    batches = list(EpochBatches(dataset.train, 128, seed=0).epoch(0))  # made before the clock starts
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    start = time.perf_counter()
    for step, batch in enumerate(batches):
        with autocast:
            loss = model.training_step(batch, step).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def trainer_epoch(precision: str) -> tuple[float, float, int]:
    """(step-loop seconds, whole train() call seconds, steps) of one epoch through the real trainer."""
    config = {**CONFIG, "train": {**CONFIG["train"], "precision": precision}}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = genzoo.train(config, Path(tmp) / "run", verbose=False)
        wall = time.perf_counter() - start
    return result.train_seconds, wall, result.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "speed.json")
    args = parser.parse_args()

    rows = {}
    for precision in ("fp32", "bf16"):
        bare, loop, wall = [], [], []
        for _ in range(args.repeats):  # interleaved so both see the same machine load
            bare.append(bare_loop(precision))
            seconds, whole, steps = trainer_epoch(precision)
            loop.append(seconds)
            wall.append(whole)
        images = steps * 128
        rows[precision] = {
            "bare_seconds": min(bare),
            "trainer_seconds": min(loop),
            "trainer_call_seconds": min(wall),
            "bare_images_per_s": images / min(bare),
            "trainer_images_per_s": images / min(loop),
            "ratio": min(bare) / min(loop),
            "all_bare": bare,
            "all_trainer": loop,
        }

    print(f"VAE 784-400-20, batch 128, one MNIST epoch ({images} images), best of {args.repeats}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'precision':<10}{'bare s':>8}{'trainer s':>11}{'bare img/s':>12}{'trainer img/s':>15}"
          f"{'ratio':>7}{'train() call s':>16}")
    for precision, r in rows.items():
        print(f"{precision:<10}{r['bare_seconds']:>8.2f}{r['trainer_seconds']:>11.2f}{r['bare_images_per_s']:>12,.0f}"
              f"{r['trainer_images_per_s']:>15,.0f}{r['ratio']:>7.2f}{r['trainer_call_seconds']:>16.2f}")
    print("ratio = trainer throughput / bare-loop throughput (target >= 0.85); the train() call adds data loading,"
          " test evaluation, grids, a checkpoint and the GIF")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": platform.machine(), "threads": torch.get_num_threads(),
                                     "torch": torch.__version__, "images": images, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
