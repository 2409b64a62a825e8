"""The hand-written JAX MLP of the JAX slides (fwcompare.linen_impl.pure_mlp): parameter shapes and
scale, log-probabilities, the slides' loss, one SGD step, the two epoch styles agreeing, batch
order and accuracy. Small synthetic data only; a NumPy forward pass is the reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fwcompare.jax_common import pure_mlp

SIZES = (20, 16, 12, 4)


@pytest.fixture
def params():
    return pure_mlp.init_params(SIZES, jax.random.key(0), scale=0.3)


@pytest.fixture
def problem():
    """96 examples of 20 features whose label (0..3) is the argmax of a fixed linear map."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(96, SIZES[0])).astype(np.float32)
    labels = np.argmax(x @ rng.normal(size=(SIZES[0], SIZES[-1])), axis=1).astype(np.int32)
    return x, labels


def numpy_log_probs(params, x: np.ndarray) -> np.ndarray:
    """Reference forward pass in float64: ReLU hidden layers, log-softmax output, x is (batch, in)."""
    activations = x.astype(np.float64)
    layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in params]
    for w, b in layers[:-1]:
        activations = np.maximum(activations @ w.T + b, 0.0)
    w, b = layers[-1]
    logits = activations @ w.T + b
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def max_param_diff(a, b) -> float:
    return max(float(np.abs(np.asarray(p) - np.asarray(q)).max())
               for pair_a, pair_b in zip(a, b, strict=True) for p, q in zip(pair_a, pair_b, strict=True))


# --- parameters and forward pass -----------------------------------------------------------

def test_init_params_shapes_follow_the_out_in_layout(params):
    assert [(w.shape, b.shape) for w, b in params] == [((16, 20), (16,)), ((12, 16), (12,)), ((4, 12), (4,))]
    assert all(w.dtype == jnp.float32 and b.dtype == jnp.float32 for w, b in params)


def test_init_params_scale_is_the_standard_deviation():
    [(w, b)] = pure_mlp.init_params((500, 400), jax.random.key(1), scale=0.05)
    assert float(jnp.std(w)) == pytest.approx(0.05, rel=0.02)
    assert abs(float(jnp.mean(w))) < 0.002
    assert float(jnp.std(b)) == pytest.approx(0.05, rel=0.15)
    [(w_default, _)] = pure_mlp.init_params((500, 400), jax.random.key(1))
    assert float(jnp.std(w_default)) == pytest.approx(1e-2, rel=0.02)  # the slides' scale


def test_init_params_uses_independent_keys_and_is_reproducible():
    first = pure_mlp.init_params((8, 8, 8), jax.random.key(3))
    again = pure_mlp.init_params((8, 8, 8), jax.random.key(3))
    assert max_param_diff(first, again) == 0.0
    arrays = [np.asarray(a).ravel()[:8] for pair in first for a in pair]
    assert all(not np.array_equal(p, q) for i, p in enumerate(arrays) for q in arrays[i + 1:])


def test_init_params_rejects_a_single_size():
    with pytest.raises(ValueError, match="sizes"):
        pure_mlp.init_params((784,), jax.random.key(0))


def test_predict_returns_log_probabilities_of_one_example(params, problem):
    x, _ = problem
    log_probs = pure_mlp.predict(params, jnp.asarray(x[0]))
    assert log_probs.shape == (SIZES[-1],)
    assert float(jax.scipy.special.logsumexp(log_probs)) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(np.asarray(log_probs), numpy_log_probs(params, x[:1])[0], rtol=1e-5, atol=1e-6)


def test_predict_rejects_a_batch_which_is_what_vmap_is_for(params, problem):
    x, _ = problem
    with pytest.raises(TypeError):
        pure_mlp.predict(params, jnp.asarray(x[:5]))  # (5, 20): w @ x has mismatched shapes


def test_batched_predict_equals_a_python_loop_over_predict(params, problem):
    x = jnp.asarray(problem[0][:10])
    batched = pure_mlp.batched_predict(params, x)
    looped = jnp.stack([pure_mlp.predict(params, example) for example in x])
    assert batched.shape == (10, SIZES[-1])
    np.testing.assert_allclose(np.asarray(batched), np.asarray(looped), rtol=1e-6, atol=1e-6)


# --- the slides' loss and one step ---------------------------------------------------------

