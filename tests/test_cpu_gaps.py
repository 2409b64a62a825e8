"""The CPU-gap experiments: every variant computes the baseline's loss and gradients, bad names
are refused with the allowed ones, and the timing and profiling helpers return what they say."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from fwcompare import benchmark, cpu_gaps, pages

BATCH = 4


@pytest.fixture(scope="module")
def batch():
    images, labels = cpu_gaps.cnn_batch(BATCH)
    return images, labels


@pytest.fixture(scope="module")
def jax_baseline(batch):
    state = cpu_gaps.jax_start(cpu_gaps.cnn_config(BATCH))
    x, y = jnp.asarray(batch[0]), jnp.asarray(batch[1].astype(np.int32))
    return state, x, y, cpu_gaps.jax_loss_and_grads("linen", state, x, y)


@pytest.mark.parametrize("variant", [v for v in cpu_gaps.JAX_VARIANTS if v != "linen"])
def test_every_jax_variant_computes_the_linen_loss_and_gradients(jax_baseline, variant):
    state, x, y, (loss, grads) = jax_baseline
    other_loss, other_grads = cpu_gaps.jax_loss_and_grads(variant, state, x, y)
    assert float(other_loss) == pytest.approx(float(loss), abs=1e-6)
    assert pages.max_abs_diff(other_grads, grads) < 1e-6


def test_a_jax_variant_step_updates_like_the_linen_step(jax_baseline):
    state, x, y, _ = jax_baseline
    new, loss = cpu_gaps.jax_cnn_step("im2col-reshape-pool")(state, x, y)
    reference, reference_loss = cpu_gaps.jax_cnn_step("linen")(state, x, y)
    assert float(loss) == pytest.approx(float(reference_loss), abs=1e-6)
    assert pages.max_abs_diff(new.params, reference.params) < 1e-6


@pytest.mark.parametrize("pool", ["reduce-window", "reshape"])
def test_both_pools_average_two_by_two_blocks(pool):
    h = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
    expected = np.asarray(h).reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(cpu_gaps.average_pool(h, "nhwc", pool), expected, rtol=1e-6)
    nchw = cpu_gaps.average_pool(h.transpose(0, 3, 1, 2), "nchw", pool)
    np.testing.assert_allclose(nchw.transpose(0, 2, 3, 1), expected, rtol=1e-6)


def test_the_jax_model_matches_pytorch(jax_baseline, batch):
    state, x, y, (loss, _) = jax_baseline
    model = cpu_gaps.torch_cnn_model("eager", cpu_gaps.cnn_config(BATCH))
    torch_loss, _ = cpu_gaps.torch_loss_and_grads("eager", model, *map(torch.from_numpy, batch))
    assert float(torch_loss) == pytest.approx(float(loss), abs=1e-5)


@pytest.mark.parametrize("variant", [v for v in cpu_gaps.TORCH_VARIANTS if v != "eager"])
def test_every_torch_variant_computes_the_eager_loss_and_gradients(batch, variant):
    cfg = cpu_gaps.cnn_config(BATCH)
    x, y = map(torch.from_numpy, batch)
    loss, grads = cpu_gaps.torch_loss_and_grads("eager", cpu_gaps.torch_cnn_model("eager", cfg), x, y)
    model = cpu_gaps.torch_cnn_model(variant, cfg)
    other_loss, other_grads = cpu_gaps.torch_loss_and_grads(variant, model, x, y)
    assert float(other_loss) == pytest.approx(float(loss), abs=1e-6)
    assert pages.max_abs_diff(other_grads, grads) < 1e-6


def test_torch_settings_are_restored_after_the_block():
    threads, mkldnn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    with cpu_gaps.torch_settings("one-thread"):
        assert torch.get_num_threads() == 1
    with cpu_gaps.torch_settings("no-mkldnn"):
        assert not torch.backends.mkldnn.enabled
    assert (torch.get_num_threads(), torch.backends.mkldnn.enabled) == (threads, mkldnn)


@pytest.mark.parametrize("call", [
    lambda: cpu_gaps.cnn_logits({}, jnp.zeros((1, 28, 28)), "nope"),
    lambda: cpu_gaps.jax_cnn_step("linen-fast"),
    lambda: cpu_gaps.torch_cnn_model("nhwc", cpu_gaps.cnn_config(2)),
    lambda: cpu_gaps.average_pool(jnp.zeros((1, 2, 2, 1)), "hwcn"),
    lambda: cpu_gaps.average_pool(jnp.zeros((1, 2, 2, 1)), pool="max"),
    lambda: cpu_gaps.flag_step_seconds(["turbo"]),
])
def test_bad_names_are_refused_with_the_allowed_ones(call):
    with pytest.raises(ValueError, match="allowed"):
        call()


def test_a_bad_variant_error_lists_every_variant():
    with pytest.raises(ValueError) as error:
        cpu_gaps.jax_cnn_step("nope")
    assert all(name in str(error.value) for name in cpu_gaps.JAX_VARIANTS)


def test_the_products_of_a_step_add_up_to_the_flop_count():
    for batch_size in (1, 64):
        flops = sum(2 * m * k * n for _, (m, k, n) in cpu_gaps.cnn_products(batch_size))
        assert flops == benchmark.epoch_flops(cpu_gaps.cnn_config(batch_size), batch_size)
        mlp = sum(2 * m * k * n for m, k, n in cpu_gaps.mlp_products((784, 512, 512, 10), batch_size))
        assert mlp == benchmark.training_flops(benchmark.mlp_layer_macs((784, 512, 512, 10)), batch_size)


def test_interleaved_timing_times_every_call():
    calls = {"a": lambda: 1, "b": lambda: 2}
    seconds = cpu_gaps.interleaved_seconds(calls, rounds=2, steps=2)
    assert set(seconds) == {"a", "b"}
    assert all(v["step_s"] >= 0 and v["first_s"] >= 0 for v in seconds.values())
    with pytest.raises(ValueError, match="rounds"):
        cpu_gaps.interleaved_seconds(calls, rounds=0)


def test_the_profiles_name_operations_and_add_up():
    jax_ops = cpu_gaps.jax_op_profile(cpu_gaps.jax_cnn_stepper("linen", 2), steps=1, top=10_000)
    assert jax_ops and sum(op.share for op in jax_ops) == pytest.approx(1.0, abs=1e-6)
    assert any("conv" in op.source for op in jax_ops)
    torch_ops = cpu_gaps.torch_op_profile(cpu_gaps.torch_cnn_stepper("eager", 2), top=5)
    assert len(torch_ops) == 5 and all(op.ms > 0 for op in torch_ops)


def test_a_flag_variant_runs_in_its_own_process():
    seconds = cpu_gaps.flag_step_seconds(["default"], batch_size=2, rounds=1, steps=1)
    assert seconds["default"] > 0


def test_the_smoke_settings_are_smaller_and_bad_profiles_refused():
    full, smoke = cpu_gaps.settings_for("full"), cpu_gaps.settings_for("smoke")
    assert smoke.batch_size < full.batch_size and smoke.rounds <= full.rounds
    with pytest.raises(ValueError, match="allowed: full, smoke"):
        cpu_gaps.settings_for("huge")


def test_profile_rows_fit_the_header():
    op = cpu_gaps.OpTime("fusion.1", "backward Conv_1/conv", "f32[3,3]", 1.5, 0.25)
    rows = cpu_gaps.profile_rows([op])
    assert rows == [("`fusion.1`", "backward Conv_1/conv (f32[3,3])", 1.5, "25%")]
    assert len(rows[0]) == len(cpu_gaps.PROFILE_HEADER)
