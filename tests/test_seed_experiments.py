"""What the chapter on "Exploring PyTorch and JAX" relies on, checked on small synthetic data:

* the post's test transform, Normalize((0.5,), (0.5,)), maps [0, 1] pixels to 2x - 1, and a
  network trained on [0, 1] pixels predicts differently (and worse) on such inputs, in
  either framework;
* ``init_scheme="torch"`` gives a Flax MLP PyTorch's initial weight statistics, and
  ``init_scheme="flax"`` gives a PyTorch MLP Flax's;
* training JAX from PyTorch's initial weights, in the shared batch order, ends on PyTorch's weights.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from fwcompare import config, datasets
from fwcompare.linen_impl import data as jax_data
from fwcompare.linen_impl import evaluate as jax_evaluate
from fwcompare.linen_impl import models as jax_models
from fwcompare.linen_impl import train as jax_train
from fwcompare.torch_impl import data as torch_data
from fwcompare.torch_impl import evaluate as torch_evaluate
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import train as torch_train

# A harder learning problem than conftest's tiny_images: like Fashion-MNIST, a dark background
# (no pixel is bright in every class) and classes that overlap through heavy noise.
FAST = dataclasses.replace(config.FASHION_MLP, learning_rate=0.01, epochs=5)
TRUNCATION = 0.87962566103423978  # std of a standard normal truncated at +-2


@pytest.fixture(scope="module")
def dark_images():
    rng = np.random.default_rng(7)
    templates = (rng.random((10, 28, 28)) < 0.3) * 140.0
    labels = rng.integers(0, 10, size=512).astype(np.int64)
    images = np.clip(templates[labels] + rng.normal(0, 90, size=(512, 28, 28)), 0, 255).astype(np.uint8)
    return (images[:256], labels[:256]), (images[256:], labels[256:])


def test_the_posts_test_transform_maps_unit_pixels_to_minus_one_one():
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    shifted = datasets.normalize(pixels, 0.5, 0.5)
    np.testing.assert_allclose(shifted, 2 * datasets.normalize(pixels) - 1, atol=1e-6)
    assert shifted.min() == -1.0 and shifted.max() == 1.0


def torch_predictions(train, test):
    model, _ = torch_train.train(FAST, *torch_data.to_device(*train, device="cpu"))
    results = {}
    for name, (mean, std) in {"unit": (0.0, 1.0), "shifted": (0.5, 0.5)}.items():
        x, y = torch_data.to_device(*test, mean, std, device="cpu")
        with torch.no_grad():
            predicted = model(x).argmax(1).numpy()
        results[name] = predicted, torch_evaluate.evaluate(model, x, y)["accuracy"]
    return results


def jax_predictions(train, test):
    state, _ = jax_train.train(FAST, *jax_data.to_device(*train))
    results = {}
    for name, (mean, std) in {"unit": (0.0, 1.0), "shifted": (0.5, 0.5)}.items():
        x, y = jax_data.to_device(*test, mean, std)
        predicted = np.asarray(state.apply_fn({"params": state.params}, x).argmax(1))
        results[name] = predicted, jax_evaluate.evaluate(state, x, y)["accuracy"]
    return results


@pytest.mark.parametrize("predict", [torch_predictions, jax_predictions], ids=["torch", "jax"])
def test_testing_on_shifted_pixels_changes_predictions_and_costs_accuracy(predict, dark_images):
    results = predict(*dark_images)
    unit_predicted, unit_accuracy = results["unit"]
    shifted_predicted, shifted_accuracy = results["shifted"]
    assert unit_accuracy > 0.8  # the net did learn the classes
    assert (unit_predicted != shifted_predicted).mean() > 0.2
    assert shifted_accuracy < unit_accuracy - 0.15


def layer_weights(layers) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]


def torch_init(seed, scheme):
    return layer_weights(torch_models.export_layers(torch_models.create_mlp((128,), seed, scheme)))


def flax_init(seed, scheme):
    return layer_weights(jax_models.export_layers(jax_models.create_mlp((128,), seed, scheme)[1]))


QUANTILES = np.linspace(0.02, 0.98, 25)


def assert_same_distribution(first: np.ndarray, second: np.ndarray, scale: float) -> None:
    """Quantiles agree to 4 % of the expected standard deviation (100k samples each: noise ~0.5 %)."""
    difference = np.abs(np.quantile(first, QUANTILES) - np.quantile(second, QUANTILES)).max()
    assert difference < 0.04 * scale, difference / scale


@pytest.mark.parametrize("seed", [0, 1])
def test_flax_with_torch_scheme_starts_like_pytorch(seed):
    torch_layers, flax_layers = torch_init(seed, "default"), flax_init(seed, "torch")
    for (tw, tb), (fw, fb), fan_in in zip(torch_layers, flax_layers, (784, 128), strict=True):
        bound = 1 / math.sqrt(fan_in)
        for weights, biases in ((tw, tb), (fw, fb)):
            assert np.abs(weights).max() <= bound and np.abs(biases).max() <= bound
            assert weights.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)  # uniform(+-b): b/sqrt(3)
            assert np.all(biases != 0)  # biases are random too, not zero as in Flax's default
    for biases in (torch_layers[0][1], flax_layers[0][1]):  # 128 first-layer biases, uniform(+-1/28)
        assert biases.std() == pytest.approx(1 / math.sqrt(3 * 784), rel=0.2)
    assert_same_distribution(torch_layers[0][0], flax_layers[0][0], 1 / math.sqrt(3 * 784))


@pytest.mark.parametrize("seed", [0, 1])
def test_pytorch_with_flax_scheme_starts_like_flax(seed):
    torch_layers, flax_layers = torch_init(seed, "flax"), flax_init(seed, "default")
    for (tw, tb), (fw, fb), fan_in in zip(torch_layers, flax_layers, (784, 128), strict=True):
        std = 1 / math.sqrt(fan_in)  # LeCun normal
        for weights, biases in ((tw, tb), (fw, fb)):
            np.testing.assert_array_equal(biases, 0)
            assert weights.std() == pytest.approx(std, rel=0.05)
            assert np.abs(weights).max() <= 2 * std / TRUNCATION * (1 + 1e-5)  # truncated at 2 sigma
            assert np.abs(weights).max() > 1.5 * std  # ... but not the narrower uniform
    assert_same_distribution(torch_layers[0][0], flax_layers[0][0], 1 / math.sqrt(784))


def test_the_two_schemes_differ_by_a_factor_of_sqrt_three():
    """The chapter's point: Flax's default starts with sqrt(3) times larger first-layer weights."""
    torch_std = torch_init(0, "default")[0][0].std()
    flax_std = flax_init(0, "default")[0][0].std()
    assert flax_std / torch_std == pytest.approx(math.sqrt(3), rel=0.03)


def test_jax_trained_from_pytorch_weights_ends_on_pytorch_weights(tiny_images):
    cfg = dataclasses.replace(config.FASHION_MLP, epochs=2)
    torch_model = torch_models.create_mlp(cfg.hidden, cfg.seed)
    flax_model, params = jax_models.create_mlp(cfg.hidden, cfg.seed)
    params = jax_models.import_layers(params, torch_models.export_layers(torch_model))
    state = jax_train.TrainState.create(apply_fn=flax_model.apply, params=params,
                                        tx=jax_train.make_optimizer(cfg))
    torch_model, torch_losses = torch_train.train(cfg, *torch_data.to_device(*tiny_images, device="cpu"),
                                                  model=torch_model)
    state, jax_losses = jax_train.train(cfg, *jax_data.to_device(*tiny_images), state=state)
    np.testing.assert_allclose(jax_losses, torch_losses, atol=1e-5)
    for (tw, tb), (fw, fb) in zip(torch_models.export_layers(torch_model),
                                  jax_models.export_layers(state.params), strict=True):
        np.testing.assert_allclose(fw, tw, atol=1e-5)
        np.testing.assert_allclose(fb, tb, atol=1e-5)
