"""Issue 14's speed table: genzoo at its default settings against the classic scripts, and against the FLOP floor.

Every comparison is measured in one run of this script, the loops it compares interleaved (repeat r runs the
peer, then genzoo at each precision, then repeat r + 1), best of `--repeats`, because the machine may be shared.
The peers are re-implementations of the classic scripts for timing, in benchmarks/peers/ (each one's docstring
says what it keeps of its original and where it departs); they run as their own processes, with their own data
path: a per-sample DataLoader over MNIST with the script's transforms (PIL images, as torchvision's MNIST makes).

Cases (`--cases`):
  startup    wall seconds of `genzoo --help` and `genzoo models` against `python -c "import torch"`, each a fresh
             process, best of max(3, repeats); ratio = genzoo / import torch (lower is better).
  vae        whole process: `genzoo train vae --epochs N --out TMP` against `python peers/vae_example.py --epochs
             N` (pytorch/examples vae/main.py), N in `--vae-epochs` (1 and 3); wall seconds of each process.
  vae-loop   in this process: one epoch of the 784-400-20 VAE through `genzoo.train` (the trainer's step-loop
             seconds, TrainResult.train_seconds) against a bare loop of the model's own step on pre-made float
             batches (forward, backward, fused Adam): the overhead of the trainer's loop.
  gan        seconds per 100 iterations, batch 64: peers/gan_example.py (PyTorch-GAN gan.py: its loop with its
             data path, prints and pictures, timed by the script from its first batch request to the end of the
             last iteration, so process start and data set construction are left out) against `genzoo.train` of
             model gan (preset wide), one epoch of exactly that many steps, in this process, timed by the
             trainer over its step loop (TrainResult.train_seconds; the run's test split and grids are cut to
             256 and 16 images, which only touches the end-of-epoch work outside that loop), and against the
             bare loop of genzoo's phases on pre-made tensors.
  aae        the same with peers/aae_example.py (PyTorch-GAN aae.py, 32x32 as its defaults say) and model aae.
  dcgan64    the same with peers/dcgan_example.py (pytorch/examples dcgan, MNIST at 64x64, 2 loader workers)
             and model dcgan preset classic-64 (its example's players; genzoo resizes batches to 64 itself).
  dcgan28    the same example's script at --imageSize 28, which then builds genzoo's preset-dcgan players (the
             example has no 28x28 layout; see dcgan_example.py): the example's step and data path on genzoo's
             networks, against model dcgan (preset dcgan, 28x28).
  evaluate   wall seconds of `genzoo evaluate RUN` on a VAE trained here for one epoch (`genzoo train vae
             --epochs 1`, default settings), best of `--repeats` (the first run is also reported).

Precisions (`--precisions`): `default` passes none, so genzoo's default applies (its config's train.precision);
`fp32` and `bf16` force `--precision` / train.precision. The peers always run as their scripts do (fp32).
The bare loop and the floor of a `default` row use the precision the default resolves to: the config's value,
or for `auto`, bf16 where the CPU has native bf16 (avx512_bf16 / amx_bf16 flags) and fp32 otherwise.

Floor: the FLOPs of one training iteration of genzoo's model (forward and backward of every phase, counted by
torch.utils.flop_counter.FlopCounterMode on one step), divided by the matmul rate this machine reaches in this
run (1024x1024 torch.mm, best of a few, measured at the start and the end, the higher kept), per precision.
floor s = FLOPs x iterations / rate; genzoo/floor says how far the trainer is from doing nothing but that
arithmetic at the best matmul rate (small layers never reach that rate: the floor is a bound, not a target).
For the whole-process vae rows the floor counts the training steps only (468 per epoch). The peers' own FLOPs
per iteration are counted the same way and printed below the table (their networks differ from genzoo's).

The goals are issue 14's. Results (every repeat, the machine, the rates, the FLOPs) go to `--json`.

    python benchmarks/speed.py [--repeats 3] [--cases startup vae gan] [--precisions default fp32 bf16]
                               [--steps gan=400 dcgan64=24] [--threads 2] [--json benchmarks/results/speed.json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import genzoo
from genzoo.api import build_model, load_data
from genzoo.config import RunConfig
from genzoo.data.batches import Batch, EpochBatches

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
ALL_CASES = ["startup", "vae", "vae-loop", "gan", "aae", "dcgan64", "dcgan28", "evaluate"]
VAE_BATCH, ADV_BATCH = 128, 64


@dataclass
class Adversarial:
    label: str
    model: dict  # genzoo's model section
    steps: int  # iterations timed per run (default; --steps overrides)
    peer: list[str]  # the peer script and its arguments
    side: int  # the side genzoo's players work at
    goal: tuple[str, float] | None  # (">=", x): peer / genzoo at least x


ADVERSARIAL = {
    "gan": Adversarial(
        "gan (wide) vs PyTorch-GAN gan.py", {"name": "gan", "preset": "wide"}, 200, ["gan_example.py"], 28, (">=", 3.0)
    ),
    "aae": Adversarial("aae vs PyTorch-GAN aae.py", {"name": "aae"}, 200, ["aae_example.py"], 28, (">=", 3.0)),
    "dcgan64": Adversarial(
        "dcgan classic-64 vs examples dcgan",
        {"name": "dcgan", "preset": "classic-64"},
        12,
        ["dcgan_example.py"],
        64,
        (">=", 2.5),
    ),
    "dcgan28": Adversarial(
        "dcgan 28x28 vs dcgan step @28", {"name": "dcgan"}, 50, ["dcgan_example.py", "--imageSize", "28"], 28, None
    ),
}
VAE_MODEL = {"name": "vae", "hidden": [400], "latent_dim": 20}
VAE_STEPS_PER_EPOCH = 60000 // VAE_BATCH  # genzoo drops the last partial batch: 468


@dataclass
class Row:
    key: str
    case: str
    precision: str
    unit: str
    genzoo: list[float]
    peer: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    goal: tuple[str, float] | None = None  # (">=", x) or ("<=", x) on the ratio; ("s<=", s) on genzoo's seconds
    slower: bool = False  # the ratio is genzoo / peer (start-up), not peer / genzoo
    flops: float | None = None  # FLOPs of the work the unit measures (100 iterations, a whole run's steps)
    floor_precision: str = "fp32"  # whose matmul rate divides them
    floor: float | None = None  # seconds: flops / rate, set once the rates are final
    extra: dict = field(default_factory=dict)

    def best(self, values: list[float]) -> float | None:
        return min(values) if values else None

    def ratio(self) -> float | None:
        """peer / genzoo (a speed-up) for training rows; genzoo / peer (a slow-down) for start-up rows."""
        peer, mine = self.best(self.peer), self.best(self.genzoo)
        if peer is None or mine is None:
            return None
        return mine / peer if self.slower else peer / mine

    def met(self) -> bool | None:
        if self.goal is None:
            return None
        kind, target = self.goal
        if kind == "s<=":
            return self.best(self.genzoo) <= target
        ratio = self.ratio()
        return None if ratio is None else (ratio >= target if kind == ">=" else ratio <= target)

    def as_dict(self) -> dict:
        best = {name: self.best(getattr(self, name)) for name in ("peer", "genzoo", "bare")}
        return {
            "key": self.key,
            "case": self.case,
            "ratio_is": "genzoo/peer" if self.slower else "peer/genzoo",
            "precision": self.precision,
            "unit": self.unit,
            **{f"{name}_s": value for name, value in best.items()},
            "ratio": self.ratio(),
            "goal": list(self.goal) if self.goal else None,
            "met": self.met(),
            "floor_s": self.floor,
            "floor_precision": self.floor_precision if self.floor else None,
            "genzoo_over_floor": best["genzoo"] / self.floor if self.floor and best["genzoo"] else None,
            "genzoo_over_bare": best["genzoo"] / best["bare"] if best["bare"] and best["genzoo"] else None,
            "all_peer": self.peer,
            "all_genzoo": self.genzoo,
            "all_bare": self.bare,
            **self.extra,
        }


# -- the machine --------------------------------------------------------------------------------------------------


def cpu_info() -> dict:
    """CPU model name and the bf16 flags from /proc/cpuinfo (Linux), else what platform says."""
    name, flags = None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name is None:
                name = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    return {
        "cpu": name,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "amx_tile": "amx_tile" in flags,
        "avx512f": "avx512f" in flags,
        "cores": os.cpu_count(),
    }


def native_bf16() -> bool:
    info = cpu_info()
    return torch.cuda.is_available() or info["avx512_bf16"] or info["amx_bf16"]


def resolved_precision(precision: str, model: dict) -> str:
    """The precision a row's bare loop and floor use (see the module docstring)."""
    if precision != "default":
        return precision
    value = RunConfig.from_dict({"model": model}).train.precision
    if value in ("fp32", "bf16"):
        return value
    return "bf16" if native_bf16() else "fp32"


