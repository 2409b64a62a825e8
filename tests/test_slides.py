"""Slide decks cut from built pages: slides per section, prose to notes, tabs, hidden cells, PDFs."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from fwcompare import slides

PAGE = """<html><head><title>A chapter</title></head><body>
<div class="bd-header-announcement"><div class="bd-header-announcement__content">Smoke build.</div></div>
<main><article class="bd-article">
<section id="a-chapter"><h1>A chapter<a class="headerlink" href="#a-chapter">#</a></h1>
<p>Introduction, e.g. this. It goes on.</p>
<p class="fwcompare-slides-link"><a href="../../slides/a-chapter.html">View this chapter as slides</a></p>
<section id="first"><h2>First</h2><p>One <a href="other.html#x">link</a>. Then a second sentence.</p>
  <figure><img src="../../_images/plot.png" alt="a plot" loading="lazy"></figure>
  <p>More prose. The result is <span class="pasted-text">0.97</span> here. Same? <strong><span
  class="pasted-text">True</span></strong>.</p></section>
<section id="second"><h2>Second</h2><p>Opening.</p>
  <section id="second-a"><h3>Part A</h3><pre>code()</pre>
    <div class="cell tag_hide-input"><details class="hide above-input">
      <summary>Show code cell source</summary>
      <div class="cell_input"><pre>hidden_source()</pre></div></details>
      <div class="cell_output"><pre>shown output</pre></div></div></section>
  <section id="second-b"><h3>Part B</h3><p>See <a href="https://example.org">out</a>.</p></section>
</section>
<section id="tabs"><h2>Tabs</h2><p>Both frameworks.</p>
  <div class="sd-tab-set">
    <input checked id="t0" type="radio">
    <label class="sd-tab-label" data-sync-id="torch" for="t0">PyTorch</label>
    <div class="sd-tab-content"><div class="highlight"><pre>torch_code()</pre></div></div>
    <input id="t1" type="radio"><label class="sd-tab-label" data-sync-id="nnx" for="t1">Flax NNX</label>
    <div class="sd-tab-content"><p>An NNX note. More.</p>
      <div class="highlight"><pre>nnx_code()</pre></div></div>
    <input id="t2" type="radio"><label class="sd-tab-label" data-sync-id="linen" for="t2">Flax Linen</label>
    <div class="sd-tab-content"><div class="highlight"><pre>linen_code()</pre></div></div>
  </div>
  <div class="sd-tab-set">
    <input checked id="u0" type="radio">
    <label class="sd-tab-label" data-sync-id="torch" for="u0">PyTorch</label>
    <div class="sd-tab-content"><p><span class="pasted-text">1.5</span> s</p></div>
    <input id="u1" type="radio"><label class="sd-tab-label" data-sync-id="nnx" for="u1">Flax NNX</label>
    <div class="sd-tab-content"><p><span class="pasted-text">1.2</span> s</p></div>
  </div>
