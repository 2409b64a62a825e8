"""Training in Flax NNX: the model and its ``nnx.Optimizer`` are updated in place, as in PyTorch,
by a compiled step.

Three ways to run the same step, from the most convenient to the fastest: ``train_step`` is a
plain ``nnx.jit`` function of the modules; ``compiled_train_step`` binds the modules once with
``nnx.cached_partial``, so that each call only passes arrays; ``train_epoch_scan`` splits the
modules into arrays and compiles a whole epoch as one ``jax.lax.scan``. All three give the same
weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fwcompare import datasets
from fwcompare.checks import check_finite_loss, check_labels
from fwcompare.config import Config
from fwcompare.history import History
from fwcompare.jax_common.data import iterate_batches
from fwcompare.jax_common.losses import cross_entropy, optax_transform
from fwcompare.nnx_impl.evaluate import evaluate
from fwcompare.nnx_impl.models import NUM_CLASSES, model_for
from fwcompare.progress import bar as progress_bar
from fwcompare.timing import sync

__all__ = ["compiled_train_step", "cross_entropy", "fit", "make_optimizer", "train", "train_epoch",
           "train_epoch_scan", "train_step"]


def make_optimizer(config: Config, model: nnx.Module) -> nnx.Optimizer:
    """An ``nnx.Optimizer`` over ``model``'s ``nnx.Param`` weights, with the Optax transformation
    (and so the hyperparameters) of the other backends.

    Like ``torch.optim`` it holds the optimiser state (momenta, step count); unlike it, it does
    not keep the model (Flax 0.11 on): ``optimizer.update(model, grads)`` is told which model to
    update. ``wrt=nnx.Param`` says which variables it trains; it must match what the gradient
    is taken of (``nnx.value_and_grad`` differentiates the ``nnx.Param`` variables by default).
    """
    return nnx.Optimizer(model, optax_transform(config), wrt=nnx.Param)


@nnx.jit
def train_step(model: nnx.Module, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    """One update of ``model`` and ``optimizer`` in place; returns the batch loss (not waited for).

    ``nnx.jit`` compiles the step once per batch shape and lets it take and mutate modules: on
    each call it splits them into their structure and their arrays, runs the compiled function
    on the arrays, and writes the new arrays back into the modules' variables. That walk over
    the modules is Python work on every call; ``compiled_train_step`` does it once instead.
    """

    def loss_fn(model):
        return cross_entropy(model(x), y)

    loss, grads = nnx.value_and_grad(loss_fn)(model)  # grads: an nnx.State shaped like the Params
    optimizer.update(model, grads)  # new weights and optimiser state, written in place
    return loss


def compiled_train_step(model: nnx.Module, optimizer: nnx.Optimizer,
                        ) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``train_step`` with ``model`` and ``optimizer`` bound: ``step(x, y) -> loss``, the same update
    with less Python per call. Flax's performance guide recommends it for steps called many times.

    Why it is faster: before every call, ``nnx.jit`` traverses the model and optimiser graph in
    Python (every module and variable) to build the structure that keys its compilation cache
    and to collect the arrays to pass, checks for shared references, and afterwards traverses
    it again to write the results back. ``nnx.cached_partial`` does that traversal once, here:
    it caches the structure and the list of variables, so a call only hands their arrays to
    the compiled step and puts the new ones back into the same variables.

    Why not the guide's other remedy, ``nnx.split``/``nnx.merge`` around a plain ``jax.jit``
    (used by ``train_epoch_scan``): there the arrays live outside the modules between steps and
    must be put back with ``nnx.update``. With ``cached_partial`` the modules are still updated
    in place after every call, like PyTorch's, so evaluating or saving the model needs no extra
    step. The price: the modules' structure must not change between calls (``cached_partial``
    raises if it does), and it needs NNX's graph mode, the default of ``nnx.jit`` in Flax 0.12.
    """
    return nnx.cached_partial(train_step, model, optimizer)


def _training_view(model: nnx.Module) -> nnx.Module:
    """``model`` in training mode (dropout on, batch statistics updated): an ``nnx.view`` sharing its
    variables, so training it trains ``model`` and ``model``'s own mode is left as it was."""
    return nnx.view(model, deterministic=False, use_running_average=False, raise_if_not_found=False)


def train_epoch(model: nnx.Module, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array,
                order: Sequence[np.ndarray]) -> jax.Array:
    """One pass over the batches ``order`` lists, in training mode; returns the per-step losses ``(steps,)``.

    Uses the fast step (``compiled_train_step``); the model is updated in place.
    """
    step = compiled_train_step(_training_view(model), optimizer)
    return jnp.stack([step(xb, yb) for xb, yb in iterate_batches(x, y, order)])


