"""The Flax NNX backend: training lowers the loss on real images, the fast step and the scanned
epoch give the weights the plain ``nnx.jit`` step gives, ``fit`` keeps the best epoch, evaluation
runs in eval mode and leaves the model's mode alone, and the NNX models are the Linen and the
PyTorch models given the same weights."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from flax import nnx
from flax.training.train_state import TrainState

from fwcompare import config, datasets
from fwcompare.checks import NonFiniteLossError
from fwcompare.linen_impl import models as linen_models
from fwcompare.linen_impl import tiny as linen_tiny
from fwcompare.nnx_impl import data as nnx_data
from fwcompare.nnx_impl import evaluate as nnx_evaluate
from fwcompare.nnx_impl import models as nnx_models
from fwcompare.nnx_impl import tiny as nnx_tiny
from fwcompare.nnx_impl import train as nnx_train
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import tiny as torch_tiny
from synthetic import blocks

# Small runs: a few hundred examples in batches of 32, a few epochs.
MLP_SMALL = dataclasses.replace(config.FASHION_MLP, dataset="mnist", hidden=(64,), learning_rate=0.05,
                                batch_size=32, epochs=3)
CNN_SMALL = dataclasses.replace(config.MNIST_CNN, batch_size=32, epochs=2)


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    """The first 384 real MNIST test images, read offline from data/."""
    try:
        images, labels = datasets.load("mnist", "test", download=False)
    except datasets.DataMissingError as error:
        pytest.skip(f"MNIST is not in data/: {error}")
    return images[:384], labels[:384]


def params_of(model) -> list[np.ndarray]:
    """Every weight and bias of an NNX model as NumPy, PyTorch's layout."""
    return [array for pair in nnx_models.export_layers(model) for array in pair]


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(p - q).max()) for p, q in zip(a, b, strict=True))


# --- training -------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", [MLP_SMALL, CNN_SMALL], ids=["mlp", "cnn"])
def test_training_lowers_the_loss_on_real_images(cfg, mnist):
    x, y = nnx_data.to_device(*mnist)
    model, losses = nnx_train.train(cfg, x, y)
    assert isinstance(model, nnx.Module)
    assert losses.shape == (cfg.epochs, 12)  # 384 examples / batch 32
    assert np.isfinite(losses).all()
    assert losses[0, 0] == pytest.approx(np.log(10), abs=0.5)  # an untrained net guesses about uniformly
    assert losses[-1].mean() < 0.5 * losses[0].mean()
    assert nnx_evaluate.evaluate(model, x, y)["accuracy"] > 0.85  # chance is 0.1


def test_the_fast_step_gives_the_weights_of_the_plain_nnx_jit_step(tiny_images):
    cfg = dataclasses.replace(MLP_SMALL, optimizer="adam", learning_rate=1e-3)
    x, y = nnx_data.to_device(*tiny_images)
    order = datasets.batch_order(len(x), cfg.batch_size, cfg.seed, 0)[:4]
    initial = params_of(nnx_models.model_for(cfg))
    runs = []
    for fast in (False, True):
        model = nnx_models.model_for(cfg)
        optimizer = nnx_train.make_optimizer(cfg, model)
        step = (nnx_train.compiled_train_step(model, optimizer) if fast
                else functools.partial(nnx_train.train_step, model, optimizer))
        losses = jnp.stack([step(xb, yb) for xb, yb in nnx_data.iterate_batches(x, y, order)])
        assert int(optimizer.step[...]) == len(order)  # the optimiser was updated in place
        runs.append((np.asarray(losses), params_of(model)))
    (plain_losses, plain), (fast_losses, fast) = runs
    assert max_abs_diff(plain, initial) > 1e-3, "the steps must move the weights of the model itself"
    np.testing.assert_array_equal(fast_losses, plain_losses)
    assert max_abs_diff(fast, plain) == 0.0  # the same compiled step, so the same numbers


def test_the_scanned_epoch_equals_the_looped_epoch(tiny_images):
    cfg = dataclasses.replace(MLP_SMALL, optimizer="adam", learning_rate=1e-3)
    x, y = nnx_data.to_device(*tiny_images)
    runs = []
    for scanned in (False, True):
        model = nnx_models.model_for(cfg)
        optimizer = nnx_train.make_optimizer(cfg, model)
        for epoch in range(2):  # the second epoch starts from what the first left in the modules
            order = datasets.batch_order(len(x), cfg.batch_size, cfg.seed, epoch, drop_last=True)
            losses = (nnx_train.train_epoch_scan(model, optimizer, x, y, np.stack(order)) if scanned
                      else nnx_train.train_epoch(model, optimizer, x, y, order))
        assert int(optimizer.step[...]) == 2 * len(order)
        runs.append((np.asarray(losses), params_of(model)))
    (loop_losses, looped), (scan_losses, scanned) = runs
    assert scan_losses.shape == loop_losses.shape == (8,)  # 256 examples / 32
    np.testing.assert_allclose(scan_losses, loop_losses, rtol=0, atol=1e-5)
    assert max_abs_diff(scanned, looped) < 1e-5


