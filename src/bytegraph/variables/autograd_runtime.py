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
    formula = _custom_op_formula(forward_cls)
    if formula is not None:
        # (``make_autograd_impl``'s backward swaps ``ctx.needs_input_grad`` around the formula,
        # a write into the real node bytegraph does not trace; the formula never reads it here)
        result = tx.call(tx.wrap_const(formula), [ctx, *grads], {})
        items = result.unpack(tx) if result.python_type() is tuple else [result]
        return TupleVariable([*items, tx.wrap_const(None)])
    backward = tx.wrap_const(forward_cls).var_getattr(tx, "backward")
    result = tx.call(backward, [ctx, *grads], {})
    return result if result.python_type() is tuple else TupleVariable([result])


def _custom_op_formula(forward_cls: type) -> Callable[..., Any] | None:
    """The autograd formula of a ``torch.library`` custom op (``register_autograd``) whose node
    ``forward_cls`` is: torch makes a Function per op (``torch._library.autograd.make_autograd_impl``)
    whose backward calls it and adds a None for the op's dispatch metadata. None for other Functions."""
    backward = forward_cls.__dict__.get("backward")
    backward = getattr(backward, "__func__", backward)
    code = getattr(backward, "__code__", None)
    if code is None or backward.__module__ != "torch._library.autograd" or "info" not in code.co_freevars:
        return None
    info = backward.__closure__[code.co_freevars.index("info")].cell_contents
    return getattr(info, "_backward_fn", None)


def _nothing(tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    return tx.wrap_const(None)


# (module, qualname) -> handler; stdlib.PY_FUNCTION_HANDLERS_BY_NAME takes these rows.
AUTOGRAD_RUNTIME_HANDLERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch._dynamo.external_utils", "call_backward"): _call_backward,
    ("torch._dynamo.external_utils", "FakeCompiledAutogradEngine._exec_final_callbacks_stub"): _nothing,
}
