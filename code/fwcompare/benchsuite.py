"""The benchmark suite: twelve ways to train an epoch, two scaling sweeps, and ``make bench``.

Every routine trains the same model from the same initial weights on the same bytes in the
same batch order, at the same precision; only the way the work reaches the device differs:

==================  =====================================================================
routine             how an epoch runs
==================  =====================================================================
torch-dataloader    PyTorch eager; batches collated on the host by a ``DataLoader``
torch-device        PyTorch eager; the dataset lives on the device, batches sliced there
torch-compile       as torch-device, forward and loss compiled by ``torch.compile``
torch-cudagraphs    as torch-compile with ``mode="reduce-overhead"``: replayed CUDA graphs
torch-graph-epoch   the whole epoch recorded once as one CUDA graph, one replay per epoch
jax-dataloader      Flax Linen ``jax.jit`` step per batch, fed from the same ``DataLoader``
grain-jax           as jax-dataloader, batches read and collated on the host by Grain
jax-device          Flax Linen ``jax.jit`` step per batch, dataset on the device
jax-scan            Flax Linen: the whole epoch as one compiled ``lax.scan``
nnx-jit             Flax NNX ``nnx.jit`` step per batch, dataset on the device
nnx-split           Flax NNX step with the module graph split once (``nnx.cached_partial``)
nnx-scan            Flax NNX: the whole epoch as one compiled ``lax.scan``
==================  =====================================================================

The two CUDA-graph routines (``benchmark.GPU_ONLY``) run on CUDA only; elsewhere the suite
records them in ``BenchResults.skipped`` with the reason instead of leaving them out silently.

``step_overhead`` times one training step alone in the three ways JAX code can call it
(Linen's ``jax.jit``, NNX's ``nnx.jit``, NNX's cached step), which isolates the Python work
``nnx.jit`` does on every call to find and update the module's state.

Epochs use full batches only (``drop_last``), so compiled code sees one shape. Times are
medians of ``repeats`` epochs after a first epoch that is reported apart (compilation).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import itertools
import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from fwcompare import config, cudagraphs, datasets, report, time_to_accuracy
from fwcompare.benchmark import (
    GPU_ONLY,
    ROUTINES,
    STEP_CALLS,
    BenchResults,
    Measurement,
    device_slug,
    epoch_flops,
    save_results,
)
from fwcompare.jax_common import data as jax_data
from fwcompare.linen_impl import models as jax_models
from fwcompare.linen_impl import train as jax_train
from fwcompare.nnx_impl import models as nnx_models
from fwcompare.nnx_impl import train as nnx_train
from fwcompare.progress import bar as progress_bar
from fwcompare.timing import measure, time_once
from fwcompare.torch_impl import data as torch_data
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import train as torch_train

PRECISIONS = ("float32", "tf32")
MIN_REPEATS = 5  # a median and a spread need several runs; fewer would hide noise
MLP_WORKLOAD = config.MLPConfig(dataset="mnist", hidden=(512, 512), optimizer="sgd", learning_rate=0.01,
                                momentum=0.0, batch_size=128, init_scheme="torch")
CNN_WORKLOAD = dataclasses.replace(config.MNIST_CNN, init_scheme="torch")
# Results of `make bench` runs kept in the repository, quoted by the benchmarks chapter.
REFERENCE_RESULTS = Path(__file__).resolve().parents[2] / "book" / "beyond" / "benchmark-results"
Epoch = Callable[[int], Any]  # runs epoch number e, returns its per-step losses (not waited for)


def _check_sizes(name: str, values: Sequence[int]) -> None:
    if not values or not all(isinstance(v, int) and v >= 1 for v in values):
        raise ValueError(f"{name}={tuple(values)!r} must be a non-empty tuple of positive ints")


@dataclass(frozen=True)
class BenchSettings:
    """What the suite measures. ``None`` examples mean the whole MNIST training set (60,000)."""

    repeats: int = MIN_REPEATS
    routines: tuple[str, ...] = tuple(ROUTINES)
    mlp_examples: int | None = None
    cnn_batch_sizes: tuple[int, ...] = (64, 512)
    cnn_routines: tuple[str, ...] = tuple(ROUTINES)
    cnn_examples: int | None = None
    batch_sweep: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048, 4096)
    width_sweep: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096)
    sweep_routines: tuple[str, ...] = ("torch-device", "jax-device", "jax-scan")
    sweep_examples: int | None = None
    matmul_sizes: tuple[int, ...] = (1024, 2048, 4096)
    precision: str = "float32"
    # MLP hidden widths at which one step is timed in each way JAX code can call it
    # (``step_overhead``): the seed post's small network and the benchmark's.
    overhead_hidden: tuple[tuple[int, ...], ...] = ((128,), (512, 512))
    overhead_steps: int = 200
    # Training runs to a target test accuracy (``fwcompare.time_to_accuracy``); none by default.
    accuracy_targets: tuple[config.AccuracyTarget, ...] = ()

    def __post_init__(self) -> None:
        if self.repeats < MIN_REPEATS:
            raise ValueError(f"repeats={self.repeats!r} must be >= {MIN_REPEATS}: "
                             "a median and a spread need several runs")
        for name in ("routines", "cnn_routines", "sweep_routines"):
            unknown = [r for r in getattr(self, name) if r not in ROUTINES]
            if unknown or not getattr(self, name):
                raise ValueError(f"{name}={getattr(self, name)!r} must name routines from: "
                                 f"{', '.join(ROUTINES)}")
        for name in ("cnn_batch_sizes", "batch_sweep", "width_sweep", "matmul_sizes"):
            _check_sizes(name, getattr(self, name))
        for name in ("mlp_examples", "cnn_examples", "sweep_examples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}={value!r} must be None (whole training set) or >= 1")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} is unknown; allowed: {', '.join(PRECISIONS)}")
        for hidden in self.overhead_hidden:
            _check_sizes("overhead_hidden", hidden)
        if self.overhead_steps < 1:
            raise ValueError(f"overhead_steps={self.overhead_steps!r} must be >= 1")


def settings_for(profile: str | None = None, accelerator: bool | None = None) -> BenchSettings:
    """The suite a build profile runs: real sizes (``full``) or small ones (``smoke``).

    On a CPU the full suite times the CNN and the sweeps on subsets of the training set so that
    ``make bench`` finishes in minutes; times are projected to a whole epoch in proportion. It
    also leaves out the scanned CNN epoch there: XLA:CPU runs it an order of magnitude slower
    than the per-step loop (the benchmarks chapter shows why), which would take most of the time.
    """
    profile = config.build_profile() if profile is None else profile
    accelerator = has_accelerator() if accelerator is None else accelerator
    if profile not in config.PROFILES:
        raise ValueError(f"profile={profile!r} is unknown; allowed: {', '.join(config.PROFILES)}")
    cnn_routines = tuple(ROUTINES) if accelerator else tuple(r for r in ROUTINES if r not in SCANNED)
    targets = config.accuracy_targets(profile, accelerator)
    if profile == "smoke":
        return BenchSettings(mlp_examples=2048, cnn_batch_sizes=(64, 128), cnn_examples=256,
                             cnn_routines=cnn_routines, batch_sweep=(32, 512), width_sweep=(128, 1024),
                             sweep_routines=("torch-device", "jax-device"), sweep_examples=1024,
                             matmul_sizes=(512, 1024), overhead_steps=20, accuracy_targets=targets)
    if accelerator:
        return BenchSettings(accuracy_targets=targets)
    return BenchSettings(cnn_examples=6400, cnn_routines=cnn_routines, sweep_examples=8192,
                         accuracy_targets=targets)


def has_accelerator() -> bool:
    return torch.cuda.is_available() and jax.default_backend() == "gpu"


def set_precision(precision: str) -> None:
    """The same float32 matrix-product precision for both frameworks.

    Their defaults differ on NVIDIA GPUs: JAX multiplies float32 matrices in TF32 (10-bit
    mantissa inputs) by default, PyTorch in full float32 except in cuDNN convolutions. A
    comparison must set both. On a CPU both settings compute in float32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is unknown; allowed: {', '.join(PRECISIONS)}")
    torch_mode = "tf32" if precision == "tf32" else "ieee"
    torch.backends.cuda.matmul.fp32_precision = torch_mode
    torch.backends.cudnn.conv.fp32_precision = torch_mode
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if precision == "tf32" else "float32")


