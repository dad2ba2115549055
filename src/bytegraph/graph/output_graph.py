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
import logging
import operator
from typing import Any, Callable

import torch
import torch.fx

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..diagnostics.logs import rerouted
from ..sources import AttrSource, BackwardStateSource, FloatTensorSource, Source, float_as_tensor, placeholder_name
from ..torch_compat import (
    DataDependentOutputException,
    DimDynamic,
    DynamicOutputShapeException,
    FakeTensor,
    FakeTensorMode,
    HigherOrderOperator,
    GuardOnDataDependentSymNode,
    PendingUnbackedSymbolNotFound,
    ShapeEnv,
    StatefulSymbolicContext,
    TracingContext,
    UnsupportedOperatorException,
    compute_unbacked_bindings,
    enable_python_dispatcher,
    free_unbacked_symbols,
    guard_scalar,
    torch_guards,
)
from ..variables.base import VariableTracker, graph_constant
from ..variables.constant import ConstantVariable
from ..variables.ctx import autocast_cache_kept, suspend_autocast
from ..variables.dicts import DictVariable
from ..variables.floats import FloatExpr, GraphFloatVariable
from ..variables.lists import ListVariable, TupleVariable
from ..variables.symbolic import SymNodeVariable, is_symbolic
from ..variables.tensor import TensorVariable
from ..variables.triton import launch_writes
from . import autograd_parts, scalar_operands
from .eager_checks import EagerChecks
from .float_operands import tensor_operands
from .shapes import ShapeSource
from .subgraph import Escaped, SubgraphScope, fake_like, install_module, make_graph_module


FAKE_TENSOR_LOGGER = "torch._subclasses.fake_tensor"
MODE_SWITCHES = frozenset({torch._C._set_grad_enabled, torch.amp._enter_autocast, torch.amp._exit_autocast,
                            suspend_autocast, torch.autograd.grad_mode._enter_inference_mode,
                            torch.autograd.grad_mode._exit_inference_mode})


@dataclasses.dataclass
class GraphArg:
    source: Source
    example: Any              # the real value; dropped after compilation
    fake: Any
    node: torch.fx.Node
    context: Any = None       # a tensor's StatefulSymbolicContext, so backends refakify it identically
    # a tensor's sizes and strides as it entered the graph (an in-place op such as unsqueeze_
    # changes its fake's later): what TENSOR_MATCH checks
    layout: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None

    def size(self) -> tuple[Any, ...]:
        return self.layout[0]

    def stride(self) -> tuple[Any, ...]:
        return self.layout[1]


def _tree_map(fn: Callable[[Any], Any], value: Any) -> Any:
    if type(value) in (list, tuple):
        return type(value)(_tree_map(fn, v) for v in value)
    if type(value) is dict:
        return {k: _tree_map(fn, v) for k, v in value.items()}
    return fn(value)


_INPLACE_NAMES = frozenset({"iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow", "imatmul", "iand",
                            "ior", "ixor", "ilshift", "irshift", "setitem", "__setitem__"})

# Graph nodes that only switch global state (no work of their own when balanced). Not
# ``_exit_autocast``: leaving the outermost block drops autocast's weight cache, which the
# program's earlier, suspended pieces of the block filled (``suspend_autocast``).
_STATE_ONLY = frozenset({torch._C._set_grad_enabled, torch.amp._enter_autocast,
                         suspend_autocast, torch.autograd.grad_mode._enter_inference_mode,
                         torch.autograd.grad_mode._exit_inference_mode})


def named_in_place(n: torch.fx.Node) -> bool:
    """An op named as in-place (``x += y``, ``x[i] = v``, ``x.requires_grad_()``): it writes into
    (or changes the metadata of) its first argument."""
    name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
    return n.op in ("call_function", "call_method") and bool(n.args) and (
        (name.endswith("_") and not name.startswith("_")) or name in _INPLACE_NAMES)


# Ops that raise nothing at run time on floating-point tensors whose metadata the guards fix:
# elementwise arithmetic, copies, creation from constants, reading a 0-d tensor as a number.
# (Errors they can raise, shape or dtype mismatches, in-place ops on leaves that require grad,
# are raised by the fake run while tracing.) Names of torch functions, Tensor methods and
# operator functions alike; read by ``OutputGraph.may_raise``.
NEVER_RAISE = frozenset({
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "truediv", "neg", "neg_", "pow", "pow_",
    "iadd", "isub", "imul", "itruediv", "sqrt", "sqrt_", "rsqrt", "abs", "exp", "log", "sign", "maximum",
    "minimum", "clamp", "clamp_", "lerp", "lerp_", "addcdiv", "addcdiv_", "addcmul", "addcmul_", "copy_",
    "zero_", "fill_", "clone", "detach", "item", "tensor", "zeros", "zeros_like", "ones_like",
    "_set_grad_enabled",
})


def _version(t: torch.Tensor) -> int | None:
    """A tensor's version counter (bumped by every write into it); None for inference tensors,
    which have none (an op's writes into those are found by its name alone)."""
    try:
        return t._version
    except RuntimeError:
        return None


def _tensor_args(nodes: Any, fakes: Any) -> list[tuple[Any, torch.Tensor]]:
    """(graph argument, fake tensor) for every tensor among an op's arguments, nested ones too."""
    if isinstance(fakes, torch.Tensor):
        return [(nodes, fakes)]
    if isinstance(fakes, (list, tuple)) and isinstance(nodes, (list, tuple)) and len(nodes) == len(fakes):
        return [pair for n, f in zip(nodes, fakes) for pair in _tensor_args(n, f)]
    if isinstance(fakes, dict) and isinstance(nodes, dict):
        return [pair for k in fakes for pair in _tensor_args(nodes.get(k), fakes[k])]
    return []


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


def _as_eager_raises(error: Exception, kind: str, target: Any, args: list[Any],
                     kwargs: dict[str, Any]) -> tuple[Exception, bool]:
    """The exception the program sees for an op that raised on fake values, and whether it is
    eager's own. Symbolic inputs are specialized first (guarded: another size may not raise).
    Then the op is rerun on small real tensors of zeros with the same metadata: eager's kernel
    words the error as the program would see it, type included (a meta kernel says "a and b
    must have same reduction dim" where eager says "mat1 and mat2 shapes cannot be multiplied";
    a symbolic-shape ``view`` raises ValueError "Cannot view a tensor with shape..." where eager
    raises RuntimeError "view size is not compatible..."). When the rerun cannot run or does
    not raise (the error depends on data or on grad mode), the fake error is returned as not
    exact (``run_fake`` then lets the op run natively where the program would catch it)."""
    args, kwargs = _tree_map(_specialize, (args, kwargs))
    try:
        real_args, real_kwargs = _tree_map(_real_zeros, (args, kwargs))
    except _NoRealRun:
        return error, False
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            if kind == "call_method":
                getattr(real_args[0], target)(*real_args[1:], **real_kwargs)
            else:
                target(*real_args, **real_kwargs)
    except Exception as real_error:   # noqa: BLE001 - eager's kernel raised: that is the program's error
        return real_error, True
    return error, False


