"""The Python API; the CLI is a thin shell over these functions.

import genzoo
run = genzoo.train({"model": {"name": "vae"}, "data": {"dataset": "mnist"}, "train": {"epochs": 5}})
model = genzoo.load(run.run_dir)
images = genzoo.sample(run.run_dir, n=64)          # (64, 1, 28, 28) in [0, 1]
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from genzoo.config import RunConfig, apply_override, config_changes, merge
from genzoo.data.arrays import ARRAYS, DATA_FILE, save_arrays
from genzoo.data.batches import derive_seed, to_float
from genzoo.data.datasets import load_dataset
from genzoo.data.types import Dataset
from genzoo.errors import GenzooError
from genzoo.evaluate import images as images_io
from genzoo.evaluate.checkpoint import evaluate_checkpoint
from genzoo.evaluate.features import info_for
from genzoo.evaluate.leaderboard import format_table, leaderboard
from genzoo.evaluate.quality import PROTOCOL, codes_of
from genzoo.evaluate.results import update_eval
from genzoo.explore import latent
from genzoo.explore.grids import interleave_rows, save_grid
from genzoo.explore.plots import scatter_by_class
from genzoo.files import atomic_write_text
from genzoo.models.base import CONDITIONAL, DECODE, DENOISE, ENCODE, SAMPLE, GenerativeModel
from genzoo.models.own import install_networks, replace_networks
from genzoo.run_folder import RunFolder, build_model, load_data, own_code_record, with_own_data
from genzoo.samplers import SAMPLERS, MixtureSampler
from genzoo.train import distributed
from genzoo.train.devices import deterministic_cuda, resolve_device, with_precision
from genzoo.train.trainer import Trainer, TrainResult, check_controls


def as_config(config: RunConfig | dict[str, Any]) -> RunConfig:
    return config if isinstance(config, RunConfig) else RunConfig.from_dict(config)


def default_run_dir(config: RunConfig) -> Path:
    return Path("runs") / f"{config.model_name}-{config.data.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    config: RunConfig | dict[str, Any],
    out: Path | str | None = None,
    *,
    data: Any = None,
    networks: dict[str, Any] | None = None,
    overwrite: bool = False,
    verbose: bool = True,
) -> TrainResult:
    """Train a model from a config (a RunConfig or the same plain dict as config.yaml) into a run folder.

    `data`: your own images instead of the config's data set: an array or tensor (N, H, W), (N, C, H, W) or
    (N, H, W, C), uint8 or floats in [0, 1]; a pair (images, labels); a torch.utils.data.Dataset of images or
    (image, label) items; or {"train": ..., "test": ...} of those (without a test split, a fixed draw of
    data.test_fraction is held out). Checked in one line before any work, held in memory as uint8, and kept in
    the run folder as data.npz, so every verb (evaluate, reconstruct, serve, ...) reads it again (data/arrays.py).

    `networks`: your own modules in place of the model's of those names, e.g. {"encoder": MyEncoder(...)} or
    {"decoder": (MyDecoder, {"latent_dim": 20})}: each is checked to give the shapes the replaced one gave in a
    training step, and recorded by import path in code.yaml so that `load` rebuilds it (models/own.py).

    Under `torchrun` every process calls this with the same arguments; they train data-parallel and rank 0
    alone writes the run folder (train/distributed.py)."""
    config = as_config(config)
    whole = None  # the user's own data set (data=), to keep in the run folder
    if data is not None:
        config = config.replace(data=replace(config.data, dataset=ARRAYS))  # (names a default run folder)
    run_dir = Path(out) if out is not None else default_run_dir(config)
    if data is not None:
        config, whole, dataset = with_own_data(config, data, run_dir)
    else:
        dataset = load_data(config)
    dataset = dataset.holding_out(config.data.validation_size)
    config, model = build_model(config, dataset, training=True)
    code = own_code_record(type(model), replace_networks(model, networks) if networks else None)
    check_controls(config, model)  # before the run folder is made
    with _process_group(config) as (world, device):
        config = with_precision(config, device, model.bf16_safe)  # config.yaml records fp32 or bf16, never auto
        if world.active:  # a folder named after the clock: rank 0's name for every rank
            run_dir = Path(distributed.broadcast_object(str(run_dir)))
        folder = RunFolder(run_dir)
        lock = folder.lock()  # taken by rank 0 (the folder's writer) before --overwrite clears anything
        try:
            distributed.on_rank_zero(
                world,
                device,
                lambda: (
                    lock.acquire(),
                    folder.prepare(overwrite),
                    config.save(folder.config_file),
                    folder.write_own_code(code),
                    whole is not None and save_arrays(whole, folder.path / DATA_FILE),
                ),
                f"preparing the run folder {run_dir}",
            )
            if verbose and world.is_main:
                params = sum(p.numel() for p in model.parameters())
                ranks = f" on {world.world_size} processes" if world.active else ""
                print(f"training {config.model_name} ({params:,} parameters) on {dataset.name}{ranks} -> {run_dir}")
            return Trainer(model.to(device), dataset, config, run_dir, device, verbose=verbose, world=world).fit()
        finally:
            lock.release()


@contextlib.contextmanager
def _process_group(config: RunConfig):
    """(this process's place among the torchrun processes, its device) for the length of a training call.
    The weights were initialised from config.seed, the same on every rank; from here each rank draws its own
    noise (only when there are several: a single process keeps the plain seed's stream)."""
    local_rank = distributed.from_environment().local_rank
    device = resolve_device(config.train.device, local_rank if distributed.from_environment().active else None)
    if device.type == "cuda":
        deterministic_cuda()
    with distributed.process_group(device) as world:
        if world.active:
            torch.manual_seed(derive_seed(config.seed, "rank", world.rank))
        yield world, device


def resume(
    run_dir: Path | str,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    overrides: list[str] = (),
    allow_config_change: bool = False,
    verbose: bool = True,
) -> TrainResult:
    """Continue a run from its newest valid checkpoint; `epochs`/`steps` extend its length.

    The run continues with the config its checkpoint was trained with. A config.yaml edited since, or
    `overrides` ("train.lr=1e-4"), that change anything but the length, device or data folder are refused
    unless `allow_config_change` (the result then no longer equals an uninterrupted run)."""
    folder = RunFolder(run_dir)
    if distributed.from_environment().is_main:  # (rank 0 only: two ranks probing at once would see each other)
        folder.lock().check_free()  # another writer: say so before reading checkpoints that it is changing
    source = str(folder.config_file)
    raw = folder.config().to_dict()  # config.yaml, validated with its own name in any error
    for assignment in overrides:
        raw = apply_override(raw, assignment)
    if overrides:  # so an error from here on is the options' (a typo in --set), not the file's
        RunConfig.from_dict(raw, "command line (--set)")
    length = {k: v for k, v in {"epochs": epochs, "steps": steps}.items() if v is not None}
    if epochs is not None and steps is None:
        length["steps"] = None  # a new length in epochs replaces a length in steps
    config = RunConfig.from_dict(merge(raw, {"train": length}), source)
    checkpoint = folder.newest_checkpoint()
    folder.check_model(checkpoint, config.model_name)  # another model entirely: say so before any diff
    trained_with = checkpoint.meta.get("config")  # absent in checkpoints of genzoo <= 0.1
    with contextlib.suppress(GenzooError):  # with the defaults of keys added since (a key removed since: as written)
        trained_with = trained_with and RunConfig.from_dict(trained_with).to_dict()
    changes = config_changes(trained_with, config.to_dict()) if trained_with else []
    if changes and not allow_config_change:
        raise GenzooError(
            f"{source} (with the options given) differs from the config {checkpoint.path.name} was trained with: "
            f"{'; '.join(changes)}. Resume continues the same run: undo the change, or pass --allow-config-change "
            "to continue with the new values (the result will then differ from an uninterrupted run)"
        )
    dataset = load_data(config).holding_out(config.data.validation_size)
    config, model = build_model(config, training=True)
    install_networks(model, folder.networks())  # the user's own, if any (models/own.py), as the run was trained
    folder.load_weights(model, checkpoint, averaged=False)  # training continues from the live weights
    with _process_group(config) as (world, device):
        lock = folder.lock()  # rank 0's, before anything is written
        try:

            def start() -> None:
                lock.acquire()
                # A writer that ended between reading the checkpoint and taking the lock may have added one.
                if folder.newest_step() != checkpoint.step and folder.newest_checkpoint().path != checkpoint.path:
                    raise GenzooError(
                        f"{folder.path} gained a newer checkpoint from another process while this resume was "
                        "starting; run the resume again"
                    )
                if length or overrides:
                    config.save(folder.config_file)

            distributed.on_rank_zero(world, device, start, f"resuming {folder.path}")
            if verbose and world.is_main:
                print(
                    f"resuming {run_dir} from {checkpoint.path.name}"
                    + (f" with changes: {'; '.join(changes)}" if changes else "")
                )
            return Trainer(
                model.to(device),
                dataset,
                config,
                folder.path,
                device,
                resume_from=checkpoint,
                verbose=verbose,
                world=world,
            ).fit()
        finally:
            lock.release()


def load(
    run_dir: Path | str, device: str | torch.device = "cpu", *, best: bool = False, averaged: bool = True
) -> GenerativeModel:
    """The trained model of a run (newest valid checkpoint; with best=True the one train.keep_best kept), in eval
    mode: with the moving average of its weights where it was trained with train.ema_decay, unless
    averaged=False (the live weights training continues from). Leaves the global RNG as it was."""
    folder = RunFolder(run_dir)
    return folder.load_model(device, folder.best_checkpoint() if best else None, averaged)


@torch.no_grad()
def sample(
    run: Path | str | GenerativeModel,
    n: int = 64,
    *,
    seed: int = 0,
    label: int | None = None,
    sampler: str = "prior",
    components: int = 10,
    truncation: float | None = None,
    code: int | None = None,
) -> torch.Tensor:
    """n images (n, C, H, W) in [0, 1] from a run's model; the same seed gives the same images. A conditional
    model draws class `label`, or every class in turn when it is None. `sampler="gmm"` decodes draws of a
    `components`-Gaussian mixture fitted to the codes of 10,000 training images instead (samplers.py; needs a
    run folder). `truncation=t` (a model that draws N(0, I) noise) decodes noise from the normal truncated to
    [-t, t] in every coordinate (see truncated_normal). `code=k` (a model with a categorical latent code, e.g.
    infogan) fixes that code to value k in every sample; the rest is drawn as without it."""
    return _draw(run, n, seed, label, sampler, components, truncation, code)[0]


SAMPLE_BATCH = 500  # images per model.sample call: memory stays flat for n = 10,000


@torch.no_grad()
def _draw(
    run: Path | str | GenerativeModel,
    n: int,
    seed: int = 0,
    label: int | None = None,
    sampler: str = "prior",
    components: int = 10,
    truncation: float | None = None,
    code: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """sample()'s images and the labels they were drawn for (None for an unconditional model). The model's prior
    is drawn in batches of SAMPLE_BATCH from one seeded generator, as `genzoo evaluate` draws its samples
    (evaluate/quality.generate): the same seed gives the very images and labels it scores."""
    model = run if isinstance(run, GenerativeModel) else load(run)
    if truncation is not None:
        _check_truncation(model, truncation, sampler)
    if code is not None:
        _check_code(model, code, sampler, truncation)
    if sampler == "gmm":
        if isinstance(run, GenerativeModel):
            raise GenzooError("sample(sampler='gmm') needs the run folder, whose training images it encodes")
        _class_label(model, label)
        dataset = RunFolder(run).data(train_size=PROTOCOL["probe_train_images"], test_size=1)
        codes = codes_of(model, to_float(dataset.train.images), dataset.train.labels)
        mixture = MixtureSampler(model, codes, components, seed)
        return mixture.sample(n, generator=torch.Generator(model.device).manual_seed(seed)), None
    if sampler != "prior":
        raise GenzooError(f"sampler {sampler!r}; expected one of {', '.join(SAMPLERS)}")
    labels = None
    if CONDITIONAL in model.capabilities:
        labels = (
            torch.full((n,), _class_label(model, label))
            if label is not None
            else torch.arange(n) % model.config.num_classes
        )
        labels = labels.to(model.device)
    else:
        _class_label(model, label)  # refuses a label for a model that has no use for one
    generator = torch.Generator(model.device).manual_seed(seed)
    parts = []
    for i in range(0, n, SAMPLE_BATCH):
        part_labels = None if labels is None else labels[i : i + SAMPLE_BATCH]
        m = min(SAMPLE_BATCH, n - i)
        if code is not None:  # a model with a categorical code takes code= (models/base.py: latent_codes)
            parts.append(model.sample(m, generator=generator, code=code))
        elif truncation is None:
            parts.append(model.sample(m, generator=generator, labels=part_labels))
        else:  # decode(z) is what sample() does with the noise it draws: the same images for a loose bound
            z = truncated_normal((m, model.latent_dim), truncation, generator, model.device)
            parts.append(model.decode(z, **model.conditioning(part_labels)))
    return torch.cat(parts), labels


def truncated_normal(
    shape: tuple[int, ...], t: float, generator: torch.Generator, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """N(0, I) draws with every coordinate outside [-t, t] drawn again until it falls inside: the truncation trick
    of BigGAN (Brock et al. 2019, sec. 3.1), which trades variety for fidelity as t shrinks. Whole-tensor rounds
    (no per-value Python); with a t beyond every draw it returns exactly the plain draw from `generator`, so a
    model's samples with and without a loose truncation are the same images."""
    z = torch.randn(shape, generator=generator, device=device)
    outside = z.abs() > t
    while bool(outside.any()):  # P(inside) = erf(t / sqrt 2): about 30 rounds for every value of 6,400 at t = 0.5
        z = torch.where(outside, torch.randn(shape, generator=generator, device=device), z)
        outside = z.abs() > t
    return z


def _check_truncation(model: GenerativeModel, truncation: float, sampler: str) -> None:
    """--truncation needs a model whose samples are decode(z), z ~ N(0, I): one line otherwise."""
    if not truncation > 0:
        raise GenzooError(f"--truncation {truncation} is out of range; expected a value > 0 (e.g. 0.7)")
    if sampler != "prior":
        raise GenzooError(
            f"--truncation truncates the model's own N(0, I) noise; it does not go with --sampler {sampler}"
        )
    if model.latent_prior != "gaussian" or not {DECODE, SAMPLE} <= model.capabilities:
        draws = {
            "uniform": "uniform noise",
            "mixture": "a mixture prior",
            "conditional": "a prior per class",
            None: "no N(0, I) prior",
        }.get(model.latent_prior, "N(0, I) noise but cannot decode it")
        raise GenzooError(
            f"--truncation needs a model that draws N(0, I) noise (a gan with noise=gaussian, dcgan, sngan, vae, ...); "
            f"model {model.name!r} draws {draws}"
        )


def _check_code(model: GenerativeModel, code: int, sampler: str, truncation: float | None) -> None:
    """--code needs a model with a categorical latent code (infogan) and a value it takes: one line otherwise."""
    values = model.latent_codes[0]
    if not values:
        raise GenzooError(
            f"model {model.name!r} has no categorical latent code: --code needs a model with one (e.g. infogan)"
        )
    if not 0 <= code < values:
        raise GenzooError(f"--code {code} is out of range; this model's categorical code takes 0..{values - 1}")
    if sampler != "prior" or truncation is not None:
        raise GenzooError(
            "--code fixes the model's own categorical code; it does not go with --sampler gmm or --truncation"
        )


def _class_label(model: GenerativeModel, label: int | None) -> int | None:
    """A checked --label: in range for a conditional model (0 when not given), refused for any other."""
    if CONDITIONAL not in model.capabilities:
        if label is not None:
            raise GenzooError(f"model {model.name!r} is not conditional: --label needs a conditional model (e.g. cvae)")
        return None
    classes = model.config.num_classes
    if label is not None and not 0 <= label < classes:
        raise GenzooError(f"--label {label} is out of range; this model knows labels 0..{classes - 1}")
    return label or 0


@torch.no_grad()
def reconstruct(run_dir: Path | str, n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n test images of the run's data set and the model's reconstructions of them."""
    model, dataset = _model_and_data(run_dir, test_size=n)
    x = to_float(dataset.test.images)
    return x, model.reconstruct(x, **model.conditioning(dataset.test.labels))


FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")  # what matplotlib writes without extra packages


def _output(path: Path | str, suffixes: tuple[str, ...] | None = None) -> Path:
    """The file a verb will write, checked before any work: its suffix must be one of `suffixes` (default: an
    image format Pillow can write)."""
    path = Path(path)
    if suffixes is None:
        Image.init()
        suffixes = tuple(sorted(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE))
        shown = ".png, .jpg, .gif, .webp, ..."
    else:
        shown = ", ".join(suffixes)
    if path.suffix.lower() not in suffixes:
        raise GenzooError(
            f"{path}: cannot write a {path.suffix or 'suffix-less'} file here; expected a name ending in {shown}"
        )
    if path.is_dir():
        raise GenzooError(f"{path} is a folder; expected a file name")
    return path


def save_samples(
    run_dir: Path | str,
    path: Path | str,
    n: int = 64,
    seed: int = 0,
    label: int | None = None,
    sampler: str = "prior",
    components: int = 10,
    truncation: float | None = None,
    code: int | None = None,
) -> Path:
    """n samples written as a grid (a picture name: x.png), as arrays (x.npz: `images` (n, C, H, W) uint8 and, for
    a conditional model, `labels` (n,)), or as one PNG per image in a folder (a name ending in / or an existing
    empty folder; labels.csv beside them for a conditional model): the inputs of other FID tools."""
    kind, path = _samples_output(path)
    images, labels = _draw(run_dir, n, seed, label, sampler, components, truncation, code)
    if kind == "npz":
        return images_io.write_npz(path, images, labels)
    if kind == "folder":
        return images_io.write_png_folder(path, images, labels)
    return save_grid(images, path, nrow=max(1, int(n**0.5)))


def _samples_output(path: Path | str) -> tuple[str, Path]:
    """What `genzoo sample -o` writes, checked before any work: ("folder", DIR) for a name ending in / or an existing
    folder (which must be empty), ("npz", x.npz), else ("grid", a picture name)."""
    text = str(path)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        folder = Path(text)
        images_io.check_empty_folder(folder)
        return "folder", folder
    if Path(text).suffix.lower() == ".npz":
        return "npz", Path(text)
    try:
        return "grid", _output(text)
    except GenzooError as exc:
        raise GenzooError(
            f"{exc} (a grid), .npz (the images as uint8 arrays) or / (a folder of one PNG per image)"
        ) from None


def save_reconstructions(run_dir: Path | str, path: Path | str, n: int = 32) -> Path:
    """Rows of originals above rows of their reconstructions."""
    path = _output(path)
    originals, recons = reconstruct(run_dir, n)
    columns = min(8, n)
    return save_grid(interleave_rows(originals, recons, columns), path, nrow=columns)


# -- exploring a trained model's latent space (each reads the run folder, never the trainer) -------------------
def _model_and_data(run_dir: Path | str, test_size: int | None = None) -> tuple[GenerativeModel, Dataset]:
    """The run's model and the first `test_size` of its test images (all by default; one training image)."""
    folder = RunFolder(run_dir)
    return folder.load_model(), folder.data(train_size=1, test_size=test_size)


def _test_images(dataset: Dataset, index: torch.Tensor) -> torch.Tensor:
    return to_float(dataset.test.images[index])


def save_interpolations(run_dir: Path | str, path: Path | str, pairs: int = 8, steps: int = 10, seed: int = 0) -> Path:
    """One row per pair of random test images: decodings along the path between their codes."""
    path = _output(path)
    model, dataset = _model_and_data(run_dir)
    latent.require(model, ENCODE, DECODE)
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(dataset.test), generator=generator)[: 2 * pairs]
    x, y = _test_images(dataset, index), dataset.test.labels[index]
    return save_grid(
        latent.interpolate(model, x[:pairs], x[pairs:], steps, start_labels=y[:pairs], end_labels=y[pairs:]),
        path,
        nrow=steps,
    )


def save_manifold(
    run_dir: Path | str, path: Path | str, n: int = 20, dims: tuple[int, int] | None = None, label: int | None = None
) -> Path:
    """Decodings over a grid of two latent dimensions (the two that vary most over the test codes by default);
    a conditional model draws class `label` (0 by default)."""
    path = _output(path)
    model, dataset = _model_and_data(run_dir)
    latent.require(model, DECODE)
    label = _class_label(model, label)
    # Axes follow the test codes where the model encodes; a decoder-only model (a GAN) uses its prior.
    codes = latent.encode_split(model, dataset.test) if ENCODE in model.capabilities else None
    if codes is not None and label is not None:  # a conditional encoder: the axes span the codes of that class
        codes = codes[dataset.test.labels.to(codes.device) == label]
    images, _ = latent.manifold(model, n, dims, codes, label=label)
    return save_grid(images, path, nrow=n)


def save_traversal(
    run_dir: Path | str,
    path: Path | str,
    steps: int = 11,
    index: int = 0,
    dims: list[int] | None = None,
    max_dims: int = 16,
) -> Path:
    """One row per latent dimension (the `max_dims` that vary most, by default) of test image `index`. A model
    with latent codes (infogan) sweeps those instead (its code_traversal: `dims` picks continuous codes) from the
    noise draw of seed `index`."""
    path = _output(path)
    folder = RunFolder(run_dir)
    model = folder.load_model()
    if any(model.latent_codes):
        generator = torch.Generator(model.device).manual_seed(index)
        return save_grid(model.code_traversal(steps, dims, generator), path, nrow=steps)
    dataset = folder.data(train_size=1, test_size=None)
    latent.require(model, ENCODE, DECODE)
    codes = latent.encode_split(model, dataset.test)
    if dims is None:
        dims = latent.widest_dims(codes, min(max_dims, model.latent_dim))
    if not 0 <= index < len(dataset.test):
        raise GenzooError(f"--index {index} is out of range; the test split has {len(dataset.test)} images")
    x = _test_images(dataset, torch.tensor([index]))
    labels = dataset.test.labels[index : index + 1]
    return save_grid(latent.traverse(model, x, steps, dims, codes, labels=labels), path, nrow=steps)


def save_embedding(run_dir: Path | str, path: Path | str, plot: Path | str | None = None, method: str = "pca") -> Path:
    """Test-set codes and labels to an .npz (codes, labels, points: the 2-D projection); optionally a scatter."""
    path = _output(path, (".npz",))  # numpy would add .npz to any other name, and the file would not be `path`
    plot = None if plot is None else _output(plot, FIGURE_SUFFIXES)
    model, dataset = _model_and_data(run_dir)
    codes = latent.encode_split(model, dataset.test)
    points = latent.tsne_2d(codes) if method == "tsne" else latent.pca_2d(codes)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, codes=codes.cpu().numpy(), labels=dataset.test.labels.numpy(), points=points.cpu().numpy(), method=method
    )
    if plot is not None:
        title = f"{model.name} on {dataset.name}: test codes ({codes.shape[1]}-d, {method.upper()})"
        scatter_by_class(points, dataset.test.labels, dataset.spec.classes, plot, title)
    return path


@torch.no_grad()
def save_denoising(run_dir: Path | str, path: Path | str, n: int = 10, seed: int = 0) -> Path:
    """Three rows of n test images: corrupted with the model's training noise, denoised, clean."""
    path = _output(path)
    model, dataset = _model_and_data(run_dir, test_size=n)
    latent.require(model, DENOISE)
    clean = to_float(dataset.test.images)
    noisy = model.corrupt(clean, generator=torch.Generator().manual_seed(seed))
    return save_grid(torch.cat([noisy.clamp(0, 1), model.reconstruct(noisy), clean]), path, nrow=n)


# -- evaluation (reads the run folder; writes eval.json sections and plots beside it) ---------------------------
def compare(run_dirs: list[Path | str], markdown: bool = False) -> str:
    """A leaderboard table of runs from their eval.json files, the real-data floor first."""
    header, rows = leaderboard(run_dirs)
    return format_table(header, rows, markdown)


def evaluate(
    run_dir: Path | str,
    *,
    nll: bool = False,
    k: int = 5000,
    seed: int = 0,
    test_size: int | None = None,
    batch_size: int = 100,
    device: str = "auto",
    plots: bool = True,
    progress: bool = True,
    quality: bool = True,
    samples: int | None = None,
    sampler: str = "prior",
    components: int = 10,
) -> dict[str, dict[str, Any]]:
    """Evaluate a run's newest valid checkpoint on its test set; merge the sections into eval.json; return them.

    - "diagnostics", for the adversarial models: their training-health figures (sample diversity, ...).
    - "posterior", for models that report posterior diagnostics (the VAE family): KL per latent dimension and
      active units (Burda et al. 2015), plus kl_per_dim.png and active_units.png (over training, read from
      metrics.jsonl) in the run folder.
    - "nll", with `nll=True`: -log p(x) in nats estimated with k importance samples per image, and the ELBO
      (evaluate/likelihood.py). The published protocol is k=5000 over the 10,000 binarized-mnist test images.
    - "quality" and "codes" (unless `quality=False`): sample-quality metrics in the shipped feature network's space
      beside the real-data floor, and reconstruction / latent-probe figures for encoders (evaluate/quality.py).
      With `sampler="gmm"` the samples come from a mixture fitted to training codes, into "quality-gmm".
    """
    if sampler not in SAMPLERS:
        raise GenzooError(f"--sampler {sampler!r}; expected one of {', '.join(SAMPLERS)}")
    if sampler != "prior" and not quality:
        raise GenzooError(
            f"--sampler {sampler} changes only the sample-quality figures, which --no-quality turns "
            "off; drop one of the two"
        )
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise GenzooError(f"--device {device!r}; expected auto, cpu, cuda or cuda:N")
    folder = RunFolder(run_dir)
    config = folder.config()
    with folder.lock():  # it writes eval.json and plots: not while another process writes the folder
        checkpoint = folder.newest_checkpoint()
        model = folder.load_model(resolve_device(device), checkpoint)  # the weights of the step reported
        return evaluate_checkpoint(
            folder,
            config,
            checkpoint,
            model,
            nll=nll,
            k=k,
            seed=seed,
            test_size=test_size,
            batch_size=batch_size,
            plots=plots,
            progress=progress,
            quality=quality,
            samples=samples,
            sampler=sampler,
            components=components,
        )


def images_eval_folder(images: Path | str | np.ndarray | torch.Tensor, out: Path | str | None = None) -> Path | None:
    """The folder whose eval.json evaluate_images writes: `out`, else for a folder of pictures the folder itself,
    for an array file the folder named after it beside it (samples.npz -> samples/), for an array none."""
    if out is not None:
        return Path(out)
    if isinstance(images, (str, Path)):
        path = Path(images)
        return path if path.is_dir() else path.with_suffix("")
    return None


def evaluate_images(
    images: Path | str | np.ndarray | torch.Tensor,
    dataset: str,
    *,
    out: Path | str | None = None,
    labels: np.ndarray | torch.Tensor | None = None,
    device: str = "auto",
) -> dict[str, dict[str, Any]]:
    """Score images genzoo did not make with `evaluate`'s sample-quality protocol, against the same test set and
    real-data floor: {"quality": section}, the section a run's eval.json holds, so `compare` ranks them as a row.

    `images`: a folder of pictures, an .npy / .npz file (evaluate/images.py says what each may hold), or an array
    (N, H, W), (N, C, H, W) or (N, H, W, C), uint8 or floats in [0, 1]; `labels` (N,) (or the file's) add the
    conditional accuracy. Everything is checked before any feature is computed. The section is merged into
    `out`/eval.json: by default, for a folder the folder itself, for a file the folder named after it beside it
    (samples.npz -> samples/); an array is written only where `out` is given."""
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise GenzooError(f"--device {device!r}; expected auto, cpu, cuda or cuda:N")
    info_for(dataset)  # a data set genzoo has a feature network for, before anything is read
    spec = load_dataset(dataset, train_size=1, test_size=1)  # its image shape and classes
    where = "images"
    if isinstance(images, (str, Path)):
        path = Path(images)
        pixels, file_labels, source = images_io.read_images(path, spec.image_shape, dataset, spec.num_classes)
        labels = file_labels if labels is None else images_io.check_labels(labels, len(pixels), spec.num_classes, where)
        out = images_eval_folder(path, out)
    else:
        pixels = images_io.images_from_array(images, spec.image_shape, dataset, where)
        source = {"format": "array", "n_images": len(pixels)}
        if labels is not None:
            labels = images_io.check_labels(labels, len(pixels), spec.num_classes, where)
    folder = None if out is None else RunFolder(out)
    if folder is not None:
        if folder.path.exists() and not folder.path.is_dir():
            raise GenzooError(f"--out {folder.path}: a file; expected a folder for eval.json")
        if folder.holds_run():
            raise GenzooError(
                f"--out {folder.path}: a genzoo run folder, whose eval.json describes its own model; pick another "
                "folder for these images' figures"
            )
    full = load_dataset(dataset)
    with contextlib.ExitStack() as stack:
        if folder is not None:  # eval.json is written under the folder's lock, as `evaluate` writes a run's
            folder.path.mkdir(parents=True, exist_ok=True)
            stack.enter_context(folder.lock())
        section = images_io.score_images(pixels, labels, full, source, str(resolve_device(device)))
        if folder is not None:
            update_eval(folder.path, {"quality": section})
    return {"quality": section}


# -- reports and the run browser (read run folders only) --------------------------------------------------------
def report(run_dirs: list[Path | str], path: Path | str, gif: bool = True) -> Path:
    """One self-contained HTML page of the runs (pictures embedded): the leaderboard of the evaluated ones, then
    each run's facts, evaluation, pictures, training curves and config. `gif=False` leaves out the GIFs of
    samples over training (the bulk of the file: up to a few MB per run)."""
    from genzoo.report import html
    from genzoo.report.runs import read_run

    if not run_dirs:
        raise GenzooError("report needs at least one run folder")
    unique = list({Path(run).resolve(): None for run in run_dirs})  # a folder named twice appears once
    runs = [read_run(run) for run in unique]
    names = [run.name for run in runs]
    for run in runs:  # two folders of one name (runs/a/vae, runs/b/vae): name them by their paths
        if names.count(run.name) > 1:
            run.name = str(run.path)
    path = Path(path)
    if path.is_dir():
        raise GenzooError(f"{path}: is a folder; -o takes the HTML file to write, e.g. {path / 'report.html'}")
    if path.parent.exists() and not path.parent.is_dir():
        raise GenzooError(f"{path.parent}: not a folder; cannot write {path.name} there")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, html.report(runs, gif=gif))
    return path


def serve(root: Path | str = "runs", host: str = "127.0.0.1", port: int = 8000, quiet: bool = False) -> None:
    """Browse the runs under `root` and explore their latent spaces at http://host:port/ until interrupted.
    Prints the address (and a warning when the address reaches beyond this machine); `quiet` also silences the
    per-request log."""
    from genzoo.report.server import LOCAL_NAMES, make_server

    server = make_server(root, host, port, quiet=quiet)
    address = f"[{host}]" if ":" in host else host
    if host not in LOCAL_NAMES:
        print(
            f"genzoo: warning: listening on {host}: anyone who can reach this machine can read these runs",
            file=sys.stderr,
        )
    print(
        f"serving the runs under {Path(root).resolve()} at http://{address}:{server.server_address[1]}/ (Ctrl-C stops)",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
