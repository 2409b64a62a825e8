"""The benchmark machinery: the timer waits for the device, FLOP counts are right, results files
round-trip, the six routines do the same work, and bad arguments are refused."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from fwcompare import benchmark, benchsuite, config, datasets, plots, timing
from fwcompare.jax_common import data as jax_data

# --- the timer -----------------------------------------------------------------------------

def test_timer_without_sync_measures_only_the_dispatch():
    """JAX returns before an asynchronous computation finishes: an unsynchronised timer stops
    early. ~20 chained 1024x1024 products take tens of milliseconds; dispatching them takes
    microseconds."""
    a = jax.random.normal(jax.random.key(0), (1024, 1024)) / 32

    @jax.jit
    def chain(m):
        for _ in range(20):
            m = jnp.tanh(m @ a)
        return m

    timing.sync(chain(a))  # compile outside the measurements
    synced = timing.measure(lambda: chain(a), repeats=5, synchronize=True)
    unsynced = timing.measure(lambda: chain(a), repeats=5, synchronize=False)
    assert unsynced.median < 0.5 * synced.median, (unsynced.median, synced.median)


def test_timing_statistics():
    runs = timing.Timing((3.0, 1.0, 2.0, 5.0, 4.0))
    assert (runs.median, runs.best, runs.worst) == (3.0, 1.0, 5.0)
    assert runs.spread == pytest.approx((4.0 - 2.0) / 3.0)
    assert timing.Timing((2.0,)).spread == 0.0


@pytest.mark.parametrize("arguments", [{"repeats": 0}, {"warmup": -1}])
def test_measure_rejects_bad_counts(arguments):
    with pytest.raises(ValueError, match=next(iter(arguments))):
        timing.measure(lambda: None, **arguments)


# --- FLOPs ---------------------------------------------------------------------------------

def test_flops_of_a_tiny_mlp_match_a_hand_count():
    # 4 -> 3 -> 2, 5 examples. Per example: forward 2*(4*3) + 2*(3*2) = 36; weight gradients
    # the same, 36; input gradients only for the second layer, 2*(3*2) = 12. Total 84.
    assert benchmark.mlp_layer_macs((4, 3, 2)) == (12, 6)
    assert benchmark.training_flops((12, 6), examples=5) == 5 * 84


def test_flops_of_the_benchmark_mlp():
    cfg = config.MLPConfig(hidden=(512, 512))
    macs = 784 * 512 + 512 * 512 + 512 * 10
    assert benchmark.epoch_flops(cfg, 128) == 128 * (6 * macs - 2 * 784 * 512)


def test_mlp_flops_agree_with_xla_own_count():
    """XLA counts every operation of the compiled step; ours counts the matrix products only.
    For the MLP at batch 128 the rest (activations, loss, update) is about 1 %."""
    cfg = config.MLPConfig(hidden=(512, 512), batch_size=128)
    assert benchsuite.xla_step_flops(cfg) / benchmark.epoch_flops(cfg, 128) == pytest.approx(1.0, abs=0.02)


def test_cnn_flops_agree_with_xla_own_count():
    """XLA leaves out the multiplications by the zero padding at the image borders, which
    GEMM-style convolution kernels do perform; so XLA's count is a few percent lower."""
    cfg = dataclasses.replace(config.MNIST_CNN, batch_size=8)
    ratio = benchsuite.xla_step_flops(cfg) / benchmark.epoch_flops(cfg, 8)
    assert 0.9 < ratio < 1.0


@pytest.mark.parametrize("sizes", [(784,), (784, 0, 10), (784, 12.5, 10)])
def test_mlp_macs_reject_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        benchmark.mlp_layer_macs(sizes)


def test_flops_reject_bad_arguments():
    with pytest.raises(ValueError, match="examples"):
        benchmark.training_flops((12, 6), examples=0)
    with pytest.raises(ValueError, match="no FLOP count"):
        benchmark.layer_macs(config.SLIDES_PURE_MLP)


# --- results files -------------------------------------------------------------------------

def _measurement(**changes) -> benchmark.Measurement:
    fields = dict(group="routines", workload="MLP 784-512-512-10, batch 128", routine="jax-scan",
                  framework="jax", batch_size=128, hidden=(512, 512), examples=59904, full_examples=60000,
                  flops_per_epoch=1.9e11, first_epoch_s=2.5, epoch_s=(1.0, 1.1, 0.9, 1.0, 1.2),
                  first_loss=0.61)
    return benchmark.Measurement(**{**fields, **changes})


