"""What goes wrong fails loudly, and the same way in every backend.

Training on labels outside [0, 10) is refused before any step; a run whose loss becomes inf
or NaN raises ``NonFiniteLossError``; a checkpoint that is missing, empty, truncated,
random, of another model or of another framework raises ``CheckpointError`` naming it; a
save replaces a checkpoint completely or, if it fails, not at all.

Every test runs for each backend of the contract. The NNX models and training are written
in another branch: those cases skip until ``fwcompare.nnx_impl.train`` exists. The NNX
checkpoint module is tested here for real, on a small NNX module defined below.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import threading
import zipfile

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
import torch
from flax import nnx

from fwcompare import checks, config, contract, datasets
from fwcompare.checks import CheckpointError, NonFiniteLossError
from fwcompare.jax_common import checkpoint as jax_common_checkpoint

BACKENDS = contract.BACKENDS
JAX_BACKENDS = contract.JAX_BACKENDS


def backend_module(backend: str, module: str):
    """``fwcompare.<backend>.<module>``; skipped only for the NNX modules another branch writes."""
    name = f"fwcompare.{backend}.{module}"
    if backend == "nnx_impl" and module != "checkpoint":
        return pytest.importorskip(name, reason="nnx_impl's models and training come from another branch")
    return importlib.import_module(name)


# --- models to checkpoint: a small MLP per backend ------------------------------------------

class NnxMLP(nnx.Module):
    """784 -> hidden... -> 10, enough NNX to checkpoint (a list of layers: integer keys)."""

    def __init__(self, hidden: tuple[int, ...], seed: int):
        rngs = nnx.Rngs(seed)
        widths = (28 * 28, *hidden, 10)
        pairs = zip(widths[:-1], widths[1:], strict=True)
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in pairs])

    def __call__(self, x):
        x = x.reshape((x.shape[0], -1))
        for layer in self.layers[:-1]:
            x = nnx.relu(layer(x))
        return self.layers[-1](x)


def make_model(backend: str, hidden: tuple[int, ...] = (16,), seed: int = 0):
    if backend == "nnx_impl":
        return NnxMLP(hidden, seed)
    return backend_module(backend, "models").create_mlp(hidden, seed)


def weights(backend: str, model) -> list[np.ndarray]:
    """The parameters of a model (or a JAX parameter tree / State) as NumPy arrays, in order."""
    if backend == "torch_impl":
        return [tensor.detach().numpy().copy() for tensor in model.state_dict().values()]
    if isinstance(model, nnx.Module):
        model = nnx.state(model, nnx.Param)
    return [np.asarray(leaf) for leaf in jax.tree.leaves(getattr(model, "params", model))]


def assert_same_weights(first: list[np.ndarray], second: list[np.ndarray]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def checkpoint_path(backend: str, folder, name: str = "mlp"):
    """Where a backend's checkpoint goes: one ``.pt`` file for PyTorch, a folder for Orbax."""
    return folder / (f"{name}.pt" if backend == "torch_impl" else name)


def save(backend: str, path, model):
    return backend_module(backend, "checkpoint").save(path, model)


def load(backend: str, path, model):
    return backend_module(backend, "checkpoint").load(path, model)


@pytest.mark.parametrize("backend", BACKENDS)
def test_checkpoint_modules_export_the_contract_names_and_the_shared_error(backend):
    module = backend_module(backend, "checkpoint")
    assert sorted(module.__all__) == sorted(entry.name for entry in contract.entries("checkpoint", backend))
    assert module.CheckpointError is checks.CheckpointError
    assert issubclass(CheckpointError, ValueError)


# --- round trips ----------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trip_restores_identical_weights(backend, tmp_path):
    saved, target = make_model(backend, seed=0), make_model(backend, seed=1)
    target_before = weights(backend, target)
    path = checkpoint_path(backend, tmp_path / "sub")
    assert save(backend, path, saved) == path
    assert list(path.parent.iterdir()) == [path]  # no temporary file or folder left behind
    restored = load(backend, path, target)
    assert_same_weights(weights(backend, restored), weights(backend, saved))
    if backend == "linen_impl":  # immutable: a new LinenModel, the target is unchanged
        assert type(restored) is type(target)
        assert_same_weights(weights(backend, target), target_before)
    else:  # PyTorch and NNX modules are updated in place
        assert restored is target


