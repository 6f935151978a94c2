"""Reference results: train every recipe in recipes/ to its configured length, evaluate it, and write the table.

For each recipe NAME (recipes/NAME.yaml, model named by its `model.name`):

    genzoo train MODEL --config recipes/NAME.yaml --out benchmarks/runs/reference/NAME
    genzoo evaluate benchmarks/runs/reference/NAME [--nll]      # --nll for the binarized-mnist likelihood recipes

done here through the same API calls (genzoo.train / genzoo.resume / genzoo.evaluate). Resumable across sittings:
a run folder that exists but whose training has not finished is continued with `genzoo resume` from its newest
valid checkpoint (exact resume is built in); a finished one is not trained again (`--restart NAME` retrains it from
scratch, e.g. after the recipe changed). Whether a run finished, and the training CPU time it took, are kept beside
the run folder in NAME.progress.json, updated after every training call.

CPU minutes are the process's CPU time (all its threads) spent in the training calls, read as
benchmarks/zoo.py reads it, so a job beside it does not shrink the figure. A sitting killed in the middle of a call
loses that call's CPU time while its steps up to the last checkpoint are kept: such a run's CPU minutes are then
an undercount, and the table says so ("interrupted").

Figures (the protocols of ../shared/DESIGN.md): FD-lenet of 10,000 samples against the 10,000 test images beside
the real-data floor (10,000 train images) and their ratio, KID-lenet, precision/recall (k=3), conditional accuracy
(the shipped classifier on samples drawn for each label), reconstruction MSE per pixel, the last test loss of the
run, and for the likelihood recipes the test NLL with k = 5000 importance samples over all 10,000 binarized test
images (Burda et al. 2015 protocol). Each recipe's target from issue 16, where it has one, is judged from these.

Results: benchmarks/results/reference.json (rewritten after every recipe, so an interrupted sitting keeps what
it measured), benchmarks/results/reference.md and .png, and the short table in the README's "Recipes and reference
results" section (between its two `reference table` markers; `--tables` rewrites these three from the json alone).

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python benchmarks/reference.py [--only NAME ...] [--dry-run]
        [--restart NAME ...]

One thread per run (the recipes' costs are measured so): on 2 cores, two sittings with different --only lists
train side by side. (The --only lists must not overlap: two processes would train one run folder, which its lock
refuses.) The json is re-read and merged before each write, so two sittings keep each other's rows.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

import genzoo
from genzoo.api import evaluate
from genzoo.config import RunConfig
from genzoo.files import atomic_write_text
from genzoo.models.base import LOG_LIKELIHOOD
from genzoo.models.registry import get_model_class
from genzoo.run_folder import RunFolder

sys.path.insert(0, str(Path(__file__).parent))
from zoo import cpu_seconds  # the budget's clock, shared with the zoo benchmark

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"
RUNS = Path("benchmarks/runs/reference")
RESULTS = Path(__file__).parent / "results" / "reference"

BURDA = "Burda et al. 2015, Importance weighted autoencoders, Table 1 (k = 5000, dynamically binarized MNIST)"
# What issue 16 asks of a recipe: (figure, comparison, value, CPU-minute budget), and a comparable published figure
# with its source. Figures: "nll", "fd_ratio" (FD-lenet / the floor's), "conditional_accuracy", "test_loss".
TARGETS: dict[str, tuple[str, str, float, float]] = {
    "vae-nll": ("nll", "<=", 84.0, 60),
    "ladder-vae-nll": ("nll", "<=", 84.0, 60),
    "cvae-mnist": ("conditional_accuracy", ">=", 0.98, 15),
    "cgan-mnist": ("conditional_accuracy", ">=", 0.98, 15),
    "dcgan-mnist": ("fd_ratio", "<=", 3.0, 30),
    "vamp-vae-mnist": ("fd_ratio", "<=", 3.0, 30),
    "wgan-gp-mnist": ("fd_ratio", "<=", 3.0, 30),
    "dcgan-fashion": ("fd_ratio", "<=", 4.0, 30),
    "vamp-vae-fashion": ("fd_ratio", "<=", 4.0, 30),
    "cgan-projection-fashion": ("fd_ratio", "<=", 4.0, 30),
    "acgan-mnist": ("conditional_accuracy", ">=", 0.98, 15),  # the cgan target, met by the other conditional GANs?
    "cgan-projection-mnist": ("conditional_accuracy", ">=", 0.98, 15),
    "cgan-projection-mnist-long": ("fd_ratio", "<=", 3.0, 30),
    # the default vae's 10-epoch test loss, sooner than the default run (vae-baseline) reaches it: the budget is
    # that run's CPU minutes (None here), and the recipe is judged where its curve first reaches the loss
    "vae-mnist": ("test_loss", "<=", 105.5, None),
    "vae-baseline": ("test_loss", "<=", 105.5, None),  # (listed for its curve; it is the budget, not judged)
}
PUBLISHED: dict[str, tuple[float, str]] = {
    "vae-nll": (84.78, f"IWAE k=50, one stochastic layer, 3,280 epochs: {BURDA}"),
    "ladder-vae-nll": (82.90, f"IWAE k=50, two stochastic layers, 3,280 epochs: {BURDA}"),
}
NLL_DATASETS = {"binarized-mnist"}


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def load_recipe(name: str) -> tuple[dict, RunConfig]:
    """The recipe's raw YAML (what is trained: defaults still resolve at train time) and its validated config."""
    from genzoo.config import read_yaml

    path = RECIPES / f"{name}.yaml"
    return read_yaml(path), RunConfig.load(path)


