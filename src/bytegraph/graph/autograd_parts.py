"""Autograd-independent parts of a graph: outputs whose backward passes share no op of the graph.

Eager autograd has a node per op, so two results that share no op can be backpropagated one at a
time: a GAN step returns ``d_loss`` (computed from ``fake.detach()``) and ``g_loss``, and calls
``d_loss.backward()`` then ``g_loss.backward()``. An AOTAutograd backend (``aot_eager``,
``inductor``) makes the whole graph ONE autograd node, so the first backward frees what the second
needs: ``RuntimeError: Trying to backward through the graph a second time`` (torch.compile raises it
too; fuzz seeds 110086, 110094, 110134). bytegraph hands such a graph to the backend as one
submodule per part (``runtime/split.py``), each with a backward of its own.

The plan (``plan``), as an ordered list of rules over the graph's ops:

1. A graph that switches autocast or inference mode is not split. Grad-mode switches are: each op
   is tagged with the mode it runs under (``node.meta["bytegraph_grad_mode"]``), the splitter
   takes the switches out and switches inside each part where its ops need it
   (``runtime/split.py``); the plan says the modes the graph is called in and leaves.
2. Two ops are joined when one passes the other a tensor that requires grad (placeholders and
   attributes are shared inputs, not joins: eager's backward of two ops reading one parameter are
   two nodes).
3. An op that writes into a tensor is joined with every op that reads or writes it, so the writes
   keep their order with the reads.
4. Random ops draw in the program's order: the parts run in the order of their first op, so each
   part's random ops must come before the next part's; where they do not, the random ops are
   joined into one group.
5. The parts are the groups that hold an output requiring grad (a write into a graph input of a
   value that requires grad is one: the backend hands it back); every other op goes with the part
   of its first user (or with the last part when none); a plan where a part needs a value of a
   part that runs after it is dropped.

Only a plan with two parts or more is kept; most graphs (one loss, or a loss and logits that share
the forward) have one.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.fx

Written = Callable[[torch.fx.Node], list]


class _Groups:
    """Union-find over nodes."""

    def __init__(self) -> None:
        self.parent: dict[torch.fx.Node, torch.fx.Node] = {}

    def find(self, n: torch.fx.Node) -> torch.fx.Node:
        root = n
        while self.parent.get(root, root) is not root:
            root = self.parent[root]
        while n is not root:
            self.parent[n], n = root, self.parent.get(n, n)
        return root

    def join(self, a: torch.fx.Node, b: torch.fx.Node) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra is not rb:
            self.parent[rb] = ra


def _requires_grad(n: torch.fx.Node) -> bool:
    """An op whose result has autograd history: it requires grad and was made with grad on (a
    write into a parameter under ``no_grad``, an optimizer's update, returns a tensor that
    requires grad but records nothing)."""
    value = n.meta.get("example_value")
    return isinstance(value, torch.Tensor) and value.requires_grad and n.meta.get(GRAD_MODE, True)


def _is_op(n: torch.fx.Node) -> bool:
    """A node that computes (a grad-mode switch is not one: the splitter moves switches)."""
    return n.op in ("call_function", "call_method", "call_module") and n.target is not torch._C._set_grad_enabled


def root_of(n: object) -> object:
    """The tensor a write lands in, followed back through first arguments (views, or not: erring
    on the side of more) to where it starts: a graph input, or a node with no arguments."""
    while isinstance(n, torch.fx.Node) and n.op != "placeholder" and n.args:
        n = n.args[0]
    return n


GRAD_MODE = "bytegraph_grad_mode"        # node.meta key: the grad mode an op runs under
GRAD_MODE_BEFORE = "grad mode before"     # plan key: the mode the graph is called in
GRAD_MODE_AFTER = "grad mode after"       # plan key: the mode the graph leaves in force


def plan(graph: torch.fx.Graph, written: Written, is_random: Callable[[torch.fx.Node], bool],
         switches: frozenset, entry_mode: bool) -> dict[str, int | bool] | None:
    """Part index by node name for each op of ``graph`` (rules in the module doc), or None: one part.
    The parts are numbered in the order split_module runs them (the order of their first op)."""
    mode = entry_mode                                                           # rule 1
    for n in graph.nodes:
        if n.op == "call_function" and n.target is torch._C._set_grad_enabled:
            mode = bool(n.args[0])
        elif n.op == "call_function" and n.target in switches:
            return None
        elif _is_op(n):
            n.meta[GRAD_MODE] = mode
    writes = {n: written(n) for n in graph.nodes if _is_op(n)}
    for join_random in (False, True):
        part = _assign(graph, writes, is_random, join_random)
        if part is None:
            return None
        if _runs_in_order(part) and _draws_in_order(part, is_random):
            return {**{n.name: p for n, p in part.items()}, GRAD_MODE_BEFORE: entry_mode, GRAD_MODE_AFTER: mode}
    return None


def _assign(graph: torch.fx.Graph, writes: dict[torch.fx.Node, list], is_random: Callable[[torch.fx.Node], bool],
            join_random: bool) -> dict[torch.fx.Node, int] | None:
    nodes = list(graph.nodes)
    ops = [n for n in nodes if _is_op(n)]
    groups = _Groups()
    for n in ops:                                                               # rule 2
        for arg in n.all_input_nodes:
            if _is_op(arg) and _requires_grad(arg):
                groups.join(arg, n)
    for n in ops:                                                               # rule 3
        for target in writes[n]:
            for shared in {target, root_of(target)}:
                if isinstance(shared, torch.fx.Node):
                    for user in shared.users:
                        if _is_op(user):
                            groups.join(n, user)
                    if _is_op(shared):
                        groups.join(n, shared)
    randoms = [n for n in ops if is_random(n)] if join_random else []          # rule 4
    for n in randoms[1:]:
        groups.join(randoms[0], n)
    output = next(n for n in reversed(nodes) if n.op == "output")
    roots: list[torch.fx.Node] = []                                             # rule 5
    for out in [*output.all_input_nodes, *(n for n in ops if _writes_an_input(writes[n]))]:
        if _is_op(out) and _requires_grad(out) and groups.find(out) not in roots:
            roots.append(groups.find(out))
    if len(roots) < 2:
        return None
    order = {n: i for i, n in enumerate(nodes)}
    index = {r: i for i, r in enumerate(roots)}
    part: dict[torch.fx.Node, int] = {}
    for n in reversed(ops):
        if groups.find(n) in index:
            part[n] = index[groups.find(n)]
            continue
        users = sorted((u for u in n.users if u in part), key=order.__getitem__)
        part[n] = part[users[0]] if users else len(roots) - 1
    first: dict[int, int] = {}                   # renumbered in the order of each part's first op
    for n in ops:
        first.setdefault(part[n], len(first))
    return {n: first[part[n]] for n in ops}           # (in program order)


def _runs_in_order(part: dict[torch.fx.Node, int]) -> bool:
    """Whether each part needs values only from parts before it (split_module runs them in order)."""
    return all(part[a] <= p for n, p in part.items() for a in n.all_input_nodes if a in part)


def _draws_in_order(part: dict[torch.fx.Node, int], is_random: Callable[[torch.fx.Node], bool]) -> bool:
    """Whether the random ops, in program order, belong to parts in the order the parts run."""
    seq = [p for n, p in part.items() if is_random(n)]
    return all(a <= b for a, b in zip(seq, seq[1:]))


def _writes_an_input(targets: list) -> bool:
    """An op that writes into a graph input: the backend hands the written value back, an output."""
    return any(isinstance(r := root_of(t), torch.fx.Node) and r.op == "placeholder" for t in targets)
