"""Evaluation in Flax Linen: mean loss and accuracy over a dataset, in compiled batches."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

__all__ = ["evaluate"]


@jax.jit(static_argnums=0)
def _batch_sums(apply_fn: Callable, params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    logits = apply_fn({"params": params}, x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()
    return loss, (logits.argmax(axis=1) == y).sum()


def evaluate(model, x: jax.Array, y: jax.Array, batch_size: int = 1000) -> dict[str, float]:
    """``{"loss": mean cross-entropy, "accuracy": fraction correct}`` of ``model`` on ``x``, ``y``.

    ``model`` is a ``LinenModel`` or a ``TrainState``: anything with the module's ``apply_fn``
    and its ``params``. ``apply_fn`` is a static argument of the compiled batch, so the
    evaluation compiles once per model and batch shape. Linen modules have no train/eval
    mode of their own: a module with dropout or batch norm takes the mode as an argument.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be >= 1")
    total_loss, correct = jnp.zeros(()), jnp.zeros((), jnp.int32)
    for start in range(0, len(x), batch_size):
        loss, hits = _batch_sums(model.apply_fn, model.params, x[start:start + batch_size],
                                 y[start:start + batch_size])
        total_loss, correct = total_loss + loss, correct + hits
    return {"loss": float(total_loss) / len(x), "accuracy": int(correct) / len(x)}
