"""The chapter on "Exploring PyTorch and JAX": built without errors, laid out as the post
(its topics in its order, then Going further, then the takeaways), its figures (weights,
seed spread, torchviz and jaxpr graphs) are on the page, and its prose holds the numbers
its cells glued, formatted as the prose formats them. Every experiment shows Flax NNX next
to PyTorch and Flax Linen."""

from __future__ import annotations

import ast
import html
import re

import pytest

from book_helpers import figures, glued_values, has_traceback, page_text

CHAPTER = "book/posts/exploring-pytorch-and-jax"

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def glued(smoke_build, page):
    """This page's glued values parsed into Python values (overrides conftest's text form)."""
    values = {}
    for name, value in glued_values(smoke_build, CHAPTER).items():
        if value.startswith("<"):  # figures and images glue a repr, not a value
            continue
        try:
            values[name] = ast.literal_eval(value)
        except (SyntaxError, ValueError):  # glued Markdown (the environment table)
            values[name] = value
    return values


def test_page_has_no_traceback_or_warning(page):
    markup = page.read_text()
    assert not has_traceback(markup)
    assert "Warning" not in page_text(page)  # no library warning printed into an output


def test_reproduction_is_glued_next_to_the_posts_numbers(glued, text):
    torch_accuracy, jax_accuracy = glued["posted_PyTorch"], glued["posted_JAX"]
    nnx_accuracy = glued["posted_NNX"]
    assert 0 < torch_accuracy <= 1 and 0 < jax_accuracy <= 1 and 0 < nnx_accuracy <= 1
    assert f"PyTorch reaches {torch_accuracy:.2%} and Linen {jax_accuracy:.2%}" in text
    assert "against the post’s 57.59 % and 79.68 %" in text  # quoted as the post's
    assert f"the same JAX half written in NNX reaches {nnx_accuracy:.2%}" in text
    gap, nnx_gap = glued["posted_gap_pts"], glued["posted_nnx_gap_pts"]
    assert gap == pytest.approx(100 * (jax_accuracy - torch_accuracy))
    assert nnx_gap == pytest.approx(100 * (nnx_accuracy - torch_accuracy))
    assert (f"this build, tested as the post did {torch_accuracy:.2%} {jax_accuracy:.2%} "
            f"{gap:.1f} points {nnx_accuracy:.2%} {nnx_gap:.1f} points") in text
    assert (f"the post (PyTorch tested on [−1, 1]) 57.59 % 79.68 % "
            f"{glued['post_gap_pts']:.1f} points not in the post") in text
    unit_row = (f"this build, every test set in [0, 1] {glued['torch_unit']:.2%} "
                f"{glued['jax_unit']:.2%} {glued['unit_gap_pts']:.1f} points "
                f"{glued['nnx_unit']:.2%} {glued['nnx_unit_gap_pts']:.1f} points")
    assert unit_row in text
    assert glued["jax_unit"] == jax_accuracy  # the post tested JAX on [0, 1] already
    assert glued["unit_gap_pts"] == pytest.approx(100 * (jax_accuracy - glued["torch_unit"]))


def test_normalisation_experiment_is_shown(glued, text):
    assert f"the PyTorch network scores {glued['torch_unit']:.2%}" in text
    assert f"cost it {glued['normalisation_gain_pts']:.1f} percentage points" in text
    assert (f"{glued['mismatch_verdict']} : given the post’s [−1, 1] test images, the Linen "
            f"network scores {glued['jax_shifted']:.2%} and the NNX network "
            f"{glued['nnx_shifted']:.2%} , against {glued['jax_unit']:.2%} and "
            f"{glued['nnx_unit']:.2%} on [0, 1]") in text
    row = re.search(r"the post’s: 2x - 1 (\d+\.\d\d)% (\d+\.\d\d)% (\d+\.\d\d)%", text)
    assert row, "the preparation table has no PyTorch | NNX | Linen row for the post's transform"
    assert row.groups() == tuple(f"{100 * glued[key]:.2f}" for key in ("posted_PyTorch",
                                                                         "nnx_shifted", "jax_shifted"))
    for preparation in ("[0, 1], as in training", "doubled only: 2x", "shifted only: x - 0.5"):
        assert preparation in text
    assert glued["halves_verdict"] in text
    assert 0 <= glued["relu_flips"] <= 1


