"""Figure helpers: the numbers they draw are the numbers they were given, and bad input is named."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from fwcompare import plots
from fwcompare.history import History


def test_moving_average_is_a_trailing_mean():
    np.testing.assert_allclose(plots.moving_average(np.array([1.0, 2, 3, 4]), 2), [1.0, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(plots.moving_average(np.arange(5.0), 1), np.arange(5.0))
    with pytest.raises(ValueError, match="window=0 must be >= 1"):
        plots.moving_average(np.arange(3.0), 0)


def test_weight_mosaic_tiles_each_unit_scaled_to_one():
    weights = np.zeros((3, 4))
    weights[0, 0], weights[1, 3], weights[2, 1] = 5.0, -2.0, 0.5
    mosaic = plots.weight_mosaic(weights, columns=2, image_shape=(2, 2))
    assert mosaic.shape == (2 * 3 - 1, 2 * 3 - 1)  # 2x2 tiles with one-pixel NaN separators
    assert mosaic[0, 0] == 1.0 and mosaic[1, 4] == -1.0 and mosaic[3, 1] == 1.0
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[:, 2]).all()
    assert np.isnan(mosaic[3:, 3:]).all()  # the empty fourth tile
    with pytest.raises(ValueError, match=r"weights must have shape \(units, 784\), got \(3, 4\)"):
        plots.weight_mosaic(weights)


@pytest.mark.parametrize("draw", [plots.loss_curves, plots.weight_grids, plots.time_bars, plots.seed_spread,
                                  plots.train_val_curves])
def test_empty_input_is_rejected(draw):
    with pytest.raises(ValueError, match="is empty"):
        draw({})


def test_figures_draw_the_values_given():
    fig = plots.loss_curves({"PyTorch": np.ones((2, 10)), "JAX": np.zeros((2, 10))})
    lines = fig.axes[0].get_lines()
    assert {tuple(line.get_ydata()[:2]) for line in lines} == {(1.0, 1.0), (0.0, 0.0)}
    with pytest.raises(ValueError, match=r"shape \(epochs, steps\)"):
        plots.loss_curves({"JAX": np.zeros(10)})

    history = History(np.array([1.0, 0.5]), np.array([0.9, 0.95]), np.array([0.5, 0.6]), np.array([2.0, 1.0]))
    fig = plots.train_val_curves({"JAX": history})
    best = [line for line in fig.axes[0].get_lines() if "best epoch (1)" in line.get_label()]
    assert len(best) == 1 and best[0].get_ydata()[0] == 0.9

    fig = plots.time_bars({"PyTorch": {"warm-up": 1.0, "steady": 3.0}})
    assert sorted(round(p.get_width(), 6) for p in fig.axes[0].patches) == [1.0, 3.0]


THREE = ("PyTorch", "Flax NNX", "Flax Linen")


def test_the_three_backends_have_three_colours_and_linen_keeps_jax_blue():
    colours = [plots.color(name) for name in THREE]
    assert None not in colours and len(set(colours)) == 3
    assert plots.color("Flax Linen") == plots.color("JAX")
    assert plots.color("Flax NNX: W − W₀") == plots.color("Flax NNX")  # a label that starts with it


def test_loss_and_time_figures_draw_three_frameworks_in_their_colours():
    history = History(np.array([1.0, 0.5]), np.array([0.9, 0.95]), np.array([0.5, 0.6]), np.array([2.0, 1.0]))
    fig = plots.train_val_curves(dict.fromkeys(THREE, history))
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3 * 3  # training, validation, best epoch per framework
    for name in THREE:
        own = [line for line in lines if line.get_label().startswith(f"{name}:")]
        assert len(own) == 3 and {line.get_color() for line in own} == {plots.color(name)}
    legend = fig.axes[0].get_legend()
    fig.canvas.draw()  # the legend sits below the axes, over no curve
    assert legend.get_window_extent().y1 < fig.axes[0].get_window_extent().y0
    columns = {}  # one column per framework: its three entries share a left edge
    for entry in legend.get_texts():
        columns.setdefault(entry.get_text().split(":")[0], set()).add(round(entry.get_window_extent().x0))
    assert list(columns) == list(THREE) and all(len(x) == 1 for x in columns.values())
    assert len({x.pop() for x in columns.values()}) == 3

    parts = {name: {"first epoch": float(i + 1), "later epochs": 10.0 * (i + 1)}
             for i, name in enumerate(THREE)}
    fig = plots.time_bars(parts)
    ax = fig.axes[0]
    assert [tick.get_text() for tick in ax.get_yticklabels()] == list(THREE)
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == [1.0, 2.0, 3.0, 10.0, 20.0, 30.0]
    by_row = {}
    for patch in ax.patches:
        by_row.setdefault(round(patch.get_y() + patch.get_height() / 2), set()).add(patch.get_facecolor()[:3])
    assert len(by_row) == 3 and all(len(colours) == 1 for colours in by_row.values())
    assert len({colours.pop() for colours in by_row.values()}) == 3
    # The legend names the parts by shade, in grey: no one framework's colour stands for all.
    legend = ax.get_legend()
    assert [entry.get_text() for entry in legend.get_texts()] == ["first epoch", "later epochs"]
    assert {handle.get_facecolor()[:3] for handle in legend.legend_handles} == {to_rgb("grey")}
    one = plots.time_bars({"Flax NNX": {"warm-up": 1.0, "steady": 3.0}}).axes[0].get_legend()
    assert {h.get_facecolor()[:3] for h in one.legend_handles} == {to_rgb(plots.color("Flax NNX"))}


def test_weight_grids_put_panels_in_rows_and_centre_a_short_last_row():
    weights = {name: np.random.default_rng(0).normal(size=(4, 784)) for name in THREE}
    fig = plots.weight_grids(weights, columns=2)
    boxes = [ax.get_position() for ax in fig.axes]
    assert len(boxes) == 3 and len({round(box.y0, 3) for box in boxes}) == 1  # one row
    fig = plots.weight_grids(weights, columns=2, panels_per_row=2)
    axes = {ax.get_title(): ax.get_position() for ax in fig.axes}
    assert list(axes) == list(THREE)
    top_left, top_right, bottom = axes["PyTorch"], axes["Flax NNX"], axes["Flax Linen"]
    assert round(top_left.y0, 3) == round(top_right.y0, 3) > bottom.y0
    assert top_left.x0 < bottom.x0 < top_right.x0  # the third panel is centred below
    assert abs((bottom.x0 + bottom.x1) / 2 - 0.5) < 0.05
    assert [ax.title.get_color() for ax in fig.axes] == [plots.color(name) for name in THREE]
    with pytest.raises(ValueError, match="panels_per_row=0 must be None or >= 1"):
        plots.weight_grids(weights, panels_per_row=0)
