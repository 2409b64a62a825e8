"""The CPU-gaps chapter: its measurements glued as numbers, its tables and profiles in place,
its verdicts following the numbers."""

from __future__ import annotations

import re

import pytest

from book_helpers import LOG_LINE, has_traceback, number
from fwcompare import cpu_gaps

CHAPTER = "book/beyond/cpu-gaps"

pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]

NUMBERS = ["gap_limit_jax", "gap_limit_torch", "gap_ceiling_jax", "gap_ceiling_torch",
           "gap_ceiling_jax_pct", "gap_ceiling_torch_pct", "gap_step_gflop", "gap_top_share",
           "gap_jax_base_pct", "gap_jax_best_pct", "gap_jax_speedup", "gap_torch_base_pct",
           "gap_torch_best_pct", "gap_torch_speedup", "gap_im2col_ratio", "gap_nchw_ratio",
           "gap_pool_ratio", "gap_torch_top_share", "gap_mlp_best_pct", "gap_mlp_best_alone",
           "gap_slowest_rate"]


def test_page_has_no_traceback_or_warning(page, text):
    assert not has_traceback(page.read_text())
    assert "Warning" not in text and not LOG_LINE.search(text)


@pytest.mark.parametrize("name", NUMBERS)
def test_glued_measurements_are_positive_numbers(glued, name):
    assert number(glued, name) > 0


def test_shares_are_fractions_and_the_best_is_no_slower(glued):
    for name in ("gap_top_share", "gap_torch_top_share"):
        assert 0 < number(glued, name) <= 1
    assert number(glued, "gap_jax_speedup") >= 1 and number(glued, "gap_torch_speedup") >= 1
    assert number(glued, "gap_jax_best_pct") >= number(glued, "gap_jax_base_pct")
    assert number(glued, "gap_torch_best_pct") >= number(glued, "gap_torch_base_pct")


def squeeze(words: str) -> str:
    """Text without backticks, spaces or typographic apostrophes, to compare labels."""
    return re.sub(r"\s+", "", words.replace("`", "").replace("\u2019", "'"))


def test_every_variant_and_flag_is_in_a_table(text):
    smoke = cpu_gaps.settings_for("smoke")  # the variants every profile times
    labels = [*cpu_gaps.JAX_LABELS.values(),
              *(cpu_gaps.TORCH_VARIANTS[v] for v in smoke.torch_variants),
              *(cpu_gaps.XLA_FLAG_LABELS[v] for v in smoke.flag_variants)]
    for label in labels + ["XLA operation", "PyTorch operator", "MLP step"]:
        assert squeeze(label) in squeeze(text), label


def test_findings_follow_the_numbers(glued, text):
    finding = glued["gap_finding_jax"]
    assert f"{number(glued, 'gap_jax_base_pct'):.0%}" in finding
    assert f"{number(glued, 'gap_jax_best_pct'):.0%}" in finding
    assert f"{number(glued, 'gap_jax_speedup'):.2f}x" in finding
    assert "What this build found" in text and "Key takeaways" in text
