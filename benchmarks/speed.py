"""Training throughput: the real trainer against a bare loop of the same model on pre-made tensors.

The model is the classic 784-400-20 VAE, batch 128, one MNIST epoch (468 steps). The bare loop is the compute
floor: batches already shuffled and converted to float, nothing but forward, backward and fused Adam. The trainer
run is `genzoo.train` for one epoch, timed by the trainer over its step loop (batching, steps, logging); the
end-of-epoch work (test evaluation, grids, checkpoint) is reported separately. Both precisions are measured in
the same process, interleaved, best of `--repeats`, because this shared machine is noisy.

The adversarial cases (`gan` preset wide, `aae`, `dcgan` preset classic-64 at 64x64) time three loops of the same
players in the same process, interleaved, best of `--repeats`:
  reference  the step of the classic standalone script, fp32, on pre-made tensors: plain Adam, full backward
             (the generator's loss also fills the discriminator's gradients), the generator run again for its
             own step (the PyTorch dcgan example reuses its fakes, as it does);
  bare       the model's own phases (`training_step`, backward(inputs=group), fused Adam, `after_step`) on
             pre-made tensors: the compute floor of what the trainer runs;
  trainer    `genzoo.train` for the same number of steps (batches gathered from uint8 MNIST, resized to 64x64
             on the fly for classic-64), timed by the trainer over its step loop.
bare and trainer run at each precision in `--adversarial-precisions`; bf16 is autocast, and the conv players are
channels_last (model.channels_last, on by default).

    python benchmarks/speed.py [--repeats 3] [--cases vae gan aae dcgan64] [--json benchmarks/results/speed.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

import genzoo
from genzoo.api import build_model, load_data
from genzoo.config import RunConfig
from genzoo.data.batches import Batch, EpochBatches

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


def vae_case(args) -> dict:
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
    return {"images": images, "results": rows}


# -- adversarial models ---------------------------------------------------------------------------------------


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target))


def script_gan_step(model, optimizers, x: torch.Tensor) -> None:
    """The PyTorch tutorial GAN's step: D on real and on detached fakes, then G on fresh noise through D, with a
    plain backward (D's weight gradients computed too and thrown away)."""
    opt_d, opt_g = optimizers
    d_loss = bce(model.discriminator(x), 1.0) + bce(model.discriminator(model.fake(model.noise(len(x)), None).detach()), 0.0)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = bce(model.discriminator(model.fake(model.noise(len(x)), None)), 1.0)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()


def example_dcgan_step(model, optimizers, x: torch.Tensor) -> None:
    """pytorch/examples dcgan/main.py, one iteration: errD_real.backward(), errD_fake.backward() on fake.detach(),
    optimizerD.step(); then errG on the same fake through the updated D, errG.backward(), optimizerG.step()."""
    opt_d, opt_g = optimizers
    opt_d.zero_grad()
    bce(model.discriminator(x), 1.0).backward()
    fake = model.fake(model.noise(len(x)), None)
    bce(model.discriminator(fake.detach()), 0.0).backward()
    opt_d.step()
    opt_g.zero_grad()
    bce(model.discriminator(fake), 1.0).backward()
    opt_g.step()


def script_aae_step(model, optimizers, x: torch.Tensor) -> None:
    """The adversarial autoencoder scripts' phases: reconstruction (encoder + decoder), discriminator on prior
    samples against codes, encoder against the discriminator (encoding again), each with a plain backward."""
    opt_ae, opt_d, opt_g = optimizers
    recon = model.reconstruction_loss(model.logits(model.encode(x)), x)
    opt_ae.zero_grad()
    recon.backward()
    opt_ae.step()
    prior = torch.randn(len(x), model.config.latent_dim)
    d_loss = bce(model.discriminator(prior), 1.0) + bce(model.discriminator(model.encode(x).detach()), 0.0)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = bce(model.discriminator(model.encode(x)), 1.0)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()


ADVERSARIAL = {
    # name: (model config, steps timed per run, the reference step, players' side)
    "gan": ({"name": "gan", "preset": "wide"}, 200, script_gan_step, 28),
    "aae": ({"name": "aae"}, 200, script_aae_step, 28),
    "dcgan64": ({"name": "dcgan", "preset": "classic-64"}, 12, example_dcgan_step, 64),
}
LABELS = {"gan": "gan preset wide (b)", "aae": "aae (Makhzani phases)", "dcgan64": "dcgan classic-64 (nz=100, ngf=ndf=64)"}
BATCH = 64


def premade(case: str, steps: int) -> list[Batch]:
    """`steps` MNIST batches of 64 as float tensors (resized to the players' side), made before any clock starts."""
    side = ADVERSARIAL[case][3]
    config = RunConfig.from_dict({"model": ADVERSARIAL[case][0], "data": {"train_size": steps * BATCH, "test_size": 1}})
    batches = list(EpochBatches(load_data(config).train, BATCH, seed=0).epoch(0))
    if side != 28:
        batches = [Batch(F.interpolate(b.x, size=(side, side), mode="bilinear", align_corners=False), b.y)
                   for b in batches]
    return batches


def fresh_model(case: str):
    config = RunConfig.from_dict({"model": ADVERSARIAL[case][0]})
    return build_model(config)[1].train()


def reference_loop(case: str, batches: list[Batch]) -> float:
    """Seconds for the classic script's steps, fp32, contiguous tensors, plain (for-loop) Adam."""
    model = fresh_model(case).to(memory_format=torch.contiguous_format)
    groups = model.optimizer_groups()
    optimizers = [torch.optim.Adam(g.params, lr=g.lr, betas=g.betas) for g in groups]
    step_fn = ADVERSARIAL[case][2]
    inputs = [b.x if case == "aae" else (b.x * 2 - 1).contiguous() for b in batches]  # tanh players: [-1, 1]
    start = time.perf_counter()
    for x in inputs:
        step_fn(model, optimizers, x)
    return time.perf_counter() - start


def adversarial_bare_loop(case: str, batches: list[Batch], precision: str) -> float:
    """Seconds for the model's own phases on pre-made tensors: the trainer's inner loop without the trainer."""
    model = fresh_model(case)
    groups = model.optimizer_groups()
    optimizers = {g.name: torch.optim.Adam(g.params, lr=g.lr, betas=g.betas, fused=True) for g in groups}
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


def adversarial_trainer(case: str, steps: int, precision: str) -> float:
    """Step-loop seconds of `genzoo.train` for one epoch of `steps` batches of 64."""
    config = {"model": ADVERSARIAL[case][0], "data": {"dataset": "mnist", "train_size": steps * BATCH, "test_size": 256},
              "train": {"epochs": 1, "batch_size": BATCH, "precision": precision, "tensorboard": False,
                        "grid_size": 16, "eval_batch_size": 256}}
    with tempfile.TemporaryDirectory() as tmp:
        result = genzoo.train(config, Path(tmp) / "run", verbose=False)
    assert result.step == steps
    return result.train_seconds


def adversarial_case(case: str, repeats: int, precisions: list[str]) -> dict:
    steps = ADVERSARIAL[case][1]
    batches = premade(case, steps)
    adversarial_bare_loop(case, batches[:2], precisions[-1])  # warm the kernels' caches once per process
    reference, bare, trainer = [], {p: [] for p in precisions}, {p: [] for p in precisions}
    for _ in range(repeats):  # interleaved so every loop sees the same machine load
        reference.append(reference_loop(case, batches))
        for precision in precisions:
            bare[precision].append(adversarial_bare_loop(case, batches, precision))
            trainer[precision].append(adversarial_trainer(case, steps, precision))
    rows = {}
    for precision in precisions:
        ref, b, t = min(reference), min(bare[precision]), min(trainer[precision])
        rows[precision] = {
            "steps": steps, "reference_s_per_100": 100 * ref / steps, "bare_s_per_100": 100 * b / steps,
            "trainer_s_per_100": 100 * t / steps, "reference_it_per_s": steps / ref, "bare_it_per_s": steps / b,
            "trainer_it_per_s": steps / t, "ratio": b / t, "speedup_vs_reference": ref / t,
            "all_reference": reference, "all_bare": bare[precision], "all_trainer": trainer[precision],
        }
    return rows


def print_adversarial(results: dict, repeats: int) -> None:
    print(f"\nadversarial models, batch {BATCH}, MNIST, best of {repeats}, {torch.get_num_threads()} threads")
    print(f"{'case':<40}{'prec':<6}{'ref it/s':>9}{'bare it/s':>10}{'trainer it/s':>13}{'ratio':>7}"
          f"{'vs ref':>8}{'trainer s/100 it':>18}")
    for case, rows in results.items():
        for precision, r in rows.items():
            print(f"{LABELS[case]:<40}{precision:<6}{r['reference_it_per_s']:>9.2f}{r['bare_it_per_s']:>10.2f}"
                  f"{r['trainer_it_per_s']:>13.2f}{r['ratio']:>7.2f}{r['speedup_vs_reference']:>7.2f}x"
                  f"{r['trainer_s_per_100']:>18.2f}")
    print("ref = the classic script's step in fp32 on pre-made tensors; ratio = trainer / bare (target >= 0.85); "
          "vs ref = trainer speed-up over the classic step (targets: gan, aae >= 3x the scripts' 2.1 s/100 it; "
          "dcgan64 >= 2x the example's rate, itself about 0.9x its bare fp32 step)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=["vae", *ADVERSARIAL], choices=["vae", *ADVERSARIAL])
    parser.add_argument("--adversarial-precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "speed.json")
    args = parser.parse_args()

    out = {"machine": platform.machine(), "threads": torch.get_num_threads(), "torch": torch.__version__}
    if "vae" in args.cases:
        out.update(vae_case(args))
    adversarial = {case: adversarial_case(case, args.repeats, args.adversarial_precisions)
                   for case in ADVERSARIAL if case in args.cases}
    if adversarial:
        print_adversarial(adversarial, args.repeats)
        out["adversarial"] = adversarial
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
