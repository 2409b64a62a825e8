"""Sphinx extension for the book: an execution cache that follows the code, and the smoke banner.

jupyter-cache decides whether to re-run a notebook by hashing the notebook's own cells. The
chapters call into ``fwcompare``, so a change under ``code/`` (or to the pinned requirements)
must re-execute them although no cell changed. This extension therefore points myst-nb at a
cache folder named after a hash of those inputs and of the build profile:
``_build/.jupyter_cache/<key>``. A new key is an empty cache, so everything re-runs once.

It also puts a banner on every page of a smoke build, whose numbers are not meaningful, and
writes a reveal.js deck for each page listed in ``fwcompare_slides`` (``fwcompare.slides``).
Two fixes keep the pages' browser console clean: the theme gets a default colour mode, and a
script Sphinx 7.4 would write twice is written once.
Enabled from ``_config.yml`` (``sphinx.extra_extensions``); works for a plain
``jupyter-book build .`` as well as for ``make book``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from sphinx.util import logging

from fwcompare import config as fwconfig
from fwcompare import slides

logger = logging.getLogger(__name__)

DEFAULT_CACHE_INPUTS = ("code", "requirements.txt", "requirements-gpu.txt", "pyproject.toml")
# Byte-code and editor droppings change without the code changing.
IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
IGNORED_SUFFIXES = {".pyc", ".pyo"}

SMOKE_BANNER = (
    "Smoke build: every chapter ran on small data subsets for one or two epochs, so the numbers on these "
    "pages are not meaningful. Build with FWCOMPARE_PROFILE=full (the default) for real results."
)


def _files(root: Path, inputs: Iterable[str]) -> list[Path]:
    files = []
    for entry in inputs:
        path = root / entry
        if path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            files.append(path)
    return sorted(p for p in files if p.suffix not in IGNORED_SUFFIXES
                  and not IGNORED_PARTS.intersection(p.relative_to(root).parts))


def cache_key(root: Path, inputs: Iterable[str], profile: str) -> str:
    """A short hash of the build profile and of the names and bytes of every file in ``inputs``."""
    digest = hashlib.sha256(f"profile={profile}\n".encode())
    for path in _files(root, inputs):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _configure(app, config) -> None:
    profile = fwconfig.build_profile()
    key = cache_key(Path(app.confdir), config.fwcompare_cache_inputs, profile)
    # myst-nb reads this at builder-inited, after config-inited.
    config.nb_execution_cache_path = str(Path(app.outdir).parent / ".jupyter_cache" / key)
    # Without a default colour mode pydata-sphinx-theme gives a first-time reader an empty mode,
    # logs "Got invalid theme mode" as a console error and falls back to "auto": say "auto".
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")
    config.html_context = context
    if profile == "smoke":
        options = dict(config.html_theme_options or {})
        options["announcement"] = SMOKE_BANNER
        config.html_theme_options = options


def _script_key(script) -> tuple:
    attributes = getattr(script, "attributes", {})
    return (getattr(script, "filename", script) or "", tuple(sorted(attributes.items())))


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """Write each ``<script>`` once. Sphinx 7.4 writes an inline script that an extension adds
    after the builder started twice (its file name is None once and "" once; fixed in Sphinx 8.2,
    sphinx-doc/sphinx#13402), and sphinx-thebe's ``const THEBE_JS_URL`` declared twice is a
    SyntaxError on every page."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        if _script_key(script) not in seen:
            seen.add(_script_key(script))
            unique.append(script)
    context["script_files"] = unique


def _write_slides(app, exception) -> None:
    """After a successful HTML build: ``slides/<deck>.html`` for each ``{docname: deck}`` configured."""
    if exception is not None or app.builder.format != "html":
        return
    for docname, deck in app.config.fwcompare_slides.items():
        if docname not in app.env.all_docs:  # e.g. a build with a partial table of contents
            logger.info(f"slides: skipping {docname!r}, which this build does not include")
            continue
        local_reveal = Path(app.confdir) / ".tools" / "node_modules" / "reveal.js" / "dist"
        logger.info(f"slides: {slides.write_deck(Path(app.outdir), docname, deck, local_reveal)}")


def setup(app):
    app.add_config_value("fwcompare_cache_inputs", list(DEFAULT_CACHE_INPUTS), "env")
    app.add_config_value("fwcompare_slides", {}, "html")
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _drop_duplicate_scripts)
    app.connect("build-finished", _write_slides)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
