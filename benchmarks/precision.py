"""Does bf16 autocast train each model as well as fp32? The evidence behind `train.precision: auto`.

Every registered model, at its default config on MNIST, is trained for the same number of steps in fp32 and in
bf16 autocast (what auto picks on hardware with native bf16), each with two seeds, then measured by its own
quality figure:

    VAE family (models that define p(x))     test loss, the negative ELBO in nats per image (lower is better)
    GANs and the adversarial autoencoder     FD-lenet of `--samples` samples against the test set (lower)
    other autoencoders                       test reconstruction MSE per pixel (lower)

(cgan's conditional accuracy and every other figure genzoo evaluate gives are kept in the JSON too.) The verdict
compares the mean over seeds: bf16 "keeps quality" when its mean is no worse than fp32's by more than the
seed-to-seed spread (the larger of the two precisions' ranges over seeds) plus `--slack` of fp32's mean.
A model whose bf16 mean is worse declares `bf16_safe = False` and auto gives it fp32 everywhere.

bf16 here means autocast's numerics (bf16 inputs to matrix products and convolutions, fp32 accumulation and
master weights), which are the same whether the CPU computes bf16 natively or emulates it, so the evidence can
be made on any CPU; only the time differs (emulated bf16 is several times slower).

Resumable: each (model, precision, seed) result is written to the JSON as soon as it exists, a run folder that
was interrupted is continued with `genzoo.resume` (exact), and a rerun skips what is done.

    python benchmarks/precision.py [--steps 400] [--models vae dcgan ...] [--samples 2000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import torch

import genzoo
from genzoo.errors import GenzooError
from genzoo.models.base import LOG_LIKELIHOOD, SAMPLE
from genzoo.models.registry import get_model_class, model_names
from genzoo.train.checkpoint import latest_valid
from genzoo.train.devices import cpu_has_bf16

RESULTS = Path(__file__).parent / "results"
PRECISIONS = ("fp32", "bf16")
SEEDS = (0, 1)


def figure_of(model: str) -> str:
    """The quality figure a model is judged by (all lower-is-better)."""
    cls = get_model_class(model)
    if LOG_LIKELIHOOD in cls.capabilities:
        return "test_loss"
    if SAMPLE in cls.capabilities:
        return "fd_lenet"
    return "reconstruction_mse"


def train_and_measure(model: str, precision: str, seed: int, args) -> dict:
    run = args.runs / model / f"{precision}-seed{seed}"
    config = {
        "model": {"name": model},
        "data": {"dataset": "mnist"},
        "train": {"steps": args.steps, "precision": precision, "tensorboard": False, "keep_checkpoints": 1},
        "seed": seed,
    }
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bf16 emulated on this CPU; adversarial health notes: not the question
        checkpoint = latest_valid(run / "checkpoints") if run.exists() else None
        if checkpoint is not None and checkpoint.step >= args.steps:
            result_test = None
        elif checkpoint is not None:
            result_test = genzoo.resume(run, verbose=False).test
        else:
            result_test = genzoo.train(config, run, overwrite=True, verbose=False).test
        trained = time.perf_counter() - started
        sections = genzoo.evaluate(run, samples=args.samples, plots=False, progress=False)
    test = result_test if result_test is not None else last_test_line(run)
    row = {
        "model": model,
        "precision": precision,
        "seed": seed,
        "steps": args.steps,
        "train_seconds": trained,
        "test": test,
        "test_loss": test.get("loss"),
    }
    quality, codes = sections.get("quality", {}), sections.get("codes", {})
    row.update({k: quality[k] for k in ("fd_lenet", "recall", "conditional_accuracy") if k in quality})
    if "precision" in quality:  # the metric, not the row's arithmetic precision
        row["sample_precision"] = quality["precision"]
    row.update({k: codes[k] for k in ("reconstruction_mse", "knn_accuracy") if k in codes})
    return row


def last_test_line(run: Path) -> dict:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return next(r for r in reversed(lines) if r.get("split") == "test")


def verdict(rows: list[dict], model: str, slack: float) -> dict:
    figure = figure_of(model)
    values = {p: [r[figure] for r in rows if r["precision"] == p and r.get(figure) is not None] for p in PRECISIONS}
    if not all(len(values[p]) == len(SEEDS) for p in PRECISIONS):
        return {"figure": figure, "done": False}
    mean = {p: sum(v) / len(v) for p, v in values.items()}
    spread = max(max(v) - min(v) for v in values.values())
    allowed = spread + slack * abs(mean["fp32"])
    worse_by = mean["bf16"] - mean["fp32"]
    return {
        "figure": figure,
        "done": True,
        "fp32": values["fp32"],
        "bf16": values["bf16"],
        "fp32_mean": mean["fp32"],
        "bf16_mean": mean["bf16"],
        "spread": spread,
        "allowed": allowed,
        "bf16_worse_by": worse_by,
        "keeps_quality": worse_by <= allowed,
        "declared_bf16_safe": get_model_class(model).bf16_safe,
    }


def table(results: dict, args) -> str:
    lines = [
        "# bf16 autocast against fp32, per model",
        "",
        f"Made by `python benchmarks/precision.py --steps {args.steps} --samples {args.samples} --slack "
        f"{args.slack:g}` on {results['machine']['cpu']} (bf16 native: {results['machine']['bf16_native']}), "
        f"torch {results['machine']['torch']}. MNIST, every model's default config, {args.steps} steps, seeds "
        f"{', '.join(map(str, SEEDS))} in each precision. Figures: test loss = negative ELBO in nats per image "
        f"(VAE family); FD-lenet of {args.samples:,} samples vs the 10,000 test images (GANs, aae: not the "
        "10,000-sample protocol of the zoo, so compare within this table only); reconstruction MSE per pixel "
        "(other autoencoders). All lower is better. bf16 keeps quality when its mean over seeds is worse than "
        "fp32's by at most the seed spread (the larger range over seeds of the two precisions) plus "
        f"{args.slack:.0%} of fp32's mean. `train.precision: auto` gives bf16 only to models that keep "
        "quality (`bf16_safe`).",
        "",
        "| model | figure | fp32 (seeds) | bf16 (seeds) | bf16 - fp32 | allowed | keeps quality | declared |",
        "|---|---|---|---|---:|---:|---|---|",
    ]
    for model, v in sorted(results["verdicts"].items()):
        if not v["done"]:
            lines.append(f"| {model} | {v['figure']} | (not finished) | | | | | |")
            continue
        fmt = "{:.4f}" if v["figure"] == "reconstruction_mse" else "{:.2f}"
        seeds = lambda xs: ", ".join(fmt.format(x) for x in xs)  # noqa: B023 (called within this iteration)
        lines.append(
            f"| {model} | {v['figure']} | {seeds(v['fp32'])} | {seeds(v['bf16'])} | "
            f"{fmt.format(v['bf16_worse_by'])} | {fmt.format(v['allowed'])} | "
            f"{'yes' if v['keeps_quality'] else '**no**'} | "
            f"{'bf16_safe' if v['declared_bf16_safe'] else 'fp32 only'} |"
        )
    return "\n".join(lines) + "\n"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--samples", type=int, default=2000, help="samples for FD-lenet")
    parser.add_argument("--slack", type=float, default=0.02, help="tolerance beyond the seed spread, relative")
    parser.add_argument("--models", nargs="+", default=model_names(), choices=model_names())
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-precision"))
    parser.add_argument("--out", type=Path, default=RESULTS / "precision")
    args = parser.parse_args()

    path = args.out.with_suffix(".json")
    results = json.loads(path.read_text()) if path.exists() else {}
    if results.get("steps") not in (None, args.steps) or results.get("samples") not in (None, args.samples):
        raise GenzooError(
            f"{path} holds results of --steps {results['steps']} --samples {results['samples']}; "
            "use the same settings or another --out"
        )
    results.update(
        {
            "steps": args.steps,
            "samples": args.samples,
            "machine": {
                "cpu": cpu_name(),
                "bf16_native": cpu_has_bf16(),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            },
        }
    )
    rows = results.setdefault("rows", [])
    done = {(r["model"], r["precision"], r["seed"]) for r in rows}
    for model in args.models:
        for seed in SEEDS:
            for precision in PRECISIONS:
                if (model, precision, seed) in done:
                    continue
                row = train_and_measure(model, precision, seed, args)
                rows.append(row)
                print(
                    f"{model:<12} {precision} seed {seed}: {figure_of(model)} {row.get(figure_of(model))} "
                    f"({row['train_seconds']:.0f} s)",
                    flush=True,
                )
                save(results, path, args)  # after every run: an interrupted job loses one
    save(results, path, args)  # and at the end, so the declared column reads the models as they are now
    print(args.out.with_suffix(".md").read_text())


def save(results: dict, path: Path, args) -> None:
    rows = results["rows"]
    results["verdicts"] = {
        m: verdict([r for r in rows if r["model"] == m], m, args.slack) for m in sorted({r["model"] for r in rows})
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    args.out.with_suffix(".md").write_text(table(results, args))


if __name__ == "__main__":
    main()
