"""What several chapters need on a page, kept out of the cells a reader might copy.

A chapter's visible cells hold its lesson; the plumbing that turns results into glued prose
and tables lives here, once, tested:

* ``glue_md`` / ``glue_values``: bind Markdown or numbers to names the prose refers to
  (myst-nb ``glue``), never displayed where they are computed;
* ``glue_figure``: a figure a ``{glue:figure}`` directive shows with its caption;
* ``glue_device``: the one line naming where the page ran, which the results page reads;
* ``max_abs_diff``: the largest difference between two pytrees (or lists) of arrays from any of
  the frameworks, the number every parity claim is made of;
* ``markdown_table`` / ``table``: a results table from a header and rows.

myst-nb and IPython are imported when a function needs them, so the module imports without
a notebook kernel (and the tests need none).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from fwcompare import report
from fwcompare.claims import DEVICE_KEY  # the results page reads where each page ran


def _glue(name: str, value: Any) -> None:
    from myst_nb import glue

    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"glue name must be an identifier-like string, got {name!r}")
    glue(name, value, display=False)


def glue_md(name: str, text: str) -> None:
    """Glue ``text`` as Markdown, shown in prose with ``{glue:md}`` (no quotes, formatting kept)."""
    from IPython.display import Markdown

    if not isinstance(text, str):
        raise TypeError(f"glue_md({name!r}, ...) needs a str of Markdown, got {type(text).__name__}")
    _glue(name, Markdown(text))


def glue_values(**values: Any) -> None:
    """Glue each keyword as a value the prose formats, e.g. ``{glue:text}`step_ms:.2f```."""
    for name, value in values.items():
        _glue(name, _plain(value))


def glue_figure(name: str, figure: Any) -> None:
    """Glue a Matplotlib figure for a ``{glue:figure}`` directive (shown there, not here)."""
    if not hasattr(figure, "savefig"):
        raise TypeError(f"glue_figure({name!r}, ...) needs a Matplotlib figure, got {type(figure).__name__}")
    _glue(name, figure)


def glue_device() -> str:
    """Glue where this page ran (e.g. ``PyTorch cpu · JAX cpu (cpu)``) and return it."""
    where = report.devices()
    _glue(DEVICE_KEY, where)
    return where


def _plain(value: Any) -> Any:
    """NumPy, JAX and PyTorch scalars as Python numbers, so glue prints them as numbers."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def _as_numpy(leaf: Any):
    import numpy as np

    if hasattr(leaf, "detach"):  # a torch.Tensor, possibly on a GPU or needing grad
        leaf = leaf.detach().cpu().numpy()
    return np.asarray(leaf, dtype=np.float64)


def _numbers(tree: Any) -> bool:
    """A number, or a (nested) list of numbers: one array written out, e.g. a matrix a post printed."""
    if isinstance(tree, list | tuple) and not hasattr(tree, "_fields"):
        return bool(tree) and all(_numbers(item) for item in tree)
    return isinstance(tree, int | float) and not isinstance(tree, bool)


def _leaves(tree: Any) -> list:
    if _numbers(tree):
        return [tree]
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _leaves(tree[key])]
    if isinstance(tree, list | tuple) and not hasattr(tree, "_fields"):
        return [leaf for item in tree for leaf in _leaves(item)]
    if hasattr(tree, "detach") or hasattr(tree, "__array__") or isinstance(tree, int | float):
        return [tree]
    import jax  # an NNX State, a Linen FrozenDict, a TrainState, a NamedTuple...

    return jax.tree_util.tree_leaves(tree)


def max_abs_diff(a: Any, b: Any) -> float:
    """The largest absolute difference between two arrays, or two pytrees / lists of arrays.

    Leaves may be NumPy, JAX or PyTorch arrays (on any device); both sides must have the same
    structure and shapes, compared in float64.
    """
    left, right = _leaves(a), _leaves(b)
    if len(left) != len(right):
        raise ValueError(f"max_abs_diff: {len(left)} arrays on the left against {len(right)} on the right")
    if not left:
        raise ValueError("max_abs_diff: nothing to compare (no arrays on either side)")
    largest = 0.0
    for index, (p, q) in enumerate(zip(left, right, strict=True)):
        p, q = _as_numpy(p), _as_numpy(q)
        if p.shape != q.shape:
            raise ValueError(f"max_abs_diff: array {index} has shape {p.shape} on the left, "
                             f"{q.shape} on the right")
        if p.size:
            largest = max(largest, float(abs(p - q).max()))
    return largest


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value).replace("|", "\\|")
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 4) -> str:
    """A Markdown table; numbers are shown with ``digits`` significant digits, ints with separators."""
    header = list(header)
    if not header:
        raise ValueError("markdown_table needs at least one column")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for number, row in enumerate(rows):
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"markdown_table: row {number} has {len(row)} cells, the header {len(header)}")
        lines.append("| " + " | ".join(_cell(value, digits) for value in row) + " |")
    return "\n".join(lines)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 4):
    """``markdown_table`` as a displayable object: the last line of a cell shows it as a table."""
    from IPython.display import Markdown

    return Markdown(markdown_table(header, rows, digits))
