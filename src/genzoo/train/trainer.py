"""The one training loop. It knows nothing of any model family: it asks the model for its optimizer groups and
phases, calls `training_step` per phase, backpropagates, steps, and owns everything around that (batches,
precision, logging, pictures, checkpoints, exact resume).

Positions are derived from the global step alone: epoch = step // batches_per_epoch and the batch inside it is
step % batches_per_epoch, so a checkpoint needs only the step, the optimizer states and the RNG states.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from genzoo.config import RunConfig
from genzoo.data.batches import Batch, EpochBatches, derive_seed, eval_batches, to_float
from genzoo.data.types import Dataset, ImageSplit
from genzoo.errors import GenzooError
from genzoo.explore.grids import image_grid, interleave_rows, save_gif, to_pil
from genzoo.models.base import CONDITIONAL, RECONSTRUCT, SAMPLE, GenerativeModel, StepOutput
from genzoo.run_folder import BEST, RunFolder, split_average
from genzoo.train import checkpoint as ckpt
from genzoo.train import devices, distributed, schedules
from genzoo.train.averaging import WeightAverage
from genzoo.train.distributed import Distributed
from genzoo.train.logging import MetricsLog, NullLog
from genzoo.train.stopping import NonFiniteLoss, StopSignals, TrainingInterrupted

OPTIMIZER_SETTINGS = ("lr", "betas", "weight_decay")  # what the config sets in an optimizer's param groups


def make_optimizer(params, lr: float, betas, weight_decay: float, kind: str = "adam") -> torch.optim.Optimizer:
    """Adam or AdamW, fused into one kernel per step where the device supports it (CPU and CUDA do)."""
    optimizer = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    try:
        return optimizer(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)
    except RuntimeError:
        return optimizer(params, lr=lr, betas=betas, weight_decay=weight_decay, foreach=True)


def check_controls(config: RunConfig, model: GenerativeModel) -> None:
    """What the config cannot check alone: choices made on the validation loss need a model with one objective
    (its optimizer group "loss"). Called before the run folder is touched."""
    tc, groups = config.train, [g.name for g in model.optimizer_groups()]
    for key, on in (("train.keep_best", tc.keep_best), ("train.schedule=plateau", tc.schedule == "plateau")):
        if on and "loss" not in groups:
            raise GenzooError(
                f"{key} needs one objective to compare epochs by; {config.model_name} trains several "
                f"players ({', '.join(groups)}) whose losses say little about the model's quality"
            )


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epochs: float
    train_seconds: float  # time inside the step loop (batches, steps, logging), summed over epochs
    images_per_second: float
    test: dict[str, float] = field(default_factory=dict)  # the last test-set evaluation


class Trainer:
    def __init__(
        self,
        model: GenerativeModel,
        dataset: Dataset,
        config: RunConfig,
        run_dir: Path,
        device: torch.device,
        resume_from: ckpt.Checkpoint | None = None,
        verbose: bool = True,
        world: Distributed = Distributed(),
    ):
        config = devices.with_precision(config, device, model.bf16_safe)  # auto -> fp32 | bf16
        self.model, self.dataset, self.config, self.run_dir = model, dataset, config, Path(run_dir)
        self.checkpoints = RunFolder(run_dir).checkpoints_dir
        self.device, self.world = device, world
        self.verbose = verbose and world.is_main
        tc = config.train
        self.batches = EpochBatches(
            dataset.train,
            tc.batch_size,
            seed=config.seed,
            device=device,
            binarize=dataset.spec.binarize,
            rank=world.rank,
            world_size=world.world_size,
        )
        groups = model.optimizer_groups()
        self.optimizers = {
            g.name: make_optimizer(g.params, g.lr or tc.lr, g.betas or tc.betas, tc.weight_decay, tc.optimizer)
            for g in groups
        }
        # Each group's configured lr; a schedule sets lr = base x factor(step) before every update.
        self.base_lrs = {name: [group["lr"] for group in opt.param_groups] for name, opt in self.optimizers.items()}
        self.scheduled = tc.schedule != "constant" or tc.warmup_steps > 0
        # With a validation slice: the best validation loss so far, the epochs since it improved, and the factor
        # schedule=plateau has cut the lr to (all three saved with every checkpoint, so resume decides alike);
        # `improved`: the epoch just evaluated beat the best and keep_best wants its checkpoint.
        self.best_loss, self.stale_epochs, self.plateau_scale, self.improved = math.inf, 0, 1.0, False
        check_controls(config, model)
        self.group_params = {g.name: [p for p in g.params if p.requires_grad] for g in groups}
        # backward(inputs=...) only when a group holds part of the model: a GAN's generator loss then builds no
        # gradients for the discriminator's weights.
        every = {id(p) for p in model.parameters() if p.requires_grad}
        self.backward_inputs = {g.name: None if {id(p) for p in g.params} == every else g.params for g in groups}
        # train.ema_decay: a moving average of every weight, kept by rank 0 alone (the ranks' weights are equal,
        # and only rank 0 evaluates, draws and writes); copied before compiling, so the copy runs eagerly.
        self.average = WeightAverage(model, tc.ema_decay) if tc.ema_decay and world.is_main else None
        if tc.compile:
            devices.compile_networks(model)
        self.step = 0
        # Loss terms summed on the device since the last log line, and how many updates went into each.
        self.running: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        # [non-finite loss seen, stop requested], summed over ranks. On CPU they are read after every phase (a
        # read costs nothing there); on CUDA only at log lines, the loop's one host sync (see _checked).
        self.flags = torch.zeros(2, device=device)
        self.check_every_phase = device.type != "cuda"
        if tc.precision == "bf16" and device.type == "cpu" and devices.cpu_has_bf16() is False and world.is_main:
            warnings.warn(
                "train.precision=bf16 on a CPU without bf16 instructions (avx512_bf16, amx_bf16): "
                "PyTorch emulates it, which is usually several times slower than fp32 here; "
                "consider --precision fp32",
                stacklevel=3,
            )
        if resume_from is not None:
            self._restore(ckpt.load_train_state(resume_from))
            if self.average is not None:
                self.average.load(split_average(ckpt.load_weights(resume_from, device))[1])
        self.start_step = self.step
        self.checked_at = self.step  # the step whose flags were read last
        # Fixed inputs for the pictures: the first test images, and noise from a generator re-seeded every time.
        # Reconstructions show originals above their reconstructions, so half as many test images fill the grid.
        self.fixed_images = to_float(dataset.test.images[: max(1, tc.grid_size // 2)]).to(device)
        self.fixed_labels = dataset.test.labels[: max(1, tc.grid_size // 2)].to(device)  # conditional models read them
        self.grid_columns = max(1, int(math.sqrt(tc.grid_size)))

    def _restore(self, state: dict[str, Any]) -> None:
        for name, opt in self.optimizers.items():
            # The saved moments and step counts carry on; the hyperparameters are the config's (load_state_dict
            # would bring back the saved ones, silently undoing a resume --set train.lr=... --allow-config-change).
            settings = [{key: group[key] for key in OPTIMIZER_SETTINGS} for group in opt.param_groups]
            opt.load_state_dict(state["optimizers"][name])
            for group, setting in zip(opt.param_groups, settings):
                group.update(setting)
        self.step = int(state["step"])
        self.best_loss = float(state.get("best_loss", math.inf))
        self.stale_epochs = int(state.get("stale_epochs", 0))
        self.plateau_scale = float(state.get("plateau_scale", 1.0))
        ranks = state.get("ranks") or [{"rng": state["rng"]}]  # "rng" alone: a checkpoint from genzoo <= 0.1
        if len(ranks) == self.world.world_size:
            mine = ranks[self.world.rank]
            set_rng_state(mine["rng"], self.device)
            self.running = {k: v.to(self.device) for k, v in mine.get("running", {}).items()}
            self.counts = dict(mine.get("counts", {}))
        else:  # another number of processes: correct, but the random streams cannot be the saved ones
            if self.world.is_main:
                warnings.warn(
                    f"the checkpoint was written by {len(ranks)} process(es) and this run has "
                    f"{self.world.world_size}: training continues from the same weights and optimizer "
                    "state with fresh random streams, so it will not match the original run bit for bit",
                    stacklevel=3,
                )
            torch.manual_seed(derive_seed(self.config.seed, "resume", self.step, self.world.rank))
        if self.world.is_main:
            MetricsLog.truncate(self.run_dir, self.step)

    # -- the loop ---------------------------------------------------------------------------------------------
    def autocast(self):
        if self.config.train.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @property
    def total_steps(self) -> int:
        tc = self.config.train
        return tc.steps if tc.steps is not None else tc.epochs * len(self.batches)

    def fit(self) -> TrainResult:
        """Train from the current step to total_steps, an epoch at a time: its steps (train lines and scheduled
        checkpoints among them), then its test line, pictures and checkpoint. A signal stops the run once a
        checkpoint holds the step it arrived in (TrainingInterrupted); `genzoo resume` continues it exactly."""
        tc, main = self.config.train, self.world.is_main
        log = MetricsLog(self.run_dir, tensorboard=tc.tensorboard) if main else NullLog()
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            unit="step",
            disable=None if main else True,
            dynamic_ncols=True,
            desc=f"{self.config.model_name} on {self.dataset.name}",
            file=sys.stderr,
        )
        train_seconds, test = 0.0, {}
        try:
            with StopSignals(escalate=not self.world.active) as signals:
                while self.step < self.total_steps:
                    first = self.step
                    self.model.train()
                    started = time.perf_counter()
                    stop = self._train_epoch(signals, log, bar)
                    seconds = time.perf_counter() - started
                    train_seconds += seconds
                    # End of an epoch (or of a run that stops inside one): evaluate, draw, checkpoint (rank 0).
                    step = self.step
                    test = (
                        distributed.on_rank_zero(
                            self.world,
                            self.device,
                            functools.partial(self._end_of_epoch, step, log),
                            f"evaluating step {step}",
                        )
                        or {}
                    )
                    if self.world.active and self.dataset.validation is not None:  # rank 0 judged: all ranks follow
                        judged = (self.best_loss, self.stale_epochs, self.plateau_scale, self.improved)
                        self.best_loss, self.stale_epochs, self.plateau_scale, self.improved = (
                            distributed.broadcast_object(judged)
                        )
                    self._save(step)
                    if stop:  # a stop requested in an epoch's last step waits for that epoch's test line
                        raise self._interrupted(step, signals)
                    if self.verbose:
                        bar.write(self._epoch_line(first, test, seconds))
        finally:
            bar.close()
            log.close()
        if main:
            frames = self.picture_frames()
            save_gif(frames, frames[0].parent / "progress.gif" if frames else None)
        trained = (self.step - self.start_step) * tc.batch_size
        return TrainResult(
            run_dir=self.run_dir,
            step=self.step,
            epochs=self.step / len(self.batches),
            train_seconds=train_seconds,
            images_per_second=trained / train_seconds if train_seconds else 0.0,
            test=test,
        )

    def _train_epoch(self, signals: StopSignals, log: MetricsLog | NullLog, bar: tqdm) -> bool:
        """The steps from the current one to the end of its epoch (or of the run). A stop requested inside the
        epoch raises here, once a checkpoint holds the step; one requested in the epoch's last step is returned
        (True), so the caller stops after that epoch's test line."""
        tc, per_epoch, total = self.config.train, len(self.batches), self.total_steps
        epoch, start = divmod(self.step, per_epoch)
        for batch in self.batches.epoch(epoch, start):
            step = self.step
            for phase in self.model.phases(step):
                self._update(batch, step, phase, signals)
            if self.average is not None:
                self.average.update(step)
            self.step = step = step + 1
            bar.update()
            epoch_end = step % per_epoch == 0 or step >= total
            mid_checkpoint = bool(tc.checkpoint_every) and step % tc.checkpoint_every == 0 and not epoch_end
            # A train line every log_every steps, and one before any checkpoint (so a checkpoint taken on schedule
            # has no running sum pending and the log reads the same whatever the resumes).
            if step % tc.log_every == 0 or epoch_end or mid_checkpoint:
                self._log_train_line(step, log, bar)
            if mid_checkpoint:
                self._save(step)
            stop = self._stop_requested(signals) and step < total  # a finished run just ends
            if stop and not epoch_end:
                if not mid_checkpoint:  # (that one is written already)
                    self._save(step)
                raise self._interrupted(step, signals)
            if epoch_end:
                return stop
        return False

    def _update(self, batch: Batch, step: int, phase: str, signals: StopSignals) -> None:
        """One phase of one step: the model's loss, backward, the ranks' agreement, the optimizer's step."""
        with self.autocast():
            out: StepOutput = self.model(batch, step, phase)
        optimizer = self.optimizers[phase]
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward(inputs=self.backward_inputs[phase])
        self._reduce(phase, out, signals)  # gradients averaged over ranks (if several)
        if self.check_every_phase:
            self._checked(step, phase, out)  # raises before a non-finite update is applied
        tc = self.config.train
        if tc.clip_grad_norm is not None:  # after the ranks' average: every rank clips the same gradients alike
            torch.nn.utils.clip_grad_norm_(self.group_params[phase], tc.clip_grad_norm)
        if self.scheduled:
            factor = self.plateau_scale * schedules.lr_factor(
                step, self.total_steps, tc.schedule, tc.warmup_steps, tc.min_lr_ratio, tc.decay_every, tc.decay_factor
            )
            for group, base in zip(optimizer.param_groups, self.base_lrs[phase]):
                group["lr"] = base * factor
        optimizer.step()
        self.model.after_step(phase, step)
        self._accumulate(phase, out)

    def _log_train_line(self, step: int, log: MetricsLog | NullLog, bar: tqdm) -> None:
        if not self.check_every_phase:
            self._checked(step, None, None)
        record = self._flush(step)
        log.write(record)
        bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k not in ("step", "epoch", "split")})

    def _epoch_line(self, first: int, test: dict[str, Any], seconds: float) -> str:
        """The console line closing an epoch that began at step `first`: where, the test figures, the speed."""
        step, per_epoch, total = self.step, len(self.batches), self.total_steps
        images = (step - first) * self.config.train.batch_size
        terms = ", ".join(f"{k} {v:.4g}" for k, v in test.items() if isinstance(v, (int, float)))
        whole = step % per_epoch == 0 and total % per_epoch == 0
        where = (
            f"epoch {step // per_epoch}/{total // per_epoch}"
            if whole
            else f"step {step}/{total} (epoch {step / per_epoch:.2f})"
        )  # a length in steps
        return f"{where}  test: {terms}  ({seconds:.1f} s, {images / max(seconds, 1e-9):,.0f} img/s)"

    # -- faults: non-finite losses and stop requests, agreed on by every rank --------------------------------
    def _reduce(self, phase: str, out: StepOutput, signals: StopSignals) -> None:
        """This phase's flags (loss finite? signal received?) folded into self.flags; under torchrun they travel
        with the gradient all-reduce, so every rank holds the same sums and takes the same decision."""
        if not (self.world.active or self.check_every_phase):
            return  # one process on CUDA: a NaN shows in the running sums at the next log line (see _checked)
        values = torch.stack([out.loss.detach().float(), *(t.detach().float() for t in out.terms.values())])
        flags = torch.stack([(~torch.isfinite(values)).any().float(), torch.zeros((), device=self.device)])
        if signals.signum is not None:
            flags[1] = 1.0
        if self.world.active:
            flags = distributed.average_gradients(self.group_params[phase], self.world.world_size, flags)
        torch.maximum(self.flags, flags, out=self.flags)

    def _checked(self, step: int, phase: str | None, out: StepOutput | None) -> None:
        """Read the flags (a host sync) and stop on a non-finite loss, naming the step and the terms."""
        nonfinite = self.flags[0].item()
        if out is None and self.running:  # read at a log line: any NaN since the last one is in the sums
            nonfinite = nonfinite or not bool(torch.stack(list(self.running.values())).isfinite().all())
        if nonfinite:
            if out is not None:  # read right after the phase: that step's update has not been applied
                terms = {"loss": out.loss, **out.terms}
                bad = [f"{k} = {v.float().item()}" for k, v in terms.items() if not math.isfinite(v.float().item())]
                what = ", ".join(bad) if bad else "a loss term on another process"
                when = f"at step {step + 1} (phase {phase!r}); that step was not applied"
            else:  # CUDA: read at a log line, so the step is known to within the steps since the last one
                bad = [k for k, v in self.running.items() if not math.isfinite(v.item())]
                what = ", ".join(bad) if bad else "a loss term"
                when = f"between steps {self.checked_at + 1} and {step}"
            kept = None
            if self.world.is_main:
                newest = ckpt.latest_valid(self.checkpoints)
                kept = (
                    f"the newest checkpoint, {newest.path.name}, holds finite weights"
                    if newest
                    else "no checkpoint was written"
                )
            if self.world.active:
                # Every rank waits for rank 0's look at the checkpoints and so leaves the process group at the
                # same moment (a rank torn down while its peer is still busy can abort in gloo's teardown).
                kept = distributed.broadcast_object(kept)
            raise NonFiniteLoss(
                f"non-finite loss {when}: {what}. Training stopped; {kept}. Lower train.lr, "
                "try train.precision=fp32, or check the data"
            )
        self.checked_at = step

    def _interrupted(self, step: int, signals: StopSignals) -> TrainingInterrupted:
        """What stops the run once checkpoint `step` is written: the signal's exit code travels with it."""
        signum = signals.signum or 15  # a rank that got no signal itself stops because another one did
        return TrainingInterrupted(signum, step, self.checkpoints / f"step-{step:06d}")

    def _stop_requested(self, signals: StopSignals) -> bool:
        """Stop after this step? One process reads its own signal flag; ranks read the agreed sum, on CPU after
        every step, on CUDA at log lines (the sum is current there: _checked just read it)."""
        if not self.world.active:
            return signals.signum is not None
        if self.check_every_phase or self.step % self.config.train.log_every == 0:
            return self.flags[1].item() > 0
        return False

    def _accumulate(self, phase: str, out: StepOutput) -> None:
        """Sum loss terms on the device; nothing leaves it until the next log line (no per-step sync). Each term
        is averaged over the updates it came from, so a phase that runs every k-th step (a WGAN's generator) logs
        its own mean, not a k times smaller one."""
        terms = {"loss" if phase == "loss" else f"{phase}_loss": out.loss.detach(), **out.terms}
        for key, value in terms.items():
            value = value.detach().float()
            self.running[key] = self.running[key] + value if key in self.running else value
            self.counts[key] = self.counts.get(key, 0) + 1

    def _flush(self, step: int) -> dict[str, Any]:
        """The train line: each term's mean since the last line (over the ranks too, under torchrun)."""
        keys = list(self.running)
        sums = torch.stack([self.running[k] for k in keys])
        if self.world.active:
            sums = distributed.mean_over_ranks(sums)
        values = sums.div_(torch.tensor([self.counts[k] for k in keys], dtype=sums.dtype, device=sums.device)).tolist()
        self.running.clear()  # .tolist() above is the one host sync per log line
        self.counts.clear()
        return {"step": step, "epoch": round(step / len(self.batches), 4), "split": "train", **dict(zip(keys, values))}

    # -- end-of-epoch work ------------------------------------------------------------------------------------
    def _end_of_epoch(self, step: int, log: MetricsLog) -> dict[str, float]:
        epoch = round(step / len(self.batches), 4)
        if self.dataset.validation is not None:  # written before the test line: it is what choices are made on
            validation = self.evaluate(self.dataset.validation, "validate")
            log.write({"step": step, "epoch": epoch, "split": "validation", **validation})
            if "loss" in validation:
                self._judge_epoch(validation["loss"])
        test = self.evaluate()
        log.write({"step": step, "epoch": epoch, "split": "test", **test})
        self._pictures(math.ceil(step / len(self.batches)), step, log)
        return test

    def _judge_epoch(self, loss: float) -> None:
        """Bookkeeping of an epoch's validation loss: keep_best's choice, and schedule=plateau's cut of the lr by
        decay_factor once plateau_patience epochs in a row have not beaten the best."""
        tc = self.config.train
        better = loss < self.best_loss
        self.best_loss = min(loss, self.best_loss)
        self.stale_epochs = 0 if better else self.stale_epochs + 1
        if tc.schedule == "plateau" and self.stale_epochs >= tc.plateau_patience:
            self.plateau_scale *= tc.decay_factor
            self.stale_epochs = 0
        self.improved = better and tc.keep_best

    @property
    def model_in_use(self) -> GenerativeModel:
        """The weights the run is used with: their moving average under train.ema_decay, else the live ones."""
        return self.average.model if self.average is not None else self.model

    @torch.no_grad()
    def evaluate(self, split: ImageSplit | None = None, stream: str = "evaluate") -> dict[str, float]:
        """Mean of every loss term over a split (the test split by default), in fp32, with its own RNG stream
        (training's is untouched), from the weights in use. The model's diagnostics watch the training itself (a
        GAN's health counters, a VAE's active units), so they read the live weights."""
        split = self.dataset.test if split is None else split
        model = self.model_in_use
        was_training = model.training
        model.eval()
        sums: dict[str, torch.Tensor] = {}
        gpus = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=gpus):
            torch.manual_seed(derive_seed(self.config.seed, stream))
            for batch in eval_batches(split, self.config.train.eval_batch_size, self.device):
                for phase in self.optimizers:  # every group once, also one that phases(step) skips at this step
                    out = model.training_step(batch, self.step, phase)
                    terms = {"loss" if phase == "loss" else f"{phase}_loss": out.loss, **out.terms}
                    for key, value in terms.items():
                        sums[key] = sums.get(key, 0) + value.float() * len(batch)
            keys = list(sums)
            values = (torch.stack([sums[k] for k in keys]) / len(split)).tolist()
            model.train(was_training)
            live_was_training = self.model.training
            self.model.eval()
            extra = self.model.diagnostics(split, self.config.train.eval_batch_size)
            self.model.train(live_was_training)
        return {**dict(zip(keys, values)), **extra}

    @torch.no_grad()
    def _pictures(self, epoch: int, step: int, log: MetricsLog) -> None:
        model = self.model_in_use
        was_training = model.training
        model.eval()
        if SAMPLE in model.capabilities:
            n = self.config.train.grid_size
            generator = torch.Generator(self.device).manual_seed(derive_seed(self.config.seed, "grid"))
            # A conditional model draws each class in turn (row-major), so every class shows in the grid.
            labels = (
                torch.arange(n, device=self.device) % self.dataset.num_classes
                if CONDITIONAL in model.capabilities
                else None
            )
            picture = image_grid(model.sample(n, generator=generator, labels=labels), self.grid_columns)
            self._write_picture(picture, self.run_dir / "samples" / f"epoch-{epoch:03d}.png", "samples", step, log)
        if RECONSTRUCT in model.capabilities:
            labels = {"labels": self.fixed_labels} if CONDITIONAL in model.capabilities else {}
            pairs = interleave_rows(
                self.fixed_images, model.reconstruct(self.fixed_images, **labels), self.grid_columns
            )
            picture = image_grid(pairs, self.grid_columns)
            path = self.run_dir / "reconstructions" / f"epoch-{epoch:03d}.png"
            self._write_picture(picture, path, "reconstructions", step, log)
        model.train(was_training)

    @staticmethod
    def _write_picture(picture, path: Path, tag: str, step: int, log: MetricsLog) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        to_pil(picture).save(path)
        log.image(tag, picture, step)

    def picture_frames(self) -> list[Path]:
        """The per-epoch grids the GIF animates: samples, or reconstructions for models that cannot sample."""
        folder = "samples" if SAMPLE in self.model.capabilities else "reconstructions"
        return sorted((self.run_dir / folder).glob("epoch-*.png"))

    def _save(self, step: int) -> None:
        """Checkpoint `step`. Every rank hands over its RNG states and pending log sums (a collective); rank 0
        writes them with the shared weights and optimizer states, which are the same on every rank; every rank
        waits until the files are on disk (or learns that writing them failed)."""
        mine = {
            "rng": rng_state(self.device),
            "running": {k: v.cpu() for k, v in self.running.items()},
            "counts": dict(self.counts),
        }
        ranks = distributed.gather_objects(mine) if self.world.active else [mine]
        weights = self.model.state_dict()
        floats = [w for w in weights.values() if w.is_floating_point()]
        if floats and not bool(torch.stack([w.isfinite().all() for w in floats]).all()):
            raise NonFiniteLoss(
                f"step {step}: the weights hold NaN or infinite values; no checkpoint written "
                "(lower train.lr or try train.precision=fp32)"
            )
        if self.average is not None:  # (rank 0 only; an average of finite weights is finite)
            weights = {**weights, **self.average.state_dict()}

        def write() -> None:
            state = {
                "step": step,
                "best_loss": self.best_loss,
                "stale_epochs": self.stale_epochs,
                "plateau_scale": self.plateau_scale,
                "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
                "ranks": ranks,
            }
            meta = {
                "epoch": step / len(self.batches),
                "model": self.config.model_name,
                "world_size": self.world.world_size,
                "config": self.config.to_dict(),
            }
            written = ckpt.save_checkpoint(self.checkpoints, step, weights, state, meta)
            if self.improved:  # the epoch that just ended has the lowest validation loss so far: best/ is it
                ckpt.keep_copy(written, self.run_dir / BEST)
                self.improved = False
            ckpt.prune(self.checkpoints, self.config.train.keep_checkpoints)

        distributed.on_rank_zero(self.world, self.device, write, f"writing checkpoint step-{step:06d}")