def wants_nll(config: RunConfig) -> bool:
    return config.data.dataset in NLL_DATASETS and LOG_LIKELIHOOD in get_model_class(config.model_name).capabilities


def commands(name: str, config: RunConfig) -> list[str]:
    run = RUNS / name
    return [
        f"genzoo train {config.model_name} --config recipes/{name}.yaml --out {run}",
        f"genzoo evaluate {run}" + (" --nll" if wants_nll(config) else ""),
    ]


def progress_file(name: str, runs: Path) -> Path:
    return runs / f"{name}.progress.json"


def read_progress(name: str, runs: Path) -> dict:
    path = progress_file(name, runs)
    return json.loads(path.read_text()) if path.exists() else {"finished": False, "train_cpu_seconds": 0.0}


def newest_step(run: Path) -> int | None:
    try:
        return RunFolder(run).newest_checkpoint().step
    except Exception:  # no folder, no valid checkpoint yet: the run starts over
        return None


def state(name: str, runs: Path) -> str:
    if read_progress(name, runs).get("finished"):
        return "finished"
    step = newest_step(runs / name)
    return "new" if step is None else f"partial (step {step})"


def train(name: str, raw: dict, runs: Path) -> dict:
    """Train or continue the recipe's run to its configured length; returns its progress record."""
    run, record = runs / name, read_progress(name, runs)
    if record.get("finished"):
        return record
    runs.mkdir(parents=True, exist_ok=True)
    resuming = newest_step(run) is not None
    if resuming:
        record["interrupted"] = True  # an earlier call died: its CPU time up to the checkpoint is not counted
    before, wall = cpu_seconds(), time.perf_counter()
    if resuming:
        result = genzoo.resume(run, verbose=False)
    else:
        # Every epoch's checkpoint is kept for the curve of the figure against CPU minutes (curve()).
        raw = {**raw, "train": {**(raw.get("train") or {}), "tensorboard": False, "keep_checkpoints": 1000}}
        result = genzoo.train(raw, run, overwrite=True, verbose=False)
    record.update(
        finished=True,
        train_cpu_seconds=round(record.get("train_cpu_seconds", 0.0) + cpu_seconds() - before, 1),
        train_wall_seconds=round(record.get("train_wall_seconds", 0.0) + time.perf_counter() - wall, 1),
        steps=result.step,
        epochs=round(result.epochs, 2),
        images_per_second=round(result.images_per_second),
    )
    progress_file(name, runs).write_text(json.dumps(record, indent=1))
    return record


def last_test(run: Path) -> dict:
    tests = [m for m in RunFolder(run).metrics() if m.get("split") == "test"]
    return {k: v for k, v in tests[-1].items() if isinstance(v, (int, float))} if tests else {}


