"""Flax NNX models. As in PyTorch, a module creates its weights when it is constructed and holds them.

What differs from PyTorch: the random numbers come from an explicit ``nnx.Rngs(seed)`` passed to
the constructor (no global generator), every layer is told its input size (``nnx.Linear(in, out)``,
like ``torch.nn.Linear``, unlike Linen, which infers it from an example input), and convolutions
work channels last, ``(N, H, W, C)``. The architectures are those of ``linen_impl.models``, and
``to_linen`` / ``from_linen`` convert between the two Flax APIs with the same weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fwcompare.jax_common.layers import (
    CNN_FEATURES,
    check_layer_count,
    check_layer_shapes,
    initializers,
    to_flax_layout,
    to_torch_layout,
)
from fwcompare.linen_impl import models as linen_models
from fwcompare.linen_impl.models import LinenModel

IMAGE_PIXELS = 28 * 28
NUM_CLASSES = 10

__all__ = ["CNN", "IMAGE_PIXELS", "MLP", "NUM_CLASSES", "count_parameters", "create_mlp", "create_model",
           "export_layers", "from_linen", "import_layers", "initializers", "model_for", "to_linen"]


class MLP(nnx.Module):
    """Flatten, then ``Linear -> relu`` per hidden width, then ``Linear`` to the logits.

    ``rngs`` is keyword-only and has no default: an NNX module draws its initial weights when it
    is built, so it must be handed its random stream, e.g. ``MLP((128,), rngs=nnx.Rngs(0))``.
    """

    def __init__(self, hidden: Sequence[int] = (128,), in_features: int = IMAGE_PIXELS,
                 num_classes: int = NUM_CLASSES, init_scheme: str = "default", *, rngs: nnx.Rngs):
        self.init_scheme = init_scheme  # kept so that to_linen builds the same Linen module
        widths = [in_features, *hidden, num_classes]
        # nnx.List, not a plain list: NNX 0.12 rejects modules inside a plain list attribute
        # (it would be static, not part of the model's state).
        self.layers = nnx.List([nnx.Linear(fan_in, fan_out, rngs=rngs, **initializers(init_scheme, fan_in))
                                for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True)])

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape((x.shape[0], -1))  # (batch, 28, 28) or (batch, 784) -> (batch, 784)
        for layer in self.layers[:-1]:
            x = nnx.relu(layer(x))  # (batch, width)
        return self.layers[-1](x)  # (batch, classes)


class CNN(nnx.Module):
    """conv32 3x3 - relu - avgpool 2 - conv64 3x3 - relu - avgpool 2 - dense256 - relu - dense10.

    Takes ``(batch, 28, 28)`` images. Flax convolutions want channels last, ``(N, H, W, C)``,
    and pad ``"SAME"`` by default, so a 3x3 convolution keeps the image size.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, init_scheme: str = "default", *, rngs: nnx.Rngs):
        self.init_scheme = init_scheme
        # Layers are attributes created input side first: export_layers reads them in this order.
        self.conv1 = nnx.Conv(1, 32, (3, 3), rngs=rngs, **initializers(init_scheme, 1 * 3 * 3))
        self.conv2 = nnx.Conv(32, 64, (3, 3), rngs=rngs, **initializers(init_scheme, 32 * 3 * 3))
        flat = math.prod(CNN_FEATURES)  # 7 * 7 * 64 = 3136
        self.dense1 = nnx.Linear(flat, 256, rngs=rngs, **initializers(init_scheme, flat))
        self.dense2 = nnx.Linear(256, num_classes, rngs=rngs, **initializers(init_scheme, 256))

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x[..., None]  # (N, 28, 28) -> (N, 28, 28, 1)
        x = nnx.avg_pool(nnx.relu(self.conv1(x)), window_shape=(2, 2), strides=(2, 2))  # (N, 14, 14, 32)
        x = nnx.avg_pool(nnx.relu(self.conv2(x)), window_shape=(2, 2), strides=(2, 2))  # (N, 7, 7, 64)
        x = x.reshape((x.shape[0], -1))  # (N, 3136), flattened in (height, width, channel) order
        x = nnx.relu(self.dense1(x))  # (N, 256)
        return self.dense2(x)  # (N, classes)


