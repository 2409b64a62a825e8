"""Figures in one style. Each figure is drawn on an opaque white card, so it reads the same
in the book's light and dark themes; each framework always has the same colour."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker
from matplotlib.patches import Patch

# Flax Linen keeps the JAX blue it had when it was the only JAX backend; NNX gets a green.
FRAMEWORK_COLORS = {"PyTorch": "#D9480F", "JAX": "#1C64B4", "Flax Linen": "#1C64B4", "Flax NNX": "#2B8A3E"}
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


def weight_mosaic(matrix: np.ndarray, columns: int = 16, image_shape=(28, 28)) -> np.ndarray:
    """Units' weights ``(units, pixels)`` tiled into one image, each tile scaled to [-1, 1] on its
    own (so its pattern shows, not its scale); NaN separators and padding render as background."""
    matrix = np.asarray(matrix, dtype=np.float64)
    height, width = image_shape
    if matrix.ndim != 2 or matrix.shape[1] != height * width:
        raise ValueError(f"weights must have shape (units, {height * width}), got {matrix.shape}")
    rows = -(-len(matrix) // columns)
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan)
    scales = np.abs(matrix).max(axis=1, keepdims=True)
    tiles = (matrix / np.where(scales > 0, scales, 1.0)).reshape(-1, height, width)
    for unit, tile in enumerate(tiles):
        row, column = divmod(unit, columns)
        mosaic[row * (height + 1):row * (height + 1) + height,
               column * (width + 1):column * (width + 1) + width] = tile
    return mosaic


def weight_grids(weights: Mapping[str, np.ndarray], columns: int = 16, image_shape=(28, 28),
                 panels_per_row: int | None = None):
    """First-layer weights, one small grey image per unit, one panel per label.

    ``weights[label]`` has shape ``(units, pixels)`` (PyTorch's ``(out, in)`` layout). Each
    unit is scaled on its own, symmetric around 0 (mid-grey = 0). Panels sit side by side,
    ``panels_per_row`` to a row (default: all in one row); a last row that is not full is
    centred, so three panels two to a row put the third in the middle below.
    """
    if not weights:
        raise ValueError("weights is empty: pass at least one {label: (units, pixels)} entry")
    if panels_per_row is not None and panels_per_row < 1:
        raise ValueError(f"panels_per_row={panels_per_row!r} must be None or >= 1")
    mosaics = {label: weight_mosaic(matrix, columns, image_shape) for label, matrix in weights.items()}
    first = next(iter(mosaics.values()))
    per_row = min(panels_per_row or len(mosaics), len(mosaics))
    rows = -(-len(mosaics) // per_row)
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    with plt.rc_context({**STYLE, "axes.grid": False}):
        panel_width = 6.2
        panel_height = panel_width * first.shape[0] / first.shape[1] + 0.6  # room for the title
        fig = plt.figure(figsize=(panel_width * per_row, panel_height * rows))
        # Each panel spans two columns of a grid twice as fine, so a short last row can be centred.
        grid = fig.add_gridspec(rows, 2 * per_row)
        for index, (label, mosaic) in enumerate(mosaics.items()):
            row, position = divmod(index, per_row)
            in_row = min(per_row, len(mosaics) - row * per_row)
            start = per_row - in_row + 2 * position
            ax = fig.add_subplot(grid[row, start:start + 2])
            ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(label, color=color(label) or "black", fontsize=13)
        fig.tight_layout()
    return fig


def train_val_curves(histories: Mapping[str, object], title: str = "Loss per epoch"):
    """Training and validation loss per epoch for each ``{label: fwcompare.history.History}``;
    the best epoch (lowest validation loss) is marked. The legend sits below the axes, one
    column per label, so that it covers no curve however many frameworks are drawn."""
    if not histories:
        raise ValueError("histories is empty: pass at least one {label: History} entry")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4.6))
        for label, history in histories.items():
            epochs = np.arange(1, history.epochs + 1)
            line_color = color(label)
            ax.plot(epochs, history.train_loss, "--", color=line_color, label=f"{label}: training")
            ax.plot(epochs, history.val_loss, "-o", color=line_color, markersize=4,
                    label=f"{label}: validation")
            best = history.best_epoch
            ax.plot(best, history.val_loss[best - 1], "*", color=line_color, markersize=14,
                    markeredgecolor="black", label=f"{label}: best epoch ({best})")
        ax.set(xlabel="epoch", ylabel="cross-entropy loss", title=title)
        ax.xaxis.get_major_locator().set_params(integer=True)
        # Three entries per label, filled column by column: one column per framework.
        ax.legend(fontsize=9, ncol=len(histories), loc="upper center", bbox_to_anchor=(0.5, -0.15),
                  frameon=False)
        fig.tight_layout()
    return fig


def time_bars(parts: Mapping[str, Mapping[str, float]], title: str = "Training time", unit: str = "s"):
    """Horizontal stacked bars: ``{bar label: {part name: seconds}}``, parts in the same order for all
    bars (e.g. compile/warm-up, then steady-state training). Each part is labelled with its value."""
    if not parts:
        raise ValueError("parts is empty: pass at least one {bar: {part: seconds}} entry")
    part_names = list(next(iter(parts.values())))
    shades = [0.45, 1.0, 0.7, 0.3]
    bar_colors = {color(bar) or "grey" for bar in parts}
    # The legend names the parts by shade; in grey when the bars have several colours.
    legend_color = bar_colors.pop() if len(bar_colors) == 1 else "grey"
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 1.4 + 0.8 * len(parts)))
        for row, (bar, values) in enumerate(parts.items()):
            left = 0.0
            for index, name in enumerate(part_names):
                width = values[name]
                ax.barh(row, width, left=left, color=color(bar) or "grey", alpha=shades[index % len(shades)],
                        edgecolor="black")
                ax.text(left + width / 2, row, f"{width:.3g} {unit}", ha="center", va="center", fontsize=9,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})
                left += width
        ax.set_yticks(range(len(parts)), list(parts))
        ax.invert_yaxis()
        ax.set(xlabel=f"time ({unit})", title=title)
        handles = [Patch(facecolor=legend_color, alpha=shades[index % len(shades)], edgecolor="black",
                         label=name) for index, name in enumerate(part_names)]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.25 - 0.1 / len(parts)),
                  ncol=len(part_names), fontsize=9, frameon=False)
        fig.tight_layout()
    return fig


def seed_spread(results: Mapping[str, np.ndarray], ylabel: str = "test accuracy", title: str = ""):
    """One column per label: every seed's value as a dot, mean and +-1 standard deviation as a bar."""
    if not results:
        raise ValueError("results is empty: pass at least one {label: values} entry")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(1.2 + 1.6 * len(results), 4))
        for position, (label, values) in enumerate(results.items()):
            values = np.asarray(values, dtype=float)
            point_color = color(label) or "grey"
            jitter = np.linspace(-0.12, 0.12, len(values))
            ax.scatter(position + jitter, values, color=point_color, alpha=0.6, s=22, zorder=3)
            ax.errorbar(position, values.mean(), yerr=values.std(ddof=1) if len(values) > 1 else 0,
                        fmt="_", color="black", markersize=26, capsize=8, linewidth=1.5, zorder=4)
        ax.set_xticks(range(len(results)), list(results), fontsize=9)
        ax.set(ylabel=ylabel, title=title)
        fig.tight_layout()
    return fig