def figures(sections: dict, test: dict) -> dict:
    """The table's numbers from eval.json's sections and the last test line."""
    out: dict = {}
    quality = sections.get("quality") or {}
    if "fd_lenet" in quality:
        floor = quality["floor"]["fd_lenet"]
        out.update(
            fd_lenet=quality["fd_lenet"],
            fd_floor=floor,
            fd_ratio=quality["fd_lenet"] / floor,
            kid_lenet=quality.get("kid_lenet"),
            precision=quality.get("precision"),
            recall=quality.get("recall"),
        )
    if "conditional_accuracy" in quality:
        out["conditional_accuracy"] = quality["conditional_accuracy"]
    codes_to_classes = sections.get("code_classes") or {}  # infogan: its categorical code read as classes
    if "matched_code_accuracy" in codes_to_classes:
        out["matched_code_accuracy"] = codes_to_classes["matched_code_accuracy"]
    codes = sections.get("codes") or {}
    if "reconstruction_mse" in codes:
        out["reconstruction_mse"] = codes["reconstruction_mse"]
    nll = sections.get("nll") or {}
    if "nll" in nll:
        out.update(nll=nll["nll"], nll_stderr=nll["nll_stderr"], nll_k=nll["k"], nll_images=nll["n_images"])
    if "loss" in test:
        out["test_loss"] = test["loss"]
    return out


CURVE_SAMPLES = 2000  # samples per point of a curve: a fifth of the final protocol's, so points cost ~5 s each


def curve(name: str, run: Path, row: dict) -> list[dict]:
    """The recipe's target figure at every kept checkpoint, against the CPU minutes spent to reach it (spread over
    the steps in proportion: the cost per step is constant). Sample figures from CURVE_SAMPLES samples (a
    smaller sample than the table's, so their FD-lenet sits somewhat above the final one), test loss from the
    run's test lines."""
    if name not in TARGETS:
        return []
    key = TARGETS[name][0]
    per_step = row["train_cpu_minutes"] / max(row["steps"], 1)
    if key == "test_loss":
        tests = [m for m in RunFolder(run).metrics() if m.get("split") == "test"]
        return [{"step": m["step"], "cpu_minutes": round(m["step"] * per_step, 2), key: m["loss"]} for m in tests]
    if key == "nll":  # k = 5000 over 10,000 images costs minutes per point: the end point only
        return []
    from genzoo.evaluate.checkpoint import evaluate_checkpoint
    from genzoo.run_folder import list_checkpoints, validate

    folder, points = RunFolder(run), []
    config = folder.config()
    for path in reversed(list_checkpoints(folder.checkpoints_dir)):  # oldest first
        checkpoint = validate(path)
        model = folder.load_model("cpu", checkpoint)
        sections = evaluate_checkpoint(
            folder, config, checkpoint, model, nll=False, k=1, seed=0, test_size=None, batch_size=100,
            plots=False, progress=False, quality=True, samples=CURVE_SAMPLES, sampler="prior", components=10,
        )  # fmt: skip
        figure = figures(sections, {}).get(key)
        points.append({"step": checkpoint.step, "cpu_minutes": round(checkpoint.step * per_step, 2), key: figure})
    return points


