"""Training in PyTorch: the idiomatic loop that updates the model and optimiser in place."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from fwcompare import datasets
from fwcompare.config import MLPConfig
from fwcompare.torch_impl.data import iterate_batches
from fwcompare.torch_impl.models import create_mlp


def make_optimizer(config: MLPConfig, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimiser ``config`` names, with the same hyperparameters ``jax_impl`` gives Optax."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.learning_rate, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    raise ValueError(f"optimizer {config.optimizer!r} is unknown")  # MLPConfig already rejects it


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
               x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One update in place; returns the batch loss, detached (no wait for the device)."""
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def train(config: MLPConfig, x: torch.Tensor, y: torch.Tensor, model: nn.Module | None = None,
          ) -> tuple[nn.Module, np.ndarray]:
    """Train for ``config.epochs`` on device tensors ``x``, ``y`` in the shared batch order.

    Returns the trained model and the per-step losses, shape ``(epochs, steps_per_epoch)``.
    """
    if model is None:
        model = create_mlp(config.hidden, config.seed).to(x.device)
    model.train()
    optimizer = make_optimizer(config, model.parameters())
    losses = []
    for epoch in range(config.epochs):
        order = datasets.batch_order(len(x), config.batch_size, config.seed, epoch)
        losses += [train_step(model, optimizer, xb, yb) for xb, yb in iterate_batches(x, y, order)]
    # Losses stay on the device during training; one transfer at the end.
    return model, torch.stack(losses).reshape(config.epochs, -1).cpu().numpy()
