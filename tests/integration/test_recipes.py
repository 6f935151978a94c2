"""The recipes in recipes/: each is a valid config for the model it names, says what it is, and trains.

`genzoo train MODEL --config recipes/NAME.yaml` must start; the full-length runs and their figures are
benchmarks/reference.py's (benchmarks/results/reference.md). Here every recipe goes through the project's own
config loading, and two of them (one VAE, one GAN with a weight average) train a few steps on tiny data.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import genzoo
from genzoo.config import RunConfig, merge, read_yaml
from genzoo.models.registry import model_names

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
NAMES = [p.stem for p in RECIPES]
TINY = {
    "data": {"train_size": 256, "test_size": 64},
    "train": {
        "steps": 3,
        "epochs": 1,
        "batch_size": 32,
        "log_every": 1,
        "tensorboard": False,
        "device": "cpu",
        "precision": "fp32",
        "grid_size": 16,
        "eval_batch_size": 64,
    },
}


def test_there_are_recipes_for_each_family():
    models = {read_yaml(p)["model"]["name"] for p in RECIPES}
    assert {"vae", "cvae", "cgan", "dcgan"} <= models
    datasets = {read_yaml(p).get("data", {}).get("dataset") for p in RECIPES}
    assert {"mnist", "fashion-mnist", "binarized-mnist"} <= datasets


@pytest.mark.parametrize("path", RECIPES, ids=NAMES)
def test_recipe_is_a_valid_config_for_its_model(path: Path):
    raw = read_yaml(path)
    assert set(raw) <= {"model", "data", "train", "seed"}
    assert raw["model"]["name"] in model_names()
    config = RunConfig.load(path)  # every key and value checked, as `genzoo train --config` checks them
    assert config.model_name == raw["model"]["name"]
    # `genzoo train MODEL --config FILE` composes the same config when MODEL is the recipe's model
    assert RunConfig.from_dict(merge(raw, {"model": {"name": config.model_name}})) == config


@pytest.mark.parametrize("path", RECIPES, ids=NAMES)
def test_recipe_says_what_it_reaches_costs_and_where_its_choices_come_from(path: Path):
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    assert header and header[0].startswith(f"# {path.stem}:"), "the comment block opens with the recipe's name"
    for part in ("Reaches:", "Cost:", "CPU minutes", "Choices:"):
        assert part in text, f"{path.name}: the comment block lacks {part!r}"


def reference_module():
    spec = importlib.util.spec_from_file_location("reference", ROOT / "benchmarks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def test_reference_benchmark_knows_only_existing_recipes():
    module = reference_module()
    assert module.recipe_names() == sorted(NAMES)
    assert set(module.TARGETS) <= set(NAMES)
    assert set(module.PUBLISHED) <= set(NAMES)


def test_readme_results_are_the_reference_table():
    """The README's results table is written from benchmarks/results/reference.json, never by hand."""
    module = reference_module()
    rows = module.read_rows(module.RESULTS)
    assert rows, "benchmarks/results/reference.json has rows"
    block = module.readme_block([rows[k] for k in sorted(rows)])
    assert block in (ROOT / "README.md").read_text(), "run `python benchmarks/reference.py --tables`"
    assert all(f"| {name} |" in block for name in rows)


@pytest.mark.parametrize("name", ["vae-mnist", "cgan-mnist"])
def test_recipe_trains_a_few_steps(name: str, tmp_path: Path):
    raw = merge(read_yaml(ROOT / "recipes" / f"{name}.yaml"), TINY)
    result = genzoo.train(raw, tmp_path / name, verbose=False)
    assert result.step == 3
    trained = RunConfig.load(tmp_path / name / "config.yaml")
    recipe = RunConfig.load(ROOT / "recipes" / f"{name}.yaml")
    assert trained.model == recipe.model  # the recipe's model, not the defaults
    assert trained.train.ema_decay == recipe.train.ema_decay


def test_reference_figures_read_every_evaluate_section():
    """figures() takes each number the table shows from eval.json's sections and the run's last test line."""
    module = reference_module()
    sections = {
        "quality": {"fd_lenet": 2.0, "floor": {"fd_lenet": 0.5}, "precision": 0.7, "recall": 0.6},
        "code_classes": {"matched_code_accuracy": 0.466, "chance": 0.1},
        "codes": {"reconstruction_mse": 0.01},
        "nll": {"nll": 86.2, "nll_stderr": 0.05, "k": 5000, "n_images": 10000},
    }
    f = module.figures(sections, {"loss": 90.0})
    assert f["fd_ratio"] == 4.0 and f["matched_code_accuracy"] == 0.466 and f["nll"] == 86.2
    assert f["reconstruction_mse"] == 0.01 and f["test_loss"] == 90.0
    assert module.label_accuracy(f) == "0.466 (code)"
    assert module.headline({"figures": f}) == "NLL 86.20, matched code acc. 0.466, FD-lenet 2.00 (4x floor)"
