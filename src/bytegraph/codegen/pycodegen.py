"""PyCodegen (``cg``): emits ``bytecode`` instructions for one new code object.

Sources and trackers call ``cg`` to push values (``source.reconstruct(cg)``,
``vt.reconstruct(cg)``); ``cg.reconstruct(vt)`` first checks whether ``vt`` is one of the
graph's outputs and loads it from the graph's result instead.

Calls follow CPython 3.11: ``PUSH_NULL, <callable>, <args...>, PRECALL n, CALL n``.
"""

from __future__ import annotations

import types
from typing import Any

from bytecode import CellVar, FreeVar, Instr


class PyCodegen:
    def __init__(self, code: types.CodeType, lineno: int | None = None) -> None:
        self.code = code
        self.lineno = lineno if lineno is not None else code.co_firstlineno
        self.instrs: list[Any] = []
        self.graph_outputs: list[Any] = []          # trackers the graph must return, in order
        self._output_index: dict[int, int] = {}
        self.source_temps: dict[Any, str] = {}      # sources already loaded into a local
        self._built: dict[int, str] = {}            # objects rebuilt once, kept in a local

    def emit(self, name: str, arg: Any = None) -> None:
        instr = Instr(name, arg, lineno=self.lineno) if arg is not None or name in _ARG_OPS else Instr(name, lineno=self.lineno)
        self.instrs.append(instr)

    # -- loads -----------------------------------------------------------------------------
    def load_source(self, source: Any) -> None:
        temp = self.source_temps.get(source)
        if temp is not None:
            self.emit("LOAD_FAST", temp)
        else:
            source.reconstruct(self)

    def hoist_sources(self, sources: list[Any]) -> None:
        """Load every base shared by two or more of ``sources`` once, into a local."""
        uses: dict[Any, int] = {}
        for src in sources:
            for s in src.chain()[:-1]:
                uses[s] = uses.get(s, 0) + 1
        for src in sources:
            for s in src.chain()[:-1]:
                if uses[s] >= 2 and s not in self.source_temps and s.base is not None:
                    self.load_source(s)
                    temp = f"___src{len(self.source_temps)}"
                    self.store_local(temp)
                    self.source_temps[s] = temp
    def load_const(self, value: Any) -> None:
        self.emit("LOAD_CONST", value)

    def load_local(self, name: str) -> None:
        if name in self.code.co_cellvars:
            self.emit("LOAD_DEREF", CellVar(name))
        elif name in self.code.co_freevars:
            self.emit("LOAD_DEREF", FreeVar(name))
        else:
            self.emit("LOAD_FAST", name)

    def store_local(self, name: str) -> None:
        self.emit("STORE_FAST", name)

    def load_deref(self, name: str) -> None:
        self.emit("LOAD_DEREF", FreeVar(name) if name in self.code.co_freevars else CellVar(name))

    def load_closure(self, name: str) -> None:
        """Push the cell of a free (or cell) variable of the code being built."""
        self.emit("LOAD_CLOSURE", FreeVar(name) if name in self.code.co_freevars else CellVar(name))

    def load_global(self, name: str) -> None:
        self.emit("LOAD_GLOBAL", (False, name))

    def store_global(self, name: str) -> None:
        self.emit("STORE_GLOBAL", name)

    def load_attr(self, name: str) -> None:
        self.emit("LOAD_ATTR", name)

    def binary_subscr(self) -> None:
        self.emit("BINARY_SUBSCR")

    # -- calls -----------------------------------------------------------------------------
    def push_callable(self, fn: Any) -> None:
        self.emit("PUSH_NULL")
        self.load_const(fn)

    def call(self, nargs: int) -> None:
        self.emit("PRECALL", nargs)
        self.emit("CALL", nargs)

    def load_method_call(self, name: str, nargs: int) -> None:
        """Call method ``name`` on the object on top of the stack (arguments none)."""
        self.emit("LOAD_METHOD", name)
        self.call(nargs)

    # -- containers ------------------------------------------------------------------------
    def begin_build(self, py_type: type) -> None:
        if py_type not in (list, tuple, dict, set):
            self.push_callable(py_type)

    def build(self, py_type: type, n: int) -> None:
        """Build a container from the ``n`` items (or key/value pairs) on the stack; call
        ``begin_build`` before pushing them."""
        if py_type is list:
            self.emit("BUILD_LIST", n)
        elif py_type is dict:
            self.emit("BUILD_MAP", n)
        elif py_type is tuple:
            self.emit("BUILD_TUPLE", n)
        elif py_type is set:
            self.emit("BUILD_SET", n)
        elif issubclass(py_type, dict):
            self.emit("BUILD_MAP", n)
            self.call(1)
        elif hasattr(py_type, "_fields"):               # namedtuple: T(*items)
            self.emit("BUILD_TUPLE", n)
            self.emit("CALL_FUNCTION_EX", 0)
        else:                                           # structseq and other tuple types: T(items)
            self.emit("BUILD_TUPLE", n)
            self.call(1)

    # -- trackers --------------------------------------------------------------------------
    def reconstruct(self, vt: Any) -> None:
        """Push ``vt``'s value. A mutable object created while tracing is built once: if it is
        reached twice (``return lst, lst``; two closures sharing a cell), both are the same object."""
        temp = self._built.get(id(vt))
        if temp is not None:
            self.emit("LOAD_FAST", temp)
            return
        vt.reconstruct(self)
        if vt.source is None and getattr(vt, "identity_matters", False):
            temp = self._built[id(vt)] = f"___obj{len(self._built)}"
            self.emit("COPY", 1)
            self.store_local(temp)

    def pin(self, vts: list[Any]) -> None:
        """Build each of ``vts`` now and keep it in a local that later ``reconstruct`` calls load.
        Before side effects are written back: a value the trace read from a source is the value
        *as read* (``item = lst.pop()`` is ``lst[-1]`` before the write-back shortens ``lst``)."""
        for vt in vts:
            if id(vt) in self._built or type(vt).__name__ == "NullVariable":
                continue
            self.reconstruct(vt)
            if id(vt) not in self._built:
                temp = self._built[id(vt)] = f"___obj{len(self._built)}"
                self.store_local(temp)
            else:
                self.emit("POP_TOP")

    def pin_sources(self, sources: list[Any]) -> None:
        """Load each source now, into a local that later ``load_source`` calls use (a root, a
        frame local or a constant, stays as it is)."""
        for source in sources:
            if source in self.source_temps or source.base is None:
                continue
            self.load_source(source)
            temp = self.source_temps[source] = f"___src{len(self.source_temps)}"
            self.store_local(temp)

    def built_so_far(self) -> dict[int, str]:
        """The objects rebuilt up to here (see ``reconstruct``). Code that splits into paths
        (the two sides of a jump, an exception handler) restores this before each path with
        ``rebuild_from``: an object rebuilt on one path does not exist on another."""
        return dict(self._built)

    def rebuild_from(self, built: dict[int, str]) -> None:
        self._built = dict(built)

    def load_graph_output(self, vt: Any) -> None:
        """Push a value the graph computes: ``___graph_out[i]``, adding it to the outputs."""
        index = self._output_index.get(id(vt))
        if index is None:
            index = self._output_index[id(vt)] = len(self.graph_outputs)
            self.graph_outputs.append(vt)
        self.emit("LOAD_FAST", GRAPH_OUT)
        self.load_const(index)
        self.binary_subscr()


_ARG_OPS = frozenset({"LOAD_CONST"})
GRAPH_OUT = "___graph_out"   # the local that holds the graph's result tuple in transformed code
