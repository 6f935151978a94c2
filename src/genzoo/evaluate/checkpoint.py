"""A run's evaluation: the sections of eval.json for one checkpoint (what `genzoo evaluate` computes). The API
picks the run, the checkpoint and the device; this module measures and writes."""

from __future__ import annotations

from typing import Any

import torch

from genzoo.config import RunConfig
from genzoo.errors import GenzooError
from genzoo.evaluate import posterior as collapse
from genzoo.evaluate.code_classes import code_classes
from genzoo.evaluate.likelihood import evaluate_nll
from genzoo.evaluate.quality import PROTOCOL, evaluate_quality
from genzoo.evaluate.results import update_eval
from genzoo.explore import latent
from genzoo.models.base import CONDITIONAL, LOG_LIKELIHOOD, GenerativeModel
from genzoo.run_folder import Checkpoint, RunFolder, global_rng_kept, load_data


def evaluate_checkpoint(
    folder: RunFolder,
    config: RunConfig,
    checkpoint: Checkpoint,
    model: GenerativeModel,
    *,
    nll: bool,
    k: int,
    seed: int,
    test_size: int | None,
    batch_size: int,
    plots: bool,
    progress: bool,
    quality: bool,
    samples: int | None,
    sampler: str,
    components: int,
) -> dict[str, dict[str, Any]]:
    """The sections `genzoo.evaluate` documents, for `model` loaded from `checkpoint` of the run in `folder`;
    merged into its eval.json and returned."""
    if nll:
        latent.require(model, LOG_LIKELIHOOD)
    dataset = load_data(config, train_size=1, test_size=test_size)
    common = {"model": model.name, "dataset": dataset.name, "step": checkpoint.step, "n_images": len(dataset.test)}
    sections: dict[str, dict[str, Any]] = {}

    with torch.no_grad(), global_rng_kept():
        torch.manual_seed(seed)  # a model may draw from its posterior for these figures
        diagnostics = model.diagnostics(dataset.test, 1000)
    if diagnostics and "kl_per_dim" not in diagnostics:  # a GAN's health figures (sample diversity, ...)
        sections["diagnostics"] = {**common, **diagnostics}
    elif diagnostics:
        sections["posterior"] = {**common, **diagnostics}
        if plots:
            layers = getattr(model, "latent_layers", None)
            title = (
                f"{model.name} on {dataset.name}, step {checkpoint.step}: {diagnostics['active_units']} of "
                f"{len(diagnostics['kl_per_dim'])} units active"
            )
            collapse.plot_kl_per_dim(
                diagnostics["kl_per_dim"],
                diagnostics["mean_variance_per_dim"],
                folder.path / "kl_per_dim.png",
                title,
                layers,
            )
            sections["posterior"]["plots"] = ["kl_per_dim.png"]
            history = collapse.active_units_history(folder.metrics())
            if history:
                collapse.plot_active_units(
                    history,
                    len(diagnostics["kl_per_dim"]),
                    folder.path / "active_units.png",
                    f"{model.name} on {dataset.name}: active units over training",
                )
                sections["posterior"]["plots"].append("active_units.png")
    if nll:
        result = evaluate_nll(model, dataset.test, k, seed=seed, batch_size=batch_size, progress=progress)
        likelihood = getattr(model.config, "likelihood", None)
        sections["nll"] = {
            **common,
            **result,
            "likelihood": likelihood,
            # Comparable with Burda et al. 2015, Table 1 only under their protocol.
            "burda_protocol": dataset.name == "binarized-mnist"
            and k >= 5000
            and len(dataset.test) == 10000
            and likelihood == "bernoulli"
            and CONDITIONAL not in model.capabilities,
        }
    if quality:
        full = load_data(config, train_size=None, test_size=None)
        measured = evaluate_quality(
            model, full, seed=seed, samples=samples, device=str(model.device), sampler=sampler, components=components
        )
        for section in measured.values():  # which checkpoint these figures describe (the run may train on)
            section["step"] = checkpoint.step
        sections.update(measured)
        if model.latent_codes[0] and "quality" in measured:  # a categorical code (infogan): the classes it draws
            sections["code_classes"] = {
                # the quality protocol's sample count, split over the code's values (1,000 each of 10 by default)
                **code_classes(
                    model,
                    full,
                    seed,
                    max(1, (samples or PROTOCOL["samples"]) // model.latent_codes[0]),
                    str(model.device),
                ),
                "step": checkpoint.step,
            }
    if not sections:
        why = (
            "sample quality needs a shipped feature network for the data set (mnist, fashion-mnist, "
            "binarized-mnist), code figures an encoder"
            if quality
            else "--no-quality leaves only posterior diagnostics, which this model does not report"
        )
        raise GenzooError(
            f"nothing to evaluate for model {model.name!r} on {dataset.name}: {why}; --nll needs a "
            f"model that can log_likelihood (it can: {', '.join(sorted(model.capabilities))})"
        )
    update_eval(folder.path, sections)
    return sections
