"""The chapter on "An introduction to JAX": built, free of errors, and its prose holds the
numbers its cells glued, formatted as the prose formats them."""

from __future__ import annotations

import ast
import html
import re

import pytest

from book_helpers import figures, has_traceback, number, page_text

CHAPTER = "book/posts/an-introduction-to-jax"

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]


def headings(page, level):
    return [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", h))).replace("#", "").strip()
            for h in re.findall(rf"<h{level}\b[^>]*>(.*?)</h{level}>", page.read_text(), flags=re.S)]


def test_page_has_no_traceback(page):
    markup = page.read_text()
    assert not has_traceback(markup)
    assert "Warning" not in page_text(page)  # no library warning printed into an output


def test_predictions_match_the_post_and_are_shown(glued, text):
    for index, post_value in enumerate([0.785835, 0.81757444, 0.8455348]):
        ours = number(glued, f"prob_{index}")
        assert ours == pytest.approx(post_value, abs=1e-6)
        assert f"{ours:.7f}" in text
    assert number(glued, "probs_vs_post") < 1e-6
    assert f"{number(glued, 'probs_vs_post'):.1e}" in text


def test_the_posts_matmul_printout_is_shown_to_come_from_another_input(glued, text):
    assert glued["post_product_matches_ours"] == "False"
    assert glued["post_product_from_other_input"] == "True"
    assert "[21, 2, 3, 0]" in text


def test_target_search_finds_the_flat_targets_with_two_ones(glued, text):
    assert glued["n_candidates"] == "16"
    assert glued["n_fit_both"] == "3" and glued["fit_both_all_flat"] == "True"
    assert "[0, 1, 1] , [1, 0, 1] , [1, 1, 0]" in text
    assert f"Of the 16 candidates, {glued['n_fit_both']} reproduce both" in text
    assert number(glued, "layers_gap_equal_spacing") < 1e-5 < number(glued, "layers_gap_moved_row")


def test_gradients_and_update_match_the_post(glued, text):
    for name in ("grads_vs_post", "update_vs_post", "grads_torch_vs_jax", "update_torch_vs_jax"):
        assert number(glued, name) < 1e-5, name
        assert f"{number(glued, name):.1e}" in text, name


def test_naive_loss_is_capped_and_the_stable_one_is_not(glued, text):
    assert number(glued, "naive_capped_loss") == pytest.approx(18.42, abs=0.01)
    assert number(glued, "naive_capped_grad") == 0.0
    assert glued["naive_eps0_loss"] == "inf" and glued["naive_eps0_grad"] == "nan"
    assert number(glued, "stable_big_loss") == pytest.approx(100.0)
    assert f"the loss is capped at {number(glued, 'naive_capped_loss'):.2f}" in text
    assert f"the stable form gives {number(glued, 'stable_big_loss'):.1f}" in text
    after = number(glued, "loss_after_naive")
    assert after > number(glued, "loss_before")
    assert f"the loss rose from {number(glued, 'loss_before'):.3f} to {after:.2f}" in text


def test_timings_are_glued_next_to_the_posts(glued, text):
    eager_ms, jit_us = number(glued, "eager_ms"), number(glued, "jit_us")
    assert eager_ms > 0 and jit_us > 0 and eager_ms * 1e3 > jit_us
    assert f"10.3 ms {eager_ms:.2f} ms" in text
    assert f"4.39 µs {number(glued, 'dispatch_us'):.1f} µs" in text
    assert f"{number(glued, 'compile_ms'):.0f} ms" in text
    ratio = number(glued, "timeit_ratio")
    assert ratio > 4, "the first %timeit repeat includes compilation and must stand out"
    assert glued["first_repeat_is_slowest"] == "True"
    assert f"The ratio here is {ratio:.0f} , against the post’s 256.52" in text


def test_keys_vmap_and_flax_claims_hold(glued, text):
    for name in ("key_same_bits", "key_same_draws", "key_repeatable", "derived_keys_differ",
                 "torch_global_advances", "torch_reseed_repeats", "init_batch_independent",
                 "eager_list_changed", "biases_zero"):
        assert glued[name] == "True", name
    assert glued["jit_list_changed"] == "False"
    for name in ("vmap_vs_batched", "flax_vmap_vs_batch", "flax_vs_torch_net", "second_vs_exact"):
        assert number(glued, name) < 1e-5, name
    assert f"Identical: {glued['init_batch_independent']} ." in text


def test_loss_figure_is_shown_with_alt_text(page):
    [(alt, image)] = figures(page)
    assert "logit" in alt and len(alt) > 80
    assert image.suffix == ".png" and image.stat().st_size > 10_000


def test_every_step_is_shown_for_pytorch_nnx_and_linen(page, text):
    markup = page.read_text()
    labels = re.findall(r'<label[^>]*class="sd-tab-label"[^>]*>\s*([^<]*?)\s*<', markup)
    assert labels == ["PyTorch", "Flax NNX", "Flax Linen"] * 9
    # The hand-written functions are plain JAX, shown in both Flax tabs and said to be shared.
    assert text.count("Plain JAX from fwcompare/jax_common/tiny.py , shared by both Flax APIs") == 5
    # The three Net modules (code is tokenised into spans: compare without whitespace).
    code = re.sub(r"\s+", "", text)
    assert "self.hidden=nn.Linear(in_features,hidden)" in code  # PyTorch
    assert "self.hidden=nnx.Linear(in_features,hidden,rngs=rngs)" in code  # NNX
    assert "x=nn.relu(nn.Dense(self.hidden)(x))" in code  # Linen


