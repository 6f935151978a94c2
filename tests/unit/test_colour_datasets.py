"""CIFAR-10 (binary archive, read in memory) and image folders: layout, labels, splits, cache, and clear refusals.

CIFAR-10 cannot be downloaded here (no network), so its reader is tested on archives built in the same layout,
registered with their own checksums; the shipped registry entry is checked against the published size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo.data.datasets import CIFAR10, DATASETS, DataFile, FolderOptions, load_dataset
from genzoo.errors import GenzooError
from tests.conftest import build_tiny_config

RECORD = 3073


def cifar_archive(folder: Path, records: int = 4, damage: str | None = None) -> DataFile:
    """A cifar-10-binary.tar.gz of the real layout with `records` records per member: record r of member m has
    label (m + r) % 10 and every red byte = r, green = m, blue = 200."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for m, name in enumerate(CIFAR10.train_members + CIFAR10.test_members):
            rows = np.zeros((records, RECORD), np.uint8)
            rows[:, 0] = (m + np.arange(records)) % 10
            rows[:, 1:1025] = np.arange(records)[:, None]
            rows[:, 1025:2049], rows[:, 2049:] = m, 200
            data = rows.tobytes()
            if damage == "short" and m == 2:
                data = data[:-5]
            if damage == "missing" and m == 5:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    (folder / "cifar10").mkdir(parents=True, exist_ok=True)
    (folder / "cifar10" / CIFAR10.archive.name).write_bytes(data)
    return DataFile(CIFAR10.archive.name, hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    def make(records: int = 4, damage: str | None = None) -> Path:
        archive = cifar_archive(tmp_path, records, damage)
        spec = dataclasses.replace(CIFAR10, archive=archive, records_per_member=records, mirrors=())
        monkeypatch.setitem(DATASETS, "cifar10", spec)
        return tmp_path

    return make


def test_cifar_records_become_rgb_planes_and_labels(fake_cifar):
    data = load_dataset("cifar10", fake_cifar())
    assert data.train.images.shape == (20, 3, 32, 32) and data.test.images.shape == (4, 3, 32, 32)
    assert data.train.images.dtype == torch.uint8 and data.num_classes == 10
    # Train member 2, record 1: label 3, red plane 1, green plane 2, blue 200.
    x, y = data.train.images[2 * 4 + 1], data.train.labels[2 * 4 + 1]
    assert y == 3 and (x[0] == 1).all() and (x[1] == 2).all() and (x[2] == 200).all()
    assert data.test.labels.tolist() == [5, 6, 7, 8] and (data.test.images[:, 1] == 5).all()


@pytest.mark.parametrize(
    "damage, words",
    [
        ("short", "data_batch_3.bin holds 12287 bytes, expected 12292"),
        ("missing", "no member cifar-10-batches-bin/test_batch.bin"),
    ],
)
def test_a_cifar_archive_of_the_wrong_layout_is_refused_by_name(fake_cifar, damage, words):
    with pytest.raises(GenzooError, match=words):
        load_dataset("cifar10", fake_cifar(damage=damage))


def test_the_registered_cifar_archive_is_the_published_one(tmp_path):
    assert CIFAR10.archive.size == 170_052_171 and len(CIFAR10.archive.sha256) == 64
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / CIFAR10.archive.name).write_bytes(b"not the archive")
    with pytest.raises(GenzooError, match="15 bytes, expected 170052171"):  # checked before it is read
        load_dataset("cifar10", tmp_path)


# -- image folders ----------------------------------------------------------------------------------------------
def picture_folder(root: Path, classes=("circles", "squares"), per_class: int = 10) -> Path:
    """Pictures of two kinds in two sizes and formats: bright discs on blue, dark squares on yellow."""
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            colour = (30, 60, 200) if k == 0 else (230, 220, 40)
            picture = Image.new("RGB", (48 + 4 * i, 40), colour)
            fill = 255 if k == 0 else 0
            for y in range(10, 30):
                for x in range(10 + i, 30 + i):
                    if k == 1 or (x - 20 - i) ** 2 + (y - 20) ** 2 < 90:
                        picture.putpixel((x, y), (fill, fill, fill))
            picture.save(root / name / f"{i:02d}.{'png' if i % 2 else 'jpg'}")
    return root


