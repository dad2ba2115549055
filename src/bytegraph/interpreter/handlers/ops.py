"""Operators: BINARY_OP, COMPARE_OP, IS_OP, CONTAINS_OP and the unary operators."""

from __future__ import annotations

from bytecode import BinaryOp, Compare

from ...codegen.instructions import Inst
from ...variables import ops
from ..registry import V311, handles, until
from ..translator import InstructionTranslator as Tx

_BINARY = {
    BinaryOp.ADD: "add", BinaryOp.AND: "and", BinaryOp.FLOOR_DIVIDE: "floordiv", BinaryOp.LSHIFT: "lshift",
    BinaryOp.MATRIX_MULTIPLY: "matmul", BinaryOp.MULTIPLY: "mul", BinaryOp.REMAINDER: "mod", BinaryOp.OR: "or",
    BinaryOp.POWER: "pow", BinaryOp.RSHIFT: "rshift", BinaryOp.SUBTRACT: "sub", BinaryOp.TRUE_DIVIDE: "truediv",
    BinaryOp.XOR: "xor",
}
_BINARY.update({getattr(BinaryOp, "INPLACE_" + op.name): "i" + name for op, name in list(_BINARY.items())})
_COMPARE = {Compare.LT: "lt", Compare.LE: "le", Compare.EQ: "eq", Compare.NE: "ne", Compare.GT: "gt", Compare.GE: "ge"}
# 3.13's "and convert to bool" forms: only a conditional jump or UNARY_NOT consumes them, and
# those decide the truth of the result themselves
_COMPARE.update({c: _COMPARE[Compare[c.name[:-len("_CAST")]]] for c in Compare if c.name.endswith("_CAST")})


@handles("BINARY_OP")
def binary_op(tx: Tx, inst: Inst) -> None:
    """(left, right -- left <op> right)"""
    right = tx.pop()
    tx.push(ops.binary(tx, _BINARY[inst.arg], tx.pop(), right))


@handles("COMPARE_OP")
def compare_op(tx: Tx, inst: Inst) -> None:
    """(left, right -- left <cmp> right); 3.13: as a bool when the argument says so"""
    right = tx.pop()
    tx.push(ops.compare(tx, _COMPARE[inst.arg], tx.pop(), right))


@handles("IS_OP")
def is_op(tx: Tx, inst: Inst) -> None:
    """(left, right -- left is right), inverted when the argument is 1"""
    right = tx.pop()
    tx.push(tx.wrap_const(ops.is_(tx, tx.pop(), right) != bool(inst.arg)))


@handles("CONTAINS_OP")
def contains_op(tx: Tx, inst: Inst) -> None:
    """(item, container -- item in container), inverted when the argument is 1"""
    container = tx.pop()
    tx.push(tx.wrap_const(ops.contains(tx, tx.pop(), container) != bool(inst.arg)))


@handles("UNARY_NEGATIVE")
def unary_negative(tx: Tx, inst: Inst) -> None:
    """(value -- -value)"""
    tx.push(ops.unary(tx, "neg", tx.pop()))


@handles("UNARY_POSITIVE", versions=until(V311))
def unary_positive(tx: Tx, inst: Inst) -> None:
    """(value -- +value)"""
    tx.push(ops.unary(tx, "pos", tx.pop()))


@handles("UNARY_INVERT")
def unary_invert(tx: Tx, inst: Inst) -> None:
    """(value -- ~value)"""
    tx.push(ops.unary(tx, "invert", tx.pop()))


@handles("UNARY_NOT")
def unary_not(tx: Tx, inst: Inst) -> None:
    """(value -- not value)"""
    tx.push(tx.wrap_const(not tx.pop().truth(tx)))
