"""Flax's side of weight exchange and initialisation, the same for Linen and NNX layers.

Flax stores a dense kernel as ``(in, out)`` and computes ``x @ kernel``; PyTorch stores
``(out, in)``. Convolutions: Flax ``(kh, kw, in, out)``, PyTorch ``(out, in, kh, kw)``. And
Flax flattens feature maps channels-last, PyTorch channels-first, so the first dense layer
after a convolution also has its input rows reordered. ``export_layers`` / ``import_layers``
of both Flax backends move weights through PyTorch's layout, the neutral format of the book.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

CNN_FEATURES = (7, 7, 64)  # (height, width, channels) that the CNN's first dense layer sees


def torch_bias_init(fan_in: int):
    """PyTorch's default bias: uniform in +-1/sqrt(fan_in). Flax's initialisers do not see
    fan_in for a bias, so the layer passes it in."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def initializers(init_scheme: str, fan_in: int) -> dict:
    """``kernel_init``/``bias_init`` for a layer: Flax's defaults, or PyTorch's scheme."""
    if init_scheme in ("default", "flax"):
        return {}
    if init_scheme == "torch":
        # uniform in +-1/sqrt(fan_in) = variance 1/(3 fan_in): PyTorch's kaiming_uniform(a=sqrt(5))
        return {"kernel_init": jax.nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
                "bias_init": torch_bias_init(fan_in)}
    raise ValueError(f"init_scheme={init_scheme!r} is unknown; allowed: default, torch, flax")


def to_torch_layout(kernel: np.ndarray, after_conv: bool = False) -> np.ndarray:
    """A Flax kernel in PyTorch's layout. ``after_conv``: the first dense layer after the convolutions."""
    kernel = np.asarray(kernel)
    if kernel.ndim == 4:  # conv (kh, kw, in, out) -> (out, in, kh, kw)
        return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
    if after_conv:  # rows in (h, w, c) order -> columns in PyTorch's (c, h, w) order
        return np.ascontiguousarray(
            kernel.reshape(*CNN_FEATURES, -1).transpose(3, 2, 0, 1).reshape(kernel.shape[1], -1))
    return np.ascontiguousarray(kernel.T)  # dense (in, out) -> (out, in)


def to_flax_layout(weight: np.ndarray, after_conv: bool = False) -> np.ndarray:
    """A PyTorch weight in Flax's layout: the inverse of ``to_torch_layout``."""
    weight = np.asarray(weight)
    if weight.ndim == 4:  # conv (out, in, kh, kw) -> (kh, kw, in, out)
        return weight.transpose(2, 3, 1, 0)
    if after_conv:
        height, width, channels = CNN_FEATURES
        return weight.reshape(-1, channels, height, width).transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])
    return weight.T


def check_layer_count(expected: int, layers) -> None:
    if expected != len(layers):
        raise ValueError(f"model has {expected} weighted layers, got {len(layers)} weight pairs")


def check_layer_shapes(index: int, kernel_shape, bias_shape, weight, bias, after_conv: bool) -> None:
    """Reject a ``(weight, bias)`` pair (PyTorch's layout) that does not fit a Flax layer."""
    torch_shape = to_torch_layout(np.zeros(kernel_shape), after_conv).shape
    if (tuple(np.shape(weight)), tuple(np.shape(bias))) != (torch_shape, tuple(bias_shape)):
        expected = (torch_shape, tuple(bias_shape))
        raise ValueError(f"layer {index}: expected weight and bias shapes {expected}, "
                         f"got {(tuple(np.shape(weight)), tuple(np.shape(bias)))}")