# --- the device's limit --------------------------------------------------------------------

def product_seconds(framework: str, m: int, k: int, n: int, repeats: int = MIN_REPEATS) -> float:
    """Median seconds of one float32 ``(m, k) @ (k, n)`` product in ``framework``, on its device."""
    if framework == "torch":
        device = torch_data.default_device()
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(m, k, generator=generator).to(device)
        b = torch.randn(k, n, generator=generator).to(device)
        return measure(lambda: a @ b, repeats=repeats, warmup=2).median
    if framework == "jax":
        key_a, key_b = jax.random.split(jax.random.key(0))
        a, b = jax.random.normal(key_a, (m, k)), jax.random.normal(key_b, (k, n))
        matmul = jax.jit(jnp.matmul)
        return measure(lambda: matmul(a, b), repeats=repeats, warmup=2).median
    raise ValueError(f"framework={framework!r} is unknown; allowed: torch, jax")


def matmul_gflops(framework: str, size: int, repeats: int = MIN_REPEATS) -> float:
    """Median rate of a ``size`` x ``size`` float32 matrix product in ``framework``, in GFLOP/s."""
    return 2 * size**3 / product_seconds(framework, size, size, size, repeats) / 1e9


def xla_step_flops(cfg: config.MLPConfig | config.CNNConfig) -> float:
    """XLA's own FLOP count of one compiled JAX training step at ``cfg``'s batch size: every
    operation, not only the matrix products ``benchmark.epoch_flops`` counts."""
    state = jax_train.create_train_state(cfg)
    x = jnp.zeros((cfg.batch_size, 28, 28))
    y = jnp.zeros(cfg.batch_size, jnp.int32)
    cost = jax_train.train_step.lower(state, x, y).compile().cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)["flops"]