def test_slides_loss_is_cross_entropy_divided_by_the_number_of_classes(params, problem):
    x, labels = problem
    one_hot = np.eye(SIZES[-1], dtype=np.float32)[labels]
    cross_entropy = -np.mean(np.sum(numpy_log_probs(params, x) * one_hot, axis=1))
    loss = float(pure_mlp.slides_loss(params, jnp.asarray(x), jnp.asarray(one_hot)))
    assert loss == pytest.approx(cross_entropy / SIZES[-1], rel=1e-5)


def test_one_sgd_step_decreases_the_loss_and_leaves_its_input_alone(params, problem):
    x, labels = problem
    one_hot = jnp.asarray(np.eye(SIZES[-1], dtype=np.float32)[labels])
    before = float(pure_mlp.slides_loss(params, jnp.asarray(x), one_hot))
    copy = [(np.asarray(w).copy(), np.asarray(b).copy()) for w, b in params]
    new = pure_mlp.sgd_step(params, jnp.asarray(x), jnp.asarray(labels), 0.5)
    after = float(pure_mlp.slides_loss(new, jnp.asarray(x), one_hot))
    assert after < before
    assert [(w.shape, b.shape) for w, b in new] == [(w.shape, b.shape) for w, b in params]
    assert max_param_diff(params, copy) == 0.0  # pure: the old parameters are unchanged


def test_sgd_step_follows_the_gradient_of_the_slides_loss(params, problem):
    x, labels = problem
    one_hot = jnp.asarray(np.eye(SIZES[-1], dtype=np.float32)[labels])
    grads = jax.grad(pure_mlp.slides_loss)(params, jnp.asarray(x), one_hot)
    expected = [(w - 0.1 * dw, b - 0.1 * db) for (w, b), (dw, db) in zip(params, grads, strict=True)]
    new = pure_mlp.sgd_step(params, jnp.asarray(x), jnp.asarray(labels), 0.1)
    assert max_param_diff(new, expected) < 1e-6


# --- epochs: Python loop and lax.scan ------------------------------------------------------

def test_epoch_scan_equals_epoch_loop_on_the_same_batch_order(params, problem):
    x, labels = jnp.asarray(problem[0]), jnp.asarray(problem[1])
    order = pure_mlp.file_order(len(x), 16, drop_last=True)
    looped = pure_mlp.epoch_loop(params, x, labels, order, 0.5)
    scanned = pure_mlp.epoch_scan(params, x, labels, jnp.asarray(np.stack(order)), 0.5)
    assert max_param_diff(looped, scanned) < 1e-6
    assert max_param_diff(looped, params) > 1e-3  # the epoch did train


def test_epoch_loop_is_the_same_as_stepping_by_hand(params, problem):
    x, labels = problem
    order = pure_mlp.file_order(len(x), 32)
    by_hand = params
    for index in order:
        by_hand = pure_mlp.sgd_step(by_hand, jnp.asarray(x[index]), jnp.asarray(labels[index]), 0.5)
    looped = pure_mlp.epoch_loop(params, jnp.asarray(x), jnp.asarray(labels), order, 0.5)
    assert max_param_diff(looped, by_hand) < 1e-6


def test_file_order_takes_batches_in_dataset_order():
    order = pure_mlp.file_order(10, 4)
    assert [list(batch) for batch in order] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = pure_mlp.file_order(10, 4, drop_last=True)
    assert [list(batch) for batch in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(pure_mlp.file_order(60_000, 128)) == 469  # the slides' MNIST epoch: 468 full + 96
    assert len(pure_mlp.file_order(60_000, 128, drop_last=True)) == 468
    assert np.array_equal(np.concatenate(pure_mlp.file_order(1000, 128)), np.arange(1000))


@pytest.mark.parametrize(("n", "batch_size"), [(0, 4), (-3, 4), (10, 0), (10, -1)])
def test_file_order_rejects_non_positive_sizes(n, batch_size):
    with pytest.raises(ValueError, match="must be >= 1"):
        pure_mlp.file_order(n, batch_size)


# --- accuracy -------------------------------------------------------------------------------

def test_accuracy_on_a_known_case_across_evaluation_batches():
    # One linear layer equal to the identity: the predicted class of a one-hot image is its hot index.
    params = [(jnp.eye(4), jnp.zeros(4))]
    images = jnp.asarray(np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 2, 3]])
    labels = jnp.asarray([0, 1, 2, 0, 0, 1, 3, 3])  # 6 of 8 right
    assert pure_mlp.accuracy(params, images, labels) == pytest.approx(0.75)
    assert pure_mlp.accuracy(params, images, labels, batch_size=3) == pytest.approx(0.75)
    assert pure_mlp.accuracy(params, images, jnp.asarray([0, 1, 2, 3] * 2)) == 1.0
