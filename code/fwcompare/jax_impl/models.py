"""Flax (linen) models. A module holds no weights: ``init`` returns them as a separate tree."""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

IMAGE_PIXELS = 28 * 28
NUM_CLASSES = 10
CNN_FEATURES = (7, 7, 64)  # (height, width, channels) that the CNN's first dense layer sees


def _torch_bias_init(fan_in: int):
    """PyTorch's default bias: uniform in +-1/sqrt(fan_in). Flax's initialisers do not see
    fan_in for a bias, so the layer passes it in."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _initialisers(init_scheme: str, fan_in: int) -> dict:
    """``kernel_init``/``bias_init`` for a layer: Flax's defaults, or PyTorch's scheme."""
    if init_scheme in ("default", "flax"):
        return {}
    if init_scheme == "torch":
        # uniform in +-1/sqrt(fan_in) = variance 1/(3 fan_in): PyTorch's kaiming_uniform(a=sqrt(5))
        return {"kernel_init": nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
                "bias_init": _torch_bias_init(fan_in)}
    raise ValueError(f"init_scheme={init_scheme!r} is unknown; allowed: default, torch, flax")


class MLP(nn.Module):
    """Flatten, then ``Dense -> relu`` per hidden width, then ``Dense`` to the logits."""

    hidden: Sequence[int] = (128,)
    num_classes: int = NUM_CLASSES
    init_scheme: str = "default"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape((x.shape[0], -1))  # (batch, 28, 28) or (batch, 784) -> (batch, 784)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, **_initialisers(self.init_scheme, x.shape[-1]))(x))
        logits = nn.Dense(self.num_classes, **_initialisers(self.init_scheme, x.shape[-1]))(x)
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
            x = nn.relu(nn.Conv(features, (3, 3), **_initialisers(self.init_scheme, fan_in))(x))
            x = nn.avg_pool(x, window_shape=(2, 2), strides=(2, 2))  # (N, 14, 14, 32), then (N, 7, 7, 64)
        x = x.reshape((x.shape[0], -1))  # (N, 3136), flattened in (height, width, channel) order
        x = nn.relu(nn.Dense(256, **_initialisers(self.init_scheme, x.shape[-1]))(x))
        return nn.Dense(self.num_classes, **_initialisers(self.init_scheme, x.shape[-1]))(x)


def create_model(architecture: str, seed: int, hidden: Sequence[int] = (128,),
                 init_scheme: str = "default") -> tuple[nn.Module, dict]:
    """An ``"mlp"`` or ``"cnn"`` and its parameters, initialised from ``jax.random.key(seed)``.

    Shapes are inferred from an example input, so ``init`` needs one; its batch size does not matter.
    """
    if architecture == "mlp":
        model = MLP(tuple(hidden), init_scheme=init_scheme)
    elif architecture == "cnn":
        model = CNN(init_scheme=init_scheme)
    else:
        raise ValueError(f"architecture={architecture!r} is unknown; allowed: mlp, cnn")
    params = model.init(jax.random.key(seed), jnp.zeros((1, 28, 28), jnp.float32))["params"]
    return model, params


def create_mlp(hidden: Sequence[int], seed: int, init_scheme: str = "default") -> tuple[MLP, dict]:
    """An MLP and its parameters, by Flax's default initialisation (or PyTorch's: ``"torch"``)."""
    return create_model("mlp", seed, hidden, init_scheme)


def model_for(config) -> tuple[nn.Module, dict]:
    """The model an experiment configuration (``MLPConfig``, ``CNNConfig``) describes, initialised."""
    return create_model(config.architecture, config.seed, config.hidden, config.init_scheme)


def count_parameters(params) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(params))


def _layer_names(params) -> list[str]:
    # Flax names compact submodules Conv_0, Conv_1, Dense_0, ...; convolutions come first in
    # these models. Sort the index numerically, not as text (Dense_10 after Dense_9).
    def order(name: str) -> tuple[int, int]:
        kind, index = name.rsplit("_", 1)
        return (0 if kind == "Conv" else 1, int(index))

    return sorted(params, key=order)


def _to_torch_layout(name: str, kernel: np.ndarray, after_conv: bool) -> np.ndarray:
    if kernel.ndim == 4:  # conv (kh, kw, in, out) -> (out, in, kh, kw)
        return kernel.transpose(3, 2, 0, 1)
    if after_conv and name == "Dense_0":  # rows in (h, w, c) order -> columns in PyTorch's (c, h, w) order
        return kernel.reshape(*CNN_FEATURES, -1).transpose(3, 2, 0, 1).reshape(kernel.shape[1], -1)
    return kernel.T  # dense (in, out) -> (out, in)


def _to_flax_layout(name: str, weight: np.ndarray, after_conv: bool) -> np.ndarray:
    if weight.ndim == 4:  # conv (out, in, kh, kw) -> (kh, kw, in, out)
        return weight.transpose(2, 3, 1, 0)
    if after_conv and name == "Dense_0":
        height, width, channels = CNN_FEATURES
        return weight.reshape(-1, channels, height, width).transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])
    return weight.T


def export_layers(params) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights as NumPy ``(weight, bias)`` pairs in PyTorch's layout, first layer first.

    Flax stores a dense kernel as ``(in, out)`` and computes ``x @ kernel``; PyTorch stores
    ``(out, in)``. Convolutions: Flax ``(kh, kw, in, out)``, PyTorch ``(out, in, kh, kw)``.
    And Flax flattens feature maps channels-last, PyTorch channels-first, so the first dense
    layer after a convolution also has its inputs reordered.
    """
    after_conv = "Conv_0" in params
    return [(np.ascontiguousarray(_to_torch_layout(name, np.asarray(params[name]["kernel"]), after_conv)),
             np.asarray(params[name]["bias"]).copy())
            for name in _layer_names(params)]


def import_layers(params, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict:
    """A new parameter tree with ``(weight, bias)`` pairs (PyTorch's layout) in place of ``params``'s."""
    names = _layer_names(params)
    if len(names) != len(layers):
        raise ValueError(f"params have {len(names)} weighted layers, got {len(layers)} weight pairs")
    after_conv = "Conv_0" in params
    updated = {}
    for index, (name, (weight, bias)) in enumerate(zip(names, layers, strict=True)):
        kernel = _to_flax_layout(name, np.asarray(weight), after_conv)
        expected = (tuple(params[name]["kernel"].shape), tuple(params[name]["bias"].shape))
        if (kernel.shape, tuple(bias.shape)) != expected:
            torch_shape = _to_torch_layout(name, np.zeros(expected[0]), after_conv).shape
            raise ValueError(f"layer {index}: expected weight and bias shapes {(torch_shape, expected[1])}, "
                             f"got {(tuple(weight.shape), tuple(bias.shape))}")
        updated[name] = {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
    return updated