def test_initial_weight_statistics_table(glued, text):
    assert ("PyTorch default Linen, init “torch” Linen default (Flax) NNX default (Flax) "
            "PyTorch, init “flax”") in text
    row = re.search(r"layer 1 weights: std " + " ".join([r"(\d\.\d{4})"] * 5), text)
    assert row, "the initial-weight table is missing"
    torch_default, jax_torch, jax_default, nnx_default, torch_flax = map(float, row.groups())
    assert jax_torch == pytest.approx(torch_default, rel=0.05)  # init_scheme="torch" in Flax
    assert torch_flax == pytest.approx(jax_default, rel=0.05)  # init_scheme="flax" in PyTorch
    assert nnx_default == pytest.approx(jax_default, rel=0.05)  # NNX's default is Linen's
    assert glued["init_ratio"] == pytest.approx(3 ** 0.5, rel=0.05)
    assert glued["nnx_init_ratio"] == pytest.approx(3 ** 0.5, rel=0.05)
    assert f"start {glued['init_ratio']:.2f} times larger in Flax" in text


def test_nnx_and_linen_draw_different_weights_from_the_same_seed(glued, text):
    assert glued["nnx_linen_same_draws"] is False
    assert glued["nnx_linen_init_diff"] > 0.01 and abs(glued["nnx_linen_init_corr"]) < 0.2
    assert "'equal bit for bit, seeds 0-4': False" in text  # the printed check
    assert (f"They are not: from the same seed the two Flax APIs draw different weights from the "
            f"same distribution (largest difference in the first layer "
            f"{glued['nnx_linen_init_diff']:.2f} , correlation {glued['nnx_linen_init_corr']:.3f} )") in text


def test_seed_grid_table_and_verdicts(glued, text):
    for init in ("PyTorch-style init", "Flax-style init"):
        cells = re.search(rf"{init} (-?\d+\.\d\d) ± (\d+\.\d\d) (-?\d+\.\d\d) ± (\d+\.\d\d) "
                          rf"(-?\d+\.\d\d) ± (\d+\.\d\d)", text)
        assert cells, f"the seed table has no {init} row"
    flax_row = re.search(r"Flax-style init" + r" (-?\d+\.\d\d) ± (\d+\.\d\d)" * 5, text)
    assert flax_row, "the Flax-style row has no NNX and NNX − PyTorch cells"
    assert float(flax_row.group(7)) == pytest.approx(100 * glued["default_mean_NNX"], abs=0.006)
    assert re.search(r"PyTorch-style init (-?\d+\.\d\d ± \d+\.\d\d ){3}not run \(see above\)", text)
    assert f"Over {glued['n_seeds']} seeds ( {glued['n_runs']} training runs)" in text
    # PyTorch and Linen with both schemes, NNX with its default
    assert glued["n_runs"] == 5 * glued["n_seeds"] and glued["n_seeds"] >= 2
    assert f"is {glued['framework_gap_pts']:+.2f} points (standard error " \
           f"{glued['framework_se_pts']:.2f} ), which is {glued['framework_verdict']}" in text
    assert f"is {glued['init_gap_pts']:+.2f} points (standard error " \
           f"{glued['init_se_pts']:.2f} ), which is {glued['init_verdict']}" in text
    for verdict in (glued["framework_verdict"], glued["init_verdict"]):
        assert verdict.startswith(("within two standard errors", "more than two standard errors"))
    assert glued["post_torch_where"] in ("inside that range", "below that range", "above that range")


def test_seed_grid_places_nnx_against_linen_and_pytorch(glued, text):
    assert (f"NNX averages {glued['default_mean_NNX']:.2%} (± {glued['default_std_pts_NNX']:.2f} )"
            in text)
    for name in ("nnx_linen", "nnx_framework"):
        assert (f"{glued[name + '_gap_pts']:+.2f} points (standard error "
                f"{glued[name + '_se_pts']:.2f} ), {glued[name + '_verdict']}") in text
    assert (f"NNX is {glued['nnx_defaults_gap_pts']:+.2f} points ahead of PyTorch (standard error "
            f"{glued['nnx_defaults_se_pts']:.2f} ) where Linen is "
            f"{glued['linen_defaults_gap_pts']:+.2f}") in text
    assert glued["nnx_side_verdict"] in text
    assert text.count(glued["nnx_side_verdict"]) == 2  # the seed grid and the summary
    assert glued["nnx_linen_verdict"].startswith(("within two standard errors", "more than two"))


def test_identical_weights_end_close(glued, text):
    assert f"Started from identical weights, PyTorch reaches {glued['twin_torch']:.2%} " \
           f"and Linen {glued['twin_jax']:.2%}" in text
    assert glued["twin_weight_diff"] < 1e-3
    assert f"disagree on {glued['twin_disagree']:,} of the" in text


def test_nnx_and_linen_from_identical_weights_train_alike(glued, text):
    assert glued["twin_nnx_linen_diff"] < 1e-5 and glued["twin_nnx_linen_disagree"] <= 1
    assert (f"NNX reaches {glued['twin_nnx']:.2%} . Its weights differ from Linen’s by at most "
            f"{glued['twin_nnx_linen_diff']:.1e} , and the two disagree on "
            f"{glued['twin_nnx_linen_disagree']:,} test images") in text
    assert glued["twin_nnx_verdict"] in text


