"""The results page: every number the sources reported, next to this build's value from the glue registry."""

from __future__ import annotations

import ast
import html
import json
import posixpath
import re

import pytest

from book_helpers import REPO, glued_values
from fwcompare import claims

CHAPTER = "book/beyond/results"


def rows(page) -> list[list[str]]:
    """The text of each cell of every body row of the page's claims tables."""
    markup = page.read_text()
    found = []
    for table in re.findall(r'<table class="[^"]*fwcompare-claims.*?</table>', markup, flags=re.S):
        body = table[table.index("<tbody"):]
        for row in re.findall(r"<tr\b.*?</tr>", body, flags=re.S):
            cells = re.findall(r"<td\b.*?</td>", row, flags=re.S)
            text = [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in cells]
            found.append([re.sub(r"\s+", " ", cell).strip() for cell in text])
    return found


def expected(template: str, glued: dict[str, str]) -> str | None:
    """The template filled by hand from the glued reprs (independently of claims.render)."""
    values = {}
    for key in claims.glue_keys(template):
        if key not in glued:
            return None
        try:
            values[key] = ast.literal_eval(glued[key])
        except (SyntaxError, ValueError):
            values[key] = glued[key]
    return template.format(**values)


@pytest.fixture(scope="module")
def table(page) -> dict[str, list[str]]:
    found = rows(page)
    return {cells[0]: cells for cells in found}


def test_every_claim_has_one_row(page, table):
    assert len(rows(page)) == len(claims.CLAIMS)
    quantities = [re.sub(r"`", "", claim.quantity) for claim in claims.CLAIMS]
    assert sorted(table) == sorted(quantities)


def test_rows_show_the_sources_number_and_the_glued_value(smoke_build, table):
    measured_rows = 0
    for claim in claims.CLAIMS:
        glued = glued_values(smoke_build, claim.chapter)
        quantity, reported, measured, device, chapter = table[re.sub(r"`", "", claim.quantity)]
        assert reported == claim.reported
        value = expected(claim.measured, glued)
        if value is None:
            assert claim.optional, f"{claim.chapter} glued no {claim.keys}"
            assert measured == "not run in this build"
        else:
            assert measured == value
            measured_rows += 1
        assert device == ast.literal_eval(glued[claims.DEVICE_KEY])
        assert chapter == claims.SOURCES[claim.source][0]
    assert measured_rows >= len([c for c in claims.CLAIMS if not c.optional])


def test_the_57_59_and_79_68_pair(smoke_build, table):
    glued = glued_values(smoke_build, "book/posts/exploring-pytorch-and-jax")
    torch_row = table["PyTorch test accuracy, test set normalised to [−1, 1] as in the post"]
    flax_row = table["Flax test accuracy"]
    assert torch_row[1] == "57.59 %" and flax_row[1].startswith("79.68 %")
    assert torch_row[2] == f"{float(glued['posted_PyTorch']):.2%}"
    assert flax_row[2] == (f"{float(glued['posted_JAX']):.2%} Linen · "
                           f"{float(glued['posted_NNX']):.2%} NNX")


def test_slides_epoch_rows_follow_the_epochs_this_build_ran(smoke_build, table):
    glued = glued_values(smoke_build, "book/slides/jax-a-comparative-introduction")
    ran = ast.literal_eval(glued["epoch_rows"])
    assert ran, "the slides chapter trained no epoch"
    for epoch, seconds, train, test in claims.SLIDES_EPOCHS:
        row = table[f"pure-JAX MLP, epoch {epoch}: seconds · train accuracy · test accuracy"]
        assert row[1] == f"{seconds} s · {train} · {test}"
        if epoch < len(ran):
            _, our_seconds, our_train, our_test = ran[epoch]
            assert row[2] == f"{our_seconds:.2f} s · {our_train:.4f} · {our_test:.4f}"
        else:
            assert row[2] == "not run in this build"


def test_chapter_cells_link_to_the_chapters(page):
    markup = page.read_text()
    for _, _, chapter in claims.SOURCES.values():
        if any(claim.chapter == chapter for claim in claims.CLAIMS):
            assert f'href="{posixpath.relpath(chapter, posixpath.dirname(CHAPTER))}.html"' in markup


def test_no_measured_number_is_typed_in_the_page_source():
    # Numbers in the page's own Markdown would be typed by hand; the tables come from the directive.
    prose = re.sub(r"```.*?```", "", (REPO / f"{CHAPTER}.md").read_text(), flags=re.S)
    assert not re.findall(r"\d+\.\d+", prose), "decimal numbers typed into the results page"


def test_render_fills_formats_and_reports_missing_keys():
    glued = {"acc": "0.7846", "name": "'JAX'", "n": "3"}
    assert claims.render("{acc:.2%} by {name} ({n:d})", glued) == "78.46% by JAX (3)"
    assert claims.render("{acc:.2%} and {missing}", glued) is None
    assert claims.glue_keys("a {x:.1f} b {y}") == ["x", "y"]


def test_claims_point_at_known_sources_and_chapters():
    toc = (REPO / "_toc.yml").read_text()
    for claim in claims.CLAIMS:
        assert claim.source in claims.SOURCES
        assert claim.chapter in toc
        assert claim.keys, f"{claim.quantity!r} reads no glued value"


def test_a_missing_required_key_fails_the_build(smoke_build, tmp_path, monkeypatch):
    """The post-transform warns (so -W fails) when a chapter did not glue what a claim needs."""
    from fwcompare import sphinxext

    folder = tmp_path / "jupyter_execute"
    chapter = claims.CLAIMS[0].chapter
    (folder / chapter).parent.mkdir(parents=True)
    device_only = {claims.DEVICE_KEY: {"data": {"text/plain": "'cpu'"}}}
    (folder / f"{chapter}.glue.json").write_text(json.dumps(device_only))
    warnings = []
    monkeypatch.setattr(sphinxext.logger, "warning", lambda message, **kwargs: warnings.append(message))

    class Env:
        docname = CHAPTER

    transform = sphinxext.FillClaimTables.__new__(sphinxext.FillClaimTables)
    monkeypatch.setattr(sphinxext.FillClaimTables, "env", Env(), raising=False)
    cells = transform._row(claims.CLAIMS[0], None, str(folder))
    assert cells[2].astext() == "not run in this build"
    assert any("glued no" in message and claims.CLAIMS[0].keys[0] in message for message in warnings)
