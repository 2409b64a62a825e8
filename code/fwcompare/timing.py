"""Timing that measures the computation, not its dispatch. Imports no framework.

Both frameworks run asynchronously on accelerators: a call returns as soon as the work is
queued. A timer must therefore wait for the result (``jax.block_until_ready``,
``torch.cuda.synchronize``) before reading the clock, run the code once or more before
measuring (compilation, caches, autotuning), and report a median of several runs.

The training code of every backend imports ``sync`` from here; this module imports neither
framework itself (``sync`` looks only at frameworks the caller has already imported).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def sync(result: Any) -> Any:
    """Wait until ``result`` (any pytree of JAX arrays and/or PyTorch tensors) is computed."""
    import sys

    if "jax" in sys.modules:
        import jax

        jax.block_until_ready(result)
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    return result


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs of the same work."""

    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def worst(self) -> float:
        return max(self.seconds)

    @property
    def spread(self) -> float:
        """Interquartile range over the median: how noisy the runs were (0 = identical)."""
        if len(self.seconds) < 2:
            return 0.0
        quartiles = statistics.quantiles(self.seconds, n=4, method="inclusive")
        return (quartiles[2] - quartiles[0]) / self.median


def measure(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, synchronize: bool = True,
            ) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls.

    With ``synchronize`` (the default) each run waits for ``fn``'s result; without it only the
    time to *dispatch* the work is measured, which is how unsynchronised timings mislead.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r} must be >= 1")
    if warmup < 0:
        raise ValueError(f"warmup={warmup!r} must be >= 0")
    for _ in range(warmup):
        sync(fn())
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        if synchronize:
            sync(result)
        seconds.append(time.perf_counter() - start)
    if not synchronize:
        sync(result)  # do not leave queued work running into the caller's next measurement
    return Timing(tuple(seconds))


def time_once(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(result, seconds)`` of one synchronised call, e.g. a first call that includes compilation."""
    start = time.perf_counter()
    result = sync(fn())
    return result, time.perf_counter() - start


def compile_seconds(jitted: Callable, *args: Any, **kwargs: Any) -> tuple[Callable, float]:
    """Compile ``jitted`` ahead of time for these arguments' shapes: ``(compiled, seconds)``.

    ``jax.jit(f).lower(*args).compile()`` traces and compiles without running anything; the
    returned executable runs only on arguments of exactly those shapes and dtypes.
    """
    start = time.perf_counter()
    compiled = jitted.lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - start
