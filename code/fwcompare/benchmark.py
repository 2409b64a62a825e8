"""FLOP counts and benchmark results files. Imports no framework.

A time alone does not say whether a routine is good. Counting the floating-point operations
(FLOPs) a training step needs, and measuring the rate at which the device multiplies large
matrices, turns each time into a fraction of what the hardware can do. Timing itself lives in
``fwcompare.timing``; the routines, the sweeps and the command line (``python -m
fwcompare.benchsuite``, ``make bench``) in ``fwcompare.benchsuite``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fwcompare.time_to_accuracy import Run
from fwcompare.timing import Timing

# --- FLOPs ---------------------------------------------------------------------------------

IMAGE_SIDE = 28
NUM_CLASSES = 10


def mlp_layer_macs(sizes: Sequence[int]) -> tuple[int, ...]:
    """Multiply-accumulates per example of each dense layer of an MLP with these layer ``sizes``.

    ``sizes`` lists the widths from the input to the output, e.g. ``(784, 512, 512, 10)``.
    """
    if len(sizes) < 2 or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ValueError(f"sizes={tuple(sizes)!r} must be >= 2 positive ints, e.g. (784, 512, 512, 10)")
    return tuple(n_in * n_out for n_in, n_out in itertools.pairwise(sizes))


def cnn_layer_macs() -> tuple[int, ...]:
    """Multiply-accumulates per example of each layer of the seed-003 CNN (``CNNConfig``).

    A 3x3 "same" convolution computes every output position, so it costs
    ``height * width * out_channels * (3 * 3 * in_channels)``; each average pool halves the side.
    """
    side = IMAGE_SIDE
    conv1 = side * side * 32 * (3 * 3 * 1)            # (28, 28, 1) -> (28, 28, 32)
    side //= 2
    conv2 = side * side * 64 * (3 * 3 * 32)           # (14, 14, 32) -> (14, 14, 64)
    side //= 2
    dense1 = side * side * 64 * 256                   # 3136 -> 256
    dense2 = 256 * NUM_CLASSES
    return conv1, conv2, dense1, dense2


def layer_macs(config) -> tuple[int, ...]:
    """Multiply-accumulates per example of each weighted layer of ``config``'s model."""
    architecture = getattr(config, "architecture", None)
    if architecture == "mlp":
        return mlp_layer_macs((IMAGE_SIDE * IMAGE_SIDE, *config.hidden, NUM_CLASSES))
    if architecture == "cnn":
        return cnn_layer_macs()
    raise ValueError(f"config {config!r} has no FLOP count; allowed: an MLPConfig or a CNNConfig")


def training_flops(macs: Sequence[int], examples: int) -> int:
    """FLOPs of the matrix products (dense layers, convolutions) of training on ``examples``.

    Per layer and example, the forward pass costs ``2 * macs`` (a multiply and an add), the
    weight gradient ``2 * macs`` again, and the gradient passed to the layer below another
    ``2 * macs``, which the first layer skips: nothing needs a gradient for the input images.
    Activations, the loss and the optimiser's update are left out: they are elementwise, about
    1 % of this for the benchmark MLP at batch 128 (the tests check it against XLA's own count).
    Convolutions are counted as dense kernels compute them, zero padding included.
    """
    if examples < 1:
        raise ValueError(f"examples={examples!r} must be >= 1")
    macs = tuple(macs)
    return examples * (4 * sum(macs) + 2 * sum(macs[1:]))


def epoch_flops(config, examples: int) -> int:
    """Training FLOPs of one pass of ``config``'s model over ``examples`` examples."""
    return training_flops(layer_macs(config), examples)


# --- results files -------------------------------------------------------------------------

