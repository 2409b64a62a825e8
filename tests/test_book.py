"""The book builds strictly, fails on a failing cell or a warning, re-executes when code/
changes, and the pages it produces hold what the chapters promise."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from book_helpers import REPO, build, figures, glued_values, page_text, toc_pages
from fwcompare import slides, sphinxext

CHAPTER = "book/beyond/how-this-book-is-built"

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]


# --- the real book -------------------------------------------------------------------------

def test_every_toc_page_is_built(smoke_build):
    for page in toc_pages():
        assert (smoke_build / "html" / f"{page}.html").is_file(), page


def test_no_page_shows_a_traceback_or_an_error(smoke_build):
    """Only cells tagged ``raises-exception`` (failing on purpose) may show an error."""
    for path in (smoke_build / "html").rglob("*.html"):
        cells = re.split(r'(?=<div class="cell\b)', path.read_text())
        for cell in (cell for cell in cells if "tag_raises-exception" not in cell[:300]):
            assert "Traceback (most recent call last)" not in cell, path
            assert not re.search(r'class="[^"]*\boutput\b[^"]*\btraceback\b', cell), path
            assert "ZeroDivisionError" not in cell and "ModuleNotFoundError" not in cell, path


IMAGE_SOURCE = r'<img\b[^>]*\bsrc="([^"]+)"'


def configured_decks() -> dict[str, str]:
    return yaml.safe_load((REPO / "_config.yml").read_text())["sphinx"]["config"]["fwcompare_slides"]


def test_slide_decks_are_built_with_their_figures(smoke_build):
    """Each configured deck exists, has several slides, shows every image its chapter shows
    outside hidden cells (resolvable from the deck's folder), and links back to the chapter,
    which links to it."""
    assert configured_decks(), "no slide decks configured"
    for docname, deck in configured_decks().items():
        path = smoke_build / "html" / "slides" / f"{deck}.html"
        markup = path.read_text()
        assert markup.count("<section") >= 4, f"{path} has too few slides"
        chapter = (smoke_build / "html" / f"{docname}.html").read_text()
        article = chapter[chapter.index("<article"):chapter.index("</article>")]
        article = re.sub(r"<details\b.*?</details>", "", article, flags=re.S)  # never in a deck
        chapter_images = [src.rsplit("/", 1)[-1] for src in re.findall(IMAGE_SOURCE, article)]
        deck_images = re.findall(IMAGE_SOURCE, markup)
        assert sorted(src.rsplit("/", 1)[-1] for src in deck_images) == sorted(chapter_images), path
        for source in deck_images:
            assert (path.parent / source).resolve().is_file(), f"{path}: broken image {source}"
        assert f'href="../{docname}.html"' in markup  # the way back to the chapter
        vendored = (path.parent / "../_static/reveal/dist/reveal.js").resolve()
        assert vendored.is_file() or slides.REVEAL_CDN in markup
        assert f"slides/{deck}.html" in chapter, f"{docname} does not link to its deck"
    assert any("<img" in (smoke_build / "html" / "slides" / f"{deck}.html").read_text()
               for deck in configured_decks().values()), "no deck shows a figure"


def test_smoke_pages_carry_the_banner(smoke_build):
    for page in toc_pages():
        assert sphinxext.SMOKE_BANNER[:60] in (smoke_build / "html" / f"{page}.html").read_text(), page


def test_chapter_shows_its_loss_figure(smoke_build):
    page = smoke_build / "html" / f"{CHAPTER}.html"
    figure = re.search(r'<figure[^>]*id="fig-build-loss-curves".*?</figure>', page.read_text(), flags=re.S)
    assert figure, "the loss-curve figure is missing"
    assert "Training loss per step" in figure.group(0)
    [(alt, image)] = [(alt, image) for alt, image in figures(page) if "Training loss" in alt]
    assert image.suffix == ".png" and image.stat().st_size > 10_000, image


def test_chapter_prose_holds_the_glued_numbers(smoke_build):
    glued = glued_values(smoke_build, CHAPTER)
    text = page_text(smoke_build / "html" / f"{CHAPTER}.html")
    torch_accuracy = float(glued["torch_test_accuracy"])
    jax_accuracy = float(glued["jax_test_accuracy"])
    assert 0.0 < torch_accuracy <= 1.0 and 0.0 < jax_accuracy <= 1.0
    row = re.search(r"test accuracy (\d+\.\d\d)% (\d+\.\d\d)%", text)
    assert row, "the results table has no test-accuracy row"
    assert row.groups() == (f"{100 * torch_accuracy:.2f}", f"{100 * jax_accuracy:.2f}")
    assert f"PyTorch reaches {100 * torch_accuracy:.2f}% and JAX {100 * jax_accuracy:.2f}%" in text
    assert float(glued["parity_max_diff"]) < 1e-5
    assert f"{float(glued['parity_max_diff']):.1e}" in text
    assert "101,770 parameters" in text
    assert "PyTorch device" in text and "jaxlib" in text  # the environment table


# --- strictness and the cache, on small books written here ---------------------------------

PAGE_HEADER = """---
jupytext: {text_representation: {extension: .md, format_name: myst}}
kernelspec: {name: python3, display_name: Python 3}
---
"""


def mini_book(root: Path, body: str, code: dict[str, str] | None = None) -> Path:
    """A one-page book using the real _config.yml (so the real strictness settings apply)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    (root / "index.md").write_text(PAGE_HEADER + body)
    for name, text in (code or {}).items():
        (root / "code" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "code" / name).write_text(text)
    return root


def test_a_failing_cell_fails_the_build(tmp_path):
    book = mini_book(tmp_path / "book", "# Fails\n\n```{code-cell} ipython3\n1 / 0\n```\n")
    result = build(book, tmp_path / "out")
    assert result.returncode != 0
    assert "ZeroDivisionError" in result.stdout + result.stderr


def test_a_cell_tagged_raises_exception_is_allowed(tmp_path):
    body = "# Meant to fail\n\n```{code-cell} ipython3\n:tags: [raises-exception]\n\n1 / 0\n```\n"
    result = build(mini_book(tmp_path / "book", body), tmp_path / "out")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "ZeroDivisionError" in (tmp_path / "out" / "_build" / "html" / "index.html").read_text()


def test_a_warning_fails_the_build(tmp_path):
    book = mini_book(tmp_path / "book", "# Broken link\n\nSee {doc}`no-such-page`.\n")
    result = build(book, tmp_path / "out")
    assert result.returncode != 0
    assert "no-such-page" in result.stdout + result.stderr


def test_cache_reexecutes_only_when_code_changes(tmp_path):
    body = ("# Counts its executions\n\n```{code-cell} ipython3\n"
            "with open('executions.log', 'a') as log:\n    log.write('ran\\n')\n```\n")
    book = mini_book(tmp_path / "book", body, code={"pkg/module.py": "VALUE = 1\n"})
    log = book / "executions.log"

    def build_and_count() -> int:
        result = build(book, tmp_path / "out")
        assert result.returncode == 0, result.stdout[-3000:]
        return len(log.read_text().splitlines())

    assert build_and_count() == 1
    assert build_and_count() == 1, "an unchanged book must come from the cache"
    (book / "code" / "pkg" / "module.py").write_text("VALUE = 2\n")
    assert build_and_count() == 2, "a change under code/ must re-execute the page"
    assert build_and_count() == 2
