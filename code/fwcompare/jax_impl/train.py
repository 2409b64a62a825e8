"""Training in JAX: a pure, compiled step that maps (state, batch) to a new state."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from fwcompare import datasets
from fwcompare.config import MLPConfig
from fwcompare.jax_impl.data import iterate_batches
from fwcompare.jax_impl.models import create_mlp


def make_optimizer(config: MLPConfig) -> optax.GradientTransformation:
    """The Optax transformation matching ``torch_impl.train.make_optimizer`` for ``config``.

    PyTorch's SGD and Adam add ``weight_decay * param`` to the gradient (L2 penalty), so that
    is chained in front; AdamW decouples the decay, as ``optax.adamw`` does.
    """
    l2 = [optax.add_decayed_weights(config.weight_decay)] if config.weight_decay else []
    if config.optimizer == "sgd":
        momentum = config.momentum or None  # optax: None means plain SGD
        return optax.chain(*l2, optax.sgd(config.learning_rate, momentum=momentum))
    if config.optimizer == "adam":
        return optax.chain(*l2, optax.adam(config.learning_rate))
    if config.optimizer == "adamw":
        return optax.adamw(config.learning_rate, weight_decay=config.weight_decay)
    raise ValueError(f"optimizer {config.optimizer!r} is unknown")  # MLPConfig already rejects it


def create_train_state(config: MLPConfig) -> TrainState:
    """Model function, parameters and optimiser state in one immutable pytree."""
    model, params = create_mlp(config.hidden, config.seed)
    return TrainState.create(apply_fn=model.apply, params=params, tx=make_optimizer(config))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy with integer labels, as ``torch.nn.functional.cross_entropy``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@jax.jit
def train_step(state: TrainState, x: jax.Array, y: jax.Array,
               ) -> tuple[TrainState, jax.Array]:
    """One update: returns the new state and the batch loss. Compiled once per batch shape."""

    def loss_fn(params):
        return cross_entropy(state.apply_fn({"params": params}, x), y)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


def train(config: MLPConfig, x: jax.Array, y: jax.Array, state: TrainState | None = None,
          ) -> tuple[TrainState, np.ndarray]:
    """Train for ``config.epochs`` on device arrays ``x``, ``y`` in the shared batch order.

    Returns the final state and the per-step losses, shape ``(epochs, steps_per_epoch)``.
    """
    if state is None:
        state = create_train_state(config)
    losses = []
    for epoch in range(config.epochs):
        order = datasets.batch_order(len(x), config.batch_size, config.seed, epoch)
        for xb, yb in iterate_batches(x, y, order):
            state, loss = train_step(state, xb, yb)
            losses.append(loss)
    # Steps were dispatched asynchronously; stacking waits for them once, at the end.
    return state, np.asarray(jnp.stack(losses)).reshape(config.epochs, -1)
