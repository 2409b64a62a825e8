"""The chapter on the JAX slide deck: built, its only error output is the one it means to show,
the deck's lesson first (findings box, main path in the deck's order), then Going further and
Key takeaways; its per-epoch table and its prose hold the numbers its cells glued, and its
figure is there."""

from __future__ import annotations

import ast
import html
import re

import pytest

from book_helpers import figures, number
from fwcompare import claims

CHAPTER = "book/slides/jax-a-comparative-introduction"

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]


def string(glued, name) -> str:
    return ast.literal_eval(glued[name])


def cells(markup: str) -> list[str]:
    """The page's markup cut at the start of every notebook cell."""
    return re.split(r'(?=<div class="cell\b)', markup)


def test_only_the_intended_error_is_shown(page, text):
    markup = page.read_text()
    assert "Traceback (most recent call last)" not in markup
    errors = [cell for cell in cells(markup) if re.search(r'class="[^"]*\boutput\b[^"]*\btraceback\b', cell)]
    assert len(errors) == 1, "exactly one cell (static shapes) shows an error"
    assert "tag_raises-exception" in errors[0][:200]
    assert "ConcretizationTypeError" in errors[0]
    assert "Warning" not in text  # no library warning printed into an output


def headings(markup: str, level: int) -> list[str]:
    """The text of every ``<hN>`` of the page's article, tags and the ``#`` anchor stripped."""
    article = markup[markup.index("<article"):markup.index("</article>")]
    found = re.findall(rf"<h{level}\b[^>]*>(.*?)</h{level}>", article, flags=re.S)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", h))).replace("#", "").strip()
            for h in found]


MAIN_PATH = ["JAX in one slide", "XLA: what the compiler does",
             "Decorators, from nested functions to @jax.jit", "jax.jit and tracing",
             "Differentiation with grad", "Vectorising with vmap",
             "The deck’s MNIST network, in pure JAX", "Random numbers", "The JAX ecosystem"]


def test_slides_link_and_structure(page):
    markup = page.read_text()
    assert ('<p class="fwcompare-slides-link"><a href="../../slides/jax-a-comparative-introduction.html">'
            "View this chapter as slides</a></p>") in markup
    # The deck's order, then one Going further, then Key takeaways last.
    assert headings(markup, 2) == [*MAIN_PATH, "Going further", "Key takeaways"]
    assert len(re.findall(r"<h3\b", markup)) >= 25  # vertical sub-slides
    # The findings box comes before the first section; the takeaways box is the last one.
    article = markup[markup.index("<article"):]
    assert article.index("findings admonition") < article.index("<h2")
    assert article.index("takeaways admonition") > article.index('id="going-further"')


def test_findings_and_takeaways_hold_glued_values(page, glued):
    markup = page.read_text()
    markup = markup[markup.index("<article"):]
    findings = markup[markup.index("findings admonition"):markup.index("<h2")]
    takeaways = markup[markup.index("takeaways admonition"):]
    takeaways = takeaways[:takeaways.index("</div>")]
    assert findings.count("<li") >= 3 and takeaways.count("<li") >= 3
    assert f"{number(glued, 'final_test_accuracy'):.4f}" in findings and "0.9692" in findings
    assert glued["fusion_verdict"] in findings and glued["fusion_verdict"] in takeaways
    assert re.fullmatch(r"\d+\.\d times (faster|slower)", glued["fusion_verdict"])
    assert glued["scan_takeaway"] in takeaways


def test_per_epoch_table_holds_the_run_beside_the_decks(glued, text):
    rows = ast.literal_eval(glued["epoch_rows"])
    assert len(rows) == int(glued["epochs"]) >= 1
    ours = {epoch: row for epoch, *row in rows}
    for _epoch, seconds, train_accuracy, test_accuracy in rows:
        assert seconds > 0 and 0.1 < train_accuracy <= 1 and 0.1 < test_accuracy <= 1
    # The deck's printout, quoted as its own, with ours beside it (a dash where not run).
    for epoch, deck_s, deck_train, deck_test in claims.SLIDES_EPOCHS:
        if epoch in ours:
            seconds, train_accuracy, test_accuracy = ours[epoch]
            note = " (includes compilation)" if epoch == 0 else ""
            row = (f"{epoch} {deck_s} {seconds:.2f}{note} {deck_train} {train_accuracy:.4f} "
                   f"{deck_test} {test_accuracy:.4f}")
        else:
            row = f"{epoch} {deck_s} — {deck_train} — {deck_test} —"
        assert row in text, epoch
    assert rows[-1][3] == pytest.approx(number(glued, "final_test_accuracy"))
    assert f"the test accuracy is {number(glued, 'final_test_accuracy'):.4f} on" in text


