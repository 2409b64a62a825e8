"""The book builds strictly, fails on a failing cell or a warning, re-executes when code/
changes, and the pages it produces hold what the chapters promise."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from book_helpers import REPO, build, figures, glued_values, page_text, toc_pages
from fwcompare import contract, slides, sphinxext

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


def deck_part(chapter_html: str) -> str:
    """The part of a chapter a deck shows: its article without dropdowns (never in a deck) and
    without the "Going further" section (beyond the source the deck presents)."""
    article = BeautifulSoup(chapter_html, "html.parser").find("article")
    for hidden in article.find_all("details"):
        hidden.decompose()
    for heading in article.select("section > h2"):
        if heading.get_text(" ", strip=True).replace("#", "").strip() == slides.GOING_FURTHER:
            heading.parent.decompose()
    return str(article)


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
        chapter_images = [src.rsplit("/", 1)[-1] for src in re.findall(IMAGE_SOURCE, deck_part(chapter))]
        deck_images = re.findall(IMAGE_SOURCE, markup)
        assert sorted(src.rsplit("/", 1)[-1] for src in deck_images) == sorted(chapter_images), path
        for source in deck_images:
            assert (path.parent / source).resolve().is_file(), f"{path}: broken image {source}"
        assert f'href="../{docname}.html"' in markup  # the way back to the chapter
        vendored = (path.parent / "../_static/reveal/dist/reveal.js").resolve()
        assert vendored.is_file() or slides.REVEAL_CDN in markup
        assert f"slides/{deck}.html" in chapter, f"{docname} does not link to its deck"


def test_smoke_pages_carry_the_banner(smoke_build):
    for page in toc_pages():
        assert sphinxext.SMOKE_BANNER[:60] in (smoke_build / "html" / f"{page}.html").read_text(), page


def test_chapter_shows_its_loss_figure(smoke_build):
    page = smoke_build / "html" / f"{CHAPTER}.html"
    figure = re.search(r'<figure[^>]*id="fig-build-loss-curves".*?</figure>', page.read_text(), flags=re.S)
    assert figure, "the loss-curve figure is missing"
    assert "Training loss per step for the three backends" in figure.group(0)
    [(alt, image)] = [(alt, image) for alt, image in figures(page) if "Training loss" in alt]
    assert image.suffix == ".png" and image.stat().st_size > 10_000, image


def test_chapter_prose_holds_the_glued_numbers(smoke_build):
    glued = glued_values(smoke_build, CHAPTER)
    text = page_text(smoke_build / "html" / f"{CHAPTER}.html")
    # "jax" names the Linen run, as it did when Linen was the only JAX backend.
    accuracy = {name: float(glued[f"{name}_test_accuracy"]) for name in ("torch", "nnx", "jax")}
    assert all(0.0 < value <= 1.0 for value in accuracy.values()), accuracy
    shown = {name: f"{100 * value:.2f}%" for name, value in accuracy.items()}
    # The table's columns: PyTorch | Flax NNX | Flax Linen, for every row.
    assert f"test accuracy {shown['torch']} {shown['nnx']} {shown['jax']}" in text
    for row, key in [("test loss", "test_loss"), ("loss of the first batch", "first_loss"),
                     ("mean loss over the last epoch", "last_epoch_loss")]:
        values = " ".join(f"{float(glued[f'{name}_{key}']):.3f}" for name in ("torch", "nnx", "jax"))
        assert f"{row} {values}" in text, row
    tight = re.sub(r" ([,.;:)])", r"\1", text)  # "33.80% ," -> "33.80%,": a tag's edge, not prose
    assert (f"PyTorch reaches {shown['torch']}, Flax NNX {shown['nnx']} and "
            f"Flax Linen {shown['jax']}") in tight
    assert f"NNX and Linen {float(glued['nnx_linen_gap_points']):.1f}" in text
    for name in ("parity_max_diff", "parity_nnx_max_diff"):
        assert float(glued[name]) < 1e-5, name
        assert f"{float(glued[name]):.1e}" in text, name
    assert "All three networks have 101,770 parameters" in text
    assert int(glued["n_params_nnx"]) == int(glued["n_params"]) == 101_770
    assert "PyTorch device" in text and "jaxlib" in text  # the environment table


def test_chapter_shows_the_contract_of_the_three_backends(smoke_build):
    glued = glued_values(smoke_build, CHAPTER)
    text = page_text(smoke_build / "html" / f"{CHAPTER}.html")
    assert int(glued["contract_names"]) == len(contract.ENTRIES)
    assert int(glued["contract_one_sided"]) == sum(entry.one_sided for entry in contract.ENTRIES) > 0
    assert f"Of the {len(contract.ENTRIES)} names in the contract" in text
    # The printed train_step line of each backend, read from the contract itself.
    for backend in contract.BACKENDS:
        entry = contract.lookup("train", "train_step")
        line = f"{backend} train_step({', '.join(entry.params_for(backend))}) -> {entry.returns[backend]}"
        assert line in text, line


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
