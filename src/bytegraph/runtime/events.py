"""A record of every capture, for reports: what was compiled, when, why, and what it cost.

Recording is off unless asked for (``with events.recording() as log:``, or
``python -m bytegraph report``); when off, a capture costs one attribute check here.
Events keep no reference to user objects: only text and numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any, Iterator


@dataclasses.dataclass
class CaptureEvent:
    function: str                   # qualified name of the compiled (or resume) function
    location: str                   # file:line of its definition
    index: int                      # 0 for the first capture of that function, then recompiles
    started: float                  # seconds since recording began
    seconds: float                  # time to capture and compile
    outcome: str                    # "graph", "graph + break", "break", "no graph", "eager"
    recompile_reason: str | None
    break_reason: str | None
    eager_reason: str | None
    graph_code: str | None
    op_count: int
    guards: list[tuple[str, str]]   # (guard, why it exists)
    guard_source: str


# (runs eagerly, has a graph, ends at a break) -> what the capture produced
_OUTCOMES = {
    (True, False, False): "eager", (True, False, True): "eager", (True, True, False): "eager",
    (True, True, True): "eager",
    (False, True, False): "graph", (False, True, True): "graph + break",
    (False, False, True): "break",              # nothing to put in a graph before the break
    (False, False, False): "no graph",          # a frame with nothing to capture
}


class _Log:
    def __init__(self) -> None:
        self.active: list[CaptureEvent] | None = None
        self.t0 = 0.0

    def record(self, compiled: Any, entry: Any, recompile_reason: str | None) -> None:
        if self.active is None:
            return
        fn = compiled.fn
        code = fn.__code__
        gm = entry.graph
        outcome = _OUTCOMES[(bool(entry.eager_reason), gm is not None, bool(entry.break_reason))]
        self.active.append(CaptureEvent(
            function=fn.__qualname__, location=f"{code.co_filename}:{code.co_firstlineno}",
            index=compiled.stats.captures - 1, started=time.perf_counter() - self.t0 - entry.capture_seconds,
            seconds=entry.capture_seconds, outcome=outcome, recompile_reason=recompile_reason,
            break_reason=entry.break_reason, eager_reason=entry.eager_reason,
            graph_code=gm.code.strip() if gm is not None else None,
            op_count=sum(1 for n in gm.graph.nodes if n.op in ("call_function", "call_method")) if gm is not None else 0,
            guards=[(g.describe(), g.reason) for g in entry.guards.guards],
            guard_source=entry.guards.source_code))


LOG = _Log()


@contextlib.contextmanager
def recording() -> Iterator[list[CaptureEvent]]:
    """Record every capture made inside the block; yields the list of events."""
    previous, LOG.active, LOG.t0 = LOG.active, [], time.perf_counter()
    try:
        yield LOG.active
    finally:
        LOG.active = previous