def test_linen_restores_into_a_train_state_and_a_parameter_tree(tmp_path):
    from fwcompare.linen_impl.models import LinenModel
    from fwcompare.linen_impl.train import create_train_state

    cfg = dataclasses.replace(config.FASHION_MLP, hidden=(16,), seed=3)
    saved = create_train_state(cfg)
    path = save("linen_impl", tmp_path / "mlp", saved)  # a TrainState saves its parameters
    state = load("linen_impl", path, create_train_state(dataclasses.replace(cfg, seed=4)))
    assert isinstance(state, type(saved)) and state.step == 0
    assert_same_weights(weights("linen_impl", state), weights("linen_impl", saved))
    tree = load("linen_impl", path, make_model("linen_impl", seed=5).params)
    assert isinstance(tree, dict)
    assert_same_weights(weights("linen_impl", tree), weights("linen_impl", saved))
    module, params = make_model("linen_impl")
    assert isinstance(load("linen_impl", path, LinenModel(module, params)), LinenModel)


def test_nnx_restores_into_a_state_and_a_pure_dict(tmp_path):
    saved, other = NnxMLP((16,), 0), NnxMLP((16,), 1)
    path = save("nnx_impl", tmp_path / "mlp", saved)
    other_before = weights("nnx_impl", other)
    template = nnx.state(other, nnx.Param)
    state = load("nnx_impl", path, template)
    assert isinstance(state, nnx.State)
    assert_same_weights(weights("nnx_impl", state), weights("nnx_impl", saved))
    assert_same_weights(weights("nnx_impl", template), other_before)  # the template is left alone
    assert_same_weights(weights("nnx_impl", other), other_before)
    pure = load("nnx_impl", path, nnx.to_pure_dict(template))
    assert isinstance(pure, dict) and set(pure["layers"]) == {0, 1}
    assert_same_weights(weights("nnx_impl", pure), weights("nnx_impl", saved))
    # The restored module computes what the saved one does.
    x = np.ones((2, 28, 28), np.float32)
    np.testing.assert_array_equal(np.asarray(load("nnx_impl", path, other)(x)), np.asarray(saved(x)))


def test_a_linen_checkpoint_restores_into_a_bare_tree_without_linen(tmp_path):
    # The folder holds plain nested dicts of arrays: any JAX code can read it with a template.
    module, params = make_model("linen_impl")
    path = save("linen_impl", tmp_path / "mlp", params)
    template = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype), params)
    restored = jax_common_checkpoint.restore_tree(path, template)
    assert_same_weights(weights("linen_impl", restored), weights("linen_impl", params))


def test_a_checkpoint_written_by_plain_orbax_restores(tmp_path):
    # No SHA256SUMS beside Orbax's files: nothing to verify, Orbax reads it as it is.
    module, params = make_model("linen_impl")
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "mlp", params)
    restored = load("linen_impl", tmp_path / "mlp", make_model("linen_impl", seed=1))
    assert_same_weights(weights("linen_impl", restored), weights("linen_impl", params))


def test_the_checksums_are_sha256sum_lines_for_every_file(tmp_path):
    path = save("linen_impl", tmp_path / "mlp", make_model("linen_impl"))
    lines = (path / jax_common_checkpoint.CHECKSUMS).read_text().splitlines()
    listed = {line.split("  ", 1)[1] for line in lines}
    on_disk = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    assert listed == on_disk - {jax_common_checkpoint.CHECKSUMS}
    assert all(re.fullmatch(r"[0-9a-f]{64}  \S+", line) for line in lines)


@pytest.mark.parametrize("backend", JAX_BACKENDS)
def test_save_returns_a_finished_checkpoint_and_leaves_no_thread_behind(backend, tmp_path):
    model = make_model(backend)
    save(backend, tmp_path / "warm-up", model)  # thread pools that live for the process start here
    before = set(threading.enumerate())
    path = save(backend, tmp_path / "mlp", model)
    assert {thread for thread in threading.enumerate() if thread.is_alive()} <= before
    assert (path / "commit_success.txt").is_file()  # Orbax's last step, before its rename
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") or "tmp" in p.name]