def create_model(architecture: str, seed: int, hidden: Sequence[int] = (128,),
                 init_scheme: str = "default") -> nnx.Module:
    """An ``"mlp"`` or ``"cnn"`` with its weights drawn from ``nnx.Rngs(seed)``.

    Flax's default initialisation (LeCun normal kernels, zero biases), or PyTorch's (``"torch"``).
    The same seed gives the same weights every time: the stream is the module's argument, not
    global state.
    """
    if architecture == "mlp":
        return MLP(tuple(hidden), init_scheme=init_scheme, rngs=nnx.Rngs(seed))
    if architecture == "cnn":
        return CNN(init_scheme=init_scheme, rngs=nnx.Rngs(seed))
    raise ValueError(f"architecture={architecture!r} is unknown; allowed: mlp, cnn")


def create_mlp(hidden: Sequence[int], seed: int, init_scheme: str = "default") -> MLP:
    """An MLP by Flax's default initialisation (or PyTorch's: ``"torch"``) drawn from ``seed``."""
    return create_model("mlp", seed, hidden, init_scheme)


def model_for(config) -> nnx.Module:
    """The model an experiment configuration (``MLPConfig``, ``CNNConfig``) describes, initialised."""
    return create_model(config.architecture, config.seed, config.hidden, config.init_scheme)


def count_parameters(model: nnx.Module) -> int:
    """The number of trainable numbers: the sizes of every ``nnx.Param`` of ``model``."""
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))


def _weighted_layers(node: Any) -> list[nnx.Linear | nnx.Conv]:
    """The layers that hold weights, in the order the modules were assigned (PyTorch's ``modules()``
    order: input side first). ``nnx.iter_modules`` would sort them by attribute name instead."""
    if isinstance(node, (nnx.Linear, nnx.Conv)):
        return [node]
    if isinstance(node, nnx.List):  # a List is a Module too: take its items, not its attributes
        children = list(node)
    elif isinstance(node, nnx.Module):
        children = list(vars(node).values())
    else:
        return []
    return [layer for child in children for layer in _weighted_layers(child)]


def _first_dense_after_conv(layers: Sequence[nnx.Module]) -> int | None:
    """Index of the dense layer that reads the flattened feature maps (its rows need reordering)."""
    if not any(isinstance(layer, nnx.Conv) for layer in layers):
        return None
    return next(i for i, layer in enumerate(layers) if isinstance(layer, nnx.Linear))