def plot_curves(rows: dict, path: Path) -> None:
    """One panel per target figure: each recipe's curve against CPU minutes, its target as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({TARGETS[r["recipe"]][0] for r in rows.values() if r.get("curve")})
    if not keys:
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for r in rows.values():
            if r.get("curve") and TARGETS[r["recipe"]][0] == key:
                xs = [p["cpu_minutes"] for p in r["curve"]]
                ax.plot(xs, [p[key] for p in r["curve"]], marker="o", label=r["recipe"])
                ax.axhline(TARGETS[r["recipe"]][2], linestyle="--", color="grey", linewidth=1)
        ax.set_xlabel("training CPU minutes")
        ax.set_ylabel(key.replace("_", " ") + (f" ({CURVE_SAMPLES} samples)" if key != "test_loss" else ""))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


BASELINES = {"vae-mnist": "vae-baseline"}  # a recipe whose budget is another run's CPU minutes


def judge(name: str, row: dict, rows: dict) -> str | None:
    if name not in TARGETS:
        return None
    key, op, value, minutes = TARGETS[name]
    figure = row.get("figures", {}).get(key)
    if figure is None:
        return "not measured"
    if name in BASELINES:  # the first point of the curve at the target, against the baseline run's whole cost
        baseline = rows.get(BASELINES[name])
        if not baseline or "train_cpu_minutes" not in baseline:
            return f"not judged: run {BASELINES[name]} first"
        minutes = baseline["train_cpu_minutes"]
        reached = [p for p in row.get("curve", []) if p[key] <= value]
        if not reached:
            return f"missed: {key} {figure:.4g} never reached {value:g}"
        at = reached[0]["cpu_minutes"]  # (test lines come at epoch ends: the first epoch end at the target)
        verdict = "met" if at < minutes else "missed"
        return (
            f"{verdict}: {key} <= {value:g} after {at:.2f} CPU min (step {reached[0]['step']}), "
            f"{BASELINES[name]} needs {minutes:.2f} ({minutes / at:.2f}x)"
        )
    if minutes is None:
        return f"baseline: {key} {figure:.4g} in {row['train_cpu_minutes']:.2f} CPU min"
    reached = figure <= value if op == "<=" else figure >= value
    in_time = row["train_cpu_minutes"] <= minutes
    verdict = "met" if reached and in_time else "missed"
    spent = row["train_cpu_minutes"]
    return f"{verdict}: {key} {figure:.4g} (target {op} {value:g}) in {spent:.1f} of {minutes:g} CPU min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these recipes only (names from recipes/)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and each run's state; train nothing")
    parser.add_argument("--restart", nargs="+", default=[], metavar="NAME", help="retrain these from scratch")
    parser.add_argument("--k", type=int, default=5000, help="importance samples per test image for the NLL")
    parser.add_argument(
        "--tables", action="store_true", help="rewrite reference.md/.png and the README's table from the json only"
    )
    parser.add_argument("--runs", type=Path, default=RUNS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    names = args.only or recipe_names()
    unknown = sorted(set(names + args.restart) - set(recipe_names()))
    if unknown:
        parser.error(f"no recipe named {', '.join(unknown)}; recipes: {', '.join(recipe_names())}")
    if args.tables:
        write(args.out, read_rows(args.out), json_too=False)
        return
    if args.dry_run:
        for name in names:
            _, config = load_recipe(name)
            length = f"{config.train.steps} steps" if config.train.steps else f"{config.train.epochs} epochs"
            budget = f", target budget {TARGETS[name][3]:g} CPU min" if TARGETS.get(name, (0,) * 4)[3] else ""
            print(f"{name}: {length}{budget}; {state(name, args.runs)}")
            for command in commands(name, config):
                print(f"    {command}")
        return

    rows = read_rows(args.out)
    for name in args.restart:  # from scratch: the run folder and its progress record go
        progress_file(name, args.runs).unlink(missing_ok=True)
        shutil.rmtree(args.runs / name, ignore_errors=True)
        rows.pop(name, None)
    for name in names:
        raw, config = load_recipe(name)
        run = args.runs / name
        print(f"{name}: {state(name, args.runs)}; training", flush=True)
        row = {"recipe": name, "model": config.model_name, "dataset": config.data.dataset, "run": str(run)}
        row["commands"] = commands(name, config)
        try:
            record = train(name, raw, args.runs)
            row.update({k: v for k, v in record.items() if k != "finished"})
            row["train_cpu_minutes"] = round(record["train_cpu_seconds"] / 60, 2)
            row["threads"] = torch.get_num_threads()
            if not row.get("curve"):
                print(f"{name}: the curve over its checkpoints", flush=True)
                row["curve"] = curve(name, run, row)
            print(f"{name}: evaluating" + (f" (NLL, k={args.k})" if wants_nll(config) else ""), flush=True)
            started = time.perf_counter()
            sections = evaluate(run, nll=wants_nll(config), k=args.k, seed=0, plots=False, progress=False, quality=True)
            row["eval_seconds"] = round(time.perf_counter() - started, 1)
            row["figures"] = figures(sections, last_test(run))
            row["target"] = judge(name, row, read_rows(args.out))
        except Exception as exc:  # one recipe's failure is a row of the table, not the end of the benchmark
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows = {**read_rows(args.out), name: row}  # (another sitting may have written rows meanwhile)
        print(f"{name}: {row.get('error') or format_figures(row)}", flush=True)
        if row.get("target"):
            print(f"{name}: target {row['target']}", flush=True)
        write(args.out, rows)  # after every recipe: an interrupted sitting keeps what it measured
    write(args.out, rows)
    print(args.out.with_suffix(".md"))


def format_figures(row: dict) -> str:
    f = row.get("figures", {})
    parts = [f"{row.get('steps', '-')} steps, {row.get('train_cpu_minutes', '-')} CPU min"]
    if "fd_lenet" in f:
        parts.append(f"FD-lenet {f['fd_lenet']:.2f} = {f['fd_ratio']:.1f}x floor {f['fd_floor']:.2f}")
    for key, label, fmt in (
        ("precision", "precision", ".3f"),
        ("recall", "recall", ".3f"),
        ("conditional_accuracy", "cond. acc.", ".4f"),
        ("matched_code_accuracy", "matched code acc.", ".3f"),
        ("reconstruction_mse", "recon MSE", ".5f"),
        ("nll", "NLL", ".2f"),
        ("test_loss", "test loss", ".2f"),
    ):
        if f.get(key) is not None:
            parts.append(f"{label} {f[key]:{fmt}}")
    return ", ".join(parts)


def read_rows(out: Path) -> dict:
    path = out.with_suffix(".json")
    return {r["recipe"]: r for r in json.loads(path.read_text())["rows"]} if path.exists() else {}


def write(out: Path, rows: dict, json_too: bool = True) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    ordered = [rows[k] for k in sorted(rows)]
    meta = {
        "command": "OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE python benchmarks/reference.py",
        "threads": torch.get_num_threads(),
        "machine": {
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
        },
    }
    if json_too:
        atomic_write_text(out.with_suffix(".json"), json.dumps({**meta, "rows": ordered}, indent=1) + "\n")
    atomic_write_text(out.with_suffix(".md"), table(ordered, meta))
    plot_curves(rows, out.with_suffix(".png"))
    if out.resolve() == RESULTS.resolve():  # the shipped table (not a --out elsewhere) is also the README's
        update_readme(ROOT / "README.md", ordered)


README_BEGIN = "<!-- reference table: written by benchmarks/reference.py -->"
README_END = "<!-- end of reference table -->"


def headline(r: dict) -> str:
    """A row's figures in a few words, its target figure first."""
    f, parts = r.get("figures", {}), []
    if f.get("nll") is not None:
        parts.append(f"NLL {f['nll']:.2f}")
    if f.get("conditional_accuracy") is not None:
        parts.append(f"cond. acc. {f['conditional_accuracy']:.4f}")
    if f.get("matched_code_accuracy") is not None:
        parts.append(f"matched code acc. {f['matched_code_accuracy']:.3f}")
    if f.get("fd_lenet") is not None:
        parts.append(f"FD-lenet {f['fd_lenet']:.2f} ({f['fd_ratio']:.3g}x floor)")
    if f.get("test_loss") is not None and f.get("nll") is None:
        parts.append(f"test loss {f['test_loss']:.2f}")
    if f.get("reconstruction_mse") is not None and f.get("fd_lenet") is None:
        parts.append(f"recon MSE {f['reconstruction_mse']:.5f}")
    return r.get("error") or ", ".join(parts)


