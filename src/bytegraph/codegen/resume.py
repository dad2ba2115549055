"""Resume functions: the rest of a frame after a graph break, as a function of its own.

``make_resume_code(orig, target, nstack, local_names)`` builds a code object that takes the
live stack values and locals as arguments, pushes the stack back, and jumps to instruction
``target`` of the *original* code, whose instructions follow unchanged (so every jump and
exception-table entry keeps its meaning):

    def <name>_resume_at_<target>(___stack0, ..., local_a, local_b):
        COPY_FREE_VARS, RESUME 0
        LOAD_FAST ___stack0 ...           # the stack as it was after the break
        JUMP_FORWARD <target>
        <every instruction of the original code>

A break inside a resume function is mapped back to the original code (``origin``), so
resume functions are always built from the original and never nest.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import weakref

import bytecode
from bytecode import Instr, Label

STACK_PREFIX = "___stack"


@dataclasses.dataclass(frozen=True)
class ResumeOrigin:
    code: types.CodeType          # the original (user) code object
    prefix: int                   # instructions before the original's first one


_ORIGINS: "weakref.WeakKeyDictionary[types.CodeType, ResumeOrigin]" = weakref.WeakKeyDictionary()


def origin_of(code: types.CodeType) -> ResumeOrigin:
    """Where a code object's instructions come from: itself, or the original of a resume code."""
    return _ORIGINS.get(code) or ResumeOrigin(code, 0)


def make_resume_code(orig: types.CodeType, target: int, nulls: tuple[bool, ...], nouts: int,
                     local_names: tuple[str, ...]) -> types.CodeType:
    """``nulls`` describes the stack below the break's outputs (True: a NULL, pushed by the
    prefix itself; False: an argument); ``nouts`` values the broken instruction produced follow."""
    bc = bytecode.Bytecode.from_code(orig, conserve_exception_block_stackdepth=True)
    body = list(bc)
    real = [i for i, item in enumerate(body) if isinstance(item, Instr)]
    label = Label()
    body.insert(real[target], label)
    lineno = orig.co_firstlineno
    prefix: list = []
    if orig.co_freevars:
        prefix.append(Instr("COPY_FREE_VARS", len(orig.co_freevars), lineno=lineno))
    prefix.append(Instr("RESUME", 0, lineno=lineno))
    nstack = 0
    for is_null in (*nulls, *([False] * nouts)):
        if is_null:
            prefix.append(Instr("PUSH_NULL", lineno=lineno))
        else:
            prefix.append(Instr("LOAD_FAST", f"{STACK_PREFIX}{nstack}", lineno=lineno))
            nstack += 1
    prefix.append(Instr("JUMP_FORWARD", label, lineno=lineno))
    new = bytecode.Bytecode(prefix + body)
    new.argnames = [f"{STACK_PREFIX}{i}" for i in range(nstack)] + list(local_names)
    new.argcount = len(new.argnames)
    new.posonlyargcount = 0
    new.kwonlyargcount = 0
    new.flags = orig.co_flags & ~(inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
    new.name = f"{orig.co_name}_resume_at_{target}"
    new.qualname = f"{orig.co_qualname}_resume_at_{target}"
    new.filename = orig.co_filename
    new.first_lineno = orig.co_firstlineno
    new.freevars = list(orig.co_freevars)
    new.cellvars = list(orig.co_cellvars)
    code = new.to_code(compute_exception_stack_depths=False)
    _ORIGINS[code] = ResumeOrigin(orig, len(prefix))
    return code


def make_resume_function(fn: types.FunctionType, code: types.CodeType) -> types.FunctionType:
    return types.FunctionType(code, fn.__globals__, code.co_name, None, fn.__closure__)


__all__ = ["ResumeOrigin", "STACK_PREFIX", "make_resume_code", "make_resume_function", "origin_of"]
