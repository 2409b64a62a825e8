"""Data-parallel JAX steps against the single-device step, on simulated CPU devices.

Run by tests/test_parallel.py in a fresh interpreter: JAX reads
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` once, when it starts its CPU backend,
and the test process has imported JAX long before. Prints one JSON object on its last line:

    {"devices": 4, "pmap": max |dparam|, "jit": ..., "shard_map": ..., "nnx_jit": ..., ...}

``pmap``, ``jit`` and ``shard_map`` are Linen's three styles; ``nnx_jit`` is NNX's
``train_data_parallel`` against NNX's own single-device ``train_step``.
"""

from __future__ import annotations

import json

import jax
import numpy as np

from fwcompare import config, datasets
from fwcompare.linen_impl import parallel
from fwcompare.linen_impl import train as jax_train
from fwcompare.nnx_impl import models as nnx_models
from fwcompare.nnx_impl import parallel as nnx_parallel
from fwcompare.nnx_impl import train as nnx_train

# Plain SGD: the update is linear in the gradient, so equal gradients give equal parameters.
SGD = config.MLPConfig(dataset="mnist", hidden=(1024, 512), optimizer="sgd", momentum=0.0,
                       learning_rate=0.1, batch_size=32)
STEPS = 2


def batches(devices: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``STEPS`` global batches of random images, 8 examples per device."""
    rng = np.random.default_rng(0)
    size = 8 * devices
    images = rng.integers(0, 256, size=(STEPS * size, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=STEPS * size).astype(np.int32)
    x = datasets.normalize(images)
    return [(x[i:i + size], labels[i:i + size]) for i in range(0, STEPS * size, size)]


def max_abs_diff(a, b) -> float:
    leaves = zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    return max(float(np.abs(np.asarray(p) - np.asarray(q)).max()) for p, q in leaves)


def single_device(state, data):
    for x, y in data:
        state, _ = jax_train.train_step(state, x, y)
    return state


def with_pmap(state, data):
    replicated = parallel.replicate(state)
    for x, y in data:
        replicated, _ = parallel.pmap_train_step(replicated, parallel.shard_batch(x),
                                                 parallel.shard_batch(y))
    return parallel.unreplicate(replicated)


def with_jit(state, data):
    mesh = parallel.data_mesh()
    for x, y in data:
        state, x, y = parallel.place_for_data_parallel(mesh, state, x, y)
        state, _ = jax_train.train_step(state, x, y)
    return state


def with_shard_map(state, data):
    mesh = parallel.data_mesh()
    step = parallel.shard_map_train_step(mesh)
    for x, y in data:
        state, x, y = parallel.place_for_data_parallel(mesh, state, x, y)
        state, _ = step(state, x, y)
    return state


def nnx_results(data, devices: int) -> dict:
    """NNX: ``train_data_parallel`` on the global batches against the single-device ``train_step``."""
    model = nnx_models.model_for(SGD)
    initial = nnx_models.export_layers(model)
    optimizer = nnx_train.make_optimizer(SGD, model)
    for x, y in data:
        nnx_train.train_step(model, optimizer, x, y)
    reference = nnx_models.export_layers(model)
    x = np.concatenate([x for x, _ in data])
    y = np.concatenate([y for _, y in data])
    order = np.split(np.arange(len(x)), len(data))  # the same global batches, as indices
    parallel_model = nnx_parallel.train_data_parallel(SGD, x, y, order, devices)
    kernel = parallel_model.layers[0].kernel[...]
    return {"nnx_jit": max_abs_diff(nnx_models.export_layers(parallel_model), reference),
            "nnx_moved": max_abs_diff(reference, initial),
            "nnx_replicated_on": len(kernel.sharding.device_set),
            "nnx_uneven_rejected": rejects(lambda: nnx_parallel.train_data_parallel(
                SGD, x, y, [np.arange(devices + 1)], devices))}


def rejects(fn) -> bool:
    try:
        fn()
    except ValueError:
        return True
    return False


def main() -> dict:
    devices = jax.device_count()
    data = batches(devices)
    state = jax_train.create_train_state(SGD)
    reference = single_device(state, data).params
    result = {"devices": devices}
    for name, run in (("pmap", with_pmap), ("jit", with_jit), ("shard_map", with_shard_map)):
        result[name] = max_abs_diff(run(state, data).params, reference)
    # A step must actually have happened, or equal parameters would prove nothing.
    result["moved"] = max_abs_diff(reference, state.params)
    result.update(nnx_results(data, devices))
    x, y = data[0]
    uneven_x, uneven_y = x[:devices + 1], y[:devices + 1]
    result["uneven_rejected"] = {
        "shard_batch": rejects(lambda: parallel.shard_batch(uneven_x)),
        "place_for_data_parallel": rejects(lambda: parallel.place_for_data_parallel(
            parallel.data_mesh(), state, uneven_x, uneven_y)),
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main()))
