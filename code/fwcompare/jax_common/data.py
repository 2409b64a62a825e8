"""Datasets as JAX arrays kept on the device; batches sliced there by shared index order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fwcompare import datasets


def default_device() -> jax.Device:
    return jax.devices()[0]


def to_device(images: np.ndarray, labels: np.ndarray, mean: float = 0.0, std: float = 1.0,
              device: jax.Device | None = None) -> tuple[jax.Array, jax.Array]:
    """Normalised float32 images ``(N, 28, 28)`` and int32 labels ``(N,)`` on ``device``.

    Labels are int32 because JAX uses 32-bit integers unless x64 mode is switched on.
    """
    device = default_device() if device is None else device
    x = jax.device_put(datasets.normalize(images, mean, std), device)
    y = jax.device_put(np.asarray(labels, dtype=np.int32), device)
    return x, y


@jax.jit
def take(x: jax.Array, y: jax.Array, index: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(x[index], y[index])`` as one compiled gather: un-jitted, each indexing is its own dispatch."""
    return x[index], y[index]


def iterate_batches(x: jax.Array, y: jax.Array, order: Sequence[np.ndarray],
                    ) -> Iterator[tuple[jax.Array, jax.Array]]:
    """``(x[idx], y[idx])`` for each index batch of ``order`` (from ``datasets.batch_order``)."""
    for idx in order:
        yield take(x, y, jnp.asarray(idx))


def grain_loader(images: np.ndarray, labels: np.ndarray, order: Sequence[np.ndarray],
                 threads: int = 4) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Host batches ``(images[idx], labels[idx])`` for each index batch of ``order``, read by Grain.

    A Grain ``MapDataset`` over the epoch's indices in the shared order fetches each example
    on its own and stacks full batches on the host, as a PyTorch ``DataLoader`` does; its
    ``IterDataset`` reads ahead with ``threads`` threads. Batch sizes must all be equal
    (``datasets.batch_order(..., drop_last=True)``).
    """
    import grain  # only this loader needs it

    sizes = {len(idx) for idx in order}
    if len(sizes) != 1:
        raise ValueError(f"order holds batches of sizes {sorted(sizes)}; Grain batches one size")
    dataset = (grain.MapDataset.source(np.concatenate(order))
               .map(lambda i: (images[i], labels[i]))
               .batch(sizes.pop(), drop_remainder=True))
    return iter(dataset.to_iter_dataset(grain.ReadOptions(num_threads=threads,
                                                          prefetch_buffer_size=2 * threads)))