def _results() -> benchmark.BenchResults:
    return benchmark.BenchResults(
        created="2026-11-22T05:00:00+00:00", environment={"device": "cpu (test, 2 threads)"},
        settings={"repeats": 5}, matmul_sizes=(1024, 4096), matmul_gflops={"torch": 150.0, "jax": 190.0},
        step_products_gflops={"torch": 140.0, "jax": 120.0},
        measurements=(_measurement(), _measurement(routine="torch-device", framework="torch",
                                                   epoch_s=(2.0, 2.0, 2.1, 1.9, 2.0))))


def test_results_file_round_trips(tmp_path):
    results = _results()
    path = benchmark.save_results(results, tmp_path / "out" / "run.json")
    assert benchmark.load_results(path) == results
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary file left


def test_results_derived_numbers():
    results = _results()
    fast = results.best("jax", "MLP 784-512-512-10, batch 128")
    assert fast.median_s == 1.0 and fast.gflops == pytest.approx(190.0)
    assert results.limit_gflops == 190.0 and results.fraction(fast) == pytest.approx(1.0)
    assert fast.warmup_s == pytest.approx(1.5)
    assert fast.projected_epoch_s == pytest.approx(60000 / 59904)
    with pytest.raises(ValueError, match="no 'torch' routine"):
        results.best("torch", "CNN, batch 64")