def step_products(sizes: Sequence[int], batch_size: int) -> list[tuple[int, int, int]]:
    """``(m, k, n)`` of each matrix product in one training step of an MLP with layer ``sizes``:
    per layer the forward ``x @ W``, the weight gradient ``x.T @ g`` and, above the first
    layer, the gradient passed down ``g @ W.T``."""
    products = []
    for layer, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        products += [(batch_size, n_in, n_out), (n_in, batch_size, n_out)]
        if layer > 0:
            products.append((batch_size, n_out, n_in))
    return products


def step_products_gflops(framework: str, sizes: Sequence[int], batch_size: int,
                         repeats: int = MIN_REPEATS) -> float:
    """Rate of one MLP training step's matrix products, each run on its own (GFLOP/s).

    This is what the framework's matrix library achieves at the step's own shapes, which are
    smaller than the limit's: a ceiling for any routine of that framework on this model.
    """
    products = step_products(sizes, batch_size)
    seconds = sum(product_seconds(framework, m, k, n, repeats) for m, k, n in products)
    return sum(2 * m * k * n for m, k, n in products) / seconds / 1e9


# --- the routines ------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    """A model configuration and the host data it trains on (normalised float32, int64 labels)."""

    name: str
    config: config.MLPConfig | config.CNNConfig
    images: np.ndarray  # (N, 28, 28) float32
    labels: np.ndarray  # (N,) int64

    @property
    def examples(self) -> int:
        """Examples one epoch trains on: whole batches only."""
        return len(self.images) - len(self.images) % self.config.batch_size

    def order(self, epoch: int) -> list[np.ndarray]:
        return datasets.batch_order(len(self.images), self.config.batch_size, self.config.seed, epoch,
                                    drop_last=True)


def _torch_start(workload: Workload) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = torch_models.model_for(workload.config).to(torch_data.default_device())
    if isinstance(workload.config, config.CNNConfig):
        # Channels-last (NHWC) memory: oneDNN's convolutions skip a layout conversion per layer;
        # the CPU-gaps chapter measures it (same maths, 10-30 % less time per CNN step on a CPU).
        model = model.to(memory_format=torch.channels_last)
    return model, torch_train.make_optimizer(workload.config, model)


def _jax_start(workload: Workload):
    """A JAX train state whose parameters are the PyTorch model's initial weights."""
    state = jax_train.create_train_state(workload.config)
    params = jax_models.import_layers(state.params, torch_models.export_layers(_torch_start(workload)[0]))
    return state.replace(params=params, opt_state=state.tx.init(params))


def _torch_on_device(workload: Workload) -> tuple[torch.Tensor, torch.Tensor]:
    device = torch_data.default_device()
    return torch.from_numpy(workload.images).to(device), torch.from_numpy(workload.labels).to(device)


def _torch_dataloader(workload: Workload) -> Epoch:
    model, optimizer = _torch_start(workload)
    device = torch_data.default_device()

    def epoch(e: int) -> torch.Tensor:
        loader = torch_data.make_loader(workload.images, workload.labels, workload.order(e))
        return torch.stack([torch_train.train_step(model, optimizer, xb.to(device), yb.to(device))
                            for xb, yb in loader])

    return epoch


def _torch_device(workload: Workload) -> Epoch:
    model, optimizer = _torch_start(workload)
    x, y = _torch_on_device(workload)
    return lambda e: torch_train.train_epoch(model, optimizer, x, y, workload.order(e))


def _torch_compile(workload: Workload) -> Epoch:
    # Inductor looks for a CUDA toolkit even when compiling for the CPU and logs a warning
    # when there is none; on a CPU-only machine that is expected, not a problem.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    model, optimizer = _torch_start(workload)
    step = torch_train.compiled_train_step(model, optimizer)
    x, y = _torch_on_device(workload)
    return lambda e: torch.stack([step(xb, yb)
                                  for xb, yb in torch_data.iterate_batches(x, y, workload.order(e))])


def _jax_on_device(workload: Workload) -> tuple[jax.Array, jax.Array]:
    # JAX computes in 32-bit integers unless x64 mode is on
    return jax.device_put(workload.images), jax.device_put(workload.labels.astype(np.int32))


class JaxRun:
    """Holds the Linen train state between epochs: Linen code returns a new state, it never mutates one."""

    def __init__(self, workload: Workload):
        self.workload, self.state = workload, _jax_start(workload)
        self.x, self.y = _jax_on_device(workload)


class NnxRun:
    """An NNX model holding the PyTorch model's initial weights and its optimiser; both are
    updated in place, as in PyTorch, so nothing is handed back between epochs."""

    def __init__(self, workload: Workload):
        self.workload = workload
        self.model = nnx_models.import_layers(nnx_models.model_for(workload.config),
                                              torch_models.export_layers(_torch_start(workload)[0]))
        self.optimizer = nnx_train.make_optimizer(workload.config, self.model)
        self.x, self.y = _jax_on_device(workload)

    def epoch_with(self, step: Callable) -> Epoch:
        """Epochs that call ``step(xb, yb) -> loss`` once per batch of the shared order."""
        return lambda e: jnp.stack([step(xb, yb) for xb, yb in
                                    jax_data.iterate_batches(self.x, self.y, self.workload.order(e))])


