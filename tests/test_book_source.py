"""The chapters' MyST sources, checked without building the book (fast)."""

from __future__ import annotations

import re

import pytest

from book_helpers import REPO, toc_pages

FRAMEWORK_TABS = [("PyTorch", "torch"), ("Flax NNX", "nnx"), ("Flax Linen", "linen")]
TAB_SET = re.compile(r"^(?P<fence>:{4,})\{tab-set\}\n(?P<body>.*?)^(?P=fence)$", re.M | re.S)
TAB_ITEM = re.compile(r"^:{3,}\{tab-item\} (?P<label>[^\n]+)\n(?P<options>(?::[^\n]*\n)*)", re.M)


def framework_tab_sets():
    for chapter in toc_pages():
        for match in TAB_SET.finditer((REPO / f"{chapter}.md").read_text()):
            if ":sync-group: framework" in match["body"].split("\n\n")[0]:
                yield chapter, match["body"]


SETS = list(framework_tab_sets())


def test_chapters_compare_the_frameworks_in_tabs():
    assert len(SETS) >= 15


@pytest.mark.parametrize(("chapter", "body"), SETS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(SETS)])
def test_every_framework_tab_set_shows_pytorch_nnx_and_linen(chapter, body):
    items = [(m["label"].strip(), re.search(r"^:sync: (\S+)", m["options"], re.M))
             for m in TAB_ITEM.finditer(body)]
    assert [(label, sync and sync[1]) for label, sync in items] == FRAMEWORK_TABS, chapter


IMPORT = re.compile(r"^from fwcompare(?:\.\w+)* import (?P<names>[^\n(]+|\([^)]*\))", re.M)


def package_aliases(source: str) -> set[str]:
    """The names a chapter binds to fwcompare modules and objects (``x`` or ``y`` of ``import x as y``)."""
    aliases = set()
    for match in IMPORT.finditer(source):
        for item in match["names"].strip("()").split(","):
            if item.strip():
                aliases.add(item.split(" as ")[-1].strip())
    return aliases


@pytest.mark.parametrize("chapter", toc_pages())
def test_chapters_call_only_public_package_names(chapter):
    source = (REPO / f"{chapter}.md").read_text()
    for alias in package_aliases(source):
        private = re.findall(rf"\b{re.escape(alias)}\._(?!_)\w+", source)  # dunders are Python's
        assert not private, f"{chapter} uses private package names: {private}"


def test_the_public_name_check_sees_a_private_call():
    source = "from fwcompare.torch_impl import models as torch_models\ntorch_models._weighted_layers(m)\n"
    alias = package_aliases(source).pop()
    assert re.findall(rf"\b{alias}\._\w+", source) == ["torch_models._weighted_layers"]
