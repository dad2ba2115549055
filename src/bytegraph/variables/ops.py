"""Python operators on trackers: binary, comparison, unary, identity, membership, subscript.

One rule list for every operator, read top to bottom:

1. a tensor operand -> a graph node (``operator.add`` etc. on the fake values), a graph float
   (variables/floats.py) taking part only beside a tensor;
2. all operands constant -> folded at trace time with the real operator;
3. the left operand's ``binary_op`` (list + list, dict | dict, user ``__add__``...);
4. the right operand's reflected ``binary_op``;
5. otherwise a graph break naming both operands.

In-place operators (``+=``) first try the left operand's in-place form (``list.__iadd__``)
and fall back to the plain operator, as CPython does.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from .base import Tx, VariableTracker, fold
from .constant import ConstantVariable

BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow, "matmul": operator.matmul,
    "and": operator.and_, "or": operator.or_, "xor": operator.xor, "lshift": operator.lshift,
    "rshift": operator.rshift,
    "lt": operator.lt, "le": operator.le, "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
}
INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "iadd": operator.iadd, "isub": operator.isub, "imul": operator.imul, "itruediv": operator.itruediv,
    "ifloordiv": operator.ifloordiv, "imod": operator.imod, "ipow": operator.ipow, "imatmul": operator.imatmul,
    "iand": operator.iand, "ior": operator.ior, "ixor": operator.ixor, "ilshift": operator.ilshift,
    "irshift": operator.irshift,
}
UNARY: dict[str, Callable[[Any], Any]] = {"neg": operator.neg, "pos": operator.pos, "invert": operator.invert,
                                         "abs": operator.abs}
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
          "matmul": "@", "and": "&", "or": "|", "xor": "^", "lshift": "<<", "rshift": ">>",
          "lt": "<", "le": "<=", "eq": "==", "ne": "!=", "gt": ">", "ge": ">="}


def _in_graph(*vts: VariableTracker) -> bool:
    return any(vt.is_tensor or vt.is_symbolic for vt in vts)


def binary(tx: Tx, op: str, a: VariableTracker, b: VariableTracker) -> VariableTracker:
    if op in INPLACE:
        if a.is_tensor:             # only a tensor on the left is updated in place (0 += t is 0 + t)
            return tx.graph.call_function(INPLACE[op], [a, b], {})
        result = a.binary_op(tx, op, b, False)
        if result is not NotImplemented:
            return result
        op = op[1:]
    tensor = a.is_tensor or b.is_tensor
    if _in_graph(a, b) and _graph_operand(a, tensor) and _graph_operand(b, tensor):
        return tx.graph.call_function(BINARY[op], [a, b], {})
    if a.is_constant() and b.is_constant():
        return fold(tx, BINARY[op], a.as_constant(), b.as_constant())
    result = a.binary_op(tx, op, b, False)
    if result is NotImplemented:
        result = b.binary_op(tx, op, a, True)
    if result is not NotImplemented:
        return result
    if op in ("eq", "ne") and _compares_by_identity(a) and _compares_by_identity(b):     # object.__eq__
        return tx.wrap_const(is_(tx, a, b) == (op == "eq"))
    raise Unsupported(breaks.UNSUPPORTED_VALUE, f"{a.describe()} {SYMBOL.get(op, op)} {b.describe()}")


def _compares_by_identity(vt: VariableTracker) -> bool:
    """Does ``==`` on this value fall back to identity in CPython (its type keeps object.__eq__)?
    Where no tracker modelled a comparison, identity is eager's answer only then; for anything
    else (a torch.Size against a tuple, a bound method) it would be a guess, so it is a break."""
    try:
        return vt.python_type().__eq__ is object.__eq__
    except Exception:   # noqa: BLE001 - a tracker that cannot name its type: not known to compare by identity
        return False


def compare(tx: Tx, op: str, a: VariableTracker, b: VariableTracker) -> VariableTracker:
    return binary(tx, op, a, b)


def _graph_operand(vt: VariableTracker, beside_tensor: bool) -> bool:
    """Tensors, symbolic numbers and constants can meet in a graph op; a list cannot. A float the
    graph carries as a tensor (variables/floats.py) meets a tensor there; with anything else it
    follows Python's float semantics (its ``binary_op``)."""
    return vt.is_tensor or vt.is_symbolic or vt.is_constant() or beside_tensor and vt.is_graph_float


def unary(tx: Tx, op: str, a: VariableTracker) -> VariableTracker:
    if _in_graph(a):
        return tx.graph.call_function(UNARY[op], [a], {})
    if a.is_constant():
        return fold(tx, UNARY[op], a.as_constant())
    return a.call_method(tx, f"__{op}__", [], {})


def is_(tx: Tx, a: VariableTracker, b: VariableTracker) -> bool:
    """``a is b``. One object is one tracker (the builder's identity map), so two different
    non-constant trackers are two different objects."""
    if a is b:
        return True
    if a.is_constant() and b.is_constant():
        return a.as_constant() is b.as_constant()
    tx.capture.assume_distinct(a, b)
    return False


def contains(tx: Tx, item: VariableTracker, container: VariableTracker) -> bool:
    """``item in container``. Folded only for a container made in the frame or a literal (already
    guarded by value): asking a container from a source ``is_constant()`` would guard all of it
    (a dict's whole key set and every value), where its ``__contains__`` guards what the test
    needs (DictVariable: that one key's presence)."""
    if container.is_tensor:
        raise Unsupported(breaks.DATA_DEPENDENT_OP, f"`in` on {container.describe()}")
    if (container.source is None or isinstance(container, ConstantVariable)) \
            and container.is_constant() and item.is_constant():
        return fold(tx, operator.contains, container.as_constant(), item.as_constant()).as_constant()
    return container.call_method(tx, "__contains__", [item], {}).truth(tx)


def truth(tx: Tx, vt: VariableTracker) -> bool:
    return vt.truth(tx)
