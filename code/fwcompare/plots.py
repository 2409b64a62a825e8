"""Figures in one style. Each figure is drawn on an opaque white card, so it reads the same
in the book's light and dark themes; the two frameworks always have the same colours."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

FRAMEWORK_COLORS = {"PyTorch": "#D9480F", "JAX": "#1C64B4"}
STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 11,
    "figure.dpi": 110,
}


def color(label: str) -> str | None:
    """The framework's colour when ``label`` starts with a framework name, else matplotlib's default cycle."""
    for name, value in FRAMEWORK_COLORS.items():
        if label.startswith(name):
            return value
    return None


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start), same length as ``values``."""
    if window < 1:
        raise ValueError(f"window={window!r} must be >= 1")
    values = np.asarray(values, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    counts = np.minimum(ends, window)
    return (cumulative[ends] - cumulative[ends - counts]) / counts


def loss_curves(curves: Mapping[str, np.ndarray], title: str = "Training loss", window: int = 50):
    """Per-step training losses, ``{label: array (epochs, steps_per_epoch)}``, against epochs.

    Raw losses are drawn faintly, their moving average over ``window`` steps boldly.
    """
    if not curves:
        raise ValueError("curves is empty: pass at least one {label: losses} entry")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4))
        for label, losses in curves.items():
            losses = np.asarray(losses)
            if losses.ndim != 2:
                raise ValueError(f"losses for {label!r} must have shape (epochs, steps), got {losses.shape}")
            flat = losses.reshape(-1)
            epochs = np.arange(1, flat.size + 1) / losses.shape[1]
            line = ax.plot(epochs, flat, alpha=0.2, linewidth=0.8, color=color(label))[0]
            ax.plot(epochs, moving_average(flat, min(window, flat.size)), color=line.get_color(),
                    linewidth=2, label=f"{label} (moving average of {min(window, flat.size)} steps)")
        ax.set(xlabel="epoch", ylabel="cross-entropy loss", title=title)
        ax.legend()
        fig.tight_layout()
    return fig
