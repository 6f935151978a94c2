"""Checkpoints are never trusted blindly: a damaged newest checkpoint is skipped with a warning, and a
train_state.pt carrying a pickle payload is refused without running it."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.errors import GenzooError
from genzoo.train import checkpoint as ckpt

from conftest import flip_byte


def weights_of(run: Path, step: int) -> dict[str, torch.Tensor]:
    return ckpt.load_weights(ckpt.validate(run / "checkpoints" / f"step-{step:06d}"))


def test_corrupted_newest_checkpoint_is_skipped_with_a_warning(run_copy, tiny_vae_run):
    flip_byte(run_copy / "checkpoints" / "step-000016" / ckpt.WEIGHTS)
    with pytest.warns(UserWarning, match=r"skipping damaged checkpoint step-000016: .*model\.safetensors"):
        checkpoint = ckpt.latest_valid(run_copy / "checkpoints")
    assert checkpoint.step == 8

    with pytest.warns(UserWarning, match="step-000016"):
        model = genzoo.load(run_copy)
    for key, value in weights_of(run_copy, 8).items():
        assert torch.equal(model.state_dict()[key], value), key


def test_resume_from_the_previous_checkpoint_reproduces_the_run(run_copy, tiny_vae_run):
    flip_byte(run_copy / "checkpoints" / "step-000016" / ckpt.WEIGHTS)
    with pytest.warns(UserWarning, match="step-000016"):
        result = genzoo.resume(run_copy, verbose=False)
    assert result.step == 16
    # Resumed from step 8, it re-trains epoch 2 exactly: the rewritten step 16 equals the original.
    original = weights_of(tiny_vae_run, 16)
    for key, value in weights_of(run_copy, 16).items():
        assert torch.equal(value, original[key]), key
    assert (run_copy / "metrics.jsonl").read_bytes() == (tiny_vae_run / "metrics.jsonl").read_bytes()


def test_truncated_newest_checkpoint_is_skipped(run_copy):
    weights = run_copy / "checkpoints" / "step-000016" / ckpt.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:100])  # a crash mid-write (what the atomic rename prevents)
    with pytest.warns(UserWarning, match="step-000016"):
        assert ckpt.latest_valid(run_copy / "checkpoints").step == 8


def test_every_checkpoint_damaged_is_a_clear_error(run_copy):
    for folder in ckpt.list_checkpoints(run_copy / "checkpoints"):
        flip_byte(folder / ckpt.STATE)
    with pytest.warns(UserWarning), pytest.raises(GenzooError, match="no valid checkpoint"):
        genzoo.load(run_copy)


class Payload:
    """Unpickling this runs code: it creates the marker file. A safe loader must never get that far."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def save_payload_checkpoint(folder: Path, marker: Path, step: int = 99) -> ckpt.Checkpoint:
    state = {"step": step, "optimizers": {}, "rng": {"cpu": torch.get_rng_state()}, "extra": Payload(marker)}
    weights = {"w": torch.zeros(2)}
    ckpt.save_checkpoint(folder, step, weights, state, {"epoch": 1.0, "model": "vae"})
    checkpoint = ckpt.latest_valid(folder)
    assert checkpoint is not None and checkpoint.step == step  # checksums match: the payload is "valid"
    return checkpoint


def test_pickle_payload_in_train_state_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    checkpoint = save_payload_checkpoint(tmp_path / "checkpoints", marker)
    with pytest.raises(GenzooError, match="refused"):
        ckpt.load_train_state(checkpoint)
    assert not marker.exists()

    # The payload is live: plain unpickling runs it (proof that the test above tests something).
    control = tmp_path / "control-ran"
    pickle.loads(pickle.dumps(Payload(control)))
    assert control.read_text() == "pwned"


def test_resume_refuses_a_payload_checkpoint(run_copy, tmp_path):
    marker = tmp_path / "payload-ran"
    newest = run_copy / "checkpoints" / "step-000016"
    # Swap in a train_state.pt with a payload and make meta.json agree with it, as an attacker would.
    state = ckpt.load_train_state(ckpt.validate(newest))
    state["extra"] = Payload(marker)
    torch.save(state, newest / ckpt.STATE)
    meta_dict = json.loads((newest / ckpt.META).read_text())
    meta_dict["files"][ckpt.STATE] = ckpt.sha256_file(newest / ckpt.STATE)
    (newest / ckpt.META).write_text(json.dumps(meta_dict))
    with pytest.raises(GenzooError, match="refused"):
        genzoo.resume(run_copy, verbose=False)
    assert not marker.exists()
