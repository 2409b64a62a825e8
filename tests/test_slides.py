"""Slide decks cut from built pages: one slide per ## section, sub-slides per ###, links rebased."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from fwcompare import slides

PAGE = """<html><head><title>A chapter</title></head><body><main><article class="bd-article">
<section id="a-chapter"><h1>A chapter<a class="headerlink" href="#a-chapter">#</a></h1>
<p>Introduction.</p>
<p class="fwcompare-slides-link"><a href="../../slides/a-chapter.html">View this chapter as slides</a></p>
<section id="first"><h2>First</h2><p>One <a href="other.html#x">link</a>.</p>
  <figure><img src="../../_images/plot.png" alt="a plot"></figure></section>
<section id="second"><h2>Second</h2><p>Opening.</p>
  <section id="second-a"><h3>Part A</h3><pre>code()</pre></section>
  <section id="second-b"><h3>Part B</h3><p>See <a href="https://example.org">out</a>.</p></section>
</section></section></article></main></body></html>"""


def deck() -> BeautifulSoup:
    html = slides.deck_html(PAGE, "book/slides/a-chapter.html", "slides/a-chapter.html",
                            ["_static/pygments.css"], back_link="book/slides/a-chapter.html",
                            reveal="../_static/reveal")
    return BeautifulSoup(html, "html.parser")


def test_sections_become_slides_and_subsections_vertical_slides():
    top = deck().select_one("div.slides").find_all("section", recursive=False)
    def titles(sections):
        return [s.find(re.compile("h[123]")).get_text(strip=True) for s in sections]

    assert titles(top) == ["A chapter", "First", "Second"]
    stack = top[2].find_all("section", recursive=False)
    assert titles(stack) == ["Second", "Part A", "Part B"]
    assert "Opening." in stack[0].get_text() and "Part A" not in stack[0].get_text()


def test_links_are_rebased_to_the_deck_folder():
    page = deck()
    assert page.find("img")["src"] == "../_images/plot.png"
    assert page.find("img")["alt"] == "a plot"
    hrefs = {a.get_text(): a["href"] for a in page.find_all("a")}
    assert hrefs["link"] == "../book/slides/other.html#x"
    assert hrefs["out"] == "https://example.org"
    assert hrefs["Back to the chapter"] == "../book/slides/a-chapter.html"
    assert page.find("link", href="../_static/pygments.css")
    assert page.find("script", src="../_static/reveal/reveal.js")


def test_page_furniture_is_dropped():
    text = deck().get_text()
    assert "View this chapter as slides" not in text
    assert "#" not in deck().select_one("div.slides").find("h1").get_text()


def test_page_without_sections_is_rejected():
    with pytest.raises(ValueError, match="has no article with sections"):
        slides.deck_html("<html><main><p>no sections</p></main></html>", "p.html", "slides/p.html",
                         [], back_link="p.html")


def test_write_deck_vendors_reveal_and_names_a_missing_page(tmp_path):
    html_dir = tmp_path / "html"
    (html_dir / "book").mkdir(parents=True)
    (html_dir / "book" / "page.html").write_text(PAGE)
    dist = tmp_path / "dist"
    for name in slides.REVEAL_FILES:
        (dist / name).parent.mkdir(parents=True, exist_ok=True)
        (dist / name).write_text(f"/* {name} */")
    font = dist / "theme" / "fonts" / "source-sans-pro" / "source-sans-pro.css"
    font.parent.mkdir(parents=True)
    font.write_text("/* the font the white theme @imports */")
    written = slides.write_deck(html_dir, "book/page", "page", local_reveal=dist)
    assert written == html_dir / "slides" / "page.html"
    assert (html_dir / "_static" / "reveal" / "theme" / "white.css").is_file()
    assert (html_dir / "_static" / "reveal" / font.relative_to(dist)).is_file()
    assert 'src="../_static/reveal/reveal.js"' in written.read_text()
    # without a local copy the deck falls back to the CDN
    from_cdn = slides.write_deck(html_dir, "book/page", "page", local_reveal=None)
    assert slides.REVEAL_CDN in from_cdn.read_text()
    with pytest.raises(FileNotFoundError, match="no built page .*missing.html"):
        slides.write_deck(html_dir, "book/missing", "missing")
