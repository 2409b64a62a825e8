"""The tiny network of "An introduction to JAX": the post's numbers, parity of the PyTorch and
JAX versions, the stable loss, second derivatives, and bad input rejected."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from fwcompare.linen_impl import models as jax_models
from fwcompare.linen_impl import tiny as jax_tiny
from fwcompare.torch_impl import models as torch_models
from fwcompare.torch_impl import tiny as torch_tiny

# The post's input and kernels, and the probabilities it printed for them.
POST_INPUT = [[2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]
POST_KERNELS = [[[9.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]], [[1.0], [-10.0], [0.1], [2.0]]]
POST_PREDICTION = [[0.785835], [0.81757444], [0.8455348]]

TOL = {"rtol": 1e-5, "atol": 1e-6}


def jax_layers(kernels):
    return [jnp.asarray(k, dtype=jnp.float32) for k in kernels]


def torch_layers(kernels):
    return [torch.tensor(np.asarray(k), dtype=torch.float32) for k in kernels]


def tiny_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


@pytest.fixture
def random_problem():
    """A 5-example, 3 -> 6 -> 4 -> 1 problem with 0/1 targets, as NumPy float32 arrays."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    kernels = [rng.normal(size=shape).astype(np.float32) for shape in [(3, 6), (6, 4), (4, 1)]]
    target = rng.integers(0, 2, size=(5, 1)).astype(np.float32)
    return x, target, kernels


# --- the post's numbers ------------------------------------------------------------------

def test_predict_reproduces_the_posts_output():
    expected = np.array(POST_PREDICTION, dtype=np.float32)
    got_jax = jax_tiny.predict(jnp.asarray(POST_INPUT), jax_layers(POST_KERNELS))
    got_torch = torch_tiny.predict(torch.tensor(POST_INPUT), torch_layers(POST_KERNELS))
    np.testing.assert_allclose(np.asarray(got_jax), expected, rtol=1e-6)
    np.testing.assert_allclose(got_torch.numpy(), expected, rtol=1e-6)


def test_predict_accepts_a_single_example_and_vmap_batches_it():
    layers = jax_layers(POST_KERNELS)
    x = jnp.asarray(POST_INPUT)
    assert jax_tiny.predict(x[0], layers).shape == (1,)
    batched = jax.vmap(jax_tiny.predict, in_axes=(0, None))(x, layers)
    np.testing.assert_allclose(np.asarray(batched), np.asarray(jax_tiny.predict(x, layers)), rtol=1e-6)
    torch_batched = torch.func.vmap(torch_tiny.predict, in_dims=(0, None))(
        torch.tensor(POST_INPUT), torch_layers(POST_KERNELS))
    np.testing.assert_allclose(torch_batched.numpy(), np.asarray(batched), rtol=1e-6)


# --- parity: the same numbers from both frameworks -----------------------------------------

def test_predict_and_losses_agree_across_frameworks(random_problem):
    x, target, kernels = random_problem
    jl, tl = jax_layers(kernels), torch_layers(kernels)
    jx, tx = jnp.asarray(x), torch.from_numpy(x)
    jt, tt = jnp.asarray(target), torch.from_numpy(target)
    np.testing.assert_allclose(np.asarray(jax_tiny.predict(jx, jl)), tiny_numpy(torch_tiny.predict(tx, tl)),
                               **TOL)
    for name in ("loss_fn", "stable_loss_fn"):
        got_jax = float(getattr(jax_tiny, name)(jx, jt, jl))
        got_torch = float(getattr(torch_tiny, name)(tx, tt, tl))
        assert got_jax == pytest.approx(got_torch, rel=1e-5, abs=1e-6), name


