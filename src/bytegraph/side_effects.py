"""Side effects: mutations of objects that existed before the frame, replayed after the graph.

Tracing never changes user state. When traced code mutates an object that came from a
source (a list argument, a module attribute, a global, a closure cell), the object's
tracker takes the new state and is recorded here; the transformed code then writes each
recorded object's final state back to the real object, right after the graph runs (and
before a graph break's native instruction).

Events keep program order: an object is written back where it was first mutated, a global
where it was first assigned, and a deferred call (a log message: ``DeferredCallVariable``)
where it was made.

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

    def record_call(self, fn: VariableTracker, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> None:
        """A call whose only effect is outside the program (a log line), made after the graph."""
        self._events[("call", len(self._events))] = (fn, args, kwargs)

    def __bool__(self) -> bool:
        return bool(self._events)

    def codegen(self, cg: Any) -> None:
        """Emit the write-backs and deferred calls, in program order."""
        for key, event in self._events.items():
            if key[0] == "object":
                event.replay(cg)
            elif key[0] == "global":
                self._emit_global(cg, *event)
            else:
                self._emit_call(cg, *event)

    def _emit_global(self, cg: Any, dict_source: Source | None, name: str) -> None:
        cg.reconstruct(self._globals[(dict_source, name)])
        if dict_source is None:
            cg.store_global(name)
        else:
            cg.load_source(dict_source)
            cg.load_const(name)
            cg.emit("STORE_SUBSCR")

    @staticmethod
    def _emit_call(cg: Any, fn: VariableTracker, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> None:
        cg.push_call_target(lambda: cg.reconstruct(fn))
        for vt in args:
            cg.reconstruct(vt)
        for vt in kwargs.values():
            cg.reconstruct(vt)
        cg.call_kw(len(args) + len(kwargs), tuple(kwargs))
        cg.emit("POP_TOP")

    def describe(self) -> list[str]:
        return [f"{key[0]} {event!r}"[:80] for key, event in self._events.items()]