def test_compilation_is_measured_apart(glued, text):
    assert number(glued, "compile_s") > 0
    assert f"One compilation takes {number(glued, 'compile_s'):.2f} s" in text
    assert glued["step_programs"] == glued["compiled_step_shapes_expected"]
    assert f"( {number(glued, 'first_epoch_s'):.2f} s) pays for it" in text


def test_loop_and_scan_are_timed_and_agree(page, glued, text):
    host, loop, scan = (number(glued, f"{name}_median_s") for name in ("host", "loop", "scan"))
    assert min(host, loop, scan) > 0
    assert number(glued, "scan_speedup") == pytest.approx(loop / scan)
    assert (f"took {host:.3f} s with NumPy batches, {loop:.3f} s with the data on the device and a "
            f"Python loop, and {scan:.3f} s as one lax.scan") in text
    assert f"the scan ran {number(glued, 'scan_speedup'):.2f} times as fast as the device-side loop" in text
    assert number(glued, "dispatch_us") > 0
    assert f"A call costs about {number(glued, 'dispatch_us'):.0f} µs" in text
    assert number(glued, "scan_loop_max_diff") < 1e-5
    assert f"looped parameters is {number(glued, 'scan_loop_max_diff'):.1e}" in text
    [(alt, image)] = figures(page)
    assert "lax.scan" in alt and len(alt) > 80
    assert image.suffix == ".png" and image.stat().st_size > 10_000


def test_xla_section_shows_fusion(glued, text):
    assert int(glued["n_jaxpr_eqns"]) == 5
    assert int(glued["n_stablehlo_ops"]) > int(glued["n_entry_ops"]) >= 1
    assert int(glued["n_fusions"]) >= 1 and glued["elementwise_fused_together"] == "True"
    assert (f"The jaxpr has {glued['n_jaxpr_eqns']} operations; the compiled entry point runs "
            f"{glued['n_entry_ops']}") in text
    assert (f"The StableHLO program has {glued['n_stablehlo_ops']} operations, against "
            f"{glued['n_jaxpr_eqns']} in the jaxpr") in text
    speedup = number(glued, "fusion_speedup")
    verdict = f"{speedup:.1f} times faster" if speedup >= 1 else f"{1 / speedup:.1f} times slower"
    assert glued["fusion_verdict"] == verdict
    assert f"Here the compiled function ran {verdict}" in text
    # What MLPerf is, next to the deck's quoted BERT result (quoted, not reproduced).
    assert "MLPerf" in text and "MLCommons" in text and "~7x performance improvement" in text
    assert "HloModule" not in text and "FileLocations" not in text  # printed texts are trimmed


def test_tracing_and_recompilation_counts(glued, text):
    assert glued["static_compiles"] == "3" and glued["static_calls"] == "5"
    assert "compiled 3 programs" in text
    assert glued["same_shape_reuses"] == "True"
    assert int(glued["recompile_total"]) == int(glued["recompile_calls"]) - 2
    assert f"{glued['recompile_calls']} calls, {glued['recompile_total']} compilations" in text
    assert re.search(r"traced with \S*float32\[2\]", text)  # a print inside jit shows a tracer
    assert glued["normalise_traces"] == "2" and "Three calls, 2 traces" in text


def test_grad_and_loss_claims(glued, text):
    assert number(glued, "grad_exp_at_1") == pytest.approx(2.7182817, abs=1e-7)
    assert glued["grad_exp_equals_exp"] == "True"
    assert f"Both print {number(glued, 'grad_exp_at_1'):.7f}" in text
    assert number(glued, "grad_vs_by_hand") < 1e-5 and glued["grad_argnums_consistent"] == "True"
    assert number(glued, "loss_ratio") == pytest.approx(10.0, rel=1e-5)
    assert f"The ratio is {number(glued, 'loss_ratio'):.4f}" in text
    assert number(glued, "step_equivalence") < 1e-6