def target_cell(r: dict) -> str:
    """The target and its verdict, in short (reference.md has the long form)."""
    name = r["recipe"]
    if name not in TARGETS or not r.get("target"):
        return ""
    key, op, value, minutes = TARGETS[name]
    verdict = r["target"].split(":")[0]
    if minutes is None:  # a run judged against another's cost, or the run that sets that cost
        judged = [k for k, v in BASELINES.items() if v == name]
        return r["target"] if name in BASELINES else f"(the budget of {', '.join(judged)}'s target)"
    return f"{key.replace('_', ' ')} {op} {value:g} in {minutes:g} min: {verdict}"


def readme_block(rows: list[dict]) -> str:
    """The README's short table, markers included."""
    lines = [README_BEGIN, "| recipe | data | CPU min | figures | target (issue 16) |", "|---|---|---:|---|---|"]
    for r in rows:
        minutes = cell(r.get("train_cpu_minutes"), ".1f") + (" (interrupted)" if r.get("interrupted") else "")
        lines.append(f"| {r['recipe']} | {r['dataset']} | {minutes} | {headline(r)} | {target_cell(r)} |")
    missing = sorted(set(recipe_names()) - {r["recipe"] for r in rows})
    if missing:
        lines += ["", f"Not run yet: {', '.join(missing)}."]
    return "\n".join([*lines, README_END])