def test_an_image_folder_gives_labels_by_sorted_folder_and_a_fixed_split(tmp_path):
    root = picture_folder(tmp_path / "pictures")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.png").write_bytes(b"ignored")
    data = load_dataset("image-folder", root, options=FolderOptions(image_size=16, test_fraction=0.25))
    assert data.spec.classes == ("circles", "squares") and data.num_classes == 2
    assert data.train.images.shape == (15, 3, 16, 16) and data.test.images.shape == (5, 3, 16, 16)
    both = torch.cat([data.train.labels, data.test.labels])
    assert sorted(both.tolist()) == [0] * 10 + [1] * 10
    blue = data.train.images[data.train.labels == 0][:, 2].float().mean()
    assert blue > data.train.images[data.train.labels == 1][:, 2].float().mean() + 50  # colours kept, not swapped
    again = load_dataset("image-folder", root, options=FolderOptions(image_size=16, test_fraction=0.25))
    assert torch.equal(again.test.images, data.test.images)  # the same split every time (and from the cache)
    grey = load_dataset("image-folder", root, options=FolderOptions(image_size=8, channels=1))
    assert grey.train.images.shape[1:] == (1, 8, 8) and len(grey.test) == 2


def test_the_cache_follows_edits_to_the_folder(tmp_path):
    root = picture_folder(tmp_path / "pictures")
    first = load_dataset("image-folder", root, options=FolderOptions(image_size=8))
    Image.new("RGB", (8, 8), (0, 0, 0)).save(root / "squares" / "99.png")
    second = load_dataset("image-folder", root, options=FolderOptions(image_size=8))
    assert len(first.train) + len(first.test) == 20 and len(second.train) + len(second.test) == 21


def test_a_flat_folder_is_one_class(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(4):
        Image.new("L", (10, 10), 40 * i).save(root / f"{i}.png")
    data = load_dataset("image-folder", root, options=FolderOptions(image_size=4, channels=1))
    assert data.spec.classes == ("flat",) and len(data.train) == 3 and len(data.test) == 1


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda root: None, "needs data.data_dir"),
        (lambda root: root.mkdir(), "found 0 pictures"),
        (
            lambda root: (
                root.mkdir(),
                (root / "a.png").write_bytes(b"\x89PNG broken"),
                (root / "b.png").write_bytes(b"x"),
            ),
            "a.png: not a picture Pillow can read",
        ),
    ],
)
def test_bad_image_folders_are_refused_naming_what_to_fix(tmp_path, make, words):
    root = tmp_path / "pictures"
    make(root)
    with pytest.raises(GenzooError, match=words):
        load_dataset("image-folder", None if "needs" in words else root)


def test_a_dcgan_trains_on_an_image_folder_at_32_px(tmp_path):
    root = picture_folder(tmp_path / "pictures", per_class=16)
    config = build_tiny_config(
        "dcgan",
        data={
            "dataset": "image-folder",
            "data_dir": str(root),
            "image_size": 32,
            "train_size": None,
            "test_size": None,
        },
        model={"width_g": 8, "width_d": 8, "noise_dim": 8},
        train={"batch_size": 8},
    )
    result = genzoo.train(config, tmp_path / "run", verbose=False)
    assert result.step == 3  # 29 training pictures (32 less the test tenth) in whole batches of 8
    model = genzoo.load(tmp_path / "run")
    assert model.config.image_shape == (3, 32, 32)
    assert genzoo.sample(model, n=4).shape == (4, 3, 32, 32)
    grid = Image.open(next((tmp_path / "run" / "samples").glob("epoch-*.png")))
    assert grid.mode == "RGB"
