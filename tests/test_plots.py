"""Figure helpers: the numbers they draw are the numbers they were given, and bad input is named."""

from __future__ import annotations

import numpy as np
import pytest

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


@pytest.mark.parametrize("draw", [plots.loss_curves, plots.weight_grids, plots.time_bars, plots.seed_spread])
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
