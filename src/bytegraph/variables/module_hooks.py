"""A module's full backward hooks in the graph: ``torch.utils.hooks.BackwardHook`` in traced code.

``Module._call_impl`` of a module with ``register_full_backward_hook`` / ``_pre_hook`` hooks makes
a ``BackwardHook(module, hooks, pre_hooks)``, passes the forward's inputs through
``setup_input_hook`` and its result through ``setup_output_hook``. In eager each is a
``BackwardHookFunction`` whose backward node the hooks hang on. Traced, each is a hook point of
the graph (``OutputGraph.module_hook``: an opaque ``bytegraph::module_hook`` op whose backward
runs the hooks, found through the graph's backward-state input), and after the graph the
transformed code binds this call's module and hooks to that state (``replay``: the side effect
``___bwstate.bind_module(...)``; runtime/hooks.py ``ModuleHookCall`` runs them as eager does).
One graph, as for hooks on intermediates (DESIGN 55); torch.compile needs compiled autograd.

Where that cannot be exact the module call runs natively, a graph break at it (``root_index``):
inside a higher-order op body, memory of the hooked tensors written in place later (eager's
hook function shares memory with its inputs; the hook point copies), the hook object kept past
the graph (a break inside the module's forward). Such a call runs natively as a whole
(``graph_break.compiled_callee`` does not compile a module with full backward hooks in pieces).
"""

from __future__ import annotations

from typing import Any

from torch.utils.hooks import BackwardHook

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from ..sources import BACKWARD_STATE
from .base import Tx, VariableTracker, pymethod
from .lists import BaseListVariable, TupleVariable
from .tensor import TensorVariable, root_instruction


class BackwardHookClassVariable(VariableTracker):
    """The class ``torch.utils.hooks.BackwardHook`` (builder rule "module backward hook class")."""

    def python_type(self) -> type:
        return type

    def as_constant(self) -> Any:
        return BackwardHook

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if len(args) != 3 or kwargs:
            raise Unsupported(breaks.UNSUPPORTED_CALL, "BackwardHook() with other arguments than Module._call_impl's")
        return ModuleBackwardHookVariable(*args, root_instruction(tx))

    def reconstruct(self, cg: Any) -> None:
        cg.push_callable(BackwardHook)


class ModuleBackwardHookVariable(VariableTracker):
    """One ``BackwardHook(module, hooks, pre_hooks)`` of a module call in the trace."""

    def __init__(self, module: VariableTracker, hooks: VariableTracker, pre_hooks: VariableTracker,
                 root_index: int | None) -> None:
        super().__init__(None)
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.root_index = root_index          # the frame's instruction the module call runs under
        self.n_inputs, self.inputs, self.in_key = 0, (), None
        self.n_outputs, self.outputs, self.out_key, self.out_ks = 0, (), None, ()
        self.recorded = False

    def python_type(self) -> type:
        return BackwardHook

    def truth(self, tx: Tx) -> bool:
        return True

    def _tensors(self, tx: Tx, value: VariableTracker) -> tuple[list[VariableTracker], bool]:
        """The positions as eager's ``_apply_on_tensors`` sees them, and whether ``value`` is a tuple."""
        if isinstance(value, TupleVariable) and issubclass(value.python_type(), tuple):
            return list(value.unpack(tx)), True
        return [value], False

    @pymethod("setup_input_hook")
    def _setup_input_hook(self, tx: Tx, args: VariableTracker) -> VariableTracker:
        items, _ = self._tensors(tx, args)
        if not isinstance(args, BaseListVariable):
            raise Unsupported(breaks.UNSUPPORTED_CALL, "BackwardHook.setup_input_hook() of a non-tuple")
        self.n_inputs = len(items)
        tensors = [i for i, v in enumerate(items) if isinstance(v, TensorVariable)]
        wants = [items[i].fake.requires_grad for i in tensors]
        if not (any(wants) and tx.graph.grad_enabled):
            return args                       # (eager: no hook function, input_tensors_index None)
        self.inputs = tuple(tensors)
        self.in_key, outs, _ = tx.graph.module_hook([items[i] for i in tensors], wants, self.root_index, None)
        for i, out in zip(tensors, outs):
            if out is not None:
                items[i] = out
        self._record(tx)
        return args.new(items) if not isinstance(args, TupleVariable) else TupleVariable(items, py_type=args.py_type)

    @pymethod("setup_output_hook")
    def _setup_output_hook(self, tx: Tx, result: VariableTracker) -> VariableTracker:
        items, is_tuple = self._tensors(tx, result)
        self.n_outputs = len(items)
        hooked = [i for i, v in enumerate(items) if isinstance(v, TensorVariable) and v.fake.requires_grad]
        if not (hooked and tx.graph.grad_enabled):
            return result                     # (eager: the hooks never see a gradient from this call)
        self.outputs = tuple(hooked)
        self.out_key, outs, self.out_ks = tx.graph.module_hook([items[i] for i in hooked], [True] * len(hooked),
                                                               self.root_index, None)
        for i, out in zip(hooked, outs):
            items[i] = out
        self._record(tx)
        return TupleVariable(items, py_type=result.py_type) if is_tuple else items[0]

    def _record(self, tx: Tx) -> None:
        if not self.recorded:
            self.recorded = True
            tx.capture.side_effects.record(self)

    # -- after the graph: bind this call's module and hooks to the backward state ------------
    def replayable(self) -> bool:
        return True

    def replay_values(self) -> list[VariableTracker]:
        return [self.module, self.hooks, self.pre_hooks]

    def replay(self, cg: Any) -> None:
        """``___bwstate.bind_module(module, hooks, pre_hooks, <where the tensors are, the keys>)``."""
        cg.push_call_target(lambda: (cg.load_local(BACKWARD_STATE), cg.load_attr("bind_module")))
        values = self.replay_values()
        where = (self.n_inputs, self.inputs, self.in_key, self.n_outputs, self.outputs, self.out_key, self.out_ks)
        for vt in values:
            cg.reconstruct(vt)
        for const in where:
            cg.load_const(const)
        cg.call(len(values) + len(where))
        cg.emit("POP_TOP")

    def reconstruct(self, cg: Any) -> None:
        # kept past the graph (a break inside the module's forward): the module call runs natively
        e = Unsupported(breaks.RUNS_NATIVELY, f"{self.describe()} kept past the graph (a graph break inside the "
                        "forward of a module with full backward hooks)")
        e.root_index = self.root_index
        raise e

    def describe(self) -> str:
        return f"the backward hooks of {self.module.describe()}"


def is_backward_hook_class(value: Any) -> bool:
    return value is BackwardHook
