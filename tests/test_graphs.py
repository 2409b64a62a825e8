"""The computation graphs the book draws: a jaxpr graph of the Flax MLP's loss with the right
operations, inputs and edges; torchviz's graph of the PyTorch MLP; Flax's table as plain text."""

from __future__ import annotations

import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from fwcompare import graphs
from fwcompare.linen_impl import models as jax_models
from fwcompare.linen_impl import train as jax_train
from fwcompare.torch_impl import models as torch_models

BATCH = 8
PARAM_SHAPES = {"Dense_0/bias": "f32[128]", "Dense_0/kernel": "f32[784,128]",
                "Dense_1/bias": "f32[10]", "Dense_1/kernel": "f32[128,10]"}


@pytest.fixture(scope="module")
def flax_mlp():
    return jax_models.create_mlp((128,), seed=0)


def loss_inputs(flax_mlp):
    model, params = flax_mlp

    def loss(params, x, y):
        return jax_train.cross_entropy(model.apply({"params": params}, x), y)

    return loss, params, jnp.zeros((BATCH, 784)), jnp.zeros((BATCH,), jnp.int32)


# A node statement, `id [label="text" ...]` or `id [label=word ...]`, and an edge, `a -> b`.
NODE = re.compile(r'^\s*"?(\w+)"? \[label=(?:"((?:[^"\\]|\\.)*)"|([^\s\]]+))', re.M)
EDGE = re.compile(r'^\s*"?(\w+)"? -> "?(\w+)"?', re.M)


def nodes_and_edges(graph) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``{node id: label}`` and ``[(tail, head)]`` parsed from the graph's DOT source."""
    source = graph.source
    labels = {node: quoted or bare for node, quoted, bare in NODE.findall(source)}
    return labels, EDGE.findall(source)


def test_loss_graph_has_the_mlp_operations(flax_mlp):
    labels, _ = nodes_and_edges(graphs.jaxpr_graph(*loss_inputs(flax_mlp)))
    primitives = [label.split("\n")[0] for label in labels.values()]
    assert primitives.count("dot_general") == 2  # one matrix product per Dense layer
    assert "add" in primitives  # the biases
    assert any("relu" in p or p == "max" for p in primitives)  # custom_jvp_call: relu, or a bare max
    # log-softmax: the max is subtracted, then exp, a sum over classes, log; then the batch mean
    for piece in ("reduce_max", "exp", "log", "reduce_sum", "div"):
        assert piece in primitives, piece


def test_one_input_node_per_parameter_leaf_with_its_shape(flax_mlp):
    labels, _ = nodes_and_edges(graphs.jaxpr_graph(*loss_inputs(flax_mlp)))
    inputs = {label.split("\n")[0]: label.split("\n")[1] for node, label in labels.items()
              if node.startswith("in")}
    assert inputs == {**PARAM_SHAPES, "x": f"f32[{BATCH},784]", "y": f"i32[{BATCH}]"}


def test_every_node_but_the_inputs_has_an_incoming_edge(flax_mlp):
    for expand in (False, True):
        labels, edges = nodes_and_edges(graphs.jaxpr_graph(*loss_inputs(flax_mlp), expand=expand))
        heads = {head for _, head in edges}
        tails = {tail for tail, _ in edges}
        assert set(labels) >= heads | tails, "an edge names an undeclared node"
        # sources: the function's inputs, closed-over constants, literals passed into a call
        sources = {node for node in labels if node.startswith("in") or "const" in node or "_lit" in node}
        assert {node for node in labels if node.startswith("in")} <= tails, "an input feeds nothing"
        for node in set(labels) - sources:
            # an equation whose operands are all literals (broadcast_in_dim of 0.0) starts a chain too
            only_literals = "\nwith " in labels[node] and node.startswith(("eqn", "in"))
            assert node in heads or only_literals, f"{node} {labels[node]!r} has no incoming edge"
        assert [node for node in labels if node.startswith("out")] == ["out0"]


