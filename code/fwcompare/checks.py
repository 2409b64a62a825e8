"""Checks and error types every backend shares. Imports no framework.

Training on bad labels, training that diverges and unreadable checkpoints fail the same way
in PyTorch, Flax NNX and Flax Linen: one exception type each, with a message that names
what was wrong and what is allowed.
"""

from __future__ import annotations

import math
from typing import Any


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored: missing pieces, truncated, foreign, or of another model."""


class NonFiniteLossError(FloatingPointError):
    """Training produced a loss that is inf or NaN: the run diverged and its weights are unusable."""


def check_labels(labels: Any, num_classes: int) -> None:
    """Reject integer class labels outside ``[0, num_classes)``.

    Works on NumPy arrays, JAX arrays and PyTorch tensors alike (one ``min`` and one ``max``).
    PyTorch would fail later with a bare ``IndexError`` or a CUDA assert; JAX would silently
    train on a one-hot row of zeros.
    """
    if len(labels) == 0:
        raise ValueError("labels is empty: training needs at least one example")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"labels must be class indices in [0, {num_classes}); "
                         f"got values from {low} to {high}")


def check_finite_loss(loss: float, epoch: int, learning_rate: float | None = None,
                      what: str = "mean loss") -> None:
    """Raise ``NonFiniteLossError`` if an epoch's mean training ``loss`` is inf or NaN.

    ``what`` names the loss in the message: ``fit`` also checks the validation loss, which is
    NaN while the training losses were not when only the epoch's last update diverged.
    """
    if not math.isfinite(loss):
        hint = f" (learning_rate={learning_rate!r}: try a smaller one)" if learning_rate is not None else ""
        raise NonFiniteLossError(f"training diverged: the {what} of epoch {epoch} is {loss}{hint}")
