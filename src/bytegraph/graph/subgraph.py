"""Nested graph scopes: the fx graphs of higher-order op bodies, and lifting free values into them.

A higher-order op (``torch.cond``, ``flex_attention``'s ``score_mod``, the function given to
``vmap`` or ``checkpoint``, an autograd.Function's forward and backward) is one node of its
caller's graph whose arguments include *subgraphs*: the functions it was given, traced into fx
graphs of their own. While such a function is traced, ``OutputGraph`` records into the innermost
open ``SubgraphScope`` instead of the root graph.

Its placeholders are, in order:

1. the body's own arguments (``add_input``), made when the scope opens;
2. *lifted* free values: any value of an enclosing graph that the body uses (a tensor the closure
   captured, a parameter read inside the body, a symbolic size) gets a placeholder the first time an
   op of the body uses it (``lift``). Lifting walks out through every enclosing scope, so a value of
   the root graph used three levels deep is an input of each level in between.

``lifted`` maps each enclosing-graph node to its placeholder, in first-use order: the op node passes
those outer nodes as extra arguments. Graph inputs (placeholders of the root graph, made when the
body reads a sourceful tensor for the first time) are always added to the root graph.

A value computed *inside* a closed body (a sibling scope, or a finished one) is not reachable from
outside it; using it there is an escape (``Escaped``), which the caller reports as a side effect of
the body. The one exception is a scope opened with ``parent`` set to a closed scope: an
autograd.Function's backward is lifted out of its forward, so forward values it uses become the
saved values the forward hands to the backward.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.fx


class Escaped(Exception):
    """A node of a closed subgraph was used outside it."""


@dataclasses.dataclass(eq=False)
class SubgraphScope:
    graph: torch.fx.Graph
    parent: "SubgraphScope | None"         # where lifted values come from (None: the root graph)
    root: torch.fx.Graph
    name: str
    inputs: list[torch.fx.Node] = dataclasses.field(default_factory=list)
    lifted: dict[torch.fx.Node, torch.fx.Node] = dataclasses.field(default_factory=dict)
    modules: dict[str, torch.fx.GraphModule] = dataclasses.field(default_factory=dict)
    saved_modes: tuple[Any, ...] = ()       # the OutputGraph's mode state when the scope opened
    _last_placeholder: torch.fx.Node | None = None

    def _outer_graph(self) -> torch.fx.Graph:
        return self.parent.graph if self.parent is not None else self.root

    def add_input(self, name: str, example: Any) -> torch.fx.Node:
        """A placeholder for one of the body's own arguments (before any lifted value)."""
        node = self._placeholder(name, example)
        self.inputs.append(node)
        return node

    def lift(self, node: torch.fx.Node) -> torch.fx.Node:
        """``node`` as seen from this scope's graph: itself if it belongs here, else the placeholder
        it was lifted to (made now if this is its first use)."""
        if node.graph is self.graph:
            return node
        outer = self.parent.lift(node) if self.parent is not None else node
        if outer.graph is not self._outer_graph():
            raise Escaped(node.name)
        placeholder = self.lifted.get(outer)
        if placeholder is None:
            placeholder = self._placeholder(f"lifted_{outer.name}", outer.meta.get("example_value"))
            self.lifted[outer] = placeholder
        return placeholder

    def _placeholder(self, name: str, example: Any) -> torch.fx.Node:
        if self._last_placeholder is not None:
            where = self.graph.inserting_after(self._last_placeholder)
        else:
            first = next(iter(self.graph.nodes), None)
            where = self.graph.inserting_before(first)
        with where:
            node = self.graph.placeholder(name)
        node.meta["example_value"] = example
        self._last_placeholder = node
        return node

    def install(self, base: str, gm: torch.fx.GraphModule) -> str:
        """Register a nested body's module on this scope's module; its attribute name."""
        return install_module(self.modules, base, gm)

    def module(self) -> torch.fx.GraphModule:
        """The body as a GraphModule (its nested bodies as attributes); the output must be set."""
        return make_graph_module(self.graph, self.modules, self.name)


def install_module(modules: dict[str, torch.fx.GraphModule], base: str, gm: torch.fx.GraphModule) -> str:
    i = 0
    while f"{base}_{i}" in modules:
        i += 1
    name = f"{base}_{i}"
    modules[name] = gm
    return name


def make_graph_module(graph: torch.fx.Graph, modules: dict[str, torch.fx.GraphModule],
                      class_name: str) -> torch.fx.GraphModule:
    root = torch.nn.Module()
    for name, gm in modules.items():
        setattr(root, name, gm)
    return torch.fx.GraphModule(root, graph, class_name=class_name)


def fake_like(fake_mode: Any, value: Any) -> Any:
    """A fresh fake tensor with ``value``'s metadata (a subgraph's own input), or ``value`` itself
    for a number."""
    if not isinstance(value, torch.Tensor):
        return value
    with fake_mode:
        t = torch.empty_strided(value.size(), value.stride(), dtype=value.dtype, device=value.device)
    return t.requires_grad_(value.requires_grad) if value.requires_grad and t.is_floating_point() else t
