"""OutputGraph: the fx.Graph under construction, its inputs, and fake-tensor propagation.

Every operation is run on fake tensors (torch's FakeTensorMode over a ShapeEnv) before
it is recorded, to learn its result's dtype, shape and device without computing it.
``wrap_fx_proxy`` turns that result back into trackers. The OutputGraph knows nothing
about bytecode; errors from fake propagation become graph breaks (data-dependent output)
or the user's own exception (a shape mismatch is a bug in the program, not ours).

Inputs are placeholders named after their sources (``L_x_``,
``L_self_modules_fc_parameters_weight_``); a ``GraphArg`` keeps the real value only until
the backend has compiled the graph.
"""

from __future__ import annotations

import contextlib
import dataclasses
import operator
from typing import Any, Callable

import torch
import torch.fx
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensor,
    FakeTensorMode,
    UnsupportedOperatorException,
)
from torch.fx.experimental.symbolic_shapes import (
    DimDynamic,
    GuardOnDataDependentSymNode,
    ShapeEnv,
    StatefulSymbolicContext,
    guard_scalar,
)
from torch._dispatch.python import enable_python_dispatcher
from torch._guards import TracingContext

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..sources import Source, placeholder_name
from ..variables.base import VariableTracker
from ..variables.constant import ConstantVariable
from ..variables.dicts import DictVariable
from ..variables.lists import ListVariable, TupleVariable
from ..variables.symbolic import SymNodeVariable, is_symbolic
from ..variables.tensor import TensorVariable
from ..variables.triton import launch_writes
from .shapes import ShapeSource
from .subgraph import Escaped, SubgraphScope, fake_like, install_module, make_graph_module


_MODE_SWITCHES = frozenset({torch._C._set_grad_enabled, torch.amp._enter_autocast, torch.amp._exit_autocast,
                            torch.autograd.grad_mode._enter_inference_mode,
                            torch.autograd.grad_mode._exit_inference_mode})


@dataclasses.dataclass
class GraphArg:
    source: Source
    example: Any              # the real value; dropped after compilation
    fake: Any
    node: torch.fx.Node
    context: Any = None       # a tensor's StatefulSymbolicContext, so backends refakify it identically


def _tree_map(fn: Callable[[Any], Any], value: Any) -> Any:
    if type(value) in (list, tuple):
        return type(value)(_tree_map(fn, v) for v in value)
    if type(value) is dict:
        return {k: _tree_map(fn, v) for k, v in value.items()}
    return fn(value)


_INPLACE_NAMES = frozenset({"iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow", "imatmul", "iand",
                            "ior", "ixor", "ilshift", "irshift", "setitem", "__setitem__"})

# Graph nodes that only switch global state (no work of their own when balanced).
_STATE_ONLY = frozenset({torch._C._set_grad_enabled, torch.amp._enter_autocast, torch.amp._exit_autocast,
                         torch.autograd.grad_mode._enter_inference_mode,
                         torch.autograd.grad_mode._exit_inference_mode})


def _writes_in_place(n: torch.fx.Node) -> bool:
    name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
    return n.op in ("call_function", "call_method") and (name.endswith("_") and not name.startswith("_")
                                                         or name in _INPLACE_NAMES)


def written_by(n: torch.fx.Node) -> list[Any]:
    """The tensors (nodes) an op may write into: an in-place op's first argument, or what a
    Triton kernel launch may write (variables/triton.py)."""
    if _writes_in_place(n):
        return list(n.args[:1])
    return launch_writes(n) if n.op == "call_function" else []


def written_placeholders(graph: torch.fx.Graph) -> set[torch.fx.Node]:
    """The placeholders of ``graph`` an op may write into: the tensors each in-place op (or kernel
    launch) writes, followed back through first arguments (views, or not: erring on the side of
    more)."""
    hit: set[torch.fx.Node] = set()
    for n in graph.nodes:
        for node in written_by(n):
            while isinstance(node, torch.fx.Node) and node.op != "placeholder" and node.args:
                node = node.args[0]
            if isinstance(node, torch.fx.Node) and node.op == "placeholder":
                hit.add(node)
    return hit


def _specialize(value: Any) -> Any:
    """A symbolic number as the value it has now, a fake tensor with its sizes fixed: guards
    are installed, so the graph holds only where the value (or size) is what it is now."""
    if is_symbolic(value):
        return guard_scalar(value)
    if isinstance(value, torch.Tensor):
        for d in (*value.shape, *value.stride()):
            if is_symbolic(d):
                guard_scalar(d)
    return value


