"""Pictures of a model's computation: a PyTorch autograd graph, a JAX jaxpr graph, a Flax table.

PyTorch records every operation of a forward pass on the tensors themselves (``grad_fn``), so
a graph can be read off one output: that is what torchviz draws. JAX arrays record nothing;
instead ``jax.make_jaxpr`` traces a *function* and returns its jaxpr, a typed list of primitive
equations. Drawing that list (one node per input, per equation and per output, one edge per
value passed on) gives JAX its torchviz. Both return a ``graphviz.Digraph``, which a notebook
shows as SVG and ``.render()`` writes to a file; drawing needs Graphviz's ``dot`` program.

Frameworks are imported inside the functions, so importing this module imports neither.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import graphviz

FILL = {"param": "lightblue", "input": "lightyellow", "const": "lightgrey",
        "equation": "white", "call": "lavender", "output": "darkolivegreen1"}
NODE_ATTRIBUTES = {"shape": "box", "style": "filled,rounded", "fontname": "monospace",
                   "fontsize": "10", "height": "0.2", "margin": "0.08,0.03"}
GRAPH_ATTRIBUTES = {"rankdir": "TB", "ranksep": "0.25", "nodesep": "0.25"}
# Primitives that just call another jaxpr with the same inputs and outputs: the only ones that
# ``expand=True`` draws inline. Loops and branches (scan, while, cond) always stay one node.
CALL_PRIMITIVES = frozenset({"jit", "pjit", "closed_call", "core_call", "remat", "checkpoint",
                             "custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr"})
# Equation parameters short enough to be worth showing in a node.
SHOWN_PARAMS = ("axes",)


# --- PyTorch -------------------------------------------------------------------------------

def torch_graph(model, example_input) -> graphviz.Digraph:
    """torchviz's drawing of the autograd graph behind ``model(example_input)``.

    Parameters appear under their ``named_parameters()`` names (``layers.0.weight``), each
    feeding an ``AccumulateGrad`` node: the graph is the *backward* graph autograd recorded.
    """
    import torch
    from torchviz import make_dot

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(example_input, torch.Tensor):
        example_input = torch.as_tensor(example_input)
    output = model(example_input)
    if output.grad_fn is None:
        raise ValueError("the model's output records no autograd graph: no parameter requires grad")
    with warnings.catch_warnings():
        # torchviz 0.0.3 compares versions with distutils' LooseVersion, which warns on every call
        warnings.filterwarnings("ignore", "distutils Version classes", DeprecationWarning)
        return make_dot(output, params=dict(model.named_parameters()))


# --- JAX -----------------------------------------------------------------------------------

def _argument_names(fn: Callable, count: int) -> list[str]:
    """The names of ``fn``'s first ``count`` positional parameters, ``arg<i>`` where unknown."""
    try:
        parameters = [p for p in inspect.signature(fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):  # builtins and some wrapped callables have no signature
        parameters = []
    names = [p.name for p in parameters[:count]]
    return names + [f"arg{index}" for index in range(len(names), count)]


def _leaf_names(fn: Callable, args: Sequence[Any], param_names: Sequence[str] | None,
                ) -> tuple[list[str], int]:
    """A name for every leaf of ``args`` (the order ``make_jaxpr`` flattens them in) and the
    number of leaves in the first argument, the parameters.

    Parameter leaves are named by their pytree path (``Dense_0/kernel``), or by ``param_names``;
    other leaves by the argument's name in ``fn``'s signature, plus a path if it is a tree.
    """
    import jax

    arg_names = _argument_names(fn, len(args))
    names: list[str] = []
    n_params = 0
    for position, (arg, arg_name) in enumerate(zip(args, arg_names, strict=True)):
        paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(arg)[0]]
        keys = [jax.tree_util.keystr(path, simple=True, separator="/") for path in paths]
        if position == 0:
            n_params = len(keys)
            if param_names is not None:
                if isinstance(param_names, str) or len(param_names) != len(keys):
                    raise ValueError(f"param_names must name each of the {len(keys)} leaves of the first "
                                     f"argument, got {param_names!r}")
                keys = [str(name) for name in param_names]
            names += [key or arg_name for key in keys]
        else:
            names += [f"{arg_name}/{key}" if key else arg_name for key in keys]
    return names, n_params


