"""The zoo under one CPU budget: every registered model, trained for the same wall-clock time, then evaluated.

The table a user reads to pick a model. Every model keeps its default config (`genzoo models` lists them), bf16
autocast, batch 128, seed 0, and gets `--minutes` of training wall-clock per data set (the trainer's end-of-epoch
test pass, pictures and checkpoints count against it). The step count is set from a short probe of the model's
own speed, so slow models (factor-vae, wgan-gp, lstm-ae, the conv GANs) get fewer steps, not more time.

Then `genzoo evaluate RUN --quality` on the newest checkpoint: sample quality in the shipped LeNet-style
feature network's space (FD-lenet, KID-lenet, precision/recall k=3, density/coverage k=5, classifier score;
10,000 samples against the 10,000 test images, with the real-data floor of 10,000 train images) for models that
sample, and reconstruction MSE plus latent-probe accuracies for models that encode.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python benchmarks/zoo.py [--minutes 2] [--datasets mnist fashion-mnist]

Run folders go to runs/bench-zoo/<dataset>/<model>; results to benchmarks/results/zoo.{json,md} (a rerun with
--models merges into the existing json, so one model can be redone without the rest).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

import genzoo
from genzoo.api import compare, evaluate
from genzoo.models.registry import model_names

PROBE_STEPS = 40
RESULTS = Path(__file__).parent / "results"


def config_for(model: str, dataset: str, steps: int) -> dict:
    return {"model": {"name": model}, "data": {"dataset": dataset},
            "train": {"steps": steps, "precision": "bf16", "tensorboard": False, "keep_checkpoints": 1}, "seed": 0}


def train_under_budget(model: str, dataset: str, budget_s: float, run: Path) -> dict:
    """A probe of PROBE_STEPS steps, then resumes sized from the speed of the chunk before (the first steps are
    slow while kernels warm up, so one estimate from the probe alone undershoots) until the budget is spent."""
    started = time.perf_counter()
    result = genzoo.train(config_for(model, dataset, PROBE_STEPS), run, overwrite=True, verbose=False)
    overhead = time.perf_counter() - started - result.train_seconds  # set-up + one test pass, pictures, checkpoint
    per_epoch = result.step / result.epochs  # steps in one epoch
    chunk_steps, chunk_seconds = result.step, result.train_seconds
    for _ in range(4):
        per_step = chunk_seconds / chunk_steps
        left = budget_s - (time.perf_counter() - started)
        # Each call and each epoch boundary it crosses cost about one overhead.
        boundaries = 1 + math.floor(left / per_step / per_epoch)
        more = int((left - boundaries * overhead) / per_step)
        if more < max(20, 0.05 * result.step):
            break
        before = result.step
        result = genzoo.resume(run, steps=before + more, verbose=False)
        chunk_steps, chunk_seconds = result.step - before, result.train_seconds
    return {"steps": result.step, "epochs": round(result.epochs, 2),
            "train_wall_seconds": round(time.perf_counter() - started, 1),
            "images_per_second": round(result.images_per_second)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="training wall-clock per model and data set")
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--models", nargs="+", default=model_names(), choices=model_names())
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-zoo"))
    parser.add_argument("--out", type=Path, default=RESULTS / "zoo")
    args = parser.parse_args()

    json_path = args.out.with_suffix(".json")
    previous = json.loads(json_path.read_text()) if json_path.exists() else {}
    rows = {(r["dataset"], r["model"]): r for r in previous.get("rows", [])}
    for dataset in args.datasets:
        for model in args.models:
            run = args.runs / dataset / model
            print(f"{dataset} / {model}: training for {args.minutes:g} min", flush=True)
            row = {"dataset": dataset, "model": model, "run": str(run)}
            try:
                row.update(train_under_budget(model, dataset, args.minutes * 60, run))
                started = time.perf_counter()
                row["eval"] = evaluate(run, quality=True, plots=False, progress=False)
                row["eval_seconds"] = round(time.perf_counter() - started, 1)
            except Exception as exc:  # one model's failure is a row of the table, not the end of the benchmark
                row["error"] = f"{type(exc).__name__}: {exc}"
            rows[(dataset, model)] = row
            fd = row.get("eval", {}).get("quality", {}).get("fd_lenet")
            print(f"{dataset} / {model}: {row.get('error') or ''}{row.get('steps', '-')} steps, FD-lenet "
                  f"{'-' if fd is None else f'{fd:.2f}'}", flush=True)
            write(json_path, args, rows)  # after every model: an interrupted benchmark keeps what it measured
    write(json_path, args, rows)
    markdown = table(rows, args.minutes)
    args.out.with_suffix(".md").write_text(markdown)
    print(markdown)


def write(json_path: Path, args: argparse.Namespace, rows: dict) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({
        "command": f"OMP_NUM_THREADS={torch.get_num_threads()} OMP_WAIT_POLICY=PASSIVE python benchmarks/zoo.py "
                   f"--minutes {args.minutes:g}",
        "budget": {"train_minutes_per_model_and_dataset": args.minutes, "precision": "bf16", "batch_size": 128,
                   "seed": 0, "threads": torch.get_num_threads()},
        "machine": {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__},
        "rows": [rows[k] for k in sorted(rows)],
    }, indent=1))


def table(rows: dict, minutes: float) -> str:
    """zoo.md: per data set, the leaderboard (floor first, generators by FD-lenet) and the budget each model got."""
    lines = [f"# The zoo under one budget: {minutes:g} min of CPU training per model and data set", "",
             "Made by `OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python benchmarks/zoo.py "
             f"--minutes {minutes:g}` (one CPU thread of a shared 2-core machine, bf16 autocast, batch 128, seed 0, "
             "every model's default config). Evaluation: `genzoo evaluate RUN --quality`, 10,000 samples vs the "
             "10,000 test images in the shipped LeNet-style feature network's space (these are *not* Inception "
             "FID/KID figures); KID-lenet is shown x1e3. The floor row is 10,000 real train images scored the same "
             "way. Encoders add reconstruction MSE per pixel and probe accuracies on their test codes.", ""]
    for dataset in sorted({d for d, _ in rows}, key=lambda d: (d != "mnist", d)):
        ours = [r for (d, _), r in rows.items() if d == dataset]
        runs = [r["run"] for r in ours if "eval" in r]
        lines += [f"## {dataset}", "", compare(runs, markdown=True) if runs else "(no run evaluated)", ""]
        lines += ["| model | steps | epochs | train s | img/s | eval s | note |", "|---|---:|---:|---:|---:|---:|---|"]
        for r in sorted(ours, key=lambda r: r["model"]):
            lines.append(f"| {r['model']} | {r.get('steps', '-')} | {r.get('epochs', '-')} | "
                         f"{r.get('train_wall_seconds', '-')} | {r.get('images_per_second', '-')} | "
                         f"{r.get('eval_seconds', '-')} | {r.get('error', '')} |")
        lines.append("")
        best = min((r for r in ours if "quality" in r.get("eval", {})),
                   key=lambda r: r["eval"]["quality"]["fd_lenet"], default=None)
        if best is not None:
            q = best["eval"]["quality"]
            lines += [f"Best generator on {dataset}: {best['model']}, FD-lenet {q['fd_lenet']:.2f} = "
                      f"{q['fd_lenet'] / q['floor']['fd_lenet']:.1f}x the real-data floor {q['floor']['fd_lenet']:.2f}.",
                      ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
