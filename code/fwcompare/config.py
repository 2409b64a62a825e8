"""Experiment settings as frozen dataclasses, and the build profile.

Every experiment in the book is one frozen dataclass instance passed explicitly to the
routines that run it; a variation is ``dataclasses.replace(config, field=value)``.
The build profile (``FWCOMPARE_PROFILE``) decides whether a chapter runs the real sizes
(``full``) or small real subsets for one epoch (``smoke``) so the whole book executes in
minutes on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

PROFILES = ("full", "smoke")
PROFILE_VARIABLE = "FWCOMPARE_PROFILE"

DATASET_NAMES = ("mnist", "fashion_mnist")
OPTIMIZERS = ("sgd", "adam", "adamw")

# Smoke profile: enough real examples that loss visibly falls, few enough that every
# chapter runs in seconds on two CPU cores.
SMOKE_TRAIN_EXAMPLES = 2048
SMOKE_TEST_EXAMPLES = 1000
SMOKE_EPOCHS = 1


def build_profile() -> str:
    """The profile this process builds with: ``FWCOMPARE_PROFILE``, default ``"full"``."""
    value = os.environ.get(PROFILE_VARIABLE, "").strip() or "full"
    if value not in PROFILES:
        raise ValueError(f"{PROFILE_VARIABLE}={value!r} is not a build profile; "
                         f"allowed: {', '.join(PROFILES)}")
    return value


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class MLPConfig:
    """A multilayer perceptron trained to classify 28x28 images into 10 classes.

    ``input_mean`` / ``input_std`` normalise pixels after scaling them to [0, 1];
    ``train_limit`` / ``test_limit`` keep only the first N examples (smoke profile).
    """

    dataset: str = "fashion_mnist"
    hidden: tuple[int, ...] = (128,)
    optimizer: str = "sgd"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 2
    seed: int = 0
    input_mean: float = 0.0
    input_std: float = 1.0
    train_limit: int | None = None
    test_limit: int | None = None

    def __post_init__(self) -> None:
        _require(self.dataset in DATASET_NAMES,
                 f"dataset={self.dataset!r} is unknown; allowed: {', '.join(DATASET_NAMES)}")
        _require(isinstance(self.hidden, tuple) and len(self.hidden) > 0
                 and all(isinstance(h, int) and h > 0 for h in self.hidden),
                 f"hidden={self.hidden!r} must be a non-empty tuple of positive ints, e.g. (128,)")
        _require(self.optimizer in OPTIMIZERS,
                 f"optimizer={self.optimizer!r} is unknown; allowed: {', '.join(OPTIMIZERS)}")
        _require(self.learning_rate > 0, f"learning_rate={self.learning_rate!r} must be > 0")
        _require(0 <= self.momentum < 1, f"momentum={self.momentum!r} must be in [0, 1)")
        _require(self.weight_decay >= 0, f"weight_decay={self.weight_decay!r} must be >= 0")
        _require(self.batch_size >= 1, f"batch_size={self.batch_size!r} must be >= 1")
        _require(self.epochs >= 1, f"epochs={self.epochs!r} must be >= 1")
        _require(self.input_std > 0, f"input_std={self.input_std!r} must be > 0")
        for name in ("train_limit", "test_limit"):
            limit = getattr(self, name)
            _require(limit is None or limit >= 1, f"{name}={limit!r} must be None or >= 1")


def for_profile(config: MLPConfig, profile: str | None = None) -> MLPConfig:
    """``config`` as the given build profile runs it (default: the current profile)."""
    profile = build_profile() if profile is None else profile
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is unknown; allowed: {', '.join(PROFILES)}")
    if profile == "full":
        return config
    return dataclasses.replace(
        config,
        epochs=min(config.epochs, SMOKE_EPOCHS),
        train_limit=min(config.train_limit or SMOKE_TRAIN_EXAMPLES, SMOKE_TRAIN_EXAMPLES),
        test_limit=min(config.test_limit or SMOKE_TEST_EXAMPLES, SMOKE_TEST_EXAMPLES),
    )


# The 784-128-10 network of "Exploring PyTorch and JAX", trained as that post does
# (SGD, learning rate 0.001, momentum 0.9, batch 64, 2 epochs) on pixels scaled to [0, 1].
FASHION_MLP = MLPConfig()
