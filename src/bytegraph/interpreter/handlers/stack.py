"""Stack manipulation and no-op instructions."""

from __future__ import annotations

from ...codegen.instructions import Inst
from ...variables.base import NULL
from ..registry import handles
from ..translator import InstructionTranslator as Tx


@handles("NOP", "RESUME", "PRECALL", "EXTENDED_ARG", "CACHE", "COPY_FREE_VARS")
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


@handles("KW_NAMES")
def kw_names(tx: Tx, inst: Inst) -> None:
    """( -- ): the keyword names of the next CALL"""
    tx.kw_names = tuple(inst.arg)
