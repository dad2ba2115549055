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
import os
import sys
import warnings
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

    __slots__ = ("tensor", "hooks", "modules", "reach", "reached", "__weakref__")

    def __init__(self) -> None:
        key = next(_KEYS)
        self.tensor: torch.Tensor | None = torch.tensor(key, dtype=torch.int64)     # the graph input, until taken
        self.hooks: dict[int, tuple[Callable[..., Any], ...]] = {}
        self.modules: dict[int, ModuleHookCall] = {}          # k of a module_hook point -> its module call
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

    def bind_module(self, module: torch.nn.Module, hooks: Any, pre_hooks: Any, *where: Any) -> None:
        """A module call with full backward hooks: its two hook points (inputs, outputs) run them
        (``where``: ModuleHookCall's positions and keys, as the trace found them)."""
        call = ModuleHookCall(module, hooks, pre_hooks, *where)
        for k in call.keys():
            self.modules[k] = call

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
    return _own(result, grad)


def _own(value: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``value`` as a custom op's output: a copy where it shares memory with the incoming
    gradient (a custom op's output may not alias its input)."""
    return value.clone() if value.untyped_storage().data_ptr() == grad.untyped_storage().data_ptr() else value


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


# -- module full backward hooks (register_full_backward_hook / _pre_hook) -------------------------
MODULE_HOOK = "bytegraph::module_hook"
CALL_MODULE_HOOKS = "bytegraph::call_module_hooks"


class ModuleHookCall:
    """One call of a module with full backward hooks, as ``torch.utils.hooks.BackwardHook`` runs
    them in eager. The module's tensor inputs pass one hook point (``module_hook``, key
    ``in_key``; only the ones that require grad are used after it) and its outputs that require
    grad another (``out_key``). In backward the outputs' point gets ``grad_output`` and runs the
    pre-hooks (which may replace it); the inputs' point gets ``grad_input`` and runs the hooks
    ``hook(module, grad_input, grad_output)`` (which may replace it). Positions that are not
    tensors are None, as eager packs them; so is an output gradient a backward pass does not
    bring (``out_ks``: each hooked output's own hook-point index, its reach)."""

    __slots__ = ("module", "hooks", "pre_hooks", "n_inputs", "inputs", "in_key", "n_outputs", "outputs", "out_key",
                 "out_ks", "grad_outputs")

    def __init__(self, module: torch.nn.Module, hooks: Any, pre_hooks: Any, n_inputs: int, inputs: tuple[int, ...],
                 in_key: int | None, n_outputs: int, outputs: tuple[int, ...], out_key: int | None,
                 out_ks: tuple[int, ...]) -> None:
        self.module, self.hooks, self.pre_hooks = module, tuple(hooks), tuple(pre_hooks)
        self.n_inputs, self.inputs, self.in_key = n_inputs, inputs, in_key
        self.n_outputs, self.outputs, self.out_key, self.out_ks = n_outputs, outputs, out_key, out_ks
        self.grad_outputs: tuple[Any, ...] | None = None

    def keys(self) -> tuple[int, ...]:
        return tuple(k for k in (self.in_key, self.out_key) if k is not None)

    @staticmethod
    def _packed(positions: tuple[int, ...], values: Any, size: int) -> tuple[Any, ...]:
        packed: list[Any] = [None] * size
        for i, v in zip(positions, values):
            packed[i] = v
        return tuple(packed)

    def run(self, state: BackwardState, k: int, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        if k == self.out_key:
            return self._output_side(state, grads)
        if self.grad_outputs is None or not state.reached_by_this_pass(k):
            return [g.clone() for g in grads]   # (eager's node does not run, or the gradient did not come
                                                # through the outputs; a custom op's outputs are its own)
        grad_inputs = self._packed(self.inputs, grads, self.n_inputs)
        for hook in self.hooks:
            result = hook(self.module, grad_inputs, self.grad_outputs)
            if result is not None:
                if len(result) != len(grad_inputs):
                    raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                       f"got {len(result)}, but expected {len(grad_inputs)}")
                grad_inputs = tuple(result)
        self.grad_outputs = None
        return [_tensor_like(grad_inputs[i], g) for i, g in zip(self.inputs, grads)]

    def _output_side(self, state: BackwardState, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        reached = [g if state.reached_by_this_pass(k) else None for g, k in zip(grads, self.out_ks)]
        if all(g is None for g in reached):
            return [g.clone() for g in grads]   # (this pass does not reach the module's outputs)
        self.grad_outputs = self._packed(self.outputs, reached, self.n_outputs)
        for hook in self.pre_hooks:
            result = hook(self.module, self.grad_outputs)
            if result is not None:
                if len(result) != len(self.grad_outputs):
                    raise RuntimeError("Backward pre hook returned an invalid number of grad_output, "
                                       f"got {len(result)}, but expected {len(self.grad_outputs)}")
                self.grad_outputs = tuple(result)
        grad_outputs = self.grad_outputs
        if self.in_key is None:     # no input requires grad: the hooks run now, grad_input all None
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module outputs "
                          "since no inputs require gradients. See https://docs.pytorch.org/docs/main/generated/"
                          "torch.nn.Module.html#torch.nn.Module.register_full_backward_hook for more details.",
                          stacklevel=_user_stacklevel())
            for hook in self.hooks:
                result = hook(self.module, (None,) * self.n_inputs, grad_outputs)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
            self.grad_outputs = None
        return [_tensor_like(grad_outputs[i], g) for i, g in zip(self.outputs, grads)]


_LIBRARY_DIRS = tuple(os.path.dirname(m.__file__) + os.sep for m in (torch, sys.modules[__package__.split(".")[0]]))


def _user_stacklevel() -> int:
    """The ``stacklevel`` of a warning that points at the program's own line (the ``backward()``
    call, as eager's warning from the engine does), past torch's and bytegraph's frames."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    return level


def _tensor_like(value: Any, grad: torch.Tensor) -> torch.Tensor:
    """What a hook left at a position, as the op's gradient there (``_own``), zeros for None."""
    return torch.zeros_like(grad) if value is None else _own(value, grad)


@torch.library.custom_op(CALL_MODULE_HOOKS, mutates_args=())
def call_module_hooks(grads: list[torch.Tensor], state: torch.Tensor, k: int) -> list[torch.Tensor]:
    """Backward of ``module_hook``: the module call's hooks on that side (``ModuleHookCall.run``)."""
    found = _state_of(state)
    call = found.modules.get(k)
    if call is None:
        return [g.clone() for g in grads]
    return call.run(found, k, list(grads))


@call_module_hooks.register_fake
def _(grads: list[torch.Tensor], state: torch.Tensor, k: int) -> list[torch.Tensor]:
    return [torch.empty_like(g) for g in grads]


@torch.library.custom_op(MODULE_HOOK, mutates_args=())
def module_hook(tensors: list[torch.Tensor], state: torch.Tensor, k: int) -> list[torch.Tensor]:
    """Forward: the tensors (copies), where a module call's inputs or outputs pass its hooks."""
    return [t.clone() for t in tensors]


@module_hook.register_fake
def _(tensors: list[torch.Tensor], state: torch.Tensor, k: int) -> list[torch.Tensor]:
    return [torch.empty_like(t) for t in tensors]


def _module_backward(ctx: Any, grads: list[torch.Tensor]) -> tuple[Any, None, None]:
    return torch.ops.bytegraph.call_module_hooks(list(grads), ctx.state, ctx.k), None, None


module_hook.register_autograd(_module_backward, setup_context=_setup)
