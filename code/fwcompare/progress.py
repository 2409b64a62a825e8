"""Progress bars for long training cells that read well both live and in the built book.

tqdm's notebook widget needs ipywidgets and leaves a widget placeholder in a static page, so
the bar is the plain text one, on stdout (not stderr, which the book styles as a warning) and a
fixed 80 columns wide. Live, it redraws itself with carriage returns. In the book's build
(``FWCOMPARE_BOOK_BUILD`` set by ``fwcompare.sphinxext``) nobody watches and every redraw would
be stored in the page, so only each bar's final line is written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from tqdm import tqdm

BUILD_VARIABLE = "FWCOMPARE_BOOK_BUILD"


class FinalLines:
    """A file that passes on only complete lines, each as it stands after its last carriage return."""

    def __init__(self, stream):
        self.stream = stream
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.stream.write(line.rsplit("\r", 1)[-1] + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def bar(iterable: Iterable, desc: str, total: int | None = None, every_seconds: float = 5.0) -> tqdm:
    """``iterable`` wrapped in a text progress bar labelled ``desc``."""
    if every_seconds <= 0:
        raise ValueError(f"every_seconds={every_seconds!r} must be > 0")
    stream = FinalLines(sys.stdout) if os.environ.get(BUILD_VARIABLE) else sys.stdout
    return tqdm(iterable, desc=desc, total=total, file=stream, ncols=80, mininterval=every_seconds,
                ascii=False, leave=True, dynamic_ncols=False)
