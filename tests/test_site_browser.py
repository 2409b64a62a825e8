"""The built site in a real browser: Debian's Chromium, headless, driven by Playwright.

The site is served on localhost by a threaded ``http.server`` in this process and every page of
it is opened: no console error, no page error, no failed request, every image loaded. Framework
tabs stay in sync from page to page, the search page finds "vmap", and the colour-mode button
switches between the light and the dark theme. A full-page screenshot of every page (light, and
dark where the page has the book's theme) is written to ``$FWCOMPARE_SCREENSHOTS`` (default
``_build/reports/screenshots``), for people to look at and for CI to keep.

Needs ``playwright`` (pinned in requirements.txt; its own browser download is not used) and
Chromium (``apt-get install chromium``: ``chromium`` on PATH), or any Chromium-based browser
named by ``$FWCOMPARE_CHROMIUM``. Without them the tests skip and say what to install, unless
``$FWCOMPARE_REQUIRE_BROWSER`` is set (CI sets it), and then they fail.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from book_helpers import REPO, toc_pages
from fwcompare import slides
from site_links import site_pages

# The timeout covers the smoke build when these tests are the first to need it.
pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]

CHROMIUM = Path(os.environ.get("FWCOMPARE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
# Relative to the repository, like every path in the workflows.
SCREENSHOTS = REPO / os.environ.get("FWCOMPARE_SCREENSHOTS", "_build/reports/screenshots")
# Chromium as root in a container has no usable sandbox; the other switches stop it from calling
# Google's services, which a machine without network refuses, noisily, at every start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The only resources pages may fetch from other hosts: MathJax (the theme adds it to pages with
# maths) and reveal.js when `make tools` could not vendor it. The test answers them with an empty
# script, so it neither needs the network nor depends on a CDN; any other outside request fails it.
ALLOWED_EXTERNAL = ("https://cdn.jsdelivr.net/npm/mathjax@3/", slides.REVEAL_CDN + "/")
TIMEOUT_MS = 20_000


# --- serving the site and driving Chromium ----------------------------------------------------

class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """``http://127.0.0.1:<free port>/`` serving ``folder`` from a thread of this process."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(site) -> Iterator[str]:
    with serve(site) as url:
        yield url


def missing(what: str):
    """Skip, saying what to install; fail instead where CI promised the browser."""
    if os.environ.get("FWCOMPARE_REQUIRE_BROWSER"):
        pytest.fail(f"{what} (FWCOMPARE_REQUIRE_BROWSER is set, so this is not skipped)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("browser test skipped: Playwright is not installed "
                "(pip install -r requirements.txt, which pins playwright)")
    if not CHROMIUM.is_file():
        missing(f"browser test skipped: no Chromium at {CHROMIUM}. Install Debian's chromium "
                "(sudo apt-get install chromium; .ci/run does this when root), or set "
                "FWCOMPARE_CHROMIUM to a Chromium-based browser")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser, server):
    """A fresh browser profile (empty localStorage) in the light colour scheme, whose requests
    never leave localhost: allowed CDN scripts get a stub, anything else outside is refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    context.set_default_timeout(TIMEOUT_MS)
    context.outside_requests = []

    def route(route):
        url = route.request.url
        if url.startswith(server):
            route.continue_()
        elif url.startswith(ALLOWED_EXTERNAL):
            route.fulfill(status=200, content_type="text/javascript", body="/* offline stub */")
        else:
            context.outside_requests.append(url)
            route.abort()

    context.route("**/*", route)
    yield context
    context.close()


def open_page(context, url: str):
    """Open ``url`` in a new tab; returns the tab and the list its problems are added to."""
    problems: list[str] = []
    tab = context.new_page()
    tab.on("console", lambda message: problems.append(
        f"console error: {message.text} ({message.location.get('url', '')})"
    ) if message.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("requestfailed", lambda request: problems.append(
        f"request failed: {request.url} ({request.failure})"))
    tab.on("response", lambda response: problems.append(
        f"HTTP {response.status}: {response.url}") if response.status >= 400 else None)
    tab.goto(url, wait_until="load")
    tab.wait_for_load_state("networkidle")
    return tab, problems


# Every image, lazy ones included, loaded and decoded: an image that failed has naturalWidth 0.
IMAGES_LOADED = """async () => {
    const images = Array.from(document.images);
    images.forEach(image => { image.loading = "eager"; });
    const settled = image => image.complete ? null : new Promise(done => {
        image.addEventListener("load", done); image.addEventListener("error", done); });
    await Promise.race([Promise.all(images.map(settled)), new Promise(done => setTimeout(done, 15000))]);
    return images.map(image => ({src: image.getAttribute("src"),
                                 loaded: image.complete && image.naturalWidth > 0}));
}"""


def screenshot_name(relative: str) -> str:
    """``book/posts/intro.html`` -> ``book__posts__intro``."""
    return relative.removesuffix(".html").replace("/", "__")


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """The screenshot folder, emptied of an earlier run's pictures."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return SCREENSHOTS


