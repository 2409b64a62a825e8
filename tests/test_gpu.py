"""Checks that need a GPU, marked ``gpu``: skipped with the reason where PyTorch or JAX sees none
(conftest.py), run by ``make gpu-check`` (``pytest -m gpu``).

On the device, the three backends give the same logits, loss and gradients for the same weights
in full float32; with TF32 the matrix products round their inputs to 10 bits of mantissa, so the
frameworks drift further apart, and each framework moves away from its own float32 result.
The data lives on the device, and the CUDA-graph routines train exactly as the eager loop does.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import numpy as np
import pytest
import torch

from fwcompare import benchsuite, datasets
from fwcompare.jax_common import data as jax_data
from fwcompare.torch_impl import data as torch_data
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import train as torch_train
from test_parity import NNX, Linen, batch, max_layer_diff, shared_layers

pytestmark = pytest.mark.gpu

MODELS = {"mlp-512-512": ("mlp", (512, 512)), "cnn": ("cnn", ())}
FLOAT32_TOLERANCE = 1e-4  # different kernels, different summation orders: float32 rounding
TF32_TOLERANCE = 5e-2  # inputs rounded to 10 mantissa bits in every product


class TorchCuda:
    """PyTorch with the model and the batch on the GPU; results copied back for comparison."""

    name = "torch_impl"

    @staticmethod
    def with_layers(architecture, hidden, layers):
        return torch_models.import_layers(torch_models.create_model(architecture, 0, hidden),
                                          layers).cuda()

    @staticmethod
    def logits(model, x):
        with torch.no_grad():
            return model(torch.from_numpy(x).cuda()).cpu().numpy()

    @staticmethod
    def loss_and_grads(model, x, y):
        model.zero_grad()
        loss = torch_train.cross_entropy(model(torch.from_numpy(x).cuda()), torch.from_numpy(y).cuda())
        loss.backward()
        grads = [parameter.grad.cpu().numpy() for parameter in model.parameters()]
        return loss.item(), list(zip(grads[::2], grads[1::2], strict=True))


BACKENDS = (TorchCuda, NNX, Linen)


@pytest.fixture(autouse=True)
def full_float32_after():
    yield
    benchsuite.set_precision("float32")


def outputs(architecture, hidden, x, y) -> dict[str, dict[str, object]]:
    layers = shared_layers(architecture, hidden)
    found = {}
    for backend in BACKENDS:
        logits = backend.logits(backend.with_layers(architecture, hidden, layers), x)
        loss, grads = backend.loss_and_grads(backend.with_layers(architecture, hidden, layers), x, y)
        found[backend.name] = {"logits": logits, "loss": loss, "grads": grads}
    return found


def largest_differences(found) -> dict[str, float]:
    """The largest difference between any two backends, for logits, loss and gradients."""
    pairs = list(itertools.combinations(found.values(), 2))
    return {"logits": max(float(np.abs(a["logits"] - b["logits"]).max()) for a, b in pairs),
            "loss": max(abs(a["loss"] - b["loss"]) for a, b in pairs),
            "grads": max(max_layer_diff(a["grads"], b["grads"]) for a, b in pairs)}


@pytest.mark.parametrize("model_id", MODELS)
def test_backends_agree_on_the_gpu_in_float32_less_in_tf32(model_id, tiny_images):
    architecture, hidden = MODELS[model_id]
    x, y = batch(tiny_images)
    benchsuite.set_precision("float32")
    float32 = outputs(architecture, hidden, x, y)
    benchsuite.set_precision("tf32")
    tf32 = outputs(architecture, hidden, x, y)
    apart32, apart_tf32 = largest_differences(float32), largest_differences(tf32)
    print(f"{model_id}: float32 {apart32}, tf32 {apart_tf32}")
    for what in ("logits", "loss", "grads"):
        assert apart32[what] <= FLOAT32_TOLERANCE, (what, apart32)
        assert apart_tf32[what] <= TF32_TOLERANCE, (what, apart_tf32)
    # TF32 really is on, in both frameworks: the backends drift further apart than in float32,
    # and each backend's TF32 logits move away from its own float32 ones.
    assert apart_tf32["logits"] > apart32["logits"], (apart_tf32, apart32)
    for name in float32:
        moved = float(np.abs(tf32[name]["logits"] - float32[name]["logits"]).max())
        assert moved > apart32["logits"], (name, moved, apart32)


def test_data_lives_on_the_device(tiny_images):
    images, labels = tiny_images
    order = datasets.batch_order(len(images), 64, seed=0, epoch=0)
    x, y = torch_data.to_device(images, labels)
    xb, yb = next(torch_data.iterate_batches(x, y, order))
    assert x.is_cuda and y.is_cuda and xb.is_cuda and yb.is_cuda
    jx, jy = jax_data.to_device(images, labels)
    jxb, jyb = next(jax_data.iterate_batches(jx, jy, order))
    for array in (jx, jy, jxb, jyb):
        assert {device.platform for device in array.devices()} == {"gpu"}
    # the same bytes, in the same order
    np.testing.assert_array_equal(np.asarray(jxb), xb.cpu().numpy())
    np.testing.assert_array_equal(np.asarray(jyb), yb.cpu().numpy())
    assert jax.default_backend() == "gpu"


@pytest.fixture
def mlp_workload(tiny_images) -> benchsuite.Workload:
    images, labels = tiny_images
    cfg = dataclasses.replace(benchsuite.MLP_WORKLOAD, hidden=(32,), batch_size=64)
    return benchsuite.Workload("tiny MLP", cfg, datasets.normalize(images), labels)


@pytest.fixture
def cnn_workload(tiny_images) -> benchsuite.Workload:
    images, labels = tiny_images
    cfg = dataclasses.replace(benchsuite.CNN_WORKLOAD, batch_size=64)  # Adam: capturable state
    return benchsuite.Workload("tiny CNN", cfg, datasets.normalize(images), labels)


@pytest.mark.parametrize("workload", ["mlp_workload", "cnn_workload"])
def test_the_epoch_graph_replays_the_eager_epochs(workload, request):
    """Recorded once, replayed three times: the same per-step losses as the eager loop."""
    workload = request.getfixturevalue(workload)
    graph, eager = (benchsuite.PREPARE[name](workload) for name in ("torch-graph-epoch", "torch-device"))
    for epoch in range(3):
        np.testing.assert_allclose(graph(epoch).cpu().numpy(), eager(epoch).cpu().numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_the_gpu_routines_do_the_same_work(mlp_workload):
    routines = ("torch-device", "torch-cudagraphs", "torch-graph-epoch", "jax-scan", "grain-jax")
    first = {routine: benchsuite.time_routine(routine, mlp_workload, repeats=5).first_loss
             for routine in routines}
    losses = np.array(list(first.values()))
    np.testing.assert_allclose(losses, losses[0], rtol=1e-4, err_msg=str(first))
