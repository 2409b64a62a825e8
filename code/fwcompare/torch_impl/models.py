"""PyTorch models. Weights live inside the module and are created when it is constructed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

IMAGE_PIXELS = 28 * 28
NUM_CLASSES = 10


class MLP(nn.Module):
    """Flatten, then ``Linear -> ReLU`` per hidden width, then ``Linear`` to the logits."""

    def __init__(self, hidden: Sequence[int] = (128,), in_features: int = IMAGE_PIXELS,
                 num_classes: int = NUM_CLASSES):
        super().__init__()
        widths = [in_features, *hidden]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))  # (batch, 28, 28) or (batch, 784) -> (batch, classes)


def create_mlp(hidden: Sequence[int], seed: int) -> MLP:
    """An MLP with PyTorch's default initialisation drawn from ``seed``.

    PyTorch draws initial weights from its global generator; ``fork_rng`` seeds it for this
    construction only, so creating a model does not disturb the caller's random stream.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(tuple(hidden))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def dense_layers(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def export_layers(model: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """The dense layers as NumPy ``(weight (out, in), bias (out,))`` pairs, first layer first."""
    return [(layer.weight.detach().cpu().numpy().copy(), layer.bias.detach().cpu().numpy().copy())
            for layer in dense_layers(model)]


def import_layers(model: nn.Module, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> nn.Module:
    """Copy ``(weight (out, in), bias)`` pairs into ``model``'s dense layers, in place."""
    targets = dense_layers(model)
    if len(targets) != len(layers):
        raise ValueError(f"model has {len(targets)} dense layers, got {len(layers)} weight pairs")
    with torch.no_grad():
        for index, (layer, (weight, bias)) in enumerate(zip(targets, layers, strict=True)):
            expected = (tuple(layer.weight.shape), tuple(layer.bias.shape))
            if (tuple(weight.shape), tuple(bias.shape)) != expected:
                raise ValueError(f"layer {index}: expected weight and bias shapes {expected}, "
                                 f"got {(tuple(weight.shape), tuple(bias.shape))}")
            layer.weight.copy_(torch.as_tensor(weight))
            layer.bias.copy_(torch.as_tensor(bias))
    return model
