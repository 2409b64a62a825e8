"""Time to accuracy: how long each framework takes to train a model to a target test accuracy.

A steady epoch time (``fwcompare.benchsuite``) says how fast a framework trains once it is
running. What a user waits for is the whole run: compiling, training and checking the test
accuracy until it is good enough. Here the seed-003 CNN trains until its test accuracy first
reaches 99 %, and the JAX slides' MLP until it reaches 97 %, in PyTorch, Flax NNX and Flax
Linen, each with the fastest routine of the suite. The clock starts when the data and the
initial weights are on the device, and stops after the evaluation that first reaches the
target; compiling and evaluating are inside it. The first epoch's extra time over a steady
epoch is reported apart: that is what compilation cost.

All three frameworks start from the same weights for a given seed (PyTorch's initialisation,
copied into Flax) and see the same batches in the same order, so they take about the same
number of epochs; what differs is how long each epoch and the compilation take. Each run
starts with empty compilation caches (``jax.clear_caches``, ``torch._dynamo.reset``), as a new
process would; on-disk caches (Inductor's) are left as they are.

This module imports no framework until a run starts: the records, summaries and tables work
on a machine without PyTorch or JAX, as the results files do.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fwcompare import config, datasets
from fwcompare.timing import sync

# The three frameworks, and the routines of ``fwcompare.benchsuite`` each may train with: all
# keep the data on the device. ``DEFAULT_ROUTINES`` when no suite measurement chooses.
FRAMEWORKS = {"torch": "PyTorch", "nnx": "Flax NNX", "linen": "Flax Linen"}
CANDIDATE_ROUTINES = {
    "torch": ("torch-compile", "torch-device"),
    "nnx": ("nnx-split", "nnx-scan", "nnx-jit"),
    "linen": ("jax-device", "jax-scan"),
}
DEFAULT_ROUTINES = {"torch": "torch-compile", "nnx": "nnx-split", "linen": "jax-device"}
EVAL_BATCH = 1000


def check_framework(framework: str) -> None:
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework={framework!r} is unknown; allowed: {', '.join(FRAMEWORKS)}")


def check_routine(framework: str, routine: str) -> None:
    check_framework(framework)
    if routine not in CANDIDATE_ROUTINES[framework]:
        raise ValueError(f"routine={routine!r} cannot train {FRAMEWORKS[framework]} here; "
                         f"allowed: {', '.join(CANDIDATE_ROUTINES[framework])}")


def model_name(model: config.MLPConfig | config.CNNConfig) -> str:
    """``"CNN"`` or ``"MLP 784-512-512-10"``."""
    if model.architecture == "cnn":
        return "CNN"
    return "MLP " + "-".join(str(w) for w in (784, *model.hidden, 10))


# --- one run -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """One training run until the test accuracy first reached ``target``, or ``max_epochs`` ran out.

    ``epoch_s``, ``eval_s`` and ``accuracy`` hold, for each epoch run, its training time, the
    time of the test evaluation after it, and the test accuracy it gave. ``wall_s`` is the clock
    from data on the device to the end of the last evaluation.
    """

    workload: str
    framework: str
    routine: str
    seed: int
    target: float
    max_epochs: int
    train_examples: int
    test_examples: int
    epoch_s: tuple[float, ...]
    eval_s: tuple[float, ...]
    accuracy: tuple[float, ...]
    wall_s: float

    def __post_init__(self) -> None:
        check_routine(self.framework, self.routine)
        config.check_target(self.target, self.max_epochs)
        runs = len(self.accuracy)
        if not 1 <= runs <= self.max_epochs or len(self.epoch_s) != runs or len(self.eval_s) != runs:
            raise ValueError(f"epoch_s, eval_s and accuracy must each hold one value per epoch run "
                             f"(1 to max_epochs={self.max_epochs}), got {len(self.epoch_s)}, "
                             f"{len(self.eval_s)}, {runs}")
        if any(a >= self.target for a in self.accuracy[:-1]):
            raise ValueError(f"accuracy={self.accuracy!r} reached target={self.target} before its last "
                             "epoch: a run stops at the first evaluation that reaches the target")
        if not self.reached and runs != self.max_epochs:
            raise ValueError(f"a run that did not reach target={self.target} must run all "
                             f"max_epochs={self.max_epochs}, ran {runs}")
        if self.wall_s <= 0 or min(self.epoch_s) <= 0 or min(self.eval_s) < 0:
            raise ValueError(f"times must be > 0 seconds, got wall_s={self.wall_s!r}")

    @property
    def reached(self) -> bool:
        return self.accuracy[-1] >= self.target

    @property
    def seconds(self) -> float | None:
        """Seconds from data on the device to the target; None when the target was not reached."""
        return self.wall_s if self.reached else None

    @property
    def epochs(self) -> int | None:
        """Epochs it took to reach the target; None when it was not reached."""
        return len(self.accuracy) if self.reached else None

    @property
    def steady_epoch_s(self) -> float | None:
        """Median time of an epoch after the first, its evaluation included (None after one epoch)."""
        later = [t + e for t, e in zip(self.epoch_s[1:], self.eval_s[1:], strict=True)]
        return statistics.median(later) if later else None

    @property
    def compile_s(self) -> float | None:
        """What the first epoch and its evaluation cost beyond a steady one: compilation, mostly.

        Unknown (None) when the run stopped after its first epoch: there is no steady one to
        compare with.
        """
        steady = self.steady_epoch_s
        return None if steady is None else max(self.epoch_s[0] + self.eval_s[0] - steady, 0.0)

    def to_json(self) -> dict[str, Any]:
        """The record as a results file holds it, with the derived values for a reader's eyes."""
        return {**dataclasses.asdict(self), "reached": self.reached, "seconds": self.seconds,
                "epochs": self.epochs, "compile_s": self.compile_s}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        fields = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(fields - data.keys())
        if missing:
            raise ValueError(f"time-to-accuracy record lacks {', '.join(missing)}")
        values = {name: data[name] for name in fields}
        return cls(**{**values, **{name: tuple(values[name])
                                   for name in ("epoch_s", "eval_s", "accuracy")}})


