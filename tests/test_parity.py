"""The PyTorch, the Flax NNX and the Flax Linen models are the same function: given the same
weights, every pair of backends gives the same logits, loss and gradients, and the same
optimiser settings make the same updates. Each backend is driven through its public API only
(``import_layers``/``export_layers``, ``make_optimizer``, ``train_step``)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from flax.training.train_state import TrainState

from fwcompare import config, datasets
from fwcompare.linen_impl import models as linen_models
from fwcompare.linen_impl import train as linen_train
from fwcompare.nnx_impl import models as nnx_models
from fwcompare.nnx_impl import train as nnx_train
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import train as torch_train

TOLERANCE = 1e-5
Layers = list[tuple[np.ndarray, np.ndarray]]  # (weight, bias) per layer, PyTorch's layout


class Torch:
    """PyTorch: the model holds its weights; gradients land in each parameter's ``.grad``."""

    name = "torch_impl"

    @staticmethod
    def with_layers(architecture, hidden, layers):
        return torch_models.import_layers(torch_models.create_model(architecture, 0, hidden), layers)

    @staticmethod
    def logits(model, x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    @staticmethod
    def loss_and_grads(model, x, y) -> tuple[float, Layers]:
        model.zero_grad()
        loss = torch_train.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        grads = [parameter.grad.numpy() for parameter in model.parameters()]  # weight, bias, weight, ...
        return loss.item(), list(zip(grads[::2], grads[1::2], strict=True))

    @staticmethod
    def trainer(cfg, model) -> tuple[Callable, Callable[[], Layers]]:
        optimizer = torch_train.make_optimizer(cfg, model)

        def step(x, y):
            torch_train.train_step(model, optimizer, torch.from_numpy(x), torch.from_numpy(y))

        return step, lambda: torch_models.export_layers(model)


class NNX:
    """Flax NNX: the model holds its weights; ``nnx.value_and_grad`` returns the gradients as a
    state shaped like the model's parameters, which ``nnx.merge`` turns into a model to export."""

    name = "nnx_impl"

    @staticmethod
    def with_layers(architecture, hidden, layers):
        return nnx_models.import_layers(nnx_models.create_model(architecture, 0, hidden), layers)

    @staticmethod
    def logits(model, x):
        return np.asarray(model(jnp.asarray(x)))

    @staticmethod
    def loss_and_grads(model, x, y) -> tuple[float, Layers]:
        def loss_fn(model):
            return nnx_train.cross_entropy(model(jnp.asarray(x)), jnp.asarray(y, jnp.int32))

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        graphdef, _ = nnx.split(model)
        return float(loss), nnx_models.export_layers(nnx.merge(graphdef, grads))

    @staticmethod
    def trainer(cfg, model) -> tuple[Callable, Callable[[], Layers]]:
        optimizer = nnx_train.make_optimizer(cfg, model)

        def step(x, y):
            nnx_train.train_step(model, optimizer, jnp.asarray(x), jnp.asarray(y, jnp.int32))

        return step, lambda: nnx_models.export_layers(model)


class Linen:
    """Flax Linen: a model is a ``LinenModel(module, params)``; gradients are a tree like ``params``."""

    name = "linen_impl"

    @staticmethod
    def with_layers(architecture, hidden, layers):
        return linen_models.import_layers(linen_models.create_model(architecture, 0, hidden), layers)

    @staticmethod
    def logits(model, x):
        return np.asarray(model.apply_fn({"params": model.params}, jnp.asarray(x)))

    @staticmethod
    def loss_and_grads(model, x, y) -> tuple[float, Layers]:
        def loss_fn(params):
            return linen_train.cross_entropy(model.apply_fn({"params": params}, jnp.asarray(x)),
                                             jnp.asarray(y, jnp.int32))

        loss, grads = jax.value_and_grad(loss_fn)(model.params)
        return float(loss), linen_models.export_layers(grads)

    @staticmethod
    def trainer(cfg, model) -> tuple[Callable, Callable[[], Layers]]:
        state = TrainState.create(apply_fn=model.apply_fn, params=model.params,
                                  tx=linen_train.make_optimizer(cfg))
        box = [state]  # the state is replaced, not updated, by each step

        def step(x, y):
            box[0], _ = linen_train.train_step(box[0], jnp.asarray(x), jnp.asarray(y, jnp.int32))

        return step, lambda: linen_models.export_layers(box[0])


PAIRS = list(itertools.combinations([Torch, NNX, Linen], 2))
PAIR_IDS = [f"{a.name}-{b.name}" for a, b in PAIRS]
MODELS = {"mlp-128": ("mlp", (128,)), "mlp-512-512": ("mlp", (512, 512)),
          "mlp-1024-512": ("mlp", (1024, 512)), "cnn": ("cnn", ())}


def shared_layers(architecture, hidden, seed=0) -> Layers:
    """The weights every backend of a comparison loads: PyTorch's initialisation of the model."""
    return torch_models.export_layers(torch_models.create_model(architecture, seed, hidden))


def batch(tiny_images, size=64, start=0):
    images, labels = tiny_images
    return datasets.normalize(images[start:start + size]), labels[start:start + size]


def max_layer_diff(a: Layers, b: Layers) -> float:
    return max(float(np.abs(p - q).max()) for pa, pb in zip(a, b, strict=True)
               for p, q in zip(pa, pb, strict=True))


def report(what: str, difference: float) -> None:
    """Print the measured difference (``pytest -rP`` shows it) and hold it to the tolerance."""
    print(f"{what}: max |diff| = {difference:.2e}")
    assert difference <= TOLERANCE, f"{what}: max |diff| = {difference:.2e} > {TOLERANCE:.0e}"


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize(("a", "b"), PAIRS, ids=PAIR_IDS)
def test_same_weights_give_same_logits(a, b, model_id, tiny_images):
    architecture, hidden = MODELS[model_id]
    layers = shared_layers(architecture, hidden)
    x, _ = batch(tiny_images)
    logits_a = a.logits(a.with_layers(architecture, hidden, layers), x)
    logits_b = b.logits(b.with_layers(architecture, hidden, layers), x)
    assert logits_a.shape == logits_b.shape == (64, 10)
    report(f"{a.name}/{b.name} {model_id} logits", float(np.abs(logits_a - logits_b).max()))


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize(("a", "b"), PAIRS, ids=PAIR_IDS)
def test_same_weights_give_same_loss_and_gradients(a, b, model_id, tiny_images):
    architecture, hidden = MODELS[model_id]
    layers = shared_layers(architecture, hidden)
    x, y = batch(tiny_images)
    loss_a, grads_a = a.loss_and_grads(a.with_layers(architecture, hidden, layers), x, y)
    loss_b, grads_b = b.loss_and_grads(b.with_layers(architecture, hidden, layers), x, y)
    assert len(grads_a) == len(grads_b) == len(layers)
    assert max(float(np.abs(w).max()) for w, _ in grads_a) > 1e-4, "gradients must not be all zero"
    report(f"{a.name}/{b.name} {model_id} loss", abs(loss_a - loss_b))
    report(f"{a.name}/{b.name} {model_id} gradients", max_layer_diff(grads_a, grads_b))


OPTIMIZERS = {
    "sgd": ("sgd", {"learning_rate": 0.1, "momentum": 0.0}),
    "sgd-momentum": ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    "sgd-l2": ("sgd", {"learning_rate": 0.1, "momentum": 0.0, "weight_decay": 1e-2}),
    "adam": ("adam", {"learning_rate": 1e-3}),
    "adamw": ("adamw", {"learning_rate": 1e-3, "weight_decay": 1e-2}),
}


def weights_tolerance(architecture: str, cfg) -> float:
    """How closely the weights after three steps must agree.

    Adam and AdamW divide each update by the running size of that weight's own gradient, so a
    weight whose gradient is tiny still moves by about the learning rate. In the CNN some
    gradients are sums of many cancelling terms, around 1e-6, and differ between PyTorch's and
    XLA's convolutions by float32 rounding of about 1e-7 (different summation orders): 10 % of
    themselves, and so of their update. For those few weights parity can only be a fraction of
    the learning rate: the test lets at most one weight in 10,000 differ by more than
    ``TOLERANCE``, and holds every other comparison to it.
    """
    if architecture == "cnn" and cfg.optimizer in ("adam", "adamw"):
        return 0.1 * cfg.learning_rate
    return TOLERANCE


@pytest.mark.parametrize("optimizer_id", OPTIMIZERS)
@pytest.mark.parametrize("architecture", ["mlp", "cnn"])
@pytest.mark.parametrize(("a", "b"), PAIRS, ids=PAIR_IDS)
def test_optimizers_make_the_same_updates(a, b, architecture, optimizer_id, tiny_images):
    """Three steps from the same weights on the same batches land on the same weights."""
    optimizer, settings = OPTIMIZERS[optimizer_id]
    base = config.FASHION_MLP if architecture == "mlp" else config.MNIST_CNN
    cfg = dataclasses.replace(base, optimizer=optimizer, **settings)
    layers = shared_layers(architecture, cfg.hidden)
    (step_a, weights_a), (step_b, weights_b) = (
        side.trainer(cfg, side.with_layers(architecture, cfg.hidden, layers)) for side in (a, b))
    for step in range(3):
        x, y = batch(tiny_images, start=64 * step)
        step_a(x, y)
        step_b(x, y)
    assert max_layer_diff(weights_a(), layers) > 1e-4, "the steps must move the weights"
    differences = np.concatenate([np.abs(p - q).ravel()
                                  for pa, pb in zip(weights_a(), weights_b(), strict=True)
                                  for p, q in zip(pa, pb, strict=True)])
    what = f"{a.name}/{b.name} {architecture} {optimizer_id} weights after 3 steps"
    beyond = int(np.sum(differences > TOLERANCE))
    print(f"{what}: max |diff| = {differences.max():.2e}, "
          f"{beyond} of {differences.size} beyond {TOLERANCE:.0e}")
    assert differences.max() <= weights_tolerance(architecture, cfg), f"{what}: {differences.max():.2e}"
    assert beyond <= differences.size // 10_000  # the exceptions are few


# --- one backend at a time, against the others' documented behaviour -------------------------

@pytest.mark.parametrize("side", [Torch, NNX, Linen], ids=lambda side: side.name)
def test_input_shape_does_not_matter(side, tiny_images):
    """Every MLP flattens (N, 28, 28) itself; (N, 784) gives the same logits."""
    model = side.with_layers("mlp", (128,), shared_layers("mlp", (128,)))
    x, _ = batch(tiny_images, size=8)
    np.testing.assert_array_equal(side.logits(model, x), side.logits(model, x.reshape(8, -1)))


@pytest.mark.parametrize(("hidden", "expected"), [((128,), 101_770), ((512, 512), 669_706),
                                                  ((1024, 512), 1_333_770)])
def test_parameter_counts_match_hand_count(hidden, expected):
    widths = [784, *hidden, 10]
    assert sum(i * o + o for i, o in zip(widths[:-1], widths[1:], strict=True)) == expected
    assert torch_models.count_parameters(torch_models.create_mlp(hidden, 0)) == expected
    assert nnx_models.count_parameters(nnx_models.create_mlp(hidden, 0)) == expected
    assert linen_models.count_parameters(linen_models.create_mlp(hidden, 0)) == expected


@pytest.mark.parametrize("flax_models", [nnx_models, linen_models], ids=["nnx_impl", "linen_impl"])
def test_default_initialisers_differ_as_documented(flax_models):
    """PyTorch: uniform(+-1/sqrt(fan_in)) weights and biases. Flax: LeCun normal kernels, zero biases."""
    (torch_w, torch_b), _ = torch_models.export_layers(torch_models.create_mlp((128,), 0))
    (flax_w, flax_b), _ = flax_models.export_layers(flax_models.create_mlp((128,), 0))
    bound = 1 / np.sqrt(784)
    assert np.abs(torch_w).max() <= bound and np.abs(torch_b).max() <= bound
    assert np.abs(torch_b).max() > 0
    np.testing.assert_array_equal(flax_b, 0)
    # LeCun normal: std 1/sqrt(fan_in), truncated at 2 std (so some weights exceed the uniform bound).
    assert flax_w.std() == pytest.approx(1 / np.sqrt(784), rel=0.05)
    assert np.abs(flax_w).max() > bound


@pytest.mark.parametrize("target_models", [torch_models, nnx_models, linen_models],
                         ids=["torch_impl", "nnx_impl", "linen_impl"])
def test_import_layers_rejects_wrong_shapes(target_models):
    model = target_models.create_mlp((64,), 0)
    layers = torch_models.export_layers(torch_models.create_mlp((128,), 0))
    expected_shapes = r"\(\(64, 784\), \(64,\)\)"
    with pytest.raises(ValueError, match=f"layer 0: expected weight and bias shapes {expected_shapes}"):
        target_models.import_layers(model, layers)
    with pytest.raises(ValueError, match="model has 2 weighted layers, got 1 weight pairs"):
        target_models.import_layers(model, layers[:1])
    with pytest.raises(ValueError, match="model has 2 weighted layers, got 3 weight pairs"):
        target_models.import_layers(model, layers + layers[:1])


@pytest.mark.parametrize("flax_train", [nnx_train, linen_train], ids=["nnx_impl", "linen_impl"])
def test_cross_entropy_matches_torch(flax_train):
    logits = np.random.default_rng(0).normal(size=(5, 10)).astype(np.float32)
    labels = np.array([0, 3, 9, 2, 2])
    expected = torch_train.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    ours = float(flax_train.cross_entropy(jnp.asarray(logits), jnp.asarray(labels)))
    assert ours == pytest.approx(expected, abs=1e-6)
