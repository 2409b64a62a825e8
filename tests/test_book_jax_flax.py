"""The chapter on "What are JAX and Flax?" as built in the smoke profile: its figures, and
prose that carries the numbers the run glued, for PyTorch, Flax NNX and Flax Linen."""

from __future__ import annotations

import re

import pytest

from book_helpers import figures, has_traceback
from fwcompare import report

CHAPTER = "book/posts/what-are-jax-and-flax"

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]


def test_page_has_no_traceback(page):
    markup = page.read_text()
    assert not has_traceback(markup)


def test_both_figures_are_images_with_alt_text(page):
    found = figures(page)
    alts = [alt for alt, _ in found]
    assert any("validation loss" in alt for alt in alts), alts
    assert any("training time" in alt.lower() for alt in alts), alts
    assert len(found) == 2, found
    for alt, image in found:
        assert len(alt) > 40, alt
        assert "PyTorch" in alt and "Flax NNX" in alt and "Flax Linen" in alt, alt
        assert image.suffix == ".png" and image.stat().st_size > 10_000, image


def test_figures_have_captions_and_anchors(page):
    markup = page.read_text()
    for anchor, caption in [("fig-flax-train-val", "The star marks the epoch"),
                            ("fig-flax-time", "Training time of the CNN")]:
        figure = re.search(rf'<figure[^>]*id="{anchor}".*?</figure>', markup, flags=re.S)
        assert figure, anchor
        assert caption in figure.group(0)


def test_parameter_counts(text, glued):
    assert int(glued["n_params"]) == 824_458
    assert int(glued["n_params_valid"]) == 431_242
    assert "All three have 824,458 parameters" in text
    assert "PyTorch: 824,458, NNX: 824,458, Linen: 824,458 parameters" in text  # the printed counts
    assert "has 431,242" in text


def test_init_returns_the_variables_with_params_inside(text):
    # the chapter's cells print the collections init returned: params alone for the CNN,
    # params and batch_stats for a layer with batch normalisation
    assert "CNN: ['params']" in text
    assert "with BatchNorm: ['params', 'batch_stats']" in text
    assert "returns the module’s variables" in text or "returns the module's variables" in text


def test_explicit_optax_step_matches_the_train_state_step(text, glued):
    assert float(glued["optax_vs_trainstate"]) < 1e-6
    for call in ("jax.value_and_grad", "tx.update", "optax.apply_updates"):
        assert call in text
    assert 'pip install -U "jax[cuda13]" flax optax' in text


def test_new_shapes_and_static_values_recompile(text):
    # the recompilation table: a repeated batch reuses its program, the rest compile again
    assert "batch of 64 again no" in text
    assert "batch of 32: a new shape yes" in text
    assert "batch of 64, static scale=2.0 yes" in text
    assert "body defined in a loop: 3 passes 3 times" in text


def test_same_weights_give_the_same_logits_in_all_three(text, glued):
    nnx_diff, linen_diff = float(glued["parity_nnx_max_diff"]), float(glued["parity_max_diff"])
    assert nnx_diff < 1e-5 and linen_diff < 1e-5
    assert (f"agree to within {nnx_diff:.1e} (NNX) and {linen_diff:.1e} (Linen), which is float32 "
            "rounding") in text


def test_test_accuracies_in_prose_and_table(text, glued):
    accuracies = [float(glued[f"{name}_test_accuracy"]) for name in ("torch", "nnx", "jax")]
    assert all(0.0 < accuracy <= 1.0 for accuracy in accuracies)
    torch_text, nnx_text, jax_text = (f"{100 * accuracy:.2f}%" for accuracy in accuracies)
    assert (f"the best PyTorch model reaches a test accuracy of {torch_text} , the best NNX model "
            f"{nnx_text} and the best Linen model {jax_text}") in text
    assert f"test accuracy {torch_text} {nnx_text} {jax_text}" in text  # the table row
    assert (f"{float(glued['nnx_test_gap_points']):.2f} (NNX) and "
            f"{float(glued['test_gap_points']):.2f} (Linen) percentage points from PyTorch") in text


def test_checkpoints_round_trip_in_all_three(text, glued):
    # the chapter's cell asserts the exact round trip; the page shows it and how each is stored
    assert "restored exactly: {'PyTorch': True, 'Flax NNX': True, 'Flax Linen': True}" in text
    assert "checkpoint one state_dict file an Orbax folder an Orbax folder" in text
    assert "SHA256SUMS" in text and "_CHECKPOINT_METADATA" in text  # inside the NNX folder
    assert "Linen checkpoint into an NNX model: the model has conv1/bias" in text
    losses = [float(glued[f"{name}_test_loss"]) for name in ("torch", "nnx", "jax")]
    assert all(0 < loss < 10 for loss in losses)
    assert "test loss " + " ".join(f"{loss:.4f}" for loss in losses) in text
    assert "msgpack" not in text


