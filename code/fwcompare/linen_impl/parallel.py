"""Data-parallel training in Flax Linen, three ways, all equal to the single-device step.

Each device computes gradients on its slice of the global batch; averaging them over devices
gives exactly the gradient of the mean loss over the whole batch (slices of equal size).

* ``pmap``: the older, explicit style of the slides: replicate the state onto every device
  (a leading device axis), split the batch, ``lax.pmean`` the gradients and the loss.
* ``jit`` + ``NamedSharding``: today's style. Put the state replicated and the batch sharded
  along a mesh axis; the unchanged single-device ``train_step`` then runs data-parallel, XLA
  inserting the gradient all-reduce itself (``train_data_parallel``).
* ``shard_map``: per-device code like ``pmap`` (explicit ``pmean``), on the same mesh as ``jit``.

The mesh and the placement are shared with ``nnx_impl`` (``fwcompare.jax_common.sharding``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
from flax import jax_utils
from flax.training.train_state import TrainState
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from fwcompare.config import Config
from fwcompare.jax_common.losses import cross_entropy
from fwcompare.jax_common.sharding import AXIS, check_order, data_mesh, place_for_data_parallel, shard_batch
from fwcompare.linen_impl.train import create_train_state, train_step

__all__ = ["AXIS", "data_mesh", "local_step", "place_for_data_parallel", "pmap_train_step", "replicate",
           "shard_batch", "shard_map_train_step", "train_data_parallel", "unreplicate"]


def local_step(state: TrainState, x: jax.Array, y: jax.Array) -> tuple[TrainState, jax.Array]:
    """One step on this device's slice, with gradients and loss averaged over the ``data`` axis."""

    def loss_fn(params):
        return cross_entropy(state.apply_fn({"params": params}, x), y)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    grads = jax.lax.pmean(grads, axis_name=AXIS)  # the all-reduce PyTorch's DDP does implicitly
    return state.apply_gradients(grads=grads), jax.lax.pmean(loss, axis_name=AXIS)


pmap_train_step = jax.pmap(local_step, axis_name=AXIS)


def replicate(state: TrainState) -> TrainState:
    """A copy of ``state`` on every local device, stacked along a new leading device axis."""
    return jax_utils.replicate(state)


def unreplicate(state: TrainState) -> TrainState:
    """The copy on the first device (all copies are identical after synchronised steps)."""
    return jax_utils.unreplicate(state)


def shard_map_train_step(mesh: Mesh):
    """``local_step`` run per device by ``shard_map`` on ``mesh``: explicit collectives, global arrays.

    ``check_vma=False``: with the default, JAX knows the replicated state is the same on every
    device and already SUMS its gradients over devices when differentiating, so the explicit
    ``pmean`` of ``local_step`` would leave them N times too large. Turning the check off gives
    ``pmap``'s semantics, where ``local_step``'s own ``pmean`` does the averaging.
    """
    return jax.jit(jax.shard_map(local_step, mesh=mesh, in_specs=(P(), P(AXIS), P(AXIS)),
                                 out_specs=(P(), P()), check_vma=False))


def train_data_parallel(config: Config, x: np.ndarray, y: np.ndarray, order: Sequence[np.ndarray],
                        devices: int) -> TrainState:
    """Train ``create_train_state(config)`` on the global batches ``order`` over ``devices``
    devices: the state replicated, each batch split along the mesh, the ordinary ``train_step``."""
    check_order(order, devices)
    mesh = data_mesh(devices)
    state = create_train_state(config)
    for index in order:
        state, xb, yb = place_for_data_parallel(mesh, state, x[index], y[index])
        state, _ = train_step(state, xb, yb)
    return state
