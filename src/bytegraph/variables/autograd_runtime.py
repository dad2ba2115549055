"""What a backward graph captured by compiled autograd calls, traced into one bytegraph graph.

torch's compiled autograd (``torch._dynamo.compiled_autograd``) walks the autograd graph when
``backward()`` runs and records it as an fx graph over ``(inputs, sizes, scalars, hooks,
packed_data)``; bytegraph compiles that graph's ``forward`` like any program (runtime/autograd.py).
Its code calls four kinds of things, each traced the way torch.compile traces it:

1. ``compiled_autograd.ops.<Node>`` (``MulBackward0``, ``validate_outputs``, ``AccumulateGrad``)
   and the prologue of a compiled forward's backward (``call_aot_bwd_prologue``; its graph is pasted
   in as aten ops): marked ``allow_in_graph`` by torch, one graph op each (``torch.allowed_in_graph``,
   the "torch callable" rule); it runs on fake tensors and AOTAutograd traces through it.
2. ``external_utils.call_hook(hook, *args)``, ``call_accumulate_grad``, ``unwrap_maybe_dynamic_int``:
   plain Python, inlined (the ``torch._dynamo.external_utils`` row of ``native.NATIVE_MODULES``), so
   a user's tensor hook, module backward hook or post-accumulate-grad hook is traced where it runs,
   its Python side effects replayed after the graph, and ``param.grad = ...`` is a write-back.
3. ``external_utils.call_backward(ctx, saved, *grads)``: the backward of a Python
   ``autograd.Function`` (a module's full backward hooks are one, ``BackwardHookFunction``), modelled
   below: ``backward`` of the ctx's ``_forward_cls`` is inlined with a ctx whose ``saved_tensors``
   are the graph's saved values and whose other attributes are the real ctx's (torch's own
   ``FakeBackwardCFunction`` forwards them through a torch-owned ``__getattr__``, which bytegraph
   does not inline). A ``torch.library`` custom op's node calls its registered formula directly.
4. ``FakeCompiledAutogradEngine._exec_final_callbacks_stub``: nothing to run.
"""

from __future__ import annotations

from typing import Any, Callable

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from .base import Tx, VariableTracker


class BackwardCtxVariable(VariableTracker):
    """The ``ctx`` a Python ``autograd.Function.backward`` gets under compiled autograd: the real
    backward node (a graph-input object, guarded by type) with the saved tensors compiled
    autograd lifted as graph inputs."""

    def __init__(self, real: VariableTracker, saved: VariableTracker) -> None:
        super().__init__(None)
        self.real = real
        self.saved = saved

    def python_type(self) -> type:
        return self.real.python_type()

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name in ("saved_tensors", "saved_variables"):
            return self.saved
        return self.real.var_getattr(tx, name)

    def describe(self) -> str:
        return f"the ctx of {self.real.describe()} in a compiled backward"


def _call_backward(tx: Tx, real: VariableTracker, saved: VariableTracker, *grads: VariableTracker) -> VariableTracker:
    """``call_backward(ctx, saved, *grads)``: ``type(ctx)._forward_cls.backward(ctx, *grads)`` as a tuple."""
    from .lists import TupleVariable

    forward_cls = getattr(real.python_type(), "_forward_cls", None)
    if forward_cls is None:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"compiled autograd's call_backward of {real.describe()}, "
                          "which is not the backward node of a Python autograd.Function")
    ctx = BackwardCtxVariable(real, saved)
    formula, listed = _custom_op_formula(forward_cls)
    if formula is not None:
        # (``make_autograd_impl``'s backward swaps ``ctx.needs_input_grad`` around the formula,
        # a write into the real node bytegraph does not trace; the formula never reads it here)
        args = list(grads)
        if listed:      # (``supports_tensorlist``: the grads come flat, the formula takes the op's lists)
            args = _unflattened(tx, real, args)
        result = tx.call(tx.wrap_const(formula), [ctx, *args], {})
        items = result.unpack(tx) if result.python_type() is tuple else [result]
        if listed:      # flat again, and a None for its own metadata input
            items = [x for item in items for x in (item.unpack(tx) if item.python_type() is list else [item])]
            items.append(tx.wrap_const(None))
        return TupleVariable([*items, tx.wrap_const(None)])
    backward = tx.wrap_const(forward_cls).var_getattr(tx, "backward")
    result = tx.call(backward, [ctx, *grads], {})
    return result if result.python_type() is tuple else TupleVariable([result])


def _custom_op_formula(forward_cls: type) -> tuple[Callable[..., Any] | None, bool]:
    """The autograd formula of a ``torch.library`` custom op (``register_autograd``) whose node
    ``forward_cls`` is, and whether the op takes or returns tensor lists: torch makes a Function
    per op (``torch._library.autograd.make_autograd_impl``) whose backward calls it and adds a None
    for the op's dispatch metadata, wrapped by ``supports_tensorlist`` (which flattens the lists)
    for an op with lists. (None, False) for other Functions."""
    backward = forward_cls.__dict__.get("backward")
    backward = getattr(backward, "__func__", backward)
    listed = _closure_cell(backward, "orig_backward")
    if listed is not None:
        backward = listed
    info = _closure_cell(backward, "info")
    return getattr(info, "_backward_fn", None), listed is not None


def _closure_cell(fn: Any, name: str) -> Any:
    """The value of free variable ``name`` of a function of ``torch._library.autograd``, or None."""
    code = getattr(fn, "__code__", None)
    if code is None or fn.__module__ != "torch._library.autograd" or name not in code.co_freevars:
        return None
    return fn.__closure__[code.co_freevars.index(name)].cell_contents


def _unflattened(tx: Tx, real: VariableTracker, grads: list[VariableTracker]) -> list[VariableTracker]:
    """The flat gradients of a tensor-list op's outputs, in the structure its formula takes (the
    real node's ``_pt_metadata``, which ``supports_tensorlist`` keeps on it at forward)."""
    from ..torch_compat import tree_unflatten
    from .lists import ListVariable, TupleVariable

    metadata = getattr(getattr(real, "value", None), "_pt_metadata", None)
    if metadata is None:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"compiled autograd's call_backward of {real.describe()}, a "
                          "tensor-list custom op whose output structure is not known")
    def wrap(x: Any) -> VariableTracker:
        if isinstance(x, list):
            return ListVariable([wrap(i) for i in x])
        if isinstance(x, tuple):
            return TupleVariable([wrap(i) for i in x])
        return x
    structured = tree_unflatten(list(grads), metadata.output_spec)
    return [wrap(x) for x in structured] if metadata.result_is_tuple else [wrap(structured[0])]


def _nothing(tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    return tx.wrap_const(None)


# (module, qualname) -> handler; stdlib.PY_FUNCTION_HANDLERS_BY_NAME takes these rows.
AUTOGRAD_RUNTIME_HANDLERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch._dynamo.external_utils", "call_backward"): _call_backward,
    ("torch._dynamo.external_utils", "FakeCompiledAutogradEngine._exec_final_callbacks_stub"): _nothing,
}
