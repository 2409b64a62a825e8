"""fwcompare.pages: the helpers chapters use to glue results and show tables."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from fwcompare import pages
from fwcompare.nnx_impl import models as nnx_models


def test_max_abs_diff_mixes_frameworks_and_trees():
    a = {"w": np.array([1.0, 2.0]), "b": [torch.tensor([0.5], requires_grad=True)]}
    b = {"b": [jnp.array([0.25])], "w": jnp.array([1.0, 2.5])}
    assert pages.max_abs_diff(a, b) == pytest.approx(0.5)
    assert pages.max_abs_diff(torch.ones(3), np.ones(3)) == 0.0
    # a matrix written out as nested lists is one array, as a post would print it
    assert pages.max_abs_diff([[1.0, 2.0], [3.0, 4.0]], np.array([[1.0, 2.0], [3.0, 4.5]])) == 0.5


def test_max_abs_diff_reads_nnx_state():
    first = nnx_models.MLP((8,), rngs=nnx.Rngs(0))
    second = nnx_models.MLP((8,), rngs=nnx.Rngs(1))
    assert pages.max_abs_diff(nnx.state(first), nnx.state(first)) == 0.0
    assert pages.max_abs_diff(nnx.state(first), nnx.state(second)) > 0.0


@pytest.mark.parametrize(("a", "b", "message"), [
    ([np.ones(2)], [np.ones(2), np.ones(2)], "1 arrays on the left against 2"),
    (np.ones(2), np.ones(3), "shape (2,) on the left, (3,) on the right"),
    ([], [], "nothing to compare"),
])
def test_max_abs_diff_rejects_mismatched_trees(a, b, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pages.max_abs_diff(a, b)


def test_markdown_table_formats_numbers():
    text = pages.markdown_table(["routine", "seconds", "examples"],
                                [["a|b", 0.123456, 60000], ["c", float("nan"), 1]], digits=3)
    assert text.splitlines() == ["| routine | seconds | examples |", "|---|---|---|",
                                 "| a\\|b | 0.123 | 60,000 |", "| c | nan | 1 |"]


def test_markdown_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="row 1 has 1 cells, the header 2"):
        pages.markdown_table(["a", "b"], [[1, 2], [3]])


def test_glue_rejects_bad_names_and_non_text():
    with pytest.raises(ValueError, match="identifier-like"):
        pages.glue_values(**{"not a name": 1})
    with pytest.raises(TypeError, match="needs a str of Markdown"):
        pages.glue_md("x", 3)
    with pytest.raises(TypeError, match="needs a Matplotlib figure, got list"):
        pages.glue_figure("x", [1])


def test_plain_turns_scalars_into_numbers():
    assert type(pages._plain(np.float32(1.5))) is float
    assert type(pages._plain(jnp.array(2))) is int
    assert type(pages._plain(torch.tensor(0.5))) is float
    assert pages._plain("text") == "text"
