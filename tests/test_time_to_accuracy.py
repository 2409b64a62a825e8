"""Time to accuracy: a run stops at the first evaluation that reaches the target, a target never
reached is reported as such (never as a time), bad arguments are refused the same way in every
framework, and results files keep the runs (or load without them)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from fwcompare import benchmark, config
from fwcompare import time_to_accuracy as tta
from synthetic import blocks

FRAMEWORKS = tuple(tta.FRAMEWORKS)
# A small MLP that learns the blocks within an epoch or two; eager PyTorch keeps the test fast.
SMALL = config.MLPConfig(dataset="mnist", hidden=(32,), optimizer="adam", learning_rate=3e-3,
                         momentum=0.0, batch_size=32, init_scheme="torch")
FAST_ROUTINES = {"torch": "torch-device", "nnx": "nnx-split", "linen": "jax-device"}


@pytest.fixture(scope="module")
def data():
    return blocks(320, seed=0), blocks(200, seed=1)


def _run(**changes) -> tta.Run:
    values = dict(workload="CNN", framework="torch", routine="torch-compile", seed=0, target=0.9,
                  max_epochs=5, train_examples=64, test_examples=32, epoch_s=(3.0, 1.0, 1.2),
                  eval_s=(0.5, 0.1, 0.1), accuracy=(0.5, 0.8, 0.95), wall_s=6.0)
    return tta.Run(**{**values, **changes})


# --- the loop ------------------------------------------------------------------------------

def test_the_loop_stops_at_the_first_evaluation_at_or_above_the_target():
    scripted = iter([0.5, 0.8, 0.9, 0.99, 0.995])
    epochs_run = []
    epoch_s, eval_s, accuracy, wall_s = tta.train_until(
        epochs_run.append, lambda: next(scripted), target=0.9, max_epochs=10)
    assert epochs_run == [0, 1, 2]  # 0.9 counts as reached: "at or above"
    assert accuracy == [0.5, 0.8, 0.9]
    assert len(epoch_s) == len(eval_s) == 3
    assert wall_s >= sum(epoch_s) + sum(eval_s)


def test_the_loop_gives_up_after_max_epochs():
    epochs_run = []
    *_, accuracy, _ = tta.train_until(epochs_run.append, lambda: 0.3, target=0.9, max_epochs=4)
    assert epochs_run == [0, 1, 2, 3] and accuracy == [0.3] * 4


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_real_run_reaches_the_target_and_reports_its_time(framework, data):
    train, test = data
    run = tta.train_to_accuracy(framework, SMALL, train, test, target=0.9, max_epochs=6,
                                routine=FAST_ROUTINES[framework])
    assert run.reached and run.framework == framework and run.routine == FAST_ROUTINES[framework]
    assert run.epochs == len(run.accuracy) <= 6
    assert run.accuracy[-1] >= 0.9 and all(a < 0.9 for a in run.accuracy[:-1])
    assert run.seconds == run.wall_s >= sum(run.epoch_s) > 0
    assert run.train_examples == 320 - 320 % SMALL.batch_size and run.test_examples == 200


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_target_never_reached_is_not_a_time(framework, data):
    train, (test_images, test_labels) = data
    shuffled = np.random.default_rng(0).permutation(test_labels)  # nothing to learn: ~10 %
    run = tta.train_to_accuracy(framework, SMALL, train, (test_images, shuffled), target=0.95,
                                max_epochs=2, routine=FAST_ROUTINES[framework])
    assert not run.reached
    assert run.seconds is None and run.epochs is None
    assert len(run.accuracy) == 2 and run.wall_s > 0
    assert "NOT reached" in tta.line(run)


def test_the_same_seed_trains_the_same_way_in_every_framework(data):
    """Same initial weights, same batches: the frameworks' accuracies agree closely."""
    train, test = data
    runs = [tta.train_to_accuracy(fw, SMALL, train, test, target=1.0, max_epochs=1,
                                  routine=FAST_ROUTINES[fw]) for fw in FRAMEWORKS]
    accuracies = [run.accuracy[0] for run in runs]
    assert max(accuracies) - min(accuracies) <= 0.02, accuracies