def matmul_gflops(dtype: torch.dtype, n: int = 1024, reps: int = 8, rounds: int = 4) -> float:
    """Best GFLOP/s of n x n torch.mm on this machine, now."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2):
        torch.mm(a, b)
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - start) / reps)
    return 2 * n**3 / best / 1e9


# -- subprocesses -------------------------------------------------------------------------------------------------


def genzoo_cmd() -> list[str]:
    script = Path(sys.executable).parent / "genzoo"
    return [str(script)] if script.exists() else [sys.executable, "-m", "genzoo"]


def run_process(cmd: list[str], env: dict) -> float:
    """Wall seconds of a command (stdout discarded, as a terminal would not slow it much); fails loudly."""
    start = time.perf_counter()
    done = subprocess.run(
        cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=HERE.parent
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds


def run_peer_loop(args: list[str], iterations: int, env: dict, tmp: Path) -> float:
    """Seconds of a peer script's own loop for `iterations` iterations (its timing file; startup excluded)."""
    timing = tmp / "timing.json"
    out_flag = "--outf" if args[0] == "dcgan_example.py" else "--out"
    run_process(
        [
            sys.executable,
            str(PEERS / args[0]),
            *args[1:],
            "--iterations",
            str(iterations),
            "--timing-json",
            str(timing),
            out_flag,
            str(tmp / "pictures"),
        ],
        env,
    )
    record = json.loads(timing.read_text())
    assert record["iterations"] == iterations, record
    return record["seconds"]


