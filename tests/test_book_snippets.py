"""Package code shown in the book runs when a reader copies it (issue 11).

Every ``literalinclude`` of a package object is shown with the imports, constants and helpers it
needs (``fwcompare.snippets``, applied by the book's Sphinx extension). These tests take each such
block as the built HTML shows it - the text the copy button copies - and run it in a fresh
interpreter (tests/snippet_runner.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from book_helpers import REPO, toc_pages
from fwcompare import snippets
from fwcompare.sphinxext import SNIPPET_CLASS

RUNNER = Path(__file__).with_name("snippet_runner.py")
PACKAGE_INCLUDE = re.compile(r"```\{literalinclude\} [./]*code/fwcompare/\S+\.py\n:pyobject: (\w+)")


def run_copied(sources: list[str]) -> list[dict]:
    """Failures of ``sources`` run in one fresh interpreter, each in an empty namespace."""
    result = subprocess.run([sys.executable, str(RUNNER)], input=json.dumps(sources),
                            capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def shown_snippets(html: Path) -> list[str]:
    soup = BeautifulSoup(html.read_text(), "html.parser")
    return [block.pre.get_text() for block in soup.select(f"div.{SNIPPET_CLASS}")]


def test_a_planted_snippet_missing_an_import_fails():
    complete = "import numpy as np\n\n\ndef zeros():\n    return np.zeros(3)\n"
    missing_import = complete.replace("import numpy as np\n", "")
    failures = run_copied([complete, missing_import, "x = 1\n"])
    assert [f["index"] for f in failures] == [1, 2]
    assert "zeros reads undefined names: np" in failures[0]["error"]
    assert "defines no function or class" in failures[1]["error"]


def test_a_snippet_that_raises_when_defined_fails():
    failures = run_copied(["class Net(Base):\n    pass\n"])
    assert failures and "NameError" in failures[0]["error"]


def test_snippet_header_brings_imports_constants_and_helpers():
    text = snippets.snippet(REPO / "code/fwcompare/torch_impl/models.py", "MLP")
    assert text.startswith("from __future__ import annotations\n")
    assert "from torch import nn\n" in text and "IMAGE_PIXELS = 28 * 28\n" in text
    assert not run_copied([text])
    relative = snippets.snippet(REPO / "code/fwcompare/linen_impl/train.py", "train_epoch_scan")
    assert "from fwcompare.linen_impl.train import train_step\n" in relative


def test_snippet_names_what_exists_when_the_object_does_not():
    with pytest.raises(ValueError, match="no top-level function or class 'nope'; the module defines: .*MLP"):
        snippets.snippet(REPO / "code/fwcompare/torch_impl/models.py", "nope")
    with pytest.raises(ValueError, match="is not a module of the fwcompare package"):
        snippets.module_name(REPO / "tests" / "conftest.py")


def test_every_package_snippet_of_the_built_book_runs_when_copied(smoke_build):
    shown, expected = {}, 0
    for page in toc_pages():
        source = next(REPO.glob(f"{page}.*"))
        expected += len(PACKAGE_INCLUDE.findall(source.read_text()))
        for text in shown_snippets(smoke_build / "html" / f"{page}.html"):
            shown.setdefault(text, page)
    total = sum(len(shown_snippets(smoke_build / "html" / f"{page}.html")) for page in toc_pages())
    assert total == expected, "every literalinclude of package code is shown as a runnable snippet"
    failures = run_copied(list(shown))
    pages = list(shown.values())
    report = [f"{pages[f['index']]}: {f['error']}\n{textwrap.shorten(list(shown)[f['index']], 300)}"
              for f in failures]
    assert not failures, "\n\n".join(report)
