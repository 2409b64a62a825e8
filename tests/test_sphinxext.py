"""The execution-cache key follows code/, the requirements and the build profile."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from fwcompare import sphinxext

INPUTS = ("code", "requirements.txt")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "code" / "pkg").mkdir(parents=True)
    (tmp_path / "code" / "pkg" / "train.py").write_text("LEARNING_RATE = 0.001\n")
    (tmp_path / "requirements.txt").write_text("torch==2.14.1\n")
    (tmp_path / "book.md").write_text("# a page\n")
    return tmp_path


def key(project: Path, profile: str = "full") -> str:
    return sphinxext.cache_key(project, INPUTS, profile)


def test_key_is_stable(project):
    assert key(project) == key(project)
    assert len(key(project)) == 16


@pytest.mark.parametrize("change", [
    lambda p: (p / "code" / "pkg" / "train.py").write_text("LEARNING_RATE = 0.01\n"),
    lambda p: (p / "code" / "pkg" / "new_module.py").write_text(""),
    lambda p: (p / "code" / "pkg" / "train.py").rename(p / "code" / "pkg" / "loop.py"),
    lambda p: (p / "requirements.txt").write_text("torch==2.15.0\n"),
], ids=["edit", "add", "rename", "requirements"])
def test_key_changes_with_the_code_or_the_requirements(project, change):
    before = key(project)
    change(project)
    assert key(project) != before


def test_key_depends_on_the_profile(project):
    assert key(project, "full") != key(project, "smoke")


@pytest.mark.parametrize("noise", [
    lambda p: (p / "book.md").write_text("# edited page\n"),  # the notebook's own cells: jupyter-cache's job
    lambda p: (p / "code" / "pkg" / "__pycache__").mkdir() or (
        p / "code" / "pkg" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"x"),
    lambda p: (p / "code" / "pkg" / "train.pyc").write_bytes(b"x"),
], ids=["page", "pycache", "pyc"])
def test_key_ignores_files_that_are_not_inputs(project, noise):
    before = key(project)
    noise(project)
    assert key(project) == before


def test_configure_points_myst_nb_at_a_keyed_folder_and_adds_the_smoke_banner(project, monkeypatch):
    app = SimpleNamespace(confdir=str(project), outdir=str(project / "_build" / "html"))
    conf = SimpleNamespace(fwcompare_cache_inputs=list(INPUTS), nb_execution_cache_path="",
                           html_theme_options={"repository_url": "x"}, html_context={})
    monkeypatch.setenv("FWCOMPARE_PROFILE", "smoke")
    sphinxext._configure(app, conf)
    assert Path(conf.nb_execution_cache_path) == project / "_build" / ".jupyter_cache" / key(project, "smoke")
    assert conf.html_theme_options == {"repository_url": "x", "announcement": sphinxext.SMOKE_BANNER}
    assert conf.html_context == {"default_mode": "auto"}

    monkeypatch.setenv("FWCOMPARE_PROFILE", "full")
    conf.html_theme_options = {}
    sphinxext._configure(app, conf)
    assert Path(conf.nb_execution_cache_path).name == key(project, "full")
    assert "announcement" not in conf.html_theme_options
    conf.html_context = {"default_mode": "dark"}  # a choice made in _config.yml is kept
    sphinxext._configure(app, conf)
    assert conf.html_context == {"default_mode": "dark"}


def test_each_script_is_written_once():
    # Sphinx 7.4 lists an inline script added late twice, once with file name None, once with "".
    from sphinx.builders.html._assets import _JavaScript

    thebe = "const THEBE_JS_URL = 'x'"
    context = {"script_files": [_JavaScript("_static/a.js"), _JavaScript(None, body=thebe),
                                _JavaScript("_static/b.js", priority=200),
                                _JavaScript("", body=thebe), _JavaScript("_static/a.js"),
                                _JavaScript("", body="let other = 1")]}
    sphinxext._drop_duplicate_scripts(None, "page", "page.html", context, None)
    assert [(js.filename, js.attributes.get("body")) for js in context["script_files"]] == [
        ("_static/a.js", None), (None, thebe), ("_static/b.js", None), ("", "let other = 1")]