def _framework_color(framework: str) -> str:
    return FRAMEWORK_COLORS["PyTorch" if framework == "torch" else "JAX"]


def bench_routines(results):
    """One panel per workload of a ``benchmark.BenchResults``: each routine's steady rate as a share
    of the device's matmul limit, labelled with its steady epoch time."""
    workloads = results.workloads("routines")
    if not workloads:
        raise ValueError("results hold no routine measurements to plot")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(workloads), 1, figsize=(8, 0.5 + 2.3 * len(workloads)), squeeze=False)
        for ax, workload in zip(axes[:, 0], workloads, strict=True):
            rows = results.select("routines", workload)
            shares = [100 * results.fraction(m) for m in rows]
            ax.barh(range(len(rows)), shares, color=[_framework_color(m.framework) for m in rows])
            for row, (m, share) in enumerate(zip(rows, shares, strict=True)):
                ax.text(share + 1, row, f"{m.median_s:.3g} s/epoch", va="center", fontsize=8)
            ax.axvline(100, color="black", linestyle="--", linewidth=1)
            ax.set_yticks(range(len(rows)), [m.label for m in rows], fontsize=9)
            ax.invert_yaxis()
            ax.set_xlim(0, max(115, max(shares) * 1.3))
            ax.set_title(workload, fontsize=10, loc="left")
        axes[-1, 0].set_xlabel(f"% of the matmul limit ({results.limit_gflops:.0f} GFLOP/s, dashed line)")
        fig.tight_layout()
    return fig


def bench_scaling(results, group: str):
    """Time per (projected) epoch against batch size or hidden width, log-log, one line per routine;
    the dashed line is the time the FLOPs would take at the matmul limit (the compute floor)."""
    if group not in ("batch", "width"):
        raise ValueError(f"group={group!r} is unknown; allowed: batch, width")
    points = results.select(group)
    if not points:
        raise ValueError(f"results hold no {group!r} sweep to plot")
    x_of = (lambda m: m.batch_size) if group == "batch" else (lambda m: m.hidden[0])
    styles = {"device": "-", "scan": "--", "compile": "-.", "dataloader": ":"}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for routine in dict.fromkeys(m.routine for m in points):
            line = sorted((m for m in points if m.routine == routine), key=x_of)
            ax.plot([x_of(m) for m in line], [m.projected_epoch_s for m in line], marker="o",
                    color=_framework_color(line[0].framework), linestyle=styles[routine.split("-")[1]],
                    label=line[0].label)
        floor = sorted({x_of(m): m.flops_per_epoch * m.full_examples / m.examples for m in points}.items())
        ax.plot([x for x, _ in floor], [flops / results.limit_gflops / 1e9 for _, flops in floor],
                color="grey", linestyle="--", label="FLOPs at the matmul limit")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        values = sorted({x_of(m) for m in points})
        ax.set_xticks(values, [str(v) for v in values])  # 32, 64, ... rather than 2^5, 2^6
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        low, high = ax.get_ylim()
        if high / low < 10:  # under a decade there is at most one major label: label the minor ticks
            ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
            ax.tick_params(axis="y", which="minor", labelsize=8)
        else:
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set(xlabel="batch size" if group == "batch" else "hidden width (two layers)",
               ylabel=f"seconds per epoch ({points[0].full_examples:,} examples)",
               title="Time per epoch against " + ("batch size" if group == "batch" else "width"))
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig
