"""The chapter on "Exploring PyTorch and JAX": built without errors, its figures (weights,
seed spread, torchviz and jaxpr graphs) are on the page, and its prose holds the numbers
its cells glued, formatted as the prose formats them."""

from __future__ import annotations

import ast
import re

import pytest

from book_helpers import figures, glued_values, has_traceback, page_text

CHAPTER = "book/posts/exploring-pytorch-and-jax"

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def glued(smoke_build, page):
    """This page's glued values parsed into Python values (overrides conftest's text form)."""
    return {name: ast.literal_eval(value) for name, value in glued_values(smoke_build, CHAPTER).items()
            if not value.startswith("<")}  # figures and images glue a repr, not a value


def test_page_has_no_traceback_or_warning(page):
    markup = page.read_text()
    assert not has_traceback(markup)
    assert "Warning" not in page_text(page)  # no library warning printed into an output


def test_reproduction_is_glued_next_to_the_posts_numbers(glued, text):
    torch_accuracy, jax_accuracy = glued["posted_PyTorch"], glued["posted_JAX"]
    assert 0 < torch_accuracy <= 1 and 0 < jax_accuracy <= 1
    assert f"PyTorch reaches {torch_accuracy:.2%} and JAX {jax_accuracy:.2%}" in text
    assert "against the post’s 57.59 % and 79.68 %" in text  # quoted as the post's
    gap = glued["posted_gap_pts"]
    assert gap == pytest.approx(100 * (jax_accuracy - torch_accuracy))
    assert f"this build {torch_accuracy:.2%} {jax_accuracy:.2%} {gap:.1f} points" in text
    assert f"the post 57.59 % 79.68 % {glued['post_gap_pts']:.1f} points" in text


def test_normalisation_experiment_is_shown(glued, text):
    assert f"the PyTorch network scores {glued['torch_unit']:.2%}" in text
    assert f"cost it {glued['normalisation_gain_pts']:.1f} percentage points" in text
    assert f"drops to {glued['jax_shifted']:.2%}" in text
    for preparation in ("[0, 1], as in training", "doubled only: 2x", "shifted only: x - 0.5"):
        assert preparation in text
    assert glued["halves_verdict"] in text
    assert 0 <= glued["relu_flips"] <= 1


def test_initial_weight_statistics_table(glued, text):
    row = re.search(r"layer 1 weights: std (\d\.\d{4}) (\d\.\d{4}) (\d\.\d{4}) (\d\.\d{4})", text)
    assert row, "the initial-weight table is missing"
    torch_default, jax_torch, jax_default, torch_flax = map(float, row.groups())
    assert jax_torch == pytest.approx(torch_default, rel=0.05)  # init_scheme="torch" in Flax
    assert torch_flax == pytest.approx(jax_default, rel=0.05)  # init_scheme="flax" in PyTorch
    assert glued["init_ratio"] == pytest.approx(3 ** 0.5, rel=0.05)
    assert f"start {glued['init_ratio']:.2f} times larger in Flax" in text


def test_seed_grid_table_and_verdicts(glued, text):
    for init in ("PyTorch-style init", "Flax-style init"):
        cells = re.search(rf"{init} (-?\d+\.\d\d) ± (\d+\.\d\d) (-?\d+\.\d\d) ± (\d+\.\d\d) "
                          rf"(-?\d+\.\d\d) ± (\d+\.\d\d)", text)
        assert cells, f"the seed table has no {init} row"
    assert f"Over {glued['n_seeds']} seeds ( {glued['n_runs']} training runs)" in text
    assert glued["n_runs"] == 4 * glued["n_seeds"] and glued["n_seeds"] >= 2
    assert f"is {glued['framework_gap_pts']:+.2f} points (standard error " \
           f"{glued['framework_se_pts']:.2f} ), which is {glued['framework_verdict']}" in text
    assert f"is {glued['init_gap_pts']:+.2f} points (standard error " \
           f"{glued['init_se_pts']:.2f} ), which is {glued['init_verdict']}" in text
    for verdict in (glued["framework_verdict"], glued["init_verdict"]):
        assert verdict.startswith(("within two standard errors", "more than two standard errors"))
    assert glued["post_torch_where"] in ("inside that range", "below that range", "above that range")


def test_identical_weights_end_close(glued, text):
    assert f"Started from identical weights, PyTorch reaches {glued['twin_torch']:.2%} " \
           f"and JAX {glued['twin_jax']:.2%}" in text
    assert glued["twin_weight_diff"] < 1e-3
    assert f"disagree on {glued['twin_disagree']:,} of the" in text


def test_figures_are_on_the_page(page):
    found = figures(page)
    by_alt = {alt.split(",")[0].split(":")[0]: image for alt, image in found}
    pngs = [image for alt, image in found if "grey images" in alt or "Test accuracy" in alt]
    assert len(pngs) == 3, [alt for alt, _ in found]  # trained weights, weight change, seed spread
    for image in pngs:
        assert image.suffix == ".png" and image.stat().st_size > 10_000, image
    svgs = {alt: image for alt, image in found if image.suffix == ".svg"}
    assert len(svgs) == 3, list(by_alt)  # torchviz, forward jaxpr, loss jaxpr
    texts = [image.read_text() for image in svgs.values()]
    assert any("layers.0.weight" in svg and "AccumulateGrad" in svg for svg in texts)
    assert sum("Dense_0/kernel" in svg and "dot_general" in svg for svg in texts) == 2
    for alt in svgs:
        assert len(alt) > 40, "every graph needs real alt text"


def test_jaxpr_and_flax_table_are_printed(glued, text):
    assert "custom_jvp_call" in text and "dot_general" in text
    assert "Total Parameters: 101,770" in text
    assert glued["equations_forward"] < glued["equations_loss"] < glued["equations_grad"]
    assert f"has {glued['equations_grad']} :" in text or f"has {glued['equations_grad']}:" in text
