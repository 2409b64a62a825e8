"""Training in both frameworks: the loss goes down, a seed reproduces a run exactly,
and evaluation counts correctly."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import torch

from fwcompare import config
from fwcompare.linen_impl import data as jax_data
from fwcompare.linen_impl import evaluate as jax_evaluate
from fwcompare.linen_impl import train as jax_train
from fwcompare.torch_impl import data as torch_data
from fwcompare.torch_impl import evaluate as torch_evaluate
from fwcompare.torch_impl import train as torch_train

# A small, fast run: 256 examples in batches of 32 for 3 epochs.
SMALL = dataclasses.replace(config.FASHION_MLP, hidden=(64,), learning_rate=0.05, batch_size=32, epochs=3)


def run_torch(cfg, images, labels):
    x, y = torch_data.to_device(images, labels, device="cpu")
    model, losses = torch_train.train(cfg, x, y)
    return losses, torch_evaluate.evaluate(model, x, y)


def run_jax(cfg, images, labels):
    x, y = jax_data.to_device(images, labels)
    state, losses = jax_train.train(cfg, x, y)
    return losses, jax_evaluate.evaluate(state, x, y)


RUNNERS = {"torch": run_torch, "jax": run_jax}


@pytest.mark.parametrize("framework", RUNNERS)
def test_loss_goes_down(framework, tiny_images):
    losses, metrics = RUNNERS[framework](SMALL, *tiny_images)
    assert losses.shape == (SMALL.epochs, 8)  # 256 examples / batch 32
    assert np.isfinite(losses).all()
    assert losses[0, 0] == pytest.approx(np.log(10), abs=0.3)  # an untrained net guesses uniformly
    assert losses[-1].mean() < 0.5 * losses[0].mean()
    assert metrics["accuracy"] > 0.9  # chance is 0.1; the classes are easy to tell apart


@pytest.mark.parametrize("framework", RUNNERS)
def test_same_seed_reproduces_the_run_exactly(framework, tiny_images):
    cfg = dataclasses.replace(SMALL, epochs=2)
    first_losses, first_metrics = RUNNERS[framework](cfg, *tiny_images)
    second_losses, second_metrics = RUNNERS[framework](cfg, *tiny_images)
    np.testing.assert_array_equal(first_losses, second_losses)
    assert first_metrics == second_metrics
    other_losses, _ = RUNNERS[framework](dataclasses.replace(cfg, seed=1), *tiny_images)
    assert not np.array_equal(first_losses, other_losses)


def test_torch_model_creation_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    from fwcompare.torch_impl.models import create_mlp

    create_mlp((16,), seed=7)
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.parametrize("framework", RUNNERS)
def test_evaluate_counts_a_partial_last_batch(framework, tiny_images):
    """Accuracy over 250 examples in batches of 100 equals accuracy computed in one batch."""
    images, labels = tiny_images[0][:250], tiny_images[1][:250]
    cfg = dataclasses.replace(SMALL, epochs=1)
    if framework == "torch":
        x, y = torch_data.to_device(images, labels, device="cpu")
        model, _ = torch_train.train(cfg, x, y)
        batched, whole = (torch_evaluate.evaluate(model, x, y, batch_size=b) for b in (100, 250))
    else:
        x, y = jax_data.to_device(images, labels)
        state, _ = jax_train.train(cfg, x, y)
        batched, whole = (jax_evaluate.evaluate(state, x, y, batch_size=b)
                          for b in (100, 250))
    assert batched["accuracy"] == whole["accuracy"]
    assert batched["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert batched["accuracy"] * 250 == round(batched["accuracy"] * 250)


def test_evaluate_rejects_a_bad_batch_size(tiny_images):
    x, y = torch_data.to_device(*tiny_images, device="cpu")
    model, _ = torch_train.train(dataclasses.replace(SMALL, epochs=1), x, y)
    with pytest.raises(ValueError, match="batch_size=0 must be >= 1"):
        torch_evaluate.evaluate(model, x, y, batch_size=0)
    xj, yj = jax_data.to_device(*tiny_images)
    state, _ = jax_train.train(dataclasses.replace(SMALL, epochs=1), xj, yj)
    with pytest.raises(ValueError, match="batch_size=0 must be >= 1"):
        jax_evaluate.evaluate(state, xj, yj, batch_size=0)


def test_scan_epoch_matches_the_per_step_epoch(tiny_images):
    """One compiled lax.scan over the batches computes what the Python loop of jitted steps does."""
    import jax
    import jax.numpy as jnp

    from fwcompare import datasets

    x, y = jax_data.to_device(*tiny_images)
    order = datasets.batch_order(len(x), SMALL.batch_size, SMALL.seed, 0, drop_last=True)
    looped, loop_losses = jax_train.train_epoch(jax_train.create_train_state(SMALL), x, y, order)
    scanned, scan_losses = jax_train.train_epoch_scan(jax_train.create_train_state(SMALL), x, y,
                                                      jnp.asarray(np.stack(order)))
    np.testing.assert_allclose(scan_losses, loop_losses, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(scanned.params), jax.tree.leaves(looped.params), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_compiled_step_matches_the_eager_step(tiny_images):
    """torch.compile changes how the step runs, not what it computes."""
    from fwcompare import datasets
    from fwcompare.torch_impl import models as torch_models

    x, y = torch_data.to_device(*tiny_images, device="cpu")
    order = datasets.batch_order(len(x), SMALL.batch_size, SMALL.seed, 0, drop_last=True)
    runs = []
    for compiled in (False, True):
        model = torch_models.model_for(SMALL)
        optimizer = torch_train.make_optimizer(SMALL, model)
        step = (torch_train.compiled_train_step(model, optimizer) if compiled
                else functools.partial(torch_train.train_step, model, optimizer))
        runs.append(torch.stack([step(xb, yb) for xb, yb in torch_data.iterate_batches(x, y, order)]))
    np.testing.assert_allclose(runs[1].numpy(), runs[0].numpy(), rtol=1e-5)
