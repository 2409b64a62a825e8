"""Reading experience across the built site: status page, framework tabs, notebook downloads and
Colab, figures, progress bars."""

from __future__ import annotations

import json
import re
import subprocess

import nbformat
import pytest
import yaml

from book_helpers import REPO, page_text, toc_pages
from fwcompare import sphinxext

CHAPTER = "book/beyond/status"
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"]
BRANCH = CONFIG["sphinx"]["config"]["fwcompare_notebooks_branch"]


def notebook_pages() -> list[str]:
    """Pages that are notebooks (have a kernelspec), i.e. that the build executes."""
    return [p for p in toc_pages() if "kernelspec:" in (REPO / f"{p}.md").read_text()]


def article(path) -> str:
    markup = path.read_text()
    return markup[markup.index('<article class="bd-article">'):markup.index("</article>")]


# --- status page -------------------------------------------------------------------------------------

def test_status_lists_every_chapter_with_a_run_time(text):
    for chapter in notebook_pages():
        match = re.search(rf"{re.escape(chapter)} \S+ \S+ (cache|auto|force|inline) (\d+\.?\d*) (\S+)", text)
        assert match, f"{chapter} missing from the execution table"
        assert float(match.group(2)) > 0 and match.group(3) == "✅"


def test_status_names_commit_date_device_and_versions(text):
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if commit.returncode == 0:
        assert f"commit {commit.stdout.strip()[:12]}" in text
    assert re.search(r"built \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    assert "build profile smoke" in text
    for row in ("PyTorch device", "JAX device", "GPU driver", "torch 2.", "jax 0.", "flax 0.", "optax 0."):
        assert row in text


def test_pages_about_the_build_are_reread_every_build():
    class Env:
        found_docs = {"book/beyond/status", "book/beyond/results", "book/posts/x"}
        fwcompare_live_docs = {"book/beyond/status", "book/beyond/results", "gone"}

    assert sphinxext._outdated_live_docs(None, Env(), set(), set(), set()) == [
        "book/beyond/results", "book/beyond/status"]
    # Already scheduled pages are not returned twice.
    assert sphinxext._outdated_live_docs(None, Env(), set(), {"book/beyond/status"}, set()) == [
        "book/beyond/results"]


# --- framework tabs ----------------------------------------------------------------------------------

FRAMEWORK_TABS = [("PyTorch", "torch"), ("Flax NNX", "nnx"), ("Flax Linen", "linen")]


def test_every_framework_tab_set_has_the_three_backends_in_sync(smoke_build):
    """PyTorch | Flax NNX | Flax Linen, in that order, in every framework tab-set of the site."""
    pages_with_tabs = 0
    for chapter in toc_pages():
        markup = (smoke_build / "html" / f"{chapter}.html").read_text()
        # Each piece holds one tab-set's labels: everything up to where the next tab-set starts.
        for tab_set in markup.split('class="sd-tab-set')[1:]:
            tags = re.findall(r'<label[^>]*class="sd-tab-label"[^>]*>\s*[^<]*', tab_set)
            tabs = [(re.sub(r".*>\s*", "", tag, flags=re.S).strip(),
                     re.search(r'data-sync-id="([^"]*)"', tag)[1] if "data-sync-id" in tag else None,
                     re.search(r'data-sync-group="([^"]*)"', tag)[1] if "data-sync-group" in tag else None)
                    for tag in tags]
            if any(label in ("PyTorch", "Flax NNX", "Flax Linen", "JAX") for label, _, _ in tabs):
                assert [(label, sync) for label, sync, _ in tabs] == FRAMEWORK_TABS, (chapter, tabs)
                assert {group for _, _, group in tabs} == {"framework"}, (chapter, tabs)
                pages_with_tabs += 1
    assert pages_with_tabs >= 15


def test_code_in_several_backends_sits_in_tabs():
    """A function shown from one backend whose twin in another backend is shown too must be in a tab-set."""
    for chapter in toc_pages():
        source = (REPO / f"{chapter}.md").read_text()
        outside = re.sub(r"::::\{tab-set\}.*?\n::::\n", "", source, flags=re.S)
        included = r"```\{literalinclude\} \S+/(torch_impl|nnx_impl|linen_impl)/(\S+)\n:pyobject: (\S+)"
        for side, module, name in re.findall(included, outside):
            for twin in {"torch_impl", "nnx_impl", "linen_impl"} - {side}:
                assert f"{twin}/{module}\n:pyobject: {name}" not in source, (chapter, module, name)


def test_tab_choice_persists_across_pages(smoke_build):
    """sphinx-design 0.8 stores the chosen sync id in localStorage and restores it on every page."""
    script = (smoke_build / "html" / "_static" / "design-tabs.js").read_text()
    assert "localStorage.setItem" in script and "localStorage.getItem" in script
    markup = (smoke_build / "html" / "book/posts/what-are-jax-and-flax.html").read_text()
    prefix = re.search(r'<script data-sd-tabs-storage-prefix="([^"]*)"[^>]*design-tabs\.js', markup)
    assert prefix and prefix.group(1), "an empty prefix turns persistence off"


# --- notebooks: download and Colab ---------------------------------------------------------------

@pytest.mark.parametrize("chapter", notebook_pages())
def test_chapter_offers_its_notebook_with_an_install_cell_first(smoke_build, chapter):
    html = smoke_build / "html"
    markup = (html / f"{chapter}.html").read_text()
    notebook_path = html / "_sources" / f"{chapter}.ipynb"
    assert f'_sources/{chapter}.ipynb"' in markup, "no .ipynb download link"
    notebook = nbformat.read(notebook_path, as_version=4)
    nbformat.validate(notebook)
    first = notebook.cells[0]
    assert first.cell_type == "code" and sphinxext.INSTALL_TAG in first.metadata.tags
    assert f"fwcompare[book] @ git+{REPOSITORY}" in first.source
    assert sum(sphinxext.INSTALL_TAG in c.metadata.get("tags", []) for c in notebook.cells) == 1
    # The executed outputs are there too, so a reader sees results before running anything.
    assert any(c.get("outputs") for c in notebook.cells if c.cell_type == "code")
    compile(first.source, "install cell", "exec")


@pytest.mark.parametrize("chapter", notebook_pages())
def test_colab_button_opens_the_published_notebook(smoke_build, chapter):
    markup = (smoke_build / "html" / f"{chapter}.html").read_text()
    colab = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', markup)
    org_repo = REPOSITORY.removeprefix("https://github.com/")
    assert colab and set(colab) == {
        f"https://colab.research.google.com/github/{org_repo}/blob/{BRANCH}/{chapter}.ipynb"}


def test_colab_url_rejects_other_hosts():
    assert sphinxext.colab_url("https://colab.research.google.com/", "https://github.com/a/b.git", "nb",
                               "x/y") == "https://colab.research.google.com/github/a/b/blob/nb/x/y.ipynb"
    with pytest.raises(ValueError, match="github.com"):
        sphinxext.colab_url("https://colab.research.google.com", "https://gitlab.com/a/b", "nb", "x")


def test_install_cell_only_installs_when_the_package_is_missing():
    cell = sphinxext.install_cell("https://github.com/a/b")
    namespace = {}
    # Run with a stub in place of pip: fwcompare is importable here, so nothing may be installed.
    calls = []
    source = cell["source"].replace("subprocess.check_call", "calls.append")
    exec(compile(source, "install cell", "exec"), {"calls": calls, **namespace})
    assert calls == []
    json.dumps(cell)  # serialisable as notebook JSON


# --- figures and progress ------------------------------------------------------------------------

def test_every_image_has_alt_text_and_a_caption(smoke_build):
    figures = 0
    for chapter in toc_pages():
        content = article(smoke_build / "html" / f"{chapter}.html")
        for figure in re.findall(r"<figure\b.*?</figure>", content, flags=re.S):
            caption = re.search(r"<figcaption\b.*?</figcaption>", figure, flags=re.S)
            assert caption and re.sub(r"<[^>]+>|\s", "", caption.group()), (chapter, figure[:200])
            figures += 1
        outside = re.sub(r"<figure\b.*?</figure>", "", content, flags=re.S)
        for tag in re.findall(r"<img\b[^>]*>", content):
            assert re.search(r'alt="[^"]{10,}"', tag), (chapter, tag[:200])
        assert not re.findall(r"<img\b[^>]*>", outside), f"{chapter}: an image outside a captioned figure"
    assert figures >= 10


def test_training_progress_renders_as_final_text_bars(smoke_build):
    markup = article(smoke_build / "html" / "book/posts/what-are-jax-and-flax.html")
    text = page_text(smoke_build / "html" / "book/posts/what-are-jax-and-flax.html")
    for label in ("PyTorch epochs: 100%", "NNX epochs: 100%", "Linen epochs: 100%"):
        assert label in text
    assert "\r" not in markup and "IProgress" not in text and "application/vnd.jupyter.widget" not in markup
    # One line per bar: no intermediate states left behind.
    assert len(re.findall(r"epochs:\s+\d+%", text)) == len(re.findall(r"epochs: 100%", text))


def test_progress_bar_keeps_only_final_lines_in_the_build(monkeypatch, capsys):
    from fwcompare import progress

    monkeypatch.setenv(progress.BUILD_VARIABLE, "1")
    assert list(progress.bar(range(4), desc="steps", every_seconds=1e-9)) == [0, 1, 2, 3]
    out = capsys.readouterr().out
    assert "\r" not in out and out.count("\n") == 1 and "steps: 100%" in out and "4/4" in out
    monkeypatch.delenv(progress.BUILD_VARIABLE)
    list(progress.bar(range(4), desc="live", every_seconds=1e-9))
    assert "\r" in capsys.readouterr().out  # live, the bar redraws itself
    with pytest.raises(ValueError, match="every_seconds"):
        progress.bar(range(2), desc="x", every_seconds=0)