def test_training_rejects_bad_labels_and_stops_when_the_loss_diverges(tiny_images):
    images, labels = tiny_images
    x, y = nnx_data.to_device(images[:64], labels[:64])
    bad_labels = r"labels must be class indices in \[0, 10\); got values from 0 to 10"
    with pytest.raises(ValueError, match=bad_labels):
        nnx_train.train(MLP_SMALL, x, y.at[0].set(10))
    with pytest.raises(ValueError, match=bad_labels):
        nnx_train.fit(MLP_SMALL, (x, y.at[0].set(10)), (x, y))
    diverging = dataclasses.replace(MLP_SMALL, learning_rate=1e20, epochs=2)  # weights overflow to inf
    with pytest.raises(NonFiniteLossError, match=r"mean loss of epoch 0 is nan \(learning_rate=1e\+20"):
        nnx_train.train(diverging, x, y)
    with pytest.raises(NonFiniteLossError, match="epoch 0"):
        nnx_train.fit(diverging, (x, y), (x, y))


# --- fit keeps the best epoch ---------------------------------------------------------------

def test_fit_returns_the_best_epochs_weights_not_the_last():
    """The validation labels are shifted by one class, so the better the network learns the
    training set, the worse its validation loss: the last epoch is certainly not the best."""
    cfg = dataclasses.replace(MLP_SMALL, epochs=3, learning_rate=0.02)
    train = nnx_data.to_device(*blocks(128, seed=1))
    val_images, val_labels = blocks(64, seed=2)
    val = nnx_data.to_device(val_images, (val_labels + 1) % 10)
    model, history = nnx_train.fit(cfg, train, val)
    assert history.epochs == cfg.epochs
    for column in (history.train_loss, history.val_loss, history.val_accuracy, history.epoch_seconds):
        assert column.shape == (cfg.epochs,) and np.all(np.isfinite(column))
    assert history.train_loss[-1] < history.train_loss[0]  # it did learn the training set
    assert history.best_epoch < history.epochs and history.val_loss[-1] > history.val_loss.min()
    loss = nnx_evaluate.evaluate(model, *val)["loss"]
    assert loss == pytest.approx(history.val_loss[history.best_epoch - 1], rel=1e-6)
    assert loss != pytest.approx(history.val_loss[-1], rel=1e-3)
    # The returned model still trains: its variables are live, not the copy's.
    optimizer = nnx_train.make_optimizer(cfg, model)
    before = params_of(model)
    nnx_train.train_step(model, optimizer, *train)
    assert max_abs_diff(params_of(model), before) > 0


# --- evaluation -----------------------------------------------------------------------------