# --- the tests ------------------------------------------------------------------------------

def test_every_page_loads_cleanly_with_all_its_images(site, server, context, screenshots):
    pages = [page.relative_to(site).as_posix() for page in site_pages(site)]
    missing = ({f"{docname}.html" for docname in toc_pages()} | {"search.html"}) - set(pages)
    assert not missing, f"pages of the table of contents not in the site: {sorted(missing)}"
    report = []
    for relative in pages:
        tab, problems = open_page(context, server + relative)
        images = tab.evaluate(IMAGES_LOADED)
        problems += [f"image not loaded: {image['src']}" for image in images if not image["loaded"]]
        name = screenshot_name(relative)
        tab.screenshot(path=screenshots / f"{name}.png", full_page=True)
        if tab.evaluate("document.documentElement.dataset.mode") == "auto":
            # The theme follows the system's scheme in "auto" mode: the same page, dark.
            tab.emulate_media(color_scheme="dark")
            tab.wait_for_function("document.documentElement.dataset.theme === 'dark'")
            tab.screenshot(path=screenshots / f"{name}.dark.png", full_page=True)
        tab.close()
        report += [f"{relative}: {problem}" for problem in problems]
    report += [f"request to another host refused: {url}" for url in context.outside_requests]
    assert not report, f"{len(report)} problems in the browser:\n" + "\n".join(report)
    assert len(list(screenshots.glob("*.png"))) > len(pages)  # light for all, dark for themed pages


# Every <pre> that scrolls sideways, with all tabs and dropdowns opened so that hidden ones count.
WIDE_CODE = """() => {
    document.querySelectorAll("details").forEach(details => { details.open = true; });
    document.querySelectorAll(".sd-tab-content, .toggle-hidden, .cell_output, .cell_input")
        .forEach(element => { element.style.display = "block"; });
    return Array.from(document.querySelectorAll("article pre, main pre"))
        .filter(pre => pre.clientWidth > 0 && pre.scrollWidth > pre.clientWidth + 1)
        .map(pre => ({text: pre.textContent.trim().slice(0, 60),
                      scroll: pre.scrollWidth, client: pre.clientWidth}));
}"""


def wide_code(tab) -> list[dict]:
    return tab.evaluate(WIDE_CODE)


def test_no_code_block_scrolls_sideways_at_1280_pixels(site, server, context):
    """Issue 11: at a 1280-pixel-wide window no <pre> on any page is wider than its box."""
    report = []
    for page in site_pages(site):
        relative = page.relative_to(site).as_posix()
        tab, _ = open_page(context, server + relative)
        report += [f"{relative}: {block['scroll']} > {block['client']} px: {block['text']!r}"
                   for block in wide_code(tab)]
        tab.close()
    assert not report, f"{len(report)} code blocks scroll sideways:\n" + "\n".join(report)


