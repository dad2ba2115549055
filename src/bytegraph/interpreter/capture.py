"""CaptureState: what one capture (the root frame and every frame inlined into it) shares.

The graph, the guards, the builder's identity map and source cache, the keep-alive list
that pins wrapped objects (so ``id()`` stays meaningful while tracing), and the record of
which rule wrapped which source (for ``explain``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from ..graph.output_graph import OutputGraph
from ..graph.shapes import FrameState
from ..guards import GuardSet
from ..side_effects import SideEffects
from ..sources import Source
from ..variables.base import VariableTracker


@dataclasses.dataclass
class BodyTrace:
    """A higher-order op body being traced: trackers made from ``serial`` on are its own;
    ``swapped`` holds the outside objects it changed and must restore (id -> tracker, what, where)."""
    serial: int
    what: str
    swapped: dict[int, tuple[VariableTracker, str, str]] = dataclasses.field(default_factory=dict)


def _can_tell_restored(vt: VariableTracker) -> bool:
    return type(vt).changes_nothing is not VariableTracker.changes_nothing


@dataclasses.dataclass
class CaptureState:
    root_globals: dict[str, Any]
    frame_state: FrameState = dataclasses.field(default_factory=FrameState)
    graph: OutputGraph = dataclasses.field(default_factory=OutputGraph)
    guards: GuardSet = dataclasses.field(default_factory=GuardSet)
    side_effects: SideEffects = dataclasses.field(default_factory=SideEffects)
    identity: dict[int, VariableTracker] = dataclasses.field(default_factory=dict)
    by_source: dict[Source, VariableTracker] = dataclasses.field(default_factory=dict)
    # The real object each source was wrapped from: what ``id()`` pins (``pin_identity``)
    objects: dict[Source, Any] = dataclasses.field(default_factory=dict)
    keepalive: list[Any] = dataclasses.field(default_factory=list)
    wrapped: list[tuple[Source, str]] = dataclasses.field(default_factory=list)
    instructions: int = 0
    tx: Any = None            # the root translator; every lazy value is built through it
    frames: list[Any] = dataclasses.field(default_factory=list)   # translators running now, innermost last
    # Sources of objects the trace told apart by identity (`a is b` False, a dict key lookup
    # that missed): they must still be distinct objects for the graph to hold.
    distinct: dict[Source, None] = dataclasses.field(default_factory=dict)
    # The exception the compiled function's caller is handling (sys.exc_info() in the frame)
    caller_exc: BaseException | None = None

    # Higher-order op bodies being traced (outermost first)
    bodies: list[BodyTrace] = dataclasses.field(default_factory=list)

    def check_body_mutation(self, vt: VariableTracker, what: str, existing: bool) -> None:
        """Inside a higher-order op body, changing anything made before the body began is a side
        effect the subgraph cannot hold: a break (GB021) instead of a change made once at trace
        time. One exception, checked when the body returns (``close_body``): an object from
        outside the frame that is in its initial state and can tell whether it is back in it
        (``changes_nothing``: a dict, an object's attributes, a cell) may be changed if the body
        restores it, as ``functional_call`` swaps a module's parameters in and out."""
        if not self.bodies:
            return
        body = self.bodies[-1]
        if not existing and vt.serial >= body.serial:
            return                                  # made inside the body: its own
        if existing and id(vt) in body.swapped:
            return                                  # changed earlier in this body: checked when it returns
        if existing and _can_tell_restored(vt) and vt.changes_nothing():
            where = ", called from ".join(f.location().short() for f in reversed(self.frames))
            body.swapped[id(vt)] = (vt, what, where)
            return
        raise Unsupported(breaks.HOP_BODY, f"{what} on {vt.describe()} inside {body.what}, "
                          f"which changes state outside the body")

    def open_body(self, serial: int, what: str) -> BodyTrace:
        body = BodyTrace(serial, what)
        self.bodies.append(body)
        return body

    def close_body(self, body: BodyTrace, returned: bool) -> None:
        """``body``'s trace ends (once; later calls do nothing); if it ``returned``, every object
        from outside it that it changed must be back in the state the body found it in."""
        if not self.bodies or self.bodies[-1] is not body:
            return
        self.bodies.pop()
        left = [(vt, what, where) for vt, what, where in body.swapped.values() if not vt.changes_nothing()]
        if returned and left:
            vt, what, where = left[0]
            raise Unsupported(breaks.HOP_BODY, f"{what} on {vt.describe()} at {where} inside {body.what}, "
                              f"which changes state outside the body (not restored before it returns)")

    def assume_distinct(self, *vts: VariableTracker) -> None:
        if all(vt.source is not None for vt in vts):
            self.distinct.update(dict.fromkeys(vt.source for vt in vts))

    def under_handler(self) -> bool:
        """Whether the code being traced right now sits in a try/with block of the program."""
        return any(t.current is not None and t.current.handler is not None for t in self.frames)

    def build(self, value: Any, source: Source) -> VariableTracker:
        """Build a lazily wrapped value (``LazyVariableTracker.realize``)."""
        from ..builder import VariableBuilder

        return VariableBuilder(self.tx, source)(value)

    def release(self) -> None:
        """Drop every reference to user values once the capture is compiled. This also
        breaks the translator <-> tracker cycles, so a model is freed by reference counting
        as soon as the user drops it."""
        self.tx = None
        self.frames.clear()
        self.graph.handler_probe = None
        self.identity.clear()
        self.by_source.clear()
        self.objects.clear()
        self.keepalive.clear()
        self.caller_exc = None
