"""Package code as the book shows it: one function or class, with what it needs to run when copied.

A page that shows ``train_step`` from ``fwcompare/torch_impl/train.py`` shows more than the
function's lines: a reader who pastes them into a fresh Python session must get a working
definition, not a ``NameError`` on the first call. ``snippet`` therefore puts above the object
the lines it depends on, read from its module:

* the module's imports that bind a name the object uses (a relative import is written out in
  full, ``from . import data`` as ``from fwcompare.torch_impl import data``);
* the module constants it uses (and those they use), as written in the module;
* ``from <module> import <name>`` for the module's other functions and classes it calls, which
  the installed package provides;
* ``from __future__ import annotations`` when the module has it, so annotations stay unevaluated.

The book's Sphinx extension applies this to every ``literalinclude`` with ``:pyobject:`` of a
file in the package (``fwcompare.sphinxext``), and a test runs every snippet of the built site.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent  # .../code/fwcompare


def module_name(path: str | Path) -> str:
    """``fwcompare.torch_impl.train`` for ``.../code/fwcompare/torch_impl/train.py``."""
    path = Path(path).resolve()
    try:
        relative = path.relative_to(PACKAGE_ROOT.parent)
    except ValueError:
        raise ValueError(f"{path} is not a module of the fwcompare package ({PACKAGE_ROOT})") from None
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_object(tree: ast.Module, name: str) -> ast.stmt:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return node
    known = [node.name for node in tree.body
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    raise ValueError(f"no top-level function or class {name!r}; the module defines: {', '.join(known)}")


def _names_used(node: ast.AST) -> set[str]:
    """Every bare name the node reads (shadowed locals included: importing them is harmless)."""
    return {child.id for child in ast.walk(node) if isinstance(child, ast.Name)}


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".")[: -node.level]
    return ".".join(package + ([node.module] if node.module else []))


class _Module:
    """What a module's top level binds: name -> how (import line, constant statement, definition)."""

    def __init__(self, path: Path):
        self.source = path.read_text()
        self.tree = ast.parse(self.source)
        self.name = module_name(path)
        self.future = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                          for node in self.tree.body)
        self.imports: dict[str, str] = {}
        self.constants: dict[str, ast.stmt] = {}
        self.definitions: set[str] = set()
        for node in self.tree.body:
            self._bind(node)

    def _bind(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                line = f"import {alias.name} as {alias.asname}" if alias.asname else f"import {alias.name}"
                self.imports[bound] = line
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            origin = _absolute(self.name, node)
            for alias in node.names:
                suffix = f" as {alias.asname}" if alias.asname else ""
                self.imports[alias.asname or alias.name] = f"from {origin} import {alias.name}{suffix}"
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in _names_used(target):
                    self.constants[name] = node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.definitions.add(node.name)

    def segment(self, node: ast.stmt) -> str:
        """The node's source lines, decorators and comments directly above included."""
        lines = self.source.splitlines()
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        while first > 0 and lines[first - 1].lstrip().startswith("#"):
            first -= 1
        return "\n".join(lines[first: node.end_lineno])


def snippet(path: str | Path, name: str) -> str:
    """The source of top-level ``name`` in module file ``path``, preceded by what it needs to run."""
    module = _Module(Path(path))
    target = _top_level_object(module.tree, name)
    imports, helpers, constants = [], [], []
    pending, seen = sorted(_names_used(target)), {name}
    while pending:  # constants may use other constants and imports: follow them to the end
        used = pending.pop()
        if used in seen:
            continue
        seen.add(used)
        if used in module.imports:
            imports.append(module.imports[used])
        elif used in module.constants:
            statement = module.constants[used]
            if statement not in constants:
                constants.append(statement)
                pending += sorted(_names_used(statement))
        elif used in module.definitions:
            helpers.append(used)
    header = ["from __future__ import annotations", ""] if module.future else []
    if helpers:
        imports.append(f"from {module.name} import {', '.join(sorted(helpers))}")
    header += _import_lines(imports)
    if constants:
        constants.sort(key=lambda statement: statement.lineno)  # as the module orders them
        header += [""] + [module.segment(statement) for statement in constants]
    blank_lines = ["", ""] if header else []
    return "\n".join(header + blank_lines + [module.segment(target)]) + "\n"


def _import_group(line: str) -> int:
    """0 standard library, 1 third party, 2 this package: the groups isort (ruff) keeps apart."""
    origin = line.split()[1].split(".")[0]
    return 0 if origin in sys.stdlib_module_names else 2 if origin == "fwcompare" else 1


def _import_lines(lines: list[str]) -> list[str]:
    """Imports sorted as the package writes them: grouped, ``import x`` before ``from x``, a blank
    line between groups."""
    ordered = sorted(set(lines), key=lambda line: (_import_group(line), line.startswith("from"), line))
    out: list[str] = []
    for line in ordered:
        if out and _import_group(out[-1]) != _import_group(line):
            out.append("")
        out.append(line)
    return out
