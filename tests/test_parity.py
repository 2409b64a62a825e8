"""The PyTorch and the Flax model are the same function: same weights in, same logits,
loss and gradients out; the same optimiser settings make the same update."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from fwcompare import config, datasets
from fwcompare.linen_impl import models as jax_models
from fwcompare.linen_impl import train as jax_train
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import train as torch_train

HIDDEN_SIZES = [(128,), (512, 512), (1024, 512)]


def shared_models(hidden, seed=0):
    """A PyTorch MLP and Flax parameters holding the PyTorch model's initial weights."""
    torch_model = torch_models.create_mlp(hidden, seed)
    flax_model, params = jax_models.create_mlp(hidden, seed)
    params = jax_models.import_layers(params, torch_models.export_layers(torch_model))
    return torch_model, flax_model, params


def batch(tiny_images, size=64):
    images, labels = tiny_images
    return datasets.normalize(images[:size]), labels[:size]


def torch_loss_and_grads(model, x, y):
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    layers = torch_models.weighted_layers(model)
    grads = [(layer.weight.grad.numpy(), layer.bias.grad.numpy()) for layer in layers]
    return loss.item(), grads


def flax_loss_and_grads(flax_model, params, x, y):
    def loss_fn(p):
        return jax_train.cross_entropy(flax_model.apply({"params": p}, x), jnp.asarray(y, jnp.int32))

    loss, grads = jax.value_and_grad(loss_fn)(params)
    return float(loss), jax_models.export_layers(grads)  # gradients in PyTorch's (out, in) layout


@pytest.mark.parametrize("hidden", HIDDEN_SIZES)
def test_same_weights_give_same_logits(hidden, tiny_images):
    torch_model, flax_model, params = shared_models(hidden)
    x, _ = batch(tiny_images)
    with torch.no_grad():
        torch_logits = torch_model(torch.from_numpy(x)).numpy()
    flax_logits = np.asarray(flax_model.apply({"params": params}, x))
    assert flax_logits.shape == (64, 10)
    np.testing.assert_allclose(flax_logits, torch_logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("hidden", HIDDEN_SIZES)
def test_same_weights_give_same_loss_and_gradients(hidden, tiny_images):
    torch_model, flax_model, params = shared_models(hidden)
    x, y = batch(tiny_images)
    torch_loss, torch_grads = torch_loss_and_grads(torch_model, x, y)
    flax_loss, flax_grads = flax_loss_and_grads(flax_model, params, x, y)
    assert flax_loss == pytest.approx(torch_loss, abs=1e-5)
    for (tw, tb), (fw, fb) in zip(torch_grads, flax_grads, strict=True):
        np.testing.assert_allclose(fw, tw, atol=1e-5, rtol=0)
        np.testing.assert_allclose(fb, tb, atol=1e-5, rtol=0)


def test_input_shape_does_not_matter(tiny_images):
    """Both models flatten (N, 28, 28) themselves; (N, 784) gives the same logits."""
    torch_model, flax_model, params = shared_models((128,))
    x, _ = batch(tiny_images, size=8)
    flat = x.reshape(8, -1)
    np.testing.assert_array_equal(np.asarray(flax_model.apply({"params": params}, x)),
                                  np.asarray(flax_model.apply({"params": params}, flat)))
    with torch.no_grad():
        torch.testing.assert_close(torch_model(torch.from_numpy(x)), torch_model(torch.from_numpy(flat)))


@pytest.mark.parametrize(("hidden", "expected"), [((128,), 101_770), ((512, 512), 669_706),
                                                  ((1024, 512), 1_333_770)])
def test_parameter_counts_match_hand_count(hidden, expected):
    widths = [784, *hidden, 10]
    assert sum(i * o + o for i, o in zip(widths[:-1], widths[1:], strict=True)) == expected
    assert torch_models.count_parameters(torch_models.create_mlp(hidden, 0)) == expected
    assert jax_models.count_parameters(jax_models.create_mlp(hidden, 0)[1]) == expected


@pytest.mark.parametrize(("optimizer", "settings"), [
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.0, "weight_decay": 1e-2}),
    ("adam", {"learning_rate": 1e-3}),
    ("adamw", {"learning_rate": 1e-3, "weight_decay": 1e-2}),
])
def test_optimizers_make_the_same_updates(optimizer, settings, tiny_images):
    """Three steps from the same weights on the same batches land on the same weights."""
    cfg = dataclasses.replace(config.FASHION_MLP, optimizer=optimizer, **settings)
    torch_model, flax_model, params = shared_models(cfg.hidden)
    torch_opt = torch_train.make_optimizer(cfg, torch_model)
    state = jax_train.TrainState.create(apply_fn=flax_model.apply, params=params,
                                        tx=jax_train.make_optimizer(cfg))
    images, labels = tiny_images
    for step in range(3):
        x = datasets.normalize(images[step * 64:(step + 1) * 64])
        y = labels[step * 64:(step + 1) * 64]
        torch_train.train_step(torch_model, torch_opt, torch.from_numpy(x), torch.from_numpy(y))
        state, _ = jax_train.train_step(state, jnp.asarray(x), jnp.asarray(y, jnp.int32))
    for (tw, tb), (fw, fb) in zip(torch_models.export_layers(torch_model),
                                  jax_models.export_layers(state.params), strict=True):
        np.testing.assert_allclose(fw, tw, atol=2e-6, rtol=0)
        np.testing.assert_allclose(fb, tb, atol=2e-6, rtol=0)


def test_default_initialisers_differ_as_documented():
    """PyTorch: uniform(+-1/sqrt(fan_in)) weights and biases. Flax: LeCun normal kernels, zero biases."""
    (torch_w, torch_b), _ = torch_models.export_layers(torch_models.create_mlp((128,), 0))
    (flax_w, flax_b), _ = jax_models.export_layers(jax_models.create_mlp((128,), 0)[1])
    bound = 1 / np.sqrt(784)
    assert np.abs(torch_w).max() <= bound and np.abs(torch_b).max() <= bound
    assert np.abs(torch_b).max() > 0
    np.testing.assert_array_equal(flax_b, 0)
    # LeCun normal: std 1/sqrt(fan_in), truncated at 2 std (so some weights exceed the uniform bound).
    assert flax_w.std() == pytest.approx(1 / np.sqrt(784), rel=0.05)
    assert np.abs(flax_w).max() > bound


def test_import_layers_rejects_wrong_shapes():
    torch_model = torch_models.create_mlp((128,), 0)
    _, params = jax_models.create_mlp((64,), 0)
    layers = torch_models.export_layers(torch_model)
    expected_shapes = r"\(\(64, 784\), \(64,\)\)"
    with pytest.raises(ValueError, match=f"layer 0: expected weight and bias shapes {expected_shapes}"):
        jax_models.import_layers(params, layers)
    with pytest.raises(ValueError, match="model has 2 weighted layers, got 1 weight pairs"):
        torch_models.import_layers(torch_model, layers[:1])
    with pytest.raises(ValueError, match="params have 2 weighted layers, got 3 weight pairs"):
        jax_models.import_layers(params, layers + layers[:1])


def test_cross_entropy_matches_torch():
    logits = np.random.default_rng(0).normal(size=(5, 10)).astype(np.float32)
    labels = np.array([0, 3, 9, 2, 2])
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    ours = float(jax_train.cross_entropy(jnp.asarray(logits), jnp.asarray(labels)))
    assert ours == pytest.approx(expected, abs=1e-6)
