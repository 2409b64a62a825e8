"""The tiny network of "An introduction to JAX": the hand-written functions (plain JAX, shared
with ``linen_impl``: ``fwcompare.jax_common.tiny``) and the same network as a Flax NNX module."""

from __future__ import annotations

import jax
from flax import nnx

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


class Net(nnx.Module):
    """The network in NNX: Linear(hidden) -> relu -> Linear(1) -> sigmoid.

    Written as in PyTorch (``torch_impl.tiny.Net``): the layers are attributes
    created in the constructor, which therefore needs ``in_features``, and the
    weights exist once it returns. What PyTorch draws from its global generator
    NNX draws from ``rngs``: ``Net(rngs=nnx.Rngs(0))``.
    """

    def __init__(self, hidden: int = 4, in_features: int = 2, *,
                 rngs: nnx.Rngs):
        self.hidden = nnx.Linear(in_features, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.relu(self.hidden(x))  # (batch, in) -> (batch, hidden)
        return nnx.sigmoid(self.out(x))  # (batch, 1)
