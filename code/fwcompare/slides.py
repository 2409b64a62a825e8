"""reveal.js slide decks made from built book pages, and their PDFs.

A deck is cut from the page Sphinx rendered, not from the raw notebook, so it shows exactly
what the chapter shows: executed outputs, glued numbers, included code, tabs and figures.

* Every ``##`` section becomes a slide and every ``###`` inside it a vertical sub-slide (the
  arrow keys walk through all of them in order); the text before the first ``##`` is the title
  slide.
* Slides carry the points, the notes carry the prose: headings, code, outputs, figures, tables,
  lists and admonitions stay on the slide; of the section's paragraphs only the first sentence
  (the lead) stays, with every sentence that holds a glued number as a bullet, and the
  paragraphs themselves, whole, become the slide's reveal.js speaker notes (the ``S`` view).
* A chapter's ``## Going further`` section (its experiments beyond the source) stays in the
  chapter: the deck walks the source's path and ends with the takeaways.
* Hidden and toggled content (``hide-input``, ``hide-output``, ``hide-cell``, dropdowns) never
  reaches a deck; the page's toggle buttons do not either.
* A tab-set (PyTorch | Flax NNX | Flax Linen) becomes one slide per tab, labelled with the
  framework, when its tabs hold code, figures or tables: three columns of code would be too
  narrow to read (about 40 characters at 16 px). Tabs holding only short text (a glued number)
  are shown side by side as columns.
* Code keeps the page's Pygments markup and colours (``pygments.css``, light and dark); the deck
  follows the colour mode chosen in the book, or the system's, and ``D`` switches it.
* Slides fit 16:9 at 1280 x 720: ``slides.js`` measures each slide in the browser before
  reveal.js starts and moves what does not fit to a following slide with the same title and
  "(cont.)", splitting code by lines, tables by rows and lists by items; nothing is cut. Wide
  code and tables are first set smaller, never below 16 px, then wrapped.

``python -m fwcompare.slides _build/html`` (``make decks-pdf``) prints every deck with Chromium,
in reveal.js's print view (one slide a page), to ``slides/<deck>.pdf`` and links the chapter
to it.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import re
import shutil
import sys
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag

REVEAL_VERSION = "5.1.0"
REVEAL_CDN = f"https://cdn.jsdelivr.net/npm/reveal.js@{REVEAL_VERSION}"
# Files of the reveal.js npm package a deck needs, relative to the package, copied next to the
# book when a local copy exists (`make tools` installs it) so that decks also work offline;
# otherwise the CDN serves them.
REVEAL_FILES = ("dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "plugin/notes/notes.js")
# Folders those files load from (the white theme @imports its font), copied when present.
REVEAL_FOLDERS = ("dist/theme/fonts/source-sans-pro",)
# Stylesheets of the book that outputs and code need (Pygments colours for both colour modes,
# sphinx-design, myst-nb cells); the theme's layout CSS is left out because it fights reveal.js's.
BOOK_STYLES = ("pygments.css", "sphinx-design.*.css", "mystnb.*.css")
# The deck's own stylesheet and script (fitting, colour mode), copied into _static.
ASSETS = Path(__file__).with_name("slides_assets")
ASSET_FILES = ("slides.css", "slides.js")
# The slide size: 16:9. Printed, one slide is one page of this size (in CSS pixels).
WIDTH, HEIGHT = 1280, 720
CHROMIUM_INSTALL = "sudo apt-get install -y chromium"

# Page furniture and hidden content that never reaches a deck: heading anchors, the chapter's
# link to its own deck, scripts, every toggle (myst-nb's hide-* cells are <details>, like
# sphinx-design dropdowns; sphinx-togglebutton uses .toggle) and navigation.
NOISE = ("a.headerlink", ".fwcompare-slides-link", "script", "details", ".toggle", ".toggle-details",
         "button", ".toctree-wrapper", ".tag_hide-cell", ".tag_remove-cell")
# The title of the section of a chapter that goes beyond its source: left out of the deck.
GOING_FURTHER = "Going further"
# Blocks that are prose, moved to the speaker notes (their lead and numbers excepted).
PROSE = "p"
# A sentence ends at . ! or ? (and a closing quote or bracket), before a space and a capital,
# a digit-free quote or an opening bracket; "e.g. the" and "0.3.24" are not ends.
SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]?\s+(?=[A-Z\"'“‘(\[`])")
END_OF_TEXT = re.compile(r"[.!?][\"'”’)\]]?\s+$")
# Words whose full stop does not end a sentence ("PyTorch vs. JAX", "e.g. Flax").
ABBREVIATIONS = re.compile(r"(?:^|[\s(])(?:vs|e\.g|i\.e|cf|Fig|Figs|Eq|approx|Dr|Mr|Ms|Mrs|No|al|etc)\.$")
# What a glued value is rendered as (myst-nb {glue:text} / {glue:md} inline).
GLUED = "span.pasted-text, span.pasted-inline, .pasted-inline"


def _rebase(url: str, page_dir: str, deck_dir: str) -> str:
    """A link relative to the page, rewritten relative to the deck (absolute and anchors unchanged)."""
    if not url or url.startswith(("#", "/", "data:")) or "://" in url or url.startswith("mailto:"):
        return url
    return posixpath.relpath(posixpath.normpath(posixpath.join(page_dir, url)), deck_dir)


# --- prose: lead sentence, glued numbers, speaker notes ---------------------------------------

def sentences(paragraph: Tag) -> list[list]:
    """The sentences of a paragraph, each a list of its nodes (inline tags kept whole)."""
    found: list[list] = [[]]
    children = list(paragraph.children)
    for index, child in enumerate(children):
        if not isinstance(child, NavigableString):
            found[-1].append(child)
            continue
        text = str(child)
        start = 0
        for match in SENTENCE_END.finditer(text):
            if ABBREVIATIONS.search(text[:match.start()]):
                continue
            found[-1].append(NavigableString(text[start:match.start()] + match.group(0).rstrip()))
            found.append([])
            start = match.end()
        rest = text[start:]
        if (END_OF_TEXT.search(rest) and index + 1 < len(children)
                and not ABBREVIATIONS.search(rest.rstrip())):
            found[-1].append(NavigableString(rest.rstrip()))
            found.append([])
        elif rest:
            found[-1].append(NavigableString(rest))
    result: list[list] = []
    for sentence in found:
        if not "".join(_text(node) for node in sentence).strip():
            continue
        # An answer that is only a glued value ("... in PyTorch? False.") belongs to its question.
        bare = "".join(_text(node) for node in sentence
                       if not (isinstance(node, Tag) and (_glued(node) or node.select_one(GLUED))))
        if result and not re.sub(r"[\s.,;:!?*()]", "", bare):
            result[-1] += [NavigableString(" ")] + sentence
        else:
            result.append(sentence)
    return result


def _text(node) -> str:
    return node.get_text() if isinstance(node, Tag) else str(node)


def _copy(soup: BeautifulSoup, nodes: list, name: str, css: str) -> Tag:
    """A new ``<name class=css>`` holding copies of ``nodes``."""
    tag = soup.new_tag(name, attrs={"class": css})
    for node in nodes:
        tag.append(_clone(soup, node))
    if tag.contents and isinstance(tag.contents[0], NavigableString):
        tag.contents[0].replace_with(NavigableString(str(tag.contents[0]).lstrip()))
    return tag


def _clone(soup: BeautifulSoup, node):
    if isinstance(node, NavigableString):
        return NavigableString(str(node))
    return BeautifulSoup(str(node), "html.parser").contents[0]


def _is_prose(block: Tag) -> bool:
    """A paragraph of text: no image, no display maths."""
    return (block.name == PROSE and block.find(["img", "figure"]) is None
            and "math" not in block.get("class", []))


def split_prose(soup: BeautifulSoup, blocks: list[Tag]) -> tuple[list[Tag], list[Tag]]:
    """``(slide blocks, note paragraphs)`` of one slide's blocks.

    The first prose paragraph's first sentence leads the slide; every other sentence that holds a
    glued number becomes a bullet; all prose paragraphs, whole, go to the notes.
    """
    shown: list[Tag] = []
    notes: list[Tag] = []
    points: list[Tag] = []
    lead_done = False
    for block in blocks:
        if not _is_prose(block):
            if points:
                shown.append(_points(soup, points))
                points = []
            shown.append(block)
            continue
        notes.append(block)
        parts = sentences(block)
        for number, sentence in enumerate(parts):
            if not lead_done and number == 0:
                shown.append(_copy(soup, sentence, "p", "fw-lead fw-keep"))
                lead_done = True
            elif any(isinstance(node, Tag) and (_glued(node) or node.select_one(GLUED)) for node in sentence):
                points.append(_copy(soup, sentence, "li", "fw-point"))
    if points:
        shown.append(_points(soup, points))
    return shown, notes


def _glued(tag: Tag) -> bool:
    return any(css in tag.get("class", []) for css in ("pasted-text", "pasted-inline"))


def _points(soup: BeautifulSoup, items: list[Tag]) -> Tag:
    points = soup.new_tag("ul", attrs={"class": "fw-points"})
    for item in items:
        points.append(item)
    return points


# --- tab-sets ------------------------------------------------------------------------------

def _tabs(tab_set: Tag) -> list[tuple[str, str, list[Tag]]]:
    """``(label, sync id, content blocks)`` of each tab of a sphinx-design tab-set."""
    tabs = []
    for label in tab_set.find_all("label", class_="sd-tab-label", recursive=False):
        content = label.find_next_sibling("div", class_="sd-tab-content")
        blocks = [child for child in content.children if isinstance(child, Tag)] if content else []
        tabs.append((label.get_text(" ", strip=True), label.get("data-sync-id", ""), blocks))
    return tabs


def _heavy(blocks: list[Tag]) -> bool:
    """Whether tab content needs a slide's width: code, a figure, a table or an output."""
    heavy = ["pre", "table", "figure", "img"]
    return any(block.name in heavy or block.find(heavy) for block in blocks)