def test_the_width_check_catches_a_wide_code_block(tmp_path, browser):
    (tmp_path / "index.html").write_text(
        '<html><body><main><pre style="width: 300px; overflow-x: auto">' + "x = 1; " * 80
        + '</pre><pre style="width: 300px; white-space: pre-wrap">' + "y = 2; " * 80
        + "</pre></main></body></html>")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        with serve(tmp_path) as url:
            tab, _ = open_page(context, url)
            wide = wide_code(tab)
    finally:
        context.close()
    assert [block["text"][:6] for block in wide] == ["x = 1;"]


def framework_pages(site) -> list[str]:
    """The pages that hold tab-sets synced on the ``framework`` group, in table-of-contents order."""
    return [f"{docname}.html" for docname in toc_pages()
            if 'data-sync-group="framework"' in (site / f"{docname}.html").read_text()]


SELECTED = """group => Array.from(document.querySelectorAll(".sd-tab-set")).flatMap(set => {
    const labels = Array.from(set.querySelectorAll(":scope > label.sd-tab-label"))
        .filter(label => label.dataset.syncGroup === group);
    const chosen = labels.filter(label => document.getElementById(label.htmlFor).checked);
    return labels.length ? [chosen.map(label => label.dataset.syncId).join("+")] : [];
})"""


def selected(tab) -> list[str]:
    """The framework chosen in each framework tab-set of the open page."""
    return tab.evaluate(SELECTED, "framework")


def test_framework_tabs_stay_in_sync_across_pages(site, server, context):
    pages = framework_pages(site)
    assert len(pages) >= 2, f"tabs synced on 'framework' are on fewer than two pages: {pages}"
    first, second = pages[0], pages[1]

    tab, problems = open_page(context, server + first)
    assert set(selected(tab)) == {"torch"}, "PyTorch should be the first, default tab"
    label = tab.locator('label.sd-tab-label[data-sync-group="framework"][data-sync-id="nnx"]').first
    label.scroll_into_view_if_needed()
    label.click()
    assert set(selected(tab)) == {"nnx"}, f"{first}: one click on Flax NNX must switch every tab-set"
    visible = tab.locator(".sd-tab-set input:checked + label + .sd-tab-content").first
    assert visible.is_visible()
    tab.close()

    tab, more = open_page(context, server + second)
    assert set(selected(tab)) == {"nnx"}, f"Flax NNX chosen on {first} is not chosen on {second}"
    # And back: PyTorch chosen here is PyTorch on the first page.
    tab.locator('label.sd-tab-label[data-sync-group="framework"][data-sync-id="torch"]').first.click()
    tab.close()
    tab, again = open_page(context, server + first)
    assert set(selected(tab)) == {"torch"}
    tab.close()
    assert not problems + more + again, problems + more + again


def test_search_finds_vmap(server, context, screenshots):
    tab, problems = open_page(context, server + "search.html?q=vmap")
    results = tab.locator("#search-results ul.search li")
    results.first.wait_for(state="attached")
    tab.screenshot(path=screenshots / "search-vmap.png", full_page=True)
    links = [results.nth(i).locator("a").first.get_attribute("href") for i in range(results.count())]
    assert any("an-introduction-to-jax" in link for link in links), links
    summary = tab.locator("#search-results").inner_text()
    assert "vmap" in summary.lower()
    tab.close()
    assert not problems, problems


THEME = "[document.documentElement.dataset.mode, document.documentElement.dataset.theme]"
BACKGROUND = "getComputedStyle(document.body).backgroundColor"


def test_the_colour_mode_button_switches_light_and_dark(server, context, screenshots):
    tab, problems = open_page(context, server + "book/index.html")
    assert tab.evaluate(THEME) == ["auto", "light"], "a new reader follows the system scheme (light here)"
    light_background = tab.evaluate(BACKGROUND)
    button = tab.locator("button.theme-switch-button").first
    seen = []
    for _ in range(3):
        button.click()
        seen.append(tuple(tab.evaluate(THEME)))
        if seen[-1][1] == "dark":
            dark_background = tab.evaluate(BACKGROUND)
    # From "auto" on a light system the button goes to dark, then light, then back to auto.
    assert seen == [("dark", "dark"), ("light", "light"), ("auto", "light")], seen
    assert dark_background != light_background, "the dark theme did not change the page's colours"
    button.click()  # dark again: the choice is remembered on the next page
    tab.close()
    chapter = f"{toc_pages()[1]}.html"
    tab, more = open_page(context, server + chapter)
    assert tab.evaluate(THEME) == ["dark", "dark"], "the dark mode chosen is lost on the next page"
    tab.screenshot(path=screenshots / f"{screenshot_name(chapter)}.dark-chosen.png", full_page=False)
    tab.close()
    assert not problems + more, problems + more


