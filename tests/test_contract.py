"""Every backend keeps the contract of ``fwcompare.contract``, and the book shows only public code.

Fast: no training and no book build. A backend that renames, drops or reorders a parameter,
or grows a public name the contract does not list, fails here before any chapter runs.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

from fwcompare import contract

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "code" / "fwcompare"

# Flax Linen modules are dataclasses; these two fields belong to Flax, not to our models.
FLAX_DATACLASS_FIELDS = {"parent", "name"}


def backend_module(backend: str, module: str):
    return importlib.import_module(f"fwcompare.{backend}.{module}")


def positional_names(obj) -> tuple[str, ...]:
    """Parameter names a caller may pass by position (classes: their constructor's)."""
    parameters = list(inspect.signature(obj).parameters.values())
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if inspect.isclass(obj) and all(parameter.kind in variadic for parameter in parameters):
        # NNX modules: the metaclass's __call__(*args, **kwargs) hides the constructor; read
        # __init__ instead, without its ``self``.
        parameters = list(inspect.signature(obj.__init__).parameters.values())[1:]
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return tuple(parameter.name for parameter in parameters
                 if parameter.kind in kinds and parameter.name not in FLAX_DATACLASS_FIELDS)


CASES = [(backend, entry) for entry in contract.ENTRIES for backend in entry.backends]


@pytest.mark.parametrize(("backend", "entry"), CASES,
                         ids=[f"{backend}.{entry.module}.{entry.name}" for backend, entry in CASES])
def test_backend_has_the_name_with_the_contract_parameters(backend, entry):
    module = backend_module(backend, entry.module)
    assert hasattr(module, entry.name), f"{backend}.{entry.module} lacks {entry.name}"
    obj = getattr(module, entry.name)
    # Exception classes take the message; their constructor is Python's, not ours.
    if callable(obj) and not (isinstance(obj, type) and issubclass(obj, BaseException)):
        assert positional_names(obj) == entry.params_for(backend)
    assert entry.returns.get(backend), f"the contract does not say what {backend} returns"


@pytest.mark.parametrize("backend", contract.BACKENDS)
@pytest.mark.parametrize("module", contract.MODULES)
def test_public_names_are_exactly_the_contract(backend, module):
    """``__all__`` lists what the contract gives this backend: nothing undeclared, nothing missing."""
    imported = backend_module(backend, module)
    declared = {entry.name for entry in contract.entries(module, backend)}
    assert set(imported.__all__) == declared
    for name in imported.__all__:
        assert hasattr(imported, name), f"{backend}.{module}.__all__ names {name}, which is not there"


def test_one_sided_names_say_why():
    for entry in contract.ENTRIES:
        if entry.one_sided:
            assert entry.why, f"{entry.module}.{entry.name} is one-sided without a reason"
        different = {entry.params_for(backend) for backend in entry.backends}
        if len(different) > 1:
            assert entry.lesson, f"{entry.module}.{entry.name}: parameters differ without a lesson"


def test_contract_lookups_reject_unknown_names():
    with pytest.raises(ValueError, match="module='optim' is not a backend module"):
        contract.entries("optim")
    with pytest.raises(ValueError, match="backend='tf_impl' is unknown"):
        contract.entries(backend="tf_impl")
    with pytest.raises(KeyError, match="models.nope"):
        contract.lookup("models", "nope")


def test_importing_a_backend_imports_no_other_framework():
    """``torch_impl`` never loads JAX and the JAX backends never load PyTorch."""
    import subprocess

    probes = {"torch_impl": "jax", "nnx_impl": "torch", "linen_impl": "torch"}
    for backend, foreign in probes.items():
        code = (f"import sys, importlib\n"
                f"for m in {list(contract.MODULES)!r}: importlib.import_module('fwcompare.{backend}.' + m)\n"
                f"print({foreign!r} in sys.modules)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == "False", f"importing {backend} imported {foreign}"


def test_package_has_no_import_cycle():
    """Module-level ``fwcompare`` imports form no cycle (``benchmark`` and ``benchsuite`` used to)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("fwcompare", *parts)).removesuffix(".__init__")
        imports = set()
        for node in ast.parse(path.read_text()).body:  # module level only: lazy imports are not cycles
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fwcompare"):
                imports.add(node.module)
                imports.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                imports.update(alias.name for alias in node.names if alias.name.startswith("fwcompare"))
        graph[name] = imports
    modules = set(graph)
    edges = {name: {target for target in targets if target in modules and target != name}
             for name, targets in graph.items()}

    def visit(node, path):
        for target in edges[node]:
            assert target not in path, f"import cycle: {' -> '.join([*path, target])}"
            visit(target, [*path, target])

    for name in modules:
        visit(name, [name])


LITERALINCLUDE = re.compile(r"```\{literalinclude\}\s+(?P<path>\S+)\n(?P<options>(?::[^\n]*\n)*)")


def pyobject_targets():
    for page in sorted((REPO / "book").rglob("*.md")):
        for match in LITERALINCLUDE.finditer(page.read_text()):
            found = re.search(r"^:pyobject:\s*(\S+)", match["options"], re.M)
            if found:
                yield page.relative_to(REPO), (page.parent / match["path"]).resolve(), found[1]


TARGETS = list(pyobject_targets())


def test_the_book_shows_package_code():
    assert len(TARGETS) > 20, "the chapters show package code with literalinclude :pyobject:"


@pytest.mark.parametrize(("page", "source", "target"), TARGETS,
                         ids=[f"{page.stem}:{target}" for page, _, target in TARGETS])
def test_every_shown_object_exists_and_is_public(page, source, target):
    assert source.is_file(), f"{page} includes {source}, which does not exist"
    assert not any(part.startswith("_") for part in target.split(".")), \
        f"{page} shows {target}, which is private: what a chapter shows must be public API"
    tree = ast.parse(source.read_text())
    names = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert target.split(".")[0] in names, f"{page}: {source.name} defines no {target}"


def test_the_contract_test_catches_a_renamed_parameter(monkeypatch):
    """The check above fails when a backend renames a parameter (a guard against a test that
    cannot fail)."""
    from fwcompare.torch_impl import evaluate

    def renamed(net, x, y, batch_size=1000):  # 'model' renamed to 'net'
        return {}

    monkeypatch.setattr(evaluate, "evaluate", renamed)
    with pytest.raises(AssertionError):
        test_backend_has_the_name_with_the_contract_parameters(
            "torch_impl", contract.lookup("evaluate", "evaluate"))
