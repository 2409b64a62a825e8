"""Run copied snippets in this fresh interpreter: ``python snippet_runner.py < snippets.json``.

Each snippet (a str) is executed in an empty namespace, as if pasted into a new Python session.
It passes when it raises nothing, defines the object it ends with (its last top-level function or
class), and every global name that object's code reads resolves in that namespace or in
builtins: a missing import would otherwise only fail on the first call. Prints a JSON list of
``{"index": i, "error": "..."}`` for the snippets that fail.
"""

from __future__ import annotations

import ast
import builtins
import dis
import json
import sys
import types


def _defined_name(source: str) -> str:
    definitions = [node.name for node in ast.parse(source).body
                   if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    if not definitions:
        raise ValueError("the snippet defines no function or class")
    return definitions[-1]


def _code_objects(obj) -> list[types.CodeType]:
    """The code of a function (and of everything nested in it), or of every method of a class."""
    if isinstance(obj, type):
        found = []
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)  # staticmethod, classmethod
            if isinstance(member, property):
                found += [c for f in (member.fget, member.fset) if f for c in _code_objects(f)]
            elif isinstance(member, types.FunctionType | type):
                found += _code_objects(member)
        return found
    obj = getattr(obj, "__wrapped__", obj)  # functools.wraps, jax.jit
    code = getattr(obj, "__code__", None)
    if code is None:
        return []
    stack, found = [code], []
    while stack:
        current = stack.pop()
        found.append(current)
        stack += [const for const in current.co_consts if isinstance(const, types.CodeType)]
    return found


def _unresolved(obj, namespace: dict) -> set[str]:
    missing = set()
    for code in _code_objects(obj):
        for instruction in dis.get_instructions(code):
            if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                name = instruction.argval
                if name not in namespace and not hasattr(builtins, name):
                    missing.add(name)
    return missing


def check(source: str, index: int = 0) -> str | None:
    """None when the snippet runs and defines a complete object, else what went wrong."""
    # A fresh module stands for a new session's __main__: dataclass machinery (Flax Linen's
    # modules) looks the defining module up in sys.modules.
    module = types.ModuleType(f"copied_snippet_{index}")
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    try:
        name = _defined_name(source)
        exec(compile(source, "<copied snippet>", "exec"), namespace)
    except Exception as error:  # noqa: BLE001 - any failure of a copied snippet is the finding
        return f"{type(error).__name__}: {error}"
    missing = _unresolved(namespace[name], namespace)
    if missing:
        return f"{name} reads undefined names: {', '.join(sorted(missing))}"
    return None


if __name__ == "__main__":
    snippets = json.load(sys.stdin)
    failures = [{"index": i, "error": error} for i, source in enumerate(snippets)
                if (error := check(source, i)) is not None]
    print(json.dumps(failures))
