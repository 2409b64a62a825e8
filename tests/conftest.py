"""Shared fixtures. Tests never download anything and never need a GPU."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def tiny_images() -> tuple[np.ndarray, np.ndarray]:
    """256 learnable 28x28 uint8 images: one random template per class (0..9) plus noise."""
    rng = np.random.default_rng(1234)
    templates = rng.integers(0, 256, size=(10, 28, 28))
    labels = rng.integers(0, 10, size=256).astype(np.int64)
    noise = rng.normal(0, 40, size=(256, 28, 28))
    images = np.clip(templates[labels] + noise, 0, 255).astype(np.uint8)
    return images, labels
