"""TensorVariable: a tensor in the graph, known by its fx node and its fake value.

Metadata (shape, dtype, device, ndim, requires_grad...) is read from the fake tensor and
is a trace-time constant (the input's TENSOR_MATCH guard makes that sound). Every other
method and operator becomes a graph node through ``tx.graph``. Anything that needs the
data itself (``bool(x)``, ``x.item()`` feeding Python) is a graph break.

``.grad`` (what an optimizer reads, and ``zero_grad`` sets to None) is an attribute of the real
tensor: of an input, it is read through ``AttrSource(x, "grad")`` (a tensor input of its own, or
None, guarded as any value); a tensor the graph computes has none yet. Assigning it (``p.grad =
None``, ``p.grad = g``) on an input is a side effect written back after the graph, and later reads
in the trace see the assigned value. ``x.register_hook(fn)`` (and the post-accumulate-grad
kind) on an input is a side effect too, replayed after the graph (``_defer_hook``); on a tensor
the graph computes, the hook is a node of the graph whose backward runs it (``_hook_in_graph``).
"""

from __future__ import annotations

import operator
from typing import Any

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..sources import BACKWARD_STATE, AttrSource, InstanceAttrSource
from .base import BoundMethodVariable, Tx, VariableTracker, pymethod
from .numpy import tensor_numpy

# Attributes read from the fake tensor as constants.
META_ATTRS = frozenset({
    "shape", "dtype", "device", "ndim", "requires_grad", "is_leaf", "layout", "is_cuda", "is_cpu",
    "is_sparse", "is_quantized", "is_meta", "is_nested", "is_mkldnn", "is_complex_dtype", "itemsize", "nbytes",
})
# Attributes that are tensors computed from the tensor: graph nodes (getattr).
GRAPH_ATTRS = frozenset({"T", "mT", "H", "mH", "real", "imag"})
# Attributes of the real tensor the trace may read and assign (inputs only; written back after the graph).
REAL_ATTRS = frozenset({"grad"})
# Methods that need the data, or act outside the program: a graph break with its catalog kind.
BREAKING_METHODS: dict[str, breaks.BreakKind] = {
    "item": breaks.DATA_DEPENDENT_OP, "tolist": breaks.DATA_DEPENDENT_OP,
    "__bool__": breaks.DATA_DEPENDENT_BRANCH, "__int__": breaks.DATA_DEPENDENT_OP,
    "__float__": breaks.DATA_DEPENDENT_OP, "__index__": breaks.DATA_DEPENDENT_OP,
    "backward": breaks.UNSUPPORTED_CALL,
    "data_ptr": breaks.UNSUPPORTED_CALL, "untyped_storage": breaks.UNSUPPORTED_CALL,
    "__repr__": breaks.PRINT_OR_IO, "__str__": breaks.PRINT_OR_IO, "__format__": breaks.PRINT_OR_IO,
}