def test_random_numbers_and_versions(glued, text):
    assert glued["numpy_order_matters"] == "True"
    assert (f"draw_a returns {number(glued, 'numpy_a_first'):.4f} when it runs first and "
            f"{number(glued, 'numpy_a_second'):.4f} when it runs second") in text
    assert glued["slides_draws_reproduced"] == "False"
    for name in ("key_order_independent", "same_key_identical", "jit_key_identical"):
        assert glued[name] == "True", name
    assert glued["legacy_key_data"] == "[0, 42]"
    jax_version = string(glued, "jax_version")
    assert jax_version != "0.3.24" and f"This page was built with JAX {jax_version}" in text
    assert f"use Flax {string(glued, 'flax_version')} and Optax {string(glued, 'optax_version')}" in text


def test_the_network_in_pytorch_nnx_and_linen(page, glued, text):
    # The deck's network and its update, as a module and a training step in three tabs each.
    labels = re.findall(r'<label[^>]*class="sd-tab-label"[^>]*>\s*([^<]*?)\s*<', page.read_text())
    assert labels == ["PyTorch", "Flax NNX", "Flax Linen"] * 2
    code = re.sub(r"\s+", "", text)  # code is tokenised into spans: compare without whitespace
    assert "self.layers=nnx.List([nnx.Linear(fan_in,fan_out,rngs=rngs" in code  # NNX's MLP
    assert "optimizer.update(model,grads)" in code and "state.apply_gradients(grads=grads)" in code
    assert "optimizer.step()" in code
    # The deck's trained weights in each framework's MLP: the pure-JAX network's accuracy.
    final = number(glued, "final_test_accuracy")
    accuracies = [number(glued, f"{key}_mlp_test_accuracy") for key in ("torch", "nnx", "linen")]
    assert accuracies == [final] * 3 and glued["frameworks_match_slides_accuracy"] == "True"
    torch_acc, nnx_acc, linen_acc = accuracies
    assert (f"reach test accuracies of {torch_acc:.4f} , {nnx_acc:.4f} and {linen_acc:.4f} , the "
            f"pure-JAX network’s {final:.4f} each ( True )") in text
    losses = [number(glued, f"{key}_mlp_test_loss") for key in ("torch", "nnx", "linen")]
    assert max(losses) - min(losses) < 1e-4
    # One step of each framework's optimiser equals the slides' sgd_step (lr = step size / 10).
    assert number(glued, "mlp_learning_rate") == pytest.approx(0.001)
    steps = {key: number(glued, f"{key}_step_vs_slides") for key in ("torch", "nnx", "linen")}
    assert max(steps.values()) < 1e-6 < number(glued, "step_largest_change") / 100
    assert number(glued, "nnx_step_vs_linen") < 1e-7
    assert (f"is {steps['torch']:.1e} for PyTorch, {steps['nnx']:.1e} for Flax NNX and "
            f"{steps['linen']:.1e} for Flax Linen") in text
    assert (f"one SGD step in PyTorch, Flax NNX, Flax Linen not shown the deck’s step to "
            f"{steps['torch']:.1e} , {steps['nnx']:.1e} , {steps['linen']:.1e}") in text
    assert (f"the trained network in PyTorch, Flax NNX, Flax Linen not shown test accuracy "
            f"{torch_acc:.4f} , {nnx_acc:.4f} , {linen_acc:.4f}") in text


def test_the_missing_log_is_shown_by_an_experiment(glued, text):
    # With the log the values are log-probabilities; the slide's formula without it is not.
    assert number(glued, "with_log_exp_sum") == pytest.approx(1.0, abs=1e-6)
    assert number(glued, "no_log_exp_sum") < 1e-3
    assert glued["no_log_same_argmax"] == "True"
    assert "drops the log in front of the sum" in text
    assert (f"Without it they sum to {number(glued, 'no_log_exp_sum'):.2g} , so the values are "
            "not log-probabilities") in text
    code = re.sub(r"\s+", "", text)
    assert "logits-jnp.sum(jnp.exp(logits))" in code  # the slide's formula, run


def test_decorators_ecosystem_and_used_keys(glued, text):
    code = re.sub(r"\s+", "", text)
    # A plain decorator, by hand and with @, then jax.jit the same two ways.
    assert "loud_greet=shout(greet)" in code and "'HELLOFROMAPLAINFUNCTION!'" in code
    assert "@shout" in code and "relu_jit=jax.jit(relu)" in code and "@jax.jit" in code
    # The deck's ecosystem, RLax and Jraph next to Flax, Optax and Orbax.
    for library in ("RLax", "Jraph", "Flax", "Optax", "Orbax", "Haiku"):
        assert library in text, library
    # A used key is deleted: split, draw once, del.
    assert "delkey" in code and "delsubkey" in code
    assert glued["reused_key_same"] == "True"
