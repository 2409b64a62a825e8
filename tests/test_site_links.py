"""No broken internal link and no missing image anywhere in the built site.

Sphinx's ``-n`` catches broken cross-references in the sources; this check reads the HTML the
build wrote (theme templates, notebook outputs, slide decks, download links included).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from site_links import broken_links, site_pages

pytestmark = pytest.mark.book

SITE_URL = "https://example.org/book/"


def test_no_broken_internal_links_in_the_built_site(site, site_url):
    pages = site_pages(site)
    assert len(pages) >= 8, f"only {len(pages)} pages in {site}: is it the whole book?"
    problems = broken_links(site, site_url)
    assert not problems, f"{len(problems)} broken internal links:\n" + "\n".join(problems)


def test_the_published_base_url_is_read_from_the_config(site_url):
    assert site_url.startswith("https://") and site_url.endswith("/")


# --- the checker itself, on a tiny site written here ----------------------------------------

def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tiny_site(tmp_path) -> Path:
    root = tmp_path / "html"
    write(root / "index.html", '<meta http-equiv="Refresh" content="0; url=book/index.html" />')
    write(root / "book" / "index.html", """
        <h1 id="top">Top</h1><a name="legacy"></a>
        <a href="page.html#section">ok</a> <a href="#top">ok</a> <a href="#legacy">ok</a>
        <a href="#">ok</a> <a href="sub/">ok: folder index</a> <a href="page.html?q=x">ok: query</a>
        <a href="https://elsewhere.org/missing.html">external</a> <a href="mailto:a@b.c">mail</a>
        <a href="javascript:void(0)">js</a> <img src="data:image/png;base64,AAAA">
        <a href="https://example.org/book/book/page.html">ok: same site, absolute</a>
        <link rel="stylesheet" href="../_static/style.css"> <img src="../_images/fig%201.png">
        <img srcset="../_images/fig%201.png 1x, ../_images/fig-2x.png 2x">
        <a href="missing.html">broken</a> <a href="page.html#nowhere">broken fragment</a>
        <a href="#not-here">broken own fragment</a> <img src="../_images/absent.png"/>
        <script src="../_static/absent.js"></script> <a href="../../outside.html">outside</a>
        <a href="https://example.org/book/gone.html">same site, gone</a>
        """)
    write(root / "book" / "page.html", '<section id="section"></section>')
    write(root / "book" / "sub" / "index.html", "<p>sub</p>")
    write(root / "_static" / "style.css", """@import url("theme/fonts.css");
        /* url(commented-out.woff) */ .a { background: url(data:image/png;base64,AAAA) }
        .b { filter: url(#shadow); background-image: url('../_images/fig%201.png') }""")
    write(root / "_static" / "theme" / "fonts.css", "@import './font-face.css'; src: url(font.woff2?v=1#x)")
    write(root / "_static" / "theme" / "font.woff2", "woff2")
    write(root / "_static" / "ignored.html", '<a href="nope.html">asset folders are not pages</a>')
    write(root / "_images" / "fig 1.png", "png")
    write(tmp_path / "outside.html", "outside the site")
    return root


def test_the_checker_finds_every_planted_problem_and_nothing_else(tiny_site):
    problems = broken_links(tiny_site, SITE_URL)
    assert len(problems) == 9, "\n".join(problems)
    expected = ["'missing.html'", "'page.html#nowhere'", "'#not-here'", "'../_images/absent.png'",
                "'../_images/fig-2x.png'", "'../_static/absent.js'", "'../../outside.html'",
                "'https://example.org/book/gone.html'"]
    for url in expected:
        assert sum(url in problem for problem in problems) == 1, (url, problems)
    assert all(problem.startswith("book/index.html: ") for problem in problems[:-1])
    assert "no id 'nowhere' in book/page.html" in "\n".join(problems)


def test_the_checker_reads_stylesheets(tiny_site):
    assert broken_links(tiny_site, SITE_URL)[-1:] == [
        "_static/theme/fonts.css: url('./font-face.css'): no such file"]


def test_the_checker_follows_redirects(tiny_site):
    (tiny_site / "book" / "index.html").unlink()
    problems = broken_links(tiny_site, SITE_URL)
    assert problems[0] == "index.html: <meta content='book/index.html'>: no such file"
