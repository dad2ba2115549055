"""Side effects: mutations of objects that existed before the frame, replayed after the graph.

Tracing never changes user state. When traced code mutates an object that came from a
source (a list argument, a module attribute, a global, a closure cell), the object's
tracker takes the new state and is recorded here; the transformed code then writes each
recorded object's final state back to the real object, in the order the objects were first
mutated, right after the graph runs (and before a graph break's native instruction).

Each tracker kind knows how to write itself back (``replay(cg)``): a list by slice
assignment (``src[:] = [...]``, identity kept), a dict or set by ``clear()`` + ``update()``,
an object by ``setattr``/``delattr`` of the attributes it changed, a cell through
``cell_contents``. Globals are recorded by name.
"""

from __future__ import annotations

from typing import Any

from .sources import Source
from .variables.base import VariableTracker


class SideEffects:
    def __init__(self) -> None:
        self._mutated: dict[int, VariableTracker] = {}
        self.globals: dict[tuple[Source | None, str], VariableTracker] = {}

    def record(self, vt: VariableTracker) -> None:
        self._mutated.setdefault(id(vt), vt)

    def store_global(self, dict_source: Source | None, name: str, vt: VariableTracker) -> None:
        """``name = vt`` in a module's globals (``dict_source`` None: the compiled function's own)."""
        self.globals[(dict_source, name)] = vt

    def load_global(self, dict_source: Source | None, name: str) -> VariableTracker | None:
        return self.globals.get((dict_source, name))

    def __bool__(self) -> bool:
        return bool(self._mutated or self.globals)

    def codegen(self, cg: Any) -> None:
        """Emit the write-backs, in program order."""
        for vt in self._mutated.values():
            vt.replay(cg)
        for (dict_source, name), vt in self.globals.items():
            cg.reconstruct(vt)
            if dict_source is None:
                cg.store_global(name)
            else:
                cg.load_source(dict_source)
                cg.load_const(name)
                cg.emit("STORE_SUBSCR")

    def describe(self) -> list[str]:
        out = [f"{vt.describe()}" for vt in self._mutated.values()]
        out += [f"global {name}" for (_, name) in self.globals]
        return out
