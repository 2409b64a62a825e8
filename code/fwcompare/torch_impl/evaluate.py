"""Evaluation in PyTorch: mean loss and accuracy over a dataset, in batches, without gradients."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000,
             ) -> dict[str, float]:
    """``{"loss": mean cross-entropy, "accuracy": fraction correct}`` of ``model`` on ``x``, ``y``."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be >= 1")
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        labels = y[start:start + batch_size]
        total_loss += nn.functional.cross_entropy(logits, labels, reduction="sum")
        correct += (logits.argmax(dim=1) == labels).sum()
    model.train(was_training)
    return {"loss": total_loss.item() / len(x), "accuracy": correct.item() / len(x)}
