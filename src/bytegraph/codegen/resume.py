"""Resume functions: the rest of a frame after a graph break, as a function of its own.

``make_resume_code(orig, target, nstack, local_names)`` builds a code object that takes the
live stack values and locals as arguments, pushes the stack back, and jumps to instruction
``target`` of the *original* code, whose instructions follow unchanged (so every jump and
exception-table entry keeps its meaning):

    def <name>_resume_at_<target>(___stack0, ..., ___cell_k, ..., local_a, local_b):
        COPY_FREE_VARS, RESUME 0
        LOAD_FAST ___stack0 ...           # the stack as it was after the break
        JUMP_FORWARD <target>
        <every instruction of the original code>

A break inside a resume function is mapped back to the original code (``origin``), so
resume functions are always built from the original and never nest.

Cells: the original frame's cells (variables its inner functions capture) are passed as the
cell objects themselves (``___cell_<name>``), so the closures made before the break and the
code after it share them, as in the original frame. The resume code reads and writes them
through ``cell_contents`` (``LOAD_DEREF k`` becomes ``load_cell(___cell_k, "k")``,
``STORE_DEREF k`` ``___cell_k.cell_contents = ...``). The locals are numbered anew (stack
values, cells, then the live locals), so a 3.13 pair of local accesses, which packs two local
numbers in 4 bits, becomes its two single instructions (``relocated``).
``ResumeOrigin.index_map`` maps its instructions back to the original's.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import weakref
from typing import Any

import bytecode
from bytecode import Instr, Label

from .pycodegen import PyCodegen
from .versions import DIALECT

STACK_PREFIX = "___stack"


CELL_PREFIX = "___cell_"
EXC_ARG = "___exc"


@dataclasses.dataclass(frozen=True)
class ResumeOrigin:
    code: types.CodeType          # the original (user) code object
    # for each instruction of the resume code, the original instruction it stands for (None:
    # the resume prefix, or a later instruction of a split pair or rewritten cell access); None: itself
    index_map: tuple[int | None, ...] | None = None

    def original(self, index: int) -> int | None:
        return index if self.index_map is None else self.index_map[index]


_ORIGINS: "weakref.WeakKeyDictionary[types.CodeType, ResumeOrigin]" = weakref.WeakKeyDictionary()


def origin_of(code: types.CodeType) -> ResumeOrigin:
    """Where a code object's instructions come from: itself, or the original of a resume code."""
    return _ORIGINS.get(code) or ResumeOrigin(code)


def load_cell(cell: Any, name: str) -> Any:
    """``LOAD_DEREF name`` in a resume function: an empty cell is CPython's UnboundLocalError."""
    try:
        return cell.cell_contents
    except ValueError:
        raise UnboundLocalError(f"cannot access local variable '{name}' where it is not associated with a "
                                f"value") from None


def delete_cell(cell: Any, name: str) -> None:
    """``DELETE_DEREF name`` in a resume function."""
    load_cell(cell, name)
    del cell.cell_contents


def new_cell() -> Any:
    """``MAKE_CELL name`` in a resume function: a fresh empty cell (a comprehension inlined
    from 3.12 makes one for its variable after clearing the slot)."""
    return types.CellType()