def _describe_target(target: Any) -> str:
    return target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))


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
    from ..torch_compat import autograd_C

    while (top := autograd_C._top_saved_tensors_default_hooks(True)) is not None:
        popped.append(top)
        autograd_C._pop_saved_tensors_default_hooks()
    try:
        yield
    finally:
        for pack, unpack in reversed(popped):
            autograd_C._push_saved_tensors_default_hooks(pack, unpack)


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


@contextlib.contextmanager
def _quiet_fake_tensor_log() -> Any:
    """FakeTensorMode logs every exception of a meta kernel at ERROR level: an op tried with an
    unknown float (and then given the constant) is not an error."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled


def _grad_mode(mode: bool | None) -> Any:
    return contextlib.nullcontext() if mode is None else torch.set_grad_enabled(mode)


def _entering_grad_mode(compiled: Callable, mode: bool | None) -> Callable:
    """``compiled``, called after switching grad mode to ``mode`` (the switches a graph started
    with, taken out of it: ``OutputGraph.hoist_leading_grad_mode``)."""
    if mode is None:
        return compiled
    set_grad_enabled = torch._C._set_grad_enabled

    def call(*args: Any) -> Any:
        set_grad_enabled(mode)
        return compiled(*args)
    return call


def _storage_key(t: Any) -> int | None:
    """Which memory a (fake) tensor lives in: equal for views of one base; None for a tensor
    without a storage (sparse, nested) or not a tensor."""
    if not isinstance(t, torch.Tensor):
        return None
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError):
        return None


def _carries_grad(n: torch.fx.Node) -> bool:
    """Whether a gradient can flow back through node ``n``'s value: a tensor that requires grad
    (or a tuple holding one)."""
    value = n.meta.get("example_value")
    values = value if isinstance(value, (tuple, list)) else (value,)
    return any(isinstance(v, torch.Tensor) and v.requires_grad for v in values)


def _is_view(fake: Any) -> bool:
    return isinstance(fake, torch.Tensor) and fake._is_view()


def _maker(node: torch.fx.Node) -> torch.fx.Node:
    """The node that made the tensor ``node`` gives: an in-place op (``v.add_(1)``) gives its
    input back, made by an earlier node (in the grad mode of that one)."""
    value = node.meta.get("example_value")
    while True:
        same = [a for a in node.all_input_nodes if a.meta.get("example_value") is value]
        if not same:
            return node
        node = same[0]


def _made_in_mode(view: torch.Tensor, mode: bool) -> bool:
    """Whether ``view`` already carries what eager gives a view made in grad mode ``mode``: a
    ``grad_fn`` exactly when grad was on and its base requires grad. A backend that runs the
    graph's ops (``eager``) made it so; only an AOTAutograd backend, which regenerates output
    views after the graph, needs it made again, and a remade view is an ``as_strided`` one
    (eager: ``ViewBackward0`` for the ``view`` inside ``nn.Linear`` on a 1-D input; fuzz seed 85).
    A view whose history autograd refuses to read (made under no_grad, then written in place:
    ``grad_fn`` raises) was made under no_grad, as eager's is (fuzz seed 5576)."""
    try:
        return (view.grad_fn is not None) == (mode and view._base.requires_grad)
    except RuntimeError:
        return not mode


def _replaying_views(compiled: Callable, views: list[tuple[int, bool]]) -> Callable:
    """``compiled``, whose outputs at ``views`` (index, grad mode) are made again from their
    base in that grad mode (``OutputGraph._views_made_in_other_mode``): the same storage,
    size, strides and offset, and eager's autograd metadata for a view made in that mode."""
    if not views:
        return compiled

    def call(*args: Any) -> Any:
        result = compiled(*args)
        outs = list(result)
        restore, made = torch.is_grad_enabled(), {}
        try:
            for i, mode in views:
                out = outs[i]
                if isinstance(out, torch.Tensor) and out._base is not None and not _made_in_mode(out, mode):
                    if id(out) not in made:     # (one tensor at two outputs stays one)
                        torch._C._set_grad_enabled(mode)
                        made[id(out)] = out._view_func_unsafe(out._base)
                    outs[i] = made[id(out)]
        finally:
            torch._C._set_grad_enabled(restore)
        return type(result)(outs) if isinstance(result, tuple) else outs
    return call


def _has_float_item_memo(fake: Any) -> bool:
    """A 0-d float64 CPU tensor input: torch's fakification gives it a backed float symbol for
    ``.item()`` (``FakeTensor.item_memo``), which AOTAutograd's tensorify pass would specialize."""
    return isinstance(fake, FakeTensor) and getattr(fake, "item_memo", None) is not None \
        and isinstance(fake.item_memo, torch.SymFloat)


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
    value = graph_constant(value)
    return value, value


# Torch callables and Tensor methods that draw from the RNG (torch's own functions: their ops
# carry the nondeterministic_seeded tag), by name: call_function targets and call_method names.
_RANDOM_FUNCTIONS = frozenset({
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "native_dropout",
    "rrelu", "rrelu_", "bernoulli", "multinomial", "normal", "poisson", "rand", "rand_like", "randn", "randn_like",
    "randint", "randint_like", "randperm", "gumbel_softmax",
})
_RANDOM_METHODS = frozenset({"bernoulli", "bernoulli_", "uniform_", "normal_", "random_", "exponential_", "geometric_",
                             "cauchy_", "log_normal_", "multinomial"})


def is_random(n: torch.fx.Node) -> bool:
    if n.op == "call_method":
        return n.target in _RANDOM_METHODS
    if n.op != "call_function":
        return False
    module = getattr(n.target, "__module__", None) or ""
    return getattr(n.target, "__name__", None) in _RANDOM_FUNCTIONS and module.split(".")[0] == "torch"


