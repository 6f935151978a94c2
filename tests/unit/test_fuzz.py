"""Fuzzing the two readers of user-supplied input with hypothesis: any bytes or any YAML-shaped mapping either
parse into the right thing or raise GenzooError with a message; never another exception, never a hang."""

from __future__ import annotations

import gzip

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genzoo.config import RunConfig, apply_override, read_yaml
from genzoo.data.idx import parse_idx, read_idx
from genzoo.errors import GenzooError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def idx_header(code: int, dims: list[int]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


@FUZZ
@given(st.binary(max_size=64))
def test_random_bytes_parse_or_fail_cleanly(data):
    try:
        array = parse_idx(data, "fuzz.idx")
    except GenzooError as exc:
        assert "fuzz.idx" in str(exc)
    else:  # a few random byte strings are valid IDX files: then the header must describe the array
        assert array.ndim == data[3] and array.size * array.itemsize == len(data) - 4 - 4 * data[3]


@FUZZ
@given(
    code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x0A, 0xFF]),
    dims=st.lists(st.integers(0, 6), min_size=0, max_size=4),
    payload=st.binary(max_size=300),
    cut=st.integers(0, 40),
)
def test_plausible_headers_with_any_payload(code, dims, payload, cut):
    """Headers that look right, payloads too short, too long or exact, files cut anywhere."""
    data = (idx_header(code, dims) + payload)[: max(0, len(idx_header(code, dims)) + len(payload) - cut)]
    try:
        array = parse_idx(data, "plausible.idx")
    except GenzooError as exc:
        assert "plausible.idx" in str(exc)
    else:
        assert list(array.shape) == dims


@FUZZ
@given(st.binary(max_size=200))
def test_damaged_gzip_files_fail_cleanly(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("gz") / "images.gz"
    path.write_bytes(gzip.compress(idx_header(0x08, [2, 2]) + bytes(4))[:10] + data)
    try:
        read_idx(path)
    except GenzooError as exc:
        assert str(path) in str(exc)


@FUZZ
@given(st.lists(st.integers(0, 255), min_size=1, max_size=24))
def test_valid_files_round_trip(values):
    array = np.array(values, dtype=np.uint8)
    assert np.array_equal(parse_idx(idx_header(0x08, [len(values)]) + array.tobytes()), array)


# -- the config loader ---------------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
KNOWN = {
    "model": ["name", "latent_dim", "hidden", "beta", "noise", "noise_fraction", "tied", "likelihood", "network"],
    "data": ["dataset", "train_size", "test_size", "data_dir"],
    "train": ["epochs", "steps", "batch_size", "lr", "betas", "precision", "device", "log_every"],
}
section_values = {
    section: st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), values, max_size=4)
    for section, keys in KNOWN.items()
}


@FUZZ
@given(
    model=section_values["model"],
    data=section_values["data"],
    train=section_values["train"],
    name=st.sampled_from(["vae", "ae", "dae", "gan", "dcgan", "nope", ""]),
    seed=st.one_of(st.integers(-3, 10**9), scalars),
)
def test_config_dicts_load_or_fail_cleanly(model, data, train, name, seed):
    raw = {"model": {**model, "name": name}, "data": data, "train": train, "seed": seed}
    try:
        config = RunConfig.from_dict(raw, "fuzz.yaml")
    except GenzooError as exc:
        assert str(exc)
    else:  # what loads, round-trips
        assert RunConfig.from_dict(config.to_dict()) == config


@FUZZ
@given(st.text(max_size=120))
def test_yaml_text_loads_or_fails_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "config.yaml"
    path.write_text(text)
    try:
        RunConfig.from_dict(read_yaml(path), str(path))
    except GenzooError as exc:
        assert str(exc)


@FUZZ
@given(st.text(max_size=40))
def test_set_overrides_parse_or_fail_cleanly(assignment):
    try:
        raw = apply_override({"model": {"name": "vae"}}, assignment)
        RunConfig.from_dict(raw)
    except GenzooError as exc:  # anything else (a yaml.YAMLError, a TypeError) fails the test
        assert str(exc)
