"""``MyFunction.apply(*args)`` of a ``torch.autograd.Function``: forward and backward captured as bodies.

The call becomes the node torch.compile records for it,

    autograd_function_apply(fwd_gm, bwd_gm, *fwd_inputs, non_differentiable_idx=..., saved_for_backward_idx=...)

which runs ``fwd_gm`` as the forward of a fresh autograd.Function and ``bwd_gm`` as its backward
(AOTAutograd inlines both, so Inductor compiles the user's backward too):

* ``fwd_gm(*tensors, *lifted) -> (output, saved)``: ``forward(ctx, *args)`` traced under no_grad (as
  autograd runs it), or ``forward(*args)`` then ``setup_context(ctx, args, output)``;
* ``bwd_gm(*grads, *saved) -> one gradient (or None) per fwd input``: ``backward(ctx, *grads)``
  traced in a body whose lifted values come *out of the forward's body*: every forward value the
  backward uses (what ``ctx.save_for_backward`` kept, a tensor stored as ``ctx.attr``, an input) is
  a saved value, which the forward returns; a value of the program the backward uses is first
  lifted into the forward, so it travels the same way.

``ctx`` is modelled (``FunctionCtxVariable``): ``save_for_backward``/``saved_tensors``, attributes,
``needs_input_grad`` (from the inputs' requires_grad and the grad mode), ``mark_non_differentiable``.
``mark_dirty``, ``save_for_forward`` and ``set_materialize_grads(False)`` are not modelled: the call
then runs natively (GB019), as does a forward or backward that cannot be one body (GB021).
"""

from __future__ import annotations

from typing import Any

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from .base import Tx, VariableTracker, pymethod
from .lists import TupleVariable
from .subgraphs import Body, BodyInput, count_inputs, install, leaf_trackers, trace_body


# autograd.Functions whose outputs' backward node is itself the point: (module, qualname) -> why
# apply() runs natively (a graph break) instead of becoming a node whose outputs have the graph's node.
RUN_NATIVELY: dict[tuple[str, str], str] = {
    ("torch.nn.modules._functions", "BackwardHookFunction"): (
        "(a module's full backward hooks): torch.utils.hooks.BackwardHook checks that its outputs' grad_fn is "
        "BackwardHookFunctionBackward and registers the hooks on that node, which a graph's outputs do not have"),
}