def test_the_browser_check_catches_a_broken_page(tmp_path, browser):
    """The checks above can fail: a page with a missing image and a script error is reported."""
    (tmp_path / "index.html").write_text(
        '<html><body><img src="missing.png" alt="gone"><script>undefinedFunction()</script></body></html>')
    context = browser.new_context()
    try:
        with serve(tmp_path) as url:
            tab, problems = open_page(context, url)
            images = tab.evaluate(IMAGES_LOADED)
    finally:
        context.close()
    assert images == [{"src": "missing.png", "loaded": False}]
    assert any(problem.startswith("HTTP 404") and "missing.png" in problem for problem in problems), problems
    assert any("undefinedFunction" in problem for problem in problems), problems


# --- the slide decks, presented slide by slide ------------------------------------------------

def decks(site) -> list[Path]:
    found = sorted((site / "slides").glob("*.html"))
    assert found, f"no slide decks in {site / 'slides'}"
    return found


# What a presenter would trip on, measured on the slide reveal.js shows now.
CURRENT_SLIDE = """() => {
    const slide = Reveal.getCurrentSlide();
    const height = Reveal.getConfig().height;
    const code = Array.from(slide.querySelectorAll("pre"));
    const heading = slide.querySelector("h1, h2, h3");
    return {
        title: heading ? heading.textContent.trim() : "",
        height: slide.scrollHeight, limit: height,
        sideways: Array.from(slide.querySelectorAll("pre, table"))
            .filter(block => block.scrollWidth > block.clientWidth + 1).length,
        smallest: code.length
            ? Math.min(...code.map(pre => parseFloat(getComputedStyle(pre).fontSize))) : null,
        scaledCode: slide.querySelectorAll(".fw-scaled pre, pre.fw-scaled").length,
        prose: slide.dataset.fwProse === "true",
        notes: (Reveal.getSlideNotes(slide) || "").trim().length,
        index: Reveal.getSlidePastCount(),
    };
}"""

# Every code block of a deck (not outputs) carries Pygments tokens in at least two colours.
HIGHLIGHTED = """() => Array.from(document.querySelectorAll(".slides div[class*='highlight-'] pre"))
    .filter(pre => !pre.closest(".cell_output") && !pre.closest(".highlight-myst-ansi")
                   && !pre.closest(".highlight-text") && pre.textContent.trim())
    .map(pre => {
        const colours = new Set(Array.from(pre.querySelectorAll("span[class]"))
            .map(span => getComputedStyle(span).color));
        colours.add(getComputedStyle(pre).color);
        return {text: pre.textContent.slice(0, 40), colours: colours.size,
                background: getComputedStyle(pre.closest(".highlight")).backgroundColor};
    })"""


def open_deck(context, url: str):
    tab, problems = open_page(context, url)
    tab.wait_for_function("window.FWSlides && FWSlides.ready && Reveal.isReady()")
    return tab, problems


