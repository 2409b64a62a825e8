"""PyTorch models. Weights live inside the module and are created when it is constructed."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

IMAGE_PIXELS = 28 * 28
NUM_CLASSES = 10

__all__ = ["CNN", "IMAGE_PIXELS", "MLP", "NUM_CLASSES", "count_parameters", "create_mlp", "create_model",
           "export_layers", "import_layers", "init_like_flax", "model_for"]


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


class CNN(nn.Module):
    """conv32 3x3 - relu - avgpool 2 - conv64 3x3 - relu - avgpool 2 - dense256 - relu - dense10.

    Takes ``(batch, 28, 28)`` images; PyTorch convolutions want channels first, ``(N, C, H, W)``.
    ``padding=1`` keeps 28x28 after a 3x3 convolution, like Flax's default ``"SAME"``.
    """

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(), nn.AvgPool2d(2),   # (N, 32, 14, 14)
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.AvgPool2d(2),  # (N, 64, 7, 7)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x.unsqueeze(1)))  # (N, 28, 28) -> (N, 1, 28, 28) -> logits


def init_like_flax(module: nn.Module) -> None:
    """Flax's default: LeCun normal weights (truncated at 2 std, variance 1/fan_in), zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            fan_in = layer.weight[0].numel()
            # A normal truncated at +-2 std has 0.8796 of the untruncated std: scale up to compensate.
            std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
            nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(layer.bias)


def create_model(architecture: str, seed: int, hidden: Sequence[int] = (128,),
                 init_scheme: str = "default") -> nn.Module:
    """An ``"mlp"`` or ``"cnn"`` initialised from ``seed``, by PyTorch's scheme or Flax's (``"flax"``).

    PyTorch draws initial weights from its global generator; ``fork_rng`` seeds it for this
    construction only, so creating a model does not disturb the caller's random stream.
    """
    if init_scheme not in ("default", "torch", "flax"):
        raise ValueError(f"init_scheme={init_scheme!r} is unknown; allowed: default, torch, flax")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if architecture == "mlp":
            model = MLP(tuple(hidden))
        elif architecture == "cnn":
            model = CNN()
        else:
            raise ValueError(f"architecture={architecture!r} is unknown; allowed: mlp, cnn")
        if init_scheme == "flax":
            init_like_flax(model)
    return model


def create_mlp(hidden: Sequence[int], seed: int, init_scheme: str = "default") -> MLP:
    """An MLP with PyTorch's default initialisation (or Flax's: ``"flax"``) drawn from ``seed``."""
    return create_model("mlp", seed, hidden, init_scheme)


def model_for(config) -> nn.Module:
    """The model an experiment configuration (``MLPConfig``, ``CNNConfig``) describes, initialised."""
    return create_model(config.architecture, config.seed, config.hidden, config.init_scheme)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    """The layers that hold weights (convolutions and dense layers), input side first."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def export_layers(model: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights as NumPy ``(weight, bias)`` pairs in PyTorch's layout, first layer first.

    PyTorch's layout: dense ``(out, in)``, convolution ``(out, in, kh, kw)``. This is the
    neutral format for moving weights between the frameworks.
    """
    return [(layer.weight.detach().cpu().numpy().copy(), layer.bias.detach().cpu().numpy().copy())
            for layer in _weighted_layers(model)]


def import_layers(model: nn.Module, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> nn.Module:
    """Copy ``(weight, bias)`` pairs (PyTorch's layout) into ``model``, in place."""
    targets = _weighted_layers(model)
    if len(targets) != len(layers):
        raise ValueError(f"model has {len(targets)} weighted layers, got {len(layers)} weight pairs")
    with torch.no_grad():
        for index, (layer, (weight, bias)) in enumerate(zip(targets, layers, strict=True)):
            expected = (tuple(layer.weight.shape), tuple(layer.bias.shape))
            if (tuple(weight.shape), tuple(bias.shape)) != expected:
                raise ValueError(f"layer {index}: expected weight and bias shapes {expected}, "
                                 f"got {(tuple(weight.shape), tuple(bias.shape))}")
            layer.weight.copy_(torch.as_tensor(weight))
            layer.bias.copy_(torch.as_tensor(bias))
    return model
