"""Tensor hooks on intermediates, in the graph: the backward state of one call (issue 18 item 2).

``y.register_hook(fn)`` on a tensor the graph computes is captured as two opaque custom ops
(an AOTAutograd backend keeps them as calls, Inductor as extern kernels):

    forward:   y' = bytegraph::hook_point(y, state, k)     (a copy of y; every use of y reads y')
    backward:  g' = bytegraph::call_hooks(g, state, k)     (its autograd formula: runs the hooks)

``state`` is the graph's *backward-state input* (torch.compile's BackwardStateGraphArg): a 0-d
int64 tensor, made fresh by the transformed code on every call (``BackwardState()``, kept in
the local ``___bwstate``; ``take()`` hands its tensor to the graph), whose value is a key of
``_STATES``. After the graph returns, the
transformed code binds the hook objects this call made to it (``bind``: closures over this
call's lists and counters) and watches the graph outputs the hooked tensors reach
(``watch``). In backward, ``call_hooks`` finds this call's hooks by the key and runs them
in registration order, as eager's engine does; two forwards and one backward over both call
each call's own hooks.

A hook runs only in a backward pass that reaches one of those outputs with a gradient (their
tensor hooks record the pass): an AOTAutograd graph is one autograd node, which hands zeros
for the outputs a pass does not reach, where eager would not call the hook at all. (Not under
compiled autograd, which traces those tensor hooks: there a hook runs whenever the graph's
backward does.)

Lifetime: an entry lives as long as its state tensor, which the autograd graph keeps (saved
for backward; torch keeps the Python object of a tensor C++ still holds), so it goes with the
graph: after a backward that frees it, or when the outputs are dropped without one.
"""

from __future__ import annotations

import itertools
import sys
import weakref
from typing import Any, Callable

import torch

from ..codegen.pycodegen import GRAPH_OUT, PyCodegen
from ..sources import BACKWARD_STATE
from ..torch_compat import current_graph_task_id

HOOK_POINT = "bytegraph::hook_point"
CALL_HOOKS = "bytegraph::call_hooks"

_STATES: dict[int, "BackwardState"] = {}      # key -> the backward state of one call
_KEYS = itertools.count(1)


class BackwardState:
    """The hooks one call of a graph registered on its intermediates, by hooked tensor ``k``."""

    __slots__ = ("tensor", "hooks", "reach", "reached", "__weakref__")

    def __init__(self) -> None:
        key = next(_KEYS)
        self.tensor: torch.Tensor | None = torch.tensor(key, dtype=torch.int64)     # the graph input, until taken
        self.hooks: dict[int, tuple[Callable[..., Any], ...]] = {}
        self.reach: tuple[tuple[int, ...], ...] = ()          # k -> the graph outputs tensor k reaches
        self.reached: dict[int, int] = {}                     # output index -> last backward pass it got a gradient
        _STATES[key] = self
        weakref.finalize(self.tensor, _STATES.pop, key, None)

    def take(self) -> torch.Tensor:
        """The graph input, handed over: from here on only the graph (and the autograd graph it
        builds, which saves it for backward) holds it, so this entry goes when they let it go."""
        tensor, self.tensor = self.tensor, None
        return tensor

    def bind(self, k: int, hooks: tuple[Callable[..., Any], ...]) -> None:
        """Hooked tensor ``k`` runs ``hooks`` in backward too (the ones the trace registered, in order)."""
        self.hooks[k] = self.hooks.get(k, ()) + hooks

    def watch(self, outputs: tuple[Any, ...], reach: tuple[tuple[int, ...], ...]) -> None:
        """Record, for each output some hooked tensor reaches, the backward passes it gets a gradient in."""
        self.reach = reach
        reached = self.reached
        for i in sorted({i for outs in reach for i in outs}):
            out = outputs[i]
            if isinstance(out, torch.Tensor) and out.requires_grad:
                out.register_hook(_marker(reached, i))

    def reached_by_this_pass(self, k: int) -> bool:
        if _in_compiled_autograd():
            return True     # (the output hooks are traced into its graph: their marks land after it)
        task = current_graph_task_id()
        reach = self.reach[k] if k < len(self.reach) else ()
        return any(self.reached.get(i) == task for i in reach)


def _in_compiled_autograd() -> bool:
    """Whether a backward graph captured by compiled autograd is running (it runs the tensor
    hooks of the outputs as traced code, whose marks are written back only after it)."""
    if "torch._dynamo.compiled_autograd" not in sys.modules:     # (never loaded: not running)
        return False
    from ..torch_compat import compiled_autograd

    return bool(compiled_autograd.in_compiled_autograd_region)


