"""Shared fixtures. Tests never download anything and never need a GPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from book_helpers import REPO, build, glued_values, page_text


@pytest.fixture
def tiny_images() -> tuple[np.ndarray, np.ndarray]:
    """256 learnable 28x28 uint8 images: one random template per class (0..9) plus noise."""
    rng = np.random.default_rng(1234)
    templates = rng.integers(0, 256, size=(10, 28, 28))
    labels = rng.integers(0, 10, size=256).astype(np.int64)
    noise = rng.normal(0, 40, size=(256, 28, 28))
    images = np.clip(templates[labels] + noise, 0, 255).astype(np.uint8)
    return images, labels


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory) -> Path:
    """The whole book, built once per test session in the smoke profile. Returns its ``_build``.

    ``$FWCOMPARE_TEST_BUILD`` (an existing ``_build`` folder, e.g. of one chapter built with its
    own table of contents) is used instead, to iterate on a chapter's tests without a full build."""
    existing = os.environ.get("FWCOMPARE_TEST_BUILD")
    if existing:
        root = Path(existing).resolve()
        assert (root / "html").is_dir(), f"FWCOMPARE_TEST_BUILD={existing} is no _build folder"
        return root
    output = tmp_path_factory.mktemp("smoke-book")
    result = build(REPO, output)
    assert result.returncode == 0, f"smoke build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return output / "_build"


@pytest.fixture(scope="session")
def site(request) -> Path:
    """The built HTML site that the site checks (links, browser) inspect: the session's smoke
    build, or ``$FWCOMPARE_TEST_SITE`` (an existing ``_build/html``) to iterate on those checks
    without building the book again."""
    existing = os.environ.get("FWCOMPARE_TEST_SITE")
    if existing:
        root = Path(existing).resolve()
        assert (root / "search.html").is_file(), f"FWCOMPARE_TEST_SITE={existing} is no built site"
        return root
    return request.getfixturevalue("smoke_build") / "html"


@pytest.fixture(scope="session")
def site_url() -> str:
    """The URL the site is published at (``html.baseurl`` in _config.yml), with a final slash."""
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    return config["html"]["baseurl"].rstrip("/") + "/"


# A chapter's book tests set CHAPTER (its docname) at module level and use these fixtures.
@pytest.fixture(scope="module")
def page(smoke_build, request) -> Path:
    """The built HTML page of the requesting module's ``CHAPTER``."""
    chapter = request.module.CHAPTER
    path = smoke_build / "html" / f"{chapter}.html"
    assert path.is_file(), f"{chapter} was not built: is it in _toc.yml?"
    return path


@pytest.fixture(scope="module")
def text(page) -> str:
    return page_text(page)


@pytest.fixture(scope="module")
def glued(smoke_build, page, request) -> dict[str, str]:
    return glued_values(smoke_build, request.module.CHAPTER)


def _gpu_missing() -> str | None:
    import jax
    import torch

    if torch.cuda.is_available() and jax.default_backend() == "gpu":
        return None
    return (f"needs a GPU seen by both PyTorch and JAX (torch.cuda.is_available() is "
            f"{torch.cuda.is_available()}, JAX backend {jax.default_backend()!r})")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped, with the reason, where PyTorch or JAX sees no GPU."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and (reason := _gpu_missing()):
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))