# --- bad arguments -------------------------------------------------------------------------

@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(("changes", "message"), [
    ({"target": 0.0}, r"target=0\.0 must be a test accuracy in \(0, 1\]"),
    ({"target": 1.5}, r"target=1\.5 must be a test accuracy in \(0, 1\]"),
    ({"target": -0.1}, r"target=-0\.1"),
    ({"max_epochs": 0}, r"max_epochs=0 must be an int >= 1"),
    ({"routine": "jax-scan-typo"}, r"routine='jax-scan-typo' .*allowed: "),
])
def test_bad_arguments_are_refused_in_every_framework(framework, changes, message, data):
    train, test = data
    arguments = {"target": 0.9, "max_epochs": 2, **changes}
    with pytest.raises(ValueError, match=message):
        tta.train_to_accuracy(framework, SMALL, train, test, **arguments)


@pytest.mark.parametrize("framework", ["tensorflow", "jax", "Torch"])
def test_an_unknown_framework_is_refused(framework, data):
    with pytest.raises(ValueError, match=rf"framework='{framework}' is unknown; allowed: "
                                         r"torch, nnx, linen"):
        tta.train_to_accuracy(framework, SMALL, *data, target=0.9, max_epochs=2)


def test_a_routine_of_another_framework_is_refused(data):
    with pytest.raises(ValueError, match=r"routine='torch-compile' cannot train Flax NNX.*"
                                         r"allowed: nnx-split"):
        tta.train_to_accuracy("nnx", SMALL, *data, target=0.9, max_epochs=2,
                              routine="torch-compile")


