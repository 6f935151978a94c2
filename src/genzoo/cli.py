"""`genzoo` command line: parse, compose a config, call the API. Nothing here trains or draws by itself."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from genzoo.config import RunConfig, apply_override, merge, read_yaml
from genzoo.errors import GenzooError
from genzoo.train.stopping import TrainingInterrupted

# Each command imports what it uses (genzoo.api brings torch and the trainer): `genzoo --help` and a mistyped
# option answer without loading torch, and `genzoo models` loads the models alone.


def cmd_models(args: argparse.Namespace) -> None:
    from genzoo.models.registry import MODELS, model_names

    names = model_names()
    width = max(map(len, names))
    for name in names:
        cls = MODELS[name]
        can = sorted(cls.capabilities) + [f"{verb} with {setting}" for verb, setting in cls.config_capabilities.items()]
        print(f"{name:<{width}}  {cls.summary}  [{', '.join(can)}]")


def cmd_datasets(args: argparse.Namespace) -> None:
    from genzoo.data.arrays import ARRAYS_SPEC
    from genzoo.data.datasets import DATASETS

    specs = {**DATASETS, ARRAYS_SPEC.name: ARRAYS_SPEC}  # arrays: read through run_folder, not the registry
    width = max(map(len, specs))
    for name, spec in specs.items():
        print(f"{name:<{width}}  {spec.summary}")


def train_config(args: argparse.Namespace) -> RunConfig:
    """Defaults <- --config FILE <- explicit flags <- --set overrides, in that order."""
    raw = read_yaml(args.config) if args.config else {}
    flags = {"model": {"name": args.model}}
    if args.dataset is not None:
        flags["data"] = {"dataset": args.dataset}
    if args.data_dir is not None:
        flags.setdefault("data", {})["data_dir"] = str(args.data_dir)
    train = {
        k: v
        for k, v in (
            ("epochs", args.epochs),
            ("steps", args.steps),
            ("batch_size", args.batch_size),
            ("precision", args.precision),
            ("device", args.device),
        )
        if v is not None
    }
    if train:
        flags["train"] = train
    if args.seed is not None:
        flags["seed"] = args.seed
    raw = merge(raw, flags)
    for assignment in args.set:
        raw = apply_override(raw, assignment)
    return RunConfig.from_dict(raw, source=str(args.config) if args.config else "command line")


def cmd_train(args: argparse.Namespace) -> None:
    from genzoo import api
    from genzoo.train.distributed import from_environment

    result = api.train(train_config(args), args.out, overwrite=args.overwrite)
    if from_environment().is_main:  # under torchrun, one line for the whole job
        print(
            f"done: {result.step} steps in {result.train_seconds:.1f} s ({result.images_per_second:,.0f} img/s); "
            f"run folder {result.run_dir}"
        )


def cmd_resume(args: argparse.Namespace) -> None:
    from genzoo import api
    from genzoo.train.distributed import from_environment

    result = api.resume(
        args.run, epochs=args.epochs, steps=args.steps, overrides=args.set, allow_config_change=args.allow_config_change
    )
    if from_environment().is_main:
        print(f"done: step {result.step}; run folder {result.run_dir}")


def cmd_sample(args: argparse.Namespace) -> None:
    from genzoo import api

    print(
        api.save_samples(
            args.run,
            args.output,
            n=args.n,
            seed=args.seed,
            label=args.label,
            sampler=args.sampler,
            components=args.components,
            truncation=args.truncation,
            code=args.code,
        )
    )


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from genzoo import api

    print(api.save_reconstructions(args.run, args.output, n=args.n))


def cmd_interpolate(args: argparse.Namespace) -> None:
    from genzoo import api

    print(api.save_interpolations(args.run, args.output, pairs=args.pairs, steps=args.steps, seed=args.seed))


def cmd_manifold(args: argparse.Namespace) -> None:
    from genzoo import api

    print(
        api.save_manifold(
            args.run, args.output, n=args.n, dims=tuple(args.dims) if args.dims else None, label=args.label
        )
    )


def cmd_traverse(args: argparse.Namespace) -> None:
    from genzoo import api

    print(api.save_traversal(args.run, args.output, steps=args.steps, index=args.index, dims=args.dims))


def cmd_embed(args: argparse.Namespace) -> None:
    from genzoo import api

    print(api.save_embedding(args.run, args.output, plot=args.plot, method="tsne" if args.tsne else "pca"))
    if args.plot:
        print(args.plot)


def cmd_denoise(args: argparse.Namespace) -> None:
    from genzoo import api

    print(api.save_denoising(args.run, args.output, n=args.n, seed=args.seed))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from genzoo import api

    if args.images is not None or args.run is None:
        evaluate_images(args)
        return
    if args.dataset is not None or args.out is not None:
        raise GenzooError("--dataset and --out go with --images (a run is scored on its own data set, into its folder)")
    sections = api.evaluate(
        args.run,
        nll=args.nll,
        k=args.k,
        seed=args.seed,
        test_size=args.test_size,
        batch_size=args.batch_size,
        device=args.device,
        quality=args.quality,
        samples=args.samples,
        sampler=args.sampler,
        components=args.components,
    )
    if {
        "quality",
        "quality-gmm",
        "codes",
        "nll",
    } & sections.keys():  # the leaderboard's row for this run, under the floor's
        print(api.compare([args.run]))
    health = sections.get("diagnostics")
    if health:
        figures = ", ".join(
            f"{k} {v:.4g}" for k, v in health.items() if k not in ("step", "n_images") and isinstance(v, float)
        )
        print(f"diagnostics: {figures}")
    matched = sections.get("code_classes")
    if matched:  # a categorical latent code (infogan): the classes its values draw
        print(
            f"code-to-class: matched code accuracy {matched['matched_code_accuracy']:.4f} (chance "
            f"{matched['chance']:.2f}; {matched['protocol']['samples_per_code']} samples per code value, one-to-one "
            f"matching); class of each code value {matched['class_of_code']}, purity per code value "
            f"{' '.join(f'{p:.2f}' for p in matched['purity_per_code'])}"
        )
    posterior = sections.get("posterior")
    if posterior:
        layers = posterior.get("active_units_per_layer")
        per_layer = f" (per layer, bottom first: {layers})" if layers else ""
        kl = sum(posterior["kl_per_dim"])
        print(
            f"posterior: {posterior['active_units']} of {len(posterior['kl_per_dim'])} latent units active"
            f"{per_layer}; KL {kl:.2f} nats over {posterior['n_images']} test images"
        )
        for name in posterior.get("plots", []):
            print(Path(args.run) / name)
    nll = sections.get("nll")
    if nll:
        print(
            f"test NLL {nll['nll']:.2f} nats (+-{nll['nll_stderr']:.2f}; k={nll['k']}, {nll['n_images']} images, "
            f"seed {nll['seed']}), ELBO {nll['elbo']:.2f} nats, {nll['seconds']:.0f} s"
        )
    print(Path(args.run) / "eval.json")


def evaluate_images(args: argparse.Namespace) -> None:
    """`genzoo evaluate --images PATH --dataset NAME [--out DIR]`: images from elsewhere, one row of the leaderboard."""
    from genzoo import api

    if args.images is None:
        raise GenzooError("evaluate needs a run folder, or --images PATH --dataset NAME for images made elsewhere")
    if args.run is not None:
        raise GenzooError(f"evaluate takes a run folder ({args.run}) or --images, not both")
    if args.dataset is None:
        raise GenzooError("--images needs --dataset: the data set the images are scored against (mnist, fashion-mnist)")
    defaults = build_parser().parse_args(["evaluate", "--images", "x"])  # what each option is when not given
    model_options = {"--nll": "nll", "--no-quality": "quality", "--samples": "samples", "--sampler": "sampler"}
    model_options.update({"--test-size": "test_size", "--k": "k", "--components": "components"})
    given = [option for option, key in model_options.items() if getattr(args, key) != getattr(defaults, key)]
    if given:
        raise GenzooError(f"{', '.join(given)} apply to a run's model, not to --images")
    api.evaluate_images(args.images, args.dataset, out=args.out, device=args.device)
    out = api.images_eval_folder(args.images, args.out)
    print(api.compare([out]))
    print(out / "eval.json")


def cmd_compare(args: argparse.Namespace) -> None:
    from genzoo import api

    print(api.compare(args.runs, markdown=args.markdown))


def cmd_report(args: argparse.Namespace) -> None:
    from genzoo import api

    print(api.report(args.runs, args.output, gif=args.gif))


def cmd_serve(args: argparse.Namespace) -> None:
    from genzoo import api

    api.serve(args.root, args.host, args.port, quiet=args.quiet)


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def add_sampler_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sampler",
        choices=["prior", "gmm"],
        default="prior",
        help="prior: the model's own (default); gmm: decode draws of a Gaussian mixture fitted to the "
        "codes of training images (any encoder, plain autoencoders included; Ghosh et al. 2020)",
    )
    p.add_argument("--components", type=positive_int, default=10, help="mixture components for --sampler gmm")


# Options several commands share, declared once each.
def add_run_command(sub, name: str, func, help: str) -> argparse.ArgumentParser:
    """A command whose first argument is a run folder."""
    p = sub.add_parser(name, help=help)
    p.add_argument("run", type=Path)
    p.set_defaults(func=func)
    return p


def add_output(p: argparse.ArgumentParser, what: str = "PNG file to write") -> None:
    p.add_argument("-o", "--output", type=Path, required=True, help=what)


def add_seed(p: argparse.ArgumentParser, help: str | None = None, default: int | None = 0) -> None:
    p.add_argument("--seed", type=int, default=default, help=help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genzoo", description=__doc__.split(":")[0] + ": autoencoders, VAEs, GANs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list the models, one line each, with what they can do")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("datasets", help="list the data sets")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("train", help="train a model into a run folder")
    p.add_argument("model", help="a model name from `genzoo models`")
    p.add_argument("--dataset", help="a data set from `genzoo datasets` (default mnist)")
    p.add_argument("--data-dir", type=Path, help="folder holding the data files (default: the shipped data/)")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--steps", type=positive_int, help="train for this many steps instead of whole epochs")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="auto (default): bf16 autocast where the hardware computes bf16 natively, else fp32",
    )
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    add_seed(p, default=None)  # None: the config's seed
    p.add_argument("--config", type=Path, help="YAML file with model/data/train sections")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set model.beta=4 (repeatable)",
    )
    p.add_argument("--out", type=Path, help="run folder (default runs/MODEL-DATASET-TIME)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder at --out")
    p.set_defaults(func=cmd_train)

    p = add_run_command(sub, "resume", cmd_resume, help="continue a run from its newest valid checkpoint")
    p.add_argument("--epochs", type=positive_int, help="new total number of epochs")
    p.add_argument("--steps", type=positive_int, help="new total number of steps")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one config value for the rest of the run (needs --allow-config-change)",
    )
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="continue even though config.yaml (or --set) differs from the checkpoint's config",
    )

    p = add_run_command(sub, "sample", cmd_sample, help="draw samples: a grid, an .npz or a folder of PNGs")
    p.add_argument("-n", type=positive_int, default=64, help="number of samples (default 64)")
    p.add_argument(  # a str, not a Path: Path would drop the trailing / that asks for a folder
        "-o",
        "--output",
        required=True,
        help="x.png: a grid; x.npz: uint8 images (N, C, H, W) (+ labels for conditional models); DIR/: one PNG per "
        "image, numbered (+ labels.csv), for torch-fidelity, clean-fid and other FID tools",
    )
    add_seed(p)
    p.add_argument("--label", type=int, help="class to draw (conditional models only)")
    add_sampler_options(p)
    p.add_argument(
        "--truncation",
        type=float,
        metavar="T",
        help="models that draw N(0, I) noise: redraw every noise value outside [-T, T] (the truncation trick, "
        "Brock et al. 2019); smaller T, cleaner and less varied samples (e.g. 0.7)",
    )
    p.add_argument(
        "--code",
        type=int,
        metavar="K",
        help="models with a categorical latent code (infogan): every sample drawn with code value K, the rest as usual",
    )

    p = add_run_command(sub, "reconstruct", cmd_reconstruct, help="test images above their reconstructions")
    p.add_argument("-n", type=positive_int, default=32, help="number of test images (default 32)")
    add_output(p)

    p = add_run_command(sub, "interpolate", cmd_interpolate, help="decode along paths between the codes of test images")
    p.add_argument("--pairs", type=positive_int, default=8, help="rows (pairs of test images), default 8")
    p.add_argument("--steps", type=positive_int, default=10, help="images per row, default 10")
    add_seed(p, "picks the test images")
    add_output(p)

    p = add_run_command(sub, "manifold", cmd_manifold, help="decodings over a grid of two latent dimensions")
    p.add_argument("-n", type=positive_int, default=20, help="grid side, default 20")
    p.add_argument(
        "--dims",
        type=int,
        nargs=2,
        metavar=("X", "Y"),
        help="latent dimensions for the axes (default: the two that vary most over the test codes)",
    )
    p.add_argument("--label", type=int, help="class a conditional model draws (default 0)")
    add_output(p)

    p = add_run_command(
        sub,
        "traverse",
        cmd_traverse,
        help="one row per latent dimension, sweeping it while the rest stay fixed; a model with latent codes "
        "(infogan): one row per categorical value, a continuous code swept from -2 to 2 along it",
    )
    p.add_argument("--steps", type=positive_int, default=11, help="images per row, default 11")
    p.add_argument(
        "--index", type=int, default=0, help="test image whose code is the starting point (infogan: the noise seed)"
    )
    p.add_argument(
        "--dims",
        type=int,
        nargs="+",
        help="latent dimensions (default: up to 16 that vary most); infogan: its continuous codes (default all)",
    )
    add_output(p)

    p = add_run_command(sub, "embed", cmd_embed, help="test-set codes and labels to .npz, with an optional 2-D scatter")
    add_output(p, ".npz file to write")
    p.add_argument("--plot", type=Path, help="PNG scatter of the codes coloured by class")
    p.add_argument("--tsne", action="store_true", help="t-SNE instead of PCA (needs scikit-learn)")

    p = add_run_command(
        sub, "denoise", cmd_denoise, help="rows of noisy / denoised / clean test images (denoising models)"
    )
    p.add_argument("-n", type=positive_int, default=10, help="images per row, default 10")
    add_seed(p, "fixes the noise")
    add_output(p)

    p = sub.add_parser(
        "evaluate",
        help="sample quality vs the real-data floor, code probes, posterior collapse and (--nll) test "
        "log-likelihood, into eval.json; --images: score images made elsewhere",
    )
    p.add_argument("run", type=Path, nargs="?", help="run folder (or leave it out and give --images)")
    p.set_defaults(func=cmd_evaluate)
    p.add_argument(
        "--images",
        type=Path,
        metavar="PATH",
        help="score these images instead of a run's samples: a folder of pictures, or an .npz/.npy of (N, H, W) or "
        "(N, C, H, W), uint8 or floats in [0, 1] (labels from the .npz's labels or the folder's labels.csv)",
    )
    p.add_argument("--dataset", help="with --images: the data set they are scored against (mnist, fashion-mnist)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="with --images: the folder whose eval.json gets the figures (default: the folder of pictures itself, or "
        "beside a file the folder named after it: samples.npz -> samples/); `genzoo compare` takes it as a run",
    )
    p.add_argument(
        "--nll",
        action="store_true",
        help="importance-weighted estimate of -log p(x) in nats on the test set (Burda et al. 2015)",
    )
    p.add_argument("--k", type=positive_int, default=5000, help="importance samples per image (default 5000)")
    add_seed(p, "fixes the importance samples")
    p.add_argument("--test-size", type=positive_int, help="evaluate the first n test images (default: all)")
    p.add_argument("--batch-size", type=positive_int, default=100, help="test images per batch (default 100)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument(
        "--quality",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sample-quality metrics (FD-lenet, KID, precision/recall, density/coverage, classifier "
        "score) beside the real-data floor, and reconstruction/probe figures for encoders "
        "(default; --no-quality skips them)",
    )
    p.add_argument("--samples", type=positive_int, help="generated images for the quality metrics (default 10000)")
    add_sampler_options(p)

    p = sub.add_parser("compare", help="a leaderboard of evaluated runs (reads their eval.json)")
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="one self-contained HTML page of runs: leaderboard, pictures, curves, config")
    p.add_argument("runs", type=Path, nargs="+")
    add_output(p, "HTML file to write")
    p.add_argument(
        "--gif",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="embed each run's GIF of samples over training (default; --no-gif: a much smaller file)",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("serve", help="a local web page to browse runs and explore their latent spaces")
    p.add_argument("root", type=Path, nargs="?", default=Path("runs"), help="folder of runs (default runs/)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--quiet", action="store_true", help="no line per request")
    p.set_defaults(func=cmd_serve)
    return parser


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as the command line shows them: `genzoo: warning: ...`, without Python's source line."""
    return f"genzoo: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = one_line_warning
    try:
        args.func(args)
    except GenzooError as exc:
        print(f"genzoo: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)  # 2: bad input; 3: training diverged (NonFiniteLoss)
    except TrainingInterrupted as exc:
        print(
            f"genzoo: {exc}; continue with `genzoo resume {exc.checkpoint.parents[1] if exc.checkpoint else 'RUN'}`",
            file=sys.stderr,
        )
        return exc.exit_code  # 143 after SIGTERM, 130 after SIGINT
    except KeyboardInterrupt:
        print("genzoo: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