# --- saving over a checkpoint ---------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_saving_over_a_checkpoint_replaces_it_completely(backend, tmp_path):
    path = checkpoint_path(backend, tmp_path)
    save(backend, path, make_model(backend, (16, 16), seed=0))  # another architecture first
    newer = make_model(backend, (16,), seed=1)
    assert save(backend, path, newer) == path
    assert list(tmp_path.iterdir()) == [path]
    restored = load(backend, path, make_model(backend, (16,), seed=2))
    assert_same_weights(weights(backend, restored), weights(backend, newer))
    with pytest.raises(CheckpointError, match=re.escape(str(path))):  # nothing of the old one is left
        load(backend, path, make_model(backend, (16, 16), seed=0))


@pytest.mark.parametrize("exchange", ["atomic exchange", "rename aside"])
def test_replacing_works_with_and_without_an_atomic_exchange(exchange, tmp_path, monkeypatch):
    # Linux swaps the two folders in one step; elsewhere the old one is renamed aside first.
    calls = []
    original = jax_common_checkpoint._exchange

    def exchange_or_not(first, second):
        calls.append(exchange)
        return original(first, second) if exchange == "atomic exchange" else False

    monkeypatch.setattr(jax_common_checkpoint, "_exchange", exchange_or_not)
    path = tmp_path / "mlp"
    save("linen_impl", path, make_model("linen_impl", seed=0))
    newer = make_model("linen_impl", seed=1)
    save("linen_impl", path, newer)
    assert calls == [exchange]  # only a replacement needs it
    assert list(tmp_path.iterdir()) == [path]
    assert_same_weights(weights("linen_impl", load("linen_impl", path, make_model("linen_impl"))),
                        weights("linen_impl", newer))


def fail_midway(backend: str, monkeypatch) -> None:
    """Make the next save fail after it has started writing (a full disk, a crash)."""
    if backend == "torch_impl":
        def partial_save(obj, handle, *args, **kwargs):
            handle.write(b"PK\x03\x04 half a zip archive")
            raise OSError("No space left on device")

        monkeypatch.setattr(torch, "save", partial_save)
    else:
        original = ocp.StandardCheckpointer.save

        def save_then_fail(self, *args, **kwargs):
            original(self, *args, **kwargs)  # the asynchronous save is under way
            raise OSError("No space left on device")

        monkeypatch.setattr(ocp.StandardCheckpointer, "save", save_then_fail)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_save_leaves_the_previous_checkpoint_intact(backend, tmp_path, monkeypatch):
    path = checkpoint_path(backend, tmp_path)
    previous = make_model(backend, seed=0)
    save(backend, path, previous)
    fail_midway(backend, monkeypatch)
    before = set(threading.enumerate())
    with pytest.raises(OSError, match="No space left"):
        save(backend, path, make_model(backend, seed=1))
    monkeypatch.undo()
    assert {thread for thread in threading.enumerate() if thread.is_alive()} <= before  # commit awaited
    assert list(tmp_path.iterdir()) == [path]  # and no half-written leftovers
    restored = load(backend, path, make_model(backend, seed=2))
    assert_same_weights(weights(backend, restored), weights(backend, previous))


@pytest.mark.parametrize("backend", JAX_BACKENDS)
def test_an_unserialisable_tree_leaves_the_previous_checkpoint_intact(backend, tmp_path):
    path = checkpoint_path(backend, tmp_path)
    previous = make_model(backend, seed=0)
    save(backend, path, previous)
    before = set(threading.enumerate())
    with pytest.raises((TypeError, ValueError)):
        save(backend, path, {"layer": {"kernel": object()}})  # Orbax cannot store a Python object
    assert {thread for thread in threading.enumerate() if thread.is_alive()} <= before  # none left writing
    assert list(tmp_path.iterdir()) == [path]
    assert_same_weights(weights(backend, load(backend, path, make_model(backend, seed=2))),
                        weights(backend, previous))


@pytest.mark.parametrize("backend", JAX_BACKENDS)
def test_save_refuses_to_replace_what_is_not_a_checkpoint(backend, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=re.escape(str(folder))):
        save(backend, folder, make_model(backend))
    assert (folder / "notes.txt").read_text() == "keep me"


# --- checkpoints that cannot be restored ----------------------------------------------------

def _random_bytes(size: int) -> bytes:
    return np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()


def _largest_file(folder):
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def empty(backend, tmp_path):
    path = checkpoint_path(backend, tmp_path)
    if backend == "torch_impl":
        path.write_bytes(b"")
    else:
        path.mkdir()
    return path


def empty_file(backend, tmp_path):
    path = checkpoint_path(backend, tmp_path)
    path.write_bytes(b"")
    return path


