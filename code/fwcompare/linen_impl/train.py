"""Training in Flax Linen: a pure, compiled step that maps (state, batch) to a new state."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from fwcompare import datasets
from fwcompare.checks import check_finite_loss, check_labels
from fwcompare.config import Config
from fwcompare.history import History
from fwcompare.jax_common.data import iterate_batches
from fwcompare.jax_common.losses import cross_entropy, optax_transform
from fwcompare.linen_impl.evaluate import evaluate
from fwcompare.linen_impl.models import NUM_CLASSES, model_for
from fwcompare.progress import bar as progress_bar
from fwcompare.timing import sync

__all__ = ["create_train_state", "cross_entropy", "fit", "make_optimizer", "train", "train_epoch",
           "train_epoch_scan", "train_step"]


def make_optimizer(config: Config) -> optax.GradientTransformation:
    """The Optax transformation for ``config`` (the same hyperparameters as ``torch_impl``'s).

    Unlike ``torch.optim`` and ``nnx.Optimizer`` it holds no parameters: ``create_train_state``
    pairs it with them, and ``state.apply_gradients`` applies it.
    """
    return optax_transform(config)


def create_train_state(config: Config) -> TrainState:
    """Model function, parameters and optimiser state in one immutable pytree."""
    module, params = model_for(config)
    return TrainState.create(apply_fn=module.apply, params=params, tx=make_optimizer(config))


@jax.jit
def train_step(state: TrainState, x: jax.Array, y: jax.Array,
               ) -> tuple[TrainState, jax.Array]:
    """One update: returns the new state and the batch loss. Compiled once per batch shape."""

    def loss_fn(params):
        return cross_entropy(state.apply_fn({"params": params}, x), y)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


@functools.partial(jax.jit, donate_argnums=0)
def train_epoch_scan(state: TrainState, x: jax.Array, y: jax.Array, batches: jax.Array,
                     ) -> tuple[TrainState, jax.Array]:
    """A whole epoch as one compiled program: ``lax.scan`` of ``train_step`` over index batches.

    ``batches`` is ``(steps, batch_size)`` indices into ``x``, ``y`` (equal-sized batches: use
    ``datasets.batch_order(..., drop_last=True)``). Python dispatches once per epoch instead
    of once per step, and XLA sees the gather, forward, backward and update of every step at
    once. The input state is donated: its buffers are reused for the new one, so it must not
    be used after the call.
    """

    def body(state, index):  # index: (batch_size,)
        return train_step(state, x[index], y[index])  # traced into the epoch's program

    return jax.lax.scan(body, state, batches)


def train_epoch(state: TrainState, x: jax.Array, y: jax.Array, order: Sequence[np.ndarray],
                ) -> tuple[TrainState, jax.Array]:
    """One pass over the batches ``order`` lists; returns the new state and per-step losses."""
    losses = []
    for xb, yb in iterate_batches(x, y, order):
        state, loss = train_step(state, xb, yb)
        losses.append(loss)
    return state, jnp.stack(losses)


def train(config: Config, x: jax.Array, y: jax.Array, state: TrainState | None = None,
          ) -> tuple[TrainState, np.ndarray]:
    """Train for ``config.epochs`` on device arrays ``x``, ``y`` in the shared batch order.

    Returns the final state and the per-step losses, shape ``(epochs, steps_per_epoch)``.
    Labels outside ``[0, 10)`` are rejected before any step (``ValueError``): JAX would train
    on them silently, ``one_hot`` of an out-of-range label being a row of zeros. An epoch whose
    mean loss is inf or NaN raises ``NonFiniteLossError``.
    """
    check_labels(y, NUM_CLASSES)
    state = create_train_state(config) if state is None else state
    losses = []
    for epoch in range(config.epochs):
        order = datasets.batch_order(len(x), config.batch_size, config.seed, epoch)
        state, epoch_losses = train_epoch(state, x, y, order)
        # Steps are dispatched asynchronously; reading the mean waits for them, once per epoch.
        check_finite_loss(float(epoch_losses.mean()), epoch, config.learning_rate)
        losses.append(epoch_losses)
    return state, np.asarray(jnp.stack(losses))


def fit(config: Config, train_data: tuple[jax.Array, jax.Array], val_data: tuple[jax.Array, jax.Array],
        state: TrainState | None = None, progress: bool = False) -> tuple[TrainState, History]:
    """Train, evaluate on the validation set after every epoch, and return the best state.

    Parameters are immutable arrays, so keeping the best epoch's is just keeping a reference:
    later updates create new arrays and cannot change it. Bad labels (training or validation)
    are rejected before any step; a diverging epoch raises ``NonFiniteLossError``.
    """
    x, y = train_data
    check_labels(y, NUM_CLASSES)
    check_labels(val_data[1], NUM_CLASSES)
    state = create_train_state(config) if state is None else state
    records, best_state, best_loss = [], state, float("inf")
    epochs = range(config.epochs)
    if progress:  # a text bar, one step per epoch (fwcompare.progress)
        epochs = progress_bar(epochs, desc="Linen epochs")
    for epoch in epochs:
        start = time.perf_counter()
        order = datasets.batch_order(len(x), config.batch_size, config.seed, epoch)
        state, losses = train_epoch(state, x, y, order)
        train_loss = float(sync(losses).mean())
        seconds = time.perf_counter() - start
        check_finite_loss(train_loss, epoch, config.learning_rate)
        metrics = evaluate(state, *val_data)
        check_finite_loss(metrics["loss"], epoch, config.learning_rate, what="validation loss")
        records.append((train_loss, metrics["loss"], metrics["accuracy"], seconds))
        if metrics["loss"] < best_loss:
            best_loss, best_state = metrics["loss"], state
    return best_state, History(*(np.array(column) for column in zip(*records, strict=True)))
