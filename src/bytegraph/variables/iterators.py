"""GeneratorVariable: a generator made by calling a generator function in traced code.

It is lazy, as in CPython: the generator's frame (a suspended child translator) runs up
to its next ``yield`` each time an item is asked for, so its effects interleave with the
consumer's exactly as they would at run time. ``send(v)`` resumes it with ``v`` as the value of
the paused ``yield`` expression (``next()`` sends None); ``throw()`` is not modelled.
"""

from __future__ import annotations

import types
from typing import Any, Protocol

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from .base import Tx, VariableTracker, pymethod
from .lists import IteratorVariable


class SuspendedFrame(Protocol):
    """The part of a generator's translator the tracker drives."""

    return_value: VariableTracker | None
    started: bool

    def resume(self, sent: VariableTracker | None = None) -> VariableTracker | None: ...

    def reconstruct_generator(self, cg: Any) -> None: ...


class GeneratorVariable(IteratorVariable):
    identity_matters = True       # one generator object however often it is reached

    def __init__(self, frame: SuspendedFrame) -> None:
        super().__init__([], types.GeneratorType)
        self.frame: SuspendedFrame | None = frame
        self._origin = frame          # kept once exhausted: it rebuilds an exhausted generator

    def next_item(self, tx: Tx, sent: VariableTracker | None = None) -> VariableTracker | None:
        if self.frame is None:
            return None
        item = self.frame.resume(sent)
        if item is None:
            self.frame = None        # returned: exhausted for good
        return item

    def send_item(self, tx: Tx, value: VariableTracker) -> VariableTracker | None:
        """``gen.send(value)``'s step: the next item, or None once the generator has returned.
        CPython's TypeError for a value other than None sent to a generator not yet started."""
        sends_none = value.is_constant() and value.as_constant() is None
        if not sends_none and self.frame is not None and not self.frame.started:
            raise UserCodeError(TypeError("can't send non-None value to a just-started generator"))
        self.record_advance(tx)
        return self.next_item(tx, None if sends_none else value)

    @pymethod("send")
    def _send(self, tx: Tx, value: VariableTracker) -> VariableTracker:
        item = self.send_item(tx, value)
        if item is not None:
            return item
        returned = self.returned()
        if returned is not None and not returned.is_constant():
            raise Unsupported(breaks.GENERATOR, "send() to a generator that returns a value only known at run time")
        raise UserCodeError(StopIteration(*([] if returned is None or returned.as_constant() is None
                                             else [returned.as_constant()])))

    def returned(self) -> VariableTracker | None:
        """What the generator's code returned, once exhausted: the value of ``yield from`` it."""
        return self._origin.return_value if self.frame is None else None

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        items = []
        while (item := self.next_item(tx)) is not None:
            items.append(item)
        return items

    @pymethod("__iter__")
    def _iter(self, tx: Tx) -> VariableTracker:
        return self

    def describe(self) -> str:
        return "a generator created while tracing"

    def reconstruct(self, cg: Any) -> None:
        """A generator that escapes (returned, stored, or live across a graph break): a real
        generator in the same state (InstructionTranslator.reconstruct_generator)."""
        self._origin.reconstruct_generator(cg)


class ExternalGeneratorVariable(VariableTracker):
    """A generator object made outside the trace (an argument, or one a graph break rebuilt):
    its frame is not ours to follow, so advancing it is a graph break (its code runs natively)."""

    def python_type(self) -> type:
        return types.GeneratorType

    def _native(self, what: str) -> VariableTracker:
        from ..diagnostics import breaks
        from ..diagnostics.errors import Unsupported

        raise Unsupported(breaks.GENERATOR, f"{what} {self.describe()}, a generator made outside the trace")

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        return self._native(f"reading .{name} of")

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return self._native(f"calling {name}() on")

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        return self._native("iterating over")

    def describe(self) -> str:
        return f"generator {self.source.name()}" if self.source is not None else "a generator"
