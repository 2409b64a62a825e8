"""The benchmarks chapter: built from the build's own run, its verdicts bound to the numbers, its
figures in place, the nine routines shown to do the same work, and the time to accuracy of each
framework measured and answered against the sources' claims."""

from __future__ import annotations

import re

import pytest

from book_helpers import LOG_LINE, figures, has_traceback, number
from fwcompare.benchmark import GPU_ONLY, ROUTINES
from fwcompare.time_to_accuracy import FRAMEWORKS

CHAPTER = "book/beyond/benchmarks"

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]

# The CUDA-graph routines run on CUDA only; a CPU build records them as skipped instead.
ROUTINE_LABELS = [label for name, (_, label) in ROUTINES.items() if name not in GPU_ONLY]


def test_page_has_no_traceback_or_warning(page, text):
    assert not has_traceback(page.read_text())
    assert "Warning" not in text and not LOG_LINE.search(text)  # no library warning in an output


def test_unsynchronised_timing_is_shown_to_be_shorter(glued, text):
    assert number(glued, "sync_ratio") > 1
    assert f"{number(glued, 'sync_ratio'):.1f} times faster" in text


def test_flop_counts_agree_with_xla(glued, text):
    assert number(glued, "flops_MLP_ratio") == pytest.approx(1.0, abs=0.02)
    assert 0.9 < number(glued, "flops_CNN_ratio") < 1.0
    assert f"{number(glued, 'flops_MLP_ratio'):.3f}" in text


def test_every_routine_is_in_every_table(text):
    for label in ROUTINE_LABELS:
        # the MLP table and both CNN tables; a CPU build leaves the scanned CNN epochs out
        assert text.count(label) >= (1 if "lax.scan" in label else 3), label


def test_the_nnx_step_overhead_is_measured_and_explained(glued, text):
    for size in ("small", "big"):
        nnx_jit, linen = number(glued, f"step_{size}_nnx_jit_us"), number(glued, f"step_{size}_linen_us")
        assert nnx_jit > 0 and linen > 0 and number(glued, f"step_{size}_nnx_split_us") > 0
        assert number(glued, f"step_{size}_overhead_us") == pytest.approx(abs(nnx_jit - linen), rel=1e-6)
        expected = "more" if nnx_jit >= linen else "less"
        assert glued[f"step_{size}_more_or_less"].strip("'\"") == expected
        assert f"{nnx_jit:.0f} µs" in text
    for call in ("Linen jax.jit step", "NNX nnx.jit step", "NNX cached step"):
        assert call in text  # the table's columns
    assert "MLP 784-128-10" in text and "MLP 784-512-512-10" in text


def test_the_routines_did_the_same_work(glued, text):
    assert number(glued, "loss_spread") < 1e-4
    assert f"{number(glued, 'loss_spread'):.1e}" in text


def test_verdicts_follow_the_numbers(glued, text):
    for framework in ("torch", "jax"):
        fraction = number(glued, f"best_{framework}_fraction")
        expected = "meets" if fraction >= 0.8 else "falls short of"
        assert glued[f"best_{framework}_target"].strip("'\"") == expected
        assert f"{fraction:.0%}" in text
    ratio = number(glued, "best_ratio")
    assert ratio >= 1
    assert glued["within_target"].strip("'\"") == ("within" if ratio <= 1.3 else "outside")


def test_the_scan_experiment_lists_convolution_layouts(glued, text):
    assert number(glued, "conv_count") == 5
    assert number(glued, "step_canonical") == 5  # the compiled step: all canonical
    assert "b01f_01io->b01f" in text


def test_figures_have_alt_text_and_exist(page):
    found = figures(page)
    assert len(found) == 3
    for alt, image in found:
        assert len(alt) > 40 and image.is_file() and image.stat().st_size > 10_000


def test_links_to_and_from_the_common_libraries_chapter(smoke_build, page):
    assert "pytorch-vs-jax-common-libraries.html" in page.read_text()
    other = (smoke_build / "html" / "book" / "slides" / "pytorch-vs-jax-common-libraries.html").read_text()
    assert re.search(r'href="\.\./beyond/benchmarks\.html', other)


def test_the_page_is_structured_like_every_chapter(page, text):
    markup = page.read_text()
    markup = markup[markup.index("<article"):markup.index("</article>")]  # not the print toc
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", markup, flags=re.S)
    titles = [re.sub(r"<[^>]+>|¶|#", "", h).strip() for h in headings]
    assert titles[-1] == "Key takeaways" and titles[-2] == "Going further", titles
    assert "Time to accuracy" in titles[:-2]  # on the main path
    findings = markup.index("What this build found")
    assert findings < markup.index("<h2") and "takeaways" in markup[markup.rindex("<h2"):]


def test_time_to_accuracy_is_a_number_or_not_reached(glued, text):
    for task in ("cnn", "mlp"):
        for framework in FRAMEWORKS:
            value = glued[f"tta_{task}_{framework}_s"].strip("'\"")
            assert value == "not reached" or float(value) > 0, (task, framework, value)
    assert "median time to target (s)" in text  # the table
    for name in FRAMEWORKS.values():
        assert name in text


def test_the_time_to_accuracy_verdicts_follow_the_numbers(glued, text):
    seconds = {fw: glued[f"tta_cnn_{fw}_s"].strip("'\"") for fw in FRAMEWORKS}
    reached = {fw: float(s) for fw, s in seconds.items() if s != "not reached"}
    verdict = glued["tta_cnn_verdict"]
    if reached:
        first = min(reached, key=reached.get)
        assert verdict.startswith(f"On the CNN, {FRAMEWORKS[first]} reached")
        assert f"{reached[first]:.1f} s" in verdict
    else:
        assert verdict.startswith("No framework reached")
    claim = glued["tta_claim_verdict"]
    torch_s = reached.get("torch", float("inf"))
    faster = [fw for fw in ("nnx", "linen") if reached.get(fw, float("inf")) < torch_s]
    expected = "holds" if len(faster) == 2 else "does not hold" if not faster else "holds for"
    assert f"than PyTorch {expected}" in claim
    assert claim in text and verdict in text
