"""TensorVariable: a tensor in the graph, known by its fx node and its fake value.

Metadata (shape, dtype, device, ndim, requires_grad...) is read from the fake tensor and
is a trace-time constant (the input's TENSOR_MATCH guard makes that sound). Every other
method and operator becomes a graph node through ``tx.graph``. Anything that needs the
data itself (``bool(x)``, ``x.item()`` feeding Python) is a graph break.
"""

from __future__ import annotations

import operator
from typing import Any

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..sources import InstanceAttrSource
from .base import BoundMethodVariable, Tx, VariableTracker, pymethod
from .numpy import tensor_numpy

# Attributes read from the fake tensor as constants.
META_ATTRS = frozenset({
    "shape", "dtype", "device", "ndim", "requires_grad", "is_leaf", "layout", "is_cuda", "is_cpu",
    "is_sparse", "is_quantized", "is_meta", "is_nested", "is_mkldnn", "is_complex_dtype", "itemsize", "nbytes",
})
# Attributes that are tensors computed from the tensor: graph nodes (getattr).
GRAPH_ATTRS = frozenset({"T", "mT", "H", "mH", "real", "imag"})
# Methods that need the data, or act outside the program: a graph break with its catalog kind.
BREAKING_METHODS: dict[str, breaks.BreakKind] = {
    "item": breaks.DATA_DEPENDENT_OP, "tolist": breaks.DATA_DEPENDENT_OP,
    "__bool__": breaks.DATA_DEPENDENT_BRANCH, "__int__": breaks.DATA_DEPENDENT_OP,
    "__float__": breaks.DATA_DEPENDENT_OP, "__index__": breaks.DATA_DEPENDENT_OP,
    "backward": breaks.UNSUPPORTED_CALL, "register_hook": breaks.UNSUPPORTED_CALL,
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

    def python_type(self) -> type:
        return self.py_type

    def as_graph_arg(self) -> tuple[Any, Any]:
        return self.node, self.fake

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name == "shape":
            return self.call_method(tx, "size", [], {})    # a constant, or symbolic sizes from the graph
        if name in META_ATTRS:
            return tx.wrap_const(getattr(self.fake, name))
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
            return tx.graph.call_function(torch.select, [self, tx.wrap_const(0), key], {})
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

