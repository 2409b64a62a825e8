"""Sphinx extension for the book: an execution cache that follows the code, and the smoke banner.

jupyter-cache decides whether to re-run a notebook by hashing the notebook's own cells. The
chapters call into ``fwcompare``, so a change under ``code/`` (or to the pinned requirements)
must re-execute them although no cell changed. This extension therefore points myst-nb at a
cache folder named after a hash of those inputs and of the build profile:
``_build/.jupyter_cache/<key>``. A new key is an empty cache, so everything re-runs once.

It also puts a banner on every page of a smoke build, whose numbers are not meaningful, and
writes a reveal.js deck for each page listed in ``fwcompare_slides`` (``fwcompare.slides``).

Pages about the build itself:

* ``{source-claims}`` puts a table of what the sources reported (``fwcompare.claims``) next to
  this build's values. Sphinx reads pages alphabetically, so ``book/beyond/`` is read, and a
  notebook there would run, before ``book/posts/`` has produced anything. The directive therefore
  only leaves a placeholder, and a post-transform fills it when the page is written, after every
  chapter has run, from the glue registry myst-nb writes (``jupyter_execute/<page>.glue.json``).
* ``{build-info}`` shows the build's date and commit.
* Pages using either are re-read on every build, so they never show an earlier build's values.

For readers who want to run a chapter: the theme copies each executed notebook to
``_sources/<page>.ipynb`` for download; this extension adds a first cell that installs the
package from the repository, and points the Colab button at that notebook on the branch
``fwcompare_notebooks_branch``, which the Pages workflow fills (Colab opens notebooks from
GitHub, not from a Pages site, and cannot read MyST Markdown).

Package code a page shows with ``literalinclude`` and ``:pyobject:`` is shown as a reader can copy
it: ``fwcompare.snippets`` puts the imports, constants and package helpers the object needs above
it, so the copied text defines it in a fresh Python session (``PackageLiteralInclude``).

Two fixes keep the pages' browser console clean: the theme gets a default colour mode, and a
script Sphinx 7.4 would write twice is written once.

Enabled from ``_config.yml`` (``sphinx.extra_extensions``); works for a plain
``jupyter-book build .`` as well as for ``make book``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.directives.code import LiteralInclude
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

from fwcompare import chapters, claims, progress, report, slides, snippets
from fwcompare import config as fwconfig

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
    # Fixed once per build, so every page that shows them agrees.
    app.fwcompare_build_info = {"date": report.build_date(), "commit": report.git_commit(app.confdir),
                                "profile": profile}
    # Kernels inherit this: progress bars then write only their final state (fwcompare.progress).
    os.environ[progress.BUILD_VARIABLE] = "1"
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
        local_reveal = Path(app.confdir) / ".tools" / "node_modules" / "reveal.js"  # the npm package
        logger.info(f"slides: {slides.write_deck(Path(app.outdir), docname, deck, local_reveal)}")


# --- package code that runs when copied ------------------------------------------------------------

SNIPPET_CLASS = "fwcompare-snippet"  # marks the blocks the snippet test copies and runs
# Options that pick other lines than the whole object, which the added header would shift.
_LINE_OPTIONS = {"lines", "start-after", "end-before", "start-at", "end-at", "emphasize-lines",
                 "lineno-match", "linenos", "prepend", "append", "diff"}


class PackageLiteralInclude(LiteralInclude):
    """``literalinclude`` as Sphinx has it, except that ``:pyobject:`` of a package module shows the
    object with what it needs to run (``fwcompare.snippets.snippet``)."""

    def run(self):
        result = super().run()
        name = self.options.get("pyobject")
        _, path = self.env.relfn2path(self.arguments[0])
        if name is None or Path(path).suffix != ".py" or not _in_package(Path(path)):
            return result
        clashing = sorted(_LINE_OPTIONS.intersection(self.options))
        if clashing:
            raise self.error(f"literalinclude of {name!r}: {clashing} cannot be combined with :pyobject: "
                             "of package code (the runnable header shifts lines)")
        try:
            text = snippets.snippet(path, name)
        except ValueError as error:
            raise self.error(f"literalinclude {self.arguments[0]} :pyobject: {name}: {error}") from None
        for block in _literal_blocks(result):
            block.rawsource = text
            block.children = [nodes.Text(text)]
            block["classes"].append(SNIPPET_CLASS)
            block.setdefault("language", "python")
        return result


def _in_package(path: Path) -> bool:
    return snippets.PACKAGE_ROOT in path.resolve().parents


def _literal_blocks(result: list[nodes.Node]) -> list[nodes.literal_block]:
    found = []
    for node in result:
        found += node.findall(nodes.literal_block)
    return found


# --- {reading-time}`docname`: how long a chapter takes to read ------------------------------------

class ReadingTimeRole(SphinxRole):
    """``{reading-time}`posts/intro``` -> "12 min (+ 9 min going further)", counted from the
    chapter's source (``fwcompare.chapters``), relative to the current page like ``{doc}``."""

    def run(self):
        target = self.text.strip()
        docname = target.lstrip("/") if target.startswith("/") else \
            str(Path(self.env.docname).parent / target).removeprefix("./")
        # The source file itself, so a build of part of the book (its own toc) still finds it.
        candidates = [Path(self.env.srcdir) / f"{docname}{suffix}" for suffix in self.config.source_suffix]
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if path is None:
            message = self.inliner.reporter.error(f"reading-time: no chapter {target!r} "
                                                  f"(looked for {candidates[0].with_suffix('.*')})",
                                                  line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, message)], [message]
        self.env.note_dependency(str(path))
        count = chapters.prose_words(path)
        text = f"{count.minutes('main')} min"
        if count.going_further:
            text += f" (+ {count.minutes('going_further')} min going further)"
        return [nodes.inline(text=text, classes=["fwcompare-reading-time"])], []