def test_best_epochs(text, glued):
    torch_best, nnx_best, jax_best = (int(glued[f"{name}_best_epoch"]) for name in ("torch", "nnx", "jax"))
    assert min(torch_best, nnx_best, jax_best) >= 1
    assert f"after epoch {torch_best} for PyTorch" in text
    assert f"after epoch {nnx_best} for NNX ( {float(glued['nnx_best_val_loss']):.4f} )" in text
    assert f"after epoch {jax_best} for Linen" in text
    assert f"best epoch {torch_best} {nnx_best} {jax_best}" in text


def test_compile_and_step_times(text, glued):
    compile_s, step_ms = float(glued["compile_s"]), float(glued["step_ms"])
    assert compile_s > 0 and step_ms > 0
    assert f"batches of 64 took {compile_s:.2f} s" in text
    assert f"takes {step_ms:.1f} ms" in text
    assert f"as much as {float(glued['compile_steps']):.0f} steps" in text
    # the post's warm-up compiled nothing for the function the training loop calls
    assert int(glued["cache_after_post_warmup"]) == 0 and int(glued["cache_after_64"]) == 2
    assert "TypeError" in text and "compiled with float32[64,28,28]" in text


def test_nnx_compile_against_steady_step(text, glued):
    nnx_compile, nnx_step = float(glued["nnx_compile_s"]), float(glued["nnx_step_ms"])
    assert nnx_compile > 0 and nnx_step > 0
    assert 1000 * nnx_compile > 5 * nnx_step  # compiling costs many steps
    assert (f"Compiling NNX’s step took {nnx_compile:.2f} s, as much as "
            f"{float(glued['nnx_compile_steps']):.0f} of its steady steps of {nnx_step:.1f} ms") in text
    assert (f"compilation ahead of time (s) none (eager) {nnx_compile:.2f} "
            f"{float(glued['compile_s']):.2f}") in text
    assert (f"steady step (ms, median of 20) {float(glued['torch_step_ms']):.1f} {nnx_step:.1f} "
            f"{float(glued['step_ms']):.1f}") in text
    assert f"took {float(glued['nnx_first_call_s']):.2f} s, {glued['nnx_warm_verdict'][1:-1]}" in text
    assert f"a step took {float(glued['nnx_jit_step_ms']):.1f} ms" in text


def test_epoch_times_and_verdict(text, glued):
    jax_epoch, torch_epoch = float(glued["jax_epoch_s"]), float(glued["torch_epoch_s"])
    nnx_epoch = float(glued["nnx_epoch_s"])
    assert (f"an epoch took {jax_epoch:.2f} s in Linen, {nnx_epoch:.2f} s in NNX and "
            f"{torch_epoch:.2f} s in PyTorch") in text
    fastest = min([("PyTorch", torch_epoch), ("Flax NNX", nnx_epoch), ("Flax Linen", jax_epoch)],
                  key=lambda pair: pair[1])[0]
    assert (f"in this build {fastest} was the fastest of the three, "
            f"{float(glued['fastest_margin_s']):.2f} s per epoch ahead of {glued['runner_up']}, a margin "
            f"{glued['fastest_margin_vs_noise']} than") in text
    faster = "JAX" if jax_epoch < torch_epoch else "PyTorch"  # the post's pair: Linen and PyTorch
    assert f"and PyTorch, {faster} was the faster, by a factor of {float(glued['speedup']):.2f}" in text
    assert (f"first epoch (includes compilation/warm-up) {float(glued['torch_first_s']):.2f} "
            f"{float(glued['nnx_first_s']):.2f} {float(glued['jax_first_s']):.2f}") in text
    assert f"{float(glued['nnx_excess_s']):+.1f} s for NNX" in text
    # the build ran on this machine, so it saw the devices this process sees
    assert (f"PyTorch ran on {report.torch_device()} and JAX, for both Flax APIs, on "
            f"{report.jax_device()}") in text


def test_findings_first_going_further_then_takeaways_last(page, glued):
    markup = page.read_text()
    markup = markup[markup.index("<article"):markup.index("</article>")]
    headings = re.findall(r"<h2>(.*?)<a class=\"headerlink\"", markup)
    assert headings[-2:] == ["Going further", "Key takeaways"], headings
    findings = re.search(r'<div class="[^"]*\bfindings\b', markup).start()
    assert findings < markup.index("<h2>"), "the findings box comes before the first H2"
    takeaways = re.search(r'<div class="[^"]*\btakeaways\b', markup).start()
    assert takeaways > markup.index("<h2>Key takeaways")
    box = markup[findings:markup.index("</div>", findings)]
    assert "{glue" not in box and glued["faster_name"].strip("'") in box
