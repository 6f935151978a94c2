"""The GAN losses, discriminator regularisers and conditional GANs side by side on MNIST or Fashion-MNIST, at one
fixed budget of steps.

Every variant is the DCGAN layout at half the preset's widths (ngf = ndf = 32, as recipes/dcgan-mnist.yaml),
batch 128, Adam 2e-4 betas (0.5, 0.999) for both players, one discriminator step per generator step, the same
seed, fp32, `--steps` steps (default 938: two epochs), samples from the moving average of the weights
(train.ema_decay 0.999); only the loss and the discriminator's options change:

    bce            dcgan, batch-norm discriminator, non-saturating BCE (the dcgan model as it ships)
    hinge          dcgan, loss=hinge
    lsgan          dcgan, loss=lsgan
    relativistic   dcgan, loss=relativistic
    sngan          hinge + spectral normalisation, no batch norm in the discriminator (the sngan model)
    (extras, with --variants: sngan-diffaugment, bce-r1: dcgan, norm_d=none, R1 gamma 10 every 16 steps)
    cgan           labels one-hot into both players (Mirza & Osindero 2014)
    cgan-projection  cgan with the projection discriminator, hinge and spectral norm (Miyato & Koyama 2018's setting)
    acgan          class-conditioned generator, discriminator with a class head (Odena et al. 2017)
    infogan        10-value categorical + 2 continuous codes, Q head on the discriminator (Chen et al. 2016)

Then `genzoo evaluate` on each: FD-lenet of 10,000 samples against the 10,000 test images beside the real-data
floor, precision / recall (k=3), density / coverage (k=5), and the label or code figure: cgan / acgan, the shipped
classifier's accuracy on samples drawn per label (conditional accuracy); infogan, the matched code accuracy (each
categorical value matched one-to-one to a class; chance 0.1). The conditional variants share the players, Adam and
budget of the others (infogan keeps its generator's lr 1e-3; its 62 noise values become 100). One seed per
variant: GAN results move with the seed, so differences of a few tens of percent in FD are within what a
second seed could show.

    OMP_NUM_THREADS=1 python benchmarks/gan_losses.py [--dataset fashion-mnist] [--steps 938] [--variants bce ...]

Runs go to runs/bench-gan-losses[-fashion-mnist]/<variant> (resumed where a run stopped short), results to
benchmarks/results/gan-losses[-fashion-mnist].{json,md} (rewritten after every variant).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

import genzoo
from genzoo.api import evaluate
from genzoo.files import atomic_write_text
from genzoo.run_folder import RunFolder

sys.path.insert(0, str(Path(__file__).parent))
from zoo import cpu_seconds  # the budget's clock, shared with the zoo benchmark

RESULTS = Path(__file__).parent / "results"
PLAYERS = {"width_g": 32, "width_d": 32, "noise_dim": 100, "lr_g": 2e-4, "lr_d": 2e-4}
ADAM = {"betas_g": [0.5, 0.999], "betas_d": [0.5, 0.999], "n_critic": 1}
VARIANTS: dict[str, dict] = {
    "bce": {"name": "dcgan"},
    "hinge": {"name": "dcgan", "loss": "hinge"},
    "lsgan": {"name": "dcgan", "loss": "lsgan"},
    "relativistic": {"name": "dcgan", "loss": "relativistic"},
    "sngan": {"name": "sngan"},
    "sngan-diffaugment": {"name": "sngan", "diffaugment": "color,translation,cutout"},
    "bce-r1": {"name": "dcgan", "norm_d": "none", "r1_weight": 10.0, "r1_every": 16},
    "cgan": {"name": "cgan"},
    "cgan-projection": {"name": "cgan", "conditioning": "projection", "loss": "hinge", "spectral_norm": True},
    "acgan": {"name": "acgan"},
    # InfoGAN's generator learns at 5x the discriminator's rate (Chen et al.'s code, the model's default): at the
    # shared 2e-4 the discriminator with its Q head won from the first epoch (FD-lenet 1330, diversity 0.01)
    "infogan": {"name": "infogan", "lr_g": 1e-3},
}
DEFAULT = ["bce", "hinge", "lsgan", "relativistic", "sngan"]
DATASETS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def config_for(variant: str, steps: int, dataset: str) -> dict:
    return {
        "model": {**PLAYERS, **ADAM, **VARIANTS[variant]},  # a variant's own settings win
        "data": {"dataset": dataset},
        "train": {
            "steps": steps,
            "batch_size": 128,
            "ema_decay": 0.999,
            "precision": "fp32",
            "tensorboard": False,
            "keep_checkpoints": 1,
        },
        "seed": 0,
    }


def run_variant(variant: str, steps: int, runs: Path, dataset: str) -> dict:
    run = runs / variant
    started = cpu_seconds()
    done = RunFolder(run).newest_step() if (run / "config.yaml").exists() else None
    if done is not None and done < steps:
        genzoo.resume(run, steps=steps, verbose=False)
    elif done is None:
        genzoo.train(config_for(variant, steps, dataset), run, overwrite=True, verbose=False)
    train_cpu = cpu_seconds() - started
    sections = evaluate(run, progress=False, plots=False)
    quality, floor = sections["quality"], sections["quality"]["floor"]
    tests = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in tests if r["split"] == "test"][-1]
    return {
        "variant": variant,
        "model": VARIANTS[variant],
        "steps": steps,
        "train_cpu_minutes": round(train_cpu / 60, 1) if done is None else None,  # None: (partly) trained before
        "fd_lenet": quality["fd_lenet"],
        "floor_fd_lenet": floor["fd_lenet"],
        "fd_ratio": quality["fd_lenet"] / floor["fd_lenet"],
        "precision": quality["precision"],
        "recall": quality["recall"],
        "density": quality["density"],
        "coverage": quality["coverage"],
        # cgan / acgan: accuracy on the labels asked for; infogan: its categorical code matched to the classes
        "label_accuracy": quality.get("conditional_accuracy")
        or sections.get("code_classes", {}).get("matched_code_accuracy"),
        "sample_diversity": last.get("sample_diversity"),
        # the longest run of steps at the discriminator's floor in any epoch (the health watch's figure)
        "discriminator_win_steps": max(r.get("discriminator_win_steps", 0) for r in tests if r["split"] == "test"),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| variant | model settings | steps | train CPU min | FD-lenet | x floor | precision | recall | density "
        "| coverage | label acc. | diversity | D win steps |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in sorted(rows, key=lambda r: r["fd_lenet"]):
        settings = ", ".join(f"{k}={v}" for k, v in r["model"].items())
        minutes = "-" if r["train_cpu_minutes"] is None else f"{r['train_cpu_minutes']:.1f}"
        accuracy = "-" if r.get("label_accuracy") is None else f"{r['label_accuracy']:.3f}"
        lines.append(
            f"| {r['variant']} | {settings} | {r['steps']} | {minutes} | {r['fd_lenet']:.2f} | {r['fd_ratio']:.1f} | "
            f"{r['precision']:.3f} | {r['recall']:.3f} | {r['density']:.3f} | {r['coverage']:.3f} | "
            f"{accuracy} | {r['sample_diversity']:.2f} | {r['discriminator_win_steps']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=list(DATASETS))
    parser.add_argument("--steps", type=int, default=938)
    parser.add_argument("--variants", nargs="+", default=DEFAULT, choices=list(VARIANTS))
    parser.add_argument("--runs", type=Path, help="default runs/bench-gan-losses[-DATASET]")
    parser.add_argument("--out", type=Path, help="default benchmarks/results/gan-losses[-DATASET] (.json, .md)")
    parser.add_argument("--tables-only", action="store_true", help="only rewrite the .md from the .json")
    args = parser.parse_args()
    suffix = "" if args.dataset == "mnist" else f"-{args.dataset}"
    args.runs = args.runs or Path(f"runs/bench-gan-losses{suffix}")
    args.out = args.out or RESULTS / f"gan-losses{suffix}"
    out_json = args.out.with_suffix(".json")
    rows = {r["variant"]: r for r in json.loads(out_json.read_text())["rows"]} if out_json.exists() else {}
    machine = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
    for variant in [] if args.tables_only else args.variants:
        began = time.perf_counter()
        rows[variant] = run_variant(variant, args.steps, args.runs, args.dataset)
        print(f"{variant}: FD-lenet {rows[variant]['fd_lenet']:.2f} ({time.perf_counter() - began:.0f} s)", flush=True)
        atomic_write_text(out_json, json.dumps({"machine": machine, "rows": list(rows.values())}, indent=1) + "\n")
        write_table(rows, args.out.with_suffix(".md"), DATASETS[args.dataset])
    if args.tables_only:
        write_table(rows, args.out.with_suffix(".md"), DATASETS[args.dataset])


def write_table(rows: dict[str, dict], path: Path, dataset: str) -> None:
    floor = next(iter(rows.values()))["floor_fd_lenet"]
    text = (
        f"# GAN losses, discriminator regularisers and conditional GANs on {dataset} at one budget\n\n"
        f"Made by benchmarks/gan_losses.py (its docstring has the protocol); real-data floor FD-lenet {floor:.2f}; "
        "one seed each, fp32, one thread. Sorted by FD-lenet. D win steps: the longest run of steps, in any epoch, "
        "with the discriminator's training loss within 0.1 of its floor (the health watch; 100 or more warns). "
        "Label acc.: the conditional accuracy (cgan, acgan) or the matched code accuracy (infogan).\n\n"
        + table(list(rows.values()))
        + "\n"
    )
    atomic_write_text(path, text)


if __name__ == "__main__":
    main()