def precision_flags(precision: str) -> list[str]:
    return [] if precision == "default" else ["--precision", precision]


def precision_config(precision: str) -> dict:
    return {} if precision == "default" else {"precision": precision}


# -- FLOPs --------------------------------------------------------------------------------------------------------


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def genzoo_step_flops(model_config: dict, batch: Batch) -> int:
    """FLOPs of one training iteration of genzoo's model: forward + backward of every phase, fp32."""
    model = fresh_model(model_config)

    def step():
        for phase in model.phases(0):
            model.training_step(batch, 0, phase).loss.backward()

    return count_flops(step)


def peer_step_flops(script: str, argv: list[str]) -> int:
    """FLOPs of one iteration of a peer script's step (forward, backward, the optimizers' steps)."""
    if str(PEERS) not in sys.path:
        sys.path.insert(0, str(PEERS))
    module = importlib.import_module(Path(script).stem)
    opt = module.parse_args(argv)
    parts = module.build(opt)
    batch = module.example_batch(opt)
    return count_flops(lambda: module.train_step(parts, batch, opt))


# -- in-process loops ---------------------------------------------------------------------------------------------


def fresh_model(model_config: dict):
    return build_model(RunConfig.from_dict({"model": model_config}))[1].train()


def premade(model_config: dict, batch_size: int, steps: int, side: int = 28) -> list[Batch]:
    """`steps` shuffled MNIST batches as float tensors (resized to `side`), made before any clock starts."""
    config = RunConfig.from_dict({"model": model_config, "data": {"train_size": steps * batch_size, "test_size": 1}})
    batches = list(EpochBatches(load_data(config).train, batch_size, seed=0).epoch(0))
    if side != 28:
        batches = [
            Batch(torch.nn.functional.interpolate(b.x, size=(side, side), mode="bilinear", align_corners=False), b.y)
            for b in batches
        ]
    return batches


