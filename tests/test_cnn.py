"""The CNN of "What are JAX and Flax?": the PyTorch and the Flax version are the same function,
have the same size, initialise as documented, train with validation keeping the best epoch,
and round-trip through checkpoints; an ahead-of-time compiled step is shape-specialised."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from fwcompare import config, datasets, timing
from fwcompare.linen_impl import checkpoint as jax_checkpoint
from fwcompare.linen_impl import data as jax_data
from fwcompare.linen_impl import evaluate as jax_evaluate
from fwcompare.linen_impl import models as jax_models
from fwcompare.linen_impl import train as jax_train
from fwcompare.torch_impl import checkpoint as torch_checkpoint
from fwcompare.torch_impl import data as torch_data
from fwcompare.torch_impl import evaluate as torch_evaluate
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import train as torch_train
from synthetic import blocks

# conv 3x3 1->32, conv 3x3 32->64, dense 7*7*64->256, dense 256->10; weights plus biases.
HAND_COUNT = ((3 * 3 * 1 * 32 + 32) + (3 * 3 * 32 * 64 + 64)
              + (7 * 7 * 64 * 256 + 256) + (256 * 10 + 10))


def cnn_pair(seed=0):
    """A PyTorch CNN and a Flax CNN with its own default initialisation (not shared yet)."""
    torch_model = torch_models.create_model("cnn", seed)
    flax_model, params = jax_models.create_model("cnn", seed)
    return torch_model, flax_model, params


def logits_and_loss(torch_model, flax_model, params, x, y):
    with torch.no_grad():
        torch_logits = torch_model(torch.from_numpy(x))
        torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.from_numpy(y)).item()
    flax_logits = flax_model.apply({"params": params}, x)
    flax_loss = float(jax_train.cross_entropy(flax_logits, jnp.asarray(y, jnp.int32)))
    return torch_logits.numpy(), np.asarray(flax_logits), torch_loss, flax_loss


def batch(tiny_images, size=64):
    images, labels = tiny_images
    return datasets.normalize(images[:size]), labels[:size]


# --- same weights, same function -----------------------------------------------------------

def test_torch_weights_in_flax_give_the_same_logits_and_loss(tiny_images):
    torch_model, flax_model, params = cnn_pair()
    params = jax_models.import_layers(params, torch_models.export_layers(torch_model))
    torch_logits, flax_logits, torch_loss, flax_loss = logits_and_loss(
        torch_model, flax_model, params, *batch(tiny_images))
    assert flax_logits.shape == (64, 10)
    np.testing.assert_allclose(flax_logits, torch_logits, atol=1e-5, rtol=0)
    assert flax_loss == pytest.approx(torch_loss, abs=1e-6)


def test_flax_weights_in_torch_give_the_same_logits_and_loss(tiny_images):
    torch_model, flax_model, params = cnn_pair()
    torch_models.import_layers(torch_model, jax_models.export_layers(params))
    torch_logits, flax_logits, torch_loss, flax_loss = logits_and_loss(
        torch_model, flax_model, params, *batch(tiny_images))
    np.testing.assert_allclose(torch_logits, flax_logits, atol=1e-5, rtol=0)
    assert torch_loss == pytest.approx(flax_loss, abs=1e-6)


def test_different_initialisations_give_different_logits(tiny_images):
    # Guards the two tests above: without the weight exchange the models must disagree.
    torch_logits, flax_logits, _, _ = logits_and_loss(*cnn_pair(), *batch(tiny_images))
    assert np.abs(torch_logits - flax_logits).max() > 1e-2


def test_first_dense_layer_is_reordered_from_channels_last_to_channels_first():
    _, _, params = cnn_pair()
    kernel = np.asarray(params["Dense_0"]["kernel"])  # (7*7*64, 256), rows in (h, w, c) order
    weight = jax_models.export_layers(params)[2][0]   # (256, 64*7*7), columns in (c, h, w) order
    assert kernel.shape == (3136, 256) and weight.shape == (256, 3136)
    for h, w, c in [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0), (6, 6, 63), (3, 5, 17)]:
        np.testing.assert_array_equal(weight[:, c * 49 + h * 7 + w], kernel[h * 7 * 64 + w * 64 + c])
    assert not np.array_equal(weight, kernel.T)  # a plain transpose would scramble the features


def test_weight_exchange_round_trips_exactly():
    torch_model, _, params = cnn_pair()
    back = jax_models.import_layers(params, jax_models.export_layers(params))
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(back), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    exported = torch_models.export_layers(torch_model)
    copy = torch_models.import_layers(torch_models.create_model("cnn", seed=1), exported)
    for (w1, b1), (w2, b2) in zip(exported, torch_models.export_layers(copy), strict=True):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)


# --- size ----------------------------------------------------------------------------------

def test_parameter_counts_are_equal_and_match_the_hand_count():
    torch_model, _, params = cnn_pair()
    assert HAND_COUNT == 824_458
    assert torch_models.count_parameters(torch_model) == HAND_COUNT
    assert jax_models.count_parameters(params) == HAND_COUNT
    assert jax.tree_util.tree_map(jnp.shape, params) == {
        "Conv_0": {"kernel": (3, 3, 1, 32), "bias": (32,)},
        "Conv_1": {"kernel": (3, 3, 32, 64), "bias": (64,)},
        "Dense_0": {"kernel": (3136, 256), "bias": (256,)},
        "Dense_1": {"kernel": (256, 10), "bias": (10,)},
    }


# --- initialisation schemes ----------------------------------------------------------------

def flax_layers(params):
    """``(fan_in, kernel, bias)`` per layer of a Flax parameter tree."""
    for name in ("Conv_0", "Conv_1", "Dense_0", "Dense_1"):
        kernel, bias = np.asarray(params[name]["kernel"]), np.asarray(params[name]["bias"])
        yield math.prod(kernel.shape[:-1]), kernel, bias  # conv (kh, kw, in, out), dense (in, out)


def torch_layers(model):
    for weight, bias in torch_models.export_layers(model):
        yield weight[0].size, weight, bias  # (out, in[, kh, kw]): fan_in = in * kh * kw


@pytest.mark.parametrize("scheme", ["torch", "default"])
def test_torch_style_init_in_flax_is_uniform_within_the_fan_in_bound(scheme):
    if scheme == "default":  # PyTorch's own default is the same scheme
        layers = torch_layers(torch_models.create_model("cnn", 0))
    else:
        layers = flax_layers(jax_models.create_model("cnn", 0, init_scheme="torch")[1])
    for fan_in, kernel, bias in layers:
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(kernel).max() <= bound
        assert np.abs(kernel).max() > 0.95 * bound  # fills the interval, not a narrower one
        assert np.abs(bias).max() <= bound
        assert np.count_nonzero(bias) == bias.size


@pytest.mark.parametrize("scheme", ["flax", "default"])
def test_flax_style_init_in_torch_has_zero_biases_and_lecun_std(scheme):
    if scheme == "default":  # Flax's own default is the same scheme
        layers = flax_layers(jax_models.create_model("cnn", 0)[1])
    else:
        layers = torch_layers(torch_models.create_model("cnn", 0, init_scheme="flax"))
    for fan_in, kernel, bias in layers:
        std = 1 / math.sqrt(fan_in)
        assert np.count_nonzero(bias) == 0
        assert kernel.std() == pytest.approx(std, rel=0.1)
        assert np.abs(kernel).max() <= 2 * std / 0.8796 + 1e-6  # truncated at two (untruncated) std


# --- fit keeps the best epoch --------------------------------------------------------------

def fit_case():
    """A run whose last epoch is certainly not its best: the validation labels are shifted by
    one class, so the better the network learns the training set, the worse its validation loss."""
    cfg = dataclasses.replace(config.MNIST_CNN, epochs=3, batch_size=32, learning_rate=3e-3)
    train_images, train_labels = blocks(128, seed=1)
    val_images, val_labels = blocks(64, seed=2)
    return cfg, (train_images, train_labels), (val_images, (val_labels + 1) % 10)


def check_history(history, epochs):
    assert history.epochs == epochs
    for column in (history.train_loss, history.val_loss, history.val_accuracy, history.epoch_seconds):
        assert column.shape == (epochs,) and np.all(np.isfinite(column))
    assert np.all(history.epoch_seconds > 0)
    assert history.train_loss[-1] < history.train_loss[0]  # it did learn the training set
    assert history.val_loss[history.best_epoch - 1] == history.val_loss.min()
    assert history.best_epoch < history.epochs and history.val_loss[-1] > history.val_loss.min()


def test_torch_fit_returns_the_best_epochs_model():
    cfg, train, val = fit_case()
    val_t = torch_data.to_device(*val)
    model, history = torch_train.fit(cfg, torch_data.to_device(*train), val_t)
    check_history(history, cfg.epochs)
    loss = torch_evaluate.evaluate(model, *val_t)["loss"]
    assert loss == pytest.approx(history.val_loss[history.best_epoch - 1], rel=1e-6)
    assert loss != pytest.approx(history.val_loss[-1], rel=1e-3)


def test_jax_fit_returns_the_best_epochs_state():
    cfg, train, val = fit_case()
    val_j = jax_data.to_device(*val)
    state, history = jax_train.fit(cfg, jax_data.to_device(*train), val_j)
    check_history(history, cfg.epochs)
    loss = jax_evaluate.evaluate(state, *val_j)["loss"]
    assert loss == pytest.approx(history.val_loss[history.best_epoch - 1], rel=1e-6)
    assert loss != pytest.approx(history.val_loss[-1], rel=1e-3)


# --- checkpoints ---------------------------------------------------------------------------
# The failure cases (missing, damaged, foreign, of another model) are in test_failures.py.

def test_torch_checkpoint_round_trip_is_bit_exact(tmp_path):
    model = torch_models.create_model("cnn", seed=0)
    path = torch_checkpoint.save(tmp_path / "sub" / "cnn.pt", model)
    restored = torch_checkpoint.load(path, torch_models.create_model("cnn", seed=1))
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left behind
    original, loaded = model.state_dict(), restored.state_dict()
    assert list(original) == list(loaded)
    for name in original:
        assert original[name].dtype == loaded[name].dtype
        assert torch.equal(original[name], loaded[name]), name


def test_jax_checkpoint_round_trip_is_bit_exact(tmp_path):
    _, params = jax_models.create_model("cnn", seed=0)
    path = jax_checkpoint.save(tmp_path / "sub" / "cnn", params)  # an Orbax checkpoint folder
    restored = jax_checkpoint.load(path, jax_models.create_model("cnn", seed=1)[1])
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(params)
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(restored), strict=True):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_checkpoint_of_the_mlp_does_not_load_into_the_cnn(tmp_path):
    torch_path = torch_checkpoint.save(tmp_path / "mlp.pt", torch_models.create_mlp((128,), 0))
    with pytest.raises(torch_checkpoint.CheckpointError, match="does not fit"):
        torch_checkpoint.load(torch_path, torch_models.create_model("cnn", 0))
    jax_path = jax_checkpoint.save(tmp_path / "mlp", jax_models.create_mlp((128,), 0))
    with pytest.raises(jax_checkpoint.CheckpointError, match="the model has Conv_0/bias"):
        jax_checkpoint.load(jax_path, jax_models.create_model("cnn", 0))


# --- ahead-of-time compilation -------------------------------------------------------------

def test_compiled_step_runs_its_shape_and_rejects_another(tiny_images):
    state = jax_train.create_train_state(config.MNIST_CNN)
    x, y = jax_data.to_device(*tiny_images)
    compiled, seconds = timing.compile_seconds(jax_train.train_step, state, x[:8], y[:8])
    assert seconds > 0
    new_state, loss = compiled(state, x[:8], y[:8])
    expected_state, expected_loss = jax_train.train_step(state, x[:8], y[:8])
    np.testing.assert_allclose(float(loss), float(expected_loss), rtol=1e-6)
    assert new_state.step == expected_state.step == 1
    with pytest.raises(TypeError, match=r"float32\[8,28,28\].*float32\[4,28,28\]"):
        compiled(state, x[:4], y[:4])
