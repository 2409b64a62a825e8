"""MNIST and Fashion-MNIST as NumPy arrays, identical for PyTorch and JAX.

Downloading, mirrors and MD5 checks are torchvision's; this module adds what a book
built offline and by two frameworks needs:

* one data root (argument, else ``FWCOMPARE_DATA``, else ``data/`` at the repository root)
  in torchvision's layout, ``<root>/MNIST/raw/*.gz`` and ``<root>/FashionMNIST/raw/*.gz``;
* clear errors: an unknown name or split, missing files (which ones, and where to put them),
  an archive whose MD5 is wrong (never used);
* no half-written files: torchvision downloads and extracts in a staging folder, and only
  complete files are moved into the data root;
* normalisation, a seeded train/validation split and a seeded batch order, so both
  frameworks see the same bytes in the same order.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_VARIABLE = "FWCOMPARE_DATA"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class _Dataset:
    folder: str  # torchvision's class name, which is also its folder under the root
    classes: tuple[str, ...]


DATASETS = {
    "mnist": _Dataset("MNIST", tuple(str(d) for d in range(10))),
    "fashion_mnist": _Dataset(
        "FashionMNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
}


class DataMissingError(FileNotFoundError):
    """The dataset is not in the data root and could not be downloaded."""


class ChecksumError(ValueError):
    """An archive in the data root does not have the MD5 torchvision expects."""


def _dataset(name: str) -> _Dataset:
    if name not in DATASETS:
        raise ValueError(f"dataset name {name!r} is unknown; allowed: {', '.join(map(repr, DATASETS))}")
    return DATASETS[name]


def class_names(name: str) -> tuple[str, ...]:
    """The ten class names of dataset ``name``, in label order."""
    return _dataset(name).classes


def _repository_root() -> Path | None:
    # code/fwcompare/datasets.py -> the repository root, when installed editable from a checkout.
    candidate = Path(__file__).resolve().parents[2]
    return candidate if (candidate / "pyproject.toml").is_file() else None


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where datasets live: ``root``, else ``$FWCOMPARE_DATA``, else ``data/`` in the repository."""
    if root is not None:
        return Path(root)
    if os.environ.get(DATA_VARIABLE):
        return Path(os.environ[DATA_VARIABLE])
    return (_repository_root() or Path.cwd()) / "data"


def _torchvision_class(name: str):
    import torchvision.datasets  # deferred: importing torchvision costs about a second

    return getattr(torchvision.datasets, _dataset(name).folder)


def archives(name: str) -> list[tuple[str, str]]:
    """``(file name, MD5)`` of the four archives torchvision expects for dataset ``name``."""
    return [(filename, md5) for filename, md5 in _torchvision_class(name).resources]


def _md5(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def _check_archives(name: str, raw: Path) -> list[str]:
    """Verify every archive present in ``raw``; return the names of the missing ones."""
    missing = []
    for filename, md5 in archives(name):
        path = raw / filename
        if not path.exists():
            missing.append(filename)
        elif (actual := _md5(path)) != md5:
            raise ChecksumError(
                f"{path} is corrupt: its MD5 is {actual}, torchvision expects {md5}. "
                f"Delete it to download it again, or replace it with the original file."
            )
    return missing


def _extracted_name(archive: str) -> str:
    return archive.removesuffix(".gz")


def _fetch(name: str, root: Path, raw: Path, download: bool) -> None:
    """Download (if allowed) and extract through torchvision, publishing only complete files.

    torchvision writes into a staging copy of the raw folder; each finished file is then
    moved into ``raw`` with an atomic rename, so an interrupted run leaves nothing half-written.
    """
    missing = _check_archives(name, raw)
    if missing and not download:
        raise _missing_error(name, raw, missing, reason="download=False")
    raw.mkdir(parents=True, exist_ok=True)  # also creates the root
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=root) as staging:
        staged_raw = Path(staging) / _dataset(name).folder / "raw"
        staged_raw.mkdir(parents=True)
        for filename, _ in archives(name):
            if (raw / filename).exists():
                _link_or_copy(raw / filename, staged_raw / filename)
        try:
            _torchvision_class(name)(root=staging, train=True, download=True)
        except Exception as error:  # torchvision raises RuntimeError/URLError/OSError when offline
            raise _missing_error(name, raw, missing, reason=f"download failed: {error}") from error
        for staged in sorted(staged_raw.iterdir()):
            os.replace(staged, raw / staged.name)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _missing_error(name: str, raw: Path, missing: list[str], reason: str) -> DataMissingError:
    files = "\n".join(f"  {raw / filename}" for filename in missing)
    return DataMissingError(
        f"The {name!r} dataset is not available ({reason}). Put these torchvision archives in "
        f"{raw}:\n{files}\n(or set {DATA_VARIABLE} to a folder that holds {_dataset(name).folder}/raw/)."
    )


def _extracted_files_present(name: str, raw: Path) -> bool:
    return all((raw / _extracted_name(filename)).is_file() for filename, _ in archives(name))


def load(name: str, split: str, root: str | os.PathLike | None = None, *, download: bool = True,
         ) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of ``split`` ("train" or "test").

    Archives already in the data root are MD5-checked on every call; missing ones are
    downloaded by torchvision when ``download`` is true and the network allows it.
    """
    spec = _dataset(name)
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is unknown; allowed: {', '.join(map(repr, SPLITS))}")
    root = data_root(root)
    raw = root / spec.folder / "raw"
    if _check_archives(name, raw) or not _extracted_files_present(name, raw):
        _fetch(name, root, raw, download)
    dataset = _torchvision_class(name)(root=root, train=split == "train", download=False)
    return dataset.data.numpy(), dataset.targets.numpy().astype(np.int64)


def normalize(images: np.ndarray, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """uint8 pixels -> float32 ``(pixels / 255 - mean) / std``; the shape is kept."""
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 pixels (0..255), got dtype {images.dtype}")
    if not std > 0:
        raise ValueError(f"std={std!r} must be > 0")
    return ((images.astype(np.float32) / 255.0 - np.float32(mean)) / np.float32(std)).astype(np.float32)


def pixel_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of ``images / 255``, e.g. to standardise with the training set's."""
    scaled = images.astype(np.float64) / 255.0
    return float(scaled.mean()), float(scaled.std())


def _rng(seed: int, *stream: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative int")
    return np.random.default_rng([int(seed), *stream])


def train_val_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, validation)`` of a seeded random split of ``n`` examples."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n={n!r} must be an int >= 2")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r} must be strictly between 0 and 1")
    n_val = round(n * val_fraction)
    if n_val == 0 or n_val == n:
        raise ValueError(f"val_fraction={val_fraction!r} of n={n} leaves one side of the split empty")
    order = _rng(seed, 1).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def batch_order(n: int, batch_size: int, seed: int, epoch: int, *,
                drop_last: bool = False) -> list[np.ndarray]:
    """The index batches of one epoch: a permutation of ``range(n)`` seeded by ``(seed, epoch)``.

    Both frameworks take their batches from here, so for a given seed they see the same
    examples in the same order. ``drop_last`` drops a final batch smaller than ``batch_size``
    (a compiled step then sees one shape only).
    """
    if n < 1:
        raise ValueError(f"n={n!r} must be >= 1")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be >= 1")
    if epoch < 0:
        raise ValueError(f"epoch={epoch!r} must be >= 0")
    order = _rng(seed, 2, epoch).permutation(n)
    stop = n - n % batch_size if drop_last else n
    if stop == 0:
        raise ValueError(f"drop_last with batch_size={batch_size} > n={n} leaves no batch")
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]
