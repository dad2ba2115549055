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

    def resume(self) -> VariableTracker | None: ...


class GeneratorVariable(IteratorVariable):
    def __init__(self, frame: SuspendedFrame) -> None:
        super().__init__([], types.GeneratorType)
        self.frame: SuspendedFrame | None = frame

    def next_item(self) -> VariableTracker | None:
        if self.frame is None:
            return None
        item = self.frame.resume()
        if item is None:
            self.frame = None        # returned: exhausted for good
        return item

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        items = []
        while (item := self.next_item()) is not None:
            items.append(item)
        return items

    @pymethod("__iter__")
    def _iter(self, tx: Tx) -> VariableTracker:
        return self

    def describe(self) -> str:
        return "a generator created while tracing"

    def reconstruct(self, cg: Any) -> None:
        from ..diagnostics import breaks
        from ..diagnostics.errors import Unsupported

        raise Unsupported(breaks.GENERATOR, "a generator created while tracing escapes the compiled function")
