"""TorchVariable: torch functions, Tensor methods and operator overloads called from traced code.

What happens to a call, first match wins:

0. Marked ``torch.compiler.allow_in_graph``: a graph op, whatever module it is in.
1. ``native.NATIVE_MODULES``: a functorch builtin, or a function torch marks to run eagerly
   that belongs to a transform or higher-order op (``checkpoint``): a graph break that runs it
   natively (GB019).
2. ``TRACE_TIME``: a query of trace-time state (``torch.is_grad_enabled()``,
   ``torch.jit.is_scripting()``...) answered now, as a constant; ``METADATA_CALLS``: a C
   function that only sorts tensors by their metadata (``_group_tensors_by_device_and_dtype``,
   what ``clip_grad_norm_`` and the foreach optimizers call), answered now with the trace's own
   tensors.
3. ``NOT_TRACEABLE``: a function that changes global state (seeds, default dtype, flags):
   a graph break, never a silent change at trace time.
4. Anything else goes into the graph (``OutputGraph.call_function``), after running on
   fake tensors. A result with no tensor in it (``torch.is_floating_point(x)``) comes back
   as a constant instead, so metadata queries need no entries here.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Any, Callable

import torch
import torch.nn.functional

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from ..torch_compat import OpOverload, OpOverloadPacket
from .base import NotConstant, Tx, VariableTracker, constant_args, fold
from .native import NativeCallVariable, compiling_frontend, disable_decorators, native_reason

# Python-level modules whose public functions are graph operations (not inlined).
GRAPH_PY_MODULES = frozenset({"torch.nn.functional", "torch.functional", "torch._tensor"})

TRACE_TIME: dict[Any, Callable[..., Any]] = {
    torch.is_grad_enabled: lambda tx: tx.graph.grad_enabled,
    torch.is_inference_mode_enabled: lambda tx: (tx.graph.inference_mode[-1] if tx.graph.inference_mode
                                                 else torch.is_inference_mode_enabled()),
    torch.get_default_dtype: lambda tx: torch.get_default_dtype(),
    torch.jit.is_scripting: lambda tx: False,
    torch.jit.is_tracing: lambda tx: False,
    torch._C._get_tracing_state: lambda tx: None,
    torch.compiler.is_compiling: lambda tx: True,
    torch.compiler.is_dynamo_compiling: lambda tx: compiling_frontend(getattr(tx, "fn_globals", {}).get("__name__")),
    torch.is_tensor: lambda tx, obj: obj.is_tensor,
    torch.overrides.has_torch_function: lambda tx, *a: False,
    torch._C._has_torch_function: lambda tx, *a: False,
    torch._C._has_torch_function_unary: lambda tx, *a: False,
    torch._C._has_torch_function_variadic: lambda tx, *a: False,
}



def _group_by_device_and_dtype(tx: Tx, tensorlistlist: VariableTracker,
                               with_indices: VariableTracker | None = None) -> VariableTracker:
    """``torch._C._group_tensors_by_device_and_dtype(lists, with_indices)``: the result depends
    only on each tensor's device and dtype (constants of the trace, guarded by TENSOR_MATCH).
    The real function is called on empty stand-ins of the same device and dtype, so the
    groups, their order and the indices are eager's; each stand-in is then replaced by the
    trace's tracker of the tensor it stands for."""
    from .dicts import DictVariable
    from .lists import ListVariable, TupleVariable

    lists = [lst.unpack(tx) for lst in tensorlistlist.unpack(tx)]
    if not all(vt.is_tensor or vt.is_constant() and vt.as_constant() is None for lst in lists for vt in lst):
        raise Unsupported(breaks.UNSUPPORTED_CALL, "_group_tensors_by_device_and_dtype() of something not a tensor")
    standins: dict[int, VariableTracker] = {}

    def standin(vt: VariableTracker) -> Any:
        if not vt.is_tensor:
            return None
        fake = vt.fake
        t = torch.empty(0, device=fake.device, dtype=fake.dtype)
        standins[id(t)] = vt
        return t

    real = [[standin(vt) for vt in lst] for lst in lists]
    grouped = torch._C._group_tensors_by_device_and_dtype(real, bool(with_indices.as_constant()) if with_indices else False)

    def tracker(t: Any) -> VariableTracker:
        return tx.wrap_const(None) if t is None else standins[id(t)]
    return DictVariable({key: TupleVariable([ListVariable([ListVariable([tracker(t) for t in lst]) for lst in groups]),
                                             ListVariable([tx.wrap_const(i) for i in indices])])
                         for key, (groups, indices) in grouped.items()})


