"""The tiny network of "An introduction to JAX", written by hand in plain JAX.

A network here is a list of kernels, one ``(in, out)`` matrix per layer and no biases, as in
the post: ReLU between layers, a sigmoid at the end, one probability per example. Every
function is pure (arrays in, arrays out), which is what lets ``jax.grad``, ``jax.jit`` and
``jax.vmap`` transform it. ``fwcompare.torch_impl.tiny`` has the same functions for PyTorch;
both Flax backends re-export these and add the network as a module (``Net``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

# Added inside the logarithms of the naive loss so that a probability of exactly 0 or 1
# gives a large finite loss instead of inf (the post's choice).
EPS = 1e-8


def check_layers(layers: Sequence[jax.Array]) -> None:
    """Reject a layer list that cannot be chained: empty, not 2-D, or mismatched shapes."""
    if len(layers) == 0:
        raise ValueError("layers is empty: pass at least one (in, out) kernel")
    for index, kernel in enumerate(layers):
        if jnp.ndim(kernel) != 2:
            raise ValueError(f"layers[{index}] must be a 2-D (in, out) kernel, "
                             f"got shape {jnp.shape(kernel)}")
    for index in range(1, len(layers)):
        fan_out, fan_in = jnp.shape(layers[index - 1])[1], jnp.shape(layers[index])[0]
        if fan_out != fan_in:
            raise ValueError(f"layers[{index}] has {fan_in} input rows but layers[{index - 1}] "
                             f"has {fan_out} output columns; they must be equal")


def _check_input(x: jax.Array, layers: Sequence[jax.Array]) -> None:
    check_layers(layers)
    fan_in = jnp.shape(layers[0])[0]
    if jnp.ndim(x) == 0 or jnp.shape(x)[-1] != fan_in:
        raise ValueError(f"x has shape {jnp.shape(x)} but layers[0] expects {fan_in} features "
                         f"in its last axis")


def _check_target(target: jax.Array, prediction: jax.Array) -> None:
    # Without this check a (batch,) target broadcasts against a (batch, 1) prediction into a
    # (batch, batch) grid and the loss quietly averages the wrong pairs.
    if jnp.shape(target) != jnp.shape(prediction):
        raise ValueError(f"target has shape {jnp.shape(target)} but the prediction has shape "
                         f"{jnp.shape(prediction)}; they must be equal (reshape the target)")


def _check_learning_rate(learning_rate: float) -> None:
    # Under jax.jit the rate is a tracer without a value; it can only be checked when concrete.
    if isinstance(learning_rate, int | float) and not learning_rate > 0:
        raise ValueError(f"learning_rate={learning_rate!r} must be > 0")


def predict_logits(x: jax.Array, layers: Sequence[jax.Array]) -> jax.Array:
    """The network's output before the final sigmoid: ``(batch, in) -> (batch, out)``.

    Also accepts one example of shape ``(in,)``, which is what ``jax.vmap`` passes.
    """
    _check_input(x, layers)
    for kernel in layers[:-1]:
        x = jax.nn.relu(x @ kernel)  # (batch, fan_in) @ (fan_in, fan_out) -> (batch, fan_out)
    return x @ layers[-1]  # (batch, out)


def predict(x: jax.Array, layers: Sequence[jax.Array]) -> jax.Array:
    """Probabilities: matmul and ReLU per hidden layer, a sigmoid at the end. ``(batch, out)``."""
    return jax.nn.sigmoid(predict_logits(x, layers))


def binary_cross_entropy(probs: jax.Array, target: jax.Array, eps: float = EPS) -> jax.Array:
    """Mean binary cross-entropy of probabilities, written as the formula reads (the naive form).

    Once a sigmoid has rounded to exactly 0 or 1 the information is gone: with ``eps`` the
    loss is capped near ``-log(eps)`` and its gradient is zero; with ``eps=0`` it is inf.
    """
    _check_target(target, probs)
    log_p = jnp.log(probs + eps)
    log_not_p = jnp.log(1 - probs + eps)
    return -jnp.mean(target * log_p + (1 - target) * log_not_p)


def binary_cross_entropy_with_logits(logits: jax.Array, target: jax.Array) -> jax.Array:
    """Mean binary cross-entropy computed from pre-sigmoid values: the numerically stable form.

    ``log(sigmoid(z))`` is evaluated as ``-softplus(-z)`` without forming the probability, so
    the loss stays exact (about ``|z|`` when wrong) and its gradient stays ``sigmoid(z) - target``.
    """
    _check_target(target, logits)
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, target))


def loss_fn(x: jax.Array, target: jax.Array, layers: Sequence[jax.Array]) -> jax.Array:
    """The post's loss: naive binary cross-entropy of the network's probabilities."""
    return binary_cross_entropy(predict(x, layers), target)


def stable_loss_fn(x: jax.Array, target: jax.Array, layers: Sequence[jax.Array]) -> jax.Array:
    """The same loss from the logits, stable for confident predictions."""
    return binary_cross_entropy_with_logits(predict_logits(x, layers), target)


def layer_gradients(x: jax.Array, target: jax.Array, layers: Sequence[jax.Array]) -> list[jax.Array]:
    """d loss_fn / d layers: a list shaped like ``layers``.

    ``jax.grad`` differentiates with respect to argument 0 unless told otherwise, and argument 0
    is the input ``x``; ``argnums=2`` selects ``layers``.
    """
    return jax.grad(loss_fn, argnums=2)(x, target, layers)


def update_step(x: jax.Array, target: jax.Array, layers: Sequence[jax.Array],
                learning_rate: float) -> list[jax.Array]:
    """One step of plain SGD. Returns new layers; the caller's list is left as it was.

    Being pure, the function behaves the same whether or not it is wrapped in ``jax.jit``.
    """
    _check_learning_rate(learning_rate)
    grads = layer_gradients(x, target, layers)
    return [kernel - learning_rate * grad for kernel, grad in zip(layers, grads, strict=True)]


def loss_second_derivative(logit: jax.Array, target: jax.Array) -> jax.Array:
    """d^2 loss / d logit^2 for one logit, by applying ``jax.grad`` twice.

    ``grad`` returns an ordinary function, so it can be transformed again; the exact answer
    is ``sigmoid(logit) * (1 - sigmoid(logit))``.
    """
    def loss_of_logit(z):
        return binary_cross_entropy_with_logits(z, target)

    return jax.grad(jax.grad(loss_of_logit))(logit)