def _real_zeros(value: Any) -> Any:
    if isinstance(value, FakeTensor):
        if value.device.type != "cpu" or value.numel() > _ZEROS_LIMIT:
            raise _NoRealRun
        size, stride = [int(d) for d in value.shape], [int(d) for d in value.stride()]
        return torch.empty_strided(size, stride, dtype=value.dtype).zero_()
    return value


class _NoRealRun(Exception):
    pass


_ZEROS_LIMIT = 1 << 16


def _as_eager_raises(error: Exception, kind: str, target: Any, args: list[Any], kwargs: dict[str, Any]) -> Exception:
    """The exception the program sees for an op that raised on fake values. Symbolic inputs
    are specialized first (guarded: another size may not raise). Then the op is rerun on
    small real tensors of zeros with the same metadata: eager's kernel words the error as
    the program would see it (a meta kernel says "a and b must have same reduction dim"
    where eager says "mat1 and mat2 shapes cannot be multiplied"). When the rerun does not
    raise the same type (the error depended on data), the fake error stands."""
    args, kwargs = _tree_map(_specialize, (args, kwargs))
    try:
        real_args, real_kwargs = _tree_map(_real_zeros, (args, kwargs))
    except _NoRealRun:
        return error
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            if kind == "call_method":
                getattr(real_args[0], target)(*real_args[1:], **real_kwargs)
            else:
                target(*real_args, **real_kwargs)
    except type(error) as real_error:
        return real_error
    except Exception:   # noqa: BLE001 - no eager counterpart; the fake error is the program's
        pass
    return error


def _getitem_as_index(target: Any, args: list[Any]) -> tuple[Any, list[Any]]:
    index = args[1]
    leaves = index.realized() if isinstance(index, TupleVariable) else [index]
    if leaves and all(isinstance(vt, VariableTracker) and vt.is_tensor for vt in leaves):
        return torch.ops.aten.index.Tensor, [args[0], ListVariable(leaves)]
    return target, args


@contextlib.contextmanager
def _without_saved_tensors_hooks() -> Any:
    """The program's saved-tensor hooks (offloading, counting...) set aside: they must not see fake
    tensors, and functorch's grad refuses to run while any is set."""
    popped = []
    while (top := torch._C._autograd._top_saved_tensors_default_hooks(True)) is not None:
        popped.append(top)
        torch._C._autograd._pop_saved_tensors_default_hooks()
    try:
        yield
    finally:
        for pack, unpack in reversed(popped):
            torch._C._autograd._push_saved_tensors_default_hooks(pack, unpack)


def _has_symbols(value: Any) -> bool:
    """Whether a value (a fake tensor's sizes, a number, a tuple of them) mentions a symbol."""
    if is_symbolic(value):
        return True
    if isinstance(value, torch.Tensor):
        return any(is_symbolic(d) for d in value.shape)
    if isinstance(value, (list, tuple)):
        return any(_has_symbols(v) for v in value)
    return False


def _contains_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains_tensor(v) for v in value)
    if type(value) is dict:
        return any(_contains_tensor(v) for v in value.values())
    return False


def _graph_arg(value: Any) -> tuple[Any, Any]:
    """(fx argument, fake argument) of a tracker, a constant, or a list/tuple/dict of them."""
    if isinstance(value, VariableTracker):
        return value.as_graph_arg()
    if type(value) in (list, tuple):
        pairs = [_graph_arg(v) for v in value]
        return type(value)(p[0] for p in pairs), type(value)(p[1] for p in pairs)
    if type(value) is dict:
        pairs = {k: _graph_arg(v) for k, v in value.items()}
        return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
    return value, value


_DATA_DEPENDENT = (DataDependentOutputException, DynamicOutputShapeException, GuardOnDataDependentSymNode)