class DropoutNet(nnx.Module):
    """A dense layer with dropout on its logits: different in training and in eval mode."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.dense = nnx.Linear(28 * 28, 10, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.dropout(self.dense(x.reshape((x.shape[0], -1))))


def test_evaluate_runs_in_eval_mode_matches_a_hand_computation_and_keeps_the_mode(tiny_images):
    images, labels = tiny_images
    x, y = nnx_data.to_device(images[:250], labels[:250])
    model = DropoutNet(rngs=nnx.Rngs(0))
    assert model.dropout.deterministic is False  # built in training mode
    logits = model.dense(x.reshape((250, -1)))  # eval mode: no dropout, (250, 10)
    expected_loss = float(optax.softmax_cross_entropy_with_integer_labels(logits, y).mean())
    expected_accuracy = int((logits.argmax(axis=1) == y).sum()) / 250
    for batch_size in (100, 1000):  # 100 leaves a partial last batch
        metrics = nnx_evaluate.evaluate(model, x, y, batch_size=batch_size)
        assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-5)
        assert metrics["accuracy"] == expected_accuracy
        assert model.dropout.deterministic is False  # the caller's mode, as it was
    model.eval()
    assert nnx_evaluate.evaluate(model, x, y)["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert model.dropout.deterministic is True
    with pytest.raises(ValueError, match="batch_size=0 must be >= 1"):
        nnx_evaluate.evaluate(model, x, y, batch_size=0)


# --- models ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("architecture", "expected"), [("mlp", 101_770), ("cnn", 824_458)])
def test_parameter_counts_match_pytorch(architecture, expected):
    assert nnx_models.count_parameters(nnx_models.create_model(architecture, 0)) == expected
    assert torch_models.count_parameters(torch_models.create_model(architecture, 0)) == expected


def test_models_reject_unknown_names_and_a_seed_reproduces_the_weights():
    with pytest.raises(ValueError, match="architecture='rnn' is unknown; allowed: mlp, cnn"):
        nnx_models.create_model("rnn", 0)
    with pytest.raises(ValueError, match="init_scheme='he' is unknown"):
        nnx_models.create_mlp((8,), 0, init_scheme="he")
    first, again, other = (params_of(nnx_models.create_mlp((8,), seed)) for seed in (0, 0, 1))
    assert max_abs_diff(first, again) == 0 and max_abs_diff(first, other) > 0
    (weight, bias), _ = nnx_models.export_layers(nnx_models.create_mlp((8,), 0, init_scheme="torch"))
    bound = 1 / np.sqrt(784)
    assert np.abs(weight).max() <= bound and 0 < np.abs(bias).max() <= bound


def test_import_layers_rejects_what_does_not_fit_and_leaves_the_model_as_it_was():
    model = nnx_models.create_mlp((64,), 0)
    before = params_of(model)
    layers = torch_models.export_layers(torch_models.create_mlp((128,), 0))
    expected_shapes = r"\(\(64, 784\), \(64,\)\)"
    with pytest.raises(ValueError, match=f"layer 0: expected weight and bias shapes {expected_shapes}"):
        nnx_models.import_layers(model, layers)
    with pytest.raises(ValueError, match="model has 2 weighted layers, got 1 weight pairs"):
        nnx_models.import_layers(model, layers[:1])
    fitting = torch_models.export_layers(torch_models.create_mlp((64,), 0))
    with pytest.raises(ValueError, match="layer 1: expected"):  # the first pair fits, the second not
        nnx_models.import_layers(model, [fitting[0], layers[1]])
    assert max_abs_diff(params_of(model), before) == 0.0


@pytest.mark.parametrize(("architecture", "hidden"), [("mlp", (128,)), ("mlp", (16,) * 10), ("cnn", ())],
                         ids=["mlp", "mlp-11-layers", "cnn"])
def test_linen_and_nnx_conversions_keep_the_function_exactly(architecture, hidden, tiny_images):
    x = jnp.asarray(datasets.normalize(tiny_images[0][:16]))
    nnx_model = nnx_models.create_model(architecture, 0, hidden)
    linen_model = nnx_models.to_linen(nnx_model)
    assert isinstance(linen_model, linen_models.LinenModel)
    np.testing.assert_array_equal(linen_model.apply_fn({"params": linen_model.params}, x), nnx_model(x))
    # and back: a model Linen initialised, as a LinenModel and as a TrainState
    original = linen_models.create_model(architecture, 1, hidden)
    state = TrainState.create(apply_fn=original.apply_fn, params=original.params, tx=optax.sgd(0.1))
    expected = original.apply_fn({"params": original.params}, x)
    for source in (original, state):
        converted = nnx_models.from_linen(source)
        assert isinstance(converted, nnx_models.CNN if architecture == "cnn" else nnx_models.MLP)
        np.testing.assert_array_equal(converted(x), expected)
    round_trip = nnx_models.to_linen(nnx_models.from_linen(original)).params
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), round_trip, original.params))
    # Each conversion copies the arrays: zeroing one model leaves the other as it was.
    nnx_models.import_layers(nnx_model, [(np.zeros_like(w), np.zeros_like(b))
                                         for w, b in nnx_models.export_layers(nnx_model)])
    assert max(float(jnp.abs(leaf).max()) for leaf in jax.tree.leaves(linen_model.params)) > 0
    converted = nnx_models.from_linen(original)
    nnx_models.import_layers(converted, [(np.zeros_like(w), np.zeros_like(b))
                                         for w, b in nnx_models.export_layers(converted)])
    np.testing.assert_array_equal(original.apply_fn({"params": original.params}, x), expected)


def test_conversions_reject_what_is_not_one_of_the_books_models():
    with pytest.raises(TypeError, match="model must be an nnx_impl MLP or CNN, got Net"):
        nnx_models.to_linen(nnx_tiny.Net(rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match="Conv_i and Dense_i layers only"):
        nnx_models.from_linen({"Embed_0": {"embedding": jnp.zeros((3, 2))}})


def test_nnx_net_matches_the_torch_and_the_linen_net_given_the_same_weights():
    x = np.random.default_rng(1).normal(size=(7, 2)).astype(np.float32)
    torch.manual_seed(0)
    torch_net = torch_tiny.Net()
    layers = torch_models.export_layers(torch_net)
    nnx_net = nnx_models.import_layers(nnx_tiny.Net(rngs=nnx.Rngs(0)), layers)
    linen_params = linen_models.import_layers(linen_tiny.Net().init(jax.random.key(0), x)["params"], layers)
    with torch.no_grad():
        from_torch = torch_net(torch.from_numpy(x)).numpy()
    from_nnx = np.asarray(nnx_net(jnp.asarray(x)))
    from_linen = np.asarray(linen_tiny.Net().apply({"params": linen_params}, x))
    assert from_nnx.shape == from_torch.shape == from_linen.shape == (7, 1)
    np.testing.assert_allclose(from_nnx, from_torch, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_nnx, from_linen, rtol=1e-5, atol=1e-6)
    assert nnx_tiny.Net(3, 5, rngs=nnx.Rngs(0))(jnp.ones((4, 5))).shape == (4, 1)