def test_gradients_and_update_step_agree_across_frameworks(random_problem):
    x, target, kernels = random_problem
    jl, tl = jax_layers(kernels), torch_layers(kernels)
    args_jax = (jnp.asarray(x), jnp.asarray(target))
    args_torch = (torch.from_numpy(x), torch.from_numpy(target))
    grads_jax = jax_tiny.layer_gradients(*args_jax, jl)
    grads_torch = torch_tiny.layer_gradients(*args_torch, tl)
    assert [g.shape for g in grads_jax] == [k.shape for k in kernels]
    for g_jax, g_torch in zip(grads_jax, grads_torch, strict=True):
        np.testing.assert_allclose(np.asarray(g_jax), tiny_numpy(g_torch), **TOL)
    new_jax = jax_tiny.update_step(*args_jax, jl, 0.1)
    new_torch = torch_tiny.update_step(*args_torch, tl, 0.1)
    for k_jax, k_torch in zip(new_jax, new_torch, strict=True):
        np.testing.assert_allclose(np.asarray(k_jax), tiny_numpy(k_torch), **TOL)


def test_update_step_is_pure_and_jit_gives_the_same_step(random_problem):
    x, target, kernels = random_problem
    jl, tl = jax_layers(kernels), torch_layers(kernels)
    eager = jax_tiny.update_step(jnp.asarray(x), jnp.asarray(target), jl, 0.1)
    jitted = jax.jit(jax_tiny.update_step)(jnp.asarray(x), jnp.asarray(target), jl, 0.1)
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)
    torch_tiny.update_step(torch.from_numpy(x), torch.from_numpy(target), tl, 0.1)
    for original, k_jax, k_torch in zip(kernels, jl, tl, strict=True):
        np.testing.assert_array_equal(np.asarray(k_jax), original)
        np.testing.assert_array_equal(k_torch.numpy(), original)
        assert k_torch.grad is None and not k_torch.requires_grad


def test_a_step_lowers_the_loss(random_problem):
    x, target, kernels = random_problem
    jx, jt, jl = jnp.asarray(x), jnp.asarray(target), jax_layers(kernels)
    before = float(jax_tiny.loss_fn(jx, jt, jl))
    after = float(jax_tiny.loss_fn(jx, jt, jax_tiny.update_step(jx, jt, jl, 0.01)))
    assert after < before


# --- the loss, naive and stable ------------------------------------------------------------