def cell_access(instr: Instr, cellvars: tuple[str, ...]) -> list[Instr] | None:
    """The instructions that stand for an access to a cell variable of the original code in a
    resume function (where the cell is the argument ``___cell_<name>``); None if not one.

    Loads and stores of the cell's *value* (``LOAD_DEREF``...) go through ``cell_contents``;
    the instructions that move the cell *itself* (``LOAD_CLOSURE``; ``LOAD_FAST`` of a cell for
    a closure from 3.13; the save and restore of an inlined comprehension's slot from 3.12:
    ``LOAD_FAST_AND_CLEAR``/``STORE_FAST``) act on the argument."""
    arg = instr.arg
    name = arg.name if isinstance(arg, bytecode.CellVar) else arg if isinstance(arg, str) else None
    if name is None or name not in cellvars:
        return None
    cell = f"{CELL_PREFIX}{name}"
    loc = instr.location

    def call(helper: Any) -> list[Instr]:
        cg = PyCodegen(_EMPTY)
        cg.push_callable(helper)
        cg.emit("LOAD_FAST", cell)
        cg.load_const(name)
        cg.call(2)
        return cg.instrs

    def make() -> list[Instr]:
        cg = PyCodegen(_EMPTY)
        cg.push_callable(new_cell)
        cg.call(0)
        cg.store_local(cell)
        return cg.instrs

    on_cell = {op: (lambda op=op: [Instr(op, cell)]) for op in ("LOAD_FAST", "LOAD_FAST_AND_CLEAR", "STORE_FAST")}
    rewrite = {**on_cell,
               "LOAD_CLOSURE": lambda: [Instr("LOAD_FAST", cell)],
               "MAKE_CELL": make,
               "LOAD_DEREF": lambda: call(load_cell),
               "STORE_DEREF": lambda: [Instr("LOAD_FAST", cell), Instr("STORE_ATTR", "cell_contents")],
               "DELETE_DEREF": lambda: call(delete_cell) + [Instr("POP_TOP")]}
    if instr.name not in rewrite:
        return None
    out = rewrite[instr.name]()
    for new in out:
        new.location = loc
    return out


def relocated(instr: Instr, cellvars: tuple[str, ...]) -> list[Instr]:
    """The instructions that stand for ``instr`` of the original code in code whose locals are
    numbered differently (a resume function; a comprehension run natively): a pair of local
    accesses (3.13 ``LOAD_FAST_LOAD_FAST``...) as its two single instructions, whose argument
    holds any local number (the pair packs both in 4 bits: past local 15 it would read other
    locals), and each access to a cell variable as ``cell_access`` rewrites it."""
    singles = DIALECT.split_pair(instr) or [instr]
    return [new for single in singles for new in (cell_access(single, cellvars) or [single])]


def _no_code() -> None:
    pass


_EMPTY = _no_code.__code__      # PyCodegen's code object, for the helper calls above (no names of its own)


