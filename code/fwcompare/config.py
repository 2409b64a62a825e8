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
# Weight initialisation: each framework's own default, or the other framework's scheme.
#   "torch": weights and biases uniform in +-1/sqrt(fan_in) (torch.nn.Linear / Conv2d default)
#   "flax":  LeCun normal weights (truncated normal, variance 1/fan_in), zero biases (Flax default)
INIT_SCHEMES = ("default", "torch", "flax")

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
    init_scheme: str = "default"
    train_limit: int | None = None
    test_limit: int | None = None

    architecture = "mlp"

    def __post_init__(self) -> None:
        _require(isinstance(self.hidden, tuple) and len(self.hidden) > 0
                 and all(isinstance(h, int) and h > 0 for h in self.hidden),
                 f"hidden={self.hidden!r} must be a non-empty tuple of positive ints, e.g. (128,)")
        _check_training_fields(self)


def _check_data_fields(cfg) -> None:
    """Checks shared by every experiment configuration: data, batches, schedule, subsets."""
    _require(cfg.dataset in DATASET_NAMES,
             f"dataset={cfg.dataset!r} is unknown; allowed: {', '.join(DATASET_NAMES)}")
    _require(cfg.batch_size >= 1, f"batch_size={cfg.batch_size!r} must be >= 1")
    _require(cfg.epochs >= 1, f"epochs={cfg.epochs!r} must be >= 1")
    _require(cfg.input_std > 0, f"input_std={cfg.input_std!r} must be > 0")
    for name in ("train_limit", "test_limit"):
        limit = getattr(cfg, name)
        _require(limit is None or limit >= 1, f"{name}={limit!r} must be None or >= 1")


def _check_training_fields(cfg) -> None:
    """Checks shared by the Flax/Optax and torch.optim experiments (MLPConfig, CNNConfig)."""
    _check_data_fields(cfg)
    _require(cfg.optimizer in OPTIMIZERS,
             f"optimizer={cfg.optimizer!r} is unknown; allowed: {', '.join(OPTIMIZERS)}")
    _require(cfg.learning_rate > 0, f"learning_rate={cfg.learning_rate!r} must be > 0")
    _require(0 <= cfg.momentum < 1, f"momentum={cfg.momentum!r} must be in [0, 1)")
    _require(cfg.weight_decay >= 0, f"weight_decay={cfg.weight_decay!r} must be >= 0")
    _require(cfg.init_scheme in INIT_SCHEMES,
             f"init_scheme={cfg.init_scheme!r} is unknown; allowed: {', '.join(INIT_SCHEMES)}")


@dataclass(frozen=True)
class CNNConfig:
    """The small convolutional network of "What are JAX and Flax?": conv32 3x3 - relu - avgpool 2 -
    conv64 3x3 - relu - avgpool 2 - dense256 - relu - dense10, with "same" padding.

    ``val_fraction`` of the training set is held out to choose the best epoch.
    """

    dataset: str = "mnist"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 10
    seed: int = 0
    val_fraction: float = 0.2
    input_mean: float = 0.0
    input_std: float = 1.0
    init_scheme: str = "default"
    train_limit: int | None = None
    test_limit: int | None = None

    architecture = "cnn"
    hidden = ()  # no hidden-width setting: the architecture is fixed

    def __post_init__(self) -> None:
        _check_training_fields(self)
        _require(0 < self.val_fraction < 1,
                 f"val_fraction={self.val_fraction!r} must be strictly between 0 and 1")


def for_profile(config: Config, profile: str | None = None) -> Config:
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


@dataclass(frozen=True)
class PureMLPConfig:
    """The hand-written JAX MLP of the JAX slides: parameters are a list of ``(w, b)`` pairs drawn
    from ``init_scale * normal``, predictions are log-softmax, the loss is the slides'
    ``-mean(log_probs * one_hot)``, plain SGD. As in the slides, batches are taken in file order
    (no shuffling) and pixels are fed unscaled (0..255: ``input_std=1/255``)."""

    dataset: str = "mnist"
    sizes: tuple[int, ...] = (784, 512, 512, 10)
    step_size: float = 0.01
    batch_size: int = 128
    epochs: int = 10
    seed: int = 0
    init_scale: float = 1e-2
    input_mean: float = 0.0
    input_std: float = 1 / 255
    train_limit: int | None = None
    test_limit: int | None = None

    def __post_init__(self) -> None:
        _check_data_fields(self)
        _require(len(self.sizes) >= 2 and all(isinstance(s, int) and s > 0 for s in self.sizes),
                 f"sizes={self.sizes!r} must be >= 2 positive ints, e.g. (784, 512, 512, 10)")
        _require(self.step_size > 0, f"step_size={self.step_size!r} must be > 0")
        _require(self.init_scale > 0, f"init_scale={self.init_scale!r} must be > 0")


Config = MLPConfig | CNNConfig | PureMLPConfig


# The 784-128-10 network of "Exploring PyTorch and JAX", trained as that post does
# (SGD, learning rate 0.001, momentum 0.9, batch 64, 2 epochs) on pixels scaled to [0, 1].
FASHION_MLP = MLPConfig()

# The CNN of "What are JAX and Flax?": MNIST, Adam 1e-3, batch 64, 10 epochs, 80/20 split.
MNIST_CNN = CNNConfig()

# The pure-JAX MLP of the JAX slides: 784-512-512-10, SGD step 0.01, batch 128, 10 epochs.
SLIDES_PURE_MLP = PureMLPConfig()