def test_a_failed_save_leaves_the_old_file(tmp_path):
    path = benchmark.save_results(_results(), tmp_path / "run.json")
    before = path.read_text()
    broken = dataclasses.replace(_results(), settings={"not json": object()})
    with pytest.raises(TypeError):
        benchmark.save_results(broken, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


@pytest.mark.parametrize("content, message", [
    ("[]", "schema"), ('{"schema": 99}', "schema"), ('{"schema": 1}', "lack"),
    ("not json", "Expecting value")])
def test_loading_a_malformed_results_file_names_it(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as raised:
        benchmark.load_results(path)
    assert "bad.json" in str(raised.value)


def test_loading_rejects_an_invalid_measurement(tmp_path):
    data = _results().to_json()
    data["measurements"][0]["routine"] = "numpy-magic"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="routine='numpy-magic' is unknown"):
        benchmark.load_results(path)


@pytest.mark.parametrize("changes, message", [
    ({"group": "speed"}, "group"), ({"routine": "torch-device"}, "belongs to 'torch'"),
    ({"batch_size": 0}, "batch_size"), ({"epoch_s": ()}, "epoch times"),
    ({"epoch_s": (1.0, -1.0)}, "epoch times"), ({"flops_per_epoch": 0.0}, "flops_per_epoch")])
def test_measurement_rejects_bad_fields(changes, message):
    with pytest.raises(ValueError, match=message):
        _measurement(**changes)


def test_device_slug():
    assert benchmark.device_slug("cuda (NVIDIA H200)") == "cuda-nvidia-h200"
    assert benchmark.device_slug("cpu (AMD EPYC, 2 threads)") == "cpu-amd-epyc-2-threads"


# --- the suite -----------------------------------------------------------------------------

@pytest.fixture
def tiny_workload(tiny_images) -> benchsuite.Workload:
    images, labels = tiny_images
    cfg = dataclasses.replace(benchsuite.MLP_WORKLOAD, hidden=(32,), batch_size=64)
    return benchsuite.Workload("tiny MLP", cfg, datasets.normalize(images), labels)


def test_the_routines_do_the_same_work(tiny_workload):
    """Same initial weights, same batches, same precision: every routine's first epoch gives the
    same mean loss, and training lowers it. The CUDA-graph routines run on CUDA only."""
    runnable = [routine for routine in benchmark.ROUTINES if benchsuite.skip_reason(routine) is None]
    assert "grain-jax" in runnable and set(benchmark.ROUTINES) - set(runnable) <= set(benchmark.GPU_ONLY)
    results = {routine: benchsuite.time_routine(routine, tiny_workload, repeats=5)
               for routine in runnable}
    first_losses = np.array([m.first_loss for m in results.values()])
    np.testing.assert_allclose(first_losses, first_losses[0], rtol=1e-4)
    for m in results.values():
        assert m.examples == 256 and len(m.epoch_s) == 5
        assert m.flops_per_epoch == benchmark.epoch_flops(tiny_workload.config, 256)


def test_workload_uses_whole_batches_only(tiny_images):
    images, labels = tiny_images
    cfg = dataclasses.replace(benchsuite.MLP_WORKLOAD, batch_size=100)
    workload = benchsuite.Workload("tiny", cfg, datasets.normalize(images), labels)
    order = workload.order(0)
    assert workload.examples == 200 and [len(b) for b in order] == [100, 100]


@pytest.mark.parametrize("changes, message", [
    ({"repeats": 3}, "repeats"), ({"routines": ("torch-device", "tf-keras")}, "routines"),
    ({"sweep_routines": ()}, "sweep_routines"), ({"cnn_routines": ("jax",)}, "cnn_routines"),
    ({"batch_sweep": (32, 0)}, "batch_sweep"),
    ({"cnn_examples": 0}, "cnn_examples"), ({"precision": "float16"}, "precision"),
    ({"matmul_sizes": (1024, 0)}, "matmul_sizes")])
def test_settings_reject_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        benchsuite.BenchSettings(**changes)


def test_bad_arguments_are_refused(tiny_workload):
    with pytest.raises(ValueError, match="routine='numpy' is unknown"):
        benchsuite.time_routine("numpy", tiny_workload, repeats=5)
    with pytest.raises(ValueError, match="framework='tensorflow'"):
        benchsuite.matmul_gflops("tensorflow", 8)
    with pytest.raises(ValueError, match="profile='huge'"):
        benchsuite.settings_for("huge", accelerator=False)
    with pytest.raises(ValueError, match="precision='bf16'"):
        benchsuite.set_precision("bf16")
    with pytest.raises(ValueError, match="group='depth'"):
        plots.bench_scaling(_results(), "depth")
    with pytest.raises(SystemExit):
        benchsuite.main(["--precision", "fp8"])


def test_smoke_settings_are_smaller_than_full_ones():
    smoke = benchsuite.settings_for("smoke", accelerator=False)
    cpu = benchsuite.settings_for("full", accelerator=False)
    gpu = benchsuite.settings_for("full", accelerator=True)
    assert smoke.mlp_examples < 60000 and cpu.mlp_examples is None and gpu.cnn_examples is None
    assert max(cpu.batch_sweep) == 4096 and (min(cpu.width_sweep), max(cpu.width_sweep)) == (128, 4096)
    assert "jax-scan" not in cpu.cnn_routines and "jax-scan" in gpu.cnn_routines


def test_matmul_rate_is_positive():
    for framework in benchmark.FRAMEWORKS:
        assert benchsuite.matmul_gflops(framework, 64, repeats=5) > 0
        assert benchsuite.step_products_gflops(framework, (20, 16, 4), batch_size=8) > 0


def test_step_products_are_the_counted_flops():
    """The products the ceiling times are exactly the work the FLOP count counts."""
    sizes = (784, 512, 512, 10)
    products = benchsuite.step_products(sizes, batch_size=128)
    assert len(products) == 3 + 3 + 2  # forward, weight gradients, gradients passed down
    assert sum(2 * m * k * n for m, k, n in products) == benchmark.training_flops(
        benchmark.mlp_layer_macs(sizes), 128)


# --- the GPU line-up on a CPU, budgets and partial results (issue 12) -----------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without CUDA does")
@pytest.mark.parametrize("routine", benchmark.GPU_ONLY)
def test_cuda_graph_routines_are_skipped_with_a_reason_on_a_cpu(routine, tiny_workload):
    assert "CUDA" in benchsuite.skip_reason(routine)
    with pytest.raises(benchsuite.RoutineSkipped, match="needs a CUDA device"):
        benchsuite.time_routine(routine, tiny_workload, repeats=5)


@pytest.mark.parametrize("optimizer", [{"optimizer": "sgd", "momentum": 0.9},
                                       {"optimizer": "adam", "learning_rate": 1e-3}])
def test_the_epoch_graph_steps_rehearsed_eagerly_match_the_eager_loop(optimizer, tiny_workload):
    """The steps EpochGraph records, after its warm-up step and the reset of weights and
    optimiser state, train exactly as torch-device does (run eagerly: no CUDA here)."""
    cfg = dataclasses.replace(tiny_workload.config, **optimizer)
    workload = dataclasses.replace(tiny_workload, config=cfg)
    rehearsed, eager = benchsuite.rehearse_graph_epoch(workload, epochs=2)
    assert rehearsed.shape == (2, 4)
    np.testing.assert_allclose(rehearsed, eager, rtol=1e-6)


def test_grain_reads_the_shared_order(tiny_images):
    images, labels = tiny_images
    order = datasets.batch_order(len(images), 64, seed=3, epoch=1, drop_last=True)
    batches = list(jax_data.grain_loader(images, labels, order, threads=2))
    assert len(batches) == len(order)
    for (xb, yb), idx in zip(batches, order, strict=True):
        np.testing.assert_array_equal(xb, images[idx])
        np.testing.assert_array_equal(yb, labels[idx])
    with pytest.raises(ValueError, match="sizes"):
        jax_data.grain_loader(images, labels, datasets.batch_order(100, 64, seed=0, epoch=0))


def _item(routine: str, seconds: float = 1.0, error: Exception | None = None) -> benchsuite.SuiteItem:
    def run():
        if error is not None:
            raise error
        return _measurement(routine=routine, framework=benchmark.ROUTINES[routine][0],
                            epoch_s=(seconds,) * 5)

    return benchsuite.SuiteItem("routines", "MLP", routine, run)


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _record() -> benchsuite.SuiteRecord:
    settings = benchsuite.BenchSettings(matmul_sizes=(64,))
    return benchsuite.SuiteRecord(settings, {"torch": 1.0, "jax": 1.0}, {"torch": 1.0, "jax": 1.0})


def test_budget_deadlines_add_up_in_section_order():
    clock = _Clock()
    budget = benchsuite.SuiteBudget(100, {"a": 0.25, "b": 0.5}, clock=clock)
    assert (budget.deadline("a"), budget.deadline("b"), budget.deadline("other")) == (25, 75, 100)
    clock.now = 20
    assert budget.fits("a", 4) and not budget.fits("a", 6) and budget.left("b") == 55
    for bad in ({"seconds": 0}, {"seconds": 10, "shares": {"a": 0.8, "b": 0.3}}):
        with pytest.raises(ValueError):
            benchsuite.SuiteBudget(**{"shares": None, **bad})


def test_items_past_the_budget_and_missing_routines_are_recorded():
    record, clock = _record(), _Clock()
    budget = benchsuite.SuiteBudget(10, {"routines": 1.0}, clock=clock)
    items = [_item("torch-device"),
             _item("torch-cudagraphs", error=benchsuite.RoutineSkipped("torch-cudagraphs: no CUDA")),
             benchsuite.SuiteItem("routines", "MLP", "jax-scan", lambda: pytest.fail("ran")),
             _item("jax-device")]
    seen = []
    ran = iter([0.0, 11.0])  # the clock after each checkpoint: the budget is spent after two items

    def checkpoint(results):
        seen.append(results.partial)
        clock.now = next(ran, clock.now)

    benchsuite.run_items(items, record, lambda line: None, budget, checkpoint, progress=False)
    results = record.results()
    assert [m.routine for m in results.measurements] == ["torch-device"]
    assert [(s["routine"], s["reason"].split(":")[0]) for s in results.skipped] == [
        ("torch-cudagraphs", "no CUDA"), ("jax-scan", "time budget"), ("jax-device", "time budget")]
    assert results.partial == "" and seen[0] == "running: 1 of 4 items done" and len(seen) == 4


def test_a_stop_returns_partial_results_that_round_trip(tmp_path):
    record = _record()
    items = [_item("torch-device"), _item("nnx-jit", error=RuntimeError("capture failed")),
             _item("jax-device", error=benchsuite.SuiteStopped("SIGTERM")), _item("jax-scan")]
    written = []
    benchsuite.run_items(items, record, lambda line: None, benchsuite.SuiteBudget(100),
                         lambda results: written.append(benchmark.save_results(results, tmp_path / "r.json")),
                         progress=False)
    results = benchmark.load_results(written[-1])  # the last checkpoint holds all there is
    assert (results.measurements, results.skipped) == (tuple(record.measurements), tuple(record.skipped))
    assert results.partial == "stopped: SIGTERM" and len(results.measurements) == 1
    assert [s["routine"] for s in results.skipped] == ["nnx-jit", "jax-device", "jax-scan"]
    assert results.skipped[0]["reason"] == "error: RuntimeError: capture failed"
    with pytest.raises(RuntimeError):  # without a budget an error or a stop is not caught
        benchsuite.run_items(items, _record(), lambda line: None, None, None, progress=False)
    with pytest.raises(benchsuite.SuiteStopped):
        benchsuite.run_items(items[2:], _record(), lambda line: None, None, None, progress=False)


def test_skipped_table_groups_workloads_by_reason():
    results = dataclasses.replace(_results(), skipped=(
        {"section": "routines", "workload": "MLP", "routine": "torch-graph-epoch", "reason": "no CUDA"},
        {"section": "routines", "workload": "CNN", "routine": "torch-graph-epoch", "reason": "no CUDA"}))
    table = benchsuite.skipped_table(results)
    assert "| PyTorch epoch as one CUDA graph | MLP; CNN | no CUDA |" in table
    assert benchsuite.skipped_table(_results()) == ""


def test_results_files_written_before_skips_were_recorded_still_load(tmp_path):
    data = _results().to_json()
    del data["skipped"], data["partial"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    results = benchmark.load_results(path)
    assert results.skipped == () and results.partial == "" and results.measurements