@pytest.mark.parametrize(("changes", "message"), [
    ({"target": 0}, "target=0 must be"), ({"target": 1.01}, "target=1.01 must be"),
    ({"max_epochs": 0}, "max_epochs=0"), ({"seeds": ()}, "seeds=()"),
    ({"train_limit": 0}, "train_limit=0"),
])
def test_accuracy_targets_reject_bad_values(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dataclasses.replace(config.CNN_TO_99, **changes)


def test_a_record_that_kept_going_past_the_target_is_refused():
    with pytest.raises(ValueError, match="first evaluation that reaches the target"):
        _run(accuracy=(0.95, 0.96, 0.97))
    with pytest.raises(ValueError, match="must run all max_epochs=5"):
        _run(accuracy=(0.5, 0.6, 0.7))  # not reached, yet stopped early


# --- what a run reports --------------------------------------------------------------------

def test_compile_time_is_the_first_epochs_extra_time():
    run = _run()
    assert run.steady_epoch_s == pytest.approx(1.2)  # median of 1.1 and 1.3
    assert run.compile_s == pytest.approx(3.5 - 1.2)
    assert _run(epoch_s=(2.0,), eval_s=(0.1,), accuracy=(0.95,)).compile_s is None


def test_summaries_give_median_range_and_not_reached():
    runs = [_run(seed=0, wall_s=6.0), _run(seed=1, wall_s=8.0), _run(seed=2, wall_s=7.0),
            _run(framework="linen", routine="jax-device", wall_s=4.0),
            _run(framework="nnx", routine="nnx-split", accuracy=(0.5,) * 5, epoch_s=(1.0,) * 5,
                 eval_s=(0.1,) * 5)]
    torch_summary, linen_summary, nnx_summary = tta.summarize(runs)
    assert torch_summary.median_s == 7.0 and torch_summary.reached == 3
    assert (torch_summary.fastest_s, torch_summary.slowest_s) == (6.0, 8.0)
    assert torch_summary.epochs == (3, 3)
    assert nnx_summary.median_s is None and nnx_summary.reached == 0 and nnx_summary.epochs is None
    text = tta.table(runs)
    assert "not reached" in text and "| 0 of 1 |" in text and "| 3 of 3 |" in text
    assert text.index("Flax Linen") < text.index("PyTorch") < text.index("Flax NNX")  # fastest first
    one = tta.table(runs, "CNN")
    assert "model, target" not in one and one.count("\n") == 2 + 3
    with pytest.raises(ValueError, match="workload='MLP'"):
        tta.table(runs, "MLP")
    verdict = tta.verdict(runs, "CNN")
    assert verdict.startswith("On the CNN, Flax Linen reached 90 % test accuracy first, in 4.0 s")
    assert "PyTorch took 7.0 s (1.75 times as long)" in verdict
    assert "Flax NNX did not reach it" in verdict


def test_a_median_over_seeds_that_mostly_failed_is_not_a_time():
    failed = dict(accuracy=(0.5,) * 5, epoch_s=(1.0,) * 5, eval_s=(0.1,) * 5)
    runs = [_run(seed=0), _run(seed=1, **failed), _run(seed=2, **failed)]
    (summary,) = tta.summarize(runs)
    assert summary.median_s is None and summary.fastest_s == 6.0 and summary.slowest_s is None
    assert "not reached" in tta.table(runs)


def test_the_fastest_measured_routine_is_chosen():
    def measured(routine, seconds, workload="CNN, batch 64"):
        return benchmark.Measurement(
            group="routines", workload=workload, routine=routine,
            framework=benchmark.ROUTINES[routine][0], batch_size=64, hidden=(), examples=64,
            full_examples=64, flops_per_epoch=1.0, first_epoch_s=1.0, epoch_s=(seconds,),
            first_loss=1.0)

    found = [measured("torch-compile", 2.0), measured("torch-device", 1.0),
             measured("nnx-scan", 3.0), measured("nnx-split", 2.5),
             measured("jax-scan", 0.1, workload="CNN, batch 512")]
    chosen = tta.fastest_routines(found, tta.suite_workload(config.CNN_TO_99.model))
    assert chosen == {"torch": "torch-device", "nnx": "nnx-split", "linen": "jax-device"}


# --- profiles and results files ------------------------------------------------------------

def test_profiles_size_the_runs():
    smoke = config.accuracy_targets("smoke")
    assert all(t.max_epochs <= 2 and t.train_limit and t.target < 0.9 for t in smoke)
    cpu, gpu = config.accuracy_targets("full"), config.accuracy_targets("full", accelerator=True)
    assert [t.target for t in gpu] == [0.99, 0.97] and all(len(t.seeds) == 3 for t in gpu)
    assert all(t.train_limit is None and t.test_limit is None for t in cpu + gpu)
    with pytest.raises(ValueError, match="profile='fast' is unknown; allowed: full, smoke"):
        config.accuracy_targets("fast")


def test_the_benchmark_models_are_the_suites():
    from fwcompare import benchsuite

    assert config.MLP_TO_97.model == benchsuite.MLP_WORKLOAD
    assert config.CNN_TO_99.model == benchsuite.CNN_WORKLOAD


def _results(runs=()):
    return benchmark.BenchResults(
        created="2026-01-01T00:00:00+00:00", environment={"device": "cpu (test)"}, settings={},
        matmul_sizes=(512,), matmul_gflops={"torch": 10.0, "jax": 11.0},
        step_products_gflops={"torch": 5.0, "jax": 6.0}, measurements=(),
        time_to_accuracy=tuple(runs))


@pytest.mark.parametrize("runs", [(), (_run(), _run(framework="linen", routine="jax-scan",
                                                     accuracy=(0.1,) * 5, epoch_s=(1.0,) * 5,
                                                     eval_s=(0.0,) * 5))])
def test_results_files_round_trip_with_and_without_runs(tmp_path, runs):
    results = _results(runs)
    path = benchmark.save_results(results, tmp_path / "run.json")
    assert benchmark.load_results(path) == results
    written = json.loads(path.read_text())
    if runs:
        assert written["time_to_accuracy"][1]["reached"] is False
        assert written["time_to_accuracy"][1]["seconds"] is None


def test_an_old_results_file_without_runs_still_loads(tmp_path):
    data = _results().to_json()
    del data["time_to_accuracy"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert benchmark.load_results(path).time_to_accuracy == ()


def test_loading_rejects_a_broken_run(tmp_path):
    data = _results([_run()]).to_json()
    data["time_to_accuracy"][0]["target"] = 2.0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"bad\.json: target=2\.0"):
        benchmark.load_results(path)