def truncated(backend, tmp_path):
    # An interrupted copy: the (largest) file being copied ends halfway.
    path = save(backend, checkpoint_path(backend, tmp_path), make_model(backend))
    data_file = path if backend == "torch_impl" else _largest_file(path)
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    return path


def random_bytes(backend, tmp_path):
    path = checkpoint_path(backend, tmp_path)
    if backend == "torch_impl":
        path.write_bytes(_random_bytes(4096))
    else:  # a checkpoint's files, each overwritten with noise of the same length
        save(backend, path, make_model(backend))
        for file in (p for p in path.rglob("*") if p.is_file()):
            file.write_bytes(_random_bytes(file.stat().st_size))
    return path


def other_sizes(backend, tmp_path):
    # The same layer names with other shapes: loaded blindly, the weights would be garbage.
    return save(backend, checkpoint_path(backend, tmp_path), make_model(backend, (32,)))


def other_architecture(backend, tmp_path):
    return save(backend, checkpoint_path(backend, tmp_path), make_model(backend, (16, 16)))


def other_framework(backend, tmp_path):
    # PyTorch gets an Orbax folder; the JAX backends get a PyTorch file.
    other = "linen_impl" if backend == "torch_impl" else "torch_impl"
    return save(other, checkpoint_path(backend, tmp_path), make_model(other))


def other_jax_api(backend, tmp_path):
    # A Linen checkpoint given to NNX and the other way round: the trees are named differently.
    other = "nnx_impl" if backend == "linen_impl" else "linen_impl"
    return save(other, checkpoint_path(backend, tmp_path), make_model(other))


def not_a_checkpoint(backend, tmp_path):
    path = checkpoint_path(backend, tmp_path)
    if backend == "torch_impl":  # a zip archive, as torch.save writes, but not one of its
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "not weights")
    else:
        path.mkdir()
        (path / "notes.txt").write_text("not weights")
    return path


def not_parameters(backend, tmp_path):
    # Readable, but not the parameters of a model: a bare tensor, or a tree of other names.
    path = checkpoint_path(backend, tmp_path)
    if backend == "torch_impl":
        torch.save(torch.ones(3), path)
    else:
        jax_common_checkpoint.save_tree(path, {"step": np.arange(3)})
    return path


BAD_CHECKPOINTS = [empty, empty_file, truncated, random_bytes, other_sizes, other_architecture,
                   other_framework, other_jax_api, not_a_checkpoint, not_parameters]
BAD_CASES = [pytest.param(backend, make_bad, id=f"{backend}-{make_bad.__name__}")
             for backend in BACKENDS for make_bad in BAD_CHECKPOINTS
             if not (make_bad is other_jax_api and backend == "torch_impl")]  # two JAX APIs, one PyTorch


