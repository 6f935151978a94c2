"""Run configuration: YAML round trip, --set overrides, and validation before any work."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from genzoo.cli import build_parser, train_config
from genzoo.config import DataConfig, RunConfig, TrainConfig, apply_override, merge, read_yaml
from genzoo.errors import GenzooError
from genzoo.models.autoencoder import AEConfig
from genzoo.models.vae import VAEConfig


def config_with(*assignments: str, model: str = "vae") -> RunConfig:
    raw = {"model": {"name": model}}
    for assignment in assignments:
        raw = apply_override(raw, assignment)
    return RunConfig.from_dict(raw, source="command line")


# -- round trips ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {"model": {"name": "vae"}},
        {"model": {"name": "ae", "tied": True, "hidden": [64, 32], "loss": "mse"}},
        {
            "model": {"name": "vae", "likelihood": "gaussian", "sigma": 0.2, "beta": 4, "kl_warmup_steps": 10},
            "data": {"dataset": "fashion-mnist", "train_size": 100, "data_dir": "/somewhere"},
            "train": {
                "epochs": 3,
                "steps": 50,
                "lr": 3e-4,
                "betas": [0.5, 0.9],
                "precision": "bf16",
                "checkpoint_every": 7,
                "tensorboard": False,
            },
            "seed": 42,
        },
    ],
    ids=["defaults", "tied-ae", "everything"],
)
def test_dict_and_yaml_round_trip(raw, tmp_path):
    config = RunConfig.from_dict(raw)
    again = RunConfig.from_dict(config.to_dict())
    assert again == config
    assert again.to_dict() == config.to_dict()
    config.save(tmp_path / "config.yaml")
    loaded = RunConfig.load(tmp_path / "config.yaml")
    assert loaded == config
    plain = yaml.safe_load((tmp_path / "config.yaml").read_text())  # plain YAML: lists, no Python tags
    assert plain["model"]["name"] == config.model_name
    assert isinstance(plain["train"]["betas"], list)


def test_defaults_fill_every_section():
    config = RunConfig.from_dict({"model": {"name": "vae"}})
    assert isinstance(config.model, VAEConfig) and config.model == VAEConfig()
    assert config.data == DataConfig() and config.train == TrainConfig() and config.seed == 0
    assert isinstance(RunConfig.from_dict({"model": {"name": "ae"}}).model, AEConfig)


# -- --set overrides ------------------------------------------------------------------------------------------


def test_overrides_parse_types():
    config = config_with(
        "model.beta=4",
        "train.lr=1e-3",
        "train.betas=[0.5, 0.9]",
        "model.hidden=[64, 32]",
        "train.tensorboard=false",
        "data.train_size=512",
        "train.checkpoint_every=null",
        "seed=3",
    )
    assert config.model.beta == 4.0 and isinstance(config.model.beta, float)
    assert config.train.lr == 0.001 and isinstance(config.train.lr, float)
    assert config.train.betas == (0.5, 0.9)
    assert config.model.hidden == (64, 32)
    assert config.train.tensorboard is False
    assert config.data.train_size == 512
    assert config.train.checkpoint_every is None
    assert config.seed == 3


def test_override_merges_without_touching_siblings():
    raw = {"model": {"name": "vae", "beta": 2.0}, "train": {"epochs": 3}}
    out = apply_override(raw, "train.lr=0.01")
    assert out == {"model": {"name": "vae", "beta": 2.0}, "train": {"epochs": 3, "lr": 0.01}}
    assert raw == {"model": {"name": "vae", "beta": 2.0}, "train": {"epochs": 3}}  # input unchanged


@pytest.mark.parametrize("assignment", ["train.lr", "=3", "", "train.lr=[1, 2"])
def test_malformed_overrides_are_refused(assignment):
    with pytest.raises(GenzooError, match="--set"):
        apply_override({}, assignment)


def test_merge_is_recursive_and_over_wins():
    assert merge({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"c": 3}, "e": 4}) == {"a": {"b": 1, "c": 3}, "d": 1, "e": 4}


def test_cli_precedence_defaults_file_flags_set(tmp_path):
    (tmp_path / "run.yaml").write_text(
        "model: {name: vae, latent_dim: 8, beta: 2}\ntrain: {epochs: 9, batch_size: 16, lr: 0.01}\nseed: 5\n"
    )
    args = build_parser().parse_args(
        [
            "train",
            "vae",
            "--config",
            str(tmp_path / "run.yaml"),
            "--epochs",
            "2",
            "--set",
            "train.lr=1e-4",
            "--set",
            "model.beta=3",
        ]
    )
    config = train_config(args)
    assert config.model.latent_dim == 8  # file over defaults
    assert config.train.batch_size == 16 and config.seed == 5
    assert config.train.epochs == 2  # flag over file
    assert config.train.lr == 1e-4 and config.model.beta == 3.0  # --set over everything


# -- validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "assignment,typo,suggestion",
    [
        ("model.latnt_dim=3", "latnt_dim", "latent_dim"),
        ("train.bach_size=3", "bach_size", "batch_size"),
        ("data.datset=mnist", "datset", "dataset"),
        ("trian.epochs=3", "trian", "train"),
    ],
)
def test_unknown_key_suggests_the_close_match(assignment, typo, suggestion):
    with pytest.raises(GenzooError) as info:
        config_with(assignment)
    message = str(info.value)
    assert "\n" not in message
    assert "did you mean" in message
    hint = message.split("did you mean", 1)[1].split("?)")[0]
    assert re.search(rf"'([a-z]+\.)?{suggestion}'", hint), message  # bare or dotted (model.latent_dim)
    assert typo in message


def test_unknown_model_suggests_the_close_match():
    with pytest.raises(GenzooError, match="unknown model 'vea' \\(did you mean 'vae'\\?\\)"):
        RunConfig.from_dict({"model": {"name": "vea"}})


def test_missing_model_name_is_refused():
    with pytest.raises(GenzooError, match="model.name is missing"):
        RunConfig.from_dict({"model": {"latent_dim": 3}})


@pytest.mark.parametrize(
    "assignment,key",
    [
        ("train.epochs=ten", "train.epochs"),
        ("train.epochs=2.5", "train.epochs"),
        ("train.epochs=true", "train.epochs"),
        ("train.lr=fast", "train.lr"),
        ("train.lr=true", "train.lr"),
        ("train.tensorboard=1", "train.tensorboard"),
        ("train.betas=0.9", "train.betas"),
        ("train.betas=[0.9]", "train.betas"),
        ("model.hidden=[64, big]", "model.hidden[1]"),
        ("model.likelihood=poisson", "model.likelihood"),
        ("train.precision=fp16", "train.precision"),
        ("data.dataset=3", "data.dataset"),
        ("data=3", "data"),
    ],
)
def test_wrong_types_are_refused_naming_the_key(assignment, key):
    with pytest.raises(GenzooError) as info:
        config_with(assignment)
    assert key in str(info.value)


@pytest.mark.parametrize(
    "assignment,model",
    [
        ("train.lr=0", "vae"),
        ("train.lr=-1e-3", "vae"),
        ("train.batch_size=0", "vae"),
        ("train.epochs=0", "vae"),
        ("train.steps=-5", "vae"),
        ("train.log_every=0", "vae"),
        ("train.checkpoint_every=0", "vae"),
        ("train.weight_decay=-0.1", "vae"),
        ("train.betas=[1.0, 0.9]", "vae"),
        ("train.device=tpu", "vae"),
        ("data.train_size=0", "vae"),
        ("model.latent_dim=0", "vae"),
        ("model.latent_dim=0", "ae"),
        ("model.hidden=[64, 0]", "ae"),
        ("model.sigma=0", "vae"),
        ("model.mask_fraction=1.5", "dae"),
        ("model.mask_fraction=-0.1", "dae"),
        ("model.noise_std=-1", "dae"),
        ("model.beta=-1", "vae"),
        ("seed=-1", "vae"),
    ],
)
def test_out_of_range_values_are_refused(assignment, model):
    with pytest.raises(GenzooError):
        config_with(assignment, model=model)


def test_out_of_range_message_names_the_key_and_source():
    with pytest.raises(GenzooError, match=r"^command line: train.lr=0.0 is out of range; expected a value > 0$"):
        config_with("train.lr=0")


def test_frozen_configs_are_immutable():
    config = config_with()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.lr = 1.0  # type: ignore[misc]


def test_read_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(GenzooError, match="not valid YAML") as info:
        read_yaml(bad)
    assert str(bad) in str(info.value)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(GenzooError, match="expected a mapping"):
        read_yaml(listy)
    with pytest.raises(GenzooError, match="cannot read"):
        read_yaml(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml") == {}


# -- malformed sections and NaN ----------------------------------------------------------------------------


@pytest.mark.parametrize("model_section", ["vae", 3, ["vae"]])
def test_model_section_that_is_not_a_mapping_is_a_genzoo_error(model_section):
    """`model: vae` (or `--set model=vae`) is a one-line error, like a malformed data or train section."""
    with pytest.raises(GenzooError, match="model"):
        RunConfig.from_dict({"model": model_section})


@pytest.mark.parametrize("value", [".nan", "nan"])
def test_nan_learning_rate_is_refused(value):
    """NaN is refused like any other out-of-range value."""
    with pytest.raises(GenzooError, match="train.lr"):
        config_with(f"train.lr={value}")
