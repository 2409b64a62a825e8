"""The tiny network of "An introduction to JAX", written by hand and then as a module, in PyTorch.

The same functions as ``fwcompare.jax_common.tiny``: a network is a list of ``(in, out)``
kernels without biases, ReLU between layers, a sigmoid at the end. PyTorch records
operations on tensors that require gradients and differentiates the recording, so the
gradient functions here mark copies of the kernels as leaves instead of transforming a function.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Added inside the logarithms of the naive loss so that a probability of exactly 0 or 1
# gives a large finite loss instead of inf (the post's choice).
EPS = 1e-8

__all__ = ["EPS", "Net", "binary_cross_entropy", "binary_cross_entropy_with_logits", "check_layers",
           "layer_gradients", "loss_fn", "loss_second_derivative", "predict", "predict_logits",
           "stable_loss_fn", "update_step"]


def check_layers(layers: Sequence[torch.Tensor]) -> None:
    """Reject a layer list that cannot be chained: empty, not 2-D, or mismatched shapes."""
    if len(layers) == 0:
        raise ValueError("layers is empty: pass at least one (in, out) kernel")
    for index, kernel in enumerate(layers):
        if kernel.ndim != 2:
            raise ValueError(f"layers[{index}] must be a 2-D (in, out) kernel, "
                             f"got shape {tuple(kernel.shape)}")
    for index in range(1, len(layers)):
        fan_out, fan_in = layers[index - 1].shape[1], layers[index].shape[0]
        if fan_out != fan_in:
            raise ValueError(f"layers[{index}] has {fan_in} input rows but layers[{index - 1}] "
                             f"has {fan_out} output columns; they must be equal")


def _check_input(x: torch.Tensor, layers: Sequence[torch.Tensor]) -> None:
    check_layers(layers)
    fan_in = layers[0].shape[0]
    if x.ndim == 0 or x.shape[-1] != fan_in:
        raise ValueError(f"x has shape {tuple(x.shape)} but layers[0] expects {fan_in} features "
                         f"in its last axis")


def _check_target(target: torch.Tensor, prediction: torch.Tensor) -> None:
    # Without this check a (batch,) target broadcasts against a (batch, 1) prediction into a
    # (batch, batch) grid and the loss quietly averages the wrong pairs.
    if target.shape != prediction.shape:
        raise ValueError(f"target has shape {tuple(target.shape)} but the prediction has shape "
                         f"{tuple(prediction.shape)}; they must be equal (reshape the target)")


def _check_learning_rate(learning_rate: float) -> None:
    if not learning_rate > 0:
        raise ValueError(f"learning_rate={learning_rate!r} must be > 0")


def predict_logits(x: torch.Tensor, layers: Sequence[torch.Tensor]) -> torch.Tensor:
    """The network's output before the final sigmoid: ``(batch, in) -> (batch, out)``.

    Also accepts one example of shape ``(in,)``, which is what ``torch.func.vmap`` passes.
    """
    _check_input(x, layers)
    for kernel in layers[:-1]:
        x = torch.relu(x @ kernel)  # (batch, fan_in) @ (fan_in, fan_out) -> (batch, fan_out)
    return x @ layers[-1]  # (batch, out)


def predict(x: torch.Tensor, layers: Sequence[torch.Tensor]) -> torch.Tensor:
    """Probabilities: matmul and ReLU per hidden layer, a sigmoid at the end. ``(batch, out)``."""
    return torch.sigmoid(predict_logits(x, layers))


def binary_cross_entropy(probs: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Mean binary cross-entropy of probabilities, written as the formula reads (the naive form).

    Once a sigmoid has rounded to exactly 0 or 1 the information is gone: with ``eps`` the
    loss is capped near ``-log(eps)`` and its gradient is zero; with ``eps=0`` it is inf.
    (``F.binary_cross_entropy`` instead clamps each log at -100.)
    """
    _check_target(target, probs)
    log_p = torch.log(probs + eps)
    log_not_p = torch.log(1 - probs + eps)
    return -torch.mean(target * log_p + (1 - target) * log_not_p)


def binary_cross_entropy_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy computed from pre-sigmoid values: the numerically stable form."""
    _check_target(target, logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def loss_fn(x: torch.Tensor, target: torch.Tensor, layers: Sequence[torch.Tensor]) -> torch.Tensor:
    """The post's loss: naive binary cross-entropy of the network's probabilities."""
    return binary_cross_entropy(predict(x, layers), target)


def stable_loss_fn(x: torch.Tensor, target: torch.Tensor, layers: Sequence[torch.Tensor]) -> torch.Tensor:
    """The same loss from the logits, stable for confident predictions."""
    return binary_cross_entropy_with_logits(predict_logits(x, layers), target)


def layer_gradients(x: torch.Tensor, target: torch.Tensor,
                    layers: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """d loss_fn / d layers: a list shaped like ``layers``.

    Autograd differentiates with respect to the tensors marked ``requires_grad``. Marking
    detached copies (which share memory) and asking ``torch.autograd.grad`` for their gradients
    leaves the caller's tensors and their ``.grad`` untouched.
    """
    leaves = [kernel.detach().requires_grad_(True) for kernel in layers]
    loss = loss_fn(x, target, leaves)
    return list(torch.autograd.grad(loss, leaves))


def update_step(x: torch.Tensor, target: torch.Tensor, layers: Sequence[torch.Tensor],
                learning_rate: float) -> list[torch.Tensor]:
    """One step of plain SGD. Returns new tensors; the caller's layers are left as they were.

    Idiomatic PyTorch would update leaf tensors in place (``kernel -= lr * kernel.grad`` under
    ``torch.no_grad()``, or ``torch.optim.SGD``), as ``torch_impl.train`` does. Returning new
    tensors here keeps the function call-for-call comparable with the pure JAX version.
    """
    _check_learning_rate(learning_rate)
    grads = layer_gradients(x, target, layers)
    return [kernel.detach() - learning_rate * grad for kernel, grad in zip(layers, grads, strict=True)]


def loss_second_derivative(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d^2 loss / d logit^2 for one logit, by differentiating the first derivative again.

    ``create_graph=True`` records the backward pass itself, so that it can be differentiated;
    the exact answer is ``sigmoid(logit) * (1 - sigmoid(logit))``.
    """
    z = logit.detach().requires_grad_(True)
    loss = binary_cross_entropy_with_logits(z, target)
    (first,) = torch.autograd.grad(loss, z, create_graph=True)
    (second,) = torch.autograd.grad(first, z)
    return second


class Net(nn.Module):
    """The network as a module: Linear(hidden) -> relu -> Linear(1) -> sigmoid.

    Unlike Flax Linen, PyTorch creates the weights in the constructor, so it
    needs ``in_features`` up front (``nn.LazyLinear`` would infer it from the
    first input instead).
    """

    def __init__(self, hidden: int = 4, in_features: int = 2):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.hidden(x))  # (batch, in) -> (batch, hidden)
        return torch.sigmoid(self.out(x))  # (batch, 1)