</section></section></article></main></body></html>"""


def deck() -> BeautifulSoup:
    html = slides.deck_html(PAGE, "book/slides/a-chapter.html", "slides/a-chapter.html",
                            ["_static/pygments.css"], back_link="book/slides/a-chapter.html",
                            reveal="../_static/reveal")
    return BeautifulSoup(html, "html.parser")


def top_slides(page: BeautifulSoup):
    return page.select_one("div.slides").find_all("section", recursive=False)


def title(section) -> str:
    heading = section.find(re.compile("h[123]"))
    return heading.get_text(strip=True)


def test_sections_become_slides_and_subsections_vertical_slides():
    top = top_slides(deck())
    # the tab-set with code gives one slide per framework: three "Tabs" slides
    assert [title(s) for s in top] == ["A chapter", "First", "Second", "Tabs", "Tabs", "Tabs"]
    assert "center" in top[0]["class"] and top[0]["id"] == "a-chapter"
    stack = top[2].find_all("section", recursive=False)
    assert [title(s) for s in stack] == ["Second", "Part A", "Part B"]
    # an opening with nothing but prose is a divider listing its subsections
    assert "fw-divider" in stack[0]["class"]
    assert [li.get_text() for li in stack[0].select(".fw-agenda li")] == ["Part A", "Part B"]
    assert "code()" in stack[1].get_text()


def test_going_further_stays_in_the_chapter():
    extra = ('<section id="going-further"><h2>Going further</h2><p>Beyond the source.</p>'
             '<section id="deep"><h3>Deep</h3><pre>deep_code()</pre></section></section>')
    page = PAGE.replace('<section id="tabs">', extra + '<section id="tabs">')
    # a main-path link into Going further, and one to a section the deck keeps
    page = page.replace("<p>More prose", '<p><a href="#deep">As shown later</a>, '
                        '<a href="#tabs">or here</a>. More prose', 1)
    assert 'href="#deep"' in page
    html = slides.deck_html(page, "book/slides/a-chapter.html", "slides/a-chapter.html", [],
                            back_link="book/slides/a-chapter.html")
    top = top_slides(BeautifulSoup(html, "html.parser"))
    assert [title(s) for s in top] == ["A chapter", "First", "Second", "Tabs", "Tabs", "Tabs"]
    assert "deep_code" not in html and "Beyond the source" not in html
    # the deck has no "deep" slide: that link goes to the chapter page instead
    assert 'href="../book/slides/a-chapter.html#deep"' in html and 'href="#deep"' not in html
    assert 'href="#tabs"' in html


def test_prose_goes_to_the_notes_but_the_lead_and_the_numbers_stay():
    first = top_slides(deck())[1]
    body, notes = first.select_one(".fw-body"), first.select_one("aside.notes")
    assert [p.get_text() for p in body.select(".fw-lead")] == ["One link."]
    assert [li.get_text(" ", strip=True) for li in body.select(".fw-points li")] == [
        "The result is 0.97 here.", "Same? True ."]
    assert "Then a second sentence" not in body.get_text() and "More prose" not in body.get_text()
    assert body.find("figure") is not None  # figures stay
    first_note = notes.find("p").get_text(" ", strip=True)
    assert first_note == "One link . Then a second sentence."
    assert "More prose" in notes.get_text() and first["data-fw-prose"] == "true"


def test_the_title_slide_keeps_its_lead_and_says_how_the_book_was_built():
    title_slide = top_slides(deck())[0]
    assert title_slide.select_one(".fw-lead").get_text() == "Introduction, e.g. this."
    assert title_slide.select_one(".fw-build-note").get_text() == "Smoke build."


def test_hidden_cells_and_toggles_never_reach_the_deck():
    page = deck()
    text = page.select_one("div.slides").get_text()
    assert "hidden_source" not in text and "Show code cell" not in text
    assert "shown output" in text  # the visible output of a hide-input cell stays
    assert page.select("details, summary, button") == []


def test_tabs_with_code_become_one_slide_per_framework_and_short_tabs_columns():
    page = deck()
    sections = top_slides(page)[3:]
    framework_slides = page.select("section[data-framework]")
    assert [s["data-framework"] for s in framework_slides] == ["torch", "nnx", "linen"]
    assert [s.select_one(".fw-body > .fw-tab-label").get_text() for s in framework_slides] == [
        "PyTorch", "Flax NNX", "Flax Linen"]
    torch_text = framework_slides[0].get_text()
    assert "torch_code()" in torch_text and "nnx_code" not in torch_text
    assert framework_slides[1].select_one(".fw-lead").get_text() == "An NNX note."
    assert "More." in framework_slides[1].select_one("aside.notes").get_text()
    assert sections[0].select_one(".fw-lead").get_text() == "Both frameworks."  # on the PyTorch slide
    columns = page.select(".fw-columns .fw-column")
    assert [c["data-framework"] for c in columns] == ["torch", "nnx"]
    assert "1.5" in columns[0].get_text() and "1.2" in columns[1].get_text()


def test_sentences_keep_abbreviations_and_answers_together():
    def split(markup):
        paragraph = BeautifulSoup(markup, "html.parser").p
        return ["".join(slides._text(node) for node in s) for s in slides.sentences(paragraph)]

    assert split("<p>PyTorch vs. JAX, e.g. Flax. Next one? Yes. Version 0.3.24 is old.</p>") == [
        "PyTorch vs. JAX, e.g. Flax.", "Next one?", "Yes.", "Version 0.3.24 is old."]
    assert split('<p>Equal? <span class="pasted-text">False</span>. <code>jit</code> next.</p>') == [
        "Equal? False.", "jit next."]


def test_links_are_rebased_to_the_deck_folder():
    page = deck()
    assert page.find("img")["src"] == "../_images/plot.png"
    assert page.find("img")["alt"] == "a plot"
    assert not page.find("img").has_attr("loading")  # measured before the deck starts
    hrefs = {a.get_text(): a["href"] for a in page.find_all("a")}
    assert hrefs["link"] == "../book/slides/other.html#x"
    assert hrefs["out"] == "https://example.org"
    assert hrefs["Back to the chapter"] == "../book/slides/a-chapter.html"
    assert page.find("link", href="../_static/pygments.css")
    assert page.find("script", src="../_static/reveal/dist/reveal.js")
    assert page.find("script", src="../_static/reveal/plugin/notes/notes.js")
    assert page.find("meta", attrs={"name": "fwcompare-chapter"})["content"] == "book/slides/a-chapter.html"


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
    package = tmp_path / "reveal.js"
    for name in slides.REVEAL_FILES:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(f"/* {name} */")
    font = package / "dist" / "theme" / "fonts" / "source-sans-pro" / "source-sans-pro.css"
    font.parent.mkdir(parents=True)
    font.write_text("/* the font the white theme @imports */")
    written = slides.write_deck(html_dir, "book/page", "page", local_reveal=package)
    assert written == html_dir / "slides" / "page.html"
    assert (html_dir / "_static" / "reveal" / "dist" / "theme" / "white.css").is_file()
    assert (html_dir / "_static" / "reveal" / "plugin" / "notes" / "notes.js").is_file()
    assert (html_dir / "_static" / "reveal" / font.relative_to(package)).is_file()
    for name in slides.ASSET_FILES:
        assert (html_dir / "_static" / "fwcompare-slides" / name).is_file()
    assert 'src="../_static/reveal/dist/reveal.js"' in written.read_text()
    # without a local copy the deck falls back to the CDN
    from_cdn = slides.write_deck(html_dir, "book/page", "page", local_reveal=None)
    assert f"{slides.REVEAL_CDN}/dist/reveal.js" in from_cdn.read_text()
    with pytest.raises(FileNotFoundError, match="no built page .*missing.html"):
        slides.write_deck(html_dir, "book/missing", "missing")


def test_pdf_pages_reads_page_sizes(tmp_path):
    pdf = (b"%PDF-1.4\n1 0 obj\n<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>\nendobj\n"
           b"2 0 obj\n<< /Type /Page /MediaBox [0 0 960 540] >>\nendobj\n"
           b"3 0 obj\n<</Type/Page/Parent 1 0 R/MediaBox[0 0 960.5 540]>>\nendobj\n")
    path = tmp_path / "d.pdf"
    path.write_bytes(pdf)
    assert slides.pdf_pages(path) == [(960.0, 540.0), (960.5, 540.0)]


def test_decks_pdf_without_chromium_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "slides").mkdir()
    (tmp_path / "slides" / "d.html").write_text("<html></html>")
    monkeypatch.setattr(slides, "find_chromium", lambda: None)
    assert slides.main([str(tmp_path)]) == 1
    assert slides.CHROMIUM_INSTALL in capsys.readouterr().err
    assert slides.main([str(tmp_path / "nothing")]) == 1
    assert "build the book first" in capsys.readouterr().err


def test_link_pdf_adds_one_link_beside_the_deck_link(tmp_path):
    (tmp_path / "book").mkdir()
    chapter = tmp_path / "book" / "c.html"
    chapter.write_text('<p class="fwcompare-slides-link"><a href="../slides/c.html">View as slides</a></p>')
    (tmp_path / "slides").mkdir()
    deck_file = tmp_path / "slides" / "c.html"
    deck_file.write_text('<meta name="fwcompare-chapter" content="book/c.html">')
    for _ in range(2):  # printing again does not add a second link
        slides.link_pdf(tmp_path, deck_file, tmp_path / "slides" / "c.pdf")
    links = BeautifulSoup(chapter.read_text(), "html.parser").select("a.fwcompare-slides-pdf")
    assert [link["href"] for link in links] == ["../slides/c.pdf"]
