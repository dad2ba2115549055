"""graph/subgraph.py through OutputGraph: nested body scopes and lifting free values into them."""

from __future__ import annotations

import pytest
import torch

from bytegraph.diagnostics import breaks
from bytegraph.diagnostics.errors import Unsupported
from bytegraph.graph.output_graph import OutputGraph
from bytegraph.sources import LocalSource
from bytegraph.variables.tensor import TensorVariable


def _placeholders(graph: torch.fx.Graph) -> list[str]:
    return [n.target for n in graph.nodes if n.op == "placeholder"]


def _input(out: OutputGraph, scope, name: str, like: TensorVariable) -> TensorVariable:
    node, fake = out.add_subgraph_input(scope, name, like.fake)
    return TensorVariable(node, fake)


def test_a_value_used_two_levels_deep_is_an_input_of_each_level():
    out = OutputGraph()
    x = out.add_tensor_input(LocalSource("x"), torch.randn(3))
    y = out.call_function(torch.cos, [x], {})
    outer = out.open_subgraph("outer")
    a = _input(out, outer, "a", x)
    inner = out.open_subgraph("inner")
    b = _input(out, inner, "b", x)
    z = out.call_function(torch.add, [b, y], {})                # y: a value of the root graph
    out.end_subgraph(inner)
    assert out.scope is outer and out.graph is outer.graph
    assert _placeholders(inner.graph) == ["b", "lifted_lifted_cos"]
    assert _placeholders(outer.graph) == ["a", "lifted_cos"]     # lifted into the outer body on the way
    assert list(outer.lifted) == [y.node] and list(inner.lifted) == [outer.lifted[y.node]]
    assert z.node.graph is inner.graph and a.node.graph is outer.graph
    out.end_subgraph(outer)
    assert out.scope is None and out.graph is out.root_graph


def test_a_graph_input_first_read_inside_a_body_is_a_root_placeholder():
    out = OutputGraph()
    x = out.add_tensor_input(LocalSource("x"), torch.randn(3))
    body = out.open_subgraph("body")
    w = out.add_tensor_input(LocalSource("w"), torch.randn(3))  # (the builder wrapping a parameter)
    out.call_function(torch.mul, [x, w], {})
    out.end_subgraph(body)
    assert _placeholders(out.root_graph) == ["L_x_", "L_w_"]
    assert [n.target for n in body.lifted] == ["L_x_", "L_w_"]


def test_a_value_of_a_closed_body_used_outside_is_a_break():
    out = OutputGraph()
    x = out.add_tensor_input(LocalSource("x"), torch.randn(3))
    body = out.open_subgraph("body")
    inside = out.call_function(torch.sin, [x], {})
    out.end_subgraph(body)
    with pytest.raises(Unsupported) as info:
        out.call_function(torch.cos, [inside], {})
    assert info.value.kind is breaks.HOP_BODY


def test_a_body_lifted_out_of_a_closed_body_takes_its_values_as_saved():
    """An autograd.Function's backward is lifted out of its forward: forward values are saved
    values, and a root value it uses goes through the forward."""
    out = OutputGraph()
    x = out.add_tensor_input(LocalSource("x"), torch.randn(3))
    w = out.add_tensor_input(LocalSource("w"), torch.randn(3))
    fwd = out.open_subgraph("fwd")
    a = _input(out, fwd, "a", x)
    s = out.call_function(torch.sin, [a], {})
    out.end_subgraph(fwd)
    bwd = out.open_subgraph("bwd", parent=fwd)
    g = _input(out, bwd, "g", x)
    out.call_function(torch.mul, [g, s], {})
    out.call_function(torch.mul, [g, w], {})
    out.end_subgraph(bwd)
    assert list(bwd.lifted) == [s.node, fwd.lifted[w.node]]
    assert _placeholders(fwd.graph) == ["a", "lifted_l_w_"]


def test_ops_after_a_body_go_to_the_graph_that_was_current():
    out = OutputGraph()
    x = out.add_tensor_input(LocalSource("x"), torch.randn(3))
    body = out.open_subgraph("body", grad_enabled=False)
    assert out.grad_enabled is False
    out.end_subgraph(body)
    assert out.grad_enabled is torch.is_grad_enabled()
    y = out.call_function(torch.sin, [x], {})
    assert y.node.graph is out.root_graph
