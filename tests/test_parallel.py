"""Data-parallel training equals single-device training on the same global batches.

JAX: ``pmap``, ``jit`` with ``NamedSharding`` and ``shard_map`` on four simulated CPU devices,
checked in a subprocess (tests/parallel_check.py) because JAX fixes its device count when it
starts, and this process has started it already. PyTorch: ``DistributedDataParallel`` over two
``gloo`` processes. Plain SGD keeps the comparison tight: equal gradients, equal parameters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fwcompare import config, datasets
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import parallel as torch_parallel
from fwcompare.torch_impl import train as torch_train

DEVICES = 4
TOLERANCE = 1e-6
CHECK = Path(__file__).with_name("parallel_check.py")


@pytest.fixture(scope="module")
def jax_result() -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}",
           "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, str(CHECK)], env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, f"{CHECK.name} failed:\n{run.stderr[-4000:]}"
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_check_ran_on_several_devices(jax_result):
    assert jax_result["devices"] == DEVICES
    assert jax_result["moved"] > 1e-4, "the steps must change the parameters"


@pytest.mark.parametrize("method", ["pmap", "jit", "shard_map", "nnx_jit"])
def test_jax_data_parallel_step_equals_single_device_step(jax_result, method):
    assert jax_result[method] < TOLERANCE, f"{method}: max |dparam| = {jax_result[method]:.2e}"


def test_jax_rejects_a_batch_that_does_not_split_evenly(jax_result):
    assert jax_result["uneven_rejected"] == {"shard_batch": True, "place_for_data_parallel": True}
    assert jax_result["nnx_uneven_rejected"]


def test_nnx_data_parallel_training_trains_a_model_replicated_on_every_device(jax_result):
    assert jax_result["nnx_moved"] > 1e-4, "the steps must change the parameters"
    assert jax_result["nnx_replicated_on"] == DEVICES


TINY = config.MLPConfig(hidden=(16,), optimizer="sgd", momentum=0.0, learning_rate=0.1, batch_size=8)


@pytest.fixture
def tiny_data(tiny_images):
    images, labels = tiny_images
    x = datasets.normalize(images[:24])
    y = labels[:24]
    order = np.split(np.arange(24), 3)  # three global batches of 8
    return x, y, order


def single_process(config, x, y, order):
    model = torch_models.model_for(config)
    optimizer = torch_train.make_optimizer(config, model)
    for index in order:
        torch_train.train_step(model, optimizer, torch.from_numpy(x[index]), torch.from_numpy(y[index]))
    return model


@pytest.mark.timeout(120)
def test_ddp_equals_single_process_training(tiny_data):
    x, y, order = tiny_data
    ddp = torch_parallel.train_data_parallel(TINY, x, y, order, devices=2)
    reference = single_process(TINY, x, y, order)
    initial = torch_models.model_for(TINY).state_dict()
    for name, value in reference.state_dict().items():
        assert (value - initial[name]).abs().max() > 1e-4, f"{name} did not train"
        difference = (ddp.state_dict()[name] - value).abs().max().item()
        assert difference < TOLERANCE, f"{name}: max |dparam| = {difference:.2e}"


def test_ddp_rejects_a_batch_that_does_not_split_evenly(tiny_data):
    x, y, _ = tiny_data
    with pytest.raises(ValueError, match="does not split evenly"):
        torch_parallel.train_data_parallel(TINY, x, y, [np.arange(5)], devices=2)


def test_ddp_rejects_global_batches_of_different_sizes(tiny_data):
    x, y, _ = tiny_data
    with pytest.raises(ValueError, match="all must have one size"):
        torch_parallel.train_data_parallel(TINY, x, y, [np.arange(8), np.arange(8, 12)], devices=2)


def test_ddp_rejects_zero_devices(tiny_data):
    x, y, order = tiny_data
    with pytest.raises(ValueError, match="devices=0 must be >= 1"):
        torch_parallel.train_data_parallel(TINY, x, y, order, devices=0)


def test_the_1024_512_mlp_is_the_same_function_in_both_frameworks(tiny_images):
    from fwcompare.linen_impl import models as jax_models

    torch_model = torch_models.create_mlp((1024, 512), seed=0)
    flax_model, params = jax_models.create_mlp((1024, 512), seed=0)
    params = jax_models.import_layers(params, torch_models.export_layers(torch_model))
    x = datasets.normalize(tiny_images[0][:64])
    with torch.no_grad():
        torch_logits = torch_model(torch.from_numpy(x)).numpy()
    flax_logits = np.asarray(flax_model.apply({"params": params}, x))
    assert flax_logits.shape == (64, 10)
    np.testing.assert_allclose(flax_logits, torch_logits, rtol=0, atol=1e-5)
