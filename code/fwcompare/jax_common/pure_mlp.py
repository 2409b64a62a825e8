"""An MLP in plain JAX, no Flax or Optax: parameters are a list of ``(w, b)`` arrays and every
step is a function of them. This is the model of the JAX slides; it exists only on the JAX side.

Two ways to run an epoch on the same batches: a Python loop calling a jitted step (one
dispatch per batch), and one compiled ``lax.scan`` over all batches (one dispatch per epoch).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Params = list[tuple[jax.Array, jax.Array]]


def init_params(sizes: Sequence[int], key: jax.Array, scale: float = 1e-2) -> Params:
    """``(w (out, in), b (out,))`` per layer, both ``scale * normal``, one subkey per array."""
    if len(sizes) < 2:
        raise ValueError(f"sizes={tuple(sizes)!r} needs at least an input and an output size")
    keys = jax.random.split(key, 2 * (len(sizes) - 1))
    return [(scale * jax.random.normal(keys[2 * i], (n_out, n_in)),
             scale * jax.random.normal(keys[2 * i + 1], (n_out,)))
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))]


def predict(params: Params, image: jax.Array) -> jax.Array:
    """Log-probabilities ``(classes,)`` for ONE flattened image ``(784,)``."""
    activations = image
    for w, b in params[:-1]:
        activations = jax.nn.relu(w @ activations + b)
    w, b = params[-1]
    logits = w @ activations + b
    return logits - jax.scipy.special.logsumexp(logits)


# The batched version comes from vmap: map over axis 0 of the images, share the parameters.
batched_predict = jax.vmap(predict, in_axes=(None, 0))


def slides_loss(params: Params, images: jax.Array, one_hot: jax.Array) -> jax.Array:
    """The slides' loss, ``-mean(log_probs * one_hot)``: a mean over batch AND classes, i.e. the
    usual cross-entropy divided by the number of classes (so SGD's step is effectively 10x smaller)."""
    return -jnp.mean(batched_predict(params, images) * one_hot)


def accuracy(params: Params, images: jax.Array, labels: jax.Array, batch_size: int = 10_000) -> float:
    """Fraction of ``images`` whose most likely class is ``labels`` (computed in batches)."""
    correct = 0
    for start in range(0, len(images), batch_size):
        log_probs = _jit_batched_predict(params, images[start:start + batch_size])
        correct += int(jnp.sum(jnp.argmax(log_probs, axis=1) == labels[start:start + batch_size]))
    return correct / len(images)


_jit_batched_predict = jax.jit(batched_predict)


@jax.jit
def sgd_step(params: Params, images: jax.Array, labels: jax.Array, step_size: float) -> Params:
    """One plain-SGD update on a batch; labels are integers, one-hot encoded here."""
    one_hot = jax.nn.one_hot(labels, params[-1][1].shape[0])
    grads = jax.grad(slides_loss)(params, images, one_hot)
    return [(w - step_size * dw, b - step_size * db) for (w, b), (dw, db) in zip(params, grads, strict=True)]


@jax.jit
def _batch(x: jax.Array, y: jax.Array, index: jax.Array) -> tuple[jax.Array, jax.Array]:
    return x[index], y[index]


def epoch_loop(params: Params, x: jax.Array, y: jax.Array, order: Sequence[np.ndarray],
               step_size: float) -> Params:
    """One epoch as a Python loop: a jitted step per batch, batches sliced on the device."""
    for index in order:
        params = sgd_step(params, *_batch(x, y, jnp.asarray(index)), step_size)
    return params


@jax.jit
def epoch_scan(params: Params, x: jax.Array, y: jax.Array, order: jax.Array, step_size: float) -> Params:
    """One epoch as ONE compiled program: ``lax.scan`` over the rows of ``order`` ``(steps, batch)``.

    The whole dataset is on the device; each scan iteration gathers its batch there. Batches
    must all have the same size (scan iterates a fixed-shape body).
    """

    def step(carry: Params, index: jax.Array) -> tuple[Params, None]:
        return sgd_step(carry, x[index], y[index], step_size), None

    params, _ = jax.lax.scan(step, params, order)
    return params


def file_order(n: int, batch_size: int, drop_last: bool = False) -> list[np.ndarray]:
    """Batches in dataset order, as the slides' unshuffled data pipeline produced them."""
    if n < 1 or batch_size < 1:
        raise ValueError(f"n={n!r} and batch_size={batch_size!r} must be >= 1")
    stop = n - n % batch_size if drop_last else n
    if stop == 0:
        raise ValueError(f"drop_last with batch_size={batch_size} > n={n} leaves no batch")
    return [np.arange(start, min(start + batch_size, n)) for start in range(0, stop, batch_size)]