RESULTS_SCHEMA = 1
GROUPS = ("routines", "batch", "width")
FRAMEWORKS = {"torch": "PyTorch", "jax": "JAX"}
# The ways to train an epoch that ``fwcompare.benchsuite`` implements: (framework, label).
ROUTINES = {
    "torch-dataloader": ("torch", "PyTorch eager, DataLoader"),
    "torch-device": ("torch", "PyTorch eager, data on device"),
    "torch-compile": ("torch", "torch.compile, data on device"),
    "jax-dataloader": ("jax", "Linen jit step, DataLoader"),
    "jax-device": ("jax", "Linen jit step, data on device"),
    "jax-scan": ("jax", "Linen lax.scan epoch"),
    "nnx-jit": ("jax", "NNX nnx.jit step, data on device"),
    "nnx-split": ("jax", "NNX cached step, data on device"),
    "nnx-scan": ("jax", "NNX lax.scan epoch"),
    # GPU line-up and data loading (issue 12): the two CUDA-graph routines run on CUDA only;
    # on another device the suite records them as skipped, with the reason.
    "torch-cudagraphs": ("torch", "torch.compile reduce-overhead (CUDA graphs)"),
    "torch-graph-epoch": ("torch", "PyTorch epoch as one CUDA graph"),
    "grain-jax": ("jax", "Linen jit step, Grain loader"),
}
# Routines that need a CUDA device (CUDA graphs); ``benchsuite.skip_reason`` says why one is skipped.
GPU_ONLY = ("torch-cudagraphs", "torch-graph-epoch")
# The ways one training step can be called, timed per step by ``benchsuite.step_overhead``.
# linen-jit: state in, state out; nnx-jit: modules in, updated in place; nnx-split: the same step
# with the module graph split once (nnx.cached_partial).
STEP_CALLS = {
    "linen-jit": "Linen jax.jit step",
    "nnx-jit": "NNX nnx.jit step",
    "nnx-split": "NNX cached step",
}


@dataclass(frozen=True)
class Measurement:
    """Timed epochs of one training routine on one workload.

    ``group`` says which part of the suite measured it: ``"routines"`` (the ways to train
    an epoch), or the ``"batch"`` / ``"width"`` scaling sweeps. ``examples`` is what one timed
    epoch covered; times are projected to a real epoch of ``full_examples`` in proportion.
    """

    group: str
    workload: str
    routine: str
    framework: str
    batch_size: int
    hidden: tuple[int, ...]
    examples: int
    full_examples: int
    flops_per_epoch: float
    first_epoch_s: float
    epoch_s: tuple[float, ...]
    first_loss: float

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"group={self.group!r} is unknown; allowed: {', '.join(GROUPS)}")
        if self.routine not in ROUTINES:
            raise ValueError(f"routine={self.routine!r} is unknown; allowed: {', '.join(ROUTINES)}")
        if self.framework != ROUTINES[self.routine][0]:
            raise ValueError(f"routine {self.routine!r} belongs to {ROUTINES[self.routine][0]!r}, "
                             f"not framework={self.framework!r}")
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"framework={self.framework!r} is unknown; allowed: {', '.join(FRAMEWORKS)}")
        for name in ("batch_size", "examples", "full_examples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 1")
        if not self.epoch_s or min(self.epoch_s) <= 0 or self.first_epoch_s <= 0:
            raise ValueError(f"epoch times must be > 0 seconds, got first={self.first_epoch_s!r}, "
                             f"steady={self.epoch_s!r}")
        if self.flops_per_epoch <= 0:
            raise ValueError(f"flops_per_epoch={self.flops_per_epoch!r} must be > 0")

    @property
    def label(self) -> str:
        return ROUTINES[self.routine][1]

    @property
    def timing(self) -> Timing:
        return Timing(tuple(self.epoch_s))

    @property
    def median_s(self) -> float:
        return self.timing.median

    @property
    def spread(self) -> float:
        return self.timing.spread

    @property
    def warmup_s(self) -> float:
        """What the first epoch cost beyond a steady one: compilation, caches, allocation."""
        return max(self.first_epoch_s - self.median_s, 0.0)

    @property
    def gflops(self) -> float:
        """Achieved rate in steady state, in 10^9 FLOP/s."""
        return self.flops_per_epoch / self.median_s / 1e9

    @property
    def projected_epoch_s(self) -> float:
        """The steady time of a real epoch (``full_examples``), scaled from the timed one."""
        return self.median_s * self.full_examples / self.examples


