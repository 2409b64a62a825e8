"""Flax Linen models. A module holds no weights: ``init`` returns them as a separate tree.

A Linen *model* in this book is therefore a ``LinenModel(module, params)`` pair, which
unpacks as ``module, params = create_model(...)``; a ``TrainState`` carries the same two
things (``apply_fn`` and ``params``) and is accepted wherever a model is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fwcompare.jax_common.layers import (
    check_layer_count,
    check_layer_shapes,
    initializers,
    to_flax_layout,
    to_torch_layout,
)

IMAGE_PIXELS = 28 * 28
NUM_CLASSES = 10

__all__ = ["CNN", "IMAGE_PIXELS", "MLP", "NUM_CLASSES", "LinenModel", "count_parameters", "create_mlp",
           "create_model", "export_layers", "import_layers", "initializers", "model_for"]


class MLP(nn.Module):
    """Flatten, then ``Dense -> relu`` per hidden width, then ``Dense`` to the logits."""

    hidden: Sequence[int] = (128,)
    num_classes: int = NUM_CLASSES
    init_scheme: str = "default"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape((x.shape[0], -1))  # (batch, 28, 28) or (batch, 784) -> (batch, 784)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, **initializers(self.init_scheme, x.shape[-1]))(x))
        logits = nn.Dense(self.num_classes, **initializers(self.init_scheme, x.shape[-1]))(x)
        return logits  # (batch, classes)


class CNN(nn.Module):
    """conv32 3x3 - relu - avgpool 2 - conv64 3x3 - relu - avgpool 2 - dense256 - relu - dense10.

    Takes ``(batch, 28, 28)`` images; Flax convolutions want channels last, ``(N, H, W, C)``,
    and pad ``"SAME"`` by default, so a 3x3 convolution keeps the image size.
    """

    num_classes: int = NUM_CLASSES
    init_scheme: str = "default"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x[..., None]  # (N, 28, 28) -> (N, 28, 28, 1)
        for features in (32, 64):
            fan_in = x.shape[-1] * 3 * 3
            x = nn.relu(nn.Conv(features, (3, 3), **initializers(self.init_scheme, fan_in))(x))
            x = nn.avg_pool(x, window_shape=(2, 2), strides=(2, 2))  # (N, 14, 14, 32), then (N, 7, 7, 64)
        x = x.reshape((x.shape[0], -1))  # (N, 3136), flattened in (height, width, channel) order
        x = nn.relu(nn.Dense(256, **initializers(self.init_scheme, x.shape[-1]))(x))
        return nn.Dense(self.num_classes, **initializers(self.init_scheme, x.shape[-1]))(x)


class LinenModel(NamedTuple):
    """A Linen module and its parameter tree: what a PyTorch or NNX module holds in one object."""

    module: nn.Module
    params: Any

    @property
    def apply_fn(self):
        """``module.apply``, named as in ``TrainState`` so that both can be evaluated alike."""
        return self.module.apply


def create_model(architecture: str, seed: int, hidden: Sequence[int] = (128,),
                 init_scheme: str = "default") -> LinenModel:
    """An ``"mlp"`` or ``"cnn"`` and its parameters, initialised from ``jax.random.key(seed)``.

    Shapes are inferred from an example input, so ``init`` needs one; its batch size does not
    matter. ``init`` returns the module's *variables*; the weights are the ``"params"`` collection.
    """
    if architecture == "mlp":
        module = MLP(tuple(hidden), init_scheme=init_scheme)
    elif architecture == "cnn":
        module = CNN(init_scheme=init_scheme)
    else:
        raise ValueError(f"architecture={architecture!r} is unknown; allowed: mlp, cnn")
    variables = module.init(jax.random.key(seed), jnp.zeros((1, 28, 28), jnp.float32))
    return LinenModel(module, variables["params"])


def create_mlp(hidden: Sequence[int], seed: int, init_scheme: str = "default") -> LinenModel:
    """An MLP and its parameters, by Flax's default initialisation (or PyTorch's: ``"torch"``)."""
    return create_model("mlp", seed, hidden, init_scheme)


def model_for(config) -> LinenModel:
    """The model an experiment configuration (``MLPConfig``, ``CNNConfig``) describes, initialised."""
    return create_model(config.architecture, config.seed, config.hidden, config.init_scheme)


def _params_of(model) -> Any:
    """The parameter tree of a ``LinenModel``, a ``TrainState`` or a bare tree."""
    return model.params if hasattr(model, "params") else model


def count_parameters(model) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(_params_of(model)))


def _layer_names(params) -> list[str]:
    # Flax names compact submodules Conv_0, Conv_1, Dense_0, ...; convolutions come first in
    # these models. Sort the index numerically, not as text (Dense_10 after Dense_9).
    def order(name: str) -> tuple[int, int]:
        kind, index = name.rsplit("_", 1)
        return (0 if kind == "Conv" else 1, int(index))

    return sorted(params, key=order)


def export_layers(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights as NumPy ``(weight, bias)`` pairs in PyTorch's layout, first layer first.

    ``model`` is a ``LinenModel``, a ``TrainState`` or a parameter tree.
    """
    params = _params_of(model)
    after_conv = "Conv_0" in params
    return [(to_torch_layout(params[name]["kernel"], after_conv and name == "Dense_0"),
             np.asarray(params[name]["bias"]).copy())
            for name in _layer_names(params)]


def import_layers(model, layers: Sequence[tuple[np.ndarray, np.ndarray]]):
    """``model`` with ``(weight, bias)`` pairs (PyTorch's layout) in place of its weights.

    Nothing is changed in place: a ``LinenModel`` or ``TrainState`` comes back as a new one
    holding the new parameters; a bare parameter tree comes back as a new tree.
    """
    params = _params_of(model)
    names = _layer_names(params)
    check_layer_count(len(names), layers)
    after_conv = "Conv_0" in params
    updated = {}
    for index, (name, (weight, bias)) in enumerate(zip(names, layers, strict=True)):
        first_dense = after_conv and name == "Dense_0"
        check_layer_shapes(index, params[name]["kernel"].shape, params[name]["bias"].shape,
                           weight, bias, first_dense)
        updated[name] = {"kernel": jnp.asarray(to_flax_layout(weight, first_dense)),
                         "bias": jnp.asarray(bias)}
    return _with_params(model, updated)


def _with_params(model, params):
    """``model`` holding ``params``: a new ``LinenModel`` or ``TrainState``, or the tree itself."""
    if isinstance(model, LinenModel):
        return model._replace(params=params)
    return model.replace(params=params) if hasattr(model, "params") else params
