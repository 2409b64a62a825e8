"""Datasets as PyTorch tensors kept on the device; batches sliced there by shared index order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from fwcompare import datasets

__all__ = ["default_device", "iterate_batches", "make_loader", "to_device"]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_device(images: np.ndarray, labels: np.ndarray, mean: float = 0.0, std: float = 1.0,
              device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised float32 images ``(N, 28, 28)`` and int64 labels ``(N,)`` on ``device``."""
    device = default_device() if device is None else torch.device(device)
    x = torch.from_numpy(datasets.normalize(images, mean, std)).to(device)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
    return x, y


def iterate_batches(x: torch.Tensor, y: torch.Tensor, order: Sequence[np.ndarray],
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x[idx], y[idx])`` for each index batch of ``order`` (from ``datasets.batch_order``)."""
    for idx in order:
        index = torch.from_numpy(idx).to(x.device)
        yield x[index], y[index]


def make_loader(images: np.ndarray, labels: np.ndarray, order: Sequence[np.ndarray],
                ) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` over host arrays that yields the index batches of ``order``, as tutorials feed
    a training loop: each example is fetched on its own and the batch collated on the host."""
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    return torch.utils.data.DataLoader(dataset, batch_sampler=[idx.tolist() for idx in order])
