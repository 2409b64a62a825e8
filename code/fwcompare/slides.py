"""reveal.js slide decks made from built book pages.

A deck is cut from the page Sphinx rendered, not from the raw notebook, so it shows exactly
what the chapter shows: executed outputs, glued numbers, included code, tabs and figures.
Every ``##`` section becomes a slide and every ``###`` inside it a vertical sub-slide; the
text before the first ``##`` is the title slide.
"""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path

from bs4 import BeautifulSoup, Tag

REVEAL_VERSION = "5.1.0"
REVEAL_CDN = f"https://cdn.jsdelivr.net/npm/reveal.js@{REVEAL_VERSION}/dist"
# reveal.js files a deck needs, copied next to the book when a local copy exists (`make tools`
# installs the npm package), so that decks also work offline; otherwise the CDN serves them.
REVEAL_FILES = ("reveal.js", "reveal.css", "theme/white.css")
# Folders those files load from (the white theme @imports its font), copied when present.
REVEAL_FOLDERS = ("theme/fonts/source-sans-pro",)
# Stylesheets of the book that outputs and code need (Pygments colours, sphinx-design tabs,
# myst-nb cells); the theme's layout CSS is left out because it fights reveal.js's.
BOOK_STYLES = ("pygments.css", "sphinx-design.*.css", "mystnb.*.css")
DECK_CSS = """
.reveal { font-size: 26px; }
.reveal .slides section { text-align: left; height: 100%; overflow-y: auto; }
.reveal h1, .reveal h2, .reveal h3 { text-transform: none; }
.reveal h1 { font-size: 1.9em; } .reveal h2 { font-size: 1.45em; } .reveal h3 { font-size: 1.2em; }
.reveal pre { width: 100%; font-size: 0.62em; box-shadow: none; }
.reveal pre code { max-height: 520px; }
.reveal img { max-height: 520px; background: white; }
.reveal table { font-size: 0.75em; }
.reveal .cell_output .output { margin: 0.2em 0; }
.fwcompare-back { font-size: 0.6em; }
"""


def _rebase(url: str, page_dir: str, deck_dir: str) -> str:
    """A link relative to the page, rewritten relative to the deck (absolute and anchors unchanged)."""
    if not url or url.startswith(("#", "/", "data:")) or "://" in url or url.startswith("mailto:"):
        return url
    return posixpath.relpath(posixpath.normpath(posixpath.join(page_dir, url)), deck_dir)


def _content(section: Tag, skip: str) -> list[Tag]:
    """The children of ``section`` that are not nested sections of level ``skip``."""
    return [child for child in section.children
            if isinstance(child, Tag) and not (child.name == "section" and child.find(skip, recursive=False))]


def _slide(soup: BeautifulSoup, parts: list[Tag]) -> Tag:
    slide = soup.new_tag("section")
    for part in parts:
        slide.append(part)
    return slide


def deck_html(page_html: str, page_path: str, deck_path: str, styles: list[str], back_link: str,
              reveal: str = REVEAL_CDN) -> str:
    """The reveal.js deck (an HTML document) for one built page.

    ``page_path`` and ``deck_path`` are the two files' paths inside the HTML output folder, used
    to rewrite relative links; ``styles`` are stylesheet paths inside that folder; ``reveal`` is
    where reveal.js's ``dist`` files are (a URL, or a path relative to the deck).
    """
    soup = BeautifulSoup(page_html, "html.parser")
    article = soup.select_one("article.bd-article") or soup.select_one("main")
    if article is None or article.find("section") is None:
        raise ValueError(f"{page_path} has no article with sections to make slides from")
    for noise in article.select("a.headerlink, .fwcompare-slides-link, script, .toggle-details"):
        noise.decompose()
    page_dir, deck_dir = posixpath.dirname(page_path), posixpath.dirname(deck_path)
    for tag in article.find_all(src=True):
        tag["src"] = _rebase(tag["src"], page_dir, deck_dir)
    for tag in article.find_all(href=True):
        tag["href"] = _rebase(tag["href"], page_dir, deck_dir)

    top = article.find("section")
    deck = BeautifulSoup("", "html.parser")
    slides = [_slide(deck, _content(top, "h2"))]  # title slide: the heading and the introduction
    for chapter in top.find_all("section", recursive=False):
        subsections = chapter.find_all("section", recursive=False)
        first = _slide(deck, _content(chapter, "h3"))
        if not subsections:
            slides.append(first)
            continue
        stack = deck.new_tag("section")  # a vertical stack: the section's opening, then each ###
        stack.append(first)
        for subsection in subsections:
            stack.append(_slide(deck, list(subsection.children)))
        slides.append(stack)

    title = soup.title.get_text() if soup.title else "Slides"
    links = "\n".join(f'<link rel="stylesheet" href="{posixpath.relpath(path, deck_dir)}">'
                      for path in styles)
    back = posixpath.relpath(back_link, deck_dir)
    body = "\n".join(str(slide) for slide in slides)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} (slides)</title>
<link rel="stylesheet" href="{reveal}/reveal.css">
<link rel="stylesheet" href="{reveal}/theme/white.css">
{links}
<style>{DECK_CSS}</style>
</head>
<body>
<div class="reveal"><div class="slides">
{body}
</div></div>
<p class="fwcompare-back" style="position:fixed;bottom:4px;left:8px;margin:0">
<a href="{back}">Back to the chapter</a></p>
<script src="{reveal}/reveal.js"></script>
<script>Reveal.initialize({{hash: true, slideNumber: true, width: 1280, height: 800, margin: 0.04}});</script>
</body>
</html>
"""


def _vendor_reveal(html_dir: Path, local_dist: Path | None) -> str | None:
    """Copy reveal.js into ``_static/reveal`` when ``local_dist`` has it; its path, else None."""
    if local_dist is None or not all((local_dist / name).is_file() for name in REVEAL_FILES):
        return None
    for name in REVEAL_FILES:
        target = html_dir / "_static" / "reveal" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_dist / name, target)
    for name in REVEAL_FOLDERS:
        if (local_dist / name).is_dir():
            shutil.copytree(local_dist / name, html_dir / "_static" / "reveal" / name, dirs_exist_ok=True)
    return "_static/reveal"


def write_deck(html_dir: Path, docname: str, deck_name: str, local_reveal: Path | None = None) -> Path:
    """Write ``slides/<deck_name>.html`` in ``html_dir`` from the built page of ``docname``.

    ``local_reveal`` is a reveal.js ``dist`` folder to copy into the site (else the CDN is used).
    """
    page = html_dir / f"{docname}.html"
    if not page.is_file():
        raise FileNotFoundError(f"no built page {page} to make the '{deck_name}' slides from")
    static = html_dir / "_static"
    styles = sorted(f"_static/{path.name}" for pattern in BOOK_STYLES for path in static.glob(pattern))
    deck_path = f"slides/{deck_name}.html"
    page_path = f"{docname}.html"
    vendored = _vendor_reveal(html_dir, local_reveal)
    reveal = posixpath.relpath(vendored, "slides") if vendored else REVEAL_CDN
    html = deck_html(page.read_text(encoding="utf-8"), page_path, deck_path, styles,
                     back_link=page_path, reveal=reveal)
    target = html_dir / deck_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    return target
