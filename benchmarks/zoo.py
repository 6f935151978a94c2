"""The zoo under one CPU budget: every registered model, trained for the same CPU time, then evaluated.

The table a user reads to pick a model. Every model keeps its default config (`genzoo models` lists them), bf16
autocast where the CPU has bf16 instructions (fp32 where it would be emulated, several times slower), batch 128,
seed 0, and gets `--minutes` of training CPU time per data set, read from the process's CPU clock so that a job running
beside it does not change what each model gets (the trainer's end-of-epoch test
pass, pictures and checkpoints count against it). The step count follows from the model's own cost per step, so
slow models (factor-vae, wgan-gp, lstm-ae, the conv GANs) get fewer steps, not more time.

Then `genzoo evaluate RUN` on the newest checkpoint: sample quality in the shipped LeNet-style
feature network's space (FD-lenet, KID-lenet, precision/recall k=3, density/coverage k=5, classifier score;
10,000 samples against the 10,000 test images, with the real-data floor of 10,000 train images) for models that
sample, and reconstruction MSE plus latent-probe accuracies for models that encode.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python benchmarks/zoo.py [--minutes 1.5] [--datasets mnist fashion-mnist]

`--gmm` also samples every unconditional encoder through a 10-component Gaussian mixture fitted to its training
codes (`genzoo evaluate --sampler gmm`: rows "MODEL (gmm)"); `--no-train` re-evaluates the run folders already
there instead of training them again.

Run folders go to runs/bench-zoo/<dataset>/<model>; results to benchmarks/results/zoo.{json,md} (a rerun with
--models merges into the existing json, so one model can be redone without the rest).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import genzoo
from genzoo.api import evaluate
from genzoo.evaluate.leaderboard import SAMPLED_BY, format_table, rank
from genzoo.models.base import CONDITIONAL, DECODE, ENCODE
from genzoo.models.registry import get_model_class, model_names
from genzoo.train.devices import cpu_has_bf16

PROBE_STEPS = 40
RESULTS = Path(__file__).parent / "results"


def default_precision() -> str:
    """bf16 where this CPU computes it natively, else fp32 (emulated bf16 is several times slower)."""
    return "bf16" if cpu_has_bf16() else "fp32"


def config_for(model: str, dataset: str, steps: int, precision: str) -> dict:
    return {
        "model": {"name": model},
        "data": {"dataset": dataset},
        "train": {"steps": steps, "precision": precision, "tensorboard": False, "keep_checkpoints": 1},
        "seed": 0,
    }


def cpu_seconds() -> float:
    """CPU time of this process (all its threads): the budget's clock. Unlike wall-clock it does not shrink when
    another job shares the machine, so every model gets the same computation whatever ran beside it."""
    return time.process_time()


def train_under_budget(model: str, dataset: str, budget_s: float, run: Path, precision: str) -> dict:
    """Train for about `budget_s` CPU seconds: a probe of PROBE_STEPS steps, then resumes, each sized from the
    calls before it. A call costs set-up + steps x (CPU per step) + epoch ends x (test pass, pictures,
    checkpoint); the step loop's share comes from the trainer's own timing, the rest is fixed cost, shared out
    over the call's own end and the epoch ends it crossed."""
    started, wall = cpu_seconds(), time.perf_counter()
    before_cpu, before_wall, previous = started, wall, 0
    result = genzoo.train(config_for(model, dataset, PROBE_STEPS, precision), run, overwrite=True, verbose=False)
    per_epoch = result.step / result.epochs  # steps in one epoch
    for _ in range(6):
        chunk_cpu, chunk_wall = cpu_seconds() - before_cpu, time.perf_counter() - before_wall
        steps = result.step - previous
        per_step = chunk_cpu * (result.train_seconds / chunk_wall) / steps  # CPU seconds of one step
        ends = int(result.step // per_epoch) - int(previous // per_epoch)  # epoch ends inside the call
        per_end = (chunk_cpu - per_step * steps) / (ends + 1)  # the call's own set-up and end count as one
        left = budget_s - (cpu_seconds() - started) - per_end
        more = int(0.9 * left / (per_step + per_end / per_epoch))
        if more < max(20, 0.02 * result.step):
            break
        before_cpu, before_wall, previous = cpu_seconds(), time.perf_counter(), result.step
        result = genzoo.resume(run, steps=previous + more, verbose=False)
    return {
        "steps": result.step,
        "epochs": round(result.epochs, 2),
        "train_cpu_seconds": round(cpu_seconds() - started, 1),
        "train_wall_seconds": round(time.perf_counter() - wall, 1),
        "images_per_second": round(result.images_per_second),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.5, help="training CPU minutes per model and data set")
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--models", nargs="+", default=model_names(), choices=model_names())
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-zoo"))
    parser.add_argument("--out", type=Path, default=RESULTS / "zoo")
    parser.add_argument(
        "--precision",
        choices=["bf16", "fp32"],
        default=default_precision(),
        help="default: bf16 where the CPU has bf16 instructions, else fp32",
    )
    parser.add_argument("--gmm", action="store_true", help="also evaluate encoders with --sampler gmm")
    parser.add_argument("--no-train", action="store_true", help="evaluate the existing run folders only")
    parser.add_argument("--tables-only", action="store_true", help="only rebuild zoo.md from zoo.json")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=[],
        help="only rebuild the tables: merge the rows of these zoo.json files into --out's",
    )
    args = parser.parse_args()
    if args.merge or args.tables_only:  # e.g. the data sets were run as two processes side by side, one per core
        merged = json.loads(args.out.with_suffix(".json").read_text())
        rows = {
            (r["dataset"], r["model"]): r
            for f in [args.out.with_suffix(".json"), *args.merge]
            for r in json.loads(Path(f).read_text())["rows"]
        }
        merged["rows"] = [rows[k] for k in sorted(rows)]
        args.out.with_suffix(".json").write_text(json.dumps(merged, indent=1))
        args.out.with_suffix(".md").write_text(table(rows, merged["budget"]["train_cpu_minutes_per_model_and_dataset"]))
        return

    json_path = args.out.with_suffix(".json")
    previous = json.loads(json_path.read_text()) if json_path.exists() else {}
    rows = {(r["dataset"], r["model"]): r for r in previous.get("rows", [])}
    for dataset in args.datasets:
        for model in args.models:
            run = args.runs / dataset / model
            print(
                f"{dataset} / {model}: "
                + ("evaluating" if args.no_train else f"training for {args.minutes:g} CPU min"),
                flush=True,
            )
            row = rows.get((dataset, model), {}) if args.no_train else {}
            row.update({"dataset": dataset, "model": model, "run": str(run)})
            try:
                if not args.no_train:
                    row.update(train_under_budget(model, dataset, args.minutes * 60, run, args.precision))
                    row["precision"] = args.precision
                if not args.no_train or "eval" not in row:  # (the same seeded figures as the last evaluation)
                    started = time.perf_counter()
                    row["eval"] = evaluate(run, quality=True, plots=False, progress=False)
                    row["eval_seconds"] = round(time.perf_counter() - started, 1)
                if args.gmm and mixture_can_sample(model):
                    row["eval"].update(evaluate(run, quality=True, plots=False, progress=False, sampler="gmm"))
            except Exception as exc:  # one model's failure is a row of the table, not the end of the benchmark
                row["error"] = f"{type(exc).__name__}: {exc}"
            rows[(dataset, model)] = row
            fd = row.get("eval", {}).get("quality", {}).get("fd_lenet")
            print(
                f"{dataset} / {model}: {row.get('error') or ''}{row.get('steps', '-')} steps, FD-lenet "
                f"{'-' if fd is None else f'{fd:.2f}'}",
                flush=True,
            )
            write(json_path, args, rows)  # after every model: an interrupted benchmark keeps what it measured
    write(json_path, args, rows)
    markdown = table(rows, args.minutes)
    args.out.with_suffix(".md").write_text(markdown)
    print(markdown)