def train_until(epoch: Callable[[int], Any], accuracy: Callable[[], float],
                target: float, max_epochs: int,
                ) -> tuple[list[float], list[float], list[float], float]:
    """Run ``epoch(0)``, ``epoch(1)``, ... and check ``accuracy()`` after each, until
    it first reaches ``target`` or ``max_epochs`` have run.

    ``epoch(e)`` trains epoch ``e`` and may return before the device is done (its
    result is waited for); ``accuracy()`` returns the test accuracy as a float.
    Returns the training and evaluation seconds and the accuracy of each epoch run,
    and the wall-clock seconds of them all.
    """
    config.check_target(target, max_epochs)
    epoch_s, eval_s, accuracies = [], [], []
    start = time.perf_counter()
    for e in range(max_epochs):
        begin = time.perf_counter()
        sync(epoch(e))  # wait for the device: the epoch is done only then
        trained = time.perf_counter()
        accuracies.append(float(accuracy()))
        epoch_s.append(trained - begin)
        eval_s.append(time.perf_counter() - trained)
        if accuracies[-1] >= target:  # the first evaluation at or above the target
            break
    return epoch_s, eval_s, accuracies, time.perf_counter() - start


# --- the three frameworks ------------------------------------------------------------------

def _torch_trainer(routine: str, workload, test: tuple[np.ndarray, np.ndarray]):
    import torch

    from fwcompare.torch_impl import data, evaluate, models, train

    torch._dynamo.reset()  # compile afresh: a run pays for its compilation as a new process does
    # Inductor looks for a CUDA toolkit even when compiling for the CPU; none is needed there.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    device = data.default_device()
    cfg = workload.config
    model = models.model_for(cfg).to(device)
    optimizer = train.make_optimizer(cfg, model)
    x = torch.from_numpy(workload.images).to(device)
    y = torch.from_numpy(workload.labels).to(device)
    test_x, test_y = (torch.from_numpy(a).to(device) for a in test)
    if routine == "torch-compile":
        step = train.compiled_train_step(model, optimizer)
    else:
        def step(xb, yb):
            return train.train_step(model, optimizer, xb, yb)

    def epoch(e: int) -> torch.Tensor:
        batches = data.iterate_batches(x, y, workload.order(e))
        return torch.stack([step(xb, yb) for xb, yb in batches])

    def accuracy() -> float:
        return evaluate.evaluate(model, test_x, test_y, EVAL_BATCH)["accuracy"]

    sync((x, y, test_x, test_y, next(iter(model.parameters()))))
    return epoch, accuracy


def _jax_test(test: tuple[np.ndarray, np.ndarray]):
    import jax

    return jax.device_put(test[0]), jax.device_put(test[1].astype(np.int32))


