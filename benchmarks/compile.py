"""Does `train.compile=true` (torch.compile of the model's networks) pay within the first epoch?

For each model, the trainer's inner loop (the model's phases: `training_step` through the step function, backward
into the phase's group, fused Adam) runs on pre-made MNIST batches twice in this process: eagerly, and with the
networks compiled as the trainer compiles them (`compile_networks`). The first compiled steps carry the
compile time (their time minus as many eager steps); the rest give the per-step speed. Break-even = compile time
/ per-step saving, in steps, against the steps of one epoch at the model's batch size.

    python benchmarks/compile.py [--models vae gan aae dcgan] [--steps 60] [--precision fp32]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch

from genzoo.api import build_model, load_data
from genzoo.config import RunConfig
from genzoo.data.batches import Batch, EpochBatches
from genzoo.train.devices import compile_networks

CASES = {  # name: (model config, batch size)
    "vae": ({"name": "vae"}, 128),
    "gan": ({"name": "gan", "preset": "wide"}, 64),
    "aae": ({"name": "aae"}, 64),
    "dcgan": ({"name": "dcgan"}, 64),
    "dcgan64": ({"name": "dcgan", "preset": "classic-64"}, 64),
}
WARMUP = 3  # compiled steps that may still be compiling (each network's graph per phase and grad mode)


def timed_loop(case: str, batches: list[Batch], compiled: bool, precision: str) -> list[float]:
    """Seconds of each step of the model's own phases, eager or with its networks compiled."""
    config = RunConfig.from_dict({"model": CASES[case][0]})
    model = build_model(config, None)[1].train()
    if compiled:
        compile_networks(model)
    optimizers = {
        g.name: torch.optim.Adam(g.params, lr=g.lr or 1e-3, betas=g.betas or (0.9, 0.999), fused=True)
        for g in model.optimizer_groups()
    }
    every = {id(p) for p in model.parameters() if p.requires_grad}
    inputs = {g.name: None if {id(p) for p in g.params} == every else g.params for g in model.optimizer_groups()}
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    seconds = []
    for step, batch in enumerate(batches):
        started = time.perf_counter()
        for phase in model.phases(step):
            with autocast:
                loss = model(batch, step, phase).loss
            optimizers[phase].zero_grad(set_to_none=True)
            loss.backward(inputs=inputs[phase])
            optimizers[phase].step()
            model.after_step(phase, step)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "compile.json")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = {}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.precision}, {args.steps} steps")
    print(
        f"{'model':<10}{'eager ms/step':>14}{'compiled ms/step':>18}{'speed-up':>10}{'compile s':>11}"
        f"{'break-even steps':>18}{'steps/epoch':>13}  pays in epoch 1"
    )
    for case in args.models:
        batch_size = CASES[case][1]
        config = RunConfig.from_dict(
            {"model": CASES[case][0], "data": {"train_size": args.steps * batch_size, "test_size": 1}}
        )
        batches = list(EpochBatches(load_data(config).train, batch_size, seed=0).epoch(0))
        eager = timed_loop(case, batches, False, args.precision)
        try:
            compiled = timed_loop(case, batches, True, args.precision)
        except Exception as exc:
            rows[case] = {"batch": batch_size, "eager_s": sorted(eager)[len(eager) // 2], "error": str(exc)[:2000]}
            print(
                f"{case:<10}{1000 * rows[case]['eager_s']:>14.1f}  compiled: fails ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:120]})",
                flush=True,
            )
            continue
        eager_step = sorted(eager[WARMUP:])[len(eager[WARMUP:]) // 2]  # medians: robust to a busy machine
        compiled_step = sorted(compiled[WARMUP:])[len(compiled[WARMUP:]) // 2]
        compile_s = sum(compiled[:WARMUP]) - WARMUP * eager_step
        saving = eager_step - compiled_step
        break_even = compile_s / saving if saving > 0 else float("inf")
        per_epoch = 60_000 // batch_size
        rows[case] = {
            "batch": batch_size,
            "eager_s": eager_step,
            "compiled_s": compiled_step,
            "compile_s": compile_s,
            "break_even_steps": break_even,
            "steps_per_epoch": per_epoch,
        }
        print(
            f"{case:<10}{1000 * eager_step:>14.1f}{1000 * compiled_step:>18.1f}{eager_step / compiled_step:>9.2f}x"
            f"{compile_s:>11.1f}{break_even:>18.0f}{per_epoch:>13}  {'yes' if break_even < per_epoch else 'no'}",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "precision": args.precision,
                "steps": args.steps,
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
