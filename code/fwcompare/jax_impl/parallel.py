"""Data-parallel training in JAX, three ways, all equal to the single-device step.

Each device computes gradients on its slice of the global batch; averaging them over devices
gives exactly the gradient of the mean loss over the whole batch (slices of equal size).

* ``pmap``: the older, explicit style of the slides: replicate the state onto every device
  (a leading device axis), split the batch, ``lax.pmean`` the gradients and the loss.
* ``jit`` + ``NamedSharding``: today's style. Put the state replicated and the batch sharded
  along a mesh axis; the unchanged single-device ``train_step`` then runs data-parallel, XLA
  inserting the gradient all-reduce itself.
* ``shard_map``: per-device code like ``pmap`` (explicit ``pmean``), on the same mesh as ``jit``.

On a CPU, several devices are simulated with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``,
which must be set before JAX is first imported.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import jax_utils
from flax.training.train_state import TrainState
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from fwcompare.jax_impl.train import cross_entropy

AXIS = "data"


def _check_divisible(batch: int, devices: int) -> None:
    if batch % devices:
        raise ValueError(f"global batch of {batch} does not split evenly over {devices} devices")


def _local_step(state: TrainState, x: jax.Array, y: jax.Array) -> tuple[TrainState, jax.Array]:
    """One step on this device's slice, with gradients and loss averaged over the ``data`` axis."""

    def loss_fn(params):
        return cross_entropy(state.apply_fn({"params": params}, x), y)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    grads = jax.lax.pmean(grads, axis_name=AXIS)  # the all-reduce PyTorch's DDP does implicitly
    return state.apply_gradients(grads=grads), jax.lax.pmean(loss, axis_name=AXIS)


pmap_train_step = jax.pmap(_local_step, axis_name=AXIS)


def replicate(state: TrainState) -> TrainState:
    """A copy of ``state`` on every local device, stacked along a new leading device axis."""
    return jax_utils.replicate(state)


def unreplicate(state: TrainState) -> TrainState:
    """The copy on the first device (all copies are identical after synchronised steps)."""
    return jax_utils.unreplicate(state)


def shard_batch(x: np.ndarray | jax.Array, devices: int | None = None) -> jax.Array:
    """``(batch, ...)`` -> ``(devices, batch // devices, ...)``, the layout ``pmap`` expects."""
    devices = jax.local_device_count() if devices is None else devices
    _check_divisible(x.shape[0], devices)
    return jnp.reshape(x, (devices, x.shape[0] // devices, *x.shape[1:]))


def data_mesh(devices: int | None = None) -> Mesh:
    """A one-axis mesh named ``data`` over the first ``devices`` devices (default: all)."""
    available = jax.devices()
    devices = len(available) if devices is None else devices
    if not 1 <= devices <= len(available):
        raise ValueError(f"devices={devices!r} must be between 1 and the {len(available)} available")
    return Mesh(np.array(available[:devices]), (AXIS,))


def place_for_data_parallel(mesh: Mesh, state: TrainState, x: jax.Array, y: jax.Array,
                            ) -> tuple[TrainState, jax.Array, jax.Array]:
    """State replicated on every device of ``mesh``, the batch split along its ``data`` axis."""
    _check_divisible(x.shape[0], mesh.size)
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P(AXIS))
    return jax.device_put(state, replicated), jax.device_put(x, split), jax.device_put(y, split)


def shard_map_train_step(mesh: Mesh):
    """``_local_step`` run per device by ``shard_map`` on ``mesh``: explicit collectives, global arrays.

    ``check_vma=False``: with the default, JAX knows the replicated state is the same on every
    device and already SUMS its gradients over devices when differentiating, so the explicit
    ``pmean`` of ``_local_step`` would leave them N times too large. Turning the check off gives
    ``pmap``'s semantics, where ``_local_step``'s own ``pmean`` does the averaging.
    """
    return jax.jit(jax.shard_map(_local_step, mesh=mesh, in_specs=(P(), P(AXIS), P(AXIS)),
                                 out_specs=(P(), P()), check_vma=False))