# --- pages about the build: {source-claims} and {build-info} --------------------------------------

class source_claims(nodes.General, nodes.Element):
    """Placeholder for a claims table; replaced when the page is written (``FillClaimTables``)."""


def _live_docs(env) -> set[str]:
    if not hasattr(env, "fwcompare_live_docs"):
        env.fwcompare_live_docs = set()
    return env.fwcompare_live_docs


class SourceClaimsDirective(SphinxDirective):
    """``{source-claims} [source id]``: the sources' reported numbers next to this build's."""

    optional_arguments = 1

    def run(self):
        source = self.arguments[0] if self.arguments else None
        if source is not None and source not in claims.SOURCES:
            raise self.error(f"unknown source {source!r}; known: {', '.join(claims.SOURCES)}")
        _live_docs(self.env).add(self.env.docname)
        node = source_claims(source=source)
        self.set_source_info(node)
        return [node]


class BuildInfoDirective(SphinxDirective):
    """``{build-info}``: date, commit and profile of this build, as a two-column table."""

    def run(self):
        _live_docs(self.env).add(self.env.docname)
        info = self.env.app.fwcompare_build_info
        commit = nodes.literal(text=info["commit"][:12])
        repository = (self.config.html_theme_options or {}).get("repository_url", "")
        if repository and info["commit"] != "unknown":
            url = f"{repository.rstrip('/')}/commit/{info['commit']}"
            commit = nodes.reference("", "", commit, refuri=url)
        rows = [[nodes.Text("built"), nodes.Text(info["date"])],
                [nodes.Text("commit"), commit],
                [nodes.Text("build profile"), nodes.Text(info["profile"])]]
        return [_table(["", "this build"], rows, classes=["fwcompare-build-info"])]


def _table(header: list[str], rows: list[list[nodes.Node]], classes: list[str]) -> nodes.table:
    table = nodes.table(classes=["colwidths-auto", *classes])
    group = nodes.tgroup(cols=len(header))
    table += group
    group += [nodes.colspec(colwidth=1) for _ in header]
    head = nodes.thead()
    head += nodes.row("", *[nodes.entry("", nodes.paragraph(text=title)) for title in header])
    body = nodes.tbody()
    for cells in rows:
        body += nodes.row("", *[nodes.entry("", nodes.paragraph("", "", cell)) for cell in cells])
    group += [head, body]
    return table


def _read_glue(folder: str, docname: str) -> dict[str, str] | None:
    """``{key: text/plain}`` glued by ``docname``, or None when it has no glue file."""
    path = Path(folder, f"{docname}.glue.json")
    if not path.is_file():
        return None
    return {key: output["data"].get("text/plain", "") for key, output in json.loads(path.read_text()).items()}


class FillClaimTables(SphinxPostTransform):
    """Replace each ``source_claims`` placeholder with the table, once every chapter has executed."""

    default_priority = 7  # before the reference resolvers (9, 10): the chapter links are pending_xrefs

    def run(self, **kwargs) -> None:
        folder = self.env.mystnb_config.output_folder
        for node in list(self.document.findall(source_claims)):
            rows = [self._row(claim, node, folder) for claim in claims.CLAIMS
                    if node["source"] in (None, claim.source)]
            header = ["", "the source reported", "this build", "device", "measured in"]
            node.replace_self(_table(header, rows, classes=["fwcompare-claims"]))

    def _row(self, claim: claims.Claim, node: nodes.Node, folder: str) -> list[nodes.Node]:
        glued = _read_glue(folder, claim.chapter)
        if glued is None:
            logger.warning(f"claims: {claim.chapter!r} has no glue data (is it in _toc.yml?)", location=node)
            glued = {}
        measured = claims.render(claim.measured, glued)
        if measured is None:
            missing = [key for key in claim.keys if key not in glued]
            if not claim.optional:
                logger.warning(f"claims: {claim.chapter!r} glued no {missing} for {claim.quantity!r}",
                               location=node)
            measured = "not run in this build"
        device = glued.get(claims.DEVICE_KEY)
        if device is None:
            logger.warning(f"claims: {claim.chapter!r} glued no {claims.DEVICE_KEY!r}", location=node)
        link = pending_xref("", nodes.inline(text=claims.SOURCES[claim.source][0]), refdoc=self.env.docname,
                            refdomain="std", reftype="doc", reftarget="/" + claim.chapter,
                            refexplicit=True, refwarn=True)
        quantity = nodes.inline()
        # Quantities may hold inline code (`...`); everything else is plain text.
        for i, part in enumerate(re.split(r"`([^`]*)`", claim.quantity)):
            quantity += nodes.literal(text=part) if i % 2 else nodes.Text(part)
        return [quantity, nodes.Text(claim.reported), nodes.inline(text=measured, classes=["measured"]),
                nodes.Text(claims.plain_value(device) if device else "unknown"), link]