METADATA_CALLS: dict[Any, Callable[..., VariableTracker]] = {
    torch._C._group_tensors_by_device_and_dtype: _group_by_device_and_dtype,
}

NOT_TRACEABLE: frozenset[Any] = frozenset({
    torch.manual_seed, torch.seed, torch.set_rng_state, torch.get_rng_state, torch.set_default_dtype,
    torch.set_default_device, torch.set_num_threads, torch.use_deterministic_algorithms,
    torch.set_printoptions, torch.set_float32_matmul_precision,
})

# Calls that change the graph's global state: recorded in the graph (replayed when it runs).
GRAPH_STATE: dict[Any, Callable[..., Any]] = {
    torch._C._set_grad_enabled: lambda tx, mode: tx.graph.set_grad_enabled(bool(mode.as_constant())) and None,
}
_SETTER = re.compile(r"^_?set_|^_?manual_seed|^seed$")

# Calls that eager answers with their input tensor itself where the fake kernel makes a copy:
# aten.dropout returns its input when not training, for p == 0 and for an empty input
# (ATen: native/Dropout.cpp _dropout_impl), but its Python decomposition, which fake tensors
# run, clones. (Any other op that returns its input does so on fake tensors too: OutputGraph
# gives it the input's tracker.) fn -> (parameter names, defaults) of (input, p, train).
RETURNS_INPUT: dict[Any, tuple[tuple[str, str, str], dict[str, Any]]] = {
    torch.nn.functional.dropout: (("input", "p", "training"), {"p": 0.5, "training": True}),
    torch.dropout: (("input", "p", "train"), {}),
}


def _returns_input(tx: Tx, spec: tuple[tuple[str, str, str], dict[str, Any]], args: list[VariableTracker],
                   kwargs: dict[str, VariableTracker]) -> VariableTracker | None:
    names, defaults = spec
    bound = {**{k: tx.wrap_const(v) for k, v in defaults.items()}, **dict(zip(names, args)), **kwargs}
    x, p, train = (bound.get(n) for n in names)
    if x is None or not x.is_tensor or p is None or train is None or not p.is_constant() or not train.is_constant():
        return None
    if not train.as_constant() or p.as_constant() == 0 or bool(x.fake.numel() == 0):
        return x
    return None


# Constructors of trace-time constants: folded when every argument is a constant.
CONSTANT_CONSTRUCTORS = frozenset({torch.Size, torch.device, torch.finfo, torch.iinfo})


# torch wraps some functions in `torch._disable_dynamo` (torch.manual_seed, once torch._dynamo
# is imported): they are meant to run eagerly; we treat the wrapper as the function it wraps.
_DISABLED_CODE = torch._disable_dynamo(lambda: None).__code__


def unwrap_disabled(fn: Any) -> Any:
    while isinstance(fn, types.FunctionType) and fn.__code__ is _DISABLED_CODE and hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


def allowed_in_graph(value: Any) -> bool:
    """Marked ``torch.compiler.allow_in_graph`` (torch.compile's ``allow_in_graph``): put in the
    graph as one op, run on fake tensors, never inlined. Compiled autograd marks so what its
    backward graphs call: each autograd node's functional form (``compiled_autograd.ops.MulBackward0``,
    ``validate_outputs``), the prologue of a compiled forward's backward."""
    if "torch._dynamo.trace_rules" not in sys.modules:      # (nothing can be marked before it loads)
        return False
    from ..torch_compat import is_callable_allowed

    try:
        return is_callable_allowed(value)
    except TypeError:
        return False


