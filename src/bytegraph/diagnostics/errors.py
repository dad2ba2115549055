"""Exceptions bytegraph raises, and how they render: what, where in user code, why, how to fix.

* ``Unsupported`` — a graph break: capture of this frame cannot go on past this point.
* ``UserCodeError`` — the user's own code raised while being traced; carries the original
  exception so it can reach the user unchanged (same type, same message).
* ``CompileError`` — raised to the user under ``fullgraph=True``, rendered from a break.
Anything else escaping capture is an internal error (a bytegraph bug).
"""

from __future__ import annotations

from .breaks import BreakKind
from .locations import UserLocation


class BytegraphError(Exception):
    """Base of bytegraph's own errors."""


class Unsupported(BytegraphError):
    """A graph break: ``kind`` is a catalog entry, ``detail`` says what exactly was met."""

    def __init__(self, kind: BreakKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.stack: list[UserLocation] = []   # innermost last; filled by the translator
        self.root_index: int | None = None    # the compiled frame's instruction it happened under
        # why resuming after that instruction would be wrong (the frame then runs eagerly, with this reason)
        self.not_resumable: str | None = None

    def add_frame(self, where: UserLocation) -> None:
        self.stack.insert(0, where)

    def render(self) -> str:
        lines = [f"graph break {self.kind.id}: {self.kind.title}", f"  what: {self.detail}"]
        if self.stack:
            lines.append(self.stack[-1].render())
            for outer in reversed(self.stack[:-1]):
                if not outer.internal:
                    lines.append(f"  called from {outer.short()}")
        lines.append(f"  why: {self.kind.why}")
        lines.append(f"  fix: {self.kind.fix}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class UserCodeError(BytegraphError):
    """The traced program itself raised ``original``; bytegraph re-raises it unchanged."""

    def __init__(self, original: BaseException, where: UserLocation | None = None) -> None:
        super().__init__(f"{type(original).__name__}: {original}")
        self.original = original
        self.where = where


class CompileError(BytegraphError):
    """Raised under fullgraph=True when a frame cannot be captured as one graph."""


def unsupported(kind: BreakKind, detail: str) -> Unsupported:
    return Unsupported(kind, detail)