def _columns(soup: BeautifulSoup, tabs: list[tuple[str, str, list[Tag]]]) -> Tag:
    """Light tabs side by side, each column headed by its label."""
    row = soup.new_tag("div", attrs={"class": "fw-columns"})
    for label, sync, blocks in tabs:
        column = soup.new_tag("div", attrs={"class": "fw-column", "data-framework": sync})
        badge = soup.new_tag("p", attrs={"class": "fw-tab-label"})
        badge.string = label
        column.append(badge)
        for block in blocks:
            column.append(block)
        row.append(column)
    return row


# --- slides --------------------------------------------------------------------------------

class _Slide:
    """One slide before rendering: its heading, its blocks and its notes."""

    def __init__(self, heading: Tag | None, blocks: list[Tag], notes: list[Tag], label: str = "",
                 sync: str = "", classes: str = "", ident: str = ""):
        self.heading, self.blocks, self.notes = heading, blocks, notes
        self.ident = ident
        self.label, self.sync, self.classes = label, sync, classes

    def render(self, soup: BeautifulSoup) -> Tag:
        section = soup.new_tag("section")
        if self.ident:
            section["id"] = self.ident
        if self.classes:
            section["class"] = self.classes
        if self.sync:
            section["data-framework"] = self.sync
        if self.notes:
            section["data-fw-prose"] = "true"
        # The frame holds the slide's padding: reveal.js's print view zeroes a section's own.
        frame = soup.new_tag("div", attrs={"class": "fw-slide"})
        section.append(frame)
        if self.heading is not None:
            frame.append(_clone(soup, self.heading))
        body = soup.new_tag("div", attrs={"class": "fw-body"})
        if self.label:
            badge = soup.new_tag("p", attrs={"class": "fw-tab-label fw-keep fw-repeat"})
            badge.string = self.label
            body.append(badge)
        for block in self.blocks:
            body.append(_clone(soup, block))
        frame.append(body)
        if self.notes:
            aside = soup.new_tag("aside", attrs={"class": "notes"})
            for note in self.notes:
                aside.append(_clone(soup, note))
            section.append(aside)
        return section