def _jax_dataloader(workload: Workload) -> Epoch:
    run = JaxRun(workload)
    labels = workload.labels.astype(np.int32)

    def epoch(e: int) -> jax.Array:
        losses = []
        for xb, yb in torch_data.make_loader(workload.images, labels, workload.order(e)):
            run.state, loss = jax_train.train_step(run.state, xb.numpy(), yb.numpy())
            losses.append(loss)
        return jnp.stack(losses)

    return epoch


def _jax_device(workload: Workload) -> Epoch:
    run = JaxRun(workload)

    def epoch(e: int) -> jax.Array:
        run.state, losses = jax_train.train_epoch(run.state, run.x, run.y, workload.order(e))
        return losses

    return epoch


def _scanned_epochs(workload: Workload, epoch_program: Callable) -> Epoch:
    """Epochs run by ``epoch_program(state, x, y, batches) -> (state, losses)``, one call each."""
    run = JaxRun(workload)

    def epoch(e: int) -> jax.Array:
        batches = jnp.asarray(np.stack(workload.order(e)))  # (steps, batch_size)
        run.state, losses = epoch_program(run.state, run.x, run.y, batches)
        return losses

    return epoch


def _jax_scan(workload: Workload) -> Epoch:
    return _scanned_epochs(workload, jax_train.train_epoch_scan)


def _nnx_jit(workload: Workload) -> Epoch:
    run = NnxRun(workload)
    return run.epoch_with(lambda xb, yb: nnx_train.train_step(run.model, run.optimizer, xb, yb))


def _nnx_split(workload: Workload) -> Epoch:
    run = NnxRun(workload)
    return run.epoch_with(nnx_train.compiled_train_step(run.model, run.optimizer))


def _nnx_scan(workload: Workload) -> Epoch:
    run = NnxRun(workload)

    def epoch(e: int) -> jax.Array:
        batches = jnp.asarray(np.stack(workload.order(e)))  # (steps, batch_size)
        return nnx_train.train_epoch_scan(run.model, run.optimizer, run.x, run.y, batches)

    return epoch


# --- the GPU line-up and Grain (issue 12) ----------------------------------------------------

def _torch_cudagraphs(workload: Workload) -> Epoch:
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # as in _torch_compile
    model, optimizer = _torch_start(workload)
    step = cudagraphs.reduce_overhead_train_step(model, optimizer)
    x, y = _torch_on_device(workload)
    return lambda e: torch.stack([step(xb, yb)
                                  for xb, yb in torch_data.iterate_batches(x, y, workload.order(e))])


def _torch_graph_epoch(workload: Workload, capture: bool | None = None) -> Epoch:
    """The epoch recorded once as one CUDA graph (``cudagraphs.EpochGraph``), replayed per epoch.

    ``capture=False`` runs the same steps eagerly: the CPU rehearsal the tests use."""
    model, optimizer = _torch_start(workload)
    x, y = _torch_on_device(workload)
    graph = cudagraphs.EpochGraph(model, optimizer, x, y, steps=len(workload.order(0)),
                                  batch_size=workload.config.batch_size, capture=capture)
    return lambda e: graph(workload.order(e))


def _grain_jax(workload: Workload) -> Epoch:
    """jax-dataloader with Grain in the DataLoader's place: the same bytes, the same order."""
    run = JaxRun(workload)
    labels = workload.labels.astype(np.int32)

    def epoch(e: int) -> jax.Array:
        losses = []
        for xb, yb in jax_data.grain_loader(workload.images, labels, workload.order(e)):
            run.state, loss = jax_train.train_step(run.state, xb, yb)
            losses.append(loss)
        return jnp.stack(losses)

    return epoch


def skip_reason(routine: str) -> str | None:
    """Why ``routine`` cannot run here (``None`` if it can): the CUDA-graph routines need CUDA."""
    if routine in GPU_ONLY and not torch.cuda.is_available():
        return "needs a CUDA device (CUDA graphs); PyTorch sees none here"
    return None


