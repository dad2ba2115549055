"""Higher-order ops: torch callables that take functions, each captured as one graph node.

``HIGHER_ORDER`` is the table: the callable a program calls (or torch's own front-end calls) ->
how to build its node. Every builder uses the one mechanism of ``subgraphs.py`` (trace the
function arguments in a nested scope into bodies, lifting what they use from outside) and records
the op in the form torch's own higher-order ops take, so every backend runs it as it does for
torch.compile. docs/builder.md lists the table.

Rows are keyed by where the callable lives (``(module, qualname)``; ``("torch.ops.higher_order",
name)`` for a HigherOrderOperator object), not by the object, so a row never imports a module the
program did not load (flex_attention, torch._dynamo); ``higher_order_rule`` confirms that the value
*is* that module's attribute.

Torch's front-ends that only validate their arguments and then call the op under a compiler
(``flex_attention``) are traced, with ``torch.compiler.is_dynamo_compiling()`` answering True inside
them (``COMPILING_FRONTENDS``), so they reach the op's row the way torch.compile reaches it.
Anything of these families without a row still runs natively (GB019, variables/native.py).
"""

from __future__ import annotations

import dataclasses
import sys
import types
from typing import Any, Callable

import torch

from .. import torch_compat
from .base import Tx, VariableTracker
from .hop_control import build_checkpoint, build_cond, build_while_loop
from .hop_flex import annotate, build_flex_attention, getitem_to_index, mark_static
from .functorch import TRANSFORMS, transform_builder


@dataclasses.dataclass(frozen=True, slots=True)
class HigherOrderRule:
    op: str                                  # how programs call it
    build: Callable[[Tx, list[VariableTracker], dict[str, VariableTracker]], VariableTracker]
    node: str                                # the graph node it becomes


_HOP = "torch.ops.higher_order"

HIGHER_ORDER: dict[tuple[str, str], HigherOrderRule] = {
    ("torch", "cond"): HigherOrderRule(
        "torch.cond(pred, true_fn, false_fn, operands)", build_cond,
        "torch.ops.higher_order.cond(pred, true_gm, false_gm, (*operands, *lifted)); a Python bool pred runs "
        "its branch"),
    (_HOP, "cond"): HigherOrderRule("torch.ops.higher_order.cond(...)", build_cond, "the same node"),
    ("torch._higher_order_ops.while_loop", "while_loop"): HigherOrderRule(
        "torch._higher_order_ops.while_loop(cond_fn, body_fn, carried_inputs)", build_while_loop,
        "torch.ops.higher_order.while_loop(cond_gm, body_gm, carried, lifted)"),
    (_HOP, "while_loop"): HigherOrderRule("torch.ops.higher_order.while_loop(...)", build_while_loop, "the same node"),
    (_HOP, "flex_attention"): HigherOrderRule(
        "flex_attention(q, k, v, score_mod=, block_mask=, ...) (its front-end is traced)", build_flex_attention,
        "torch.ops.higher_order.flex_attention(q, k, v, score_mod_gm, (*block_mask, mask_mod_gm), scale, "
        "kernel_options, score_lifted, mask_lifted)"),
    ("torch.utils.checkpoint", "checkpoint"): HigherOrderRule(
        "torch.utils.checkpoint.checkpoint(fn, *args, use_reentrant=False, **kwargs)", build_checkpoint,
        "torch.ops.higher_order.tag_activation_checkpoint(gm, *tensors, *lifted): recomputed in backward; "
        "reentrant checkpoint only when an input requires grad, a context_fn runs natively"),
    ("torch._dynamo._trace_wrapped_higher_order_op", "TransformGetItemToIndex"): HigherOrderRule(
        "TransformGetItemToIndex() (create_block_mask runs mask_mod under it)", getitem_to_index,
        "no node: inside its `with` block, getitem with tensor indices is recorded as aten.index"),
    ("torch.fx.traceback", "annotate"): HigherOrderRule(
        "torch.fx.traceback.annotate(dict) (create_block_mask uses it)", annotate,
        "no node: nodes recorded inside its `with` block carry the dict in node.meta['custom']"),
    ("torch._dynamo.decorators", "mark_static"): HigherOrderRule(
        "torch._dynamo.mark_static(t, dim) (called by flex_attention)", mark_static,
        "no node: the dimensions are specialized (guarded) in this capture"),
    **{("torch.func", name): HigherOrderRule(f"torch.func.{name}(f, ...)", transform_builder(name), spec.node)
       for name, spec in TRANSFORMS.items()},
}


# Captured the same way, but reached as an attribute rather than by identity (docs/builder.md lists them too).
ATTRIBUTE_ROWS: tuple[tuple[str, str], ...] = (
    ("MyFunction.apply(*args) of a torch.autograd.Function subclass (variables/autograd_function.py)",
     "torch.ops.higher_order.autograd_function_apply(fwd_gm, bwd_gm, *inputs, *lifted, non_differentiable_idx=, "
     "saved_for_backward_idx=): forward and backward both traced; ctx.mark_dirty/save_for_forward/"
     "set_materialize_grads(False) run natively"),
    ("y.register_hook(fn) on a tensor the graph computes (variables/tensor.py, runtime/hooks.py)",
     "bytegraph::hook_point(y, backward_state, k), read by every use of y; its backward, bytegraph::call_hooks(grad, "
     "backward_state, k), runs the hooks this call bound to its backward-state input; a leaf made in the frame, "
     "memory written in place, or a higher-order op body: a break at the registration"),
    ("m(*args) of a module with register_full_backward_hook / _pre_hook hooks (variables/module_hooks.py)",
     "bytegraph::module_hook([inputs], backward_state, k) and bytegraph::module_hook([outputs], backward_state, k'): "
     "their backward, bytegraph::call_module_hooks, runs the pre-hooks and hooks as torch.utils.hooks.BackwardHook "
     "does, with this call's module and hooks bound to the backward-state input; hooked memory written in place "
     "later, or a higher-order op body: the call runs natively"),
)


def _key(value: Any) -> tuple[str, str] | None:
    if isinstance(value, torch_compat.HigherOrderOperator):
        return (_HOP, value.name())
    if isinstance(value, (types.FunctionType, type)):
        return (value.__module__, value.__qualname__)
    return None


def higher_order_rule(value: Any) -> HigherOrderRule | None:
    """The row for ``value``, if it is one of the table's callables."""
    key = _key(value)
    rule = HIGHER_ORDER.get(key) if key is not None else None
    if rule is None:
        return None
    if key[0] == _HOP:
        return rule if getattr(torch.ops.higher_order, key[1], None) is value else None
    module = sys.modules.get(key[0])
    return rule if module is not None and getattr(module, key[1], None) is value else None


def is_higher_order(value: Any) -> bool:
    try:
        return higher_order_rule(value) is not None
    except Exception:   # noqa: BLE001 - an object whose attributes raise is not one of torch's callables
        return False


class HigherOrderVariable(VariableTracker):
    """One of the table's callables; calling it builds its node."""

    def __init__(self, fn: Any, rule: HigherOrderRule, source: Any = None) -> None:
        super().__init__(source)
        self.fn = fn
        self.rule = rule

    def python_type(self) -> type:
        return type(self.fn)

    def as_constant(self) -> Any:
        return self.fn

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return self.rule.build(tx, args, kwargs)

    def describe(self) -> str:
        return f"higher-order op {self.rule.op.split('(')[0]}"
