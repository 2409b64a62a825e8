"""PyTorch training replayed from CUDA graphs: one step at a time, or a whole epoch at once.

A CUDA graph is a recorded sequence of kernel launches that the GPU replays from one host call,
so the Python and launch work of every kernel is paid once, at recording. That is PyTorch's
answer to the per-step overhead JAX removes with ``jax.jit`` (one step) and ``lax.scan`` (one
epoch):

* ``reduce_overhead_train_step``: ``torch.compile(mode="reduce-overhead")`` compiles forward and
  loss (and, through AOTAutograd, the backward) and replays each as a CUDA graph; the host
  still calls once per step.
* ``EpochGraph``: the steps of a whole epoch (gather the batch on the device, forward, loss,
  backward, fused optimiser update) recorded into one graph with ``torch.cuda.graph``; the
  host calls once per epoch, as ``lax.scan`` lets JAX do. This is possible because every
  step has the same shapes (full batches only) and the batch order is an index tensor on the
  device that each epoch overwrites before the replay.

Both need a CUDA device to record graphs. Without one, ``EpochGraph(capture=False)`` runs the
same steps eagerly (warm-up and reset included), which is how the tests check its arithmetic
on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from fwcompare.torch_impl.train import cross_entropy


def capturable(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """``optimizer`` set to keep its step counters on the device, as graph capture requires.

    Adam and AdamW count steps for their bias correction; a graph cannot read a counter kept
    on the host, so ``capturable`` puts it on the device. SGD keeps no counter (no such flag).
    """
    for group in optimizer.param_groups:
        if "capturable" in group:
            group["capturable"] = True
    return optimizer


def reduce_overhead_train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                               ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A training step whose forward, loss and backward run as CUDA graphs
    (``torch.compile(mode="reduce-overhead")``); the fused optimiser update stays eager.

    The graphs' outputs live in memory that the next replay overwrites, so the loss is
    copied out (``clone``) before the step returns, and each step tells the compiler that a
    new iteration begins (``cudagraph_mark_step_begin``).
    """
    compiled_loss = torch.compile(lambda x, y: cross_entropy(model(x), y), mode="reduce-overhead")

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        torch.compiler.cudagraph_mark_step_begin()
        optimizer.zero_grad(set_to_none=True)
        loss = compiled_loss(x, y)
        loss.backward()
        optimizer.step()
        return loss.detach().clone()

    return step


class EpochGraph:
    """A whole epoch of training steps recorded once as a CUDA graph, replayed each epoch.

    ``x``, ``y``: the training set on the device; ``steps`` batches of ``batch_size`` indices
    per epoch. Call with an epoch's index batches (``datasets.batch_order(..., drop_last=True)``);
    returns its per-step losses ``(steps,)``.

    Recording needs the optimiser's state to exist, so one step is taken first (on a side
    stream, as PyTorch's capture rules ask), then the weights and the optimiser's state are
    put back as they were: the first recorded epoch starts from the initial weights, like
    every other routine's. ``capture=False`` (the default without CUDA) runs the same steps
    eagerly instead of replaying them.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                 y: torch.Tensor, steps: int, batch_size: int, capture: bool | None = None):
        if steps < 1 or batch_size < 1:
            raise ValueError(f"steps={steps!r} and batch_size={batch_size!r} must be >= 1")
        self.capture = x.is_cuda if capture is None else capture
        if self.capture and not x.is_cuda:
            raise ValueError("capture=True records a CUDA graph: x and y must be on a CUDA device")
        self.model, self.optimizer = model, capturable(optimizer) if self.capture else optimizer
        self.x, self.y = x, y
        self.batches = torch.zeros((steps, batch_size), dtype=torch.long, device=x.device)
        self.losses = torch.zeros(steps, device=x.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warmed_up = False

    def _steps(self) -> None:
        """The epoch's work, as recorded: every step reads its batch from ``self.batches``."""
        for i in range(self.batches.shape[0]):
            index = self.batches[i]
            self.optimizer.zero_grad(set_to_none=True)
            loss = cross_entropy(self.model(self.x[index]), self.y[index])
            loss.backward()
            self.optimizer.step()
            self.losses[i].copy_(loss.detach())

    def _warm_up(self) -> None:
        """One step to create the optimiser's state, then weights and state put back."""
        weights = [p.detach().clone() for p in self.model.parameters()]
        index = self.batches[0]
        self.optimizer.zero_grad(set_to_none=True)
        cross_entropy(self.model(self.x[index]), self.y[index]).backward()
        self.optimizer.step()
        with torch.no_grad():
            for parameter, weight in zip(self.model.parameters(), weights, strict=True):
                parameter.copy_(weight)
            # Fresh state: SGD's momentum (no dampening) and Adam's moments and step count start
            # at zero, and a zero buffer gives the first update exactly as a missing one does.
            for state in self.optimizer.state.values():
                for value in state.values():
                    if isinstance(value, torch.Tensor):
                        value.zero_()
        self.optimizer.zero_grad(set_to_none=True)
        self.warmed_up = True

    def _record(self) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._warm_up()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: only this thread's unsafe CUDA calls break the capture, not the work
        # other threads of the process (JAX's runtime, data loaders) may be doing meanwhile.
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self._steps()

    def __call__(self, order: Sequence[np.ndarray]) -> torch.Tensor:
        batches = torch.from_numpy(np.stack(order))
        if batches.shape != self.batches.shape:
            raise ValueError(f"order has shape {tuple(batches.shape)}; this graph was recorded "
                             f"for {tuple(self.batches.shape)} (steps, batch_size)")
        self.batches.copy_(batches)
        self.model.train()
        if not self.capture:
            if not self.warmed_up:
                self._warm_up()
            self._steps()
        else:
            if self.graph is None:
                self._record()
            self.graph.replay()
        return self.losses.clone()