def _section_slides(soup: BeautifulSoup, section: Tag) -> list[_Slide]:
    """The slides of one section: usually one; a tab-set with code makes one slide per tab."""
    heading = _heading(section)
    shown, notes = split_prose(soup, _children(section))
    result = [_Slide(heading, [], notes, ident=section.get("id", ""))]
    for block in shown:
        tab_set = block if "sd-tab-set" in block.get("class", []) else None
        if tab_set is None:
            if result[-1].label:  # after a tab's slide: a slide of the section again
                result.append(_Slide(heading, [], [], classes="fw-after-tabs"))
            result[-1].blocks.append(block)
            continue
        tabs = _tabs(tab_set)
        if not any(_heavy(tab_blocks) for _, _, tab_blocks in tabs):
            result[-1].blocks.append(_columns(soup, tabs))
            continue
        for position, (label, sync, tab_blocks) in enumerate(tabs):
            tab_shown, tab_notes = split_prose(soup, tab_blocks)
            if position == 0 and not result[-1].label and _only_lead(result[-1].blocks):
                slide = result[-1]  # the section's lead sentence opens the first tab's slide
                slide.label, slide.sync = label, sync
            else:
                slide = _Slide(heading, [], [], label=label, sync=sync)
                result.append(slide)
            slide.blocks += tab_shown
            slide.notes += tab_notes
    return [slide for slide in result if slide.blocks or slide.label or slide is result[0]]