def make_resume_code(orig: types.CodeType, target: int, nulls: tuple[bool, ...], nouts: int,
                     local_names: tuple[str, ...], exc_slots: tuple[int, ...] = (),
                     reenter: tuple[int, ...] = (), generator: bool = False) -> types.CodeType:
    """``nulls`` describes the stack below the break's outputs (True: a NULL, pushed by the
    prefix itself; False: an argument); ``nouts`` values the broken instruction produced follow.

    ``exc_slots``: the target is inside that many nested ``except`` blocks, and each of these
    stack items is the exception a PUSH_EXC_INFO saved. For each, outermost first, the prefix
    makes the argument ``___exc<k>`` the frame's current exception again (``sys.exc_info()``)
    with PUSH_EXC_INFO, which saves the one before it (the caller's, then the outer block's) in
    that slot, as entering the handlers did in the original frame.

    ``reenter``: stack items that are a ``with`` block's ``__exit__`` in the original frame
    and arrive as the block's context manager (torch.autocast...): the prefix enters it with
    BEFORE_WITH, which leaves its ``__exit__`` in that slot.

    ``generator``: the code of a generator function (``orig``) that continues a generator
    from the state a trace left it in (``start_generator``): calling it makes a generator,
    and its first ``next()`` runs the prefix and jumps to ``target``."""
    bc = bytecode.Bytecode.from_code(orig, conserve_exception_block_stackdepth=True)
    label = Label()
    body: list = []
    index_map: list[int | None] = []
    n = 0
    for item in bc:
        if not isinstance(item, Instr):
            body.append(item)
            continue
        if n == target:
            body.append(label)
        rewritten = relocated(item, orig.co_cellvars)
        body.extend(rewritten)
        index_map += [n] + [None] * (len(rewritten) - 1)
        n += 1
    lineno = orig.co_firstlineno
    prefix: list = []
    if orig.co_freevars:
        prefix.append(Instr("COPY_FREE_VARS", len(orig.co_freevars), lineno=lineno))
    if generator:
        prefix += [Instr("RETURN_GENERATOR", lineno=lineno), Instr("POP_TOP", lineno=lineno)]
    prefix.append(Instr("RESUME", 0, lineno=lineno))
    nstack = 0
    for i, is_null in enumerate((*nulls, *([False] * nouts))):
        if i in exc_slots:
            prefix += [Instr("LOAD_FAST", f"{EXC_ARG}{exc_slots.index(i)}", lineno=lineno),
                       Instr("PUSH_EXC_INFO", lineno=lineno),
                       Instr("POP_TOP", lineno=lineno)]
        elif is_null:
            prefix.append(Instr("PUSH_NULL", lineno=lineno))
        else:
            prefix.append(Instr("LOAD_FAST", f"{STACK_PREFIX}{nstack}", lineno=lineno))
            nstack += 1
            if i in reenter:
                prefix += [Instr("BEFORE_WITH", lineno=lineno), Instr("POP_TOP", lineno=lineno)]
    prefix.append(Instr("JUMP_FORWARD", label, lineno=lineno))
    new = bytecode.Bytecode(prefix + body)
    new.argnames = [f"{STACK_PREFIX}{i}" for i in range(nstack)] + [f"{EXC_ARG}{k}" for k in range(len(exc_slots))] \
        + [f"{CELL_PREFIX}{c}" for c in orig.co_cellvars] + list(local_names)
    new.argcount = len(new.argnames)
    new.posonlyargcount = 0
    new.kwonlyargcount = 0
    new.flags = orig.co_flags & ~(inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
    # a generator keeps its name (gen.__name__ is the program's); a resume function says where it starts
    new.name = orig.co_name if generator else f"{orig.co_name}_resume_at_{target}"
    new.qualname = orig.co_qualname if generator else f"{orig.co_qualname}_resume_at_{target}"
    new.filename = orig.co_filename
    new.first_lineno = orig.co_firstlineno
    new.freevars = list(orig.co_freevars)
    new.cellvars = []
    # The stack size is the original's, not an analysis of the new code: the jump lands inside
    # the original's blocks, so a handler whose try block began before the target is never
    # reached from the new entry (its depth would not be counted, and the frame would overflow
    # when the handler runs). The prefix pushes the stack the original has at the target, and
    # it and the rewritten cell accesses (a helper call: NULL, helper, cell, name) need at
    # most four more items at once.
    code = new.to_code(stacksize=orig.co_stacksize + 4, compute_exception_stack_depths=False)
    _ORIGINS[code] = ResumeOrigin(orig, tuple([None] * len(prefix) + index_map))
    return code


class Continue(tuple):
    """``(resume_function, args)``: what the transformed code of a frame that broke returns
    instead of calling its resume function. The call was its last act (a tail call), so the
    cache entry makes it (``runtime/cache.trampoline``): a break inside a loop of any length
    runs in constant stack depth, as the original frame does."""

    __slots__ = ()


class GlobalsRef:
    """A globals dict as a code constant (hashable by identity: a code object's constants are
    hashed with it)."""

    __slots__ = ("globals",)

    def __init__(self, fn_globals: dict[str, Any]) -> None:
        self.globals = fn_globals


def start_generator(code: types.CodeType, fn_globals: GlobalsRef, closure: tuple[Any, ...], started: bool,
                    *args: Any) -> types.GeneratorType:
    """A real generator that continues where a traced one stood: ``code`` is a generator resume
    code (``make_resume_code(..., generator=True)``). A started one is advanced to the
    ``yield`` it was paused at (running only the prefix), so it is suspended there: a later
    ``next()``, ``send()`` or ``throw()`` acts at that ``yield``, inside its try blocks."""
    gen = types.FunctionType(code, fn_globals.globals, code.co_name, None, closure or None)(*args)
    if started:
        next(gen)
    return gen


def _nothing() -> Any:
    return
    yield       # unreachable: makes this a generator function


def exhausted_generator() -> types.GeneratorType:
    """A generator that has returned (a traced generator that ran to its end)."""
    gen = _nothing()
    next(gen, None)
    return gen


def make_resume_function(fn: types.FunctionType, code: types.CodeType) -> types.FunctionType:
    return types.FunctionType(code, fn.__globals__, code.co_name, None, fn.__closure__)


__all__ = ["CELL_PREFIX", "Continue", "EXC_ARG", "GlobalsRef", "ResumeOrigin", "STACK_PREFIX", "cell_access",
           "exhausted_generator", "make_resume_code", "make_resume_function", "new_cell", "origin_of",
           "relocated", "start_generator"]