def _shape(var) -> str:
    """``f32[64,128]``: dtype and shape, as jaxprs print them."""
    return var.aval.str_short(short_dtypes=True)


def _subjaxprs(eqn) -> list[tuple[Any, Sequence[Any]]]:
    """``(jaxpr, consts)`` of every jaxpr an equation holds in its parameters (calls, loop bodies)."""
    from jax.extend.core import ClosedJaxpr, Jaxpr

    found = []
    for value in eqn.params.values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, ClosedJaxpr):
                found.append((item.jaxpr, item.consts))
            elif isinstance(item, Jaxpr):
                found.append((item, ()))
    return found


def _called_name(eqn) -> str | None:
    """The name of the function an equation calls (``relu`` for ``custom_jvp_call``), if any."""
    if isinstance(eqn.params.get("name"), str):
        return eqn.params["name"]
    for jaxpr, _ in _subjaxprs(eqn):
        debug = getattr(jaxpr, "debug_info", None)
        if debug is not None and getattr(debug, "func_name", None):
            return debug.func_name
    return None


def _title(eqn) -> str:
    name = _called_name(eqn)
    return f"{eqn.primitive.name}: {name}" if name else eqn.primitive.name


def _label(eqn) -> str:
    """Primitive (and called function), short parameters, literal operands, output shapes."""
    from jax.extend.core import Literal

    lines = [_title(eqn)]
    shown = [f"{key}={eqn.params[key]}" for key in SHOWN_PARAMS if key in eqn.params]
    literals = [_literal(var) for var in eqn.invars if isinstance(var, Literal)]
    if literals:
        shown.append("with " + ", ".join(literals))
    if shown:
        lines.append(" ".join(shown))
    lines.append(" ".join(_shape(var) for var in eqn.outvars))
    return "\n".join(lines)


def _literal(var) -> str:
    """A literal operand as plain text: ``0``, ``-inf``, ``64.0``."""
    import numpy as np

    return str(np.asarray(var.val).item())


def _connect(root: graphviz.Digraph, env: dict, var, node: str) -> None:
    """An edge from the node that produced ``var`` to ``node``; literals are in the label instead.

    Edges always go into the top-level graph: Graphviz makes both ends of an edge written
    inside a cluster members of that cluster, which would pull outer nodes into a call's box.
    """
    from jax.extend.core import Literal

    if not isinstance(var, Literal):
        root.edge(env[var], node)


def _value_node(graph: graphviz.Digraph, node: str, label: str, kind: str) -> str:
    graph.node(node, label, fillcolor=FILL[kind])
    return node


def _draw_constants(graph: graphviz.Digraph, constvars, env: dict, prefix: str) -> None:
    """Arrays the function closed over (not arguments) become grey input nodes."""
    for index, var in enumerate(constvars):
        env[var] = _value_node(graph, f"{prefix}const{index}", f"constant\n{_shape(var)}", "const")


def _expandable(eqn) -> bool:
    subjaxprs = _subjaxprs(eqn)
    if eqn.primitive.name not in CALL_PRIMITIVES or len(subjaxprs) != 1:
        return False
    jaxpr, _ = subjaxprs[0]
    return len(jaxpr.invars) == len(eqn.invars) and len(jaxpr.outvars) == len(eqn.outvars)


def _draw_call(graph: graphviz.Digraph, root: graphviz.Digraph, eqn, env: dict, node: str) -> None:
    """A call drawn inline, inside a dashed box named after the function: its inputs are the
    caller's values (no new nodes), and its outputs become the caller's."""
    from jax.extend.core import Literal

    [(jaxpr, _)] = _subjaxprs(eqn)
    with graph.subgraph(name=f"cluster_{node}") as cluster:
        cluster.attr(label=_title(eqn), style="dashed,rounded", fontname="monospace", fontsize="10")
        inner: dict = {}
        for index, (var, outer) in enumerate(zip(jaxpr.invars, eqn.invars, strict=True)):
            inner[var] = (_value_node(cluster, f"{node}_lit{index}", _literal(outer), "const")
                          if isinstance(outer, Literal) else env[outer])
        _draw_constants(cluster, jaxpr.constvars, inner, f"{node}_")
        _draw_equations(cluster, root, jaxpr.eqns, inner, f"{node}_", expand=True)
        for index, (var, outer) in enumerate(zip(jaxpr.outvars, eqn.outvars, strict=True)):
            env[outer] = (_value_node(cluster, f"{node}_out{index}", _literal(var), "const")
                          if isinstance(var, Literal) else inner[var])