def _view_base_context(source: Source, value: torch.Tensor, dims: list[bool], base_dims: list[bool] | None) -> Any:
    """The symbolic context of a view's base, which fake-tensor conversion makes too (and
    memoizes: the base read as an input of its own gets the same fake). Left out, torch makes
    every dimension of the base symbolic, so a static tensor whose view was an input came out
    dynamic on the first capture. The base follows the input policy by its own source
    (``base_dims``, ``x._base``: static until it varies); a view with a symbolic dimension
    keeps torch's all-symbolic base, which its sizes may need."""
    base = value._base
    if base is None or any(dims):
        return None
    base_dims = base_dims or [False] * base.dim()
    return StatefulSymbolicContext(
        dynamic_sizes=[DimDynamic.DYNAMIC if d else DimDynamic.STATIC for d in base_dims],
        tensor_source=ShapeSource(AttrSource(source, "_base")), shape_env_to_source_to_symbol_cache={})


def _any_graph_float(value: Any) -> bool:
    """Whether an op's argument (a tracker, or a list/tuple/dict of them) holds a graph float."""
    if isinstance(value, GraphFloatVariable):
        return True
    if type(value) in (list, tuple):
        return any(_any_graph_float(v) for v in value)
    if type(value) is dict:
        return any(_any_graph_float(v) for v in value.values())
    return False


