"""The tiny network of "An introduction to JAX": the hand-written functions (plain JAX, shared
with ``nnx_impl``: ``fwcompare.jax_common.tiny``) and the same network as a Flax Linen module."""

from __future__ import annotations

import flax.linen as nn
import jax

from fwcompare.jax_common.tiny import (
    EPS,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    check_layers,
    layer_gradients,
    loss_fn,
    loss_second_derivative,
    predict,
    predict_logits,
    stable_loss_fn,
    update_step,
)

__all__ = ["EPS", "Net", "binary_cross_entropy", "binary_cross_entropy_with_logits", "check_layers",
           "layer_gradients", "loss_fn", "loss_second_derivative", "predict", "predict_logits",
           "stable_loss_fn", "update_step"]


class Net(nn.Module):
    """The network in Linen: Dense(hidden) -> relu -> Dense(1) -> sigmoid.

    The module holds no numbers; ``Net().init(key, example)`` returns its
    parameters, whose shapes Flax reads from the last axis of the example input.
    """

    hidden: int = 4

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(self.hidden)(x))  # (batch, in) -> (batch, hidden)
        return nn.sigmoid(nn.Dense(1)(x))  # (batch, 1)