def test_nnx_net_is_built_eagerly_and_matches_linen_and_pytorch(glued, text):
    # Its parameter tree: the same shapes as Linen's, under the module's attribute names.
    nnx_shapes, linen_shapes = (ast.literal_eval(glued[name].strip("`"))
                                for name in ("nnx_param_shapes", "linen_param_shapes"))
    assert nnx_shapes == {"hidden": {"bias": (4,), "kernel": (2, 4)}, "out": {"bias": (1,), "kernel": (4, 1)}}
    assert list(nnx_shapes.values()) == [linen_shapes["Dense_0"], linen_shapes["Dense_1"]]
    assert glued["nnx_linen_same_shapes"] == "True"
    assert glued["nnx_param_count"] == glued["linen_param_count"] == "17"
    assert (f"Both hold 17 numbers (Linen: 17 ), in layers of the same shapes ( True ): "
            f"NNX’s {nnx_shapes}") in text
    # The printed tree of the module's nnx.Params (code and outputs compared without whitespace).
    tree = "State({'hidden':{'bias':Param(value=(4,)),'kernel':Param(value=(2,4))}"
    assert tree in re.sub(r"\s+", "", text)
    assert glued["nnx_example_shapes"] == "`(3, 1)`, `(1, 1)`, `(1,)`"
    assert "the built module takes all three inputs, returning (3, 1) , (1, 1) , (1,)" in text
    # Its own initial values, then Linen's weights copied in: the same outputs as Linen and PyTorch.
    assert number(glued, "nnx_init_vs_linen") > 0.01
    assert f"its kernels differ from Linen’s by up to {number(glued, 'nnx_init_vs_linen'):.2f}" in text
    for name in ("nnx_vmap_vs_batch", "nnx_vs_linen_net", "nnx_vs_torch_net"):
        assert number(glued, name) < 1e-6, name
    assert f"and so do NNX’s (to {number(glued, 'nnx_vmap_vs_batch'):.1e} )" in text
    assert (f"the NNX module gives Linen’s probabilities to {number(glued, 'nnx_vs_linen_net'):.1e} and "
            f"PyTorch’s to {number(glued, 'nnx_vs_torch_net'):.1e}") in text
    assert f"the same outputs from the same weights ( {number(glued, 'nnx_vs_linen_net'):.1e} )" in text


def test_nnx_and_linen_keys_and_devices_are_checked(glued, text):
    for name in ("nnx_param_on_device", "nnx_state_moved", "linen_params_on_device",
                 "rngs_draws_are_fold_in", "nnx_same_seed_same_weights", "linen_same_key_same_params"):
        assert glued[name] == "True", name
    assert f"the n -th being fold_in(key(0), n) ( {glued['rngs_draws_are_fold_in']} )" in text
    assert f"the same seed rebuilds the same weights ( {glued['nnx_same_seed_same_weights']} )" in text


def test_structure_follows_the_post_then_going_further_then_takeaways(page, glued, text):
    h2 = [h for h in headings(page, 2) if h != "Contents"]  # the sidebar's title is an h2 too
    assert h2[:6] == ["A tiny network by hand", "What JAX is: Autograd and XLA", "Arrays live on a device",
                      "Random numbers with explicit keys",
                      "vmap: write it for one example, run it on a batch", "The same network in Flax"], h2
    assert h2[-2:] == ["Going further", "Key takeaways"], h2
    h3 = headings(page, 3)
    assert h3.index("The missing target") > h3.index("One step of gradient descent")
    # The findings box comes before the first section and holds this build's glued numbers.
    findings = text[text.index("What this build found"):text.index("On recent NVIDIA GPUs")]
    assert text.index("What this build found") < text.index("A tiny network by hand # ")
    assert f"{number(glued, 'grads_vs_post'):.1e}" in findings
    before, after = number(glued, "loss_before"), number(glued, "loss_after_naive")
    assert f"the loss went from {before:.3f} to {after:.2f}" in findings
    takeaways = text[text.index("Key takeaways # Key takeaways"):]
    assert f"{number(glued, 'update_vs_post'):.1e}" in takeaways
    assert glued["jit_verdict"].strip("'") in takeaways


def test_the_issues_topics_are_on_the_main_path(text):
    main = text[:text.index("Going further # Everything below")]
    for needle in ("Autograd", "XLA (Accelerated Linear Algebra)", "operator fusion", "TPUs",
                   "tf.GradientTape()", "tape.gradient(loss, weights)", "Haiku", "maintenance",
                   "jax.grad(loss_fn, argnums=2)", "jax.grad(loss, argnums=2)", "NameError",
                   "mean ± standard deviation", "best repeat"):
        assert needle in main, needle


def test_xla_fuses_the_element_wise_operations(glued, text):
    ops, kernels = int(glued["fusion_ops"]), int(glued["fusion_kernels"])
    assert ops >= 8 and 1 <= kernels < ops
    word = glued["fusion_kernel_word"].strip("'")
    assert word == ("kernel" if kernels == 1 else "kernels")
    assert f"The {ops} operations JAX recorded became {kernels} {word} ." in text
    assert number(glued, "gelu_eager_ms") > 0 and number(glued, "gelu_jit_ms") > 0
    assert number(glued, "tanh_ten_us") > 0 and number(glued, "tanh_all_us") > 0