def _map_graph_floats(fn: Callable[[GraphFloatVariable], Any], value: Any) -> Any:
    if isinstance(value, GraphFloatVariable):
        return fn(value)
    if type(value) in (list, tuple):
        return type(value)(_map_graph_floats(fn, v) for v in value)
    if type(value) is dict:
        return {k: _map_graph_floats(fn, v) for k, v in value.items()}
    return value


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
        # The one tracker of each tensor, by its fake: an op whose result *is* one of its inputs
        # in eager (x.to(x.dtype), x.contiguous(), x.add_(1)) returns that very tracker.
        self._tensors: dict[int, TensorVariable] = {}
        # node -> the argument nodes whose version counter its fake run bumped (it wrote into them:
        # x.add_(), F.relu(x, inplace=True), out=)
        self._wrote: dict[torch.fx.Node, list[Any]] = {}
        self.hooked: set[torch.fx.Node] = set()     # inputs a hook was registered on (replayed after the graph)
        # intermediates a hook was registered on, by hook index k: the hook_point node every use
        # reads (hook_point), and the storages a later write must not touch -> the registration's
        # instruction (a write there breaks at the registration instead)
        self.hook_points: list[torch.fx.Node] = []
        self.hooked_storages: dict[int, tuple[int | None, str | None]] = {}   # -> (root index, not resumable)
        self.module_hooked: dict[int, tuple[int | None, str | None]] = {}     # the same, of module hook points
        self.backward_state: torch.fx.Node | None = None    # the backward-state input, once a hook needs it
        self._last_placeholder: torch.fx.Node | None = None
        self.grad_enabled = torch.is_grad_enabled()     # the graph's grad mode at this point
        self.initial_grad_enabled = self.grad_enabled
        # grad mode the graph switches to before its first op, set natively before it is called
        # (hoist_leading_grad_mode): the mode the backend compiles it under
        self.entry_grad_mode: bool | None = None
        self.autocast: list[tuple[Any, ...]] = []       # autocast blocks open at this point (innermost last)
        self.inference_mode: list[bool] = []            # inference_mode blocks open at this point
        # input floats made constants of the graph, guarded by value: (source, value, why)
        self.specialized_floats: list[tuple[Source, float, str]] = []
        # ``.item()`` nodes of graph floats passed to ops as Python numbers: float's node -> (item node, float)
        self.float_items: dict[torch.fx.Node, tuple[torch.fx.Node, GraphFloatVariable]] = {}
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

    def exit_autocast(self, enter_node: torch.fx.Node, exit_fn: Callable[[Any], None] = torch.amp._exit_autocast) -> None:
        """Close it: ``torch.amp._exit_autocast``, or ``suspend_autocast`` where a break cuts the
        block and the resume function enters it again (the weight cache stays, as in eager)."""
        self.autocast.pop()
        self.graph.call_function(exit_fn, (enter_node,))

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
    def add_tensor_input(self, source: Source, value: torch.Tensor, dynamic_dims: list[bool] | None = None,
                         base_dims: list[bool] | None = None) -> TensorVariable:
        """A tensor graph input; ``dynamic_dims`` marks the dimensions that are symbolic. The
        symbolic context is kept: a backend (AOTAutograd, Inductor) refakifies the real input
        through it and gets the very same symbols, as with torch.compile."""
        dims = dynamic_dims or [False] * value.dim()
        context = StatefulSymbolicContext(
            dynamic_sizes=[DimDynamic.DYNAMIC if d else DimDynamic.STATIC for d in dims],
            tensor_source=ShapeSource(source), shape_env_to_source_to_symbol_cache={},
            view_base_context=_view_base_context(source, value, dims, base_dims))
        fake = self.fake_mode.from_tensor(value, source=ShapeSource(source), symbolic_context=context)
        node = self._placeholder(source, value, fake)
        self.graph_args[-1].context = context
        return self._tensor_variable(node, fake, type(value), source)

    def _tensor_variable(self, node: torch.fx.Node, fake: torch.Tensor, py_type: type = torch.Tensor,
                         source: Source | None = None) -> TensorVariable:
        vt = self._tensors[id(fake)] = TensorVariable(node, fake, py_type, source)
        return vt

    def known_tensor(self, fake: Any) -> TensorVariable | None:
        """The tracker of the tensor whose fake value is ``fake``, if the trace has one."""
        vt = self._tensors.get(id(fake)) if isinstance(fake, torch.Tensor) else None
        return vt if vt is not None and vt.fake is fake else None

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

    def add_float_input(self, source: Source, value: float) -> GraphFloatVariable:
        """A float that varies between calls, for a backend that takes floats only as tensors: a
        0-d float64 tensor input (``float_as_tensor``, called by the transformed code). Faked
        without a source, so that ``.item()`` of it is an unbacked symbol here and in AOTAutograd
        (a backed one would be specialized by its tensorify pass, or restart it)."""
        example = float_as_tensor(value)
        fake = self.fake_mode.from_tensor(example)
        node = self._placeholder(FloatTensorSource(source), example, fake)
        return GraphFloatVariable(self, node, fake, value, FloatExpr.of_source(source), ((source, value),), source)

    def float_item(self, vt: GraphFloatVariable) -> tuple[torch.fx.Node, Any]:
        """``vt`` as an op's Python-number argument: one ``.item()`` node per graph float, whose
        fake value is an unbacked SymFloat (an op that would look at the value raises here,
        and the float is then specialized: ``_record_floats``)."""
        found = self.float_items.get(vt.node)
        if found is None:
            node = self.graph.call_method("item", (vt.node,))
            with self.shape_env.ignore_fresh_unbacked_symbols():
                node.meta["example_value"] = self.shape_env.create_unbacked_symfloat()
            found = self.float_items[vt.node] = (node, vt)
        return found[0], found[0].meta["example_value"]

    def tensor_item(self, vt: TensorVariable) -> SymNodeVariable:
        """``vt.item()`` of a 0-d tensor as an op's number argument: an unbacked symbol the graph's
        own node makes (``scalar_operands.explicit_items``)."""
        node = self.graph.call_method("item", (vt.node,))
        with self.shape_env.ignore_fresh_unbacked_symbols():
            sym = (self.shape_env.create_unbacked_symfloat() if vt.fake.dtype.is_floating_point
                   else self.shape_env.create_unbacked_symint())
        node.meta["example_value"] = sym
        return SymNodeVariable(node, sym)

    def specialize_float(self, vt: GraphFloatVariable, why: str) -> None:
        """The trace uses ``vt``'s value as a constant: each input float it is computed from is
        guarded by value (the caller turns ``specialized_floats`` into EQUALS_MATCH guards)."""
        for source, value in vt.inputs:
            if all(s != source for s, _, _ in self.specialized_floats):
                self.specialized_floats.append((source, value, why))
        for sym in vt.syms:          # symbolic numbers it is computed from: guarded by the ShapeEnv
            sym.as_constant()

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
        layout = (tuple(fake.size()), tuple(fake.stride())) if isinstance(fake, torch.Tensor) else None
        self.graph_args.append(GraphArg(source, value, fake, node, layout=layout))
        return node

    def example_of(self, source: Source) -> Any:
        """The real value of a graph input, while tracing (None after compilation)."""
        return next((a.example for a in self.graph_args if a.source == source), None)

    def shape_guards(self) -> list[str]:
        """The ShapeEnv's guards over every graph input, as Python over guard-function names."""
        inputs = [a for a in self.graph_args if (isinstance(a.fake, torch.Tensor) or is_symbolic(a.fake))
                  and not a.source.new_each_call]
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
        if _any_graph_float(list(args)) or _any_graph_float(dict(kwargs)):
            return self._record_floats(kind, target, args, kwargs)
        return self._record_node(kind, target, args, kwargs)

    def _record_floats(self, kind: str, target: Any, args: list[Any], kwargs: dict[str, Any]) -> VariableTracker:
        """An op taking graph floats (variables/floats.py): as its tensor operand where that is
        eager's computation (``float_operands``), else as ``.item()``; an op that needs the
        value itself (it fails on an unknown one) gets the constant, the float specialized."""
        rewritten = tensor_operands(self, kind, target, args, kwargs)
        if rewritten is not None:
            return self._record_node(kind, rewritten[0], rewritten[1], kwargs)
        try:
            with _quiet_fake_tensor_log():
                return self._record_node(kind, target, args, kwargs)
        except (Unsupported, UserCodeError):
            pass
        what = target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))
        def constant(vt: GraphFloatVariable) -> VariableTracker:
            self.specialize_float(vt, f"{what}() needs it as a Python number")
            return ConstantVariable(vt.value)
        return self._record_node(kind, target, _map_graph_floats(constant, list(args)),
                                 _map_graph_floats(constant, dict(kwargs)))

    def _record_node(self, kind: str, target: Any, args: list[Any], kwargs: dict[str, Any]) -> VariableTracker:
        if self.getitem_to_index and target is operator.getitem and kind == "call_function":
            target, args = _getitem_as_index(target, args)
        decomposed = scalar_operands.decompose(self, kind, target, args, kwargs)
        if decomposed is not None:
            return decomposed
        node_args, fake_args = _graph_arg(list(args))
        node_kwargs, fake_kwargs = _graph_arg(dict(kwargs))
        node_args, node_kwargs = self.local_args(node_args), self.local_args(node_kwargs)
        tensor_args = _tensor_args((node_args, node_kwargs), (fake_args, fake_kwargs))
        versions = [_version(f) for _, f in tensor_args]
        pending = self.shape_env.pending_fresh_unbacked_symbols
        before = len(pending)
        out = self.run_fake(kind, target, fake_args, fake_kwargs)
        if len(pending) > before and not set(pending[before:]) <= free_unbacked_symbols(out):
            # the op read a tensor as a number inside itself (graph/scalar_operands.py)
            del pending[before:]
            rewritten = scalar_operands.explicit_items(self, kind, target, args, kwargs)
            if rewritten is not None:
                return self._record_node(kind, target, *rewritten)
            raise Unsupported(breaks.DATA_DEPENDENT_OP, f"{_describe_target(target)} reads a tensor argument as a "
                              "Python number")
        if out is not None and not _contains_tensor(out) and not _has_symbols(out):
            return ConstantVariable(out)    # metadata query (x.size(), x.dim()...): a trace-time constant
        if self.hooked or self.hooked_storages or self.module_hooked:
            self._check_hooked_writes(target, tensor_args, versions)
        node = self.graph.create_node(kind, target, tuple(node_args), node_kwargs)
        if not self.ops_under_handler and self.handler_probe is not None and self.handler_probe():
            # (before the in-place early return below: `y.index_add_(0, i, s)` in a try raises at run time too)
            self.ops_under_handler = True
        if self.custom_meta:
            node.meta["custom"] = {k: v for d in self.custom_meta for k, v in d.items()}
        written = [n for (n, f), v in zip(tensor_args, versions) if v is not None and _version(f) != v]
        if written:
            self._wrote[node] = written
        same = self.known_tensor(out)
        if same is not None:
            # Eager returns that very tensor object (`x.to(x.dtype) is x`: the fake kernel returns
            # its fake input exactly when the real one returns its input): the same tracker, so
            # `is`, a return value and a stored reference are the caller's own tensor. Only an op
            # that writes into it stays in the graph.
            if self.written(node) or None in versions:     # (an inference tensor: writes not known)
                node.meta["example_value"] = out
            else:
                self.graph.erase_node(node)
            return same
        return self.wrap_fx_proxy(node, out)

    def _check_hooked_writes(self, target: Any, tensor_args: list[Any], versions: list[Any]) -> None:
        """An in-place write into an input (or a view of it) after a hook was registered on it:
        eager's hook sees the gradient of the version it was registered on, the replayed one
        (registered after the graph) the written one's; a break before the op keeps eager's order."""
        for (n, f), v in zip(tensor_args, versions):
            if v is None or _version(f) == v:
                continue
            while isinstance(n, torch.fx.Node) and n not in self.hooked and n.op in ("call_function", "call_method") \
                    and n.args and isinstance(n.args[0], torch.fx.Node):
                n = n.args[0]
            if n in self.hooked:
                raise Unsupported(breaks.UNSUPPORTED_CALL, f"{_describe_target(target)} writes in place into "
                                  f"{n.name}, an input a hook was registered on earlier in the frame")
            if _storage_key(f) in self.module_hooked:
                e = Unsupported(breaks.RUNS_NATIVELY, f"a module call with full backward hooks whose input or output "
                                f"{_describe_target(target)} later writes in place (eager's hook function passes "
                                "views of them, the graph's hook point copies): the call runs natively")
                e.root_index, e.not_resumable = self.module_hooked[_storage_key(f)]
                raise e
            if _storage_key(f) in self.hooked_storages:
                e = Unsupported(breaks.UNSUPPORTED_CALL, f"Tensor.register_hook() on an intermediate that "
                                f"{_describe_target(target)} later writes in place (or a tensor sharing its memory)")
                e.root_index, e.not_resumable = self.hooked_storages[_storage_key(f)]
                raise e

    # -- hooks on intermediates (runtime/hooks.py) -----------------------------------------
    def hook_point(self, vt: TensorVariable, root_index: int | None, not_resumable: str | None) -> int:
        """``vt`` (a tensor this graph computes) gets a hook: its index ``k`` among the graph's
        hooked tensors. The node that made it is split in two: a copy of the op, then
        ``bytegraph::hook_point(op, backward_state, k)`` under the original node, so every use
        (before the registration and after it, and every tracker of the tensor) reads the hook
        point, whose backward runs the hooks: eager's hook sees the gradient of all uses.

        The hook point is a copy, not a view: a tensor whose memory is written in place, before
        the registration or after it (through it, its base or a view), breaks at the registration
        (``root_index``), or runs the frame eagerly when that cannot be right (``not_resumable``)."""
        node = vt.node
        if node in self.hook_points:
            return self.hook_points.index(node)
        storage = _storage_key(vt.fake)
        why = None
        if node.op not in ("call_function", "call_method") or node.graph is not self.root_graph:
            why = f"made by a {node.op} node"
        elif storage is None or any(_storage_key(w.meta.get("example_value")) == storage
                                    for n in self.root_graph.nodes for w in self.written(n)
                                    if isinstance(w, torch.fx.Node)):
            why = "whose memory was written in place before (the hook would see another version's gradient)"
        if why is not None:
            e = Unsupported(breaks.UNSUPPORTED_CALL, f"Tensor.register_hook() on {vt.describe()}, {why}")
            e.root_index, e.not_resumable = root_index, not_resumable
            raise e
        state = self._backward_state_input()
        k = len(self.hook_points)
        op = torch.ops.bytegraph.hook_point.default
        mode, self.grad_enabled = self.grad_enabled, True     # (where the node is: it made a tensor requiring grad)
        try:
            fake = self.run_fake("call_function", op, [vt.fake, state.meta["example_value"], k], {})
        finally:
            self.grad_enabled = mode
        with self.root_graph.inserting_before(node):
            made = self.root_graph.create_node(node.op, node.target, node.args, node.kwargs)
        made.meta = dict(node.meta)
        node.op, node.target = "call_function", op
        node.args, node.kwargs = (made, state, k), {}
        node.meta = {"example_value": fake}
        self.hooked_storages[storage] = self.hooked_storages[_storage_key(fake)] = (root_index, not_resumable)
        vt.fake = fake
        self._tensors[id(fake)] = vt
        self.hook_points.append(node)
        return k

    def module_hook(self, tensors: list[TensorVariable], used: list[bool], root_index: int | None,
                    not_resumable: str | None) -> tuple[int, list[TensorVariable | None], tuple[int, ...]]:
        """A module call's inputs (or outputs) pass the hook point of its full backward hooks:
        ``bytegraph::module_hook([t, ...], backward_state, k)`` (runtime/hooks.py ModuleHookCall).
        Returns ``k`` (this point's hook index, the key its backward runs the hooks by), the
        trackers of the copies that are ``used`` after it (the module's forward reads those, as
        eager's reads the outputs of BackwardHookFunction), and each one's own hook index (its
        reach: which graph outputs bring its gradient). Memory of the tensors or the copies
        written in place later breaks at the module call (``root_index``): eager's hook
        function's outputs share memory with its inputs, the copies do not."""
        if self.graph is not self.root_graph:
            e = Unsupported(breaks.RUNS_NATIVELY, "a module with full backward hooks called inside the body of a "
                            "higher-order op")
            e.root_index, e.not_resumable = root_index, not_resumable
            raise e
        state = self._backward_state_input()
        k = len(self.hook_points)
        op = torch.ops.bytegraph.module_hook.default
        fakes = self.run_fake("call_function", op, [[t.fake for t in tensors], state.meta["example_value"], k], {})
        node = self.graph.create_node("call_function", op, ([t.node for t in tensors], state, k), {})
        node.meta["example_value"] = fakes
        node.meta["hook_site"] = (root_index, not_resumable)
        self.hook_points.append(node)
        outs: list[TensorVariable | None] = []
        ks: list[int] = []
        for i, (t, fake, use) in enumerate(zip(tensors, fakes, used)):
            self.module_hooked[_storage_key(t.fake)] = (root_index, not_resumable)
            if not use:
                outs.append(None)
                continue
            item = self.graph.call_function(operator.getitem, (node, i))
            item.meta["hook_site"] = (root_index, not_resumable)
            ks.append(len(self.hook_points))
            self.hook_points.append(item)
            self.module_hooked[_storage_key(fake)] = (root_index, not_resumable)
            outs.append(self.wrap_fx_proxy(item, fake))
        return k, outs, tuple(ks)

    def read_since_written(self, vt: TensorVariable) -> bool:
        """Whether an op of the graph read ``vt``'s current value (``vt`` itself, or a view made
        from it) since the last write into its memory: a gradient that flows back to ``vt`` inside
        the graph, which a hook registered on the graph's output would not see."""
        storage = _storage_key(vt.fake)
        derived, read = {vt.node}, False
        for n in self.root_graph.nodes:
            writes = any(_storage_key(w.meta.get("example_value")) == storage for w in self.written(n)
                         if isinstance(w, torch.fx.Node))
            if not any(a in derived for a in n.all_input_nodes):
                read = read and not writes
                continue
            read = not writes
            if _storage_key(n.meta.get("example_value")) == storage:
                derived.add(n)          # a view of it
        return read

    def _backward_state_input(self) -> torch.fx.Node:
        if self.backward_state is None:
            example = torch.zeros((), dtype=torch.int64)
            self.backward_state = self._placeholder(BackwardStateSource(), example, self.fake_mode.from_tensor(example))
        return self.backward_state

    def hook_reach(self) -> tuple[tuple[int, ...], ...]:
        """For each hooked tensor k, the graph outputs its value reaches (through ops, and through
        in-place writes of values computed from it into other tensors); called once the outputs
        are set. A hooked value written into a graph input breaks at its registration: its
        gradient would come back through the input, not an output the state watches."""
        outputs = next(n for n in self.root_graph.nodes if n.op == "output").args[0]
        reach, tainted = self._hooked_values()
        for n in self.root_graph.nodes:
            if n.op == "placeholder" and tainted.get(_storage_key(n.meta.get("example_value"))):
                k = min(tainted[_storage_key(n.meta.get("example_value"))])
                e = Unsupported(breaks.UNSUPPORTED_CALL, f"Tensor.register_hook() on an intermediate whose value "
                                f"is written into {n.name}, a graph input")
                point = self.hook_points[k]
                e.root_index, e.not_resumable = point.meta.get("hook_site") or \
                    self.hooked_storages[_storage_key(point.meta["example_value"])]
                raise e
        found: list[list[int]] = [[] for _ in self.hook_points]
        for i, out in enumerate(outputs):
            if isinstance(out, torch.fx.Node):
                for k in reach.get(out, set()) | tainted.get(_storage_key(out.meta.get("example_value")), set()):
                    found[k].append(i)
        return tuple(tuple(f) for f in found)

    def _hooked_values(self) -> tuple[dict[torch.fx.Node, set[int]], dict[int | None, set[int]]]:
        """node -> the hooked tensors its value is computed from; storage -> the hooked tensors
        whose values an in-place op wrote into it (to a fixpoint: a write taints what reads later)."""
        tainted: dict[int | None, set[int]] = {}
        while True:
            reach: dict[torch.fx.Node, set[int]] = {}
            before = {key: set(ks) for key, ks in tainted.items()}
            for n in self.root_graph.nodes:
                ks = {self.hook_points.index(n)} if n in self.hook_points else set()
                for a in n.all_input_nodes:
                    ks |= reach.get(a, set()) | tainted.get(_storage_key(a.meta.get("example_value")), set())
                if not _carries_grad(n):
                    ks = set()              # (detached, integer, no_grad: no gradient flows back through it)
                reach[n] = ks
                for w in self.written(n) if ks else ():
                    if isinstance(w, torch.fx.Node):
                        tainted.setdefault(_storage_key(w.meta.get("example_value")), set()).update(ks)
            tainted.pop(None, None)
            if tainted == before:
                return reach, tainted

    def run_fake(self, kind: str, target: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        what = target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))
        try:
            with contextlib.ExitStack() as stack:
                stack.enter_context(rerouted(FAKE_TENSOR_LOGGER))   # the program's own errors: no torch traceback
                stack.enter_context(self.fake_mode)
                stack.enter_context(enable_python_dispatcher())     # symbolic-shape meta kernels, as Dynamo
                stack.enter_context(_without_saved_tensors_hooks())
                stack.enter_context(torch.set_grad_enabled(self.grad_enabled))
                if self.autocast:       # (fake casts stay out of the cache; the real ones in it stay)
                    stack.enter_context(autocast_cache_kept())
                for device_type, dtype, enabled, _cache in self.autocast:
                    stack.enter_context(torch.autocast(device_type, dtype, enabled, cache_enabled=False))
                for mode in self.inference_mode:
                    stack.enter_context(torch.inference_mode(mode))
                if not isinstance(target, HigherOrderOperator):      # (a HOP has no rule for a user mode)
                    stack.enter_context(EagerChecks())               # what fake kernels do not check
                if kind == "call_method":
                    return getattr(args[0], target)(*args[1:], **kwargs)
                return target(*args, **kwargs)
        except _DATA_DEPENDENT as e:
            raise Unsupported(breaks.DATA_DEPENDENT_OP, f"{what}: {type(e).__name__}") from e
        except UnsupportedOperatorException as e:
            raise Unsupported(breaks.UNSUPPORTED_TENSOR_OP, f"{what}: no fake implementation ({e})") from e
        except Exception as e:   # noqa: BLE001 - the program's own error (shape mismatch, bad dtype...)
            error, exact = _as_eager_raises(e, kind, target, args, kwargs)
            if not exact and self.handler_probe is not None and self.handler_probe():
                # the program would catch an approximation: run the op natively instead. Outside
                # a handler the frame reruns eagerly, and CPython raises eager's own error
                raise Unsupported(breaks.CAUGHT_OP_ERROR, f"{what} raises {type(e).__name__} on fake tensors "
                                  f"({str(e).splitlines()[0][:120]})") from e
            raise UserCodeError(error) from e

    def wrap_fx_proxy(self, node: torch.fx.Node, value: Any) -> VariableTracker:
        """The tracker for an op's result: a tensor, a (named) tuple of results, or None.

        An op whose output has a size or value computed from data (``x.nonzero()``, ``.item()``)
        made fresh unbacked symbols in the ShapeEnv: they are bound to this node (where in its
        output each one lives, ``unbacked_bindings``, as Dynamo records them) and no longer
        pending. Left pending, the next trace over the same ShapeEnv (AOTAutograd's) refuses the
        graph ("pending unbacked symbols not in returned outputs")."""
        node.meta["example_value"] = value
        try:
            bindings = compute_unbacked_bindings(self.shape_env, value)
        except PendingUnbackedSymbolNotFound:
            bindings = None     # (one made by an op recorded without a node: no longer pending either)
        if bindings:
            node.meta["unbacked_bindings"] = bindings
        if isinstance(value, torch.Tensor):
            return self._tensor_variable(node, value)
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
        same = self.known_tensor(value)
        if same is not None:                    # torch.broadcast_tensors(x)[0] is x
            return same
        if _contains_tensor(value) or _has_symbols(value):
            return self.wrap_fx_proxy(self.graph.call_function(operator.getitem, (node, key)), value)
        return ConstantVariable(value)

    # -- finishing -----------------------------------------------------------------------
    def set_outputs(self, outputs: list[VariableTracker]) -> None:
        """The graph's outputs: the values the transformed code reads (``___graph_out[i]``), then
        each random op whose result nothing uses. AOT backends drop dead ops, and a dropped
        dropout would leave the RNG stream where eager's had moved on, so every later random
        op drew other numbers (fuzz seed 110053; torch.compile has this bug); as an output it
        runs, in program order. The transformed code never reads those trailing outputs."""
        nodes = tuple(vt.node for vt in outputs)
        dead_random = tuple(n for n in self.graph.nodes if not n.users and n not in nodes and is_random(n))
        self.graph.output(self.local_args(nodes + dead_random))

    def make_module(self, name: str) -> torch.fx.GraphModule:
        for key, (node, _) in list(self.float_items.items()):
            if not node.users:                  # its op was recorded with the constant instead
                self.graph.erase_node(node)
                del self.float_items[key]
        unused = [a for a in self.graph_args if isinstance(a.source, FloatTensorSource) and not a.node.users]
        for arg in unused:                      # a float only compared or specialized: not passed at all
            self.graph.erase_node(arg.node)
        self.graph_args = [a for a in self.graph_args if all(a is not u for u in unused)]
        gm = make_graph_module(self.graph, self.modules, name)
        gm.meta["bytegraph_sources"] = [a.source for a in self.graph_args]
        return gm

    def example_inputs(self) -> list[Any]:
        """What the backend is handed as ``example_inputs``: the real tensors, and for a symbolic
        int input its SymInt, as torch.compile hands them (Dynamo's ``GraphArg.example``). A real
        int would be re-symbolized by AOTAutograd (``create_symbol``), which specializes 0 and 1
        without a guard that we could see: an int that went dynamic at 0 or 1 would be baked in."""
        return [a.fake if isinstance(a.fake, torch.SymInt) else a.example for a in self.graph_args]

    def compile_with(self, backend: Callable, gm: torch.fx.GraphModule) -> Callable:
        """``backend(gm, example_inputs)`` the way torch.compile calls it: real example inputs,
        inside a TracingContext whose fake mode shares our ShapeEnv and knows each input's
        symbolic context (so AOTAutograd and Inductor see the same symbols and guards).

        AOTAutograd's tensorify pass asks to restart (as it asks Dynamo) for every backed float
        symbol it could not turn into tensor compute: the ``.item()`` symbol torch attaches to
        a 0-d float64 tensor input (unused: named up front), or a symbolic float input the
        backend does not take (made a constant of the graph, guarded by value). A backend that
        fails on a graph float passed as ``.item()`` gets it as a constant instead."""
        from ..torch_compat import TensorifyScalarRestartAnalysis, TensorifyState

        specialized = {str(a.fake.item_memo.node._expr) for a in self.graph_args if _has_float_item_memo(a.fake)}
        for _ in range(len(self.graph_args) + 2):
            TensorifyState.clear()        # (torch's process-wide record of floats to specialize)
            for symbol in specialized:
                TensorifyState.specialize(symbol)
            tracing = TracingContext(FakeTensorMode(shape_env=self.shape_env))
            for arg in self.graph_args:
                if arg.context is not None:
                    tracing.tensor_to_context[arg.example] = arg.context
            try:
                with torch_guards.tracing(tracing), _grad_mode(self.entry_grad_mode), autocast_cache_kept():
                    compiled = backend(gm, self.example_inputs())
                return _entering_grad_mode(_replaying_views(compiled, self._views_made_in_other_mode(gm)),
                                           self.entry_grad_mode)
            except TensorifyScalarRestartAnalysis:
                asked = set(TensorifyState.force_specializations) - specialized
                if not asked:
                    raise
                self._specialize_symbolic_floats(gm, asked)
                specialized |= asked
            except Exception:   # noqa: BLE001 - retried once with the floats as constants, else raised
                if not self._specialize_float_items(gm):
                    raise
            finally:
                TensorifyState.clear()
        raise AssertionError("specializing float inputs did not converge")

    def _specialize_symbolic_floats(self, gm: torch.fx.GraphModule, names: set[str]) -> None:
        """Symbolic float inputs AOTAutograd's tensorify pass asks to specialize (a backend that
        declared ``symbolic_floats`` but compiles through AOTAutograd): their uses in the graph
        become the value this capture saw, and ``specialized_floats`` guards it."""
        for arg in self.graph_args:
            if isinstance(arg.fake, torch.SymFloat) and str(arg.fake.node.expr) in names:
                node = next(n for n in gm.graph.nodes if n.op == "placeholder" and n.name == arg.node.name)
                for user in list(node.users):
                    user.replace_input_with(node, arg.example)
                self.specialized_floats.append((arg.source, arg.example, "AOTAutograd's tensorify pass cannot "
                                                "take this float symbolically"))
        gm.recompile()

    def _specialize_float_items(self, gm: torch.fx.GraphModule) -> bool:
        """The backend failed on a graph that reads graph floats with ``.item()``: each of them
        becomes the value this capture saw (guarded by value). False when there are none."""
        if not self.float_items:
            return False
        for item, vt in self.float_items.values():
            item.replace_all_uses_with(vt.value)        # type: ignore[arg-type]
            gm.graph.erase_node(item)
            self.specialize_float(vt, "the backend could not compile it as a Python number (.item())")
        self.float_items.clear()
        gm.recompile()
        return True

    def drop_examples(self) -> None:
        for a in self.graph_args:
            a.example = None

    def may_raise(self) -> bool:
        """Whether an op of the graph may raise at run time once the guards hold: False when
        every op is one of ``NEVER_RAISE`` computing a floating-point tensor (or reading one as
        a number), whose shapes, dtypes and devices the guards fix. (An optimizer's update is
        such a graph; ``runtime/convert.GraphCall`` then copies none of the inputs it writes.)"""
        for n in self.graph.nodes:
            if n.op not in ("call_function", "call_method"):
                continue
            name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
            if name not in NEVER_RAISE:
                return True
            value = n.meta.get("example_value")
            if name == "item":
                value = n.args[0].meta.get("example_value") if isinstance(n.args[0], torch.fx.Node) else None
            if name != "_set_grad_enabled" and not (isinstance(value, torch.Tensor) and value.dtype.is_floating_point):
                return True     # (integer division by zero raises; a Python number's arithmetic may)
        return False

    def autograd_parts(self) -> dict[str, int | bool] | None:
        """The graph's autograd-independent parts, by node name (``autograd_parts.plan``), or None."""
        entry = self.initial_grad_enabled if self.entry_grad_mode is None else self.entry_grad_mode
        return autograd_parts.plan(self.graph, self.written, is_random, MODE_SWITCHES, entry)

    def switches_modes(self) -> bool:
        """Whether the graph changes grad mode, autocast or inference mode as it runs."""
        return self.entry_grad_mode is not None or any(
            n.op == "call_function" and n.target in MODE_SWITCHES for n in self.graph.nodes)

    def _views_made_in_other_mode(self, gm: torch.fx.GraphModule) -> list[tuple[int, bool]]:
        """(index, grad mode) of each output that is a view made in another grad mode than the
        graph starts in (``with torch.no_grad(): v = x.view(-1)`` returned from a graph that
        runs with grad on). An AOTAutograd backend regenerates an output view of an input or
        of an intermediate after the graph, in the mode the graph was called in: it came back
        with a ``grad_fn`` (eager: none, and an in-place op on it raises). torch.compile does
        the same; ``_replaying_views`` makes such views again, in their own mode."""
        mode = self.initial_grad_enabled if self.entry_grad_mode is None else self.entry_grad_mode
        entry, made_in = mode, {}
        for node in gm.graph.nodes:
            if node.op == "call_function" and node.target is torch._C._set_grad_enabled:
                mode = bool(node.args[0])
            elif node.op == "output":
                outs = node.args[0] if isinstance(node.args[0], (tuple, list)) else (node.args[0],)
                views = [(i, _maker(n)) for i, n in enumerate(outs)
                         if isinstance(n, torch.fx.Node) and _is_view(n.meta.get("example_value"))]
                return [(i, made_in[n]) for i, n in views if made_in.get(n, entry) != entry]
            else:
                made_in[node] = mode
        return []

    def hoist_leading_grad_mode(self) -> None:
        """Take the grad-mode switches before the graph's first op out of it: the graph is
        compiled in the mode they leave and called in it (``compile_with``).

        A graph that starts by leaving a ``no_grad`` block (the resume function of a break
        inside one) would otherwise start in the caller's mode and switch inside. An
        AOTAutograd backend regenerates an output that is a view of an input *after* the graph,
        in the mode the graph was called in, before it applies the graph's own switch: the view
        came back without its ``grad_fn`` (``is_leaf`` True; eager: False; fuzz seed 70019).
        torch.compile has no such graph: Dynamo starts it in the mode of its first op."""
        for node in list(self.graph.nodes):
            if node.op == "placeholder":
                continue
            if node.op != "call_function" or node.target is not torch._C._set_grad_enabled:
                break
            self.entry_grad_mode = bool(node.args[0])
            self.graph.erase_node(node)

    def drop_idle_grad_switches(self) -> None:
        """Grad-mode switches that no op runs under: of a run of switches with no op between them
        only the last counts, and it is dropped too where it sets the mode already in force
        (``with torch.no_grad(): pass``, or a block whose body was all native). A graph with no
        switch left can be compiled in parts (``autograd_parts``, rule 1; fuzz seed 110086)."""
        mode = self.initial_grad_enabled if self.entry_grad_mode is None else self.entry_grad_mode
        run: list[torch.fx.Node] = []
        for node in [*self.graph.nodes]:
            if node.op == "call_function" and node.target is torch._C._set_grad_enabled:
                run.append(node)
                continue
            if node.op == "placeholder" or not run:
                continue
            *idle, last = run
            for switch in idle:
                self.graph.erase_node(switch)
            if bool(last.args[0]) == mode:
                self.graph.erase_node(last)
            mode, run = bool(last.args[0]), []

    def written(self, n: torch.fx.Node) -> list[Any]:
        """The arguments op ``n`` writes into: those its fake run wrote (their version counter
        moved), the first argument of an op named as in-place, what a Triton kernel launch may
        write (variables/triton.py)."""
        found = list(self._wrote.get(n, ()))
        if named_in_place(n) and n.args[0] not in found:
            found.append(n.args[0])
        if n.op == "call_function":
            found += [w for w in launch_writes(n) if w not in found]
        return found

    def mutates(self) -> bool:
        """Whether any op may write into a tensor in place (``x.add_()``, ``x += y``, ``x[i] = v``,
        a Triton kernel launch)."""
        return any(self.written(n) for n in self.graph.nodes)

    def mutated_inputs(self) -> list[int]:
        """Positions of the graph inputs an op may write into: the tensors each in-place op (or
        kernel launch) writes, followed back through first arguments (views, or not: erring on
        the side of more) to a placeholder."""
        placeholders = [n for n in self.graph.nodes if n.op == "placeholder"]
        hit: set[torch.fx.Node] = set()
        for n in self.graph.nodes:
            for node in map(autograd_parts.root_of, self.written(n)):
                if isinstance(node, torch.fx.Node) and node.op == "placeholder":
                    hit.add(node)
        return [i for i, p in enumerate(placeholders) if p in hit]

    def op_count(self) -> int:
        return sum(1 for n in self.graph.nodes if n.op in ("call_function", "call_method", "call_module"))

    def only_switches_grad_mode(self) -> bool:
        """Whether the graph does nothing but leave grad mode changed (``torch.set_grad_enabled(b)``
        before a break, as every optimizer's ``step`` does): the transformed code switches it
        natively instead of calling a graph."""
        return not self.autocast and not self.inference_mode and all(
            n.op in ("placeholder", "output") or n.op == "call_function" and n.target is torch._C._set_grad_enabled
            for n in self.graph.nodes)

    def has_work(self) -> bool:
        """Whether calling the graph does anything: an op, or leaving grad mode changed
        (switching it off and back on again alone is nothing)."""
        return self.grad_enabled != self.initial_grad_enabled or any(
            n.op in ("call_function", "call_method", "call_module") and n.target not in _STATE_ONLY
            for n in self.graph.nodes)