def is_torch_callable(value: Any) -> bool:
    """A callable that bytegraph treats as a graph operation (or a trace-time query)."""
    if isinstance(value, (OpOverload, OpOverloadPacket)) or allowed_in_graph(value):
        return True
    if isinstance(value, types.FunctionType) and value.__code__ is _DISABLED_CODE:
        return True
    try:
        if any(value in table for table in (TRACE_TIME, METADATA_CALLS, NOT_TRACEABLE, CONSTANT_CONSTRUCTORS, GRAPH_STATE)) \
                or value in disable_decorators():
            return True
    except TypeError:
        return False
    if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        owner = getattr(value, "__self__", None)
        module = getattr(value, "__module__", None) or getattr(owner, "__name__", "") or ""
        return module == "torch" or module.startswith("torch.") or isinstance(owner, types.ModuleType) and \
            owner.__name__.startswith("torch")
    if isinstance(value, (types.MethodDescriptorType, types.WrapperDescriptorType, types.GetSetDescriptorType)):
        return issubclass(torch.Tensor, value.__objclass__) and value.__objclass__ is not object
    if isinstance(value, types.FunctionType):
        if value.__module__ == "torch._tensor":
            return getattr(torch.Tensor, value.__name__, None) is value
        return value.__module__ in GRAPH_PY_MODULES and not value.__name__.startswith("_")
    return False


class TorchVariable(VariableTracker):
    def __init__(self, fn: Any, source: Any = None) -> None:
        super().__init__(source)
        self.fn = fn

    def python_type(self) -> type:
        return type(self.fn)

    def as_constant(self) -> Any:
        return self.fn

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if allowed_in_graph(self.fn):
            return tx.graph.call_function(self.fn, args, kwargs)
        fn = unwrap_disabled(self.fn)
        if fn in disable_decorators() and len(args) == 1:
            return NativeCallVariable(fn, args[0])          # torch.compiler.disable(fn, recursive=..., reason=...)
        native = native_reason(fn)
        if native is not None:
            raise Unsupported(native[0], f"{_name(fn)}() is {native[1]}")
        if fn is not self.fn and fn not in TRACE_TIME:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"{_name(fn)}() is marked by torch to run eagerly"
                              + (" (it changes global state)" if fn in NOT_TRACEABLE else ""))
        if fn in TRACE_TIME:
            return tx.wrap_new(TRACE_TIME[fn](tx, *args, **kwargs))
        if fn in METADATA_CALLS:
            return METADATA_CALLS[fn](tx, *args, **kwargs)
        if fn in GRAPH_STATE:
            GRAPH_STATE[fn](tx, *args, **kwargs)
            return tx.wrap_const(None)
        if fn in NOT_TRACEABLE or _SETTER.match(getattr(fn, "__name__", "")):
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"{_name(fn)}() changes global state")
        if fn in CONSTANT_CONSTRUCTORS:
            if fn is torch.Size and len(args) == 1 and not kwargs and not args[0].is_constant():
                return _symbolic_size(tx, args[0])      # (as_constant() would specialize its items)
            try:
                cargs, ckwargs = constant_args(args, kwargs)
                return fold(tx, fn, *cargs, **ckwargs)
            except NotConstant:
                raise Unsupported(breaks.UNSUPPORTED_CALL, f"{_name(fn)}() of values unknown at trace time") from None
        if fn in RETURNS_INPUT:
            same = _returns_input(tx, RETURNS_INPUT[fn], args, kwargs)
            if same is not None:
                return same
        return tx.graph.call_function(fn, args, kwargs)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        return fold(tx, getattr, self.fn, name)

    def describe(self) -> str:
        return f"torch function {_name(self.fn)}"


def _symbolic_size(tx: Tx, items: VariableTracker) -> VariableTracker:
    """``torch.Size(seq)`` of symbolic ints (``torch.Size([x.shape[0], 2])``): a Size of those
    items, kept symbolic, as eager's type (not a tuple, not specialized)."""
    from .lists import TupleVariable

    values = items.unpack(tx)
    if not all(vt.python_type() is int for vt in values):
        raise Unsupported(breaks.UNSUPPORTED_CALL, "torch.Size() of values that are not ints")
    return TupleVariable(values, py_type=torch.Size)


def _name(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or ""
    return f"{module}.{getattr(fn, '__qualname__', getattr(fn, '__name__', repr(fn)))}".lstrip(".")
