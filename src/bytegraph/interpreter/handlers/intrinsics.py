"""CALL_INTRINSIC_1 / CALL_INTRINSIC_2 (3.12+): small operations 3.11 had opcodes for
(UNARY_POSITIVE, LIST_TO_TUPLE), the StopIteration check at the end of a generator's body,
and the parts of syntax bytegraph does not trace, each with its reason.

The argument (``bytecode.Intrinsic1Op``/``Intrinsic2Op``) is looked up in a table: an
operation, or the reason it is a graph break.
"""

from __future__ import annotations

from typing import Callable

from bytecode import Intrinsic1Op, Intrinsic2Op

from ...codegen.instructions import Inst
from ...diagnostics import breaks
from ...diagnostics.errors import Unsupported
from ...variables import ops
from ...variables.base import VariableTracker
from ...variables.lists import TupleVariable
from ..registry import V312, handles, since
from ..translator import InstructionTranslator as Tx
from .control import exception_instance


def _stopiteration_error(tx: Tx, vt: VariableTracker) -> VariableTracker:
    """A generator's body raised StopIteration: CPython makes it a RuntimeError (PEP 479),
    chained to it (CPython: Objects/genobject.c _PyGen_SetStopIterationValue's caller,
    Python/intrinsics.c stopiteration_error)."""
    exc = exception_instance(tx, vt)
    if not isinstance(exc, StopIteration):
        return vt
    error = RuntimeError("generator raised StopIteration")
    error.__cause__ = exc
    return tx.wrap_const(error)


_UNARY: dict[Intrinsic1Op, Callable[[Tx, VariableTracker], VariableTracker]] = {
    Intrinsic1Op.INTRINSIC_UNARY_POSITIVE: lambda tx, vt: ops.unary(tx, "pos", vt),
    Intrinsic1Op.INTRINSIC_LIST_TO_TUPLE: lambda tx, vt: TupleVariable(vt.unpack(tx)),
    Intrinsic1Op.INTRINSIC_STOPITERATION_ERROR: _stopiteration_error,
}

_PEP695 = "type parameter syntax (PEP 695: `def f[T]`, `class C[T]`, `type X = ...`) is not traced"
_NOT_TRACED: dict[object, str] = {
    Intrinsic1Op.INTRINSIC_PRINT: "printing an expression at the interactive prompt",
    Intrinsic1Op.INTRINSIC_IMPORT_STAR: "`from module import *` runs only at module level",
    Intrinsic1Op.INTRINSIC_ASYNC_GEN_WRAP: "async generators are not traced",
    **dict.fromkeys([Intrinsic1Op.INTRINSIC_TYPEVAR, Intrinsic1Op.INTRINSIC_PARAMSPEC,
                     Intrinsic1Op.INTRINSIC_TYPEVARTUPLE, Intrinsic1Op.INTRINSIC_SUBSCRIPT_GENERIC,
                     Intrinsic1Op.INTRINSIC_TYPEALIAS, Intrinsic2Op.INTRINSIC_TYPEVAR_WITH_BOUND,
                     Intrinsic2Op.INTRINSIC_TYPEVAR_WITH_CONSTRAINTS,
                     Intrinsic2Op.INTRINSIC_SET_FUNCTION_TYPE_PARAMS], _PEP695),
    Intrinsic2Op.INTRINSIC_PREP_RERAISE_STAR: "exception groups (`except*`) are not traced yet",
}


def _not_traced(inst: Inst) -> Unsupported:
    reason = _NOT_TRACED.get(inst.arg, "an intrinsic bytegraph does not know")
    return Unsupported(breaks.UNSUPPORTED_OPCODE, f"{inst.opname} {getattr(inst.arg, 'name', inst.arg)}: {reason}")


@handles("CALL_INTRINSIC_1", versions=since(V312))
def call_intrinsic_1(tx: Tx, inst: Inst) -> None:
    """(value -- result)"""
    fn = _UNARY.get(inst.arg)
    if fn is None:
        raise _not_traced(inst)
    tx.push(fn(tx, tx.pop()))


@handles("CALL_INTRINSIC_2", versions=since(V312))
def call_intrinsic_2(tx: Tx, inst: Inst) -> None:
    """(value1, value2 -- result): every one of them is syntax bytegraph does not trace"""
    raise _not_traced(inst)
