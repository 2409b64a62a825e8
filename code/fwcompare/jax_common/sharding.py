"""Data parallelism in JAX, the same for both Flax APIs: a mesh of devices, batches split over it.

On a CPU, several devices are simulated with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``,
which must be set before JAX is first imported.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "data"


def check_divisible(batch: int, devices: int) -> None:
    if batch % devices:
        raise ValueError(f"global batch of {batch} does not split evenly over {devices} devices")


def check_order(order: Sequence[np.ndarray], devices: int) -> None:
    """Every global batch of ``order`` must split evenly over ``devices``."""
    if devices < 1:
        raise ValueError(f"devices={devices!r} must be >= 1")
    for index in order:
        check_divisible(len(index), devices)


def shard_batch(x: np.ndarray | jax.Array, devices: int | None = None) -> jax.Array:
    """``(batch, ...)`` -> ``(devices, batch // devices, ...)``, the layout ``pmap`` expects."""
    devices = jax.local_device_count() if devices is None else devices
    check_divisible(x.shape[0], devices)
    return jnp.reshape(x, (devices, x.shape[0] // devices, *x.shape[1:]))


def data_mesh(devices: int | None = None) -> Mesh:
    """A one-axis mesh named ``data`` over the first ``devices`` devices (default: all)."""
    available = jax.devices()
    devices = len(available) if devices is None else devices
    if not 1 <= devices <= len(available):
        raise ValueError(f"devices={devices!r} must be between 1 and the {len(available)} available")
    return Mesh(np.array(available[:devices]), (AXIS,))


def place_for_data_parallel(mesh: Mesh, state, x: jax.Array, y: jax.Array):
    """``state`` (any pytree) replicated on every device of ``mesh``, the batch split along ``data``."""
    check_divisible(x.shape[0], mesh.size)
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P(AXIS))
    return jax.device_put(state, replicated), jax.device_put(x, split), jax.device_put(y, split)