def _continued(soup: BeautifulSoup, heading: Tag | None) -> Tag | None:
    """A copy of ``heading`` marked "(cont.)", as slides.js marks the slides it adds."""
    if heading is None:
        return None
    copy = _clone(soup, heading)
    mark = soup.new_tag("span", attrs={"class": "fw-cont-mark"})
    mark.string = " (cont.)"
    copy.append(mark)
    return copy


def _only_lead(blocks: list[Tag]) -> bool:
    return all("fw-lead" in block.get("class", []) or "fw-points" in block.get("class", [])
               for block in blocks)


def _children(section: Tag) -> list[Tag]:
    """The element children of ``section`` other than its heading and nested sections."""
    return [child for child in section.children
            if isinstance(child, Tag) and child.name != "section" and not re.fullmatch(r"h[1-6]", child.name)]


def _is_going_further(section: Tag) -> bool:
    heading = _heading(section)
    return heading is not None and heading.get_text(" ", strip=True) == GOING_FURTHER


def _going_further_ids(article: Tag) -> set[str]:
    """The anchors inside the chapter's "Going further", which the deck leaves out."""
    top = article.find("section")
    ids = set()
    for section in top.find_all("section", recursive=False) if top else []:
        if _is_going_further(section):
            ids |= {tag["id"] for tag in [section, *section.find_all(id=True)] if tag.get("id")}
    return ids


def _point_to_page(article: Tag, missing: set[str], page_link: str) -> None:
    """In-page links to anchors the deck leaves out go to the chapter page instead."""
    for tag in article.find_all(href=True):
        if tag["href"].startswith("#") and tag["href"][1:] in missing:
            tag["href"] = f"{page_link}{tag['href']}"


def _heading(section: Tag) -> Tag | None:
    return section.find(re.compile(r"^h[1-6]$"), recursive=False)