@dataclass(frozen=True)
class BenchResults:
    """One run of the benchmark suite: where it ran, the device's matmul limit, every measurement."""

    created: str
    environment: dict[str, str]
    settings: dict[str, Any]
    matmul_sizes: tuple[int, ...]
    matmul_gflops: dict[str, float]
    # The benchmark MLP's step: its matrix products alone, each at its own shape (a ceiling).
    step_products_gflops: dict[str, float]
    measurements: tuple[Measurement, ...]
    # Seconds per training step for each way of calling it (``STEP_CALLS``), per MLP workload;
    # files written before NNX joined the suite have none.
    step_seconds: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    # What the run left out and why, one ``{"section", "workload", "routine", "reason"}`` dict
    # each (a GPU-only routine on a CPU, a time budget spent, a stop signal); ``partial`` says
    # why a run stopped before its end ("" for a complete run).
    skipped: tuple[dict[str, str], ...] = ()
    partial: str = ""
    # Training runs to a target test accuracy (``fwcompare.time_to_accuracy``); files written
    # before the suite measured them have none.
    time_to_accuracy: tuple[Run, ...] = ()

    @property
    def device(self) -> str:
        return self.environment.get("device", "unknown device")

    @property
    def limit_gflops(self) -> float:
        """The practical limit: the fastest large square matrix product seen in either framework."""
        return max(self.matmul_gflops.values())

    def fraction(self, measurement: Measurement) -> float:
        """``measurement``'s rate as a fraction of the device's matmul limit."""
        return measurement.gflops / self.limit_gflops

    def select(self, group: str, workload: str | None = None) -> list[Measurement]:
        if group not in GROUPS:
            raise ValueError(f"group={group!r} is unknown; allowed: {', '.join(GROUPS)}")
        return [m for m in self.measurements
                if m.group == group and (workload is None or m.workload == workload)]

    def workloads(self, group: str = "routines") -> list[str]:
        return list(dict.fromkeys(m.workload for m in self.select(group)))

    def best(self, framework: str, workload: str) -> Measurement:
        """The fastest routine of ``framework`` on ``workload``."""
        candidates = [m for m in self.select("routines", workload) if m.framework == framework]
        if not candidates:
            raise ValueError(f"no {framework!r} routine was measured on {workload!r}; "
                             f"measured workloads: {', '.join(self.workloads()) or 'none'}")
        return min(candidates, key=lambda m: m.median_s)

    def to_json(self) -> dict[str, Any]:
        return {"schema": RESULTS_SCHEMA, **dataclasses.asdict(self),
                "time_to_accuracy": [run.to_json() for run in self.time_to_accuracy]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchResults:
        if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not a benchmark results file of schema {RESULTS_SCHEMA} (found {found!r})")
        fields = {f.name for f in dataclasses.fields(cls)}
        optional = {f.name for f in dataclasses.fields(cls)
                    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
        missing = sorted(fields - optional - data.keys())
        if missing:
            raise ValueError(f"benchmark results lack {', '.join(missing)}")
        measurements = tuple(
            Measurement(**{**m, "hidden": tuple(m["hidden"]), "epoch_s": tuple(m["epoch_s"])})
            for m in data["measurements"])
        skipped = tuple(dict(skip) for skip in data.get("skipped", ()))
        runs = tuple(Run.from_json(run) for run in data.get("time_to_accuracy", ()))
        special = {"measurements", "matmul_sizes", "skipped", "time_to_accuracy"}
        rest = {name: data[name] for name in fields - special if name in data}
        return cls(**rest, matmul_sizes=tuple(data["matmul_sizes"]), measurements=measurements,
                   skipped=skipped, time_to_accuracy=runs)


def save_results(results: BenchResults, path: str | os.PathLike) -> Path:
    """Write ``results`` as JSON to ``path`` atomically: a reader never sees half a file."""
    path = Path(path)
    text = json.dumps(results.to_json(), indent=1) + "\n"  # fails here, before any file is touched
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(handle.name, 0o666 & ~umask)  # a temporary file is private (0600); a results file is not
    os.replace(handle.name, path)
    return path


def load_results(path: str | os.PathLike) -> BenchResults:
    """Read a results file written by ``save_results``; a malformed one raises ``ValueError``
    naming the file."""
    path = Path(path)
    try:
        return BenchResults.from_json(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{path}: {error}") from error


def load_all_results(folder: str | os.PathLike) -> list[BenchResults]:
    """Every results file (``*.json``) in ``folder``, oldest first; none if the folder is absent."""
    folder = Path(folder)
    found = [load_results(path) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted(found, key=lambda results: results.created)


def device_slug(device: str) -> str:
    """A file-name-safe form of a device description: ``"cuda (NVIDIA H200)"`` -> ``"cuda-nvidia-h200"``."""
    words = "".join(c.lower() if c.isalnum() else " " for c in device).split()
    return "-".join(words) or "device"

