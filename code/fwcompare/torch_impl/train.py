"""Training in PyTorch: the idiomatic loop that updates the model and optimiser in place."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from fwcompare import datasets
from fwcompare.checks import check_finite_loss, check_labels
from fwcompare.config import Config
from fwcompare.history import History
from fwcompare.progress import bar as progress_bar
from fwcompare.timing import sync
from fwcompare.torch_impl.data import iterate_batches
from fwcompare.torch_impl.evaluate import evaluate
from fwcompare.torch_impl.models import NUM_CLASSES, model_for

__all__ = ["compiled_train_step", "cross_entropy", "fit", "make_optimizer", "train", "train_epoch",
           "train_step"]


def make_optimizer(config: Config, model: nn.Module) -> torch.optim.Optimizer:
    """The optimiser ``config`` names over ``model``'s parameters, with the hyperparameters the
    JAX backends give Optax.

    ``fused=True`` updates every parameter in one kernel per step, on the CPU as on a GPU,
    instead of several passes over the weights (the benchmarks chapter measures the step).
    """
    common = {"lr": config.learning_rate, "weight_decay": config.weight_decay, "fused": True}
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), momentum=config.momentum, **common)
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), **common)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), **common)
    raise ValueError(f"optimizer {config.optimizer!r} is unknown")  # the configs already reject it


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy with integer labels (``nn.functional.cross_entropy``)."""
    return nn.functional.cross_entropy(logits, labels)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
               x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One update in place; returns the batch loss, detached (no wait for the device)."""
    optimizer.zero_grad(set_to_none=True)
    loss = cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def compiled_train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                        ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``train_step`` for ``(x, y)`` with the forward pass and the loss compiled by ``torch.compile``.

    TorchDynamo captures model and loss as one graph, AOTAutograd derives the backward graph
    from it, and Inductor fuses the elementwise work around the matrix products of both. The
    optimiser stays eager: ``backward()`` would split a compiled step in two anyway, and the
    fused update ``make_optimizer`` asks for is already one kernel per step. Compilation happens on
    the first call and again for each new batch shape.
    """
    compiled_loss = torch.compile(lambda x, y: cross_entropy(model(x), y))

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = compiled_loss(x, y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                order: Sequence[np.ndarray]) -> torch.Tensor:
    """One pass over the batches ``order`` lists; returns the per-step losses ``(steps,)``."""
    model.train()
    return torch.stack([train_step(model, optimizer, xb, yb) for xb, yb in iterate_batches(x, y, order)])


def train(config: Config, x: torch.Tensor, y: torch.Tensor, model: nn.Module | None = None,
          ) -> tuple[nn.Module, np.ndarray]:
    """Train for ``config.epochs`` on device tensors ``x``, ``y`` in the shared batch order.

    Returns the trained model and the per-step losses, shape ``(epochs, steps_per_epoch)``.
    Labels outside ``[0, 10)`` are rejected before any step (``ValueError``); an epoch whose
    mean loss is inf or NaN raises ``NonFiniteLossError`` instead of returning useless weights.
    """
    check_labels(y, NUM_CLASSES)
    model = model_for(config).to(x.device) if model is None else model
    optimizer = make_optimizer(config, model)
    losses = []
    for epoch in range(config.epochs):
        order = datasets.batch_order(len(x), config.batch_size, config.seed, epoch)
        epoch_losses = train_epoch(model, optimizer, x, y, order)
        # One wait for the device per epoch: the steps within it stay asynchronous.
        check_finite_loss(epoch_losses.mean().item(), epoch, config.learning_rate)
        losses.append(epoch_losses)
    return model, torch.stack(losses).cpu().numpy()


def fit(config: Config, train_data: tuple[torch.Tensor, torch.Tensor],
        val_data: tuple[torch.Tensor, torch.Tensor], model: nn.Module | None = None,
        progress: bool = False) -> tuple[nn.Module, History]:
    """Train, evaluate on the validation set after every epoch, and return the best model.

    The model is updated in place, so the best epoch's weights must be *copied* when they are
    seen (``copy.deepcopy`` of the state dict); they are loaded back at the end. Bad labels
    (training or validation) are rejected before any step; a diverging epoch raises
    ``NonFiniteLossError``.
    """
    x, y = train_data
    check_labels(y, NUM_CLASSES)
    check_labels(val_data[1], NUM_CLASSES)
    model = model_for(config).to(x.device) if model is None else model
    optimizer = make_optimizer(config, model)
    records, best_state, best_loss = [], None, float("inf")
    epochs = range(config.epochs)
    if progress:  # a text bar, one step per epoch (fwcompare.progress)
        epochs = progress_bar(epochs, desc="PyTorch epochs")
    for epoch in epochs:
        start = time.perf_counter()
        order = datasets.batch_order(len(x), config.batch_size, config.seed, epoch)
        train_loss = sync(train_epoch(model, optimizer, x, y, order)).mean().item()
        seconds = time.perf_counter() - start
        check_finite_loss(train_loss, epoch, config.learning_rate)
        metrics = evaluate(model, *val_data)
        check_finite_loss(metrics["loss"], epoch, config.learning_rate, what="validation loss")
        records.append((train_loss, metrics["loss"], metrics["accuracy"], seconds))
        if metrics["loss"] < best_loss:
            best_loss, best_state = metrics["loss"], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return model, History(*(np.array(column) for column in zip(*records, strict=True)))
