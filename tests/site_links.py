"""Internal link check over a built HTML site (used by tests/test_site_links.py).

Every ``href``/``src``/``srcset``/``data`` of every ``.html`` file that points into the site
(a relative URL, a root-relative one, or one under the site's published base URL) must name an
existing file, and a ``#fragment`` must be an ``id`` (or an ``<a name>``) of the page it points to.
External URLs (another host, ``mailto:``, ``javascript:``, ``data:``) are not followed.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Attributes that make the browser fetch or navigate to a URL, per tag.
URL_ATTRIBUTES = {
    "a": ("href",),
    "area": ("href",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "script": ("src",),
    "iframe": ("src",),
    "embed": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "object": ("data",),
}
# url(...) and @import "..." in a stylesheet (comments removed first)
CSS_URL = re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'")\s;]+)|url\(\s*['"]?([^'")]+?)['"]?\s*\)""")
CSS_COMMENT = re.compile(r"/\*.*?\*/", flags=re.S)
# Folders of a Sphinx build that hold assets and copies, not pages to check.
SKIPPED_FOLDERS = ("_static", "_sources", "_images", "_downloads")


@dataclass
class ParsedPage:
    ids: set[str] = field(default_factory=set)
    # (tag, attribute, url) of every URL the page references
    urls: list[tuple[str, str, str]] = field(default_factory=list)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = ParsedPage()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value is not None}
        if "id" in values:
            self.page.ids.add(values["id"])
        if tag == "a" and "name" in values:
            self.page.ids.add(values["name"])
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            # <meta http-equiv="refresh" content="0; url=book/index.html">: a redirect
            _, _, target = values.get("content", "").partition("=")
            if target.strip():
                self.page.urls.append((tag, "content", target.strip().strip("'\"")))
        for attribute in URL_ATTRIBUTES.get(tag, ()):
            value = values.get(attribute, "").strip()
            if not value:
                continue
            if attribute == "srcset":
                # "a.png 1x, b.png 2x": the URL is the first word of each candidate
                for candidate in value.split(","):
                    if candidate.strip():
                        self.page.urls.append((tag, attribute, candidate.split()[0]))
            else:
                self.page.urls.append((tag, attribute, value))

    handle_startendtag = handle_starttag


def parse(path: Path) -> ParsedPage:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    collector.close()
    return collector.page


def site_pages(root: Path) -> list[Path]:
    """Every ``.html`` file of the site, outside the asset folders, sorted."""
    return sorted(path for path in root.rglob("*.html")
                  if path.relative_to(root).parts[0] not in SKIPPED_FOLDERS)


def internal_target(url: str, page: Path, root: Path, site_url: str = "") -> tuple[Path, str] | None:
    """``(file, fragment)`` that ``url`` on ``page`` points to inside the site, or None when
    ``url`` leaves the site. A path that climbs out of ``root`` is returned as is (and then
    does not exist under it), so it is reported rather than skipped."""
    if site_url and url.startswith(site_url):
        url = "/" + url[len(site_url):].lstrip("/")
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:  # https:, mailto:, javascript:, data:, //host/...
        return None
    path = unquote(parts.path)
    if not path:
        target = page
    elif path.startswith("/"):
        target = root / path.lstrip("/")
    else:
        relative = posixpath.normpath(posixpath.join(page.parent.relative_to(root).as_posix(), path))
        target = root / relative
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def broken_links(root: Path, site_url: str = "") -> list[str]:
    """One line per broken internal reference in the site at ``root``: a missing file, or a
    fragment that is no id of its page. Empty when every internal link resolves."""
    root = root.resolve()
    parsed: dict[Path, ParsedPage] = {}

    def page_data(path: Path) -> ParsedPage:
        if path not in parsed:
            parsed[path] = parse(path)
        return parsed[path]

    problems = []
    for page in site_pages(root):
        where = page.relative_to(root).as_posix()
        for tag, attribute, url in page_data(page).urls:
            resolved = internal_target(url, page, root, site_url)
            if resolved is None:
                continue
            target, fragment = resolved
            target = Path(posixpath.normpath(target.as_posix()))
            inside = target == root or root in target.parents
            if not inside or not target.is_file():
                problems.append(f"{where}: <{tag} {attribute}={url!r}>: no such file")
                continue
            # "#" alone, and reveal.js routes ("#/2/1") in the decks, are not element ids.
            if not fragment or fragment.startswith("/") or target.suffix != ".html":
                continue
            if fragment not in page_data(target).ids:
                problems.append(f"{where}: <{tag} {attribute}={url!r}>: "
                                f"no id {fragment!r} in {target.relative_to(root).as_posix()}")
    return problems + broken_stylesheet_links(root, site_url)


def broken_stylesheet_links(root: Path, site_url: str = "") -> list[str]:
    """One line per ``url(...)`` or ``@import`` of a ``.css`` file of the site (fonts, images,
    other stylesheets) that names no existing file."""
    problems = []
    for stylesheet in sorted(root.rglob("*.css")):
        text = CSS_COMMENT.sub("", stylesheet.read_text(encoding="utf-8", errors="replace"))
        for match in CSS_URL.finditer(text):
            url = (match.group(1) or match.group(2)).strip()
            if url.startswith("#"):  # an SVG filter or marker inside the document
                continue
            resolved = internal_target(url, stylesheet, root, site_url)
            if resolved is None:
                continue
            target = Path(posixpath.normpath(resolved[0].as_posix()))
            if not (root in target.parents and target.is_file()):
                problems.append(f"{stylesheet.relative_to(root).as_posix()}: url({url!r}): no such file")
    return problems