def _outdated_live_docs(app, env, added, changed, removed) -> list[str]:
    """Pages showing build-wide values are re-read on every build (they are cheap)."""
    return sorted(_live_docs(env) & env.found_docs - added - changed - removed)


def _purge_live_doc(app, env, docname) -> None:
    _live_docs(env).discard(docname)


def _merge_live_docs(app, env, docnames, other) -> None:
    _live_docs(env).update(_live_docs(other) & set(docnames))


# --- downloadable notebooks and Colab ----------------------------------------------------------------

INSTALL_TAG = "fwcompare-install"


def install_cell(repository_url: str) -> dict:
    """The first cell of every downloadable chapter notebook: installs ``fwcompare`` where it is missing.

    The book's build never runs it (it is added only to the downloadable copy); in Colab or a
    fresh environment it installs the package from the repository, with the extra libraries the
    chapters import (``fwcompare[book]``).
    """
    source = (
        "# Run this chapter outside the book (Colab, a fresh environment): install the package it\n"
        "# imports from the book's repository. Datasets are downloaded into ./data on first use.\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if importlib.util.find_spec("fwcompare") is None:\n'
        f'    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet",\n'
        f'                           "fwcompare[book] @ git+{repository_url}"])'
    )
    return {"cell_type": "code", "execution_count": None, "id": "fwcompare-install",
            "metadata": {"tags": [INSTALL_TAG, "skip-execution"]}, "outputs": [], "source": source}


def colab_url(colab: str, repository_url: str, branch: str, pagename: str) -> str:
    """Colab's address for ``<pagename>.ipynb`` on ``branch`` of a GitHub repository."""
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", repository_url)
    if match is None:
        raise ValueError(f"repository url {repository_url!r} is not https://github.com/<org>/<repo>")
    org, repo = match.groups()
    return f"{colab.rstrip('/')}/github/{org}/{repo}/blob/{branch}/{pagename}.ipynb"


def _walk_buttons(buttons: list[dict]):
    for button in buttons:
        yield button
        yield from _walk_buttons(button.get("buttons", []))


def _notebook_downloads(app, pagename, templatename, context, doctree) -> None:
    """After the theme (priority 501): add the install cell, point Colab at the published notebook."""
    if not context.get("ipynb_source"):
        return  # not a notebook page
    repository = (app.config.html_theme_options or {}).get("repository_url", "")
    notebook_path = Path(app.outdir, "_sources", context["ipynb_source"])
    notebook = json.loads(notebook_path.read_text())
    if not any(INSTALL_TAG in cell.get("metadata", {}).get("tags", []) for cell in notebook["cells"]):
        notebook["cells"].insert(0, install_cell(repository))
        notebook_path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    colab = (app.config.html_theme_options or {}).get("launch_buttons", {}).get("colab_url", "")
    for button in _walk_buttons(context.get("header_buttons", [])):
        if button.get("text") == "Colab" and colab and repository:
            button["url"] = colab_url(colab, repository, app.config.fwcompare_notebooks_branch, pagename)


def setup(app):
    app.add_config_value("fwcompare_cache_inputs", list(DEFAULT_CACHE_INPUTS), "env")
    app.add_config_value("fwcompare_slides", {}, "html")
    app.add_config_value("fwcompare_notebooks_branch", "notebooks", "html")
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _drop_duplicate_scripts)
    app.connect("build-finished", _write_slides)
    app.add_node(source_claims)
    app.add_directive("source-claims", SourceClaimsDirective)
    app.add_directive("build-info", BuildInfoDirective)
    app.add_directive("literalinclude", PackageLiteralInclude, override=True)
    app.add_role("reading-time", ReadingTimeRole())
    app.add_post_transform(FillClaimTables)
    app.connect("env-get-outdated", _outdated_live_docs)
    app.connect("env-purge-doc", _purge_live_doc)
    app.connect("env-merge-info", _merge_live_docs)
    app.connect("html-page-context", _notebook_downloads, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
