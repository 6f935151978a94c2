"""Batches: a pure function of (seed, epoch, batch index), so a resumed run sees the batches the original saw."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.data.batches import EpochBatches, derive_seed, eval_batches, to_float
from genzoo.data.datasets import ImageSplit
from genzoo.errors import GenzooError

N = 100


@pytest.fixture
def split() -> ImageSplit:
    """Image i is filled with the value i, and labelled i, so a batch tells which examples it holds."""
    index = torch.arange(N, dtype=torch.uint8)
    return ImageSplit(index.view(N, 1, 1, 1).expand(N, 1, 2, 2).clone(), torch.arange(N, dtype=torch.int64))


@pytest.fixture
def grey_split() -> ImageSplit:
    """Mid-grey images (intensity about 0.5) for binarization."""
    gen = torch.Generator().manual_seed(0)
    return ImageSplit(
        torch.randint(60, 200, (40, 1, 6, 6), generator=gen, dtype=torch.uint8), torch.zeros(40, dtype=torch.int64)
    )


def labels_of(batches) -> list[list[int]]:
    return [b.y.tolist() for b in batches]


def test_same_seed_and_epoch_give_the_same_batches(split):
    a = list(EpochBatches(split, 16, seed=3).epoch(2))
    b = list(EpochBatches(split, 16, seed=3).epoch(2))
    assert len(a) == len(b) == N // 16
    for x, y in zip(a, b):
        assert torch.equal(x.x, y.x) and torch.equal(x.y, y.y)


def test_batches_hold_the_labelled_images_in_unit_range(split):
    for batch in EpochBatches(split, 16, seed=0).epoch(0):
        assert batch.x.dtype == torch.float32 and batch.x.shape == (16, 1, 2, 2)
        assert batch.x.min() >= 0 and batch.x.max() <= 1
        # The pixels of each image carry its index: images and labels stay paired through the shuffle.
        assert torch.equal((batch.x[:, 0, 0, 0] * 255).round().long(), batch.y)


def test_an_epoch_visits_distinct_examples_and_drops_the_partial_batch(split):
    batches = EpochBatches(split, 16, seed=0)
    assert len(batches) == 6  # 100 // 16; the last 4 examples of the permutation are dropped
    seen = [label for labels in labels_of(batches.epoch(0)) for label in labels]
    assert len(seen) == 96 and len(set(seen)) == 96


def test_different_epochs_and_seeds_give_different_orders(split):
    batches = EpochBatches(split, 10, seed=0)
    e0, e1 = labels_of(batches.epoch(0)), labels_of(batches.epoch(1))
    assert e0 != e1
    # 100 / 10: every example, reordered
    assert sorted(itertools.chain(*e0)) == sorted(itertools.chain(*e1)) == list(range(N))
    assert labels_of(EpochBatches(split, 10, seed=1).epoch(0)) != e0


@pytest.mark.parametrize("start", [0, 1, 3, 5, 6])
def test_start_yields_exactly_the_tail_of_the_epoch(split, start):
    batches = EpochBatches(split, 16, seed=4)
    full = list(batches.epoch(7))
    tail = list(EpochBatches(split, 16, seed=4).epoch(7, start=start))
    assert len(tail) == len(full) - start
    for a, b in zip(full[start:], tail):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_binarized_batches_are_binary_and_reproducible(grey_split):
    a = list(EpochBatches(grey_split, 8, seed=1, binarize=True).epoch(0))
    b = list(EpochBatches(grey_split, 8, seed=1, binarize=True).epoch(0))
    tail = list(EpochBatches(grey_split, 8, seed=1, binarize=True).epoch(0, start=2))
    for x, y in zip(a, b):
        assert set(x.x.unique().tolist()) == {0.0, 1.0}
        assert torch.equal(x.x, y.x)
    for x, y in zip(a[2:], tail):
        assert torch.equal(x.x, y.x)  # the draw depends on (seed, epoch, batch index), not on the start
    # Dynamic binarization: the same image is drawn anew in another epoch.
    plain = next(iter(EpochBatches(grey_split, 40, seed=1).epoch(0)))
    e0 = next(iter(EpochBatches(grey_split, 40, seed=1, binarize=True).epoch(0)))
    e1 = next(iter(EpochBatches(grey_split, 40, seed=1, binarize=True).epoch(1)))
    order0 = EpochBatches(grey_split, 40, seed=1).permutation(0)
    order1 = EpochBatches(grey_split, 40, seed=1).permutation(1)
    first0 = e0.x[torch.argsort(order0)]  # back to dataset order
    first1 = e1.x[torch.argsort(order1)]
    assert not torch.equal(first0, first1)
    # The draw follows the intensities: its mean is close to the grey level.
    assert abs(e0.x.mean().item() - plain.x.mean().item()) < 0.05


def test_ranks_split_each_global_batch(split):
    whole = list(EpochBatches(split, 20, seed=2).epoch(1))
    rank0 = list(EpochBatches(split, 20, seed=2, rank=0, world_size=2).epoch(1))
    rank1 = list(EpochBatches(split, 20, seed=2, rank=1, world_size=2).epoch(1))
    for w, r0, r1 in zip(whole, rank0, rank1):
        assert len(r0) == len(r1) == 10
        assert torch.equal(torch.cat([r0.y, r1.y]), w.y)


def test_bad_batch_sizes_are_refused(split):
    with pytest.raises(GenzooError, match="larger than the 100 training images"):
        EpochBatches(split, 101, seed=0)
    with pytest.raises(GenzooError, match="divisible"):
        EpochBatches(split, 15, seed=0, world_size=2)


def test_eval_batches_cover_the_split_in_order(split):
    batches = list(eval_batches(split, 32))
    assert [len(b) for b in batches] == [32, 32, 32, 4]
    assert torch.cat([b.y for b in batches]).tolist() == list(range(N))
    assert torch.equal(torch.cat([b.x for b in batches]), to_float(split.images))


def test_derive_seed_is_stable_and_distinct():
    # Pinned values: a change here silently changes every run's data order.
    assert derive_seed(0, "epoch", 1) == 3167572581342605059
    assert derive_seed(7, "binarize", 3, 2) == 6746755778751924473
    assert derive_seed(0, "epoch", 1) != derive_seed(0, "epoch", 2) != derive_seed(1, "epoch", 1)
    assert 0 <= derive_seed("anything") < 2**63


def test_to_float_maps_uint8_to_unit_interval():
    out = to_float(torch.tensor([0, 51, 255], dtype=torch.uint8))
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.tensor([0.0, 0.2, 1.0]))
