"""Progress bars for long training cells that read well both live and in the built book.

tqdm's notebook widget needs ipywidgets and leaves a widget placeholder in a static page, so
the bar is the plain text one, on stdout (not stderr, which the book styles as a warning), a
fixed 80 columns wide and redrawn at most every few seconds. It redraws with carriage
returns; the book merges each cell's stream output (``nb_merge_streams``), which keeps only
the bar's final state.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm import tqdm


def bar(iterable: Iterable, desc: str, total: int | None = None, every_seconds: float = 5.0) -> tqdm:
    """``iterable`` wrapped in a text progress bar labelled ``desc``."""
    if every_seconds <= 0:
        raise ValueError(f"every_seconds={every_seconds!r} must be > 0")
    return tqdm(iterable, desc=desc, total=total, file=sys.stdout, ncols=80, mininterval=every_seconds,
                ascii=False, leave=True, dynamic_ncols=False)
