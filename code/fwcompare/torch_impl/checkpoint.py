"""Saving and restoring PyTorch weights: the model's ``state_dict`` in PyTorch's own format."""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch
from torch import nn

from fwcompare.checks import CheckpointError

__all__ = ["CheckpointError", "load", "save"]


def save(path: str | os.PathLike, model: nn.Module) -> Path:
    """Write ``model``'s weights to ``path`` atomically (a complete file or none at all).

    The file is written beside ``path`` under a temporary name, flushed to disk, then renamed
    over ``path``: a save that fails or is interrupted leaves a previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)
    try:
        with handle:
            torch.save(model.state_dict(), handle)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points to it
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise
    return path


def load(path: str | os.PathLike, model: nn.Module) -> nn.Module:
    """Load weights saved by ``save`` into ``model`` (same architecture), in place.

    ``weights_only=True`` refuses to unpickle arbitrary objects: a checkpoint holds tensors only.
    A file that is not such a checkpoint (empty, truncated, foreign, or of another model) is a
    ``CheckpointError`` naming it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder, not a PyTorch checkpoint file "
                              "(a JAX checkpoint is an Orbax folder; a PyTorch one is one file)")
    # torch.save writes a zip archive (since PyTorch 1.6), whose directory is at the end of the
    # file: an empty, truncated or foreign file fails this check before the unpickler sees it.
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"checkpoint {path} is not a complete PyTorch checkpoint "
                              "(torch.save writes a zip archive; this file is empty, truncated or foreign)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"checkpoint {path} cannot be read: {error}") from error
    if not (isinstance(state, dict) and all(isinstance(value, torch.Tensor) for value in state.values())):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a state_dict "
                              "(a dict of tensors)")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint {path} does not fit this model: {error}") from error
    return model
