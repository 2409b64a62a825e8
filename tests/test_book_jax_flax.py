"""The chapter on "What are JAX and Flax?" as built in the smoke profile: its figures, and
prose that carries the numbers the run glued."""

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
    assert "Both have 824,458 parameters" in text
    assert "has 431,242" in text


def test_test_accuracies_in_prose_and_table(text, glued):
    torch_accuracy, jax_accuracy = float(glued["torch_test_accuracy"]), float(glued["jax_test_accuracy"])
    assert 0.0 < torch_accuracy <= 1.0 and 0.0 < jax_accuracy <= 1.0
    torch_text, jax_text = f"{100 * torch_accuracy:.2f}%", f"{100 * jax_accuracy:.2f}%"
    assert (f"the best PyTorch model reaches a test accuracy of {torch_text} "
            f"and the best JAX model {jax_text}") in text
    assert f"test accuracy {torch_text} {jax_text}" in text  # the table row


def test_best_epochs(text, glued):
    torch_best, jax_best = int(glued["torch_best_epoch"]), int(glued["jax_best_epoch"])
    assert torch_best >= 1 and jax_best >= 1
    assert f"after epoch {torch_best} for PyTorch" in text
    assert f"after epoch {jax_best} for JAX" in text
    assert f"best epoch {torch_best} {jax_best}" in text


def test_compile_and_step_times(text, glued):
    compile_s, step_ms = float(glued["compile_s"]), float(glued["step_ms"])
    assert compile_s > 0 and step_ms > 0
    assert f"batches of 64 took {compile_s:.2f} s" in text
    assert f"takes {step_ms:.1f} ms" in text
    assert f"as much as {float(glued['compile_steps']):.0f} steps" in text
    # the post's warm-up compiled nothing for the function the training loop calls
    assert int(glued["cache_after_post_warmup"]) == 0 and int(glued["cache_after_64"]) == 2
    assert "TypeError" in text and "compiled with float32[64,28,28]" in text


def test_epoch_times_and_verdict(text, glued):
    jax_epoch, torch_epoch = float(glued["jax_epoch_s"]), float(glued["torch_epoch_s"])
    assert (f"an epoch took {jax_epoch:.2f} s in JAX and {torch_epoch:.2f} s in PyTorch" in text)
    faster = "JAX" if jax_epoch < torch_epoch else "PyTorch"
    assert f"in this build {faster} was the faster of the two" in text
    # the build ran on this machine, so it saw the devices this process sees
    assert f"PyTorch ran on {report.torch_device()} and JAX on {report.jax_device()}" in text
