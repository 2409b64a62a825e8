"""The slide-deck chapter "PyTorch vs JAX: the common libraries": built, free of errors, and its
prose holds the numbers its cells glued, formatted as the prose formats them."""

from __future__ import annotations

import json
import re

import pytest
from bs4 import BeautifulSoup

from book_helpers import has_traceback, number, page_text


def tight(text: str) -> str:
    """Page text without the space that tag boundaries leave before punctuation ("33.80% ,")."""
    return re.sub(r" ([,.;:)])", r"\1", text).replace("’", "'")

CHAPTER = "book/slides/pytorch-vs-jax-common-libraries"
DATA_PARALLEL = ("dp_pmap", "dp_jit", "dp_shard_map", "dp_nnx", "dp_ddp")
# Glue prefixes of the three trainings: "jax" is the Linen run (the deck's JAX code).
FRAMEWORKS = ("torch", "nnx", "jax")

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
    for newer in ("NNX", "grain", "shard_map", "jax.Array", "jax.sharding"):
        assert newer in text
    # What NNX replaces: one row each for the model API and the training state.
    assert "flax.nnx replaces flax.linen" in text
    assert "training state torch.optim params , opt_state nnx.Optimizer" in text
    assert "nnx.Optimizer replaces Linen's TrainState" in tight(text)


MAIN_PATH = ["The map: one PyTorch module, one JAX library", "Model definition", "Model initialisation",
             "Model training", "Should I switch to JAX?"]


def test_page_follows_the_deck_then_goes_further_and_ends_with_the_takeaways(page):
    soup = BeautifulSoup(page.read_text(), "html.parser")
    article = soup.select_one("article.bd-article")
    headings = [h.get_text(" ", strip=True).rstrip("#").strip() for h in article.find_all("h2")]
    assert headings == [*MAIN_PATH, "Going further", "Key takeaways"]
    findings = article.select_one(".admonition.findings")
    first_h2 = article.find("h2")
    assert findings is not None and findings.find_next("h2") is first_h2  # the box opens the page
    assert len(findings.find_all("li")) >= 3 and findings.select("span.pasted-text")
    takeaways = article.find_all("h2")[-1].find_parent("section").select_one(".admonition.takeaways")
    assert takeaways is not None and takeaways.select(".pasted-text, .pasted-inline")
    further = article.find_all("h2")[-2].find_parent("section")
    subsections = [h.get_text(" ", strip=True).rstrip("#").strip() for h in further.find_all("h3")]
    for study in ("Same weights, same logits", "Today: jit and shardings", "shard_map",
                  "With AdamW the agreement is looser", "Why Adam magnifies rounding",
                  "Stateless code: a gradient through a training step", "What this build ran on"):
        assert any(study in title for title in subsections), study


def test_optax_is_spelled_out_before_train_state_hides_it(glued, text):
    # One AdamW step by hand equals TrainState.apply_gradients and nnx.Optimizer.update.
    assert number(glued, "optax_vs_trainstate") < 1e-6 and number(glued, "optax_vs_nnx") < 1e-6
    by_hand = text.index("Optax by hand: init , update , apply_updates")
    assert by_hand < text.index("Training on MNIST") < text.index("Several devices with pmap")
    assert f"largest difference {number(glued, 'optax_vs_trainstate'):.1e}" in text
    assert number(glued, "optax_step_size") > 10 * number(glued, "optax_vs_torch")


def test_device_get_brings_numpy_arrays_to_the_host(glued, text):
    assert glued["host_loss_type"] == "'ndarray'"
    assert "jax.device_get" in text and number(glued, "host_loss_spread") < 1e-5


def test_the_frame_without_mean_is_flagged(glued, glued_markdown, text):
    assert glued["no_mean_shape"] == "'(8,)'"  # one loss per example, not a scalar
    error = glued_markdown["no_mean_error"]
    assert error.startswith("raises `TypeError: Gradient only defined for scalar-output functions")
    shown = error.replace("`", "")
    assert f"the loss has shape (8,), and jax.value_and_grad {shown}" in tight(text)


def test_ddp_takes_its_shards_from_a_distributed_sampler(text):
    start = text.index("PyTorch runs one process per device")
    ddp = text[start:text.index("Should I switch to JAX?", start)]
    assert "a DistributedSampler picks it" in ddp
    assert "sampler = DistributedSampler ( data , world_size , rank , shuffle = False )" in ddp


def test_the_deck_shows_the_main_path_and_the_takeaways(smoke_build):
    deck = (smoke_build / "html" / "slides" / "pytorch-vs-jax-common-libraries.html").read_text()
    assert "Key takeaways" in deck and "Optax by hand" in deck
    assert "Going further" not in deck and "What the compiler added" not in deck


def test_accuracies_and_times_are_glued_into_the_prose(glued, text):
    for framework in FRAMEWORKS:
        accuracy = number(glued, f"{framework}_accuracy")
        assert 0.5 < accuracy <= 1.0, "even a smoke build learns MNIST well past chance"
        assert f"{accuracy:.2%}" in text
        assert f"{number(glued, f'{framework}_seconds'):.1f} s" in text
    # The results table: PyTorch | Flax NNX | Flax Linen in every row.
    shown = {row: " ".join(f"{number(glued, f'{name}_{key}'):{spec}}{unit}" for name in FRAMEWORKS)
             for row, key, spec, unit in [("test accuracy", "accuracy", ".2%", ""),
                                          ("test loss", "test_loss", ".4f", ""),
                                          ("time per step", "ms_per_step", ".1f", " ms")]}
    for row, values in shown.items():
        assert f"{row} {values}" in text, row
    accuracy = {name: f"{number(glued, f'{name}_accuracy'):.2%}" for name in FRAMEWORKS}
    assert (f"PyTorch reaches {accuracy['torch']}, Flax NNX {accuracy['nnx']} and "
            f"Flax Linen {accuracy['jax']}") in tight(text)
    assert f"{number(glued, 'accuracy_gap_points'):.2f} percentage points" in text
    assert f"NNX and Linen {number(glued, 'nnx_linen_gap_points'):.2f}" in text


