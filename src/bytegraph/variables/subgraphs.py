"""Tracing a callable in a nested scope into a subgraph: the one mechanism every higher-order op uses.

``trace_body(tx, fn, args, kwargs, what=...)`` calls ``fn`` (any tracker: a function, a lambda, a
closure, a module, a partial) on symbolic arguments while ``OutputGraph`` records into a new body
graph (graph/subgraph.py):

* every tensor (or symbolic number) among the arguments, at any depth of tuples and lists, becomes a
  placeholder of the body, with a fresh fake tensor of the same metadata; a ``BodyInput`` stands for
  an input the op makes itself (flex_attention's score and indices, a vmapped argument's per-example
  slice); everything else (constants, modules, functions) is passed as it is;
* values of the enclosing graphs the body uses are lifted to extra placeholders (``Body.lifted``);
  values it reads from the program (a parameter, a global tensor) become graph inputs of the frame,
  guarded there, as anywhere else;
* what it returns is split into graph outputs (tensors, symbolic numbers) and the structure around
  them (``Body.rebuild``), so the op's node can be unpacked into the same structure outside.

A body is one graph or nothing: a graph break inside it, a change of state outside it
(``CaptureState.check_body_mutation``), an in-place write into one of its inputs, or a result that
is not tensors in tuples/lists/dicts is a GB021 break of the op call, which then runs natively.
Ops differ only in how they build their node from bodies: the table in ``variables/higher_order.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator

import torch
import torch.fx
from torch.multiprocessing.reductions import StorageWeakRef

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from ..graph.subgraph import SubgraphScope, fake_like
from .base import Tx, VariableTracker, next_serial
from .constant import ConstantVariable
from .dicts import DictVariable
from .lists import ListVariable, TupleVariable
from .symbolic import SymNodeVariable
from .tensor import TensorVariable


class BodyInput(VariableTracker):
    """An input a higher-order op makes for its body (not a value of the program): becomes a
    placeholder whose fake value is ``fake``."""

    def __init__(self, fake: Any) -> None:
        super().__init__(None)
        self.fake = fake

    def python_type(self) -> type:
        return torch.Tensor if isinstance(self.fake, torch.Tensor) else type(self.fake)


class GraphValue(VariableTracker):
    """An fx value passed to an op node as it is: a body module (``get_attr`` node, and the module as
    its fake-run value) or a lifted node of the graph being recorded."""

    def __init__(self, node: torch.fx.Node, value: Any) -> None:
        super().__init__(None)
        self.node = node
        self.value = value

    def as_graph_arg(self) -> tuple[Any, Any]:
        return self.node, self.value


@dataclasses.dataclass(eq=False)
class Body:
    """A callable traced into a subgraph (still open for its output: ``module``)."""

    scope: SubgraphScope
    inputs: list[VariableTracker]     # what each input placeholder stands for, in order (outer values, BodyInputs)
    result: VariableTracker           # what the callable returned (trackers of the body)
    leaves: list[VariableTracker]     # its tensors and symbolic numbers: the graph outputs, in order
    rebuild: Callable[[list[VariableTracker]], VariableTracker]   # the result's structure over new leaves
    skeleton: Any                     # the result as Python: 0 for each leaf, constants as they are
    what: str

    @property
    def lifted(self) -> list[torch.fx.Node]:
        """Nodes of the enclosing graph the body uses, in placeholder order (after its inputs)."""
        return list(self.scope.lifted)

    def lifted_args(self) -> list[VariableTracker]:
        return [GraphValue(n, n.meta.get("example_value")) for n in self.lifted]

    def output_nodes(self, clone_aliases: bool = True) -> list[torch.fx.Node]:
        """The leaves as nodes of the body graph. An op whose outputs must be new tensors
        (``clone_aliases``) gets a clone of any output that is, or views, one of the body's inputs."""
        graph = self.scope.graph
        inputs = [n for n in graph.nodes if n.op == "placeholder"]
        storages = {_storage(n.meta.get("example_value")) for n in inputs} - {None}
        nodes = []
        for vt in self.leaves:
            node = self.scope.lift(vt.node)
            fake = node.meta.get("example_value")
            aliases = isinstance(fake, torch.Tensor) and (node.op == "placeholder" or _storage(fake) in storages)
            if clone_aliases and aliases:
                node = graph.call_function(torch.clone, (node,))
                node.meta["example_value"] = fake_like(fake.fake_mode, fake)
            nodes.append(node)
        return nodes

    def module(self, output: Any) -> torch.fx.GraphModule:
        """Set the body's output (nodes of its graph, in any fx structure) and build its module."""
        self.scope.graph.output(output)
        return self.scope.module()

    def align(self, lifted: list[torch.fx.Node]) -> None:
        """Make the body take exactly ``lifted`` after its inputs, in that order (placeholders for
        values it does not use are added): the bodies of one op share their extra inputs."""
        places = [self.scope.lift(n) for n in lifted]
        anchor = self.scope.inputs[-1] if self.scope.inputs else None
        for ph in places:
            if anchor is None:
                first = next(iter(self.scope.graph.nodes))
                if first is not ph:
                    first.prepend(ph)
            else:
                anchor.append(ph)
            anchor = ph
        self.scope.lifted = dict(zip(lifted, places))