def deck_html(page_html: str, page_path: str, deck_path: str, styles: list[str], back_link: str,
              reveal: str = REVEAL_CDN, assets: str = "../_static/fwcompare-slides") -> str:
    """The reveal.js deck (an HTML document) for one built page.

    ``page_path`` and ``deck_path`` are the two files' paths inside the HTML output folder, used
    to rewrite relative links; ``styles`` are stylesheet paths inside that folder; ``reveal`` is
    where the reveal.js package's files are (a URL, or a path relative to the deck); ``assets``
    is where the deck's own ``slides.css`` and ``slides.js`` are, relative to the deck.
    """
    soup = BeautifulSoup(page_html, "html.parser")
    article = soup.select_one("article.bd-article") or soup.select_one("main")
    if article is None or article.find("section") is None:
        raise ValueError(f"{page_path} has no article with sections to make slides from")
    for noise in article.select(", ".join(NOISE)):
        noise.decompose()
    page_dir, deck_dir = posixpath.dirname(page_path), posixpath.dirname(deck_path)
    for tag in article.find_all(src=True):
        tag["src"] = _rebase(tag["src"], page_dir, deck_dir)
    for tag in article.find_all(href=True):
        tag["href"] = _rebase(tag["href"], page_dir, deck_dir)
    _point_to_page(article, _going_further_ids(article), posixpath.relpath(page_path, deck_dir))
    for image in article.find_all("img"):
        image.attrs.pop("loading", None)  # measured before the deck starts: load them all now

    deck = BeautifulSoup("", "html.parser")
    top = article.find("section")
    title_slides = _section_slides(deck, top)
    title_slides[0].classes = "fw-title center"
    lead = [block for block in title_slides[0].blocks if "fw-lead" in block.get("class", [])]
    rest = [block for block in title_slides[0].blocks if block not in lead]
    if rest:  # the title slide shows the title and the lead; code and the like follow it
        title_slides[0].blocks = lead
        title_slides.insert(1, _Slide(_continued(deck, _heading(top)), rest, [], classes="fw-cont"))
    announcement = soup.select_one(".bd-header-announcement__content, .bd-header-announcement")
    if announcement is not None and announcement.get_text(strip=True):
        note = deck.new_tag("p", attrs={"class": "fw-build-note"})
        note.string = announcement.get_text(" ", strip=True)
        title_slides[0].blocks.append(note)
    slides: list[Tag] = [slide.render(deck) for slide in title_slides]
    for chapter in top.find_all("section", recursive=False):
        if _is_going_further(chapter):
            continue
        subsections = chapter.find_all("section", recursive=False)
        opening = _section_slides(deck, chapter)
        if not subsections:
            slides += [slide.render(deck) for slide in opening]
            continue
        if len(opening) == 1 and not opening[0].label and _only_lead(opening[0].blocks):
            # A section with no more than prose before its first ###: a divider with the agenda.
            agenda = deck.new_tag("ul", attrs={"class": "fw-agenda"})
            for subsection in subsections:
                item = deck.new_tag("li")
                heading = _heading(subsection)
                item.string = heading.get_text(" ", strip=True) if heading else ""
                agenda.append(item)
            opening[0].blocks.append(agenda)
            opening[0].classes = "fw-divider"
        stack = deck.new_tag("section")  # a vertical stack: the section's opening, then each ###
        for slide in opening:
            stack.append(slide.render(deck))
        for subsection in subsections:
            for slide in _section_slides(deck, subsection):
                stack.append(slide.render(deck))
        slides.append(stack)

    title = soup.title.get_text() if soup.title else "Slides"
    links = "\n".join(f'<link rel="stylesheet" href="{posixpath.relpath(path, deck_dir)}">'
                      for path in styles)
    back = posixpath.relpath(back_link, deck_dir)
    body = "\n".join(str(slide) for slide in slides)
    return f"""<!DOCTYPE html>
<html lang="en" data-theme="light">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="fwcompare-chapter" content="{back_link}">
<link rel="icon" href="data:,">
<title>{title} (slides)</title>
<script src="{assets}/slides.js"></script>
<link rel="stylesheet" href="{reveal}/dist/reveal.css">
<link rel="stylesheet" href="{reveal}/dist/theme/white.css">
{links}
<link rel="stylesheet" href="{assets}/slides.css">
</head>
<body>
<div class="reveal"><div class="slides">
{body}
</div></div>
<p class="fwcompare-back"><a href="{back}">Back to the chapter</a></p>
<script src="{reveal}/dist/reveal.js"></script>
<script src="{reveal}/plugin/notes/notes.js"></script>
<script>FWSlides.start({{width: {WIDTH}, height: {HEIGHT}, minCodePx: 16}});</script>
</body>
</html>
"""


def _vendor_reveal(html_dir: Path, local_reveal: Path | None) -> str | None:
    """Copy reveal.js into ``_static/reveal`` when ``local_reveal`` (the npm package) has it."""
    if local_reveal is None or not all((local_reveal / name).is_file() for name in REVEAL_FILES):
        return None
    for name in REVEAL_FILES:
        target = html_dir / "_static" / "reveal" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_reveal / name, target)
    for name in REVEAL_FOLDERS:
        if (local_reveal / name).is_dir():
            shutil.copytree(local_reveal / name, html_dir / "_static" / "reveal" / name, dirs_exist_ok=True)
    return "_static/reveal"


def write_deck(html_dir: Path, docname: str, deck_name: str, local_reveal: Path | None = None) -> Path:
    """Write ``slides/<deck_name>.html`` in ``html_dir`` from the built page of ``docname``.

    ``local_reveal`` is the reveal.js npm package folder to copy into the site (else the CDN is used).
    """
    page = html_dir / f"{docname}.html"
    if not page.is_file():
        raise FileNotFoundError(f"no built page {page} to make the '{deck_name}' slides from")
    static = html_dir / "_static"
    styles = sorted(f"_static/{path.name}" for pattern in BOOK_STYLES for path in static.glob(pattern))
    assets = static / "fwcompare-slides"
    assets.mkdir(parents=True, exist_ok=True)
    for name in ASSET_FILES:
        shutil.copyfile(ASSETS / name, assets / name)
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


# --- PDF -----------------------------------------------------------------------------------

def find_chromium() -> Path | None:
    """Chromium to print with: ``$FWCOMPARE_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on PATH."""
    named = os.environ.get("FWCOMPARE_CHROMIUM")
    if named:
        return Path(named) if Path(named).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