def test_same_weights_give_the_same_logits(glued, text):
    assert number(glued, "parity_logits") < 1e-3
    assert f"agree to {number(glued, 'parity_logits'):.1e}" in text
    assert number(glued, "parity_nnx_logits") < 1e-3
    assert f"{number(glued, 'parity_nnx_logits'):.1e} between PyTorch and NNX" in text
    assert number(glued, "parity_nnx_same_predictions") >= 0.99 * number(glued, "n_test")


def test_initialisation_contrasts_hold(glued, text):
    assert glued["torch_rng_equal"] == "False"
    assert glued["torch_rng_forked_equal"] == "True"
    assert glued["jax_rng_equal"] == "True"
    assert glued["nnx_rng_equal"] == "True"  # NNX: eager like PyTorch, but from an explicit nnx.Rngs
    assert "in NNX: True" in text
    assert glued["dense_784"] == "'(784, 1024)'" and glued["dense_300"] == "'(300, 1024)'"
    assert glued["nnx_linear_shape"] == "'(784, 1024)'"
    assert "has its (784, 1024) kernel as soon as it is built" in text
    counts = [number(glued, f"n_params_{name}") for name in ("torch", "nnx", "jax")]
    assert counts == [1_333_770] * 3
    assert "PyTorch counts 1,333,770 parameters, NNX 1,333,770 and Linen 1,333,770" in text


def test_every_data_parallel_method_matches_one_device(glued, glued_markdown, text):
    assert number(glued, "n_devices") == 4, "the page simulates four CPU devices"
    switched = number(glued, "nnx_relu_switched")
    for name in DATA_PARALLEL:
        value = number(glued, name)
        # NNX starts from its own weights; more than rounding only where a ReLU input switched sides.
        assert value < (1e-3 if name == "dp_nnx" and switched else 1e-5), name
        assert f"{value:.1e}" in text, name
    # Linen from NNX's starting weights behaves like NNX: the difference is the weights', not the API's.
    same_start = number(glued, "dp_linen_same_start")
    assert same_start == pytest.approx(number(glued, "dp_nnx"), rel=1e-3, abs=1e-8)
    note = glued_markdown["nnx_dp_note"]
    assert note.startswith("Before step") if switched else note.startswith("No ReLU input changed sides")
    assert f"{same_start:.1e}" in note and note in tight(text)
    summary = glued_markdown["dp_summary"]
    assert summary.startswith("Every difference but NNX's" if switched else "Every difference is below 1e-05")
    assert summary in tight(text)
    assert number(glued, "hlo_allreduce_ops") >= 1
    assert f"NNX: jit + NamedSharding no all-reduce, inserted by XLA {number(glued, 'dp_nnx'):.1e}" in text
    assert glued["nnx_dp_spec"] in ("`P()`", "`PartitionSpec()`")  # the NNX weights stay replicated
    assert number(glued, "ported_ratio") == pytest.approx(number(glued, "n_devices"), rel=1e-3)


def test_adamw_difference_is_explained_with_measured_numbers(glued, text):
    assert number(glued, "adam_diff") > number(glued, "dp_pmap")
    assert f"differ by up to {number(glued, 'adam_diff'):.1e}" in text
    assert f"{number(glued, 'adam_g_whole'):.3e} one way" in text
    # The largest first-step difference found in the gradients is the one seen in the run.
    assert number(glued, "adam_first_step_diff") == pytest.approx(number(glued, "adam_diff"), rel=0.5)


def test_verdicts_follow_from_the_numbers(glued, glued_markdown, text):
    for ratio_name, verdict_name, jax_name, seconds in [
            ("speed_ratio", "speed_verdict", "JAX with Linen", "jax_seconds"),
            ("nnx_speed_ratio", "nnx_speed_verdict", "JAX with NNX", "nnx_seconds")]:
        ratio = number(glued, ratio_name)
        assert ratio == pytest.approx(number(glued, "torch_seconds") / number(glued, seconds))
        verdict = glued_markdown[verdict_name]
        if ratio > 1.1:
            assert verdict.startswith(f"{jax_name} trained")
        elif ratio < 1 / 1.1:
            assert verdict.startswith("PyTorch trained") and verdict.endswith(jax_name)
        else:
            assert "about the same" in verdict and jax_name in verdict
        assert verdict in text
    gap = number(glued, "accuracy_gap_points")
    assert glued_markdown["accuracy_verdict"] == ("the same accuracy" if gap < 1 else "different accuracies")
    assert glued_markdown["meta_verdict"] == "agree"
    meta_jax, meta_torch = number(glued, "meta_jax"), number(glued, "meta_torch")
    assert abs(meta_jax - meta_torch) < 1e-3 * abs(meta_jax)
    meta_nnx = number(glued, "meta_nnx")  # the same weights, through nnx.split / nnx.merge
    assert abs(meta_nnx - meta_jax) < 1e-3 * abs(meta_jax)
    gap = number(glued, "meta_nnx_relative_gap")
    assert f"NNX's, {meta_nnx:.6f}, is within {gap:.1e} of Linen's" in tight(text)
    assert f"with NNX {number(glued, 'nnx_seconds'):.1f} s" in text
