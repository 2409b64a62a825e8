"""Tests of fwcompare.datasets: no network, no real data.

The loading tests write tiny IDX archives in torchvision's layout and patch the
torchvision class's ``resources`` with their MD5s, so torchvision's own MD5 check,
extraction and IDX parsing run; its ``mirrors`` point at a closed loopback port.
"""

import gzip
import hashlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets

from fwcompare import datasets
from fwcompare.datasets import (
    DATA_VARIABLE,
    ChecksumError,
    DataMissingError,
    batch_order,
    class_names,
    data_root,
    load,
    normalize,
    pixel_stats,
    train_val_split,
)

NAMES = ("mnist", "fashion_mnist")
CLOSED_PORT = "http://127.0.0.1:9/"  # nothing listens: connection refused at once


def _torchvision_class(name):
    return getattr(torchvision.datasets, datasets.DATASETS[name].folder)


def _raw(root, name):
    return Path(root) / datasets.DATASETS[name].folder / "raw"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Every download attempt goes to a closed port on this machine, never through a proxy."""
    for name in NAMES:
        monkeypatch.setattr(_torchvision_class(name), "mirrors", [CLOSED_PORT])
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


def _idx_images(images):
    return struct.pack(">iiii", 2051, *images.shape) + images.tobytes()  # (N, 28, 28) uint8


def _idx_labels(labels):
    return struct.pack(">ii", 2049, *labels.shape) + labels.tobytes()  # (N,) uint8


@pytest.fixture
def write_dataset(monkeypatch):
    """Write a tiny dataset's four archives under ``<root>/<Folder>/raw/`` and patch their MD5s in.

    Returns ``{split: (images, labels)}`` as written.
    """

    def write(root, name, sizes=(("train", 5), ("test", 3))):
        rng = np.random.default_rng(0)
        written = {
            split: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
            for split, n in sizes
        }
        raw = _raw(root, name)
        raw.mkdir(parents=True)
        resources = []
        for filename, _ in _torchvision_class(name).resources:  # torchvision's own file names
            images, labels = written["train" if filename.startswith("train") else "test"]
            payload = _idx_images(images) if "images" in filename else _idx_labels(labels)
            archive = gzip.compress(payload, mtime=0)
            (raw / filename).write_bytes(archive)
            resources.append((filename, hashlib.md5(archive).hexdigest()))
        monkeypatch.setattr(_torchvision_class(name), "resources", resources)
        return written

    return write


def _archive_names(name):
    return [filename for filename, _ in _torchvision_class(name).resources]


def _assert_names_missing(error, raw, missing):
    message = str(error.value)
    assert str(raw) in message
    for filename in missing:
        assert str(raw / filename) in message


# --- loading -------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("name", NAMES)
def test_load_returns_the_pixels_and_labels_written(tmp_path, write_dataset, name, split):
    written_images, written_labels = write_dataset(tmp_path, name)[split]

    images, labels = load(name, split, root=tmp_path, download=False)  # archives alone suffice offline

    assert images.dtype == np.uint8 and images.shape == written_images.shape
    assert labels.dtype == np.int64 and labels.shape == (len(written_labels),)
    np.testing.assert_array_equal(images, written_images)
    np.testing.assert_array_equal(labels, written_labels)


def test_successful_load_publishes_exactly_archives_and_extracted_files(tmp_path, write_dataset):
    write_dataset(tmp_path, "mnist")

    load("mnist", "train", root=tmp_path)

    archives = _archive_names("mnist")
    expected = set(archives) | {filename.removesuffix(".gz") for filename in archives}
    assert {path.name for path in _raw(tmp_path, "mnist").iterdir()} == expected
    assert [path.name for path in tmp_path.iterdir()] == ["MNIST"]  # no staging folder left


def test_load_reads_root_from_environment(tmp_path, write_dataset, monkeypatch):
    written_images, _ = write_dataset(tmp_path, "mnist")["test"]
    monkeypatch.setenv(DATA_VARIABLE, str(tmp_path))

    images, _ = load("mnist", "test")

    np.testing.assert_array_equal(images, written_images)


def test_root_argument_takes_precedence_over_environment(tmp_path, write_dataset, monkeypatch):
    written_images, _ = write_dataset(tmp_path / "argument", "mnist")["test"]
    monkeypatch.setenv(DATA_VARIABLE, str(tmp_path / "environment"))

    images, _ = load("mnist", "test", root=tmp_path / "argument")

    np.testing.assert_array_equal(images, written_images)
    assert not (tmp_path / "environment").exists()


def test_default_root_is_data_folder_of_repository(monkeypatch):
    monkeypatch.delenv(DATA_VARIABLE, raising=False)
    assert data_root() == Path(__file__).resolve().parents[1] / "data"


# --- bad input -----------------------------------------------------------------------------------


def test_unknown_dataset_name_lists_allowed_names(tmp_path):
    with pytest.raises(ValueError, match=r"'cifar10'.*allowed: 'mnist', 'fashion_mnist'"):
        load("cifar10", "train", root=tmp_path)


def test_unknown_split_lists_allowed_splits(tmp_path):
    with pytest.raises(ValueError, match=r"'validation'.*allowed: 'train', 'test'"):
        load("mnist", "validation", root=tmp_path)


# --- missing data, no network --------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_missing_data_without_download_names_files_and_folder(tmp_path, name):
    raw = _raw(tmp_path, name)

    with pytest.raises(DataMissingError, match=r"download=False") as error:
        load(name, "train", root=tmp_path, download=False)

    _assert_names_missing(error, raw, _archive_names(name))


@pytest.mark.parametrize("missing", ["all", "last"])
def test_failed_download_names_missing_files_and_leaves_nothing_half_written(
        tmp_path, write_dataset, missing):
    write_dataset(tmp_path, "mnist")
    raw = _raw(tmp_path, "mnist")
    archives = _archive_names("mnist")
    # "last": three good archives are extracted in staging before the fourth fails to download.
    absent = archives if missing == "all" else archives[-1:]
    for filename in absent:
        (raw / filename).unlink()

    with pytest.raises(DataMissingError, match=r"download failed") as error:
        load("mnist", "train", root=tmp_path, download=True)

    _assert_names_missing(error, raw, absent)
    assert not any(str(raw / filename) in str(error.value) for filename in set(archives) - set(absent))
    assert {path.name for path in raw.iterdir()} == set(archives) - set(absent)
    assert not list(tmp_path.glob(".staging-*"))


# --- corrupt archive -----------------------------------------------------------------------------


def _corrupt(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("extracted_before", [False, True], ids=["fresh", "already-extracted"])
def test_corrupt_archive_raises_checksum_error_on_every_load(tmp_path, write_dataset, extracted_before):
    write_dataset(tmp_path, "mnist")
    if extracted_before:
        load("mnist", "train", root=tmp_path)
    archive = _raw(tmp_path, "mnist") / "train-labels-idx1-ubyte.gz"
    expected_md5 = dict(torchvision.datasets.MNIST.resources)[archive.name]
    _corrupt(archive)
    actual_md5 = hashlib.md5(archive.read_bytes()).hexdigest()

    with pytest.raises(ChecksumError, match=re.escape(f"{archive} is corrupt")) as error:
        load("mnist", "train", root=tmp_path)

    assert actual_md5 in str(error.value) and expected_md5 in str(error.value)


# --- normalisation -------------------------------------------------------------------------------


def test_normalize_maps_known_pixels():
    mean, std = 0.25, 0.5
    out = normalize(np.array([[0, 255]], dtype=np.uint8), mean, std)

    assert out.dtype == np.float32 and out.shape == (1, 2)
    np.testing.assert_allclose(out, [[-mean / std, (1 - mean) / std]], rtol=1e-6)


def test_normalize_rejects_non_uint8_pixels():
    with pytest.raises(TypeError, match="uint8"):
        normalize(np.zeros((2, 2), dtype=np.float32))


@pytest.mark.parametrize("std", [0.0, -1.0])
def test_normalize_rejects_non_positive_std(std):
    with pytest.raises(ValueError, match="std"):
        normalize(np.zeros((2, 2), dtype=np.uint8), std=std)


def test_pixel_stats_of_known_array():
    mean, std = pixel_stats(np.array([0, 255], dtype=np.uint8))
    assert mean == pytest.approx(0.5) and std == pytest.approx(0.5)


# --- train / validation split --------------------------------------------------------------------


def test_train_val_split_partitions_range():
    train, val = train_val_split(100, 0.2, seed=0)

    assert len(train) == 80 and len(val) == 20
    assert not set(train) & set(val)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(100))


def test_train_val_split_is_determined_by_seed():
    same = train_val_split(100, 0.2, seed=0), train_val_split(100, 0.2, seed=0)
    other = train_val_split(100, 0.2, seed=1)

    np.testing.assert_array_equal(same[0][1], same[1][1])
    assert not np.array_equal(same[0][1], other[1])


@pytest.mark.parametrize(
    ("n", "val_fraction"),
    [(100, 0.0), (100, 1.0), (100, -0.1), (10, 0.01), (10, 0.99)],
    ids=["zero", "one", "negative", "empty-validation", "empty-train"],
)
def test_train_val_split_rejects_bad_fractions(n, val_fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(n, val_fraction, seed=0)


# --- batch order ---------------------------------------------------------------------------------


def test_batch_order_is_a_permutation_in_batches():
    batches = batch_order(10, 4, seed=0, epoch=0)

    assert [len(batch) for batch in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(10))


def test_batch_order_drop_last_drops_the_short_batch():
    full = batch_order(10, 4, seed=0, epoch=0)
    dropped = batch_order(10, 4, seed=0, epoch=0, drop_last=True)

    assert [len(batch) for batch in dropped] == [4, 4]
    np.testing.assert_array_equal(np.concatenate(dropped), np.concatenate(full)[:8])


def test_batch_order_is_determined_by_seed_and_epoch():
    def order(seed, epoch):
        return np.concatenate(batch_order(100, 8, seed=seed, epoch=epoch))

    np.testing.assert_array_equal(order(0, 3), order(0, 3))
    assert not np.array_equal(order(0, 3), order(0, 4))
    assert not np.array_equal(order(0, 3), order(1, 3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n=0"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"epoch": -1}, "epoch=-1"),
        ({"seed": -1}, "seed=-1"),
        ({"n": 3, "batch_size": 4, "drop_last": True}, "drop_last"),
    ],
    ids=["n", "batch_size", "epoch", "seed", "drop_last"],
)
def test_batch_order_rejects_bad_arguments(kwargs, message):
    arguments = {"n": 10, "batch_size": 4, "seed": 0, "epoch": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        batch_order(**arguments)


# --- class names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_class_names_has_ten_distinct_names(name):
    names = class_names(name)
    assert len(names) == 10 and len(set(names)) == 10
