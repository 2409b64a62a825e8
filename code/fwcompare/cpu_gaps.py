"""Where the CPU time of a training step goes, and which changes win some of it back.

The benchmark suite (``fwcompare.benchsuite``) finds that on a small CPU the CNN's training
step reaches only a fraction of the rate at which the same CPU multiplies large matrices.
This module holds the experiments that look for the reason:

* the same CNN step written several ways in JAX (``JAX_VARIANTS``): the package's Linen model,
  then ``lax.conv_general_dilated`` with NHWC or NCHW dimension numbers, the average pool as a
  reshape and a mean instead of ``reduce_window``, and each 3x3 convolution as nine shifted
  slices and one matrix product ("im2col"), whose gradients are matrix products too;
* the same CNN step in PyTorch with other settings (``TORCH_VARIANTS``): channels-last
  memory, oneDNN (mkldnn) switched off, one thread, ``torch.compile``;
* XLA's CPU flags (``XLA_FLAG_VARIANTS``), which XLA reads once, when JAX starts: each is
  timed in a fresh Python process (``flag_step_seconds``);
* profiles of one step: XLA's compiled operations (``jax_op_profile``) and PyTorch's
  (``torch_op_profile``);
* the matrix products of a step timed alone at their own shapes (``cnn_products``,
  ``products_gflops``), a ceiling no routine can pass.

Every variant computes the same loss and gradients as the baseline (the tests check it):
what changes is only how the work is laid out for the CPU.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import glob
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax.training.train_state import TrainState
from jax import lax

from fwcompare import benchsuite, config
from fwcompare.jax_common.losses import cross_entropy
from fwcompare.linen_impl import train as linen_train
from fwcompare.timing import sync
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import train as torch_train

# name: (layout, pool, convolution) of the JAX CNN, or None for the package's Linen step
JAX_VARIANTS = {
    "linen": None,
    "lax-nhwc": ("nhwc", "reduce-window", "xla"),
    "lax-nchw": ("nchw", "reduce-window", "xla"),
    "reshape-pool": ("nhwc", "reshape", "xla"),
    "im2col": ("nhwc", "reduce-window", "im2col"),
    "im2col-reshape-pool": ("nhwc", "reshape", "im2col"),
}
JAX_LABELS = {
    "linen": "Linen model (NHWC, `avg_pool`), the suite's step",
    "lax-nhwc": "`lax.conv_general_dilated`, NHWC / HWIO",
    "lax-nchw": "`lax.conv_general_dilated`, NCHW / OIHW",
    "reshape-pool": "NHWC, pool as reshape + mean",
    "im2col": "convolutions as shifted slices + one matmul",
    "im2col-reshape-pool": "im2col and reshape pool",
}
TORCH_VARIANTS = {
    "eager": "eager, NCHW (the suite's step)",
    "channels-last": "eager, `channels_last` memory",
    "no-mkldnn": "eager, oneDNN (mkldnn) off",
    "one-thread": "eager, one thread",
    "compile": "`torch.compile` (the suite's)",
    "compile-channels-last": "`torch.compile`, `channels_last`",
}
# XLA:CPU flags worth trying on a convolution network; XLA reads XLA_FLAGS once, at start-up.
XLA_FLAG_VARIANTS = {
    "default": "",
    "no-xnnpack": "--xla_cpu_use_xnnpack=false",
    "onednn": "--xla_cpu_use_onednn=true",
    "fast-math": "--xla_cpu_enable_fast_math=true",
}
XLA_FLAG_LABELS = {
    "default": "no flags",
    "no-xnnpack": "`--xla_cpu_use_xnnpack=false` (XNNPACK/YNNPACK kernels off)",
    "onednn": "`--xla_cpu_use_onednn=true` (oneDNN for matmuls and convolutions)",
    "fast-math": "`--xla_cpu_enable_fast_math=true` (unsafe float rewrites)",
}
CNN_LAYERS = ("Conv_0", "Conv_1")


def _check(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is unknown; allowed: {', '.join(allowed)}")


@dataclasses.dataclass(frozen=True)
class GapSettings:
    """How much the chapter measures: the CNN's batch size, a smaller one for the batch-size
    comparison, the MLP's batch sizes, rounds and steps of interleaved timing, matmul sizes."""

    batch_size: int = 512
    small_batch_size: int = 64
    mlp_batch_sizes: tuple[int, ...] = (128, 512)
    rounds: int = 3
    steps: int = 2
    flag_rounds: int = 2
    flag_steps: int = 3
    matmul_sizes: tuple[int, ...] = (1024, 2048)
    repeats: int = 5
    torch_variants: tuple[str, ...] = tuple(TORCH_VARIANTS)
    flag_variants: tuple[str, ...] = tuple(XLA_FLAG_VARIANTS)


