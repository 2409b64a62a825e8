"""The chapter "Flax NNX next to Linen and PyTorch": built without errors, its three-tab code is
the package's, and each claim it makes about the three APIs is a glued result shown in its prose."""

from __future__ import annotations

import re

import pytest

from book_helpers import REPO, has_traceback, number

CHAPTER = "book/beyond/nnx-linen-pytorch"
SOURCE = REPO / f"{CHAPTER}.md"

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]


def tight(text: str) -> str:
    """Page text without the space that tag boundaries leave before punctuation ("0.0e+00 ,")."""
    return re.sub(r" ([,.;:)])", r"\1", text)


def test_page_has_no_traceback_or_warning(page, text):
    assert not has_traceback(page.read_text())
    assert "Warning" not in text


def test_chapter_is_listed_after_how_this_book_is_built():
    toc = (REPO / "_toc.yml").read_text()
    entries = ("book/beyond/how-this-book-is-built", CHAPTER, "caption: Blog posts")
    order = [toc.index(entry) for entry in entries]
    assert order == sorted(order)
    assert "{doc}`beyond/nnx-linen-pytorch`" in (REPO / "book/index.md").read_text()


def test_prose_stays_focused():
    """1,200 to 2,000 words of prose: code, directives and front matter left out."""
    source = SOURCE.read_text().split("---\n", 2)[2]
    prose = re.sub(r"^(`{3,}|:{3,}).*?^\1\s*$", " ", source, flags=re.M | re.S)  # fenced blocks
    prose = re.sub(r"\{glue:\w+\}`[^`]*`", "N", prose)
    words = re.findall(r"[A-Za-z0-9_`.()\[\]→-]+", prose)
    assert 1200 <= len(words) <= 2000, len(words)


def test_shown_code_comes_from_each_backend():
    source = SOURCE.read_text()
    for backend in ("torch_impl", "nnx_impl", "linen_impl"):
        for module, name in [("models", "create_model"), ("models", "MLP"), ("train", "train_step"),
                             ("evaluate", "evaluate")]:
            assert f"code/fwcompare/{backend}/{module}.py\n:pyobject: {name}\n" in source, (backend, name)
    for name in ("compiled_train_step", "make_optimizer"):
        assert f"nnx_impl/train.py\n:pyobject: {name}\n" in source
    assert "linen_impl/train.py\n:pyobject: create_train_state\n" in source
    assert "nnx_impl/models.py\n:pyobject: to_linen\n" in source


def test_linen_and_nnx_build_the_same_network_from_different_draws(glued, text):
    assert number(glued, "n_params_linen") == number(glued, "n_params_nnx") == 101_770
    assert "Both trees hold 101,770 numbers" in text
    assert number(glued, "same_seed_gap") > 0, "one seed, two APIs: different keys, different weights"
    assert "Seed 0 gives different weights in the two APIs, because they derive their keys" in text


def test_train_state_and_nnx_optimizer_take_the_same_steps(glued, text):
    assert number(glued, "optimizer_steps") == 4
    gap = number(glued, "optimizer_gap")
    assert gap < 1e-6
    assert f"After 4 steps the weights differ by at most {gap:.1e}" in text


def test_collections_and_variable_types(glued, text):
    assert glued["linen_mutable"] == "`['batch_stats']`"
    assert "returned the collection ['batch_stats']" in text
    for name in ("linen_stats_moved", "nnx_stats_moved"):
        assert number(glued, name) > 0, name
    assert f"moved by up to {number(glued, 'linen_stats_moved'):.3f}" in text
    assert f"own mean by {number(glued, 'nnx_stats_moved'):.3f}" in text
    assert re.search(r"calls is 1 ?\.", text)
    # The printed table of variables by type: weights, statistics, our own counter, the RNG stream.
    assert "variable type numbers Param 25,514 BatchStat 64 Count 1 RngState 2" in text


def test_random_streams(glued, text):
    assert glued["linen_same_key_repeats"] == "True"  # Linen: the same key, the same dropout mask
    assert glued["nnx_calls_repeat"] == "False"  # NNX: the module's stream advances per call
    assert "Linen, same key twice: same output True" in text
    assert "NNX, two calls: same output False; stream count now 3" in text


def test_conversion_keeps_the_logits(glued, text):
    for name in ("convert_max_diff", "roundtrip_max_diff"):
        assert number(glued, name) < 1e-6, name
    assert (f"differ by at most {number(glued, 'convert_max_diff'):.1e} after conversion and "
            f"{number(glued, 'roundtrip_max_diff'):.1e} after the round trip") in text


def test_pytorch_weights_give_the_nnx_model_the_same_logits(glued, text):
    assert number(glued, "torch_nnx_max_diff") < 1e-4
    assert f"The logits agree to {number(glued, 'torch_nnx_max_diff'):.1e}" in text
    assert "(128, 784) (784, 128)" in text  # PyTorch's (out, in) against NNX's (in, out)


def test_eval_view_shares_the_weights_and_leaves_the_model_training(glued, text):
    for name in ("view_repeats", "view_stats_kept", "view_shares"):
        assert glued[name] == "True", name
    assert "the block itself still trains: True" in text


def test_step_overhead_table_and_verdict(glued, text):
    seconds = {name: number(glued, f"step_us_{name}") for name in ("linen_jit", "nnx_jit", "nnx_cached")}
    assert all(value > 0 for value in seconds.values()), seconds
    for label, name in [("NNX: nnx.jit step, modules in place", "nnx_jit"),
                        ("Linen: jax.jit step, state in and out", "linen_jit"),
                        ("NNX: the cached step ( nnx.cached_partial )", "nnx_cached")]:
        assert f"{label} {seconds[name]:.0f} µs" in text, label
    ratio = number(glued, "cached_speedup")
    assert ratio == pytest.approx(seconds["nnx_jit"] / seconds["nnx_cached"], rel=0.01)
    verdict = glued["overhead_verdict"]
    if ratio > 1.1:
        assert verdict.startswith("the cached step was")
    elif ratio < 1 / 1.1:
        assert verdict.startswith("`nnx.jit` was")
    else:
        assert "about the same time" in verdict
    assert f"Over {int(number(glued, 'overhead_steps'))} calls," in text


def test_checkpoints_restore_the_same_logits_in_place_or_anew(glued, text):
    source = SOURCE.read_text()
    for backend in ("torch_impl", "nnx_impl", "linen_impl"):
        for name in ("save", "load"):
            assert f"{backend}/checkpoint.py\n:pyobject: {name}\n" in source, (backend, name)
    for name in ("torch", "nnx", "linen"):
        assert number(glued, f"ckpt_{name}_max_diff") == 0, name
    assert (f"(largest differences {number(glued, 'ckpt_torch_max_diff'):.1e}, "
            f"{number(glued, 'ckpt_nnx_max_diff'):.1e} and") in tight(text)
    # PyTorch and NNX load into the model they are given; Linen returns a new one.
    assert "loaded in place: True True False" in text
    assert "SHA256SUMS" in text and number(glued, "ckpt_nnx_files") >= 3