def test_figures_are_on_the_page(page, smoke_build):
    raw = glued_values(smoke_build, CHAPTER)
    for name in ("weights_figure", "change_figure"):  # PyTorch, NNX and Linen panels
        assert raw[name].endswith("with 3 Axes>"), raw[name]
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


def test_weight_smoothness_names_all_three(glued, text):
    assert (f"{glued['smooth_torch_flax']:.2f} (PyTorch), {glued['smooth_jax_default']:.2f} (Linen) "
            f"and {glued['smooth_nnx_default']:.2f} (NNX) after Flax-style starts") in text
    assert (f"{glued['smooth_change_torch']:.2f} (PyTorch), {glued['smooth_change_nnx']:.2f} (NNX) "
            f"and {glued['smooth_change_jax']:.2f} (Linen)") in text
    assert re.search(r"Flax NNX Flax-style init \d\.\d\d -?\d\.\d\d \d\.\d\d", text)  # its table row


def test_nnx_forward_pass_traces_to_linens_program(glued, text):
    assert glued["nnx_same_program"] is True
    assert glued["equations_forward_nnx"] == glued["equations_forward"]
    assert "the same primitives as Linen's: True" in text
    assert (f"The NNX forward pass has {glued['equations_forward_nnx']} equations, "
            f"{glued['nnx_program_verdict']} as Linen’s") in text
    assert "layers/0/kernel/value" in text


def test_run_times_of_all_three_are_quoted(glued, text):
    assert (f"{glued['median_seconds_PyTorch']:.1f} s in PyTorch, {glued['median_seconds_JAX']:.1f} s "
            f"in Linen and {glued['median_seconds_NNX']:.1f} s in NNX") in text
    assert f"NNX against PyTorch: {glued['nnx_speed_verdict']}" in text


def test_jaxpr_and_flax_table_are_printed(glued, text):
    assert "custom_jvp_call" in text and "dot_general" in text
    assert "Total Parameters: 101,770" in text
    assert glued["equations_forward"] < glued["equations_loss"] < glued["equations_grad"]
    assert f"has {glued['equations_grad']} :" in text or f"has {glued['equations_grad']}:" in text


def test_the_page_follows_the_post_then_goes_further(page, text):
    markup = page.read_text()
    headings = re.findall(r"<h2>(.*?)<a class=\"headerlink\"", markup)
    assert headings[-2:] == ["Going further", "Key takeaways"], headings
    main = headings[:headings.index("Going further")]
    assert main == ["Two frameworks, and a third left out", "The network and the recipe",
                    "Training", "Testing: 57.59 % against 79.68 %",
                    "What the first layer learned", "Drawing the computation"], main
    findings = markup.index("What this build found")
    assert findings < markup.index("Two frameworks, and a third left out<a")
    assert "Key takeaways</p>" in markup
    assert markup.index("class=\"takeaways admonition") > markup.index(">Going further<")


def test_origins_styles_and_the_missing_tensorflow(text):
    assert "PyTorch came out in 2016 from Facebook AI Research" in text
    assert "JAX followed in 2018 from Google Brain" in text
    for transform in ("jax.jit", "jax.grad", "jax.vmap", "jax.pmap"):
        assert transform in text
    assert "could not get it installed under Python 3.12 or 3.11" in text
    assert "Google open-sourced TensorFlow in November 2015" in text
    assert "PyTorch is object-oriented, JAX functional" in text


def test_the_posts_training_loops_are_shown_and_run(page):
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))  # code as written
    for call in ("optimizer.zero_grad(", "loss.backward()", "optimizer.step()"):
        assert call in text  # PyTorch's loop, from the package
    assert "jax.value_and_grad(loss_fn, has_aux=True)" in text  # the post's JAX step
    assert "nnx.value_and_grad(loss_fn, has_aux=True)" in text  # and its NNX twin
    assert "TrainState.create(apply_fn=module.apply" in text
    assert "rng = jax.random.PRNGKey(0)" in text


def test_seeding_and_tabulate_are_described_correctly(text):
    assert "the post seeded nothing" not in text  # its JAX half is seeded
    assert "its PyTorch half seeded nothing at all" in text
    assert "starts from the post’s very key, PRNGKey(0)" in text
    assert "runs the module" not in text
    assert "It does not run the module: it traces it with jax.eval_shape" in text


def test_findings_and_takeaways_are_glued(glued, text):
    assert (f"Tested like it was trained, the same network scores {glued['torch_unit']:.2%} , "
            f"and the gap to Linen shrinks from {glued['posted_gap_pts']:.1f} to "
            f"{glued['unit_gap_pts']:.1f} points") in text
    assert glued["bug_takeaway"].replace("'", "’") in text
    assert f"the framework effect is {glued['framework_verdict']}" in text
    assert f"the initialisation effect is {glued['init_verdict']}" in text