class OutputGraph:
    def __init__(self) -> None:
        self.graph = torch.fx.Graph()             # where ops are recorded now: the root, or an open body
        self.root_graph = self.graph
        self.scope: SubgraphScope | None = None    # the innermost open higher-order op body
        self.modules: dict[str, torch.fx.GraphModule] = {}   # bodies the root graph calls (get_attr)
        self.shape_env = ShapeEnv()
        self.fake_mode = FakeTensorMode(shape_env=self.shape_env, allow_non_fake_inputs=False)
        self.graph_args: list[GraphArg] = []
        self._last_placeholder: torch.fx.Node | None = None
        self.grad_enabled = torch.is_grad_enabled()     # the graph's grad mode at this point
        self.initial_grad_enabled = self.grad_enabled
        self.autocast: list[tuple[Any, ...]] = []       # autocast blocks open at this point (innermost last)
        self.inference_mode: list[bool] = []            # inference_mode blocks open at this point
        # symbolic float inputs the backend refused: (source, value, symbol)
        self.specialized_floats: list[tuple[Source, float, str]] = []
        # Set by the capture: is the op being recorded inside a try/with block of the program?
        self.handler_probe: Callable[[], bool] | None = None
        self.ops_under_handler = False
        self.getitem_to_index = 0       # inside TransformGetItemToIndex blocks (getitem_as_index)
        self.custom_meta: list[dict[str, Any]] = []     # torch.fx.traceback.annotate blocks open now

    # -- global state --------------------------------------------------------------------
    def set_grad_enabled(self, mode: bool) -> bool:
        """Switch grad mode from here on in the graph (a ``_set_grad_enabled`` node, replayed
        when the graph runs); returns the previous mode."""
        previous = self.grad_enabled
        if mode != previous:
            self.graph.call_function(torch._C._set_grad_enabled, (mode,))
            self.grad_enabled = mode
        return previous

    def enter_autocast(self, args: tuple[Any, ...]) -> torch.fx.Node:
        """Open ``torch.autocast(*args)`` in the graph (``torch.amp._enter_autocast``, as
        torch.compile records it); ops traced from here on are fake-run under it."""
        self.autocast.append(args)
        node = self.graph.call_function(torch.amp._enter_autocast, args)
        node.meta["example_value"] = None
        return node

    def exit_autocast(self, enter_node: torch.fx.Node) -> None:
        self.autocast.pop()
        self.graph.call_function(torch.amp._exit_autocast, (enter_node,))

    def enter_inference_mode(self, mode: bool) -> torch.fx.Node:
        """Open ``torch.inference_mode(mode)`` in the graph, recorded as torch.compile records it."""
        self.inference_mode.append(mode)
        node = self.graph.call_function(torch.autograd.grad_mode._enter_inference_mode, (mode,))
        node.meta["example_value"] = None
        return node

    def exit_inference_mode(self, enter_node: torch.fx.Node) -> None:
        self.inference_mode.pop()
        self.graph.call_function(torch.autograd.grad_mode._exit_inference_mode, (enter_node,))

    # -- inputs --------------------------------------------------------------------------
    def add_tensor_input(self, source: Source, value: torch.Tensor, dynamic_dims: list[bool] | None = None) -> TensorVariable:
        """A tensor graph input; ``dynamic_dims`` marks the dimensions that are symbolic. The
        symbolic context is kept: a backend (AOTAutograd, Inductor) refakifies the real input
        through it and gets the very same symbols, as with torch.compile."""
        dims = dynamic_dims or [False] * value.dim()
        context = StatefulSymbolicContext(
            dynamic_sizes=[DimDynamic.DYNAMIC if d else DimDynamic.STATIC for d in dims],
            tensor_source=ShapeSource(source), shape_env_to_source_to_symbol_cache={})
        fake = self.fake_mode.from_tensor(value, source=ShapeSource(source), symbolic_context=context)
        node = self._placeholder(source, value, fake)
        self.graph_args[-1].context = context
        return TensorVariable(node, fake, type(value), source)

    def add_number_input(self, source: Source, value: int | float) -> VariableTracker:
        """A local int or float that varies between calls: a symbolic graph input (0 and 1
        stay constants, as torch.compile specializes them)."""
        shape_source = ShapeSource(source)
        symbol = self.shape_env.create_unspecified_symbol(value, source=shape_source, dynamic_dim=DimDynamic.DYNAMIC)
        make = self.shape_env.create_symintnode if type(value) is int else self.shape_env.create_symfloatnode
        sym = make(symbol, hint=value, source=shape_source)
        if not is_symbolic(sym):
            return ConstantVariable(value)
        node = self._placeholder(source, value, sym)
        return SymNodeVariable(node, sym, source)

    def _placeholder(self, source: Source, value: Any, fake: Any) -> torch.fx.Node:
        """A graph input: always a placeholder of the root graph (a body that reads it lifts it)."""
        root = self.root_graph
        where = (root.inserting_after(self._last_placeholder) if self._last_placeholder is not None
                 else root.inserting_before(next(iter(root.nodes), None)))
        with where:
            node = root.placeholder(placeholder_name(source))
        node.meta["example_value"] = fake
        node.meta["source"] = source
        self._last_placeholder = node
        self.graph_args.append(GraphArg(source, value, fake, node))
        return node

    def example_of(self, source: Source) -> Any:
        """The real value of a graph input, while tracing (None after compilation)."""
        return next((a.example for a in self.graph_args if a.source == source), None)

    def shape_guards(self) -> list[str]:
        """The ShapeEnv's guards over every graph input, as Python over guard-function names."""
        inputs = [a for a in self.graph_args if isinstance(a.fake, torch.Tensor) or is_symbolic(a.fake)]
        if not self.shape_env.backed_var_to_val:    # no symbol was ever made: nothing to guard
            return []
        return self.shape_env.produce_guards([a.fake for a in inputs], [ShapeSource(a.source) for a in inputs])

    # -- operations ----------------------------------------------------------------------
    def call_function(self, target: Callable, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return self._record("call_function", target, args, kwargs)

    def call_method(self, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return self._record("call_method", name, args, kwargs)

    @contextlib.contextmanager
    def getitem_as_index(self) -> Any:
        """Inside: ``x[i, j]`` whose index is all tensors is recorded as ``aten.index(x, [i, j])``, as
        torch's ``TransformGetItemToIndex`` mode turns it (flex_attention's score_mod and mask_mod run
        under it): a 0-d index tensor is then an index tensor, not an int read from data."""
        self.getitem_to_index += 1
        try:
            yield
        finally:
            self.getitem_to_index -= 1

    def _record(self, kind: str, target: Any, args: list[Any], kwargs: dict[str, Any]) -> VariableTracker:
        """Record one op; its arguments are trackers, constants, or lists/tuples/dicts of them."""
        if self.getitem_to_index and target is operator.getitem and kind == "call_function":
            target, args = _getitem_as_index(target, args)
        node_args, fake_args = _graph_arg(list(args))
        node_kwargs, fake_kwargs = _graph_arg(dict(kwargs))
        node_args, node_kwargs = self.local_args(node_args), self.local_args(node_kwargs)
        out = self.run_fake(kind, target, fake_args, fake_kwargs)
        if out is not None and not _contains_tensor(out) and not _has_symbols(out):
            return ConstantVariable(out)    # metadata query (x.size(), x.dim()...): a trace-time constant
        node = self.graph.create_node(kind, target, tuple(node_args), node_kwargs)
        if self.custom_meta:
            node.meta["custom"] = {k: v for d in self.custom_meta for k, v in d.items()}
        if not self.ops_under_handler and self.handler_probe is not None and self.handler_probe():
            self.ops_under_handler = True
        return self.wrap_fx_proxy(node, out)

    def run_fake(self, kind: str, target: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        what = target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))
        try:
            with contextlib.ExitStack() as stack:
                stack.enter_context(self.fake_mode)
                stack.enter_context(enable_python_dispatcher())     # symbolic-shape meta kernels, as Dynamo
                stack.enter_context(_without_saved_tensors_hooks())
                stack.enter_context(torch.set_grad_enabled(self.grad_enabled))
                for device_type, dtype, enabled, cache in self.autocast:
                    stack.enter_context(torch.autocast(device_type, dtype, enabled, cache))
                for mode in self.inference_mode:
                    stack.enter_context(torch.inference_mode(mode))
                if kind == "call_method":
                    return getattr(args[0], target)(*args[1:], **kwargs)
                return target(*args, **kwargs)
        except _DATA_DEPENDENT as e:
            raise Unsupported(breaks.DATA_DEPENDENT_OP, f"{what}: {type(e).__name__}") from e
        except UnsupportedOperatorException as e:
            raise Unsupported(breaks.UNSUPPORTED_TENSOR_OP, f"{what}: no fake implementation ({e})") from e
        except Exception as e:   # noqa: BLE001 - the program's own error (shape mismatch, bad dtype...)
            raise UserCodeError(_as_eager_raises(e, kind, target, args, kwargs)) from e

    def wrap_fx_proxy(self, node: torch.fx.Node, value: Any) -> VariableTracker:
        """The tracker for an op's result: a tensor, a (named) tuple of results, or None."""
        node.meta["example_value"] = value
        if isinstance(value, torch.Tensor):
            return TensorVariable(node, value)
        if is_symbolic(value):
            return SymNodeVariable(node, value)
        if isinstance(value, (tuple, list)):
            items = [self._wrap_item(node, i, v) for i, v in enumerate(value)]
            if isinstance(value, list):
                return ListVariable(items)
            return TupleVariable(items, py_type=type(value))
        if type(value) is dict:         # (a torch.func transform of a function of dicts)
            return DictVariable({k: self._wrap_item(node, k, v) for k, v in value.items()})
        if value is None:
            return ConstantVariable(None)
        raise Unsupported(breaks.UNSUPPORTED_TENSOR_OP, f"operation returned {type(value).__qualname__}")

    # -- higher-order op bodies (graph/subgraph.py) ----------------------------------------
    def local_args(self, args: Any) -> Any:
        """fx arguments with every node of an enclosing graph replaced by its lifted placeholder in
        the graph being recorded; a node of a closed body used outside it is a side effect."""
        def local(node: torch.fx.Node) -> torch.fx.Node:
            try:
                if self.scope is not None:
                    return self.scope.lift(node)
                if node.graph is not self.root_graph:
                    raise Escaped(node.name)
                return node
            except Escaped:
                raise Unsupported(breaks.HOP_BODY, f"a value computed inside the body of a higher-order op "
                                  f"({node.name}) is used outside it (the body stored it somewhere)") from None
        return torch.fx.node.map_arg(args, local)

    def open_subgraph(self, name: str, parent: SubgraphScope | None | str = "current",
                      grad_enabled: bool | None = None) -> SubgraphScope:
        """Record into a new body graph from now on, until ``end_subgraph``. Its lifted values come
        from ``parent`` (by default the graph being recorded now). ``grad_enabled`` sets the grad
        mode the body is traced under (without a node: the op decides it when it runs)."""
        scope = SubgraphScope(torch.fx.Graph(), self.scope if parent == "current" else parent, self.root_graph, name)
        scope.saved_modes = (self.scope, self.graph, self.grad_enabled, list(self.autocast),
                             list(self.inference_mode), self.ops_under_handler)
        self.scope, self.graph = scope, scope.graph
        if grad_enabled is not None:
            self.grad_enabled = grad_enabled
        return scope

    def add_subgraph_input(self, scope: SubgraphScope, name: str, example: Any) -> tuple[torch.fx.Node, Any]:
        """A placeholder of the open body for one of its own arguments, with a fresh fake like ``example``."""
        fake = fake_like(self.fake_mode, example)
        return scope.add_input(name, fake), fake

    def close_subgraph(self, scope: SubgraphScope, outputs: Any) -> torch.fx.GraphModule:
        """End the body: its output is ``outputs`` (nodes, or containers of nodes); recording goes
        back to the graph that was current when it opened. Returns the body as a GraphModule."""
        self.end_subgraph(scope)
        scope.graph.output(outputs)
        return scope.module()

    def end_subgraph(self, scope: SubgraphScope) -> None:
        """Stop recording into ``scope`` (also when its trace failed); its graph may still be
        extended by lifting (an autograd.Function's forward, lifted into by its backward)."""
        if self.scope is scope:
            self.scope, self.graph, self.grad_enabled, self.autocast, self.inference_mode, \
                self.ops_under_handler = scope.saved_modes

    def install_subgraph(self, base: str, gm: torch.fx.GraphModule) -> torch.fx.Node:
        """A ``get_attr`` node, in the graph being recorded, for a body module it will call."""
        modules = self.scope.modules if self.scope is not None else self.modules
        name = install_module(modules, base, gm)
        node = self.graph.get_attr(name)
        node.meta["example_value"] = gm
        return node

    def _wrap_item(self, node: torch.fx.Node, key: Any, value: Any) -> VariableTracker:
        if _contains_tensor(value) or _has_symbols(value):
            return self.wrap_fx_proxy(self.graph.call_function(operator.getitem, (node, key)), value)
        return ConstantVariable(value)

    # -- finishing -----------------------------------------------------------------------
    def set_outputs(self, outputs: list[VariableTracker]) -> None:
        self.graph.output(self.local_args(tuple(vt.node for vt in outputs)))

    def make_module(self, name: str) -> torch.fx.GraphModule:
        gm = make_graph_module(self.graph, self.modules, name)
        gm.meta["bytegraph_sources"] = [a.source for a in self.graph_args]
        return gm

    def example_inputs(self) -> list[Any]:
        return [a.example for a in self.graph_args]

    def compile_with(self, backend: Callable, gm: torch.fx.GraphModule) -> Callable:
        """``backend(gm, example_inputs)`` the way torch.compile calls it: real example inputs,
        inside a TracingContext whose fake mode shares our ShapeEnv and knows each input's
        symbolic context (so AOTAutograd and Inductor see the same symbols and guards)."""
        from torch._dynamo.exc import TensorifyScalarRestartAnalysis
        from torch._dynamo.symbolic_convert import TensorifyState

        if not getattr(backend, "symbolic_floats", False):       # (backends/registry.py)
            self._specialize_floats(gm, {str(a.fake.node.expr) for a in self.graph_args
                                         if isinstance(a.fake, torch.SymFloat)})
        for _ in range(len(self.graph_args) + 1):
            TensorifyState.clear()        # (torch's process-wide record of floats to specialize)
            for _, _, symbol in self.specialized_floats:
                TensorifyState.specialize(symbol)       # (now unused inputs: the pass leaves them)
            tracing = TracingContext(FakeTensorMode(shape_env=self.shape_env))
            for arg in self.graph_args:
                if arg.context is not None:
                    tracing.tensor_to_context[arg.example] = arg.context
            try:
                with torch._guards.tracing(tracing):
                    return backend(gm, self.example_inputs())
            except TensorifyScalarRestartAnalysis:
                if not self._specialize_floats(gm, set(TensorifyState.force_specializations)):
                    raise
            finally:
                TensorifyState.clear()
        raise AssertionError("specializing float inputs did not converge")

    def _specialize_floats(self, gm: torch.fx.GraphModule, names: set[str]) -> bool:
        """The backend cannot take these symbolic float inputs (it does not say it does, or
        AOTAutograd's tensorify pass asks for them to be specialized, as Dynamo would on a
        restart): their uses in the graph become the value this capture saw, and
        ``specialized_floats`` tells the caller to guard on it."""
        changed = False
        for arg in self.graph_args:
            if not isinstance(arg.fake, torch.SymFloat) or str(arg.fake.node.expr) not in names \
                    or any(src == arg.source for src, _, _ in self.specialized_floats):
                continue
            node = next(n for n in gm.graph.nodes if n.op == "placeholder" and n.name == arg.node.name)
            for user in list(node.users):
                user.replace_input_with(node, arg.example)
            self.specialized_floats.append((arg.source, arg.example, str(arg.fake.node.expr)))
            changed = True
        if changed:
            gm.recompile()
        return changed

    def drop_examples(self) -> None:
        for a in self.graph_args:
            a.example = None

    def switches_modes(self) -> bool:
        """Whether the graph changes grad mode, autocast or inference mode as it runs."""
        return any(n.op == "call_function" and n.target in _MODE_SWITCHES for n in self.graph.nodes)

    def mutates(self) -> bool:
        """Whether any op may write into a tensor in place (``x.add_()``, ``x += y``, ``x[i] = v``,
        a Triton kernel launch)."""
        return any(written_by(n) for n in self.graph.nodes)

    def mutated_inputs(self) -> list[int]:
        """Positions of the graph inputs an op may write into: the tensors each in-place op (or
        kernel launch) writes, followed back through first arguments (views, or not: erring on
        the side of more) to a placeholder."""
        placeholders = [n for n in self.graph.nodes if n.op == "placeholder"]
        hit = written_placeholders(self.graph)
        return [i for i, p in enumerate(placeholders) if p in hit]

    def op_count(self) -> int:
        return sum(1 for n in self.graph.nodes if n.op in ("call_function", "call_method", "call_module"))

    def has_work(self) -> bool:
        """Whether calling the graph does anything: an op, or leaving grad mode changed
        (switching it off and back on again alone is nothing)."""
        return self.grad_enabled != self.initial_grad_enabled or any(
            n.op in ("call_function", "call_method", "call_module") and n.target not in _STATE_ONLY
            for n in self.graph.nodes)

