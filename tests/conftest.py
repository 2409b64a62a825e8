"""Shared fixtures. Tests never download anything and never need a GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from book_helpers import REPO, build


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
    """The whole book, built once per test session in the smoke profile. Returns its ``_build``."""
    output = tmp_path_factory.mktemp("smoke-book")
    result = build(REPO, output)
    assert result.returncode == 0, f"smoke build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return output / "_build"
