"""CaptureState: what one capture (the root frame and every frame inlined into it) shares.

The graph, the guards, the builder's identity map and source cache, the keep-alive list
that pins wrapped objects (so ``id()`` stays meaningful while tracing), and the record of
which rule wrapped which source (for ``explain``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..graph.output_graph import OutputGraph
from ..graph.shapes import FrameState
from ..guards import GuardSet
from ..side_effects import SideEffects
from ..sources import Source
from ..variables.base import VariableTracker


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
