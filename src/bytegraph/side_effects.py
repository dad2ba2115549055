"""Side effects: mutations of objects that existed before the frame, replayed after the graph.

Tracing never changes user state. When traced code mutates an object that came from a
source (a list argument, a module attribute, a global, a closure cell), the object's
tracker takes the new state and is recorded here; the transformed code then writes each
recorded object's final state back to the real object, right after the graph runs (and
before a graph break's native instruction).

Events keep program order: an object is written back where it was first mutated, a global
where it was first assigned. No call is ever deferred here: a call made only to report (a log
record, a warning) is a no-op or a graph break, see ``variables/log_calls.py``. An object whose
final state is its initial one (a value swapped in and restored in ``finally``) is not written
back at all (``changes_nothing``).

Each tracker kind knows how to write itself back (``replay(cg)``): a list by its contents
(identity kept), a dict or set by ``clear()`` + ``update()`` through the builtin, an object by
``setattr``/``delattr`` of the attributes it changed, a cell through ``cell_contents``.
"""

from __future__ import annotations

from typing import Any

from .sources import Source
from .variables.base import VariableTracker


class SideEffects:
    def __init__(self) -> None:
        self._events: dict[Any, Any] = {}     # key -> event, in first-seen (program) order
        self._globals: dict[tuple[Source | None, str], VariableTracker] = {}

    def record(self, vt: VariableTracker) -> None:
        self._events.setdefault(("object", id(vt)), vt)

    def store_global(self, dict_source: Source | None, name: str, vt: VariableTracker) -> None:
        """``name = vt`` in a module's globals (``dict_source`` None: the compiled function's own)."""
        self._events.setdefault(("global", dict_source, name), (dict_source, name))
        self._globals[(dict_source, name)] = vt

    def load_global(self, dict_source: Source | None, name: str) -> VariableTracker | None:
        return self._globals.get((dict_source, name))

    def _live(self) -> list[tuple[Any, Any]]:
        """The events that change something: an object left as the frame found it is skipped."""
        return [(key, event) for key, event in self._events.items()
                if key[0] != "object" or not event.changes_nothing()]

    def __bool__(self) -> bool:
        return bool(self._live())

    def codegen(self, cg: Any) -> None:
        """Emit the write-backs, in program order. First every object written to and every value
        written is loaded (``cg.pin``): a write-back must not change what a later one reads
        (``d[k]`` appended to a list, then ``d`` cleared; ``o.a.lst`` after ``o.a`` was replaced)."""
        live = self._live()
        objects = [event for key, event in live if key[0] == "object"]
        cg.pin_sources([vt.source for vt in objects if vt.source is not None])
        cg.pin([value for vt in objects for value in vt.replay_values()]
               + [self._globals[event] for key, event in live if key[0] == "global"])
        for key, event in live:
            if key[0] == "object":
                event.replay(cg)
            else:
                self._emit_global(cg, *event)

    def _emit_global(self, cg: Any, dict_source: Source | None, name: str) -> None:
        cg.reconstruct(self._globals[(dict_source, name)])
        if dict_source is None:
            cg.store_global(name)
        else:
            cg.load_source(dict_source)
            cg.load_const(name)
            cg.emit("STORE_SUBSCR")

    def describe(self) -> list[str]:
        return [f"{key[0]} {event!r}"[:80] for key, event in self._events.items()]