def export_layers(model: nnx.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights as NumPy ``(weight, bias)`` pairs in PyTorch's layout, first layer first.

    ``variable[...]`` reads a ``Variable``'s array (``.value`` is deprecated since Flax 0.12).
    """
    layers = _weighted_layers(model)
    first_dense = _first_dense_after_conv(layers)
    return [(to_torch_layout(layer.kernel[...], index == first_dense), np.asarray(layer.bias[...]).copy())
            for index, layer in enumerate(layers)]


def import_layers(model: nnx.Module, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> nnx.Module:
    """Copy ``(weight, bias)`` pairs (PyTorch's layout) into ``model``, in place; returns ``model``.

    Every pair is checked before any is written, so a list that does not fit leaves the model
    as it was.
    """
    targets = _weighted_layers(model)
    check_layer_count(len(targets), layers)
    first_dense = _first_dense_after_conv(targets)
    for index, (layer, (weight, bias)) in enumerate(zip(targets, layers, strict=True)):
        check_layer_shapes(index, layer.kernel.shape, layer.bias.shape, weight, bias, index == first_dense)
    for index, (layer, (weight, bias)) in enumerate(zip(targets, layers, strict=True)):
        layer.kernel.set_value(jnp.asarray(to_flax_layout(weight, index == first_dense), layer.kernel.dtype))
        layer.bias.set_value(jnp.asarray(bias, layer.bias.dtype))
    return model


def _kernel_and_bias(layer: nnx.Linear | nnx.Conv) -> dict[str, jax.Array]:
    # jnp.array copies: the two models must not share buffers, because Linen's
    # train_epoch_scan donates (frees) the buffers of the state it is given.
    return {"kernel": jnp.array(layer.kernel[...]), "bias": jnp.array(layer.bias[...])}


def to_linen(model: nnx.Module) -> LinenModel:
    """The same network as a Flax Linen ``LinenModel(module, params)``, holding a copy of the weights.

    Both Flax APIs store kernels alike (dense ``(in, out)``, convolution ``(kh, kw, in, out)``),
    so the arrays move as they are; only the names change: NNX's attributes (``layers[0]``,
    ``conv1``) become Linen's automatic names (``Dense_0``, ``Conv_0``).
    """
    if not isinstance(model, (MLP, CNN)):
        raise TypeError(f"model must be an nnx_impl MLP or CNN, got {type(model).__name__}")
    layers = _weighted_layers(model)
    convs = [layer for layer in layers if isinstance(layer, nnx.Conv)]
    denses = [layer for layer in layers if isinstance(layer, nnx.Linear)]
    if isinstance(model, CNN):
        module = linen_models.CNN(num_classes=model.dense2.out_features, init_scheme=model.init_scheme)
    else:
        module = linen_models.MLP(hidden=tuple(layer.out_features for layer in denses[:-1]),
                                  num_classes=denses[-1].out_features, init_scheme=model.init_scheme)
    params = {**{f"Conv_{i}": _kernel_and_bias(layer) for i, layer in enumerate(convs)},
              **{f"Dense_{i}": _kernel_and_bias(layer) for i, layer in enumerate(denses)}}
    return LinenModel(module, params)


def _numbered(params: dict, kind: str) -> list[dict]:
    """``params["Dense_0"], params["Dense_1"], ...`` (numerically: Dense_10 after Dense_9)."""
    names = sorted((name for name in params if name.startswith(f"{kind}_")),
                   key=lambda name: int(name.rsplit("_", 1)[1]))
    return [params[name] for name in names]


def from_linen(model) -> nnx.Module:
    """An NNX ``MLP`` or ``CNN`` holding a copy of the weights of a Linen model.

    ``model`` is a ``LinenModel``, a ``TrainState`` or a bare parameter tree. The layer sizes are
    read from the kernels' shapes. The NNX model is built with ``nnx.eval_shape``, which creates
    its structure without drawing initial weights that would be overwritten at once.
    """
    params = model.params if hasattr(model, "params") else model
    # A TrainState has no module, but its apply_fn is the module's bound apply method.
    module = model.module if isinstance(model, LinenModel) else getattr(getattr(model, "apply_fn", None),
                                                                          "__self__", None)
    init_scheme = getattr(module, "init_scheme", "default")
    convs, denses = _numbered(params, "Conv"), _numbered(params, "Dense")
    if len(convs) + len(denses) != len(params) or not denses:
        raise ValueError(f"params must hold Conv_i and Dense_i layers only, got {sorted(params)}")
    if convs:
        if (len(convs), len(denses)) != (2, 2):
            raise ValueError(f"a CNN has Conv_0, Conv_1, Dense_0 and Dense_1, got {sorted(params)}")
        num_classes = denses[-1]["kernel"].shape[1]
        nnx_model = nnx.eval_shape(lambda: CNN(num_classes, init_scheme, rngs=nnx.Rngs(0)))
    else:
        kernels = [dense["kernel"] for dense in denses]  # (in, out) each
        hidden = tuple(kernel.shape[1] for kernel in kernels[:-1])
        nnx_model = nnx.eval_shape(lambda: MLP(hidden, kernels[0].shape[0], kernels[-1].shape[1], init_scheme,
                                               rngs=nnx.Rngs(0)))
    for index, (layer, tree) in enumerate(zip(_weighted_layers(nnx_model), convs + denses, strict=True)):
        expected = (tuple(layer.kernel.shape), tuple(layer.bias.shape))
        got = (tuple(tree["kernel"].shape), tuple(tree["bias"].shape))
        if got != expected:
            raise ValueError(f"layer {index}: expected kernel and bias shapes {expected}, got {got}")
        layer.kernel.set_value(jnp.array(tree["kernel"]))  # copies, as in to_linen
        layer.bias.set_value(jnp.array(tree["bias"]))
    return nnx_model