def _linen_trainer(routine: str, workload, test: tuple[np.ndarray, np.ndarray]):
    import jax
    import jax.numpy as jnp

    from fwcompare import benchsuite
    from fwcompare.linen_impl import evaluate
    from fwcompare.linen_impl import train as linen_train

    jax.clear_caches()  # compile afresh, as a new process would
    run = benchsuite.JaxRun(workload)  # the PyTorch model's initial weights, data on the device
    test_x, test_y = _jax_test(test)

    def epoch(e: int) -> jax.Array:
        if routine == "jax-scan":
            batches = jnp.asarray(np.stack(workload.order(e)))  # (steps, batch_size)
            run.state, losses = linen_train.train_epoch_scan(run.state, run.x, run.y, batches)
        else:
            run.state, losses = linen_train.train_epoch(run.state, run.x, run.y, workload.order(e))
        return losses

    def accuracy() -> float:
        return evaluate.evaluate(run.state, test_x, test_y, EVAL_BATCH)["accuracy"]

    sync((run.x, run.y, run.state, test_x, test_y))
    return epoch, accuracy


def _nnx_trainer(routine: str, workload, test: tuple[np.ndarray, np.ndarray]):
    import jax
    import jax.numpy as jnp

    from fwcompare import benchsuite
    from fwcompare.nnx_impl import evaluate
    from fwcompare.nnx_impl import train as nnx_train

    jax.clear_caches()  # compile afresh, as a new process would
    run = benchsuite.NnxRun(workload)  # the PyTorch model's initial weights, data on the device
    test_x, test_y = _jax_test(test)
    if routine == "nnx-scan":
        def epoch(e: int) -> jax.Array:
            batches = jnp.asarray(np.stack(workload.order(e)))  # (steps, batch_size)
            return nnx_train.train_epoch_scan(run.model, run.optimizer, run.x, run.y, batches)
    elif routine == "nnx-split":
        epoch = run.epoch_with(nnx_train.compiled_train_step(run.model, run.optimizer))
    else:
        epoch = run.epoch_with(lambda xb, yb: nnx_train.train_step(run.model, run.optimizer, xb, yb))

    def accuracy() -> float:
        return evaluate.evaluate(run.model, test_x, test_y, EVAL_BATCH)["accuracy"]

    sync((run.x, run.y, test_x, test_y))
    return epoch, accuracy


TRAINERS = {"torch": _torch_trainer, "nnx": _nnx_trainer, "linen": _linen_trainer}


def train_to_accuracy(framework: str, model: config.MLPConfig | config.CNNConfig,
                      train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                      target: float, max_epochs: int, routine: str | None = None,
                      workload: str | None = None) -> Run:
    """Train ``model`` in ``framework`` until its accuracy on ``test`` first reaches ``target``.

    ``train`` and ``test`` are uint8 images ``(N, 28, 28)`` and integer labels, normalised here
    as ``model`` says. ``framework`` is ``"torch"``, ``"nnx"`` or ``"linen"``; ``routine`` one of
    its ``CANDIDATE_ROUTINES`` (default: ``DEFAULT_ROUTINES``). Epochs use whole batches only,
    in the order ``datasets.batch_order`` gives for ``model.seed``. Returns a ``Run``; a target
    not reached within ``max_epochs`` gives ``reached=False`` and no time.
    """
    check_framework(framework)
    config.check_target(target, max_epochs)
    routine = DEFAULT_ROUTINES[framework] if routine is None else routine
    check_routine(framework, routine)
    from fwcompare import benchsuite

    def normalised(data):
        images, labels = data
        return (datasets.normalize(images, model.input_mean, model.input_std),
                np.asarray(labels, dtype=np.int64))

    name = model_name(model) if workload is None else workload
    images, labels = normalised(train)
    if len(images) < model.batch_size:
        raise ValueError(f"train holds {len(images)} examples, fewer than one batch of "
                         f"{model.batch_size}")
    test = normalised(test)
    work = benchsuite.Workload(name, model, images, labels)
    epoch, accuracy = TRAINERS[framework](routine, work, test)
    epoch_s, eval_s, accuracies, wall_s = train_until(epoch, accuracy, target, max_epochs)
    return Run(workload=name, framework=framework, routine=routine, seed=model.seed, target=target,
               max_epochs=max_epochs, train_examples=work.examples, test_examples=len(test[0]),
               epoch_s=tuple(epoch_s), eval_s=tuple(eval_s), accuracy=tuple(accuracies),
               wall_s=wall_s)


