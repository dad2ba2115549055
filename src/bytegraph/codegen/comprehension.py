"""Inlined comprehensions (3.12+, PEP 709): where one starts and ends in its function's code,
so that a graph break inside it can run the whole comprehension natively, as 3.11 runs its
``<listcomp>`` function (DESIGN.md decision 20).

On 3.11 a comprehension is a function of its own; from 3.12 its code is part of the frame:

    <iterable>, GET_ITER                       # the frame's code: evaluated before
    LOAD_FAST_AND_CLEAR v ..., [MAKE_CELL v]   # start: save the slots of its variables (V)
    SWAP n+1, BUILD_LIST 0, SWAP 2             #   (BUILD_MAP / BUILD_SET for the others)
    FOR_ITER exit ... JUMP_BACKWARD            #   the loop, under a handler that restores V
    exit: END_FOR [POP_TOP]                    #   and re-raises
    SWAP 2, STORE_FAST v ... [STORE_FAST y]    # the tail: V restored (and the result stored),
    <end>                                      #   maybe after a JUMP_FORWARD over its handler block

``inlined_comprehension(program, index)`` returns the outermost comprehension around
instruction ``index`` that can run as one native block (ending in a plain tail). The block
is its instructions ``start..end`` plus the handler blocks they use, each ending in RERAISE
(the handler of a try/with of the program around it, ``handler`` of its start, is not one).
Instruction indices are the program's (``instructions.Inst.index``).
"""

from __future__ import annotations

import dataclasses
import types

from .instructions import ExceptHandler, Inst, Program

_STARTS = ("BUILD_LIST", "BUILD_MAP", "BUILD_SET")
_TAIL = {"SWAP": 0, "STORE_FAST": -1, "STORE_FAST_STORE_FAST": -2, "POP_TOP": -1, "NOP": 0}
_NEVER_NATIVE = frozenset({"YIELD_VALUE", "RETURN_VALUE", "RETURN_CONST"})
_SLOT_OPS = ("LOAD_FAST", "STORE_FAST", "LOAD_DEREF", "STORE_DEREF", "DELETE_DEREF", "LOAD_CLOSURE", "MAKE_CELL")


@dataclasses.dataclass(frozen=True, slots=True)
class Comprehension:
    start: int                     # the first LOAD_FAST_AND_CLEAR (the iterator is on the stack)
    end: int                       # the first instruction after the tail
    names: tuple[str, ...]         # the variables it saves at the start and restores (nested ones too)
    handlers: tuple[tuple[int, int], ...]   # (first, last) of each handler block its code uses
    pushes: int                    # stack items it leaves in place of the iterator (0: the result was stored)
    stores: tuple[str, ...]        # the frame's locals it assigns: the result, `:=` targets
    walrus: tuple[str, ...]        # the `:=` targets (assigned inside the loop: maybe not, if it raises)
    reads: tuple[str, ...]         # the frame's locals it reads
    # cells of the frame it reads, writes or captures, its own variables' aside (it saves, makes
    # afresh and restores those): the native code gets the cells the trace followed, as
    # arguments ``___cell_<name>`` of its accesses (``resume.cell_access``), not the frame's own
    cells: tuple[str, ...] = ()

    def indices(self) -> list[int]:
        """Its instructions in emission order: the comprehension, then its handler blocks."""
        return [*range(self.start, self.end), *(i for a, b in self.handlers for i in range(a, b + 1))]


def inlined_comprehension(program: Program, code: types.CodeType, index: int) -> Comprehension | None:
    """The outermost inlined comprehension containing instruction ``index`` that can run natively."""
    insts = program.insts
    best = None
    for start in range(index, -1, -1):
        op = insts[start].opname
        if op == "LOAD_FAST_AND_CLEAR" and (start == 0 or insts[start - 1].opname != op):
            found = _comprehension_at(insts, code, start)
            if found is not None and found.start <= index < found.end:
                best = found
    return best


def _comprehension_at(insts: tuple[Inst, ...], code: types.CodeType, start: int) -> Comprehension | None:
    names = []
    i = start
    while insts[i].opname == "LOAD_FAST_AND_CLEAR":
        names.append(insts[i].arg)
        i += 1
    while insts[i].opname == "MAKE_CELL" and insts[i].arg in names:     # a variable its closures capture
        i += 1
    if insts[i].opname != "SWAP" or insts[i + 1].opname not in _STARTS:
        return None
    loop = next((x for x in insts[i + 2:] if x.opname == "FOR_ITER"), None)
    if loop is None:
        return None
    depth = len(names) + 1          # above the iterator's slot at the loop's exit: the saved slots, the result
    restored: set[str] = set()
    stores: list[str] = []
    j = loop.target
    while not restored >= set(names):
        if j < len(insts) and insts[j].opname == "JUMP_FORWARD":      # over a handler block placed inline
            j = insts[j].target
            continue
        if j >= len(insts) or insts[j].opname not in _TAIL:
            return None
        inst = insts[j]
        for name in _names(inst) if inst.opname.startswith("STORE_FAST") else ():
            (restored.add if name in names and name not in restored else stores.append)(name)
        depth += _TAIL[inst.opname]
        j += 1
    end = j
    if any(x.target is not None and not start <= x.target <= end for x in insts[start:end]):
        return None
    handlers = _handler_blocks(insts, start, end, insts[start].handler)
    if handlers is None:
        return None
    body = [insts[k] for k in range(start, end)] + [insts[k] for a, b in handlers for k in range(a, b + 1)]
    saved = {n for x in body if x.opname == "LOAD_FAST_AND_CLEAR" for n in _names(x)}
    if any(x.opname in _NEVER_NATIVE for x in body):
        return None
    cells = sorted({n for x in body if x.opname.startswith(_SLOT_OPS) for n in _names(x)
                    if n in code.co_cellvars and n not in saved})
    walrus = [n for x in insts[loop.index:loop.target] if x.opname.startswith("STORE_FAST")
              for n in _names(x) if n not in saved]
    if walrus and insts[start].handler is not None:
        return None                 # an error inside would leave them assigned or not: unknown to the resume
    reads = sorted({n for x in body if x.opname.startswith("LOAD_FAST") for n in _names(x)} - saved)
    return Comprehension(start, end, tuple(sorted(saved)), handlers, depth, tuple(dict.fromkeys(stores + walrus)),
                         tuple(dict.fromkeys(walrus)), tuple(n for n in reads if n not in cells), tuple(cells))


def _names(inst: Inst) -> tuple[str, ...]:
    return tuple(inst.arg) if isinstance(inst.arg, tuple) else (inst.arg,)


def _handler_blocks(insts: tuple[Inst, ...], start: int, end: int,
                   outer: ExceptHandler | None) -> tuple[tuple[int, int], ...] | None:
    """The handler blocks the comprehension's instructions use (and theirs use), each from its
    target to its RERAISE, the program's own ``outer`` one aside; None if one does not end so."""
    blocks: dict[int, int] = {}
    todo = list(range(start, end))
    while todo:
        h = insts[todo.pop()].handler
        if h is None or h == outer or start <= h.target < end or h.target in blocks:
            continue
        last = next((m for m in range(h.target, len(insts)) if insts[m].opname == "RERAISE"), None)
        if last is None or any(insts[m].target is not None for m in range(h.target, last + 1)):
            return None
        blocks[h.target] = last
        todo += range(h.target, last + 1)
    return tuple(sorted(blocks.items()))
