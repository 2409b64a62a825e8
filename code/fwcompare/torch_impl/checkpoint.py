"""Saving and restoring PyTorch weights: the model's ``state_dict`` in PyTorch's own format."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import nn


def save(path: str | os.PathLike, model: nn.Module) -> Path:
    """Write ``model``'s weights to ``path`` atomically (a complete file or none at all)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        torch.save(model.state_dict(), handle)
    os.replace(handle.name, path)
    return path


def load(path: str | os.PathLike, model: nn.Module) -> nn.Module:
    """Load weights saved by ``save`` into ``model`` (same architecture), in place.

    ``weights_only=True`` refuses to unpickle arbitrary objects: a checkpoint holds tensors only.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"checkpoint {path} does not fit this model: {error}") from error
    return model