def _storage(value: Any) -> Any:
    if not isinstance(value, torch.Tensor):
        return None
    try:
        return StorageWeakRef(value.untyped_storage())
    except Exception:   # noqa: BLE001 - a tensor without storage cannot alias
        return None


def trace_body(tx: Tx, fn: VariableTracker, args: list[VariableTracker], kwargs: dict[str, VariableTracker], *,
               what: str, name: str = "body", grad_enabled: bool | None = None,
               parent: Any = "current") -> Body:
    """Trace ``fn(*args, **kwargs)`` into a new body graph (module docstring). ``what`` names the op
    and argument in messages (``"the true branch of torch.cond"``); ``grad_enabled`` is the grad
    mode the op runs the body in (``OutputGraph.open_subgraph``)."""
    graph, capture = tx.graph, tx.capture
    scope = graph.open_subgraph(name, parent, grad_enabled)
    body = capture.open_body(next_serial(), what)
    inputs: list[VariableTracker] = []
    try:
        inner_args = [_as_inputs(graph, scope, a, inputs) for a in args]
        inner_kwargs = {k: _as_inputs(graph, scope, v, inputs) for k, v in kwargs.items()}
        result = tx.call(fn, inner_args, inner_kwargs).realize()
        capture.close_body(body, returned=True)
        leaves: list[VariableTracker] = []
        skeleton = _flatten(result, leaves, what)
        if _writes_inputs(graph, scope.graph):
            raise Unsupported(breaks.HOP_BODY, f"{what} writes into one of its inputs (or a tensor from "
                              f"outside it) in place")
    except Unsupported as e:
        raise body_break(e, what) from e
    finally:
        capture.close_body(body, returned=False)
        graph.end_subgraph(scope)
    return Body(scope, inputs, result, leaves, lambda new: _rebuild(result, iter(new)), skeleton, what)


def _writes_inputs(output: Any, body: torch.fx.Graph) -> bool:
    """Whether an op of the body writes in place into memory of one of its placeholders (its inputs,
    and the tensors it lifted): ``output.written`` says what each op writes, the fake tensors'
    storages exactly what aliases what."""
    inputs = {_storage(n.meta.get("example_value")) for n in body.nodes if n.op == "placeholder"} - {None}
    return any(isinstance(w, torch.fx.Node) and _storage(w.meta.get("example_value")) in inputs
               for n in body.nodes for w in output.written(n))


def body_break(e: Unsupported, what: str) -> Unsupported:
    """A break inside a body, as a break of the op call (GB021) that says where and why."""
    if e.kind is breaks.HOP_BODY:
        return e
    where = next((loc for loc in reversed(e.stack) if not loc.internal), None)
    at = f" at {where.short()}" if where is not None else ""
    return Unsupported(breaks.HOP_BODY, f"{what} cannot be one subgraph: {e.kind.id} {e.kind.title}{at}: {e.detail}")


def _as_inputs(graph: Any, scope: SubgraphScope, vt: VariableTracker, inputs: list[VariableTracker]) -> VariableTracker:
    """``vt`` with each tensor and symbolic number in it replaced by a new placeholder of the body."""
    vt = vt.realize()
    if isinstance(vt, (TensorVariable, BodyInput)) or isinstance(vt, SymNodeVariable):
        example = vt.sym if isinstance(vt, SymNodeVariable) else vt.fake
        node, fake = graph.add_subgraph_input(scope, f"arg{len(inputs)}", example)
        inputs.append(vt)
        if isinstance(fake, torch.Tensor):
            return TensorVariable(node, fake, vt.python_type() if isinstance(vt, TensorVariable) else torch.Tensor)
        return SymNodeVariable(node, fake)
    if isinstance(vt, TupleVariable) and vt.py_type is tuple or type(vt) is ListVariable:
        return vt.new([_as_inputs(graph, scope, item, inputs) for item in vt.realized()])
    if isinstance(vt, DictVariable) and vt.py_type is dict:
        return DictVariable({k: _as_inputs(graph, scope, vt.value(k), inputs) for k in vt.keys()})
    return vt


