"""Latent probes and the shipped feature networks."""

from __future__ import annotations

import json

import pytest
import torch

from genzoo.errors import GenzooError
from genzoo.evaluate import features
from genzoo.evaluate.probes import knn_accuracy, logistic_accuracy


def blobs(n: int, seed: int, separation: float):
    """Three Gaussian blobs in 5-d, `separation` apart along the first axis."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    codes = torch.randn(n, 5, generator=g, dtype=torch.float64)
    codes[:, 0] += separation * labels
    return codes, labels


@pytest.mark.parametrize("probe", [knn_accuracy, logistic_accuracy])
def test_probes_read_separable_codes_and_not_noise(probe):
    train, train_y = blobs(600, 0, separation=10.0)
    test, test_y = blobs(300, 1, separation=10.0)
    assert probe(train, train_y, test, test_y) > 0.99
    noise, _ = blobs(600, 2, separation=0.0)
    assert probe(noise, train_y, blobs(300, 3, 0.0)[0], test_y) < 0.5  # chance is 1/3


def test_shipped_feature_nets_are_registered_small_and_accurate():
    nets = features.registry()
    assert {"mnist", "fashion-mnist"} <= set(nets)
    for name, floor in (("mnist", 0.993), ("fashion-mnist", 0.92)):
        info = nets[name]
        assert info.path.stat().st_size < 2_000_000
        assert info.test_accuracy >= floor
        net, loaded = features.load_feature_net(name)
        assert loaded == info and not net.training


def test_feature_net_with_a_wrong_checksum_is_refused(tmp_path, monkeypatch):
    entries = json.loads(features.REGISTRY.read_text())
    entries["mnist"]["sha256"] = "0" * 64
    registry = tmp_path / "feature_nets.json"
    registry.write_text(json.dumps(entries))
    monkeypatch.setattr(features, "REGISTRY", registry)
    features.load_feature_net.cache_clear()
    try:
        with pytest.raises(GenzooError, match="does not match"):
            features.load_feature_net("mnist")
    finally:
        features.load_feature_net.cache_clear()


def test_unknown_data_set_has_no_feature_net():
    with pytest.raises(GenzooError, match="no shipped feature network"):
        features.info_for("cifar10")
