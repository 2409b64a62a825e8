"""Orbax checkpoints of parameter trees, shared by ``nnx_impl`` and ``linen_impl``.

A checkpoint is a folder that Orbax's ``StandardCheckpointer`` writes (the API the Flax NNX
guide uses): arrays in a TensorStore database plus JSON metadata, no pickle. Restoring needs
a *template*, a tree of the right structure and shapes (fresh parameters, or their
``jax.ShapeDtypeStruct``), and a checkpoint that does not fit it is a ``CheckpointError``
that names the folder and the first keys that differ.

Orbax writes a new checkpoint atomically: into ``<name>.orbax-checkpoint-tmp...``, renamed
to ``<name>`` when complete. It does not *replace* one atomically: ``force=True`` deletes the
old folder first, so a save that fails halfway would leave nothing. ``save_tree`` therefore
lets Orbax write into a private staging folder beside the target and then swaps the finished
checkpoint into place; a failing save leaves the previous checkpoint as it was.

Beside Orbax's files, ``save_tree`` writes ``SHA256SUMS`` (the format ``sha256sum -c``
checks), and ``restore_tree`` verifies it before Orbax reads anything. Orbax itself checks
no checksums, and when one array of a damaged checkpoint cannot be read it abandons the
other reads still in flight, which then report errors from TensorStore's threads long after
the restore has failed. A damaged file is found by its checksum instead, and named.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from fwcompare.checks import CheckpointError

# Orbax writes this file into every checkpoint folder it creates; it marks a folder that a
# save may replace (anything else at the target path is left alone).
_ORBAX_MARKER = "_CHECKPOINT_METADATA"
CHECKSUMS = "SHA256SUMS"


def save_tree(path: str | os.PathLike, tree: Any) -> Path:
    """Write ``tree`` (nested dicts of arrays) as an Orbax checkpoint folder at ``path``.

    An existing checkpoint at ``path`` is replaced completely, or, if the save fails, kept
    as it was. Orbax saves asynchronously; this returns only once the background commit has
    finished (``wait_until_finished``, then ``close`` on leaving the ``with``), so the
    checkpoint is complete and no save thread outlives the call.
    """
    path = Path(path)
    final = path.absolute()  # Orbax wants absolute paths
    if final.exists() and not (final.is_dir() and (_is_empty(final) or (final / _ORBAX_MARKER).exists())):
        raise FileExistsError(f"{path} exists and is not an Orbax checkpoint: not replacing it")
    final.parent.mkdir(parents=True, exist_ok=True)
    # Same parent, so same file system: the finished checkpoint can be renamed into place.
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.saving-"))
    try:
        staged = staging / final.name
        # Orbax creates the folder in a thread of its own by default, and a save that fails
        # before its commit starts (an unsupported leaf, say) abandons that thread, which then
        # writes into the folder after it is cleaned up. Created synchronously, nothing is left.
        options = ocp.AsyncOptions(create_directories_asynchronously=False)
        with ocp.StandardCheckpointer(async_options=options) as checkpointer:
            checkpointer.save(staged, tree)
            checkpointer.wait_until_finished()  # raises what the background commit raised
        _write_checksums(staged)
        _move_into_place(staged, final)
    finally:
        # The failed attempt or, after a swap, the previous checkpoint.
        shutil.rmtree(staging, ignore_errors=True)
    return path


def restore_tree(path: str | os.PathLike, template: Any) -> Any:
    """The tree saved at ``path``, restored into the structure of ``template``.

    ``template`` leaves are arrays or ``jax.ShapeDtypeStruct``; the restored arrays take their
    dtype and sharding. The checkpoint's keys and shapes are compared with the template's
    (from Orbax's metadata, before any array is read) so that a checkpoint of another model
    is reported by name rather than by an error from deep inside TensorStore.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a file, not an Orbax checkpoint folder "
                              "(a PyTorch checkpoint is one file; a JAX checkpoint is a folder)")
    _verify_checksums(path)
    with ocp.StandardCheckpointer() as checkpointer:
        stored = _stored_shapes(path, checkpointer)
        _check_fits(path, stored, _shapes(template))
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        try:
            return checkpointer.restore(path.absolute(), abstract)
        # Orbax reports unreadable data as ValueError, OSError or, wrapping TensorStore's
        # error while reading an array, a bare Exception: any of them means a damaged folder.
        except Exception as error:
            raise CheckpointError(f"checkpoint {path} is damaged and cannot be read: "
                                  f"{_root_cause(error)}") from error