@jax.jit
def _scan_epoch(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array, y: jax.Array,
                batches: jax.Array) -> tuple[nnx.State, jax.Array]:
    def body(state, index):  # state: the arrays of (model, optimizer); index: (batch_size,)
        model, optimizer = nnx.merge(graphdef, state)  # modules again, inside the trace
        loss = train_step(model, optimizer, x[index], y[index])  # traced into the epoch's program
        return nnx.state((model, optimizer)), loss

    return jax.lax.scan(body, state, batches)


def train_epoch_scan(model: nnx.Module, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array,
                     batches: jax.Array) -> jax.Array:
    """A whole epoch as one compiled program: ``lax.scan`` of ``train_step`` over index batches.

    ``batches`` is ``(steps, batch_size)`` indices into ``x``, ``y`` (equal-sized batches: use
    ``datasets.batch_order(..., drop_last=True)``). ``lax.scan`` carries a pytree of arrays, not
    modules, so ``nnx.split`` turns model and optimiser into their structure (``graphdef``,
    static) and their arrays (``state``); the scanned body ``nnx.merge``s them back into
    modules, runs the ordinary step and returns the new arrays (the Flax guide's functional
    loop). ``nnx.update`` then writes the last step's arrays into the modules, in place.

    Unlike Linen's ``train_epoch_scan`` the state is not donated: the modules' variables still
    hold those very buffers (as may an ``nnx.clone`` of the model, which shares them), so
    donating them would delete arrays that the caller can still reach.
    """
    graphdef, state = nnx.split((_training_view(model), optimizer))
    state, losses = _scan_epoch(graphdef, state, x, y, jnp.asarray(batches))
    nnx.update((model, optimizer), state)
    return losses  # (steps,)


def train(config: Config, x: jax.Array, y: jax.Array, model: nnx.Module | None = None,
          ) -> tuple[nnx.Module, np.ndarray]:
    """Train for ``config.epochs`` on device arrays ``x``, ``y`` in the shared batch order.

    Returns the model (trained in place) and the per-step losses, shape ``(epochs, steps_per_epoch)``.
    """
    check_labels(y, NUM_CLASSES)
    model = model_for(config) if model is None else model
    optimizer = make_optimizer(config, model)
    losses = []
    for epoch in range(config.epochs):
        order = datasets.batch_order(len(x), config.batch_size, config.seed, epoch)
        epoch_losses = train_epoch(model, optimizer, x, y, order)
        # float() waits for the epoch's steps: the price of stopping a diverged run at once.
        check_finite_loss(float(epoch_losses.mean()), epoch, config.learning_rate)
        losses.append(epoch_losses)
    return model, np.asarray(jnp.stack(losses))


def fit(config: Config, train_data: tuple[jax.Array, jax.Array], val_data: tuple[jax.Array, jax.Array],
        model: nnx.Module | None = None, progress: bool = False) -> tuple[nnx.Module, History]:
    """Train, evaluate on the validation set after every epoch, and return the model holding the
    best epoch's weights.

    The model is updated in place, so the best weights must be *copied* when they are seen, as
    PyTorch's ``fit`` deep-copies its state dict. Keeping ``nnx.state(model)`` would not do: its
    variables are the model's own objects and the next update overwrites them. The copy is a
    new state with copied arrays; ``nnx.update`` puts it back at the end.
    """
    x, y = train_data
    check_labels(y, NUM_CLASSES)
    check_labels(val_data[1], NUM_CLASSES)
    model = model_for(config) if model is None else model
    optimizer = make_optimizer(config, model)
    records, best_state, best_loss = [], None, float("inf")
    epochs = range(config.epochs)
    if progress:  # a text bar, one step per epoch (fwcompare.progress)
        epochs = progress_bar(epochs, desc="NNX epochs")
    for epoch in epochs:
        start = time.perf_counter()
        order = datasets.batch_order(len(x), config.batch_size, config.seed, epoch)
        train_loss = float(sync(train_epoch(model, optimizer, x, y, order)).mean())
        seconds = time.perf_counter() - start
        check_finite_loss(train_loss, epoch, config.learning_rate)
        metrics = evaluate(model, *val_data)
        check_finite_loss(metrics["loss"], epoch, config.learning_rate, what="validation loss")
        records.append((train_loss, metrics["loss"], metrics["accuracy"], seconds))
        if metrics["loss"] < best_loss:
            best_loss, best_state = metrics["loss"], jax.tree.map(jnp.copy, nnx.state(model))
    nnx.update(model, best_state)
    return model, History(*(np.array(column) for column in zip(*records, strict=True)))
