"""The slide-deck chapter "PyTorch vs JAX: the common libraries": built, free of errors, and its
prose holds the numbers its cells glued, formatted as the prose formats them."""

from __future__ import annotations

import json

import pytest

from book_helpers import has_traceback, number, page_text

CHAPTER = "book/slides/pytorch-vs-jax-common-libraries"
DATA_PARALLEL = ("dp_pmap", "dp_jit", "dp_shard_map", "dp_ddp")

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def glued_markdown(smoke_build, page):
    """``{name: markdown}`` of the values the page glued as Markdown (verdict phrases)."""
    glue_file = smoke_build / "jupyter_execute" / f"{CHAPTER}.glue.json"
    return {name: output["data"]["text/markdown"]
            for name, output in json.loads(glue_file.read_text()).items()
            if "text/markdown" in output["data"]}


def test_page_has_no_traceback_or_warning(page):
    markup = page.read_text()
    assert not has_traceback(markup)
    assert "Warning" not in page_text(page)


def test_page_links_to_its_slides(page):
    assert 'href="../../slides/pytorch-vs-jax-common-libraries.html"' in page.read_text()


def test_mapping_table_pairs_the_libraries(text):
    for pytorch, jax in [("torch.Tensor", "jax.numpy"), ("torch.optim", "optax"),
                         ("torch.nn", "flax.linen"), ("torch.utils.data", "tensorflow_datasets"),
                         ("torch.distributed", "pmap")]:
        assert f"{pytorch} {jax}" in text, (pytorch, jax)  # one table row: the deck's pair
    for newer in ("NNX", "grain", "shard_map", "jax.Array"):
        assert newer in text


def test_accuracies_and_times_are_glued_into_the_prose(glued, text):
    for framework in ("torch", "jax"):
        accuracy = number(glued, f"{framework}_accuracy")
        assert 0.5 < accuracy <= 1.0, "even a smoke build learns MNIST well past chance"
        assert f"{accuracy:.2%}" in text
        assert f"{number(glued, f'{framework}_seconds'):.1f} s" in text
    assert f"{number(glued, 'accuracy_gap_points'):.2f} percentage points" in text


def test_same_weights_give_the_same_logits(glued, text):
    assert number(glued, "parity_logits") < 1e-3
    assert f"agree to {number(glued, 'parity_logits'):.1e}" in text


def test_initialisation_contrasts_hold(glued, text):
    assert glued["torch_rng_equal"] == "False"
    assert glued["torch_rng_forked_equal"] == "True"
    assert glued["jax_rng_equal"] == "True"
    assert glued["dense_784"] == "'(784, 1024)'" and glued["dense_300"] == "'(300, 1024)'"
    assert number(glued, "n_params_torch") == number(glued, "n_params_jax") == 1_333_770


def test_every_data_parallel_method_matches_one_device(glued, text):
    assert number(glued, "n_devices") == 4, "the page simulates four CPU devices"
    for name in DATA_PARALLEL:
        value = number(glued, name)
        assert value < 1e-5, name
        assert f"{value:.1e}" in text, name
    assert number(glued, "hlo_allreduce_ops") >= 1
    assert number(glued, "ported_ratio") == pytest.approx(number(glued, "n_devices"), rel=1e-3)


def test_adamw_difference_is_explained_with_measured_numbers(glued, text):
    assert number(glued, "adam_diff") > number(glued, "dp_pmap")
    assert f"differ by up to {number(glued, 'adam_diff'):.1e}" in text
    assert f"{number(glued, 'adam_g_whole'):.3e} one way" in text
    # The largest first-step difference found in the gradients is the one seen in the run.
    assert number(glued, "adam_first_step_diff") == pytest.approx(number(glued, "adam_diff"), rel=0.5)


def test_verdicts_follow_from_the_numbers(glued, glued_markdown, text):
    ratio = number(glued, "speed_ratio")
    assert ratio == pytest.approx(number(glued, "torch_seconds") / number(glued, "jax_seconds"))
    verdict = glued_markdown["speed_verdict"]
    if ratio > 1.1:
        assert verdict.startswith("JAX trained")
    elif ratio < 1 / 1.1:
        assert verdict.startswith("PyTorch trained")
    else:
        assert "about the same" in verdict
    assert verdict in text
    gap = number(glued, "accuracy_gap_points")
    assert glued_markdown["accuracy_verdict"] == ("the same accuracy" if gap < 1 else "different accuracies")
    assert glued_markdown["meta_verdict"] == "agree"
    meta_jax, meta_torch = number(glued, "meta_jax"), number(glued, "meta_torch")
    assert abs(meta_jax - meta_torch) < 1e-3 * abs(meta_jax)