def task_data(task: config.AccuracyTarget, seed: int,
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` MNIST arrays of ``task`` for ``seed``: the CNN's training side of its
    seeded split (``val_fraction``), or the whole training set for the MLP; then the limits."""
    images, labels = datasets.load(task.model.dataset, "train")
    if task.model.architecture == "cnn":
        keep = datasets.train_val_split(len(images), task.model.val_fraction, seed)[0]
        images, labels = images[keep], labels[keep]
    test_images, test_labels = datasets.load(task.model.dataset, "test")
    return ((images[:task.train_limit], labels[:task.train_limit]),
            (test_images[:task.test_limit], test_labels[:task.test_limit]))


def run_task(task: config.AccuracyTarget, routines: dict[str, str] | None = None,
             frameworks: Sequence[str] = tuple(FRAMEWORKS),
             log: Callable[[str], None] = lambda line: None) -> list[Run]:
    """Every seed of ``task`` in every framework (``routines``: framework -> routine)."""
    for framework in frameworks:
        check_framework(framework)
    routines = {**DEFAULT_ROUTINES, **(routines or {})}
    runs = []
    for seed in task.seeds:
        model = dataclasses.replace(task.model, seed=seed)
        train, test = task_data(task, seed)
        for framework in frameworks:
            runs.append(train_to_accuracy(framework, model, train, test, task.target,
                                          task.max_epochs, routine=routines[framework]))
            log(line(runs[-1]))
    return runs


def suite_workload(model: config.MLPConfig | config.CNNConfig) -> str:
    """The name ``fwcompare.benchsuite`` gives the workload of ``model``: ``"CNN, batch 64"``."""
    return f"{model_name(model)}, batch {model.batch_size}"


def run_targets(targets: Sequence[config.AccuracyTarget], measurements: Iterable = (),
                log: Callable[[str], None] = lambda line: None) -> list[Run]:
    """Every task of ``targets``, each framework with the routine the suite's ``measurements``
    found fastest on the same model and batch size (``fastest_routines``)."""
    measurements = tuple(measurements)
    runs = []
    for task in targets:
        routines = fastest_routines(measurements, suite_workload(task.model))
        runs += run_task(task, routines, log=log)
    return runs


def fastest_routines(measurements: Iterable, workload: str) -> dict[str, str]:
    """For each framework, its candidate routine with the fastest steady epoch among the suite's
    ``measurements`` (``benchmark.Measurement``) of ``workload``; ``DEFAULT_ROUTINES`` for a
    framework none of whose candidates was measured there."""
    seen = {m.routine: m.median_s for m in measurements if m.workload == workload}
    chosen = {}
    for framework, candidates in CANDIDATE_ROUTINES.items():
        timed = [r for r in candidates if r in seen]
        chosen[framework] = min(timed, key=seen.get) if timed else DEFAULT_ROUTINES[framework]
    return chosen


def line(run: Run) -> str:
    """One run in one line, for a log."""
    outcome = (f"reached {percent(run.target)} in {run.epochs} epochs, {run.seconds:.1f} s"
               if run.reached else f"NOT reached in {run.max_epochs} epochs")
    return (f"{run.workload:20s} {FRAMEWORKS[run.framework]:10s} seed {run.seed}: {outcome} "
            f"(best {max(run.accuracy):.4f})")


# --- summaries and tables ------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """All seeds of one framework on one workload and target."""

    workload: str
    framework: str
    target: float
    runs: tuple[Run, ...]

    @property
    def routines(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.routine for r in self.runs))

    @property
    def reached(self) -> int:
        """How many of the runs reached the target."""
        return sum(r.reached for r in self.runs)

    @property
    def median_s(self) -> float | None:
        """The median time to the target, a run that never reached it counting as longer than
        any that did; None when that median falls on such a run (most did not reach it)."""
        middle = statistics.median(math.inf if r.seconds is None else r.seconds for r in self.runs)
        return None if math.isinf(middle) else middle

    @property
    def fastest_s(self) -> float | None:
        times = [r.seconds for r in self.runs if r.seconds is not None]
        return min(times) if times else None

    @property
    def slowest_s(self) -> float | None:
        """The slowest run's time; None when a run did not reach the target."""
        return None if self.reached < len(self.runs) else max(r.seconds for r in self.runs)

    @property
    def compile_s(self) -> float | None:
        """Median first-epoch extra time over the runs that had a steady epoch to compare with."""
        known = [r.compile_s for r in self.runs if r.compile_s is not None]
        return statistics.median(known) if known else None

    @property
    def steady_epoch_s(self) -> float | None:
        known = [r.steady_epoch_s for r in self.runs if r.steady_epoch_s is not None]
        return statistics.median(known) if known else None

    @property
    def epochs(self) -> tuple[int, int] | None:
        """Fewest and most epochs among the runs that reached the target."""
        known = [r.epochs for r in self.runs if r.epochs is not None]
        return (min(known), max(known)) if known else None

    @property
    def label(self) -> str:
        from fwcompare.benchmark import ROUTINES

        return f"{FRAMEWORKS[self.framework]} ({', '.join(ROUTINES[r][1] for r in self.routines)})"


def summarize(runs: Iterable[Run]) -> list[Summary]:
    """The runs grouped by workload, target and framework, in the order they first appear."""
    groups: dict[tuple[str, float, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.workload, run.target, run.framework), []).append(run)
    return [Summary(workload, framework, target, tuple(group))
            for (workload, target, framework), group in groups.items()]


def percent(fraction: float) -> str:
    """``0.99`` -> ``"99 %"``, as the book writes a target."""
    return f"{fraction * 100:.4g} %"


def _seconds(value: float | None, missing: str = "–") -> str:
    return missing if value is None else f"{value:.3g}"


def _time_cell(summary: Summary) -> str:
    if summary.median_s is None:
        return "not reached"
    return _seconds(summary.median_s)


def _range_cell(summary: Summary) -> str:
    if summary.fastest_s is None:
        return "not reached"
    if len(summary.runs) == 1:
        return "one run"
    slowest = "not reached" if summary.slowest_s is None else f"{summary.slowest_s:.3g}"
    return f"{summary.fastest_s:.3g} – {slowest}"


def _epochs_cell(summary: Summary) -> str:
    if summary.epochs is None:
        return f"> {summary.runs[0].max_epochs}"
    low, high = summary.epochs
    return str(low) if low == high else f"{low} – {high}"


def table(runs: Iterable[Run], workload: str | None = None) -> str:
    """The runs as a Markdown table, one row per framework, fastest first: of ``workload``
    only (its name and target then go in the caller's heading), or of every workload."""
    summaries = [s for s in summarize(runs) if workload is None or s.workload == workload]
    if not summaries:
        raise ValueError("no time-to-accuracy runs to tabulate"
                         + ("" if workload is None else f" for workload={workload!r}"))
    order = sorted(summaries, key=lambda s: (s.workload, s.target,
                                             math.inf if s.median_s is None else s.median_s))
    first = [] if workload else ["model, target"]
    header = [*first, "framework (routine)", "reached", "median time to target (s)", "range (s)",
              "first-epoch extra (s)", "steady epoch (s)", "epochs"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "---|" * (len(first) + 1) + "---:|" * (len(header) - len(first) - 1)]
    for s in order:
        cells = [] if workload else [f"{s.workload}, {percent(s.target)}"]
        cells += [s.label, f"{s.reached} of {len(s.runs)}", _time_cell(s), _range_cell(s),
                  _seconds(s.compile_s), _seconds(s.steady_epoch_s), _epochs_cell(s)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ranking(runs: Iterable[Run], workload: str) -> list[Summary]:
    """``workload``'s frameworks, fastest median time to the target first; those whose median
    run did not reach it last."""
    chosen = [s for s in summarize(runs) if s.workload == workload]
    if not chosen:
        raise ValueError(f"no time-to-accuracy run of workload={workload!r}")
    return sorted(chosen, key=lambda s: math.inf if s.median_s is None else s.median_s)


def verdict(runs: Iterable[Run], workload: str) -> str:
    """One sentence saying which framework reached ``workload``'s target first, and by how much."""
    ranked = ranking(runs, workload)
    first, others = ranked[0], ranked[1:]
    target = percent(first.target)
    if first.median_s is None:
        return f"No framework reached {target} test accuracy on the {workload} in this run."
    rest = []
    for other in others:
        if other.median_s is None:
            rest.append(f"{FRAMEWORKS[other.framework]} did not reach it")
        else:
            rest.append(f"{FRAMEWORKS[other.framework]} took {other.median_s:.1f} s "
                        f"({other.median_s / first.median_s:.2f} times as long)")
    seeds = "" if len(first.runs) == 1 else f" (median of {len(first.runs)} seeds)"
    return (f"On the {workload}, {FRAMEWORKS[first.framework]} reached {target} test accuracy "
            f"first, in {first.median_s:.1f} s{seeds}; " + "; ".join(rest) + ".")