# Chromium as root in a container has no usable sandbox; the rest keeps it off the network.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")


def print_pdfs(decks: list[Path], chromium: Path | None = None, out_dir: Path | None = None,
               browser=None) -> list[Path]:
    """Print each deck with Chromium in reveal.js's print view (``?print-pdf``): one slide a page.

    Each PDF is written beside its deck (or into ``out_dir``) as ``<deck>.pdf``. ``browser`` is
    a Playwright Chromium already running (the tests pass theirs); else ``chromium`` is started.
    The deck is opened from the file system; requests to other hosts than reveal.js's CDN are
    refused.
    """
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            started = playwright.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS))
            try:
                return print_pdfs(decks, out_dir=out_dir, browser=started)
            finally:
                started.close()
    written = []
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, color_scheme="light")
    try:
        # The deck's own files, and reveal.js from the CDN where the site did not vendor it.
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith(("file:", REVEAL_CDN + "/")) else route.abort())
        for deck in decks:
            tab = context.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
            tab.goto(deck.resolve().as_uri() + "?print-pdf", wait_until="load")
            tab.wait_for_function("window.FWSlides && FWSlides.pdfReady", timeout=120_000)
            if errors:
                raise RuntimeError(f"{deck}: errors in the browser: {errors}")
            target = (out_dir or deck.parent) / f"{deck.stem}.pdf"
            target.parent.mkdir(parents=True, exist_ok=True)
            tab.pdf(path=str(target), prefer_css_page_size=True, print_background=True)
            tab.close()
            written.append(target)
    finally:
        context.close()
    return written


def pdf_pages(pdf: Path) -> list[tuple[float, float]]:
    """``(width, height)`` in points of every page of a PDF Chromium wrote (uncompressed page tree)."""
    data = pdf.read_bytes()
    pages = []
    for match in re.finditer(rb"/Type\s*/Page(?![a-zA-Z])", data):
        start = data.rfind(b" obj", 0, match.start())
        end = data.find(b"endobj", match.end())
        box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", data[start:end])
        if box is None:
            raise ValueError(f"{pdf}: a page without a /MediaBox")
        x0, y0, x1, y1 = (float(value) for value in box.groups())
        pages.append((x1 - x0, y1 - y0))
    return pages


def link_pdf(html_dir: Path, deck: Path, pdf: Path) -> Path | None:
    """Add a link to ``pdf`` beside the chapter's link to its deck; returns the chapter page."""
    markup = deck.read_text(encoding="utf-8")
    chapter = re.search(r'<meta name="fwcompare-chapter" content="([^"]+)"', markup)
    if chapter is None:
        return None
    page = html_dir / chapter.group(1)
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    href = posixpath.relpath(pdf.relative_to(html_dir).as_posix(), posixpath.dirname(chapter.group(1)))
    holder = soup.select_one(".fwcompare-slides-link")
    if holder is None:
        return None
    for old in holder.select("a.fwcompare-slides-pdf"):
        old.previous_sibling.extract() if isinstance(old.previous_sibling, NavigableString) else None
        old.decompose()
    link = soup.new_tag("a", attrs={"class": "fwcompare-slides-pdf", "href": href})
    link.string = "PDF"
    holder.append(NavigableString(" · "))
    holder.append(link)
    page.write_text(str(soup), encoding="utf-8")
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the book's slide decks to PDF with Chromium.")
    parser.add_argument("html_dir", type=Path, help="the built site, e.g. _build/html")
    args = parser.parse_args(argv)
    decks = sorted((args.html_dir / "slides").glob("*.html"))
    if not decks:
        print(f"No decks in {args.html_dir / 'slides'}: build the book first "
              "(make book, or make book-smoke).",
              file=sys.stderr)
        return 1
    chromium = find_chromium()
    if chromium is None:
        print("Chromium is needed to print the slide decks to PDF, and none was found.\n"
              f"Install it: {CHROMIUM_INSTALL}   (or set FWCOMPARE_CHROMIUM to a Chromium-based browser)",
              file=sys.stderr)
        return 1
    for pdf in print_pdfs(decks, chromium):
        deck = pdf.with_suffix(".html")
        pages = pdf_pages(pdf)
        link_pdf(args.html_dir, deck, pdf)
        print(f"{pdf}: {len(pages)} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
