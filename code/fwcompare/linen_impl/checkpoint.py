"""Saving and restoring Flax Linen parameters as an Orbax checkpoint folder (no pickle).

A Linen module holds no weights, so what is saved is the parameter tree of a ``LinenModel``,
a ``TrainState`` or a bare tree, and restoring gives back a new one of the same kind: nothing
is changed in place.
"""

from __future__ import annotations

import os
from pathlib import Path

from fwcompare.checks import CheckpointError
from fwcompare.jax_common.checkpoint import restore_tree, save_tree
from fwcompare.linen_impl.models import _params_of, _with_params

__all__ = ["CheckpointError", "load", "save"]


def save(path: str | os.PathLike, model) -> Path:
    """Write the parameters of ``model`` (a ``LinenModel``, ``TrainState`` or parameter tree)
    to the checkpoint folder ``path``, replacing any checkpoint there; returns ``path``."""
    return save_tree(path, _params_of(model))


def load(path: str | os.PathLike, model):
    """``model`` (a ``LinenModel``, ``TrainState`` or parameter tree) with the parameters saved
    at ``path``: a new object of the same kind; ``model`` itself is left as it was.

    Orbax stores arrays and nested dicts, not Python objects, so restoring needs a tree of the
    right structure, here ``model``'s own parameters; a checkpoint that does not fit them, or
    that is not a readable Orbax checkpoint, is a ``CheckpointError`` naming the folder.
    """
    return _with_params(model, restore_tree(path, _params_of(model)))
