"""Saving and restoring Flax NNX parameters as an Orbax checkpoint folder (no pickle).

An NNX module holds its weights, as a PyTorch module does: ``save`` writes its parameters
(``nnx.state(model, nnx.Param)``) and ``load`` puts saved ones back into it in place
(``nnx.update``). The folder holds plain nested dicts of arrays (``nnx.to_pure_dict``), so it
can also be restored into a bare parameter tree, without the module.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
from flax import nnx

from fwcompare.checks import CheckpointError
from fwcompare.jax_common.checkpoint import restore_tree, save_tree

__all__ = ["CheckpointError", "load", "save"]


def _pure(model) -> dict:
    """The parameters of a module, a parameter ``nnx.State`` or a pure dict, as a pure dict."""
    if isinstance(model, nnx.Module):
        model = nnx.state(model, nnx.Param)
    return nnx.to_pure_dict(model) if isinstance(model, nnx.State) else model


def save(path: str | os.PathLike, model) -> Path:
    """Write the parameters of ``model`` (an ``nnx.Module``, or its parameter ``State`` or pure
    dict) to the checkpoint folder ``path``, replacing any checkpoint there; returns ``path``."""
    return save_tree(path, _pure(model))


def load(path: str | os.PathLike, model):
    """Restore the parameters saved at ``path``.

    Into an ``nnx.Module``: its parameters are replaced in place and the module is returned.
    Into a parameter ``nnx.State`` or a pure dict (a template of the right structure): a new
    one holding the saved values is returned and the template is left as it was. A checkpoint
    that does not fit, or that is not a readable Orbax checkpoint, is a ``CheckpointError``.
    """
    restored = restore_tree(path, _pure(model))
    if isinstance(model, nnx.Module):
        state = nnx.state(model, nnx.Param)
        nnx.replace_by_pure_dict(state, restored)
        nnx.update(model, state)
        return model
    if isinstance(model, nnx.State):
        state = jax.tree.map(lambda leaf: leaf, model)  # a copy: the template stays unchanged
        nnx.replace_by_pure_dict(state, restored)
        return state
    return restored