def test_every_deck_slide_fits_and_the_arrow_keys_reach_it(site, server, browser, screenshots):
    """Both decks, presented at 1280 x 720 one slide after another with the right arrow key:
    every slide within the deck's height, nothing scrolling sideways, code at 16 px or more,
    speaker notes on every slide whose section has prose, no toggle anywhere."""
    context = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme="light")
    context.set_default_timeout(TIMEOUT_MS)
    report = []
    try:
        for deck in decks(site):
            tab, problems = open_deck(context, server + f"slides/{deck.name}?transition=none")
            ratio = tab.evaluate("Reveal.getConfig().width / Reveal.getConfig().height")
            assert ratio == pytest.approx(16 / 9), f"{deck.name}: slides are not 16:9"
            assert tab.locator("details, summary, button.toggle-button, .toggle-details").count() == 0
            total = tab.evaluate("Reveal.getTotalSlides()")
            assert total >= 10, f"{deck.name}: only {total} slides"
            tab.locator("body").click(position={"x": 640, "y": 360})  # keyboard focus on the deck
            tab.keyboard.press("Home")
            with_notes = 0
            for number in range(total):
                slide = tab.evaluate(CURRENT_SLIDE)
                where = f"{deck.stem} slide {number + 1} ({slide['title']!r})"
                if slide["index"] != number:
                    report.append(f"{where}: the arrow key went to slide {slide['index'] + 1}")
                if slide["height"] > slide["limit"]:
                    report.append(f"{where}: {slide['height']} px tall, the slide is {slide['limit']}")
                if slide["sideways"]:
                    report.append(f"{where}: {slide['sideways']} blocks scroll sideways")
                if slide["smallest"] is not None and slide["smallest"] < 16:
                    report.append(f"{where}: code at {slide['smallest']} px")
                if slide["scaledCode"]:
                    report.append(f"{where}: code scaled down")
                if slide["prose"] and not slide["notes"]:
                    report.append(f"{where}: its section has prose but the slide has no speaker notes")
                with_notes += slide["notes"] > 0
                if number % 8 == 0:
                    tab.screenshot(path=screenshots / f"deck__{deck.stem}__{number + 1:03d}.png")
                tab.keyboard.press("ArrowRight")
            assert tab.evaluate("Reveal.isLastSlide()"), f"{deck.name}: the arrow keys did not reach the end"
            assert with_notes >= total // 4, f"{deck.name}: notes on only {with_notes} of {total} slides"
            report += [f"{deck.name}: {problem}" for problem in problems]
            tab.close()
    finally:
        context.close()
    assert not report, f"{len(report)} problems presenting the decks:\n" + "\n".join(report)


def test_deck_code_is_highlighted_in_light_and_dark(site, server, context, screenshots):
    for deck in decks(site):
        tab, problems = open_deck(context, server + f"slides/{deck.name}?transition=none")
        light = tab.evaluate(HIGHLIGHTED)
        assert light, f"{deck.name}: no code blocks"
        plain = [block["text"] for block in light if block["colours"] < 2]
        assert not plain, f"{deck.name}: code without highlighting: {plain}"
        tab.keyboard.press("d")  # the deck's light / dark switch
        assert tab.evaluate("document.documentElement.dataset.theme") == "dark"
        dark = tab.evaluate(HIGHLIGHTED)
        assert all(block["colours"] >= 2 for block in dark)
        assert {block["background"] for block in dark} != {block["background"] for block in light}
        assert tab.evaluate(BACKGROUND) != "rgb(255, 255, 255)"
        tab.screenshot(path=screenshots / f"deck__{deck.stem}.dark.png")
        tab.close()
        assert not problems, problems


def test_deck_pdfs_have_one_16_9_page_per_slide(site, server, context, browser, tmp_path):
    """reveal.js's print view, printed by Chromium as `make decks-pdf` does (into a temporary
    folder here): as many pages as the deck has slides, every page 16:9."""
    for deck in decks(site):
        tab, problems = open_deck(context, server + f"slides/{deck.name}")
        total = tab.evaluate("Reveal.getTotalSlides()")
        tab.close()
        assert not problems, problems
        (pdf,) = slides.print_pdfs([deck], out_dir=tmp_path, browser=browser)
        pages = slides.pdf_pages(pdf)
        assert len(pages) == total, f"{pdf.name}: {len(pages)} pages for {total} slides"
        assert all(width / height == pytest.approx(16 / 9, rel=1e-3) for width, height in pages), set(pages)