def update_readme(path: Path, rows: list[dict]) -> None:
    """Rewrite the README's short table between its two markers (left alone when they are missing)."""
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        return
    head, rest = text.split(README_BEGIN, 1)
    atomic_write_text(path, head + readme_block(rows) + rest.split(README_END, 1)[1])


def cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def label_accuracy(f: dict) -> str:
    """The cond. acc. column: the classifier on samples drawn per label, or for infogan its categorical code
    matched one-to-one to the classes (evaluate's code_classes)."""
    if f.get("matched_code_accuracy") is not None:
        return f"{f['matched_code_accuracy']:.3f} (code)"
    return cell(f.get("conditional_accuracy"), ".4f")


def table(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Reference results: the recipes in recipes/, trained to their configured length",
        "",
        f"Made by `{meta['command']}` (torch {meta['machine']['torch']}, "
        f"{meta['machine']['processor']}); each row's commands are below the table. CPU min: the training "
        "calls' process CPU time (all threads), as benchmarks/zoo.py measures it. Evaluation: `genzoo evaluate RUN` "
        "on the newest checkpoint (the weight average where the recipe sets train.ema_decay): FD-lenet of 10,000 "
        "samples vs the 10,000 test images in the shipped LeNet-style feature space (not Inception FID), beside the "
        "real-data floor (10,000 train images); KID-lenet x1e3; precision/recall k=3; cond. acc.: the shipped "
        "classifier on samples drawn per label ((code): infogan's categorical code matched to the classes); "
        "recon MSE per pixel in [0, 1]; test loss: the run's last test "
        "line (nats per image for the VAEs); NLL: `--nll`, k importance samples, all 10,000 binarized test images "
        "(Burda et al. 2015 protocol). Target: issue 16's, judged on the figure and the CPU minutes.",
        "",
        "| recipe | model | data | steps | epochs | CPU min (threads) | test loss | FD-lenet | floor | ratio (x) "
        "| KID x1e3 | precision | recall | cond. acc. | recon MSE | NLL | published | target |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        f = r.get("figures", {})
        published = PUBLISHED.get(r["recipe"])
        note = r.get("error") or r.get("target") or ""
        if r.get("interrupted"):
            note += " (interrupted: CPU min undercounted)"
        lines.append(
            f"| {r['recipe']} | {r['model']} | {r['dataset']} | {r.get('steps', '-')} | {r.get('epochs', '-')} "
            f"| {cell(r.get('train_cpu_minutes'), '.1f')} ({r.get('threads', 2)}) | {cell(f.get('test_loss'), '.2f')} "
            f"| {cell(f.get('fd_lenet'), '.2f')} | {cell(f.get('fd_floor'), '.2f')} | {cell(f.get('fd_ratio'), '.1f')} "
            f"| {cell(f.get('kid_lenet') and f['kid_lenet'] * 1e3, '.1f')} | {cell(f.get('precision'), '.3f')} "
            f"| {cell(f.get('recall'), '.3f')} | {label_accuracy(f)} "
            f"| {cell(f.get('reconstruction_mse'), '.5f')} | {cell(f.get('nll'), '.2f')} "
            f"| {cell(published and published[0], '.2f')} | {note} |"
        )
    curves = [r for r in rows if r.get("curve")]
    if curves:
        lines += [
            "",
            f"## The figure against CPU minutes (reference.png; sample figures from {CURVE_SAMPLES} samples per point)",
            "",
            "![curves](reference.png)",
            "",
        ]
        for r in curves:
            key = TARGETS[r["recipe"]][0]
            points = ", ".join(f"{p['cpu_minutes']:.1f} min: {cell(p[key], '.4g')}" for p in r["curve"])
            lines.append(f"- {r['recipe']} ({key}): {points}")
    lines += ["", "Commands (run from the repository root):", ""]
    for r in rows:
        lines.append(f"- {r['recipe']}: " + "; ".join(f"`{c}`" for c in r["commands"]))
    sources = [(r["recipe"], PUBLISHED[r["recipe"]][1]) for r in rows if r["recipe"] in PUBLISHED]
    if sources:
        lines += ["", "Published figures:", ""]
        lines += [f"- {name}: {source}" for name, source in sources]
    missing = sorted(set(recipe_names()) - {r["recipe"] for r in rows})
    if missing:
        lines += ["", f"Not yet run: {', '.join(missing)} (`python benchmarks/reference.py --only NAME`)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
