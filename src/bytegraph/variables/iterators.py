"""GeneratorVariable: a generator made by calling a generator function in traced code.

It is lazy, as in CPython: the generator's frame (a suspended child translator) runs up
to its next ``yield`` each time an item is asked for, so its effects interleave with the
consumer's exactly as they would at run time. ``send()``/``throw()`` are not modelled: a
resumed ``yield`` expression evaluates to None.
"""

from __future__ import annotations

import types
from typing import Any, Protocol

from .base import Tx, VariableTracker, pymethod
from .lists import IteratorVariable


class SuspendedFrame(Protocol):
    """The part of a generator's translator the tracker drives."""

    return_value: VariableTracker | None

    def resume(self) -> VariableTracker | None: ...

    def reconstruct_generator(self, cg: Any) -> None: ...


class GeneratorVariable(IteratorVariable):
    identity_matters = True       # one generator object however often it is reached

    def __init__(self, frame: SuspendedFrame) -> None:
        super().__init__([], types.GeneratorType)
        self.frame: SuspendedFrame | None = frame
        self._origin = frame          # kept once exhausted: it rebuilds an exhausted generator

    def next_item(self, tx: Tx) -> VariableTracker | None:
        if self.frame is None:
            return None
        item = self.frame.resume()
        if item is None:
            self.frame = None        # returned: exhausted for good
        return item

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
