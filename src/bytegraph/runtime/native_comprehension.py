"""The native half of a graph break inside a comprehension inlined into its function (3.12+,
PEP 709; ``codegen/comprehension.py`` finds it): the comprehension's own instructions re-emitted
into the transformed code, so it runs natively as a whole, as 3.11 runs its ``<listcomp>``
function (DESIGN.md decision 40). ``graph_break.emit_break`` places it where the native
instruction of any other break goes.
"""

from __future__ import annotations

from typing import Any

from bytecode import Label, TryBegin, TryEnd

from ..codegen.comprehension import Comprehension
from ..codegen.pycodegen import PyCodegen
from ..codegen.resume import CELL_PREFIX, relocated
from ..codegen.versions import DIALECT
from ..interpreter.translator import InstructionTranslator
from ..variables.base import VariableTracker


class FrameLocal:
    """A local the native code of a break assigned: read back from the transformed frame."""

    source = None
    identity_matters = False

    def __init__(self, name: str) -> None:
        self.name = name

    def reconstruct(self, cg: PyCodegen) -> None:
        cg.emit("LOAD_FAST", self.name)


class NativeComprehension:
    """A break inside a comprehension inlined into the frame (3.12+): its own instructions run
    natively in the transformed frame, from its iterator (on the stack) to the end of its
    tail, as 3.11 runs its ``<listcomp>`` function; the resume function continues after it.

    The frame's slots first take the locals it reads and saves, and its accesses to the frame's
    cells go to the cells the trace followed (``___cell_<name>``, as in resume code); the locals
    it assigns (its result, ``:=`` targets) are read back from the frame for the resume call.
    Inside the program's try/with, its instructions that the program's handler covers run under
    the transformed code's ``user`` handler, which resumes at the original handler."""

    def __init__(self, tx: InstructionTranslator, comp: Comprehension, base: int, user: TryBegin | None) -> None:
        self.tx, self.comp, self.user = tx, comp, user
        self.base = base            # how much deeper the original's stack is than the transformed code's
        self.labels: dict[int, Label] = {}
        self.slots: list[str] = []

    def fill_slots(self, cg: PyCodegen, locals_: dict[str, VariableTracker]) -> None:
        tx, comp = self.tx, self.comp
        self.slots = [name for name in (*comp.reads, *comp.names) if name in locals_]
        for name in self.slots:
            cg.reconstruct(locals_[name])
            cg.store_local(name)
        for name in comp.cells:
            cg.reconstruct(tx.cells[name] if name in tx.cells else tx.locals[f"{CELL_PREFIX}{name}"])
            cg.store_local(f"{CELL_PREFIX}{name}")

    def locals_after(self, locals_: dict[str, VariableTracker]) -> dict[str, Any]:
        return {**locals_, **{name: FrameLocal(name) for name in (*self.slots, *self.comp.stores)}}

    def emit_body(self, cg: PyCodegen) -> None:
        self._copy(cg, range(self.comp.start, self.comp.end))

    def emit_handlers(self, cg: PyCodegen) -> None:
        """Its own handler blocks (reached only through the exception table): after the resume call."""
        for first, last in self.comp.handlers:
            self._copy(cg, range(first, last + 1))

    def _begin(self, handler: Any) -> TryBegin | None:
        if handler is None:
            return None
        if self.user is not None and handler == self.tx.program.insts[self.comp.start].handler:
            return TryBegin(self.user.target, self.user.push_lasti, self.user.stack_depth)
        return TryBegin(self.labels.setdefault(handler.target, Label()), handler.push_lasti,
                        handler.stack_depth - self.base)

    def _copy(self, cg: PyCodegen, indices: range) -> None:
        """Re-emit the frame's own instructions, with their jumps and handlers."""
        insts = self.tx.program.insts
        begin, handler = None, None
        for i in indices:
            inst = insts[i]
            if inst.handler != handler:
                if begin is not None:
                    cg.instrs.append(TryEnd(begin))
                handler = inst.handler
                begin = self._begin(handler)
                if begin is not None:
                    cg.instrs.append(begin)
            cg.instrs.append(self.labels.setdefault(i, Label()))
            instr = inst.instr.copy()
            if inst.target is not None:
                instr.arg = self.labels.setdefault(inst.target - DIALECT.jump_skip(inst.opname), Label())
            cg.instrs.extend(relocated(instr, self.comp.cells))
        if begin is not None:
            cg.instrs.append(TryEnd(begin))