def rehearse_graph_epoch(workload: Workload, epochs: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Per-step losses of ``epochs`` epochs of torch-graph-epoch run eagerly (no CUDA graph) and of
    torch-device: on any device the two must agree, which checks the recorded steps, the
    warm-up and the reset of weights and optimiser state before recording."""
    rehearsal, eager = _torch_graph_epoch(workload, capture=False), _torch_device(workload)
    return tuple(np.stack([np.asarray(run(e).cpu()) for e in range(epochs)])
                 for run in (rehearsal, eager))


PREPARE: dict[str, Callable[[Workload], Epoch]] = {
    "torch-dataloader": _torch_dataloader, "torch-device": _torch_device, "torch-compile": _torch_compile,
    "jax-dataloader": _jax_dataloader, "jax-device": _jax_device, "jax-scan": _jax_scan,
    "nnx-jit": _nnx_jit, "nnx-split": _nnx_split, "nnx-scan": _nnx_scan,
    "torch-cudagraphs": _torch_cudagraphs, "torch-graph-epoch": _torch_graph_epoch,
    "grain-jax": _grain_jax,
}
# Routines that compile a whole epoch: XLA:CPU runs the CNN's that way ~10x slower (see settings_for).
SCANNED = ("jax-scan", "nnx-scan")


def _step_calls(cfg: config.MLPConfig) -> dict[str, Callable[[jax.Array, jax.Array], Any]]:
    """One training step of ``cfg``'s model in each way of ``benchmark.STEP_CALLS`` (same keys)."""
    linen = {"state": jax_train.create_train_state(cfg)}

    def linen_step(x, y):
        linen["state"], loss = jax_train.train_step(linen["state"], x, y)
        return loss

    model = nnx_models.model_for(cfg)
    optimizer = nnx_train.make_optimizer(cfg, model)
    cached_model = nnx_models.model_for(cfg)
    cached = nnx_train.compiled_train_step(cached_model, nnx_train.make_optimizer(cfg, cached_model))
    return {"linen-jit": linen_step,
            "nnx-jit": lambda x, y: nnx_train.train_step(model, optimizer, x, y),
            "nnx-split": cached}


def step_overhead(cfg: config.MLPConfig, steps: int = 100, repeats: int = MIN_REPEATS) -> dict[str, float]:
    """Median seconds per training step of ``cfg``'s MLP for each way of calling the step.

    The same batch is fed again and again, already on the device, so that what differs between
    the three is only the work around the compiled program: Linen passes a pytree in and out,
    ``nnx.jit`` walks the module graph on every call to find its state and write it back, the
    cached step does that walk once. ``steps`` calls are timed together and waited for once.
    """
    if steps < 1:
        raise ValueError(f"steps={steps!r} must be >= 1")
    x = jnp.zeros((cfg.batch_size, 28, 28), jnp.float32)
    y = jnp.zeros((cfg.batch_size,), jnp.int32)
    calls = _step_calls(cfg)
    seconds = {}
    for name, step in calls.items():

        def run(step=step):
            return [step(x, y) for _ in range(steps)][-1]

        seconds[name] = measure(run, repeats=repeats, warmup=1).median / steps
    return seconds



class RoutineSkipped(RuntimeError):
    """A routine that cannot run on this machine (``skip_reason``); ``run_suite`` records it."""


def _mean_loss(losses: Any) -> float:
    if isinstance(losses, torch.Tensor):
        losses = losses.cpu()
    return float(np.mean(np.asarray(losses)))


def time_routine(routine: str, workload: Workload, repeats: int, group: str = "routines",
                 full_examples: int | None = None) -> Measurement:
    """Train ``1 + repeats`` epochs with ``routine``; the first is timed apart (it compiles)."""
    if routine not in PREPARE:
        raise ValueError(f"routine={routine!r} is unknown; allowed: {', '.join(PREPARE)}")
    if reason := skip_reason(routine):
        raise RoutineSkipped(f"{routine}: {reason}")
    epoch = PREPARE[routine](workload)
    losses, first_seconds = time_once(lambda: epoch(0))
    epochs = itertools.count(1)
    timing = measure(lambda: epoch(next(epochs)), repeats=repeats, warmup=0)
    cfg = workload.config
    return Measurement(
        group=group, workload=workload.name, routine=routine, framework=ROUTINES[routine][0],
        batch_size=cfg.batch_size, hidden=tuple(cfg.hidden), examples=workload.examples,
        full_examples=full_examples or workload.examples,
        flops_per_epoch=float(epoch_flops(cfg, workload.examples)), first_epoch_s=first_seconds,
        epoch_s=timing.seconds, first_loss=_mean_loss(losses))


# --- the suite -----------------------------------------------------------------------------

@functools.cache
def _mnist_train() -> tuple[np.ndarray, np.ndarray]:
    return datasets.load("mnist", "train")


def training_set(examples: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """The first ``examples`` MNIST training images (normalised) and labels, and the set's size."""
    images, labels = _mnist_train()
    stop = len(images) if examples is None else min(examples, len(images))
    return datasets.normalize(images[:stop]), labels[:stop].astype(np.int64), len(images)


def mlp_name(hidden: Sequence[int]) -> str:
    return "MLP " + "-".join(str(w) for w in (784, *hidden, 10))


def _workload(name: str, cfg, examples: int | None) -> tuple[Workload, int]:
    images, labels, full = training_set(max(examples, cfg.batch_size) if examples else None)
    return Workload(name, cfg, images, labels), full


def routine_plan(settings: BenchSettings) -> list[tuple[str, Workload, int]]:
    mlp, full = _workload(f"{mlp_name(MLP_WORKLOAD.hidden)}, batch {MLP_WORKLOAD.batch_size}",
                          MLP_WORKLOAD, settings.mlp_examples)
    plan = [(routine, mlp, full) for routine in settings.routines]
    for batch_size in settings.cnn_batch_sizes:
        cfg = dataclasses.replace(CNN_WORKLOAD, batch_size=batch_size)
        cnn, full = _workload(f"CNN, batch {batch_size}", cfg, settings.cnn_examples)
        plan += [(routine, cnn, full) for routine in settings.routines if routine in settings.cnn_routines]
    return plan


def sweep_plan(settings: BenchSettings) -> list[tuple[str, str, Workload, int]]:
    """``(group, routine, workload, full_examples)``: batch sizes at the MLP's widths, then widths at
    its batch size."""
    plan = []
    for group, values in (("batch", settings.batch_sweep), ("width", settings.width_sweep)):
        for value in values:
            cfg = (dataclasses.replace(MLP_WORKLOAD, batch_size=value) if group == "batch"
                   else dataclasses.replace(MLP_WORKLOAD, hidden=(value, value)))
            workload, full = _workload(f"{mlp_name(cfg.hidden)}, batch {cfg.batch_size}", cfg,
                                       settings.sweep_examples)
            plan += [(group, routine, workload, full) for routine in settings.sweep_routines]
    return plan


def processor_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown processor"


def bench_environment(precision: str) -> dict[str, str]:
    """``report.environment()`` plus what a timing depends on: the device, processor and precision."""
    info = report.environment()
    device = (report.torch_device() if torch.cuda.is_available()
              else f"cpu ({processor_name()}, {torch.get_num_threads()} threads)")
    return {"device": device, "processor": processor_name(), "precision": precision, **info}


# --- a time budget, stops and partial results (issue 12: fwcompare.gpucheck) -----------------

class SuiteStopped(Exception):
    """Raised to stop a suite run early (``gpucheck`` raises it from its SIGTERM handler);
    a ``run_suite`` given a budget then returns partial results instead of losing them."""


# Shares of a budget, in the order the sections run: a section may run until the sum of its
# share and those before it is spent, so time an early section leaves over goes to later ones.
SECTION_SHARES = {"gpu-tests": 0.20, "limits": 0.03, "step-overhead": 0.04, "routines": 0.38,
                  "sweeps": 0.15, "time-to-accuracy": 0.20}


# How ``run_items`` (given a budget) records an item that raised: a skip whose reason starts so.
ERROR_PREFIX = "error: "


class SuiteBudget:
    """Wall-clock seconds for a run, shared out among its sections (``SECTION_SHARES``).

    ``fits(section, estimate)`` says whether an item expected to take ``estimate`` seconds
    ends before the section's deadline; items that do not fit are skipped and recorded.
    """

    def __init__(self, seconds: float, shares: dict[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        shares = dict(SECTION_SHARES if shares is None else shares)
        if seconds <= 0:
            raise ValueError(f"seconds={seconds!r} must be > 0")
        if any(share < 0 for share in shares.values()) or sum(shares.values()) > 1 + 1e-9:
            raise ValueError(f"shares={shares!r} must be >= 0 and sum to at most 1")
        self.seconds, self.shares, self.clock = seconds, shares, clock
        self.started = clock()

    def deadline(self, section: str) -> float:
        """When ``section`` must end (clock time); a section without a share may use it all."""
        if section not in self.shares:
            return self.started + self.seconds
        names = list(self.shares)
        spent = sum(self.shares[name] for name in names[:names.index(section) + 1])
        return self.started + self.seconds * spent

    def left(self, section: str) -> float:
        return self.deadline(section) - self.clock()

    def fits(self, section: str, estimate: float = 0.0) -> bool:
        return self.left(section) > estimate


@dataclass(frozen=True)
class SuiteItem:
    """One thing the suite measures: ``run()`` returns a ``Measurement`` or step times."""

    section: str
    workload: str
    routine: str
    run: Callable[[], Any]


class SuiteRecord:
    """What a suite run has measured and skipped so far; ``results()`` at any point."""

    def __init__(self, settings: BenchSettings, limit: dict[str, float], ceiling: dict[str, float]):
        self.settings, self.limit, self.ceiling = settings, limit, ceiling
        self.measurements: list[Measurement] = []
        self.step_seconds: dict[str, dict[str, float]] = {}
        self.skipped: list[dict[str, str]] = []
        self.time_to_accuracy: list[time_to_accuracy.Run] = []
        self.partial = ""

    def skip(self, item: SuiteItem, reason: str) -> None:
        self.skipped.append({"section": item.section, "workload": item.workload,
                             "routine": item.routine, "reason": reason})

    def results(self, partial: str | None = None) -> BenchResults:
        created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        return BenchResults(created=created, environment=bench_environment(self.settings.precision),
                            settings=dataclasses.asdict(self.settings),
                            matmul_sizes=self.settings.matmul_sizes, matmul_gflops=self.limit,
                            step_products_gflops=self.ceiling, measurements=tuple(self.measurements),
                            step_seconds=dict(self.step_seconds), skipped=tuple(self.skipped),
                            time_to_accuracy=tuple(self.time_to_accuracy),
                            partial=self.partial if partial is None else partial)


def run_items(items: list[SuiteItem], record: SuiteRecord, log: Callable[[str], None],
              budget: SuiteBudget | None, checkpoint: Callable[[BenchResults], None] | None,
              progress: bool) -> None:
    """Run ``items`` in order into ``record``: a routine this machine lacks, or an item the
    budget has no time left for, is recorded as skipped; a stop skips all that is left."""
    took: dict[tuple[str, str], float] = {}  # seconds the last item of (section, routine) took
    done = 0  # items recorded (measured or skipped)

    def run_one(item: SuiteItem) -> None:
        estimate = took.get((item.section, item.routine), 0.0)
        if budget is not None and not budget.fits(item.section, estimate):
            reason = (f"time budget: section {item.section!r} had {budget.left(item.section):.0f} s "
                      f"left, the item's last run took {estimate:.0f} s")
            record.skip(item, reason)
            log(f"skipped  {item.workload:32s} {item.routine:16s} ({reason})")
            return
        started = time.monotonic()
        try:
            value = item.run()
        except RoutineSkipped as skipped:
            record.skip(item, str(skipped).split(": ", 1)[-1])
            log(f"skipped  {item.workload:32s} {item.routine:16s} ({skipped})")
            return
        except SuiteStopped:
            raise
        except Exception as error:  # with a budget (gpucheck): record it, measure the rest
            if budget is None:
                raise
            record.skip(item, f"{ERROR_PREFIX}{type(error).__name__}: {error}")
            log(f"FAILED   {item.workload:32s} {item.routine:16s} ({type(error).__name__}: {error})")
            return
        took[item.section, item.routine] = time.monotonic() - started
        if isinstance(value, Measurement):
            record.measurements.append(value)
            log(_line(value))
        elif isinstance(value, list):  # time-to-accuracy runs
            record.time_to_accuracy += value
            for run in value:
                log(time_to_accuracy.line(run))
        else:
            record.step_seconds[item.workload] = value
            log(f"one step, {item.workload}: " + ", ".join(
                f"{call} {seconds * 1e6:.0f} us" for call, seconds in value.items()))

    try:
        for item in progress_bar(items, desc="benchmarks") if progress else items:
            run_one(item)
            done += 1
            if checkpoint is not None:
                checkpoint(record.results(partial=f"running: {done} of {len(items)} items done"))
    except (SuiteStopped, KeyboardInterrupt) as stop:  # in an item or in a checkpoint
        if budget is None:
            raise
        record.partial = f"stopped: {stop or type(stop).__name__}"
        for rest in items[done:]:
            record.skip(rest, record.partial)
        log(f"{record.partial}; {len(items) - done} items left out")
        if checkpoint is not None:
            checkpoint(record.results())


def suite_items(settings: BenchSettings) -> list[SuiteItem]:
    """Everything ``run_suite`` measures after the device's limits, in order."""
    items = []
    for hidden in settings.overhead_hidden:
        cfg = dataclasses.replace(MLP_WORKLOAD, hidden=tuple(hidden))
        items.append(SuiteItem("step-overhead", f"{mlp_name(cfg.hidden)}, batch {cfg.batch_size}",
                               "step-overhead", functools.partial(step_overhead, cfg, settings.overhead_steps,
                                                                  settings.repeats)))
    plan = [("routines", *item) for item in routine_plan(settings)] + sweep_plan(settings)
    for group, routine, workload, full in plan:
        items.append(SuiteItem("routines" if group == "routines" else "sweeps", workload.name, routine,
                               functools.partial(time_routine, routine, workload, settings.repeats,
                                                 group=group, full_examples=full)))
    return items


def accuracy_items(settings: BenchSettings, record: SuiteRecord) -> list[SuiteItem]:
    """The time-to-accuracy runs, one item per task and framework, after the routines: each
    trains with the routine the suite found fastest for its framework on the same model
    (read from ``record`` when the item runs)."""
    items = []
    for task in settings.accuracy_targets:
        workload = time_to_accuracy.suite_workload(task.model)
        for framework in time_to_accuracy.FRAMEWORKS:
            def run(task=task, framework=framework, workload=workload) -> list[time_to_accuracy.Run]:
                routines = time_to_accuracy.fastest_routines(record.measurements, workload)
                return time_to_accuracy.run_task(task, routines, frameworks=(framework,))
            items.append(SuiteItem("time-to-accuracy", workload, f"{framework} to {task.target:.0%}", run))
    return items


def run_suite(settings: BenchSettings, log: Callable[[str], None] = lambda line: None,
              progress: bool = False, budget: SuiteBudget | None = None,
              checkpoint: Callable[[BenchResults], None] | None = None) -> BenchResults:
    """Measure the matmul limit, the routines, one step three ways and the sweeps; return all.

    ``log`` receives one line per measurement; ``progress`` shows a progress bar instead.
    Routines this machine cannot run (``skip_reason``) are recorded in ``results.skipped``.
    With a ``budget``, items that would not fit are skipped and recorded, an item that raises
    is recorded with its error (``ERROR_PREFIX``) while the rest go on, and a ``SuiteStopped``
    or ``KeyboardInterrupt`` ends the run with partial results (``results.partial`` says
    why); ``checkpoint`` receives the results after every item.
    """
    set_precision(settings.precision)
    # The best of several sizes: which size a library handles best varies by device.
    limit = {fw: max(matmul_gflops(fw, size, settings.repeats) for size in settings.matmul_sizes)
             for fw in ("torch", "jax")}
    log(f"matmul {settings.matmul_sizes}: "
        + ", ".join(f"{fw} {rate:.1f} GFLOP/s" for fw, rate in limit.items()))
    mlp_sizes = (28 * 28, *MLP_WORKLOAD.hidden, 10)
    ceiling = {fw: step_products_gflops(fw, mlp_sizes, MLP_WORKLOAD.batch_size, settings.repeats)
               for fw in ("torch", "jax")}
    log("MLP step's products alone: " + ", ".join(f"{fw} {rate:.1f} GFLOP/s" for fw, rate in ceiling.items()))
    record = SuiteRecord(settings, limit, ceiling)
    run_items(suite_items(settings) + accuracy_items(settings, record), record, log, budget, checkpoint,
              progress)
    return record.results()


def _line(m: Measurement) -> str:
    return (f"{m.group:8s} {m.workload:32s} {m.routine:16s} first {m.first_epoch_s:7.2f} s  "
            f"median {m.median_s:7.3f} s (spread {m.spread:.0%})  {m.gflops:7.1f} GFLOP/s")


def convolution_layouts(compiled) -> list[str]:
    """The dimension order (XLA's ``dim_labels``) of each convolution in a compiled JAX program.

    ``b01f_01io->b01f`` is the canonical order (batch, height, width, features): the one XLA:CPU
    hands to its library convolution kernels.
    """
    return re.findall(r" convolution\(.*?dim_labels=([^,\s]+)", compiled.as_text())


def scan_unrolled(workload: Workload) -> Epoch:
    """jax-scan with the loop fully unrolled: no loop left in the compiled program (an experiment;
    compile time grows with the number of steps)."""
    epoch_program = jax.jit(lambda state, x, y, batches: jax.lax.scan(
        lambda s, index: jax_train.train_step(s, x[index], y[index]), state, batches, unroll=True))
    return _scanned_epochs(workload, epoch_program)


# --- tables and the command line -----------------------------------------------------------

def routine_table(results: BenchResults, workload: str) -> str:
    """One workload's routines as a Markdown table, fastest first."""
    rows = sorted(results.select("routines", workload), key=lambda m: m.median_s)
    fastest = rows[0].median_s
    lines = ["| routine | first epoch (s) | steady epoch (s) | spread | whole epoch (s) | GFLOP/s "
             "| of matmul limit | vs fastest | first-epoch loss |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {m.label} | {m.first_epoch_s:.3g} | {m.median_s:.3g} | {m.spread:.0%} "
              f"| {m.projected_epoch_s:.3g} | {m.gflops:.1f} | {results.fraction(m):.0%} "
              f"| {m.median_s / fastest:.2f}x | {m.first_loss:.4f} |" for m in rows]
    return "\n".join(lines) + "\n"


def step_table(results: BenchResults) -> str:
    """Microseconds per training step for each way of calling it, one row per MLP, as Markdown."""
    if not results.step_seconds:
        raise ValueError("these results hold no per-step times (written before NNX joined the suite)")
    calls = list(STEP_CALLS)
    lines = ["| workload | " + " | ".join(STEP_CALLS[call] for call in calls)
             + " | nnx.jit minus Linen |", "|---|" + "---:|" * (len(calls) + 1)]
    for workload, seconds in results.step_seconds.items():
        extra = seconds["nnx-jit"] - seconds["linen-jit"]
        lines.append(f"| {workload} | " + " | ".join(f"{seconds[call] * 1e6:.0f} us" for call in calls)
                     + f" | {extra * 1e6:+.0f} us |")
    return "\n".join(lines) + "\n"


def skipped_table(results: BenchResults) -> str:
    """What a run left out (``results.skipped``) and why, as Markdown; one row per routine and
    reason, its workloads listed together. Empty when nothing was skipped."""
    rows: dict[tuple[str, str], list[str]] = {}
    for skip in results.skipped:
        rows.setdefault((skip["routine"], skip["reason"]), []).append(skip["workload"])
    if not rows:
        return ""
    lines = ["| routine | left out on | why |", "|---|---|---|"]
    for (routine, reason), workloads in rows.items():
        label = ROUTINES[routine][1] if routine in ROUTINES else routine
        lines.append(f"| {label} | {'; '.join(dict.fromkeys(workloads))} | {reason} |")
    return "\n".join(lines) + "\n"


def write_outputs(results: BenchResults, out: Path) -> list[Path]:
    """The results file ``<device>.json`` and its three figures in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    from fwcompare import plots

    slug = device_slug(results.device)
    written = [save_results(results, out / f"{slug}.json")]
    figures = {"routines": plots.bench_routines(results), "batch": plots.bench_scaling(results, "batch"),
               "width": plots.bench_scaling(results, "width")}
    for name, figure in figures.items():
        path = out / f"{slug}-{name}.png"
        figure.savefig(path, dpi=120, bbox_inches="tight")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fwcompare.benchsuite",
                                     description="Time PyTorch and JAX training routines (make bench).")
    parser.add_argument("--out", type=Path, default=Path("_build/bench"),
                        help="folder for the results file and plots (default: _build/bench)")
    parser.add_argument("--profile", choices=config.PROFILES, default=None,
                        help=f"suite size (default: ${config.PROFILE_VARIABLE}, else full)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="float32 matrix products in full float32 or in TF32 (GPU only)")
    args = parser.parse_args(argv)
    settings = dataclasses.replace(settings_for(args.profile), precision=args.precision)
    results = run_suite(settings, log=lambda line: print(line, flush=True))
    for workload in results.workloads():
        print(f"\n{workload}\n{routine_table(results, workload)}")
    print(f"\nOne training step, called three ways\n{step_table(results)}")
    if results.time_to_accuracy:
        print(f"\nTime to accuracy\n{time_to_accuracy.table(results.time_to_accuracy)}")
    if results.skipped:
        print(f"\nLeft out on this machine\n{skipped_table(results)}")
    for path in write_outputs(results, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
