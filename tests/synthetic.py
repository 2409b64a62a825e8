"""Small synthetic datasets that tests train on: learnable, fast, no download."""

from __future__ import annotations

import numpy as np


def blocks(n: int, seed: int, noise: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 uint8 images: class k is a bright rectangle at its own place, plus noise."""
    templates = np.zeros((10, 28, 28))
    for k in range(10):
        row, column = divmod(k, 4)
        templates[k, 1 + 9 * row:9 + 9 * row, 1 + 7 * column:7 + 7 * column] = 255
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    images = np.clip(templates[labels] + rng.normal(0, noise, size=(n, 28, 28)), 0, 255)
    return images.astype(np.uint8), labels