def count_inputs(vt: VariableTracker) -> int:
    """How many placeholders ``_as_inputs`` makes for ``vt``."""
    vt = vt.realize()
    if isinstance(vt, (TensorVariable, BodyInput, SymNodeVariable)):
        return 1
    if isinstance(vt, TupleVariable) and vt.py_type is tuple or type(vt) is ListVariable:
        return sum(count_inputs(item) for item in vt.realized())
    if isinstance(vt, DictVariable) and vt.py_type is dict:
        return sum(count_inputs(vt.value(k)) for k in vt.keys())
    return 0


def _flatten(vt: VariableTracker, leaves: list[VariableTracker], what: str) -> Any:
    """The result as Python with 0 for each tensor or symbolic number (appended to ``leaves``)."""
    vt = vt.realize()
    if vt.is_tensor or isinstance(vt, SymNodeVariable):
        leaves.append(vt)
        return 0
    if isinstance(vt, (TupleVariable, ListVariable)) and not vt.is_constant():
        items = [_flatten(item, leaves, what) for item in vt.realized()]
        return vt.py_type(*items) if hasattr(vt.py_type, "_fields") else vt.py_type(items)
    if isinstance(vt, DictVariable) and vt.py_type is dict and not vt.is_constant():
        return {k: _flatten(vt.value(k), leaves, what) for k in vt.keys()}
    if vt.is_constant():
        return vt.as_constant()
    raise Unsupported(breaks.HOP_BODY, f"{what} returns {vt.describe()}; a subgraph returns tensors, numbers "
                      f"and tuples, lists or dicts of them")


def _rebuild(vt: VariableTracker, new: Iterator[VariableTracker]) -> VariableTracker:
    """``vt``'s structure with its leaves taken from ``new`` in order (constants kept)."""
    vt = vt.realize()
    if vt.is_tensor or isinstance(vt, SymNodeVariable):
        return next(new)
    if isinstance(vt, TupleVariable) and not vt.is_constant():
        return TupleVariable([_rebuild(item, new) for item in vt.realized()], py_type=vt.py_type)
    if isinstance(vt, ListVariable) and not vt.is_constant():
        return ListVariable([_rebuild(item, new) for item in vt.realized()])
    if isinstance(vt, DictVariable) and vt.py_type is dict and not vt.is_constant():
        return DictVariable({k: _rebuild(vt.value(k), new) for k in vt.keys()})
    return ConstantVariable(vt.as_constant()) if not isinstance(vt, ConstantVariable) else vt


def leaf_trackers(graph: Any, node_result: VariableTracker, count: int) -> list[VariableTracker]:
    """The leaves of an op node's result that returns them flat (a tuple or list of ``count``)."""
    if count == 1 and not isinstance(node_result, (TupleVariable, ListVariable)):
        return [node_result]
    items = node_result.realized()
    if len(items) != count:
        raise Unsupported(breaks.HOP_BODY, f"the op returned {len(items)} values for {count} outputs")
    return items


def bind_args(tx: Tx, signature: Callable[..., Any], args: list[VariableTracker],
              kwargs: dict[str, VariableTracker]) -> dict[str, VariableTracker]:
    """The op's arguments by parameter name, as ``signature`` (a plain Python function with the op's
    parameters) binds them; defaults are constants. A bad call raises the op's TypeError."""
    import inspect

    from ..diagnostics.errors import UserCodeError

    try:
        bound = inspect.signature(signature).bind(*args, **kwargs)
    except TypeError as e:
        raise UserCodeError(TypeError(f"{signature.__name__}(): {e}")) from None
    bound.apply_defaults()
    return {k: v if isinstance(v, VariableTracker) else tx.wrap_const(v) for k, v in bound.arguments.items()}


def install(tx: Tx, base: str, gm: torch.fx.GraphModule) -> GraphValue:
    """A body module as an argument of the op node about to be recorded (a ``get_attr`` node)."""
    return GraphValue(tx.graph.install_subgraph(base, gm), gm)


def union_lifted(*bodies: Body) -> list[torch.fx.Node]:
    """The enclosing-graph values any of ``bodies`` uses, first use first; each body is made to take
    all of them (``Body.align``), so they can share one argument list."""
    lifted = list(dict.fromkeys(n for b in bodies for n in b.lifted))
    for b in bodies:
        b.align(lifted)
    return lifted