def test_collapsed_calls_are_named_and_expanded_calls_are_boxes(flax_mlp):
    collapsed = graphs.jaxpr_graph(*loss_inputs(flax_mlp)).source
    expanded = graphs.jaxpr_graph(*loss_inputs(flax_mlp), expand=True).source
    assert "custom_jvp_call: relu" in collapsed and "subgraph" not in collapsed
    assert "subgraph cluster_" in expanded
    # expanded, relu's body shows its max against the literal 0.0
    assert re.search(r'label="max\nwith 0\.0\nf32\[8,128\]"', expanded)


def test_param_names_replace_the_paths_and_must_match_the_leaves(flax_mlp):
    loss, params, x, y = loss_inputs(flax_mlp)
    names = ["b1", "W1", "b2", "W2"]
    labels, _ = nodes_and_edges(graphs.jaxpr_graph(loss, params, x, y, param_names=names))
    assert [labels[f"in{i}"].split("\n")[0] for i in range(4)] == names
    with pytest.raises(ValueError, match="param_names"):
        graphs.jaxpr_graph(loss, params, x, y, param_names=names[:3])
    with pytest.raises(ValueError, match="param_names"):
        graphs.jaxpr_graph(loss, params, x, y, param_names="W1")


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="example arguments"):
        graphs.jaxpr_graph(lambda: 1.0)
    with pytest.raises(TypeError, match="callable"):
        graphs.jaxpr_graph("not a function", 1.0)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        graphs.torch_graph(lambda x: x, torch.zeros(1, 784))


def test_closed_over_arrays_are_constant_nodes():
    weights = np.arange(3, dtype=np.float32)

    def scaled(params, x):
        return params["w"] * x * jnp.asarray(weights)

    labels, edges = nodes_and_edges(graphs.jaxpr_graph(scaled, {"w": jnp.ones(3)}, jnp.ones(3)))
    assert labels["in0"] == "w\nf32[3]" and labels["in1"] == "x\nf32[3]"
    assert any(node.startswith("const") for node in labels)
    assert all(tail in labels for tail, _ in edges)


def test_count_equations_sees_inside_calls(flax_mlp):
    loss, params, x, y = loss_inputs(flax_mlp)
    closed = jax.make_jaxpr(loss)(params, x, y)
    assert graphs.count_equations(closed, nested=False) == len(closed.jaxpr.eqns)
    assert graphs.count_equations(closed) > len(closed.jaxpr.eqns)  # relu, take_along_axis bodies


def test_torch_graph_names_the_parameters():
    model = torch_models.create_mlp((128,), seed=0)
    labels, edges = nodes_and_edges(graphs.torch_graph(model, torch.zeros(1, 784)))
    texts = list(labels.values())
    for name, shape in [("layers.0.weight", "(128, 784)"), ("layers.0.bias", "(128)"),
                        ("layers.2.weight", "(10, 128)"), ("layers.2.bias", "(10)")]:
        assert f"{name}\n {shape}" in texts, name
    assert texts.count("AccumulateGrad") == 4  # one per parameter tensor
    assert "ReluBackward0" in texts and texts.count("AddmmBackward0") == 2
    assert len(edges) >= len(labels) - 1  # connected


def test_torch_graph_needs_a_parameter_that_requires_grad():
    model = torch_models.create_mlp((128,), seed=0).requires_grad_(False)
    with pytest.raises(ValueError, match="requires grad"):
        graphs.torch_graph(model, torch.zeros(1, 784))


def test_flax_table_is_plain_text(flax_mlp):
    model, _ = flax_mlp
    table = graphs.flax_table(model, jnp.zeros((1, 28, 28)))
    assert "\x1b[" not in table  # no ANSI colour codes
    assert "Dense_0" in table and "kernel: float32[784,128]" in table and "101,770" in table
    assert max(len(line) for line in table.splitlines()) <= 100
    with pytest.raises(ValueError, match="width"):
        graphs.flax_table(model, jnp.zeros((1, 28, 28)), width=10)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_graphs_render_to_svg(flax_mlp):
    jax_svg = graphs.jaxpr_graph(*loss_inputs(flax_mlp)).pipe(format="svg").decode()
    torch_svg = graphs.torch_graph(torch_models.create_mlp((128,), 0), torch.zeros(1, 784)
                                   ).pipe(format="svg").decode()
    assert jax_svg.lstrip().startswith("<?xml") and "Dense_0/kernel" in jax_svg
    assert "layers.0.weight" in torch_svg
