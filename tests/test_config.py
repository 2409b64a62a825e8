"""Experiment configurations and the build profile."""

from __future__ import annotations

import dataclasses

import pytest

from fwcompare import config


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.FASHION_MLP.epochs = 5  # type: ignore[misc]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("dataset", "cifar10", r"dataset='cifar10' is unknown; allowed: mnist, fashion_mnist"),
    ("hidden", (), r"hidden=\(\) must be a non-empty tuple"),
    ("hidden", (128, 0), r"hidden=\(128, 0\) must be a non-empty tuple of positive ints"),
    ("optimizer", "rmsprop", r"optimizer='rmsprop' is unknown; allowed: sgd, adam, adamw"),
    ("learning_rate", 0.0, r"learning_rate=0.0 must be > 0"),
    ("momentum", 1.0, r"momentum=1.0 must be in \[0, 1\)"),
    ("weight_decay", -1e-4, r"weight_decay=-0.0001 must be >= 0"),
    ("batch_size", 0, r"batch_size=0 must be >= 1"),
    ("epochs", 0, r"epochs=0 must be >= 1"),
    ("input_std", 0.0, r"input_std=0.0 must be > 0"),
    ("train_limit", 0, r"train_limit=0 must be None or >= 1"),
])
def test_bad_settings_are_rejected_with_the_allowed_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(config.FASHION_MLP, **{field: value})


CONFIGS = {"MLPConfig": config.FASHION_MLP, "CNNConfig": config.MNIST_CNN,
           "PureMLPConfig": config.SLIDES_PURE_MLP}


@pytest.mark.parametrize(("name", "field", "value", "message"), [
    ("MLPConfig", "batch_size", "64", "batch_size='64' must be an int"),
    ("MLPConfig", "learning_rate", "0.1", r"learning_rate='0.1' must be a float \(or an int\)"),
    ("MLPConfig", "hidden", [128], r"hidden=\[128\] must be a tuple of ints"),
    ("MLPConfig", "hidden", (128, 64.0), r"hidden=\(128, 64.0\) must be a tuple of ints"),
    ("MLPConfig", "epochs", 2.0, "epochs=2.0 must be an int"),
    ("MLPConfig", "seed", True, "seed=True must be an int"),  # bool is an int to Python, not here
    ("MLPConfig", "train_limit", 1.5, "train_limit=1.5 must be an int or None"),
    ("MLPConfig", "dataset", None, "dataset=None must be a str"),
    ("CNNConfig", "val_fraction", "0.2", r"val_fraction='0.2' must be a float \(or an int\)"),
    ("CNNConfig", "batch_size", 64.0, "batch_size=64.0 must be an int"),
    ("CNNConfig", "test_limit", "10", "test_limit='10' must be an int or None"),
    ("PureMLPConfig", "sizes", [784, 10], r"sizes=\[784, 10\] must be a tuple of ints"),
    ("PureMLPConfig", "step_size", None, r"step_size=None must be a float \(or an int\)"),
    ("PureMLPConfig", "seed", False, "seed=False must be an int"),
])
def test_wrong_types_are_rejected_naming_the_field(name, field, value, message):
    with pytest.raises(TypeError, match=f"^{message}$"):
        dataclasses.replace(CONFIGS[name], **{field: value})


@pytest.mark.parametrize(("name", "field", "value"), [
    ("MLPConfig", "learning_rate", 1), ("MLPConfig", "weight_decay", 0), ("CNNConfig", "input_std", 2),
    ("PureMLPConfig", "step_size", 1), ("PureMLPConfig", "init_scale", 1),
])
def test_ints_are_accepted_for_float_fields(name, field, value):
    assert getattr(dataclasses.replace(CONFIGS[name], **{field: value}), field) == value


def test_type_is_checked_before_the_value():
    # "0" would fail the value check (>= 1) if it were compared at all; the type is the problem.
    with pytest.raises(TypeError, match="batch_size='0' must be an int"):
        dataclasses.replace(config.FASHION_MLP, batch_size="0")


@pytest.mark.parametrize(("value", "expected"), [(None, "full"), ("", "full"), ("full", "full"),
                                                 ("smoke", "smoke"), (" smoke ", "smoke")])
def test_build_profile_comes_from_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv(config.PROFILE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(config.PROFILE_VARIABLE, value)
    assert config.build_profile() == expected


def test_unknown_build_profile_is_rejected(monkeypatch):
    monkeypatch.setenv(config.PROFILE_VARIABLE, "fast")
    message = "FWCOMPARE_PROFILE='fast' is not a build profile; allowed: full, smoke"
    with pytest.raises(ValueError, match=message):
        config.build_profile()
    with pytest.raises(ValueError, match="profile='fast' is unknown"):
        config.for_profile(config.FASHION_MLP, "fast")


def test_full_profile_keeps_the_config_and_smoke_shrinks_it():
    assert config.for_profile(config.FASHION_MLP, "full") is config.FASHION_MLP
    smoke = config.for_profile(config.FASHION_MLP, "smoke")
    assert smoke.epochs == config.SMOKE_EPOCHS
    assert smoke.train_limit == config.SMOKE_TRAIN_EXAMPLES
    assert smoke.test_limit == config.SMOKE_TEST_EXAMPLES
    # everything that defines the experiment is unchanged
    assert dataclasses.replace(smoke, epochs=2, train_limit=None, test_limit=None) == config.FASHION_MLP


def test_smoke_never_enlarges_an_already_small_config():
    small = dataclasses.replace(config.FASHION_MLP, train_limit=100, test_limit=50)
    smoke = config.for_profile(small, "smoke")
    assert (smoke.train_limit, smoke.test_limit) == (100, 50)
