"""Data-parallel training in Flax NNX: ``jit`` with ``NamedSharding``, equal to the single-device step.

Each device computes gradients on its slice of the global batch; averaging them over devices
gives exactly the gradient of the mean loss over the whole batch (slices of equal size). In
JAX's current style no step is written for it: the model's and the optimiser's arrays are
placed replicated on every device of a mesh and each batch is split along the mesh's ``data``
axis, and the unchanged single-device ``train_step`` then runs data-parallel, XLA inserting
the all-reduce of the gradients itself. The mesh and the placement are shared with
``linen_impl`` (``fwcompare.jax_common.sharding``), which also shows ``pmap`` and ``shard_map``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flax import nnx

from fwcompare.config import Config
from fwcompare.jax_common.sharding import AXIS, check_order, data_mesh, place_for_data_parallel, shard_batch
from fwcompare.nnx_impl.models import model_for
from fwcompare.nnx_impl.train import make_optimizer, train_step

__all__ = ["AXIS", "data_mesh", "place_for_data_parallel", "shard_batch", "train_data_parallel"]


def train_data_parallel(config: Config, x: np.ndarray, y: np.ndarray, order: Sequence[np.ndarray],
                        devices: int) -> nnx.Module:
    """Train ``model_for(config)`` on the global batches ``order`` over ``devices`` devices: its
    arrays replicated, each batch split along the mesh, the ordinary ``train_step``.

    ``place_for_data_parallel`` takes any pytree, so the modules' arrays go there as the
    ``nnx.state`` of ``(model, optimizer)`` and come back with ``nnx.update``, in place. Placing
    arrays that are already replicated costs nothing, so every step can place all of them.
    """
    check_order(order, devices)
    mesh = data_mesh(devices)
    model = model_for(config)
    optimizer = make_optimizer(config, model)
    for index in order:
        state, xb, yb = place_for_data_parallel(mesh, nnx.state((model, optimizer)), x[index], y[index])
        nnx.update((model, optimizer), state)
        train_step(model, optimizer, xb, yb)
    return model