def bare_loop(model_config: dict, batches: list[Batch], precision: str) -> float:
    """Seconds for the model's own phases on pre-made tensors (training_step, backward(inputs=group), fused Adam,
    after_step): the trainer's inner loop without the trainer."""
    model = fresh_model(model_config)
    groups = model.optimizer_groups()
    defaults = RunConfig.from_dict({"model": model_config}).train  # a group without its own lr takes train.lr
    optimizers = {
        g.name: torch.optim.Adam(g.params, lr=g.lr or defaults.lr, betas=g.betas or defaults.betas, fused=True)
        for g in groups
    }
    every = {id(p) for p in model.parameters() if p.requires_grad}
    inputs = {g.name: None if {id(p) for p in g.params} == every else g.params for g in groups}
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    start = time.perf_counter()
    for step, batch in enumerate(batches):
        for phase in model.phases(step):
            with autocast:
                loss = model.training_step(batch, step, phase).loss
            optimizers[phase].zero_grad(set_to_none=True)
            loss.backward(inputs=inputs[phase])
            optimizers[phase].step()
            model.after_step(phase, step)
    return time.perf_counter() - start


def trainer_loop(config: dict) -> tuple[float, int]:
    """(step-loop seconds, steps) of `genzoo.train` on a config, in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        result = genzoo.train(config, Path(tmp) / "run", verbose=False)
    return result.train_seconds, result.step


# -- the cases ----------------------------------------------------------------------------------------------------


def startup_case(args, env) -> list[Row]:
    commands = {
        "torch": [sys.executable, "-c", "import torch"],
        "help": [*genzoo_cmd(), "--help"],
        "models": [*genzoo_cmd(), "models"],
    }
    seconds = {name: [] for name in commands}
    for _ in range(max(3, args.repeats)):
        for name, cmd in commands.items():  # interleaved
            seconds[name].append(run_process(cmd, env))
    return [
        Row("startup-help", "start-up: genzoo --help", "-", "s", seconds["help"], peer=seconds["torch"], slower=True),
        Row(
            "startup-models",
            "start-up: genzoo models",
            "-",
            "s",
            seconds["models"],
            peer=seconds["torch"],
            goal=("<=", 1.2),
            slower=True,
        ),
    ]


def vae_case(args, env, step_flops) -> list[Row]:
    rows = {
        (e, p): Row(
            f"vae-{e}", f"vae whole process, {e} epoch{'s' * (e > 1)}", p, "s", [], goal=(">=", 2.5) if e == 3 else None
        )
        for e in args.vae_epochs
        for p in args.precisions
    }
    peer = {e: [] for e in args.vae_epochs}
    for _ in range(args.repeats):
        for epochs in args.vae_epochs:
            with tempfile.TemporaryDirectory() as tmp:
                peer[epochs].append(
                    run_process(
                        [
                            sys.executable,
                            str(PEERS / "vae_example.py"),
                            "--epochs",
                            str(epochs),
                            "--out",
                            f"{tmp}/peer",
                        ],
                        env,
                    )
                )
                for precision in args.precisions:
                    rows[epochs, precision].genzoo.append(
                        run_process(
                            [
                                *genzoo_cmd(),
                                "train",
                                "vae",
                                "--epochs",
                                str(epochs),
                                "--out",
                                f"{tmp}/{precision}",
                                *precision_flags(precision),
                            ],
                            env,
                        )
                    )
    for (epochs, precision), row in rows.items():
        row.peer = peer[epochs]
        row.flops, row.floor_precision = (
            step_flops * VAE_STEPS_PER_EPOCH * epochs,
            resolved_precision(precision, VAE_MODEL),
        )
    return list(rows.values())


def vae_loop_case(args, step_flops) -> list[Row]:
    config = RunConfig.from_dict({"model": VAE_MODEL, "data": {"dataset": "mnist"}})
    batches = list(EpochBatches(load_data(config).train, VAE_BATCH, seed=0).epoch(0))
    rows = {p: Row("vae-loop", "vae one epoch: trainer loop vs bare", p, "s/epoch", []) for p in args.precisions}
    bare_loop(VAE_MODEL, batches[:2], "fp32")  # warm the kernels once
    for _ in range(args.repeats):
        for precision, row in rows.items():
            row.bare.append(bare_loop(VAE_MODEL, batches, resolved_precision(precision, VAE_MODEL)))
            seconds, steps = trainer_loop(
                {
                    "model": VAE_MODEL,
                    "data": {"dataset": "mnist"},
                    "train": {"epochs": 1, "batch_size": VAE_BATCH, **precision_config(precision)},
                }
            )
            assert steps == len(batches), (steps, len(batches))
            row.genzoo.append(seconds)
    for precision, row in rows.items():
        row.flops, row.floor_precision = step_flops * len(batches), resolved_precision(precision, VAE_MODEL)
    return list(rows.values())


def adversarial_case(key: str, args, env) -> tuple[list[Row], dict]:
    case = ADVERSARIAL[key]
    steps = args.steps.get(key, case.steps)
    per_100 = 100 / steps
    batches = premade(case.model, ADV_BATCH, steps, case.side)
    bare_loop(case.model, batches[:2], "fp32")  # warm the kernels once per case
    rows = {p: Row(key, case.label, p, "s/100 it", [], goal=case.goal) for p in args.precisions}
    peer = []
    config = {
        "model": case.model,
        "data": {"dataset": "mnist", "train_size": steps * ADV_BATCH, "test_size": 256},
        "train": {"epochs": 1, "batch_size": ADV_BATCH, "grid_size": 16, "eval_batch_size": 256},
    }
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            peer.append(run_peer_loop(case.peer, steps, env, Path(tmp)) * per_100)
        for precision, row in rows.items():
            row.bare.append(bare_loop(case.model, batches, resolved_precision(precision, case.model)) * per_100)
            seconds, done = trainer_loop({**config, "train": {**config["train"], **precision_config(precision)}})
            assert done == steps, (done, steps)
            row.genzoo.append(seconds * per_100)
    flops = genzoo_step_flops(case.model, batches[0])
    peer_flops = peer_step_flops(case.peer[0], case.peer[1:])
    for precision, row in rows.items():
        row.peer = peer
        row.flops, row.floor_precision = flops * 100, resolved_precision(precision, case.model)
        row.extra = {"steps": steps, "genzoo_flops_per_it": flops, "peer_flops_per_it": peer_flops}
    return list(rows.values()), {"genzoo": flops, "peer": peer_flops}


def evaluate_case(args, env) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        run = f"{tmp}/vae"
        train_s = run_process([*genzoo_cmd(), "train", "vae", "--epochs", "1", "--out", run], env)
        seconds = [run_process([*genzoo_cmd(), "evaluate", run], env) for _ in range(args.repeats)]
    return [
        Row(
            "evaluate",
            "genzoo evaluate (VAE, 1 epoch)",
            "-",
            "s",
            seconds,
            goal=("s<=", 15.0),
            extra={"first_s": seconds[0], "train_s": train_s},
        )
    ]


# -- the table ----------------------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def goal_text(goal: tuple[str, float] | None) -> str:
    if goal is None:
        return "-"
    kind, target = goal
    return f"<={target:g} s" if kind == "s<=" else f"{kind}{target:g}x"


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    print(
        f"{'case':<38}{'prec':<9}{'unit':<10}{'peer':>8}{'genzoo':>9}{'ratio':>14}{'goal':>9}{'met':>5}"
        f"{'bare':>8}{'g/bare':>7}{'floor':>8}{'g/floor':>8}"
    )
    for row in rows:
        d = row.as_dict()
        ratio = d["ratio"]
        ratio_text = "-" if ratio is None else f"{ratio:.2f}x{' slower' if row.slower and ratio >= 1 else ''}"
        met = {True: "yes", False: "no", None: "-"}[d["met"]]
        print(
            f"{row.case:<38}{row.precision:<9}{row.unit:<10}{fmt(d['peer_s']):>8}{fmt(d['genzoo_s']):>9}"
            f"{ratio_text:>14}{goal_text(row.goal):>9}{met:>5}{fmt(d['bare_s']):>8}"
            f"{fmt(d['genzoo_over_bare']):>7}{fmt(d['floor_s'], '.3f'):>8}{fmt(d['genzoo_over_floor'], '.1f'):>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=ALL_CASES, choices=ALL_CASES)
    parser.add_argument("--precisions", nargs="+", default=["default"], choices=["default", "fp32", "bf16"])
    parser.add_argument("--vae-epochs", nargs="+", type=int, default=[1, 3])
    parser.add_argument(
        "--steps",
        nargs="*",
        default=[],
        metavar="CASE=N",
        help="iterations timed per adversarial run, e.g. gan=400 dcgan64=24",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads here and OMP_NUM_THREADS of every subprocess (default: torch's)",
    )
    parser.add_argument("--json", type=Path, default=HERE / "results" / "speed.json")
    args = parser.parse_args()
    args.steps = {k: int(v) for k, v in (s.split("=") for s in args.steps)}
    env = dict(os.environ)
    if args.threads:
        torch.set_num_threads(args.threads)
        env["OMP_NUM_THREADS"] = str(args.threads)

    started = time.perf_counter()
    machine = {
        **cpu_info(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "omp_num_threads": env.get("OMP_NUM_THREADS"),
    }
    models = [VAE_MODEL, *(ADVERSARIAL[k].model for k in ADVERSARIAL if k in args.cases)]
    needed = {"fp32"} | {resolved_precision(p, m) for p in args.precisions for m in models}
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    rates = {p: matmul_gflops(dtypes[p]) * 1e9 for p in sorted(needed)}

    rows: list[Row] = []
    flops: dict[str, dict] = {}
    vae_flops = None
    if {"vae", "vae-loop"} & set(args.cases):
        vae_flops = genzoo_step_flops(VAE_MODEL, premade(VAE_MODEL, VAE_BATCH, 1)[0])
        flops["vae"] = {"genzoo": vae_flops, "peer": peer_step_flops("vae_example.py", [])}
    for key in args.cases:  # in the order asked
        print(f"[{time.perf_counter() - started:6.0f} s] {key} ...", file=sys.stderr, flush=True)
        if key == "startup":
            rows += startup_case(args, env)
        elif key == "vae":
            rows += vae_case(args, env, vae_flops)
        elif key == "vae-loop":
            rows += vae_loop_case(args, vae_flops)
        elif key == "evaluate":
            rows += evaluate_case(args, env)
        else:
            case_rows, flops[key] = adversarial_case(key, args, env)
            rows += case_rows
    for p, rate in rates.items():  # the rate again at the end; the higher of the two kept
        rates[p] = max(rate, matmul_gflops(dtypes[p]) * 1e9)
    for row in rows:
        if row.flops is not None:
            row.floor = row.flops / rates[row.floor_precision]

    print_table(
        rows,
        f"\n{machine['cpu']} ({machine['cores']} cores; avx512_bf16 {machine['avx512_bf16']}, "
        f"amx_bf16 {machine['amx_bf16']}), torch {machine['torch']}, {machine['threads']} threads, "
        f"best of {args.repeats}; matmul " + ", ".join(f"{p} {r / 1e9:.0f} GFLOP/s" for p, r in rates.items()),
    )
    print(
        "peer, genzoo, bare, floor in the unit's seconds. ratio = peer / genzoo (a speed-up); for start-up "
        "genzoo / `python -c 'import torch'` (best of max(3, repeats) fresh processes). "
        "g/bare = genzoo / bare loop of the "
        "model's phases on pre-made "
        "tensors; g/floor = genzoo / (FLOPs / matmul rate). Precision 'default' = genzoo's default; the "
        "peers run as their scripts do (fp32)."
    )
    if flops:
        print(
            "MFLOP per iteration (forward + backward, every phase): "
            + "; ".join(f"{k} genzoo {v['genzoo'] / 1e6:,.0f} peer {v['peer'] / 1e6:,.0f}" for k, v in flops.items())
        )
    for row in rows:
        if row.key == "evaluate":
            print(
                f"evaluate: first run {row.extra['first_s']:.1f} s; the 1-epoch VAE it evaluated trained in "
                f"{row.extra['train_s']:.1f} s (whole process)"
            )

    out = {
        "machine": machine,
        "settings": {
            "repeats": args.repeats,
            "cases": args.cases,
            "precisions": args.precisions,
            "vae_epochs": args.vae_epochs,
            "steps": {k: args.steps.get(k, c.steps) for k, c in ADVERSARIAL.items()},
        },
        "matmul_gflops": {p: r / 1e9 for p, r in rates.items()},
        "flops_per_iteration": flops,
        "rows": [row.as_dict() for row in rows],
        "seconds": time.perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