def mixture_can_sample(model: str) -> bool:
    capabilities = get_model_class(model).capabilities
    return {ENCODE, DECODE} <= capabilities and CONDITIONAL not in capabilities


def write(json_path: Path, args: argparse.Namespace, rows: dict) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(
        json.dumps(
            {
                "command": f"OMP_NUM_THREADS={torch.get_num_threads()} OMP_WAIT_POLICY=PASSIVE "
                "python benchmarks/zoo.py "
                f"--minutes {args.minutes:g} --precision {args.precision}" + (" --gmm" if args.gmm else ""),
                "budget": {
                    "train_cpu_minutes_per_model_and_dataset": args.minutes,
                    "precision": args.precision,
                    "batch_size": 128,
                    "seed": 0,
                    "threads": torch.get_num_threads(),
                },
                "machine": {
                    "machine": platform.machine(),
                    "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__,
                },
                "rows": [rows[k] for k in sorted(rows)],
            },
            indent=1,
        )
    )


def table(rows: dict, minutes: float) -> str:
    """zoo.md: per data set, the leaderboard (floor first, generators by FD-lenet) and the budget each model got."""
    lines = [
        f"# The zoo under one budget: {minutes:g} CPU minutes of training per model and data set",
        "",
        "Made by `OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python benchmarks/zoo.py "
        f"--minutes {minutes:g} [--models ...]` (one CPU thread of a shared 2-core machine; the precision of "
        "each row is in its data set's second table: bf16 autocast where the CPU computes bf16 natively, else "
        "fp32; rows marked `bf16 *` were measured before rows recorded it, on a CPU with AMX, in bf16; rows come "
        "from several sessions and CPUs, so compare CPU seconds only within one session), batch 128, seed 0, "
        "every model's default config; the budget is CPU time, so load beside it does not change it). Evaluation: "
        "`genzoo evaluate RUN`, 10,000 samples vs the "
        "10,000 test images in the shipped LeNet-style feature network's space (these are *not* Inception "
        "FID/KID figures); KID-lenet is shown x1e3. The floor row is 10,000 real train images scored the same "
        "way. Encoders add reconstruction MSE per pixel and probe accuracies on their test codes. Rows "
        "`MODEL (gmm)` (`--gmm`): the same run sampled through a 10-component Gaussian mixture fitted to the codes "
        "of 10,000 training images (`genzoo evaluate --sampler gmm`), which lets plain autoencoders sample.",
        "",
    ]
    for dataset in sorted({d for d, _ in rows}, key=lambda d: (d != "mnist", d)):
        ours = [r for (d, _), r in rows.items() if d == dataset]
        # From the sections kept in zoo.json (not the run folders' eval.json): rebuilt without the runs.
        named = [(r["model"], r["eval"], r["run"]) for r in ours if "eval" in r]
        board = format_table(*rank(named), markdown=True) if named else "(no run evaluated)"
        lines += [f"## {dataset}", "", board, ""]
        lines += [
            "| model | steps | epochs | precision | train CPU s | train wall s | img/s | eval s | note |",
            "|---|---:|---:|---|---:|---:|---:|---:|---|",
        ]
        for r in sorted(ours, key=lambda r: r["model"]):
            lines.append(
                f"| {r['model']} | {r.get('steps', '-')} | {r.get('epochs', '-')} | {r.get('precision', 'bf16 *')} | "
                f"{r.get('train_cpu_seconds', '-')} | {r.get('train_wall_seconds', '-')} | "
                f"{r.get('images_per_second', '-')} | {r.get('eval_seconds', '-')} | {r.get('error', '')} |"
            )
        lines.append("")
        measured = [
            (r["model"] + suffix, r["eval"][key])
            for r in ours
            for key, suffix in SAMPLED_BY.items()
            if key in r.get("eval", {})
        ]
        if measured:
            name, q = min(measured, key=lambda m: m[1]["fd_lenet"])
            lines += [
                f"Best generator on {dataset}: {name}, FD-lenet {q['fd_lenet']:.2f} = "
                f"{q['fd_lenet'] / q['floor']['fd_lenet']:.1f}x the real-data floor {q['floor']['fd_lenet']:.2f}.",
                "",
            ]
    lines += ["Notes on these runs, written by hand (what was looked at, longer budgets): zoo-notes.md", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
