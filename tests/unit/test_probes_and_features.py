"""Latent probes and the shipped feature networks."""

from __future__ import annotations

import json

import pytest
import torch

from genzoo.data.datasets import load_dataset
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


def test_fast_max_pool_equals_nn_max_pool_and_keeps_its_gradient():
    x = torch.randn(3, 4, 10, 12, generator=torch.Generator().manual_seed(0)).relu()  # ties at 0, as after a ReLU
    pool, reference = features.MaxPool2x2(), torch.nn.MaxPool2d(2)
    with torch.no_grad():
        assert torch.equal(pool(x), reference(x))
        assert torch.equal(pool(x[..., :9, :]), reference(x[..., :9, :]))  # odd height: ATen's kernel
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    pool(a).sum().backward()
    reference(b).sum().backward()
    assert torch.equal(a.grad, b.grad)  # a tie's gradient goes to one input, as before


def test_features_do_not_depend_on_the_batching(mnist_small):
    """What lets extraction take whatever batches are fastest without moving a figure: any batch with enough
    images per thread gives every image the same bits, and no default batching ends in a short batch."""
    net, _ = features.load_feature_net("mnist")
    threads = torch.get_num_threads()
    train = load_dataset("mnist", train_size=70 * threads + 5, test_size=1).train.images.float() / 255
    for n in (70 * threads + 5, 64 * threads + 3):  # a last batch long enough to keep; one short enough to merge
        assert torch.equal(features.extract(net, train[:n]), features.extract(net, train[:n], batch_size=n))
    assert torch.equal(
        features.extract_split(net, mnist_small.test)[0],
        features.extract(net, mnist_small.test.images.float() / 255, batch_size=64),
    )


def test_batch_bounds_cover_every_item_once_and_merge_a_short_tail():
    assert features.batch_bounds(10_000, 250) == [(i, i + 250) for i in range(0, 10_000, 250)]
    assert features.batch_bounds(505, 250, smallest=12) == [(0, 250), (250, 505)]
    assert features.batch_bounds(520, 250, smallest=12) == [(0, 250), (250, 500), (500, 520)]
    assert features.batch_bounds(7, 250, smallest=12) == [(0, 7)]
    assert features.batch_bounds(0, 250) == []