def settings_for(profile: str | None = None) -> GapSettings:
    """The chapter's sizes for a build profile: the suite's (``full``) or tiny ones (``smoke``)."""
    profile = config.build_profile() if profile is None else profile
    _check("profile", profile, config.PROFILES)
    if profile == "smoke":
        return GapSettings(batch_size=64, small_batch_size=16, mlp_batch_sizes=(32, 128),
                           rounds=1, steps=1, flag_rounds=1, flag_steps=1, matmul_sizes=(512,),
                           repeats=3, torch_variants=("eager", "channels-last", "no-mkldnn",
                                                      "one-thread", "compile"),
                           flag_variants=("default", "no-xnnpack"))
    return GapSettings()


# --- the CNN in JAX, written several ways -------------------------------------------------

def average_pool(h: jax.Array, layout: str = "nhwc",
                 pool: str = "reduce-window") -> jax.Array:
    """2x2 average pool, stride 2: ``lax.reduce_window``, or a reshape and a mean."""
    _check("layout", layout, ("nhwc", "nchw"))
    _check("pool", pool, ("reduce-window", "reshape"))
    spatial = (1, 2) if layout == "nhwc" else (2, 3)
    if pool == "reduce-window":
        window = tuple(2 if axis in spatial else 1 for axis in range(4))
        return lax.reduce_window(h, 0.0, lax.add, window, window, "VALID") / 4
    n, a, b, c = h.shape
    if layout == "nhwc":  # (N, H, W, C) -> (N, H/2, 2, W/2, 2, C)
        return h.reshape(n, a // 2, 2, b // 2, 2, c).mean(axis=(2, 4))
    return h.reshape(n, a, b // 2, 2, c // 2, 2).mean(axis=(3, 5))  # (N, C, H, W)


def conv_im2col(h: jax.Array, kernel: jax.Array) -> jax.Array:
    """A 3x3 "same" convolution of NHWC ``h`` with an HWIO ``kernel``, as one matmul.

    The nine shifted views of the zero-padded input are laid side by side, one row
    of ``9 * C`` numbers per output pixel ("im2col"), and multiplied by the kernel
    reshaped to ``(9 * C, O)``. Its gradients are matrix products too, plus slices
    and pads.
    """
    n, height, width, channels = h.shape
    padded = jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
    shifted = [padded[:, i:i + height, j:j + width, :]
               for i in range(3) for j in range(3)]
    columns = jnp.concatenate(shifted, axis=-1)  # (N, H, W, 9C)
    out = columns.reshape(-1, 9 * channels) @ kernel.reshape(9 * channels, -1)
    return out.reshape(n, height, width, -1)  # (N, H, W, O)


def cnn_logits(params: Any, x: jax.Array, variant: str = "lax-nhwc") -> jax.Array:
    """Logits of the book's CNN for ``(N, 28, 28)`` images, computed the way ``variant`` says.

    ``params`` is the Linen CNN's parameter tree (kernels HWIO, dense ``(in, out)``), so every
    variant computes the same function as ``linen_impl.models.CNN``.
    """
    _check("variant", variant, [name for name, spec in JAX_VARIANTS.items() if spec])
    layout, pool, convolution = JAX_VARIANTS[variant]
    h = x[..., None] if layout == "nhwc" else x[:, None]  # (N, 28, 28, 1) or (N, 1, 28, 28)
    for name in CNN_LAYERS:
        kernel, bias = params[name]["kernel"], params[name]["bias"]  # (3, 3, in, out), (out,)
        if convolution == "im2col":
            h = conv_im2col(h, kernel) + bias
        elif layout == "nhwc":
            h = lax.conv_general_dilated(h, kernel, (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
        else:
            h = lax.conv_general_dilated(h, kernel.transpose(3, 2, 0, 1), (1, 1), "SAME",
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
            h = h + bias[:, None, None]
        h = average_pool(jax.nn.relu(h), layout, pool)
    if layout == "nchw":
        h = h.transpose(0, 2, 3, 1)  # flatten in (height, width, channel) order, as Linen does
    h = h.reshape(h.shape[0], -1)  # (N, 3136)
    h = jax.nn.relu(h @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"])
    return h @ params["Dense_1"]["kernel"] + params["Dense_1"]["bias"]


def jax_loss_and_grads(variant: str, state: TrainState, x: jax.Array, y: jax.Array,
                       ) -> tuple[jax.Array, Any]:
    """Loss and parameter gradients of one batch, the CNN computed as ``variant`` says."""
    _check("variant", variant, tuple(JAX_VARIANTS))

    def loss_fn(params):
        if variant == "linen":
            return cross_entropy(state.apply_fn({"params": params}, x), y)
        return cross_entropy(cnn_logits(params, x, variant), y)

    return jax.value_and_grad(loss_fn)(state.params)


def jax_cnn_step(variant: str) -> Callable[[TrainState, jax.Array, jax.Array], Any]:
    """A compiled ``step(state, x, y) -> (state, loss)`` on a Linen CNN ``TrainState``."""
    _check("variant", variant, tuple(JAX_VARIANTS))
    if variant == "linen":
        return linen_train.train_step

    @jax.jit
    def step(state, x, y):
        loss, grads = jax_loss_and_grads(variant, state, x, y)
        return state.apply_gradients(grads=grads), loss

    return step


def cnn_batch(batch_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A batch of random normalised-looking images ``(N, 28, 28)`` and labels ``(N,)``."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((batch_size, 28, 28)).astype(np.float32)
    return images, rng.integers(0, 10, batch_size).astype(np.int64)


def cnn_config(batch_size: int) -> config.CNNConfig:
    """The suite's CNN workload (PyTorch's initialisation) at ``batch_size``."""
    return dataclasses.replace(benchsuite.CNN_WORKLOAD, batch_size=batch_size)


def jax_start(cfg: config.MLPConfig | config.CNNConfig) -> TrainState:
    """A Linen train state holding the PyTorch model's initial weights (as the suite starts)."""
    state = linen_train.create_train_state(cfg)
    from fwcompare.linen_impl import models as linen_models

    params = linen_models.import_layers(state.params,
                                        torch_models.export_layers(torch_models.model_for(cfg)))
    return state.replace(params=params, opt_state=state.tx.init(params))


class Stepper:
    """Calls a training step again and again on one batch, keeping the state in between."""

    def __init__(self, step: Callable, state: Any, x: Any, y: Any):
        self.step, self.state, self.x, self.y = step, state, x, y

    def __call__(self) -> Any:
        self.state, loss = self.step(self.state, self.x, self.y)
        return loss


def jax_cnn_stepper(variant: str, batch_size: int) -> Stepper:
    images, labels = cnn_batch(batch_size)
    return Stepper(jax_cnn_step(variant), jax_start(cnn_config(batch_size)),
                   jnp.asarray(images), jnp.asarray(labels.astype(np.int32)))


# --- the CNN in PyTorch, with several settings -------------------------------------------

@contextlib.contextmanager
def torch_settings(variant: str):
    """The global PyTorch settings ``variant`` needs, for the duration of the block."""
    _check("variant", variant, tuple(TORCH_VARIANTS))
    threads, mkldnn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    try:
        if variant == "one-thread":
            torch.set_num_threads(1)
        # set directly: torch.backends.mkldnn.flags() also resets TF32 and warns about it
        torch.backends.mkldnn.enabled = mkldnn and variant != "no-mkldnn"
        yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = mkldnn


def torch_cnn_model(variant: str, cfg: config.CNNConfig) -> torch.nn.Module:
    """The package's PyTorch CNN, in channels-last memory where ``variant`` says so."""
    _check("variant", variant, tuple(TORCH_VARIANTS))
    model = torch_models.model_for(cfg)
    if variant.endswith("channels-last"):
        # (N, C, H, W) tensors whose channels are the fastest-moving axis in memory, as NHWC
        model = model.to(memory_format=torch.channels_last)
    return model


def torch_loss_and_grads(variant: str, model: torch.nn.Module, x: torch.Tensor,
                         y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Loss and parameter gradients of one batch under ``variant``'s settings (no update)."""
    forward = torch.compile(model) if variant.startswith("compile") else model
    with torch_settings(variant):
        model.zero_grad(set_to_none=True)
        loss = torch_train.cross_entropy(forward(x), y)
        loss.backward()
    return loss.detach(), [p.grad.detach().clone() for p in model.parameters()]


def torch_cnn_step(variant: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``step(x, y) -> loss``: one update of ``model`` in place under ``variant``'s settings."""
    _check("variant", variant, tuple(TORCH_VARIANTS))
    if variant.startswith("compile"):
        inner = torch_train.compiled_train_step(model, optimizer)
    else:
        def inner(x, y):
            return torch_train.train_step(model, optimizer, x, y)

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch_settings(variant):
            return inner(x, y)

    return step


def torch_cnn_stepper(variant: str, batch_size: int) -> Stepper:
    cfg = cnn_config(batch_size)
    model = torch_cnn_model(variant, cfg)
    step = torch_cnn_step(variant, model, torch_train.make_optimizer(cfg, model))
    images, labels = cnn_batch(batch_size)
    return Stepper(lambda state, x, y: (state, step(x, y)), None,
                   torch.from_numpy(images), torch.from_numpy(labels))


# --- timing many variants fairly on a noisy machine ---------------------------------------

def interleaved_seconds(calls: dict[str, Callable[[], Any]], rounds: int = 3, steps: int = 3,
                        ) -> dict[str, dict[str, float]]:
    """Seconds per call of each of ``calls``, timed in turn: round after round, every call
    ``steps`` times in each, so that a busy spell of a shared machine hits all alike.

    Each round starts one call further along the list. Returns ``{name: {"first_s": first
    call (compiles), "step_s": median seconds per call}}``.
    """
    if rounds < 1 or steps < 1:
        raise ValueError(f"rounds={rounds!r} and steps={steps!r} must be >= 1")
    first = {}
    for name, call in calls.items():
        start = time.perf_counter()
        sync(call())
        first[name] = time.perf_counter() - start
    samples = collections.defaultdict(list)
    names = list(calls)
    for index in range(rounds):
        # each round starts one further along, so that no call always runs first
        for name in names[index % len(names):] + names[:index % len(names)]:
            call = calls[name]
            start = time.perf_counter()
            sync([call() for _ in range(steps)][-1])
            samples[name].append((time.perf_counter() - start) / steps)
    return {name: {"first_s": first[name], "step_s": statistics.median(samples[name])}
            for name in calls}


def flag_step_seconds(flag_variants: Sequence[str] = tuple(XLA_FLAG_VARIANTS),
                      batch_size: int = 512, variant: str = "linen", rounds: int = 2,
                      steps: int = 3) -> dict[str, float]:
    """Median seconds per JAX CNN step under each of ``XLA_FLAG_VARIANTS`` named.

    XLA reads ``XLA_FLAGS`` once, when JAX starts, so every run is a fresh Python process
    (``python -m fwcompare.cpu_gaps``); the flag sets take turns, ``rounds`` times.
    """
    for name in flag_variants:
        _check("flag variant", name, tuple(XLA_FLAG_VARIANTS))
    _check("variant", variant, tuple(JAX_VARIANTS))
    samples = collections.defaultdict(list)
    for _ in range(rounds):
        for name in flag_variants:
            flags = f"{os.environ.get('XLA_FLAGS', '')} {XLA_FLAG_VARIANTS[name]}".strip()
            env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
            if flags:  # XLA reads a value that does not start with "--" as a file name
                env["XLA_FLAGS"] = flags
            command = [sys.executable, "-m", "fwcompare.cpu_gaps", "--variant", variant,
                       "--batch-size", str(batch_size), "--steps", str(steps)]
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} with XLA_FLAGS={flags!r} "
                                   f"failed:\n{out.stderr[-2000:]}")
            samples[name] += json.loads(out.stdout.strip().splitlines()[-1])["step_s"]
    return {name: statistics.median(samples[name]) for name in flag_variants}


# --- profiles of one step -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class OpTime:
    """Time one compiled operation (or PyTorch operator) took per step."""

    name: str  # XLA's instruction name (e.g. ``ynn_fusion.2``) or PyTorch's operator
    source: str  # the JAX operation it came from, e.g. ``backward Conv_1/conv_general_dilated``
    shape: str  # its output, e.g. ``f32[32,3,3,64]``
    ms: float  # milliseconds per step
    share: float  # fraction of the step's time in operations


def _hlo_ops(hlo_text: str) -> dict[str, tuple[str, str]]:
    """``{instruction: (source, output shape)}`` of a compiled module's instructions."""
    ops = {}
    for match in re.finditer(r"^\s*(?:ROOT )?%([\w.-]+) = (\S+) .*$", hlo_text, re.M):
        name, shape, line = match.group(1), match.group(2), match.group(0)
        op_name = re.search(r'op_name="([^"]*)"', line)
        source = op_name.group(1).split("/", 1)[-1] if op_name else ""
        for pattern, word in ((r"^transpose\(jvp\((\w*)\)\)/?", "backward"),
                              (r"^jvp\((\w*)\)/?", "forward")):
            # transpose(jvp(CNN))/Conv_1/conv_general_dilated -> backward Conv_1/...
            source = re.sub(pattern, f"{word} ", source)  # the model's name dropped
        ops[name] = (source, shape.split("{")[0])
    return ops


def jax_op_profile(stepper: Stepper, steps: int = 3, top: int = 10) -> list[OpTime]:
    """The ``top`` operations of a compiled JAX step by time, from ``jax.profiler``'s trace.

    XLA:CPU records one event per operation it runs (a fusion, a convolution, a copy); the
    compiled module's text (``step.lower(...).compile().as_text()``) names the JAX operation
    each came from.
    """
    compiled = stepper.step.lower(stepper.state, stepper.x, stepper.y).compile()
    ops = _hlo_ops(compiled.as_text())
    sync(stepper())
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            sync([stepper() for _ in range(steps)][-1])
        trace = sorted(glob.glob(f"{folder}/**/*.trace.json.gz", recursive=True))[-1]
        with gzip.open(trace) as file:
            events = json.load(file)
    events = events["traceEvents"] if isinstance(events, dict) else events
    totals = collections.Counter()
    for event in events:
        if event.get("ph") == "X" and event.get("name") in ops:
            totals[event["name"]] += event.get("dur", 0) / 1e3 / steps  # microseconds -> ms
    whole = sum(totals.values())
    return [OpTime(name, *ops[name], ms, ms / whole) for name, ms in totals.most_common(top)]


PROFILE_HEADER = ("XLA operation", "from (output)", "ms/step", "share")


def profile_rows(ops: Sequence[OpTime]) -> list[tuple[str, str, float, str]]:
    """Rows of a JAX profile table (``PROFILE_HEADER``): name, source and output, time, share."""
    return [(f"`{op.name}`", f"{op.source} ({op.shape})", op.ms, f"{op.share:.0%}")
            for op in ops]


def torch_op_profile(stepper: Stepper, top: int = 10) -> list[OpTime]:
    """The ``top`` PyTorch operators of one step by self CPU time (``torch.profiler``)."""
    sync(stepper())
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # the profiler's C++ log: errors only
    with _quiet_stderr(), torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        stepper()
    rows = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    whole = sum(e.self_cpu_time_total for e in rows)
    rows.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [OpTime(e.key, str(e.count), "", e.self_cpu_time_total / 1e3,
                   e.self_cpu_time_total / whole) for e in rows[:top]]


TORCH_PROFILE_HEADER = ("PyTorch operator", "calls", "self CPU (ms)", "share")


def torch_profile_rows(ops: Sequence[OpTime]) -> list[tuple[str, str, float, str]]:
    """Rows of a PyTorch profile table (``TORCH_PROFILE_HEADER``)."""
    return [(f"`{op.name}`", op.source, op.ms, f"{op.share:.0%}") for op in ops]


@contextlib.contextmanager
def _quiet_stderr():
    """Send what C++ code writes to file descriptor 2 (the profiler's start and stop lines,
    a failed GPU query on a CPU-only machine) to /dev/null for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# --- the matrix products of a step, alone -------------------------------------------------

def cnn_products(batch_size: int) -> list[tuple[str, tuple[int, int, int]]]:
    """``(what, (m, k, n))`` of each matrix product of one CNN training step, convolutions
    counted as im2col products: the forward, the weight gradient and (above the first layer)
    the gradient passed down."""
    pixels = (28 * 28, 14 * 14)
    layers = [("conv 1", batch_size * pixels[0], 9 * 1, 32),
              ("conv 2", batch_size * pixels[1], 9 * 32, 64),
              ("dense 1", batch_size, 7 * 7 * 64, 256), ("dense 2", batch_size, 256, 10)]
    products = []
    for index, (what, rows, k, n) in enumerate(layers):
        products += [(f"{what} forward", (rows, k, n)), (f"{what} weight gradient", (k, rows, n))]
        if index > 0:
            products.append((f"{what} input gradient", (rows, n, k)))
    return products


def mlp_products(sizes: Sequence[int], batch_size: int) -> list[tuple[int, int, int]]:
    """``(m, k, n)`` of each matrix product of one training step of an MLP with layer ``sizes``."""
    return benchsuite.step_products(sizes, batch_size)


def mlp_stepper(framework: str, batch_size: int) -> Stepper:
    """The suite's MLP (784-512-512-10, SGD) step at ``batch_size``: ``"jax"`` (Linen) or
    ``"torch"`` (eager)."""
    _check("framework", framework, ("jax", "torch"))
    cfg = dataclasses.replace(benchsuite.MLP_WORKLOAD, batch_size=batch_size)
    images, labels = cnn_batch(batch_size)
    if framework == "jax":
        return Stepper(linen_train.train_step, jax_start(cfg), jnp.asarray(images),
                       jnp.asarray(labels.astype(np.int32)))
    model = torch_models.model_for(cfg)
    optimizer = torch_train.make_optimizer(cfg, model)
    return Stepper(lambda state, x, y: (state, torch_train.train_step(model, optimizer, x, y)),
                   None, torch.from_numpy(images), torch.from_numpy(labels))


def products_gflops(framework: str, products: Sequence[tuple[int, int, int]],
                    repeats: int = 5) -> tuple[float, list[float]]:
    """Rate of ``products`` each run alone (GFLOP/s over all), and each one's own rate."""
    seconds = [benchsuite.product_seconds(framework, m, k, n, repeats) for m, k, n in products]
    flops = [2 * m * k * n for m, k, n in products]
    return sum(flops) / sum(seconds) / 1e9, [f / s / 1e9 for f, s in zip(flops, seconds, strict=True)]


def main(argv: Sequence[str] | None = None) -> int:
    """Time one JAX CNN variant in this process and print ``{"step_s": [...]}`` (JSON)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fwcompare.cpu_gaps")
    parser.add_argument("--variant", choices=tuple(JAX_VARIANTS), default="linen")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    stepper = jax_cnn_stepper(args.variant, args.batch_size)
    sync(stepper())
    seconds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        sync(stepper())
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"step_s": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