@pytest.mark.parametrize("logit", [-4.0, -0.5, 0.0, 1.3, 5.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_stable_loss_equals_the_naive_one_for_moderate_logits(logit, label):
    z, t = jnp.array([logit]), jnp.array([label])
    naive = float(jax_tiny.binary_cross_entropy(jax.nn.sigmoid(z), t))
    stable = float(jax_tiny.binary_cross_entropy_with_logits(z, t))
    assert stable == pytest.approx(naive, rel=1e-5, abs=1e-6)
    zt, tt = torch.tensor([logit]), torch.tensor([label])
    assert float(torch_tiny.binary_cross_entropy_with_logits(zt, tt)) == pytest.approx(stable, rel=1e-5)
    assert float(torch_tiny.binary_cross_entropy(torch.sigmoid(zt), tt)) == pytest.approx(naive, rel=1e-5)


def test_naive_loss_breaks_for_large_logits_and_the_stable_one_does_not():
    # A confident wrong answer: logit 100 (probability 1 in float32) for an example labelled 0.
    z, t = jnp.array([100.0]), jnp.array([0.0])
    assert np.isinf(float(jax_tiny.binary_cross_entropy(jax.nn.sigmoid(z), t, eps=0.0)))
    capped = float(jax_tiny.binary_cross_entropy(jax.nn.sigmoid(z), t))
    assert capped == pytest.approx(-np.log(jax_tiny.EPS), rel=1e-3)  # ~18.4, not 100
    assert float(jax_tiny.binary_cross_entropy_with_logits(z, t)) == pytest.approx(100.0, rel=1e-6)

    def naive_of_logit(logit, eps):
        return jax_tiny.binary_cross_entropy(jax.nn.sigmoid(logit), t, eps=eps)

    assert float(jax.grad(naive_of_logit)(z, jax_tiny.EPS)[0]) == 0.0  # no signal to learn from
    assert np.isnan(float(jax.grad(naive_of_logit)(z, 0.0)[0]))
    stable_grad = jax.grad(jax_tiny.binary_cross_entropy_with_logits)(z, t)
    assert float(stable_grad[0]) == pytest.approx(1.0)

    zt, tt = torch.tensor([100.0]), torch.tensor([0.0])
    assert torch.isinf(torch_tiny.binary_cross_entropy(torch.sigmoid(zt), tt, eps=0.0))
    assert float(torch_tiny.binary_cross_entropy_with_logits(zt, tt)) == pytest.approx(100.0, rel=1e-6)


@pytest.mark.parametrize("logit", [-3.0, 0.0, 0.7, 2.5])
def test_second_derivative_by_composing_grad_matches_the_formula(logit):
    p = 1.0 / (1.0 + np.exp(-logit))
    exact = p * (1.0 - p)  # d^2/dz^2 of softplus(z) - t z, whatever the target
    for label in (0.0, 1.0):
        got_jax = float(jax_tiny.loss_second_derivative(jnp.float32(logit), jnp.float32(label)))
        got_torch = float(torch_tiny.loss_second_derivative(torch.tensor(logit), torch.tensor(label)))
        assert got_jax == pytest.approx(exact, rel=1e-5)
        assert got_torch == pytest.approx(exact, rel=1e-5)


# --- Flax and PyTorch modules ---------------------------------------------------------------

def test_flax_init_does_not_depend_on_the_batch_size():
    net = jax_tiny.Net()
    key = jax.random.key(0)
    inputs = [jnp.asarray(POST_INPUT), jnp.array([[1.0, 2.0]]), jnp.array([1.0, 2.0])]
    trees = [net.init(key, x) for x in inputs]
    assert jax.tree_util.tree_map(jnp.shape, trees[0]["params"]) == {
        "Dense_0": {"kernel": (2, 4), "bias": (4,)}, "Dense_1": {"kernel": (4, 1), "bias": (1,)}}
    for other in trees[1:]:
        assert jax.tree_util.tree_all(jax.tree_util.tree_map(
            lambda a, b: bool(jnp.array_equal(a, b)), trees[0], other))


def test_flax_and_torch_nets_agree_given_the_same_weights():
    x = np.random.default_rng(1).normal(size=(7, 2)).astype(np.float32)
    torch.manual_seed(0)
    torch_net = torch_tiny.Net()
    variables = jax_tiny.Net().init(jax.random.key(0), x)
    params = jax_models.import_layers(variables["params"], torch_models.export_layers(torch_net))
    got_jax = jax_tiny.Net().apply({"params": params}, x)
    with torch.no_grad():
        got_torch = torch_net(torch.from_numpy(x)).numpy()
    assert got_jax.shape == got_torch.shape == (7, 1)
    np.testing.assert_allclose(np.asarray(got_jax), got_torch, **TOL)
    one_at_a_time = jax.vmap(lambda row: jax_tiny.Net().apply({"params": params}, row))(x)
    np.testing.assert_allclose(np.asarray(one_at_a_time), np.asarray(got_jax), **TOL)


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("tiny", [jax_tiny, torch_tiny], ids=["jax", "torch"])
def test_bad_input_is_rejected_with_the_argument_named(tiny):
    as_array = jnp.asarray if tiny is jax_tiny else torch.tensor
    x = as_array(POST_INPUT)
    layers = [as_array(k) for k in POST_KERNELS]
    target = as_array([[1.0], [0.0], [1.0]])
    with pytest.raises(ValueError, match="layers is empty"):
        tiny.predict(x, [])
    with pytest.raises(ValueError, match=r"layers\[1\] has 3 input rows but layers\[0\] has 4"):
        tiny.predict(x, [layers[0], as_array([[1.0], [2.0], [3.0]])])
    with pytest.raises(ValueError, match=r"layers\[0\] must be a 2-D"):
        tiny.predict(x, [as_array([1.0, 2.0])])
    with pytest.raises(ValueError, match="x has shape"):
        tiny.predict(as_array([[1.0, 2.0, 3.0]]), layers)
    with pytest.raises(ValueError, match="target has shape"):
        tiny.loss_fn(x, as_array([1.0, 0.0, 1.0]), layers)  # (3,) against a (3, 1) prediction
    with pytest.raises(ValueError, match="learning_rate"):
        tiny.update_step(x, target, layers, 0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        tiny.update_step(x, target, layers, -0.1)