def _root_cause(error: BaseException, limit: int = 400) -> str:
    # Orbax wraps TensorStore's error ("Requested byte range ... is not valid") in one that
    # prints the whole TensorStore spec; the innermost error says what is wrong.
    while error.__cause__ is not None:
        error = error.__cause__
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= limit else text[:limit] + " ..."


def _sha256(file: Path) -> str:
    with file.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _write_checksums(folder: Path) -> None:
    files = sorted(file for file in folder.rglob("*") if file.is_file())
    lines = [f"{_sha256(file)}  {file.relative_to(folder).as_posix()}\n" for file in files]
    (folder / CHECKSUMS).write_text("".join(lines))


def _verify_checksums(path: Path) -> None:
    """``CheckpointError`` naming the first file that is missing or differs from what was saved.

    A checkpoint without ``SHA256SUMS`` (written by other Orbax code) is left to Orbax.
    """
    sums = path / CHECKSUMS
    if not sums.is_file():
        return
    for line in sums.read_text(errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        if not (len(digest) == 64 and set(digest) <= set("0123456789abcdef") and name):
            raise CheckpointError(f"checkpoint {path} is damaged: its {CHECKSUMS} is not a list of checksums")
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint {path} is incomplete: {name}, listed in {CHECKSUMS}, "
                                  "is missing")
        if _sha256(file) != digest:
            raise CheckpointError(f"checkpoint {path} is damaged: {name} is not the file that was "
                                  f"saved (truncated or overwritten; {CHECKSUMS} has another SHA-256)")


def _stored_shapes(path: Path, checkpointer: ocp.StandardCheckpointer) -> dict[str, tuple[int, ...]]:
    """``{"Dense_0/kernel": shape, ...}`` from the checkpoint's metadata; CheckpointError if unreadable."""
    try:
        metadata = checkpointer.metadata(path.absolute()).item_metadata
    except (ValueError, OSError, KeyError) as error:
        raise CheckpointError(f"checkpoint {path} is not a readable Orbax checkpoint: {error}") from error
    if metadata is None:  # Orbax found no (readable) tree metadata: an empty or foreign folder
        raise CheckpointError(f"checkpoint {path} is not an Orbax checkpoint folder, or its metadata "
                              "is damaged (no readable _METADATA)")
    return _shapes(metadata.tree)


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    # Keys as "a/b/0" text: Orbax stores every key as a string, NNX uses ints for list items.
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(key, simple=True, separator="/"): _shape(leaf) for key, leaf in leaves}


def _shape(leaf: Any) -> tuple[int, ...]:
    # Arrays, jax.ShapeDtypeStruct and Orbax's ArrayMetadata have .shape; Python scalars do not.
    return tuple(leaf.shape) if hasattr(leaf, "shape") else np.shape(leaf)


def _check_fits(path: Path, stored: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]) -> None:
    missing = sorted(expected.keys() - stored.keys())
    unexpected = sorted(stored.keys() - expected.keys())
    if missing or unexpected:
        differences = ([f"the model has {_few(missing)}, the checkpoint does not"] if missing else []) + (
            [f"the checkpoint has {_few(unexpected)}, the model does not"] if unexpected else [])
        raise CheckpointError(f"checkpoint {path} does not fit this model: {'; '.join(differences)}")
    for key, shape in expected.items():
        if stored[key] != shape:
            raise CheckpointError(f"checkpoint {path} does not fit this model: {key} has shape "
                                  f"{stored[key]} in the checkpoint, the model needs {shape}")


def _few(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _is_empty(folder: Path) -> bool:
    return next(folder.iterdir(), None) is None


def _move_into_place(staged: Path, final: Path) -> None:
    """Put the folder ``staged`` at ``final``; a checkpoint already there ends up at ``staged``.

    Where Linux can, the two folders are exchanged in one atomic step (``renameat2`` with
    ``RENAME_EXCHANGE``): a reader sees either the old checkpoint or the new one, never none.
    Elsewhere the old one is first renamed aside, leaving a moment without a checkpoint; a crash
    in that moment leaves it in the hidden staging folder.
    """
    if not final.exists():
        os.rename(staged, final)
    elif not _exchange(staged, final):
        aside = staged.with_name(staged.name + ".previous")
        os.rename(final, aside)
        os.rename(staged, final)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically; False where the system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)  # glibc >= 2.28
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the file system has no exchange: fall back
    raise OSError(code, os.strerror(code), str(second))
