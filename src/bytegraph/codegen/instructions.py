"""Read a code object into the interpreter's instruction list (the adapter over ``bytecode``).

``load_program(code)`` returns ``Inst`` records: opcode name, a symbolic argument (names
for locals/cells/globals/attributes, constants, ``BinaryOp``/``Compare`` enums, the
``(push_null, name)`` pair of LOAD_GLOBAL), the jump target as an index into the list
(where execution continues: past the END_FOR an exhausted FOR_ITER skips from 3.12),
the source line, and the innermost exception handler covering the instruction. Labels
and TryBegin/TryEnd pseudo-instructions are resolved away. Instructions keep the
original ``bytecode.Instr`` so later codegen can re-emit them unchanged.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import bytecode
from bytecode import CellVar, FreeVar, Label, TryBegin, TryEnd

from .versions import DIALECT


@dataclasses.dataclass(frozen=True, slots=True)
class ExceptHandler:
    target: int           # index of the handler's first instruction
    push_lasti: bool
    stack_depth: int


@dataclasses.dataclass(frozen=True, slots=True)
class Inst:
    index: int
    opname: str
    arg: Any
    target: int | None
    lineno: int | None
    handler: ExceptHandler | None
    instr: Any = dataclasses.field(repr=False, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Program:
    insts: tuple[Inst, ...]
    prologue: tuple[Any, ...]      # MAKE_CELL / COPY_FREE_VARS / RESUME: re-emitted by codegen


def _arg(instr: Any) -> Any:
    arg = instr.arg
    if isinstance(arg, (CellVar, FreeVar)):
        return arg.name
    return arg


_PROLOGUE_OPS = frozenset({"MAKE_CELL", "COPY_FREE_VARS", "RESUME", "NOP"})


def load_program(code: types.CodeType) -> Program:
    bc = bytecode.Bytecode.from_code(code, conserve_exception_block_stackdepth=True)   # exact handler depths
    plain: list[Any] = []
    label_at: dict[Label, int] = {}
    try_at: list[TryBegin | None] = []
    current: TryBegin | None = None
    for item in bc:
        if isinstance(item, Label):
            label_at[item] = len(plain)
        elif isinstance(item, TryBegin):
            current = item
        elif isinstance(item, TryEnd):
            current = None
        else:
            plain.append(item)
            try_at.append(current)
    prologue = []
    for instr in plain:
        if instr.name not in _PROLOGUE_OPS:
            break
        prologue.append(instr)
        if instr.name == "RESUME":
            break
    insts = []
    for i, instr in enumerate(plain):
        target = label_at[instr.arg] + DIALECT.jump_skip(instr.name) if isinstance(instr.arg, Label) else None
        tb = try_at[i]
        handler = ExceptHandler(label_at[tb.target], tb.push_lasti, tb.stack_depth) if tb is not None else None
        lineno = instr.location.lineno if instr.location is not None else None
        insts.append(Inst(i, instr.name, _arg(instr), target, lineno, handler, instr))
    return Program(tuple(insts), tuple(prologue))
