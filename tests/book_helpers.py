"""Building the book from tests and reading what it produced (used by the test_book*.py files)."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")


def build(source: Path, output: Path, profile: str = "smoke", toc: Path | None = None,
          ) -> subprocess.CompletedProcess:
    """``jupyter-book build SOURCE -n -W --keep-going`` into ``OUTPUT/_build``, as the Makefile runs it."""
    env = {**os.environ, "FWCOMPARE_PROFILE": profile}
    command = [str(JUPYTER_BOOK), "build", str(source), "--path-output", str(output),
               "-n", "-W", "--keep-going"]
    if toc is not None:
        command += ["--toc", str(toc)]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


# A library log line (glog/absl style, e.g. "W1122 05:09:39.026000 ..."), printed into an output.
LOG_LINE = re.compile(r"\b[WE]\d{4} \d\d:\d\d:\d\d")


def has_traceback(markup: str) -> bool:
    """Whether a built page shows a Python traceback (as text or as a traceback output)."""
    return ("Traceback (most recent call last)" in markup
            or re.search(r'class="[^"]*\boutput\b[^"]*\btraceback\b', markup) is not None)


def number(glued: dict[str, str], name: str) -> float:
    """A glued value as a float."""
    return float(glued[name])


def page_text(path: Path) -> str:
    """The visible text of a built page's main content, tags stripped, whitespace folded."""
    markup = path.read_text()
    main = markup[markup.index("<main"):markup.index("</main>")]
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main)))


def toc_pages() -> list[str]:
    return re.findall(r"(?:root|file):\s*(\S+)", (REPO / "_toc.yml").read_text())


def glued_values(built: Path, docname: str) -> dict[str, str]:
    """``{name: text}`` of every value a page glued (myst-nb writes them next to the notebook):
    the Markdown of a glued ``IPython.display.Markdown``, else the ``text/plain`` form."""
    glue_file = built / "jupyter_execute" / f"{docname}.glue.json"
    return {name: output["data"].get("text/markdown", output["data"]["text/plain"])
            for name, output in json.loads(glue_file.read_text()).items()}


def figures(page: Path) -> list[tuple[str, Path]]:
    """``(alt text, image file)`` of every ``<img>`` inside a ``<figure>`` of a built page."""
    markup = page.read_text()
    found = []
    for figure in re.findall(r"<figure\b.*?</figure>", markup, flags=re.S):
        for tag in re.findall(r"<img\b[^>]*>", figure):
            alt = re.search(r'alt="([^"]*)"', tag)
            src = re.search(r'src="([^"]+)"', tag)
            found.append((alt.group(1) if alt else "", (page.parent / src.group(1)).resolve()))
    return found
