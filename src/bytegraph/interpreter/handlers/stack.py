"""Stack manipulation and no-op instructions."""

from __future__ import annotations

from ...codegen.instructions import Inst
from ...variables.base import NULL
from ..registry import V311, V312, V313, handles, since, until
from ..translator import InstructionTranslator as Tx


@handles("PRECALL", versions=until(V311))
@handles("NOP", "RESUME", "EXTENDED_ARG", "CACHE", "COPY_FREE_VARS")
def nop(tx: Tx, inst: Inst) -> None:
    """( -- ): PRECALL's work happens in CALL; COPY_FREE_VARS' cells are set up when the frame is made."""


@handles("POP_TOP")
def pop_top(tx: Tx, inst: Inst) -> None:
    """(value -- )"""
    tx.pop()


@handles("PUSH_NULL")
def push_null(tx: Tx, inst: Inst) -> None:
    """( -- NULL)"""
    tx.stack.append(NULL)


@handles("COPY")
def copy(tx: Tx, inst: Inst) -> None:
    """(item, ... -- item, ..., item): push the i-th item from the top"""
    tx.stack.append(tx.stack[-inst.arg])


@handles("SWAP")
def swap(tx: Tx, inst: Inst) -> None:
    """(a, ..., b -- b, ..., a)"""
    tx.stack[-1], tx.stack[-inst.arg] = tx.stack[-inst.arg], tx.stack[-1]


@handles("KW_NAMES", versions=until(V312))
def kw_names(tx: Tx, inst: Inst) -> None:
    """( -- ): the keyword names of the next CALL"""
    tx.kw_names = tuple(inst.arg)


@handles("END_FOR", versions=(V312,))
def end_for(tx: Tx, inst: Inst) -> None:
    """(iterator, item -- ): an exhausted FOR_ITER jumps past it (its Inst.target), so it runs
    only if reached in sequence"""
    tx.popn(2)


@handles("END_FOR", versions=since(V313))
def end_for_313(tx: Tx, inst: Inst) -> None:
    """(item -- ): 3.13 splits 3.12's END_FOR into END_FOR, POP_TOP"""
    tx.pop()


@handles("TO_BOOL", versions=since(V313))
def to_bool(tx: Tx, inst: Inst) -> None:
    """(value -- value as bool): left as the value itself; what consumes it (a conditional jump,
    UNARY_NOT) decides its truth, as on 3.11, where a value with no truth at trace time (a
    tensor) breaks, and the break emits TO_BOOL again before the native jump"""
