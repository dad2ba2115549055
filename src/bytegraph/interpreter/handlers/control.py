"""Jumps, branches, loops, return and raise."""

from __future__ import annotations

from ...codegen.instructions import Inst
from ...diagnostics import breaks
from ...diagnostics.errors import Unsupported, UserCodeError
from ...variables.builtins import BuiltinVariable
from ...variables.lists import IteratorVariable
from ...variables.user_defined import UserDefinedClassVariable, UserDefinedObjectVariable
from ..registry import handles
from ..translator import InstructionTranslator as Tx


@handles("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")
def jump(tx: Tx, inst: Inst) -> None:
    """( -- )"""
    tx.jump(inst)


@handles("POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_TRUE")
def pop_jump_if_true(tx: Tx, inst: Inst) -> None:
    """(cond -- )"""
    if tx.pop().truth(tx):
        tx.jump(inst)


@handles("POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_BACKWARD_IF_FALSE")
def pop_jump_if_false(tx: Tx, inst: Inst) -> None:
    """(cond -- )"""
    if not tx.pop().truth(tx):
        tx.jump(inst)


def _is_none(vt) -> bool:
    return vt.is_constant() and vt.as_constant() is None


@handles("POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_BACKWARD_IF_NONE")
def pop_jump_if_none(tx: Tx, inst: Inst) -> None:
    """(value -- )"""
    if _is_none(tx.pop()):
        tx.jump(inst)


@handles("POP_JUMP_FORWARD_IF_NOT_NONE", "POP_JUMP_BACKWARD_IF_NOT_NONE")
def pop_jump_if_not_none(tx: Tx, inst: Inst) -> None:
    """(value -- )"""
    if not _is_none(tx.pop()):
        tx.jump(inst)


@handles("JUMP_IF_TRUE_OR_POP")
def jump_if_true_or_pop(tx: Tx, inst: Inst) -> None:
    """(cond -- cond) when jumping, (cond -- ) otherwise"""
    if tx.stack[-1].truth(tx):
        tx.jump(inst)
    else:
        tx.pop()


@handles("JUMP_IF_FALSE_OR_POP")
def jump_if_false_or_pop(tx: Tx, inst: Inst) -> None:
    """(cond -- cond) when jumping, (cond -- ) otherwise"""
    if not tx.stack[-1].truth(tx):
        tx.jump(inst)
    else:
        tx.pop()


@handles("GET_ITER")
def get_iter(tx: Tx, inst: Inst) -> None:
    """(iterable -- iterator)"""
    tx.push(BuiltinVariable(iter).call_function(tx, [tx.pop()], {}))


@handles("FOR_ITER")
def for_iter(tx: Tx, inst: Inst) -> None:
    """(iterator -- iterator, item), or (iterator -- ) and jump when exhausted"""
    it = tx.stack[-1]
    if not isinstance(it, IteratorVariable):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"iterating {it.describe()}")
    item = it.next_item()
    if item is None:
        tx.pop()
        tx.jump(inst)
    else:
        tx.push(item)


@handles("RETURN_VALUE")
def return_value(tx: Tx, inst: Inst) -> None:
    """(value -- )"""
    tx.return_value = tx.pop()


@handles("RAISE_VARARGS")
def raise_varargs(tx: Tx, inst: Inst) -> None:
    """(exc[, cause] -- ): the program raises; capture stops and the exception reaches the user"""
    if inst.arg == 0:
        raise Unsupported(breaks.EXCEPTION_HANDLING, "bare `raise` (re-raise)")
    if inst.arg == 2:
        tx.pop()
    exc = tx.pop()
    if isinstance(exc, (BuiltinVariable, UserDefinedClassVariable)):
        exc = exc.call_function(tx, [], {})
    value = getattr(exc, "value", None)
    if isinstance(exc, UserDefinedObjectVariable) and isinstance(value, BaseException):
        raise UserCodeError(value)
    raise UserCodeError(TypeError("exceptions must derive from BaseException"))


@handles("RETURN_GENERATOR")
def return_generator(tx: Tx, inst: Inst) -> None:
    """( -- None): the start of a generator's code; the generator runs to completion right away"""
    tx.push(tx.wrap_const(None))


@handles("YIELD_VALUE")
def yield_value(tx: Tx, inst: Inst) -> None:
    """(value -- None): the value becomes the next item; ``send()`` is not modelled, so None comes back"""
    tx.yielded.append(tx.pop())
    tx.push(tx.wrap_const(None))


@handles("GET_YIELD_FROM_ITER")
def get_yield_from_iter(tx: Tx, inst: Inst) -> None:
    """(iterable -- iterator)"""
    tx.push(BuiltinVariable(iter).call_function(tx, [tx.pop()], {}))


@handles("SEND")
def send(tx: Tx, inst: Inst) -> None:
    """(iterator, sent -- iterator, item), or (iterator, sent -- None) and jump when exhausted (``yield from``)"""
    tx.pop()
    it = tx.stack[-1]
    if not isinstance(it, IteratorVariable):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"yield from {it.describe()}")
    item = it.next_item()
    if item is None:
        tx.pop()
        tx.push(tx.wrap_const(None))
        tx.jump(inst)
    else:
        tx.push(item)
