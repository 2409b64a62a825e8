"""Flax (linen) models. A module holds no weights: ``init`` returns them as a separate tree."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

IMAGE_PIXELS = 28 * 28
NUM_CLASSES = 10


class MLP(nn.Module):
    """Flatten, then ``Dense -> relu`` per hidden width, then ``Dense`` to the logits."""

    hidden: Sequence[int] = (128,)
    num_classes: int = NUM_CLASSES

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape((x.shape[0], -1))  # (batch, 28, 28) or (batch, 784) -> (batch, 784)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.num_classes)(x)  # (batch, classes)


def create_mlp(hidden: Sequence[int], seed: int) -> tuple[MLP, dict]:
    """The module and its parameters, initialised by Flax's defaults from ``jax.random.key(seed)``.

    Shapes are inferred from an example input, so ``init`` needs one; its batch size does not matter.
    """
    model = MLP(tuple(hidden))
    params = model.init(jax.random.key(seed), jnp.zeros((1, IMAGE_PIXELS), jnp.float32))["params"]
    return model, params


def count_parameters(params) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(params))


def _dense_names(params) -> list[str]:
    # Flax names compact submodules Dense_0, Dense_1, ...; sort numerically, not as text.
    return sorted(params, key=lambda name: int(name.rsplit("_", 1)[1]))


def export_layers(params) -> list[tuple[np.ndarray, np.ndarray]]:
    """The dense layers as NumPy ``(weight (out, in), bias (out,))`` pairs, PyTorch's layout.

    Flax stores a kernel as ``(in, out)`` and computes ``x @ kernel``; PyTorch stores
    ``(out, in)`` and computes ``x @ weight.T``. Exchanging weights means transposing.
    """
    return [(np.asarray(params[name]["kernel"]).T.copy(), np.asarray(params[name]["bias"]).copy())
            for name in _dense_names(params)]


def import_layers(params, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict:
    """A new parameter tree with ``(weight (out, in), bias)`` pairs put in place of ``params``'s."""
    names = _dense_names(params)
    if len(names) != len(layers):
        raise ValueError(f"params have {len(names)} dense layers, got {len(layers)} weight pairs")
    updated = {}
    for index, (name, (weight, bias)) in enumerate(zip(names, layers, strict=True)):
        expected = (tuple(params[name]["kernel"].shape[::-1]), tuple(params[name]["bias"].shape))
        if (tuple(weight.shape), tuple(bias.shape)) != expected:
            raise ValueError(f"layer {index}: expected weight and bias shapes {expected}, "
                             f"got {(tuple(weight.shape), tuple(bias.shape))}")
        updated[name] = {"kernel": jnp.asarray(weight.T), "bias": jnp.asarray(bias)}
    return updated
