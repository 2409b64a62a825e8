"""Evaluation in Flax NNX: mean loss and accuracy over a dataset, in compiled batches, in eval mode."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

__all__ = ["evaluate"]


@jax.jit
def _batch_sums(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array, y: jax.Array,
                ) -> tuple[jax.Array, jax.Array]:
    model = nnx.merge(graphdef, state)  # rebuilt at trace time only: the compiled batch sees arrays
    logits = model(x)  # (batch, classes)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()
    return loss, (logits.argmax(axis=1) == y).sum()


def evaluate(model: nnx.Module, x: jax.Array, y: jax.Array, batch_size: int = 1000) -> dict[str, float]:
    """``{"loss": mean cross-entropy, "accuracy": fraction correct}`` of ``model`` on ``x``, ``y``.

    Evaluation runs in eval mode (dropout off, batch norm on its running averages) on an
    ``nnx.view`` of the model: a second module sharing the same weights with those flags set,
    which is what Flax 0.12 recommends over switching the model itself with ``model.eval()``.
    The caller's model is never switched, so its mode is as it was afterwards, as
    ``torch_impl.evaluate`` restores PyTorch's. The view is split once into its structure
    (``graphdef``, static) and its arrays (``state``), so each batch is one ``jax.jit`` call on
    arrays, compiled once per batch shape, without NNX walking the module again per batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be >= 1")
    eval_model = nnx.view(model, deterministic=True, use_running_average=True, raise_if_not_found=False)
    graphdef, state = nnx.split(eval_model)
    total_loss, correct = jnp.zeros(()), jnp.zeros((), jnp.int32)
    for start in range(0, len(x), batch_size):
        loss, hits = _batch_sums(graphdef, state, x[start:start + batch_size], y[start:start + batch_size])
        total_loss, correct = total_loss + loss, correct + hits
    return {"loss": float(total_loss) / len(x), "accuracy": int(correct) / len(x)}