def _marker(reached: dict[int, int], i: int) -> Callable[[torch.Tensor], None]:
    def mark(grad: torch.Tensor | None) -> None:
        if grad is not None:        # (a node's hook is called with None for an output the pass does not reach)
            reached[i] = current_graph_task_id()
    return mark


def backward_state_calls(cg: PyCodegen, call: list[Any], reach: tuple[tuple[int, ...], ...],
                         has_outputs: bool) -> list[Any]:
    """The graph call ``call`` of a graph with hooks on intermediates, between
    ``___bwstate = BackwardState()`` (its input, ``sources.BackwardStateSource``) and
    ``___bwstate.watch(___graph_out, reach)``. (``bind`` comes with the side effects.)"""
    before = PyCodegen(cg.code, cg.lineno)
    before.push_callable(BackwardState)
    before.call(0)
    before.store_local(BACKWARD_STATE)
    after = PyCodegen(cg.code, cg.lineno)
    if has_outputs and any(reach):
        after.push_call_target(lambda: (after.load_local(BACKWARD_STATE), after.load_attr("watch")))
        after.emit("LOAD_FAST", GRAPH_OUT)
        after.load_const(reach)
        after.call(2)
        after.emit("POP_TOP")
    return before.instrs + call + after.instrs


def live_states() -> int:
    """How many backward states are alive (for tests: they must not accumulate)."""
    return len(_STATES)


def _state_of(state: torch.Tensor) -> BackwardState:
    found = _STATES.get(int(state))
    if found is None:
        raise RuntimeError("bytegraph: the hooks registered on an intermediate tensor of this graph are gone (its "
                           "backward state was freed before its backward ran); please report this")
    return found


def _checked(hook: Callable[..., Any], grad: torch.Tensor, result: Any) -> torch.Tensor:
    """A hook's result, checked as eager's engine checks it (python_hook.cpp), with its messages."""
    name = getattr(hook, "__name__", type(hook).__name__)
    if not isinstance(result, torch.Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
    if result.dtype != grad.dtype or result.layout != grad.layout:
        raise RuntimeError(f"hook '{name}' has changed the type of value (was {grad.type()} got {result.type()})")
    if result.device != grad.device:
        raise RuntimeError(f"hook '{name}' has changed the device of value (was {grad.device} got {result.device})")
    if result.shape != grad.shape:
        raise RuntimeError(f"hook '{name}' has changed the size of value")
    return result


def run_hooks(grad: torch.Tensor, state: torch.Tensor, k: int) -> torch.Tensor:
    """The gradient of hooked tensor ``k`` after this call's hooks, in registration order (a hook
    returning None leaves it as it is). A custom op's output may not alias its inputs: the
    gradient itself (or a view of it) comes back as a copy."""
    found = _state_of(state)
    result = grad
    if found.reached_by_this_pass(k):
        for hook in found.hooks.get(k, ()):
            returned = hook(result)
            if returned is not None:
                result = _checked(hook, result, returned)
    return result.clone() if result.untyped_storage().data_ptr() == grad.untyped_storage().data_ptr() else result


@torch.library.custom_op(CALL_HOOKS, mutates_args=())
def call_hooks(grad: torch.Tensor, state: torch.Tensor, k: int) -> torch.Tensor:
    """Backward of ``hook_point``: the hooks of hooked tensor ``k`` of the call ``state`` stands for."""
    return run_hooks(grad, state, k)


@call_hooks.register_fake
def _(grad: torch.Tensor, state: torch.Tensor, k: int) -> torch.Tensor:
    return torch.empty_like(grad)


@torch.library.custom_op(HOOK_POINT, mutates_args=())
def hook_point(y: torch.Tensor, state: torch.Tensor, k: int) -> torch.Tensor:
    """Forward: ``y`` (a copy: a custom op's output does not alias its input)."""
    return y.clone()


@hook_point.register_fake
def _(y: torch.Tensor, state: torch.Tensor, k: int) -> torch.Tensor:
    return torch.empty_like(y)


def _setup(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ctx.state, ctx.k = inputs[1], inputs[2]


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, None, None]:
    return torch.ops.bytegraph.call_hooks(grad, ctx.state, ctx.k), None, None


hook_point.register_autograd(_backward, setup_context=_setup)
