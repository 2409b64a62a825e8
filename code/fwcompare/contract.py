"""The backend contract: what ``torch_impl``, ``nnx_impl`` and ``linen_impl`` each provide.

The three backends mirror each other so that a chapter can show them side by side. Every
public name of a backend module is listed here once, with its parameters and what each
backend returns. Where the backends differ, the difference is the lesson and ``lesson`` says
which; a name only some backends have says why in ``why``. ``tests/test_contract.py`` holds
every backend to this list: a name missing, a parameter renamed or reordered, or a public
name that is not listed fails it.

The one difference that runs through everything: PyTorch modules and Flax NNX modules hold
their weights and are updated in place (``train_step(model, optimizer, x, y) -> loss``); Flax
Linen modules hold none, so Linen code passes a state in and gets a new one back
(``train_step(state, x, y) -> (state, loss)``). A Linen *model* is therefore a
``LinenModel(module, params)`` pair, or a ``TrainState``, which carries both.

This module imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BACKENDS = ("torch_impl", "nnx_impl", "linen_impl")
JAX_BACKENDS = ("nnx_impl", "linen_impl")
MODULES = ("models", "data", "train", "evaluate", "checkpoint", "tiny", "parallel")

# The roles a value plays in the three backends, used in ``returns`` below.
MODEL = {"torch_impl": "torch.nn.Module", "nnx_impl": "flax.nnx.Module",
         "linen_impl": "LinenModel(module, params)"}

IN_PLACE = ("in place: PyTorch and NNX modules own their weights and the update mutates them; "
            "Linen modules own none, so the new state is returned")


@dataclass(frozen=True)
class Entry:
    """One public name of a backend module.

    ``params`` are the parameter names, in order, shared by every backend that has the name;
    ``params_by_backend`` overrides them for a backend where the lesson demands it (``lesson``
    says why). Classes are checked by their constructor's parameters, keyword-only ones and
    Flax's own dataclass fields (``parent``, ``name``) left out.
    """

    module: str
    name: str
    params: tuple[str, ...]
    returns: dict[str, str]
    backends: tuple[str, ...] = BACKENDS
    params_by_backend: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lesson: str = ""
    why: str = ""  # why only ``backends`` have it

    def params_for(self, backend: str) -> tuple[str, ...]:
        return self.params_by_backend.get(backend, self.params)

    @property
    def one_sided(self) -> bool:
        return set(self.backends) != set(BACKENDS)


def _same(description: str, backends: tuple[str, ...] = BACKENDS) -> dict[str, str]:
    return dict.fromkeys(backends, description)


def _jax_only(module: str, name: str, params: tuple[str, ...], returns: str, why: str) -> Entry:
    return Entry(module, name, params, _same(returns, JAX_BACKENDS), JAX_BACKENDS, why=why)


_TINY_FUNCTIONS = (
    ("check_layers", ("layers",), "None; ValueError for layers that cannot be chained"),
    ("predict_logits", ("x", "layers"), "(batch, out) values before the sigmoid"),
    ("predict", ("x", "layers"), "(batch, out) probabilities"),
    ("binary_cross_entropy", ("probs", "target", "eps"), "mean loss, the naive formula"),
    ("binary_cross_entropy_with_logits", ("logits", "target"), "mean loss, the stable form"),
    ("loss_fn", ("x", "target", "layers"), "the post's loss"),
    ("stable_loss_fn", ("x", "target", "layers"), "the same loss from the logits"),
    ("layer_gradients", ("x", "target", "layers"), "a list shaped like layers"),
    ("update_step", ("x", "target", "layers", "learning_rate"), "new layers; the input is left as it was"),
    ("loss_second_derivative", ("logit", "target"), "d2 loss / d logit2"),
)

ENTRIES: tuple[Entry, ...] = (
    # --- models ------------------------------------------------------------------------------
    Entry("models", "IMAGE_PIXELS", (), _same("784")),
    Entry("models", "NUM_CLASSES", (), _same("10")),
    Entry("models", "MLP", ("hidden", "in_features", "num_classes", "init_scheme"),
          {"torch_impl": "torch.nn.Module", "nnx_impl": "flax.nnx.Module (needs rngs=)",
           "linen_impl": "flax.linen.Module (no weights)"},
          params_by_backend={"torch_impl": ("hidden", "in_features", "num_classes"),
                             "linen_impl": ("hidden", "num_classes", "init_scheme")},
          lesson="Linen infers in_features from the first input; PyTorch's own scheme is its only one "
                 "(create_model applies Flax's)"),
    Entry("models", "CNN", ("num_classes", "init_scheme"),
          {"torch_impl": "torch.nn.Module", "nnx_impl": "flax.nnx.Module (needs rngs=)",
           "linen_impl": "flax.linen.Module (no weights)"},
          params_by_backend={"torch_impl": ("num_classes",)},
          lesson="PyTorch's own scheme is its only one (create_model applies Flax's)"),
    Entry("models", "create_model", ("architecture", "seed", "hidden", "init_scheme"), MODEL),
    Entry("models", "create_mlp", ("hidden", "seed", "init_scheme"), MODEL),
    Entry("models", "model_for", ("config",), MODEL),
    Entry("models", "count_parameters", ("model",), _same("int")),
    Entry("models", "export_layers", ("model",), _same("[(weight, bias)] as NumPy, PyTorch's layout")),
    Entry("models", "import_layers", ("model", "layers"),
          {**MODEL, "linen_impl": "a new LinenModel"}, lesson=IN_PLACE),
    Entry("models", "init_like_flax", ("module",), {"torch_impl": "None (in place)"}, ("torch_impl",),
          why="Flax's initialisers are arguments of its layers; PyTorch re-initialises built layers"),
    Entry("models", "initializers", ("init_scheme", "fan_in"), _same("kernel_init/bias_init", JAX_BACKENDS),
          JAX_BACKENDS, why="Flax layers take initialisers as arguments"),
    Entry("models", "LinenModel", ("module", "params"), {"linen_impl": "NamedTuple"}, ("linen_impl",),
          why="only Linen keeps a module and its parameters apart"),
    Entry("models", "to_linen", ("model",), {"nnx_impl": "LinenModel with the same weights"}, ("nnx_impl",),
          why="conversion between the two Flax APIs"),
    Entry("models", "from_linen", ("model",), {"nnx_impl": "flax.nnx.Module with the same weights"},
          ("nnx_impl",), why="conversion between the two Flax APIs"),
    # --- data --------------------------------------------------------------------------------
    Entry("data", "default_device", (), {"torch_impl": "torch.device", "nnx_impl": "jax.Device",
                                         "linen_impl": "jax.Device"}),
    Entry("data", "to_device", ("images", "labels", "mean", "std", "device"),
          {"torch_impl": "(float32 x, int64 y) tensors", "nnx_impl": "(float32 x, int32 y) arrays",
           "linen_impl": "(float32 x, int32 y) arrays"},
          lesson="JAX uses 32-bit integers unless x64 mode is on"),
    Entry("data", "iterate_batches", ("x", "y", "order"), _same("iterator of (x[idx], y[idx])")),
    _jax_only("data", "take", ("x", "y", "index"), "(x[index], y[index]) as one compiled gather",
              why="un-jitted JAX indexing dispatches one operation per array"),
    Entry("data", "make_loader", ("images", "labels", "order"), {"torch_impl": "DataLoader"},
          ("torch_impl",), why="the seed posts' host-side loader; the JAX routines that use one borrow it"),
    # --- train -------------------------------------------------------------------------------
    Entry("train", "make_optimizer", ("config", "model"),
          {"torch_impl": "torch.optim.Optimizer", "nnx_impl": "flax.nnx.Optimizer",
           "linen_impl": "optax.GradientTransformation"},
          params_by_backend={"linen_impl": ("config",)},
          lesson="torch.optim and nnx.Optimizer hold the weights they update; an Optax transformation "
                 "holds nothing (create_train_state pairs it with the parameters)"),
    Entry("train", "create_train_state", ("config",), {"linen_impl": "flax.training.TrainState"},
          ("linen_impl",), why="only Linen keeps parameters and optimiser state outside the model"),
    Entry("train", "cross_entropy", ("logits", "labels"), _same("mean softmax cross-entropy")),
    Entry("train", "train_step", ("model", "optimizer", "x", "y"),
          {"torch_impl": "loss", "nnx_impl": "loss", "linen_impl": "(state, loss)"},
          params_by_backend={"linen_impl": ("state", "x", "y")}, lesson=IN_PLACE),
    Entry("train", "compiled_train_step", ("model", "optimizer"),
          {"torch_impl": "step(x, y) -> loss (torch.compile)",
           "nnx_impl": "step(x, y) -> loss (nnx.cached_partial)"}, ("torch_impl", "nnx_impl"),
          why="Linen's train_step is a plain jax.jit function already"),
    Entry("train", "train_epoch", ("model", "optimizer", "x", "y", "order"),
          {"torch_impl": "losses", "nnx_impl": "losses", "linen_impl": "(state, losses)"},
          params_by_backend={"linen_impl": ("state", "x", "y", "order")}, lesson=IN_PLACE),
    Entry("train", "train_epoch_scan", ("model", "optimizer", "x", "y", "batches"),
          {"nnx_impl": "losses", "linen_impl": "(state, losses)"}, JAX_BACKENDS,
          params_by_backend={"linen_impl": ("state", "x", "y", "batches")}, lesson=IN_PLACE,
          why="lax.scan compiles a whole epoch; PyTorch has no counterpart"),
    Entry("train", "train", ("config", "x", "y", "model"),
          {"torch_impl": "(model, losses)", "nnx_impl": "(model, losses)", "linen_impl": "(state, losses)"},
          params_by_backend={"linen_impl": ("config", "x", "y", "state")}, lesson=IN_PLACE),
    Entry("train", "fit", ("config", "train_data", "val_data", "model", "progress"),
          {"torch_impl": "(best model, History)", "nnx_impl": "(best model, History)",
           "linen_impl": "(best state, History)"},
          params_by_backend={"linen_impl": ("config", "train_data", "val_data", "state", "progress")},
          lesson="the best weights are copied in PyTorch and NNX (updated in place), kept by reference "
                 "in Linen (immutable)"),
    # --- evaluate ----------------------------------------------------------------------------
    Entry("evaluate", "evaluate", ("model", "x", "y", "batch_size"),
          _same("{'loss': float, 'accuracy': float}"),
          lesson="a Linen model is a LinenModel or a TrainState"),
    # --- checkpoint --------------------------------------------------------------------------
    Entry("checkpoint", "save", ("path", "model"), _same("pathlib.Path"),
          lesson="PyTorch writes one state_dict file, the JAX backends an Orbax checkpoint folder"),
    Entry("checkpoint", "load", ("path", "model"),
          {**MODEL, "linen_impl": "a new LinenModel, TrainState or parameter tree"},
          lesson=IN_PLACE + "; the JAX backends also restore into a bare parameter tree"),
    Entry("checkpoint", "CheckpointError", (), _same("ValueError subclass")),
    # --- tiny --------------------------------------------------------------------------------
    *(Entry("tiny", name, params, _same(returns)) for name, params, returns in _TINY_FUNCTIONS),
    Entry("tiny", "EPS", (), _same("1e-8")),
    Entry("tiny", "Net", ("hidden", "in_features"),
          {"torch_impl": "torch.nn.Module", "nnx_impl": "flax.nnx.Module (needs rngs=)",
           "linen_impl": "flax.linen.Module (no weights)"},
          params_by_backend={"linen_impl": ("hidden",)},
          lesson="Linen reads in_features from the example input given to init"),
    # --- parallel ----------------------------------------------------------------------------
    Entry("parallel", "train_data_parallel", ("config", "x", "y", "order", "devices"),
          {"torch_impl": "model (DDP over CPU processes)", "nnx_impl": "model (jit + NamedSharding)",
           "linen_impl": "state (jit + NamedSharding)"}, lesson=IN_PLACE),
    Entry("parallel", "ddp_worker", ("rank", "world_size", "port", "config", "x", "y", "order", "result"),
          {"torch_impl": "None (rank 0 saves the weights)"}, ("torch_impl",),
          why="PyTorch runs one process per device; JAX drives every device from one process"),
    _jax_only("parallel", "AXIS", (), '"data"', why="the mesh axis name; PyTorch's DDP has none"),
    _jax_only("parallel", "data_mesh", ("devices",), "jax.sharding.Mesh", why="JAX sharding"),
    _jax_only("parallel", "shard_batch", ("x", "devices"), "(devices, batch // devices, ...)",
              why="the layout pmap expects"),
    _jax_only("parallel", "place_for_data_parallel", ("mesh", "state", "x", "y"),
              "(replicated state, sharded x, sharded y)", why="JAX sharding"),
    Entry("parallel", "local_step", ("state", "x", "y"), {"linen_impl": "(state, loss), averaged over AXIS"},
          ("linen_impl",), why="the per-device step of pmap and shard_map, in the slides' Linen style"),
    Entry("parallel", "pmap_train_step", ("state", "x", "y"), {"linen_impl": "(state, loss)"},
          ("linen_impl",), why="the slides' pmap style, shown in Linen as the source has it"),
    Entry("parallel", "replicate", ("state",), {"linen_impl": "state with a leading device axis"},
          ("linen_impl",), why="pmap's replicated state"),
    Entry("parallel", "unreplicate", ("state",), {"linen_impl": "the first device's copy"},
          ("linen_impl",), why="pmap's replicated state"),
    Entry("parallel", "shard_map_train_step", ("mesh",), {"linen_impl": "jitted shard_map of local_step"},
          ("linen_impl",), why="per-device code on a mesh, in the slides' Linen style"),
)

# Modules only some backends have.
ONE_SIDED_MODULES = {
    "pure_mlp": ("jax_common", "the JAX slides' MLP in plain JAX (no Flax, no Optax): shared, not mirrored"),
}


def entries(module: str | None = None, backend: str | None = None) -> list[Entry]:
    """The contract's entries, optionally only those of one module and/or one backend."""
    if module is not None and module not in MODULES:
        raise ValueError(f"module={module!r} is not a backend module; allowed: {', '.join(MODULES)}")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is unknown; allowed: {', '.join(BACKENDS)}")
    return [entry for entry in ENTRIES
            if (module is None or entry.module == module) and (backend is None or backend in entry.backends)]


def lookup(module: str, name: str) -> Entry:
    """The entry for ``module.name``; ``KeyError`` naming it if the contract has none."""
    for entry in ENTRIES:
        if (entry.module, entry.name) == (module, name):
            return entry
    raise KeyError(f"{module}.{name} is not in the backend contract")