def _draw_equations(graph: graphviz.Digraph, root: graphviz.Digraph, eqns, env: dict, prefix: str,
                    expand: bool) -> None:
    """One node per equation (or an inline cluster for a call when ``expand``), edges from producers."""
    for index, eqn in enumerate(eqns):
        node = f"{prefix}eqn{index}"
        if expand and _expandable(eqn):
            _draw_call(graph, root, eqn, env, node)
            continue
        graph.node(node, _label(eqn), fillcolor=FILL["call" if _subjaxprs(eqn) else "equation"])
        for var in eqn.invars:
            _connect(root, env, var, node)
        for var in eqn.outvars:
            env[var] = node


def jaxpr_graph(fn: Callable, *args, param_names: Sequence[str] | None = None,
                expand: bool = False) -> graphviz.Digraph:
    """A drawing of ``jax.make_jaxpr(fn)(*args)``: JAX's counterpart of a torchviz graph.

    ``args[0]`` is taken to be the parameters (a pytree such as Flax's ``params``): each leaf
    becomes a blue node named by its path (``Dense_0/kernel``) or by ``param_names``, with its
    shape. The other arguments become yellow input nodes named after ``fn``'s parameters.
    Every equation is a node (primitive, called function for jit/custom_jvp calls, output
    shapes); calls stay one node (purple) unless ``expand`` draws them inline.
    """
    import jax

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if not args:
        raise ValueError("jaxpr_graph needs example arguments: fn's parameters first, then its inputs")
    names, n_params = _leaf_names(fn, args, param_names)
    closed = jax.make_jaxpr(fn)(*args)
    jaxpr = closed.jaxpr
    graph = graphviz.Digraph(graph_attr=GRAPH_ATTRIBUTES, node_attr=NODE_ATTRIBUTES)
    env: dict = {}
    for index, (var, name) in enumerate(zip(jaxpr.invars, names, strict=True)):
        kind = "param" if index < n_params else "input"
        env[var] = _value_node(graph, f"in{index}", f"{name}\n{_shape(var)}", kind)
    _draw_constants(graph, jaxpr.constvars, env, "")
    _draw_equations(graph, graph, jaxpr.eqns, env, "", expand)
    for index, var in enumerate(jaxpr.outvars):
        node = _value_node(graph, f"out{index}", f"output\n{_shape(var)}", "output")
        _connect(graph, env, var, node)
    return graph


def _all_equations(jaxpr) -> Iterator[Any]:
    for eqn in jaxpr.eqns:
        yield eqn
        for sub, _ in _subjaxprs(eqn):
            yield from _all_equations(sub)


def count_equations(closed_jaxpr, nested: bool = True) -> int:
    """How many equations a jaxpr has: top level only, or (``nested``) inside calls and loops too."""
    jaxpr = getattr(closed_jaxpr, "jaxpr", closed_jaxpr)
    return sum(1 for _ in _all_equations(jaxpr)) if nested else len(jaxpr.eqns)


# --- Flax ----------------------------------------------------------------------------------

def flax_table(model, example_input, width: int = 100) -> str:
    """Flax's ``nn.tabulate`` summary (layers, input and output shapes, parameters) as plain text.

    ``tabulate`` prints through rich, which colours its output for terminals and notebooks;
    colours are switched off so the text reads the same on a web page.
    """
    import flax.linen as nn
    import jax

    if width < 40:
        raise ValueError(f"width={width!r} is too narrow for the table; use 40 or more")
    console = {"width": width, "force_terminal": False, "force_jupyter": False,
               "color_system": None, "no_color": True}
    table = nn.tabulate(model, jax.random.key(0), console_kwargs=console)(example_input)
    return "\n".join(line.rstrip() for line in table.splitlines()).strip("\n")