class FunctionCtxVariable(VariableTracker):
    """The ``ctx`` of one ``apply`` call, made while tracing: what forward stores on it for backward."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        super().__init__(None)
        self.attrs: dict[str, VariableTracker] = {}
        self.saved: list[VariableTracker] = []
        self.non_differentiable: list[VariableTracker] = []
        self.needs_input_grad = needs_input_grad

    def python_type(self) -> type:
        return torch.autograd.function.FunctionCtx

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name in self.attrs:
            return self.attrs[name]
        if name in ("saved_tensors", "saved_variables"):
            return TupleVariable(list(self.saved))
        if name == "needs_input_grad":
            return tx.wrap_const(self.needs_input_grad)
        if name in type(self)._methods:
            return super().var_getattr(tx, name)
        if name in ("mark_dirty", "save_for_forward", "set_materialize_grads"):
            raise Unsupported(breaks.RUNS_NATIVELY, f"autograd.Function ctx.{name}()")
        raise UserCodeError(AttributeError(f"'FunctionCtx' object has no attribute '{name}'"))

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if name == "__setattr__":
            self.attrs[args[0].as_constant()] = args[1]
            return tx.wrap_const(None)
        if name in ("mark_dirty", "save_for_forward", "set_materialize_grads"):
            if name == "set_materialize_grads" and args and args[0].is_constant() and args[0].as_constant():
                return tx.wrap_const(None)      # the default
            raise Unsupported(breaks.RUNS_NATIVELY, f"autograd.Function ctx.{name}()")
        return super().call_method(tx, name, args, kwargs)

    @pymethod("save_for_backward")
    def _save_for_backward(self, tx: Tx, *tensors: VariableTracker) -> VariableTracker:
        self.saved = [t.realize() for t in tensors]
        return tx.wrap_const(None)

    @pymethod("mark_non_differentiable")
    def _mark_non_differentiable(self, tx: Tx, *tensors: VariableTracker) -> VariableTracker:
        self.non_differentiable.extend(t.realize() for t in tensors)
        return tx.wrap_const(None)

    def describe(self) -> str:
        return "the ctx of an autograd.Function"


def _forward_then_setup_context(forward: Any, setup_context: Any, ctx: Any, *args: Any) -> Any:
    """How autograd runs a forward that takes no ctx (traced, not called)."""
    output = forward(*args)
    setup_context(ctx, args, output)
    return output


class AutogradFunctionApplyVariable(VariableTracker):
    """``cls.apply`` of an autograd.Function subclass (``cls_vt`` is the class's tracker)."""

    def __init__(self, cls: type, cls_vt: VariableTracker) -> None:
        super().__init__(None)
        self.cls = cls
        self.cls_vt = cls_vt

    def python_type(self) -> type:
        return type(self.cls.apply)

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if kwargs:
            raise UserCodeError(TypeError("apply() takes no keyword arguments"))
        native = RUN_NATIVELY.get((self.cls.__module__, self.cls.__qualname__))
        if native is not None:
            raise Unsupported(breaks.RUNS_NATIVELY, f"{self.cls.__qualname__}.apply() {native}")
        return build_autograd_function(tx, self.cls, self.cls_vt, [a.realize() for a in args])

    def reconstruct(self, cg: Any) -> None:
        """``cls.apply`` at run time (the operand of a break at the call: it then runs natively)."""
        cg.reconstruct(self.cls_vt)
        cg.load_attr("apply")

    def describe(self) -> str:
        return f"{self.cls.__qualname__}.apply"


def build_autograd_function(tx: Tx, cls: type, cls_vt: VariableTracker, args: list[VariableTracker]) -> VariableTracker:
    name = cls.__qualname__
    grad_on = tx.graph.grad_enabled
    ctx = FunctionCtxVariable(tuple(bool(a.is_tensor and a.fake.requires_grad and grad_on) for a in args))
    base_setup = torch.autograd.function._SingleLevelFunction.setup_context
    if cls.setup_context is base_setup:
        fn, fn_args = cls_vt.var_getattr(tx, "forward"), [ctx, *args]
    else:
        fn = tx.wrap_const(_forward_then_setup_context)
        fn_args = [cls_vt.var_getattr(tx, "forward"), cls_vt.var_getattr(tx, "setup_context"), ctx, *args]
    fwd = trace_body(tx, fn, fn_args, {}, what=f"the forward of {name}", name="fwd_body", grad_enabled=False)
    outputs = _output_leaves(fwd, f"the forward of {name}")
    grads = [BodyInput(vt.fake) for vt in outputs]
    bwd = trace_body(tx, cls_vt.var_getattr(tx, "backward"), [ctx, *grads], {}, what=f"the backward of {name}",
                     name="bwd_body", grad_enabled=False, parent=fwd.scope)
    bwd_out = _gradient_outputs(tx, bwd, fwd, args, name)
    saved = bwd.lifted                          # forward values the backward uses, in its placeholder order
    out_nodes = fwd.output_nodes(clone_aliases=True)
    fwd_gm = fwd.module((out_nodes[0] if fwd.skeleton == 0 else tuple(out_nodes), tuple(saved)))
    bwd_gm = bwd.module(tuple(bwd_out))
    kept = {fwd.scope.lift(t.node) for t in ctx.saved if t.is_tensor}
    marked = {id(t) for t in ctx.non_differentiable}
    from ..torch_compat import autograd_function_apply

    out = tx.graph.call_function(autograd_function_apply, [
        install(tx, "fwd_body", fwd_gm), install(tx, "bwd_body", bwd_gm), *fwd.inputs, *fwd.lifted_args()], {
        "non_differentiable_idx": tx.wrap_const([i for i, vt in enumerate(outputs) if id(vt) in marked]),
        "saved_for_backward_idx": tx.wrap_const([i for i, n in enumerate(saved) if n in kept]),
    })
    return fwd.rebuild(leaf_trackers(tx.graph, out, len(fwd.leaves)))


def _output_leaves(fwd: Body, what: str) -> list[VariableTracker]:
    if not fwd.leaves or not all(vt.is_tensor for vt in fwd.leaves) or not (
            fwd.skeleton == 0 or isinstance(fwd.skeleton, tuple) and all(s == 0 for s in fwd.skeleton)):
        raise Unsupported(breaks.HOP_BODY, f"{what} must return a tensor or a tuple of tensors "
                          f"(it returns {fwd.skeleton!r})")
    return fwd.leaves


def _gradient_outputs(tx: Tx, bwd: Body, fwd: Body, args: list[VariableTracker], name: str) -> list[Any]:
    """One output per fwd input placeholder: the gradient ``backward`` returned for that argument of
    ``apply`` (None for the tensors nested in arguments, and for lifted values)."""
    result = bwd.result
    grads = result.unpack(tx) if isinstance(result, TupleVariable) else [result]
    if len(grads) != len(args):
        raise Unsupported(breaks.HOP_BODY, f"the backward of {name} returns {len(grads)} gradients for "
                          f"{len(args)} inputs")
    outputs: list[Any] = [None] * (len(fwd.inputs) + len(fwd.lifted))
    position = 0                                # the arguments' placeholders come in argument order
    for arg, grad in zip(args, grads):
        grad = grad.realize()
        if not (grad.is_tensor or grad.is_constant() and grad.as_constant() is None):
            raise Unsupported(breaks.HOP_BODY, f"the backward of {name} returns {grad.describe()} as a gradient")
        if arg.is_tensor and grad.is_tensor:
            outputs[position] = bwd.scope.lift(grad.node)
        position += count_inputs(arg)
    return outputs

