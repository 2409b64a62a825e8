"""The classification loss and the Optax transformation both Flax backends train with."""

from __future__ import annotations

import jax
import optax


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy with integer labels, as ``torch.nn.functional.cross_entropy``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def optax_transform(config) -> optax.GradientTransformation:
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
    raise ValueError(f"optimizer {config.optimizer!r} is unknown")  # the configs already reject it
