"""Saving and restoring JAX parameters with Flax's msgpack serialisation (no pickle)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flax import serialization


def save(path: str | os.PathLike, params) -> Path:
    """Write the parameter tree to ``path`` atomically (a complete file or none at all)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(serialization.to_bytes(params))
    os.replace(handle.name, path)
    return path


def load(path: str | os.PathLike, template):
    """Parameters saved by ``save``, restored into the structure of ``template``.

    msgpack stores arrays and nested dicts, not Python objects, so restoring needs a tree of
    the right shape (e.g. freshly initialised parameters); a mismatch is an error, not a guess.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        restored = serialization.from_bytes(template, path.read_bytes())
    except (ValueError, KeyError) as error:
        raise ValueError(f"checkpoint {path} does not fit this parameter tree: {error}") from error
    _check_shapes(path, template, restored)
    return restored


def _check_shapes(path: Path, template, restored) -> None:
    import jax

    expected = jax.tree_util.tree_map(lambda leaf: leaf.shape, template)
    found = jax.tree_util.tree_map(lambda leaf: leaf.shape, restored)
    if expected != found:
        raise ValueError(f"checkpoint {path} has shapes {found}, this parameter tree needs {expected}")
