"""ConstDictVariable: a dict (or OrderedDict) whose keys are constants known at trace time.

Values may be lazy, as in lists. Keys are plain Python constants (str, int, enum...), kept
in insertion order, so iteration order matches CPython. Views (``keys()``, ``values()``,
``items()``) are DictViewVariables over the same tracker.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from .base import NotConstant, Tx, VariableTracker, pymethod
from .lists import IteratorVariable, TupleVariable


def dict_key(vt: VariableTracker) -> Any:
    """The Python key a tracker stands for; dict keys must be constants."""
    try:
        return vt.as_constant()
    except NotConstant:
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"dict key {vt.describe()} is not a constant") from None


class ConstDictVariable(VariableTracker):
    mutated = False

    def __init__(self, items: dict[Any, VariableTracker], py_type: type = dict, source: Any = None) -> None:
        super().__init__(source)
        self._items = dict(items)
        self.py_type = py_type

    def value(self, key: Any) -> VariableTracker:
        vt = self._items[key].realize()
        self._items[key] = vt
        return vt

    def keys(self) -> list[Any]:
        return list(self._items)

    def python_type(self) -> type:
        return self.py_type

    def as_constant(self) -> Any:
        return self.py_type((k, self.value(k).as_constant()) for k in self._items)

    def truth(self, tx: Tx) -> bool:
        return bool(self._items)

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        return [tx.wrap_const(k) for k in self._items]

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        k = dict_key(key)
        if k not in self._items:
            raise UserCodeError(KeyError(k))
        return self.value(k)

    def _mutate(self, tx: Tx, what: str) -> None:
        if self.source is not None:
            tx.mutation(self, f"dict.{what}")
        self.mutated = True

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None and not self.mutated:
            self.source.reconstruct(cg)
            return
        cg.begin_build(self.py_type)
        for k in self._items:
            cg.load_const(k)
            cg.reconstruct(self.value(k))
        cg.build(self.py_type, len(self._items))

    def binary_op(self, tx: Tx, op: str, other: VariableTracker, reflected: bool) -> Any:
        if op == "or" and isinstance(other, ConstDictVariable):
            a, b = (other, self) if reflected else (self, other)
            return ConstDictVariable({**a._items, **b._items}, a.py_type)
        if op in ("eq", "ne") and isinstance(other, ConstDictVariable):
            try:
                same = self.as_constant() == other.as_constant()
            except NotConstant:
                return NotImplemented
            return tx.wrap_const(same if op == "eq" else not same)
        return NotImplemented

    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(len(self._items))

    @pymethod("__getitem__")
    def _getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return self.getitem(tx, key)

    @pymethod("__contains__")
    def _contains(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return tx.wrap_const(dict_key(key) in self._items)

    @pymethod("get")
    def _get(self, tx: Tx, key: VariableTracker, default: VariableTracker | None = None) -> VariableTracker:
        k = dict_key(key)
        if k in self._items:
            return self.value(k)
        return default if default is not None else tx.wrap_const(None)

    @pymethod("keys")
    def _keys(self, tx: Tx) -> VariableTracker:
        return DictViewVariable(self, "keys")

    @pymethod("values")
    def _values(self, tx: Tx) -> VariableTracker:
        return DictViewVariable(self, "values")

    @pymethod("items")
    def _items_view(self, tx: Tx) -> VariableTracker:
        return DictViewVariable(self, "items")

    @pymethod("__setitem__")
    def _setitem(self, tx: Tx, key: VariableTracker, value: VariableTracker) -> VariableTracker:
        self._mutate(tx, "__setitem__")
        self._items[dict_key(key)] = value
        return tx.wrap_const(None)

    @pymethod("__delitem__")
    def _delitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        k = dict_key(key)
        if k not in self._items:
            raise UserCodeError(KeyError(k))
        self._mutate(tx, "__delitem__")
        del self._items[k]
        return tx.wrap_const(None)

    @pymethod("pop")
    def _pop(self, tx: Tx, key: VariableTracker, default: VariableTracker | None = None) -> VariableTracker:
        k = dict_key(key)
        if k not in self._items:
            if default is None:
                raise UserCodeError(KeyError(k))
            return default
        self._mutate(tx, "pop")
        vt = self.value(k)
        del self._items[k]
        return vt

    @pymethod("setdefault")
    def _setdefault(self, tx: Tx, key: VariableTracker, default: VariableTracker | None = None) -> VariableTracker:
        k = dict_key(key)
        if k not in self._items:
            self._mutate(tx, "setdefault")
            self._items[k] = default if default is not None else tx.wrap_const(None)
        return self.value(k)

    @pymethod("update")
    def _update(self, tx: Tx, other: VariableTracker | None = None, **kwargs: VariableTracker) -> VariableTracker:
        self._mutate(tx, "update")
        if isinstance(other, ConstDictVariable):
            for k in other.keys():
                self._items[k] = other.value(k)
        elif other is not None:
            for pair in other.unpack(tx):
                k, v = pair.unpack(tx)
                self._items[dict_key(k)] = v
        self._items.update(kwargs)
        return tx.wrap_const(None)

    @pymethod("copy")
    def _copy(self, tx: Tx) -> VariableTracker:
        return ConstDictVariable(dict(self._items), self.py_type)

    def describe(self) -> str:
        where = f" from {self.source.name()}" if self.source is not None else ""
        return f"a {self.py_type.__name__} with keys {list(self._items)!r}{where}"


class DictViewVariable(VariableTracker):
    """``d.keys()``, ``d.values()`` or ``d.items()``: a live view of a ConstDictVariable."""

    def __init__(self, d: ConstDictVariable, kind: str) -> None:
        super().__init__(None)
        self.d = d
        self.kind = kind

    def python_type(self) -> type:
        return type(getattr({}, self.kind)())

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        keys = self.d.keys()
        if self.kind == "keys":
            return [tx.wrap_const(k) for k in keys]
        if self.kind == "values":
            return [self.d.value(k) for k in keys]
        return [TupleVariable([tx.wrap_const(k), self.d.value(k)]) for k in keys]

    def as_constant(self) -> Any:
        return getattr(self.d.as_constant(), self.kind)()

    def truth(self, tx: Tx) -> bool:
        return bool(self.d.keys())

    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(len(self.d.keys()))

    @pymethod("__iter__")
    def _iter(self, tx: Tx) -> VariableTracker:
        return IteratorVariable(self.unpack(tx))

    @pymethod("__contains__")
    def _contains(self, tx: Tx, item: VariableTracker) -> VariableTracker:
        if self.kind == "keys":
            return self.d._contains(tx, item)
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"`in` on dict.{self.kind}()")

    def reconstruct(self, cg: Any) -> None:
        cg.reconstruct(self.d)
        cg.load_method_call(self.kind, 0)