class TensorVariable(VariableTracker):
    is_tensor = True

    def __init__(self, node: torch.fx.Node, fake: torch.Tensor, py_type: type = torch.Tensor,
                 source: Any = None) -> None:
        super().__init__(source)
        self.node = node
        self.fake = fake
        self.py_type = py_type
        self.assigned: dict[str, VariableTracker] = {}     # REAL_ATTRS the trace assigned, by name
        self.hooks: list[DeferredHookHandle] = []           # hooks registered in the trace, in order

    def python_type(self) -> type:
        return self.py_type

    def as_graph_arg(self) -> tuple[Any, Any]:
        return self.node, self.fake

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name == "shape":
            return self.call_method(tx, "size", [], {})    # a constant, or symbolic sizes from the graph
        if name in META_ATTRS:
            return tx.wrap_const(getattr(self.fake, name))
        if name in REAL_ATTRS:
            return self._real_attr(tx, name)
        if name in GRAPH_ATTRS:
            return tx.graph.call_function(getattr, [self, tx.wrap_const(name)], {})
        if callable(getattr(torch.Tensor, name, None)):
            return BoundMethodVariable(self, name)
        if hasattr(torch.Tensor, name):
            raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"tensor attribute .{name}")
        # Not a Tensor attribute: a Python attribute someone set on an input tensor, or missing.
        real = tx.graph.example_of(self.source) if self.source is not None else None
        if real is not None and name in getattr(real, "__dict__", {}):
            return tx.wrap(real.__dict__[name], InstanceAttrSource.of_object(self.source, name))
        raise UserCodeError(AttributeError(f"'Tensor' object has no attribute '{name}'"))

    def _real_attr(self, tx: Tx, name: str) -> VariableTracker:
        """``x.grad``: as the trace assigned it, else the input's own (guarded through its source);
        a tensor made by the graph has no gradient while the graph runs."""
        if name in self.assigned:
            return self.assigned[name]
        if self.source is None:
            return tx.wrap_const(None)
        real = tx.graph.example_of(self.source)
        return tx.wrap(getattr(real, name), AttrSource(self.source, name))

    @pymethod("__setattr__")
    def _setattr(self, tx: Tx, name: VariableTracker, value: VariableTracker) -> VariableTracker:
        attr = name.as_constant()
        if attr not in REAL_ATTRS or self.source is None:
            raise Unsupported(breaks.SIDE_EFFECT, f"assigning .{attr} of {self.describe()}")
        if not (value.is_tensor or value.is_constant() and value.as_constant() is None):
            raise UserCodeError(TypeError(f"assigned {attr} expected to be a Tensor or None but got "
                                          f"{value.python_type().__name__}"))
        tx.mutation(self, f"assigning .{attr}")
        self.assigned[attr] = value
        return tx.wrap_const(None)

    @pymethod("requires_grad_")
    def _requires_grad_(self, tx: Tx, requires_grad: VariableTracker | None = None) -> VariableTracker:
        """On a graph input whose flag it changes, a graph break: the change is metadata of the
        caller's tensor, which AOTAutograd does not carry out of the graph (the input came back
        unchanged under aot_eager; fuzz seed 110142), as torch.compile breaks. Else a graph op."""
        flag = True if requires_grad is None else requires_grad.as_constant()
        if self.source is not None and bool(flag) != self.fake.requires_grad:
            raise Unsupported(breaks.SIDE_EFFECT, f"Tensor.requires_grad_({flag}) on {self.describe()}, a graph input "
                              "(it changes the caller's tensor)")
        args = [] if requires_grad is None else [requires_grad]
        return tx.graph.call_method("requires_grad_", [self, *args], {})

    @pymethod("register_hook")
    def _register_hook(self, tx: Tx, hook: VariableTracker) -> VariableTracker:
        return self._defer_hook(tx, "register_hook", hook)

    @pymethod("register_post_accumulate_grad_hook")
    def _register_post_accumulate_grad_hook(self, tx: Tx, hook: VariableTracker) -> VariableTracker:
        return self._defer_hook(tx, "register_post_accumulate_grad_hook", hook)

    def _defer_hook(self, tx: Tx, method: str, hook: VariableTracker) -> VariableTracker:
        """``x.register_hook(fn)`` on an input: the registration is a side effect replayed on the
        real tensor after the graph (and before a break's instruction), as torch.compile replays
        it. A hook fires when backward reaches the tensor, which is after the frame's graph has
        run whenever the registration happens: the same gradients and calls as eager. On a tensor
        the graph computes, the hook goes into the graph (``_hook_in_graph``)."""
        if self.source is None:
            return self._hook_in_graph(tx, method, hook)
        real = tx.graph.example_of(self.source)
        if real is None or not real.requires_grad or (method == "register_post_accumulate_grad_hook"
                                                      and not real.is_leaf):
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"Tensor.{method}() on {self.describe()} (eager raises: it "
                              "does not require grad, or is not a leaf)")
        if self.node.graph is not tx.graph.root_graph:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"Tensor.{method}() inside the body of a higher-order op")
        tx.mutation(self, f"Tensor.{method}()")
        tx.graph.hooked.add(self.node)      # (a later in-place write into it breaks: OutputGraph._record_node)
        handle = DeferredHookHandle(self, method, hook, root_instruction(tx))
        self.hooks.append(handle)
        return handle

    def _hook_in_graph(self, tx: Tx, method: str, hook: VariableTracker) -> VariableTracker:
        """``y.register_hook(fn)`` on a tensor the graph computes: one graph, the hook runs in its
        backward (``OutputGraph.hook_point``: every use of ``y`` reads a hook point whose backward
        calls this call's hooks, bound after the graph by ``replay``; runtime/hooks.py). Eager's
        errors for a tensor without grad; a break where eager's hook could not be kept exactly:
        inside a higher-order op body, a leaf made in the frame, memory written in place."""
        if not self.fake.requires_grad:
            raise UserCodeError(RuntimeError("cannot register a hook on a tensor that doesn't require gradient"))
        if method == "register_post_accumulate_grad_hook" and not self.fake.is_leaf:
            raise UserCodeError(RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors"))
        if self.node.graph is not tx.graph.root_graph:     # (the break runs the whole op natively)
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"Tensor.{method}() on {self.describe()}, inside the body "
                              "of a higher-order op")
        root_index = root_instruction(tx)
        not_resumable = _USED_BEFORE if tx.graph.read_since_written(self) else None
        if self.fake.is_leaf:
            e = Unsupported(breaks.UNSUPPORTED_CALL, f"Tensor.{method}() on {self.describe()}, a leaf made in the "
                            "frame (its .grad is the program's)")
            e.root_index, e.not_resumable = root_index, not_resumable
            raise e
        k = tx.graph.hook_point(self, root_index, not_resumable)
        handle = DeferredHookHandle(self, method, hook, root_index, k)
        handle.not_resumable = not_resumable
        self.hooks.append(handle)
        tx.mutation(self, f"Tensor.{method}()")
        return handle

    @pymethod("retain_grad")
    def _retain_grad(self, tx: Tx) -> VariableTracker:
        """A graph break that runs it natively: recorded in the graph, an AOT backend's output never
        got its ``.grad``. On a tensor the graph computes and already used, a break would retain
        only the gradient of the uses after it: the frame runs eagerly instead."""
        e = Unsupported(breaks.UNSUPPORTED_CALL, f"Tensor.retain_grad() on {self.describe()}")
        if self.source is None and self.fake.requires_grad and not self.fake.is_leaf and tx.graph.read_since_written(self):
            e.not_resumable = _USED_BEFORE.replace("a hook registered on", "retain_grad() of")
        raise e

    def replayable(self) -> bool:
        return self.source is not None or any(h.k is not None for h in self.hooks)

    def replay_values(self) -> list[VariableTracker]:
        return [*self.assigned.values(), *(h.hook for h in self.hooks if not h.removed)]

    def replay(self, cg: Any) -> None:
        """``x.grad = value`` on the real tensor, for each attribute the trace assigned; then
        ``x.register_hook(fn)`` for each hook the trace registered (and did not remove) on an
        input, and ``___bwstate.bind(k, (fn, ...))`` for those on an intermediate."""
        for attr, vt in self.assigned.items():
            cg.reconstruct(vt)
            cg.load_source(self.source)
            cg.emit("STORE_ATTR", attr)
        in_graph = [h for h in self.hooks if h.k is not None and not h.removed]
        for handle in self.hooks:
            if not handle.removed and handle.k is None:
                cg.push_call_target(lambda h=handle: (cg.load_source(self.source), cg.load_attr(h.method)))
                cg.reconstruct(handle.hook)
                cg.call(1)
                cg.emit("POP_TOP")
        if in_graph:
            cg.push_call_target(lambda: (cg.load_local(BACKWARD_STATE), cg.load_attr("bind")))
            cg.load_const(in_graph[0].k)
            cg.begin_build(tuple)
            for handle in in_graph:
                cg.reconstruct(handle.hook)
            cg.build(tuple, len(in_graph))
            cg.call(2)
            cg.emit("POP_TOP")

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if name in BREAKING_METHODS:
            raise Unsupported(BREAKING_METHODS[name], f"Tensor.{name}() on {self.describe()}")
        impl = type(self)._methods.get(name)
        if impl is not None:
            return impl(self, tx, *args, **kwargs)
        return tx.graph.call_method(name, [self, *args], kwargs)

    def truth(self, tx: Tx) -> bool:
        raise Unsupported(breaks.DATA_DEPENDENT_BRANCH, f"bool() of {self.describe()}")

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        if self.fake.dim() == 0:
            raise UserCodeError(TypeError("iteration over a 0-d tensor"))
        return [self.getitem(tx, tx.wrap_const(i)) for i in range(int(self.fake.shape[0]))]   # specializes

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        if key.is_symbolic and key.python_type() is int and self.fake.dim() > 0:
            # x[n] would specialize n through __index__; torch.select keeps it symbolic (as torch.compile)
            try:
                return tx.graph.call_function(torch.select, [self, tx.wrap_const(0), key], {})
            except UserCodeError:
                pass       # out of range: the program's error is x[n]'s ("index 7 is out of bounds..."), not select's
        return tx.graph.call_function(operator.getitem, [self, key], {})

    @pymethod("__setitem__")
    def _setitem(self, tx: Tx, key: VariableTracker, value: VariableTracker) -> VariableTracker:
        return tx.graph.call_function(operator.setitem, [self, key, value], {})

    @pymethod("numpy")
    def _numpy(self, tx: Tx, force: VariableTracker | None = None) -> VariableTracker:
        """The ndarray sharing this tensor's memory: the same node, seen as numpy (variables/numpy.py)."""
        return tensor_numpy(tx, self, force)

    def reconstruct(self, cg: Any) -> None:
        """Inputs are re-read from their source; computed tensors come out of the graph."""
        if self.source is not None:
            self.source.reconstruct(cg)
        else:
            cg.load_graph_output(self)

    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        if self.fake.dim() == 0:
            raise UserCodeError(TypeError("len() of a 0-d tensor"))
        return self.call_method(tx, "size", [tx.wrap_const(0)], {})

    def describe(self) -> str:
        where = f" {self.source.name()}" if self.source is not None else ""
        return f"tensor{where} ({str(self.fake.dtype).replace('torch.', '')}{list(self.fake.shape)})"

    def __repr__(self) -> str:
        return f"TensorVariable({self.node.name})"



