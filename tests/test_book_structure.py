"""Every chapter teaches in the same shape (issue 11): what the source is and a box of this
build's findings; the source's lesson on the main path; what goes beyond it under one
"Going further"; key takeaways last. And no cell a reader sees is glue plumbing."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from book_helpers import REPO, toc_pages
from fwcompare import chapters

# Reference pages (the landing page, the results table, the build status) are not chapters.
NOT_CHAPTERS = {"book/index", "book/beyond/results", "book/beyond/status"}
CHAPTERS = [page for page in toc_pages() if page not in NOT_CHAPTERS]
# What a reader should never see in a cell: gluing, and Markdown tables assembled from strings.
PLUMBING = re.compile(r"\bglue\w*\(|\|\s*-{3}|[\"']\s*\|\s*[\"']\s*\.join")


def h2_titles(source: str) -> list[str]:
    return [line[3:].strip() for line in chapters.prose_lines(source) if line.startswith("## ")]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_source_has_findings_main_path_going_further_and_takeaways(chapter):
    source = (REPO / f"{chapter}.md").read_text()
    titles = h2_titles(source)
    first_h2 = source.index("\n## ")
    findings = re.search(r"```\{admonition\}[^\n]*\n:class: findings\b", source)
    assert findings and findings.start() < first_h2, "a findings box before the first section"
    assert titles[-1] == chapters.TAKEAWAYS, f"the last section is {titles[-1]!r}"
    assert re.search(r":class: takeaways\b", source[source.index(f"## {chapters.TAKEAWAYS}"):])
    further = [title for title in titles if title.startswith(chapters.GOING_FURTHER)]
    assert len(further) <= 1, f"one '{chapters.GOING_FURTHER}' section, found {further}"
    if further:
        assert titles.index(further[0]) == len(titles) - 2, "Going further comes right before the takeaways"
        assert titles.index(further[0]) >= 1, "the main path comes before Going further"
    count = chapters.prose_words(source)
    assert count.main > 0 and count.takeaways > 0


def section_of(element) -> str | None:
    """The title of the top-level section (h2) that holds ``element``."""
    for section in element.find_parents("section"):
        heading = section.find(["h2"], recursive=False)
        if heading is not None:
            return heading.get_text().replace("#", "").strip()
    return None


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_built_chapter_shows_findings_first_and_takeaways_last(smoke_build, chapter):
    soup = BeautifulSoup((smoke_build / "html" / f"{chapter}.html").read_text(), "html.parser")
    findings = soup.select("div.admonition.findings")
    assert len(findings) == 1 and section_of(findings[0]) is None, "one findings box, before any section"
    assert findings[0].find("li"), "the findings box lists findings"
    takeaways = soup.select("div.admonition.takeaways")
    assert len(takeaways) == 1 and section_of(takeaways[0]) == chapters.TAKEAWAYS
    titles = [h2.get_text().replace("#", "").strip() for h2 in soup.select("article section > h2")]
    assert titles[-1] == chapters.TAKEAWAYS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_visible_cell_is_glue_plumbing(smoke_build, chapter):
    soup = BeautifulSoup((smoke_build / "html" / f"{chapter}.html").read_text(), "html.parser")
    shown = [cell.get_text() for cell in soup.select("div.cell_input")]
    plumbing = [text.strip()[:200] for text in shown if PLUMBING.search(text)]
    assert not plumbing, f"cells a reader sees that glue or build tables: {plumbing}"


def test_plumbing_pattern_catches_glue_and_tables():
    assert PLUMBING.search('glue("x", 1, display=False)')
    assert PLUMBING.search("pages.glue_md('x', text)")
    assert PLUMBING.search('Markdown("| a | b |\\n|---|---|")')
    assert PLUMBING.search('" | ".join(cells)')
    assert not PLUMBING.search("pages.table(['a', 'b'], rows)")
    assert not PLUMBING.search('print(key.shape, "|", legacy.shape)')
    assert not PLUMBING.search("loss = optax.softmax_cross_entropy(logits, labels).mean()")


def test_prose_words_counts_prose_only_and_by_part():
    source = """---
jupytext: {}
---
# Title words here

```{admonition} What this build found
:class: findings
- two words
```

## The lesson

Prose of five words here.

````{tab-set}
```{tab-item} PyTorch
```{code-cell} ipython3
not counted at all
```
Tab prose.
```
````

```python
print("code is not prose")
```

## Going further

Three more words.

## Key takeaways

Last two.
"""
    count = chapters.prose_words(source)
    # title 3, findings bullet 2, heading 2, paragraph 5, tab prose 2; headings count as prose
    assert count == chapters.WordCount(main=3 + 2 + 2 + 5 + 2, going_further=2 + 3, takeaways=2 + 2)
    with pytest.raises(ValueError, match="comes after '## Key takeaways'"):
        chapters.prose_words(source + "\n## Appendix\n")
    assert count.minutes("main") == 1 and count.minutes("going_further") == 1
    with pytest.raises(ValueError, match="part must be"):
        count.minutes("all")


def test_landing_page_says_how_long_each_chapter_takes_to_read(smoke_build):
    soup = BeautifulSoup((smoke_build / "html" / "book" / "index.html").read_text(), "html.parser")
    times = {}
    for span in soup.select("span.fwcompare-reading-time"):
        link = span.find_parent("tr").find("a") if span.find_parent("tr") else span.find_previous("a")
        times[link["href"].split("#")[0].removesuffix(".html")] = span.get_text()
    for chapter in CHAPTERS:
        relative = chapter.removeprefix("book/")
        assert relative in times, f"no reading time for {chapter} on the landing page"
        count = chapters.prose_words(REPO / f"{chapter}.md")
        assert times[relative].startswith(f"{count.minutes('main')} min")
        if count.going_further:
            assert f"+ {count.minutes('going_further')} min going further" in times[relative]