@pytest.mark.parametrize(("backend", "make_bad"), BAD_CASES)
def test_a_bad_checkpoint_raises_checkpoint_error_naming_it(backend, make_bad, tmp_path):
    path = make_bad(backend, tmp_path)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load(backend, path, make_model(backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_missing_checkpoint_is_file_not_found_naming_it(backend, tmp_path):
    path = checkpoint_path(backend, tmp_path / "nothing-here")
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load(backend, path, make_model(backend))


FIRST_LAYER = {"torch_impl": r"layers\.0\.weight", "nnx_impl": r"layers/0/(bias|kernel)",
               "linen_impl": r"Dense_0/(bias|kernel)"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_mismatch_names_the_layer(backend, tmp_path):
    path = other_sizes(backend, tmp_path)
    with pytest.raises(CheckpointError, match=rf"(?s)does not fit this model.*{FIRST_LAYER[backend]}"):
        load(backend, path, make_model(backend))


# --- training that fails says so ------------------------------------------------------------

SMALL = dataclasses.replace(config.FASHION_MLP, hidden=(16,), optimizer="sgd", momentum=0.0,
                            learning_rate=0.1, batch_size=16, epochs=1)
EXAMPLES = 64


def device_data(backend: str, images, labels):
    data = backend_module(backend, "data")
    if backend == "torch_impl":  # where model_for builds the model, even with a GPU present
        return data.to_device(images, labels, device="cpu")
    return data.to_device(images, labels)


def untouched_model(backend: str, cfg):
    """A model to train, and a check that no training step ran on it.

    PyTorch and NNX update in place, so their weights must be as they were. A Linen state is
    immutable, so its ``apply_fn`` counts the traces of the step instead.
    """
    if backend == "linen_impl":
        state = backend_module(backend, "train").create_train_state(cfg)
        calls = []

        def counting_apply(*args, **kwargs):
            calls.append(1)
            return state.apply_fn(*args, **kwargs)

        return state.replace(apply_fn=counting_apply), lambda: calls == []
    model = backend_module(backend, "models").model_for(cfg)
    before = weights(backend, model)

    def unchanged() -> bool:
        after = weights(backend, model)
        return all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))

    return model, unchanged


def with_bad_label(labels: np.ndarray, value: int, cfg) -> np.ndarray:
    """``labels`` with one ``value`` in the LAST batch of the first epoch: a check made as the
    batches arrive, instead of before the first step, would let every earlier batch train."""
    labels = labels.copy()
    labels[datasets.batch_order(len(labels), cfg.batch_size, cfg.seed, 0)[-1][0]] = value
    return labels


def run(backend: str, function: str, cfg, train_data, val_data, model):
    train = backend_module(backend, "train")
    if function == "train":
        return train.train(cfg, *train_data, model)
    return train.fit(cfg, train_data, val_data, model)


@pytest.mark.parametrize("bad", [-1, 10])
@pytest.mark.parametrize("function", ["train", "fit"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_labels_outside_the_classes_are_rejected_before_any_step(backend, function, bad, tiny_images):
    images, labels = tiny_images[0][:EXAMPLES], tiny_images[1][:EXAMPLES]
    model, untouched = untouched_model(backend, SMALL)
    train_data = device_data(backend, images, with_bad_label(labels, bad, SMALL))
    val_data = device_data(backend, images, labels)
    message = rf"labels must be class indices in \[0, 10\); got values from {min(bad, 0)} to {max(bad, 9)}"
    with pytest.raises(ValueError, match=message):
        run(backend, function, SMALL, train_data, val_data, model)
    assert untouched()


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_validation_labels_are_rejected_before_any_step(backend, tiny_images):
    images, labels = tiny_images[0][:EXAMPLES], tiny_images[1][:EXAMPLES]
    model, untouched = untouched_model(backend, SMALL)
    train_data = device_data(backend, images, labels)
    val_data = device_data(backend, images, with_bad_label(labels, 10, SMALL))
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 10\)"):
        run(backend, "fit", SMALL, train_data, val_data, model)
    assert untouched()


@pytest.mark.parametrize("function", ["train", "fit"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_diverging_run_raises_non_finite_loss_error(backend, function, tiny_images):
    # Plain SGD with a step of ten billion: the weights overflow within the first epoch.
    cfg = dataclasses.replace(SMALL, learning_rate=1e10, epochs=2)
    images, labels = tiny_images[0][:EXAMPLES], tiny_images[1][:EXAMPLES]
    data = device_data(backend, images, labels)
    model, _ = untouched_model(backend, cfg)
    message = (r"training diverged: the mean loss of epoch 0 is (nan|inf) "
               rf"\(learning_rate={re.escape(repr(cfg.learning_rate))}: try a smaller one\)")
    with pytest.raises(NonFiniteLossError, match=message):
        run(backend, function, cfg, data, data, model)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_raises_when_only_the_validation_loss_is_not_finite(backend, tiny_images, monkeypatch):
    # Every training step finite, the last update diverged: only the validation loss shows it.
    # PyTorch's fit used to crash loading a best state it never recorded; JAX's returned the
    # untrained one.
    train = backend_module(backend, "train")
    monkeypatch.setattr(train, "evaluate", lambda *args, **kwargs: {"loss": float("nan"), "accuracy": 0.1})
    images, labels = tiny_images[0][:EXAMPLES], tiny_images[1][:EXAMPLES]
    data = device_data(backend, images, labels)
    model, _ = untouched_model(backend, SMALL)
    message = r"the validation loss of epoch 0 is nan \(learning_rate=0.1"
    with pytest.raises(NonFiniteLossError, match=message):
        run(backend, "fit", SMALL, data, data, model)


def test_check_finite_loss_lets_finite_losses_through():
    checks.check_finite_loss(2.3, 0, 0.1)
    with pytest.raises(NonFiniteLossError):
        checks.check_finite_loss(float("nan"), 3)
    assert issubclass(NonFiniteLossError, FloatingPointError)