# Why a break at a hook's registration on an intermediate cannot resume: the graph before it used the tensor.
_USED_BEFORE = ("the tensor is used in the graph before the registration, and a hook registered on the graph's "
                "output would not see the gradient of those uses")


def root_instruction(tx: Tx) -> int | None:
    """The index of the compiled frame's instruction being run (a call, when ``tx`` is inlining)."""
    root = tx
    while getattr(root, "parent", None) is not None:
        root = root.parent
    current = getattr(root, "current", None)
    return getattr(current, "index", None)


class DeferredHookHandle(VariableTracker):
    """The handle of a hook registered in the trace (``TensorVariable._defer_hook``):
    ``remove()`` before the frame ends cancels the registration; the handle itself exists only
    once the registration runs, so keeping it past the frame (returning or storing it, or holding
    it across a graph break) is a graph break at the registration instead."""

    def __init__(self, tensor: TensorVariable, method: str, hook: VariableTracker, root_index: int | None,
                 k: int | None = None) -> None:
        super().__init__(None)
        self.tensor, self.method, self.hook = tensor, method, hook
        self.k = k                          # the hook point of a tensor the graph computes (None: an input)
        self.removed = False
        self.root_index = root_index        # the frame's instruction the registration happened under
        self.not_resumable: str | None = None   # why a break there would be wrong (Unsupported.not_resumable)

    def python_type(self) -> type:
        from torch.utils.hooks import RemovableHandle

        return RemovableHandle

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name == "remove":
            return BoundMethodVariable(self, name)
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f".{name} of {self.describe()}")

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if name == "remove" and not args and not kwargs:
            self.removed = True
            return tx.wrap_const(None)
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"RemovableHandle.{name}() of a hook registered in the trace")

    def reconstruct(self, cg: Any) -> None:
        # a break at the registration instead: retraced up to it, the call runs natively there
        e = Unsupported(breaks.UNSUPPORTED_CALL, f"{self.describe()} whose handle is kept past the graph "
                        "(returned, stored, or live at a graph break)")
        e.root_index, e.not_resumable = self.root_index, self.not_resumable
        raise e

    def describe(self) -> str:
        return f"a hook registered on {self.tensor.describe()} by Tensor.{self.method}()"


class HookHandleVariable(VariableTracker):
    """A ``RemovableHandle`` from outside the frame (builder rule "hook handle"): opaque, rebuilt
    from its source; any method call (``remove()``) is a graph break that runs it natively."""

    def python_type(self) -> type:
        from torch.utils.hooks import RemovableHandle

        return RemovableHandle

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"RemovableHandle.{name}() of a hook handle from outside the "
                          "compiled function (it changes the hooks of a tensor or module)")

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name == "remove":
            return BoundMethodVariable(self, name)
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f".{name} of a hook handle (RemovableHandle) from outside the "
                          "compiled function")

    def reconstruct(self, cg: Any) -> None:
        cg.load_source(self.source)

    def describe(self) -> str:
        return f"hook handle {self.source.name() if self.source is not None else ''}"
