"""Dicts and sets: DictVariable, DictViewVariable, SetVariable.

Keys (and set members) are held by their *hash key*: the Python value for constants
(str, int, enum, dtype...), and the tracker's identity for objects hashed by identity
(tensors, modules, plain objects). One object is one tracker, so identity keys behave
as CPython's do. Keys with a user-defined ``__hash__`` are not supported yet (a graph
break, never a wrong lookup).

Iteration follows insertion order, as CPython dicts do. Sets of constants iterate in the
order a real set of the same values built the same way would; sets holding objects
iterate in insertion order (CPython would use address order).
"""

from __future__ import annotations

import collections
import itertools
import operator
import types
from typing import Any, Hashable

import torch

from ..diagnostics.errors import Unsupported, UserCodeError
from ..guards import Guard, GuardKind
from .base import LazyVariableTracker, NotConstant, Tx, VariableTracker, pymethod
from .lists import IteratorVariable, TupleVariable, contains_item

_IDENTITY_HASHES = frozenset({object.__hash__, torch.Tensor.__hash__})


class IdentityKey:
    """The hash key of a tracked object hashed by identity."""

    __slots__ = ("vt",)

    def __init__(self, vt: VariableTracker) -> None:
        self.vt = vt

    def __hash__(self) -> int:
        return id(self.vt)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdentityKey) and other.vt is self.vt

    def __repr__(self) -> str:
        return f"<{self.vt.describe()}>"


class TracedKey(IdentityKey):
    """The key of an object whose class defines ``__hash__`` in Python: its hash comes from the
    traced ``__hash__`` (a constant), and equality with keys already present from the traced
    ``__eq__``, at insertion and lookup time, as CPython's dict probing does."""

    __slots__ = ("hash",)

    def __init__(self, vt: VariableTracker, h: int) -> None:
        super().__init__(vt)
        self.hash = h

    def __hash__(self) -> int:
        return self.hash


def hash_key(tx: Tx, vt: VariableTracker, present: Any = ()) -> Hashable:
    """The key ``vt`` has in a dict or set whose keys are ``present`` (CPython:
    Objects/dictobject.c, lookup by hash, then identity, then ``__eq__``)."""
    try:
        value = vt.as_constant()
    except NotConstant:
        pass
    else:
        try:
            hash(value)
        except TypeError as e:
            raise UserCodeError(e) from e
        return value
    t = vt.python_type()
    if getattr(t, "__hash__", None) is None:
        raise UserCodeError(TypeError(f"unhashable type: '{t.__name__}'"))
    if t.__hash__ in _IDENTITY_HASHES:
        key = IdentityKey(vt)
        if key not in present:     # a miss: vt must stay another object than every key
            for k in present:
                if type(k) is IdentityKey:
                    tx.capture.assume_distinct(k.vt, vt)
        return key
    h = vt.call_method(tx, "__hash__", [], {}).as_constant()
    from .ops import compare

    for k in present:
        if isinstance(k, TracedKey) and k.hash == h and (k.vt is vt or compare(tx, "eq", k.vt, vt).truth(tx)):
            return k
    return TracedKey(vt, h)


def replace_contents(target: Any, contents: Any) -> None:
    """Run-time write-back of a dict, set, list or deque (or a subclass: through the builtin's own
    methods, not the subclass's overrides): same object, new contents. The new contents are
    built (reading the old ones if need be) before the object is cleared."""
    base = next(b for b in (collections.OrderedDict, dict, set, list, collections.deque) if isinstance(target, b))
    base.clear(target)
    if base is set:
        set.update(target, contents)
    elif base in (list, collections.deque):
        base.extend(target, contents)
    else:
        for k, v in contents.items():
            base.__setitem__(target, k, v)


def update_contents(target: Any, deleted: tuple, updates: dict) -> None:
    """Run-time write-back of the keys a trace changed in a dict (or a subclass: through the
    builtin's own methods). The new values were built before any was written."""
    base = collections.OrderedDict if isinstance(target, collections.OrderedDict) else dict
    for k in deleted:
        base.__delitem__(target, k)
    for k, v in updates.items():
        base.__setitem__(target, k, v)


def _same_entry(initial: VariableTracker, final: VariableTracker) -> bool:
    """Whether a dict entry still holds the value the trace found there (lazily built or not)."""
    return final is initial or (isinstance(initial, LazyVariableTracker) and initial.realize() is final)


def _clear_and_update(cg: Any, source: Any, build_contents: Any) -> None:
    cg.push_callable(replace_contents)
    cg.load_source(source)
    build_contents()
    cg.call(2)
    cg.emit("POP_TOP")


def _has_keys(vt: VariableTracker) -> bool:
    """Whether ``dict.update(vt)`` takes ``vt`` as a mapping (it has ``keys``) rather than pairs."""
    try:
        return hasattr(vt.python_type(), "keys")
    except Unsupported:         # a tracker of no known type: taken as pairs, as before
        return False


def key_tracker(tx: Tx, key: Hashable) -> VariableTracker:
    return key.vt if isinstance(key, IdentityKey) else tx.wrap_const(key)


def _reconstruct_key(cg: Any, key: Hashable) -> None:
    if isinstance(key, IdentityKey):
        cg.reconstruct(key.vt)
    else:
        cg.load_const(key)


class DictVariable(VariableTracker):
    """dict, OrderedDict, defaultdict (with ``default_factory``) or a read-only mappingproxy.

    A dict read from a source guards its keys lazily (``key_guards`` is the capture's guard
    set until then): reading ``d[k]`` needs no key guard (the value's own guard reads
    ``d[k]``, and fails if the key is gone); ``k in d`` guards that one key's presence or
    absence; anything that sees the whole key set (len, iteration, ==, copying) guards it
    once with DICT_KEYS."""
    identity_matters = True

    def __init__(self, items: dict[Hashable, VariableTracker], py_type: type = dict, source: Any = None,
                 default_factory: VariableTracker | None = None, key_guards: Any = None) -> None:
        super().__init__(source)
        self._items = dict(items)
        self.py_type = py_type
        self.default_factory = default_factory
        self.key_guards = key_guards
        # the keys the dict had before the call, in order: key guards are about them, never about
        # keys the trace itself added or removed since
        self._original = tuple(self._items) if key_guards is not None else ()
        self._guard_set = key_guards        # kept after key_guards is used (the write-back may guard)

    def value(self, key: Hashable) -> VariableTracker:
        vt = self._items[key].realize()
        self._items[key] = vt
        return vt

    def keys(self) -> list[Hashable]:
        """Every key, in order: the caller depends on the whole key set, which is guarded."""
        if self.key_guards is not None:
            self.key_guards.add(Guard(self.source, GuardKind.DICT_KEYS, self._original, "the dict's key set was used"))
            self.key_guards = None
        return list(self._items)

    def has_key(self, k: Hashable, reading: bool = False) -> bool:
        """``k in d``, guarding just that key's presence (or absence). When the caller goes on to
        read ``d[k]`` (``reading``), presence needs no guard: the value's own guard reads ``d[k]``."""
        present = k in self._items
        if self.key_guards is None or (present and reading) or present != (k in self._original):
            return present          # (known, or decided by the trace's own writes: nothing to guard)
        if not isinstance(k, IdentityKey):
            kind = GuardKind.DICT_CONTAINS if present else GuardKind.DICT_NOT_CONTAINS
            self.key_guards.add(Guard(self.source, kind, k, "membership test on the dict"))
        elif k.vt.source is not None:
            # an object key (a parameter in ``optimizer.state``): guarded by the key's own source;
            # an object the trace made cannot be in a dict from before the call
            kind = GuardKind.DICT_CONTAINS_OBJECT if present else GuardKind.DICT_NOT_CONTAINS_OBJECT
            self.key_guards.add(Guard(self.source, kind, k.vt.source, "membership test on the dict"))
        return present

    def python_type(self) -> type:
        return self.py_type

    def is_constant(self) -> bool:
        return not any(isinstance(k, IdentityKey) for k in self._items) and \
            all(self.value(k).is_constant() for k in self.keys())

    def as_constant(self) -> Any:
        if any(isinstance(k, IdentityKey) for k in self._items):
            raise NotConstant("dict with object keys")
        return self.py_type((k, self.value(k).as_constant()) for k in self.keys())

    def truth(self, tx: Tx) -> bool:
        return bool(self.keys())

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        return [key_tracker(tx, k) for k in self.keys()]

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        k = hash_key(tx, key, self._items)
        if not self.has_key(k, reading=True):
            if self.default_factory is not None and not (self.default_factory.is_constant()
                                                         and self.default_factory.as_constant() is None):
                self._mutate(tx, "__missing__")
                self._items[k] = tx.call(self.default_factory, [], {})
            else:
                raise UserCodeError(KeyError(key.as_constant() if key.is_constant() else k))
        return self.value(k)

    def _mutate(self, tx: Tx, what: str) -> None:
        if self.py_type is types.MappingProxyType:
            raise UserCodeError(TypeError(f"'mappingproxy' object does not support {what}"))
        if self.source is not None:
            if self._initial is None:      # what the write-back compares the final state with
                self._initial = dict(self._items)
            tx.mutation(self, f"dict.{what}")
        else:
            tx.local_mutation(self, f"dict.{what}")

    _initial: dict[Hashable, VariableTracker] | None = None

    def _diff(self) -> tuple[list[Hashable], list[Hashable]] | None:
        """(deleted keys, keys set) that turn the dict the trace found into the final one, as
        ``del d[k]`` then ``d[k] = v`` in order; None when that would not give the final key
        order (a key deleted and set again, ``move_to_end``): the whole dict is rewritten then."""
        initial = self._initial or {}
        final = self._items
        survivors = [k for k in initial if k in final]
        if list(final) != survivors + [k for k in final if k not in initial]:
            return None
        changed = [k for k in final if k not in initial or not _same_entry(initial[k], final[k])]
        return [k for k in initial if k not in final], changed

    def changes_nothing(self) -> bool:
        return self._diff() == ([], [])

    def replay_values(self) -> list[VariableTracker]:
        diff = self._diff()
        keys = list(self._items) if diff is None else diff[1]
        return [*(k.vt for k in keys if isinstance(k, IdentityKey)), *(self.value(k) for k in keys)]

    def replay(self, cg: Any) -> None:
        """Only what changed: ``del d[k]`` and ``d[k] = v`` through the builtin's own methods (so
        keys added to the real dict since, which the trace never saw, stay). When the key order
        changed, ``d.clear(); d.update({...})`` of the final contents, under a guard on the key
        set the trace found."""
        diff = self._diff()
        if diff is None:
            if self._guard_set is not None:
                self._guard_set.add(Guard(self.source, GuardKind.DICT_KEYS, self._original,
                                          "the dict is written back whole"))
            _clear_and_update(cg, self.source, lambda: self._build_plain(cg))
            return
        deleted, changed = diff
        cg.push_callable(update_contents)
        cg.load_source(self.source)
        cg.begin_build(tuple)
        for k in deleted:
            _reconstruct_key(cg, k)
        cg.build(tuple, len(deleted))
        cg.begin_build(dict)
        for k in changed:
            _reconstruct_key(cg, k)
            cg.reconstruct(self.value(k))
        cg.build(dict, len(changed))
        cg.call(3)
        cg.emit("POP_TOP")

    def _build_plain(self, cg: Any) -> None:
        cg.begin_build(dict)
        for k in self._items:
            _reconstruct_key(cg, k)
            cg.reconstruct(self.value(k))
        cg.build(dict, len(self._items))

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        rebuild = self.py_type if self.py_type is not dict else None
        if rebuild is not None:          # OrderedDict(d), defaultdict(factory, d), mappingproxy(d)
            cg.push_callable(rebuild)
            if self.default_factory is not None:
                cg.reconstruct(self.default_factory)
        cg.begin_build(dict)
        for k in self.keys():
            _reconstruct_key(cg, k)
            cg.reconstruct(self.value(k))
        cg.build(dict, len(self._items))
        if rebuild is not None:
            cg.call(2 if self.default_factory is not None else 1)

    def binary_op(self, tx: Tx, op: str, other: VariableTracker, reflected: bool) -> Any:
        if op in ("or", "ior") and isinstance(other, DictVariable):
            if op == "ior":
                self._update(tx, other)
                return self
            a, b = (other, self) if reflected else (self, other)
            a.keys(), b.keys()
            return DictVariable({**a._items, **b._items}, a.py_type)
        if op in ("eq", "ne") and isinstance(other, DictVariable):
            try:
                same = self.as_constant() == other.as_constant()
            except NotConstant:
                return NotImplemented
            return tx.wrap_const(same if op == "eq" else not same)
        return NotImplemented

    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(len(self.keys()))

    @pymethod("__getitem__")
    def _getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return self.getitem(tx, key)

    @pymethod("__contains__")
    def _contains(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return tx.wrap_const(self.has_key(hash_key(tx, key, self._items)))

    @pymethod("__iter__")
    def _iter(self, tx: Tx) -> VariableTracker:
        return DictIteratorVariable(tx, self, "keys")

    @pymethod("get")
    def _get(self, tx: Tx, key: VariableTracker, default: VariableTracker | None = None) -> VariableTracker:
        k = hash_key(tx, key, self._items)
        if self.has_key(k, reading=True):
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
        self._items[hash_key(tx, key, self._items)] = value
        return tx.wrap_const(None)

    @pymethod("__delitem__")
    def _delitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        k = hash_key(tx, key, self._items)
        if not self.has_key(k):
            raise UserCodeError(KeyError(k))
        self._mutate(tx, "__delitem__")
        del self._items[k]
        return tx.wrap_const(None)

    @pymethod("pop")
    def _pop(self, tx: Tx, key: VariableTracker, default: VariableTracker | None = None) -> VariableTracker:
        k = hash_key(tx, key, self._items)
        if not self.has_key(k, reading=True):
            if default is None:
                raise UserCodeError(KeyError(k))
            return default
        self._mutate(tx, "pop")
        vt = self.value(k)
        del self._items[k]
        return vt

    @pymethod("setdefault")
    def _setdefault(self, tx: Tx, key: VariableTracker, default: VariableTracker | None = None) -> VariableTracker:
        k = hash_key(tx, key, self._items)
        if not self.has_key(k, reading=True):
            self._mutate(tx, "setdefault")
            self._items[k] = default if default is not None else tx.wrap_const(None)
        return self.value(k)

    @pymethod("update")
    def _update(self, tx: Tx, other: VariableTracker | None = None, /, **kwargs: VariableTracker) -> VariableTracker:
        self._mutate(tx, "update")
        contents = getattr(other, "contents", None)
        if isinstance(contents, DictVariable) and other.python_type().__iter__ is dict.__iter__:
            other = contents          # a dict subclass: CPython copies its storage (dict_merge's fast path)
        if isinstance(other, DictVariable):
            for k in other.keys():
                self._items[k] = other.value(k)
        elif other is not None and _has_keys(other):        # a mapping: CPython reads its keys(), then each
            for k in other.call_method(tx, "keys", [], {}).unpack(tx):
                self._items[hash_key(tx, k, self._items)] = other.call_method(tx, "__getitem__", [k], {})
        elif other is not None:
            for pair in other.unpack(tx):
                k, v = pair.unpack(tx)
                self._items[hash_key(tx, k, self._items)] = v
        self._items.update(kwargs)
        return tx.wrap_const(None)

    @pymethod("clear")
    def _clear(self, tx: Tx) -> VariableTracker:
        if self.keys():
            self._mutate(tx, "clear")
            self._items.clear()                     # in place: a live iterator of the dict reads this object
        return tx.wrap_const(None)

    @pymethod("popitem")
    def _popitem(self, tx: Tx, last: VariableTracker | None = None) -> VariableTracker:
        """``d.popitem()``: the last pair (LIFO); ``OrderedDict.popitem(last=False)``: the first."""
        ordered = issubclass(self.py_type, collections.OrderedDict)
        if last is not None and not ordered:
            raise UserCodeError(TypeError("dict.popitem() takes no keyword arguments"))
        keys = self.keys()
        if not keys:
            raise UserCodeError(KeyError("dictionary is empty" if ordered else "popitem(): dictionary is empty"))
        k = keys[-1] if last is None or last.truth(tx) else keys[0]
        self._mutate(tx, "popitem")
        vt = self.value(k)
        del self._items[k]
        return TupleVariable([key_tracker(tx, k), vt])

    @pymethod("__init__")
    def _init(self, tx: Tx, other: VariableTracker | None = None, /, **kwargs: VariableTracker) -> VariableTracker:
        """``dict.__init__(d, ...)`` (a dict subclass's ``super().__init__``)."""
        if self._items:
            self._mutate(tx, "__init__")
        return self._update(tx, other, **kwargs)

    @pymethod("copy")
    def _copy(self, tx: Tx) -> VariableTracker:
        py_type = dict if self.py_type is types.MappingProxyType else self.py_type
        return DictVariable({k: self._items[k] for k in self.keys()}, py_type, default_factory=self.default_factory)

    @pymethod("move_to_end")
    def _move_to_end(self, tx: Tx, key: VariableTracker, last: VariableTracker | None = None) -> VariableTracker:
        """``OrderedDict.move_to_end(key, last=True)``: a mutation; the new order depends on every
        key, so a dict from a source guards its key set."""
        self._check_ordered("move_to_end")
        k = hash_key(tx, key, self._items)
        if k not in self.keys():
            raise UserCodeError(KeyError(key.as_constant() if key.is_constant() else k))
        self._mutate(tx, "move_to_end")
        vt = self._items.pop(k)
        if last is None or last.truth(tx):
            self._items[k] = vt
        else:
            rest = list(self._items.items())       # in place: a live iterator of the dict reads this object
            self._items.clear()
            self._items[k] = vt
            self._items.update(rest)
        return tx.wrap_const(None)

    def _check_ordered(self, name: str) -> None:
        """Methods only OrderedDict has (CPython: Objects/odictobject.c)."""
        if not issubclass(self.py_type, collections.OrderedDict):
            raise UserCodeError(AttributeError(f"'{self.py_type.__name__}' object has no attribute '{name}'"))

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name == "default_factory" and self.default_factory is not None:
            return self.default_factory
        if name in _ORDERED_ONLY:
            self._check_ordered(name)
        return super().var_getattr(tx, name)

    def describe(self) -> str:
        where = f" from {self.source.name()}" if self.source is not None else ""
        return f"a {self.py_type.__name__} with keys {list(self._items)!r}{where}"


_ORDERED_ONLY = frozenset({"move_to_end"})


class DictViewVariable(VariableTracker):
    """``d.keys()``, ``d.values()`` or ``d.items()``: a live view of a DictVariable."""

    def __init__(self, d: DictVariable, kind: str) -> None:
        super().__init__(None)
        self.d = d
        self.kind = kind

    def python_type(self) -> type:
        return type(getattr({}, self.kind)())

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        keys = self.d.keys()
        if self.kind == "keys":
            return [key_tracker(tx, k) for k in keys]
        if self.kind == "values":
            return [self.d.value(k) for k in keys]
        return [TupleVariable([key_tracker(tx, k), self.d.value(k)]) for k in keys]

    def is_constant(self) -> bool:
        return self.d.is_constant()

    def as_constant(self) -> Any:
        return getattr(self.d.as_constant(), self.kind)()

    def truth(self, tx: Tx) -> bool:
        return bool(self.d.keys())  # the whole key set is observed

    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(len(self.d.keys()))

    @pymethod("__iter__")
    def _iter(self, tx: Tx) -> VariableTracker:
        return DictIteratorVariable(tx, self.d, self.kind)

    @pymethod("__contains__")
    def _contains(self, tx: Tx, item: VariableTracker) -> VariableTracker:
        if self.kind == "keys":
            return self.d._contains(tx, item)
        return contains_item(tx, self.unpack(tx), item)

    def binary_op(self, tx: Tx, op: str, other: VariableTracker, reflected: bool) -> Any:
        """``d.keys() & other``, ``|``, ``-``, ``^`` and comparisons: a keys or items view is a set
        of its items there (CPython's dictviews_and... build a set of the view first)."""
        if self.kind == "values" or op.startswith("i"):
            return NotImplemented
        if isinstance(other, DictViewVariable) and other.kind != "values":
            other = SetVariable.of(tx, other.unpack(tx))
        if not isinstance(other, SetVariable):
            return NotImplemented
        return SetVariable.of(tx, self.unpack(tx)).binary_op(tx, op, other, reflected)

    def reconstruct(self, cg: Any) -> None:
        cg.reconstruct(self.d)
        cg.load_method_call(self.kind, 0)


class SetVariable(VariableTracker):
    """A set (or frozenset) created while tracing, or a set of constants from a source."""
    identity_matters = True

    def __init__(self, items: dict[Hashable, VariableTracker], py_type: type = set, source: Any = None) -> None:
        super().__init__(source)
        self.py_type = py_type
        self._items = dict(items)

    @classmethod
    def of(cls, tx: Tx, items: list[VariableTracker], py_type: type = set) -> "SetVariable":
        out = cls({}, py_type)
        for vt in items:
            out._items.setdefault(hash_key(tx, vt, out._items), vt)
        return out

    def python_type(self) -> type:
        return self.py_type

    def _order(self) -> list[Hashable]:
        keys = list(self._items)
        if all(not isinstance(k, IdentityKey) for k in keys):
            return list(self.py_type(keys))     # the iteration order of a real set of these values
        return keys

    def is_constant(self) -> bool:
        return not any(isinstance(k, IdentityKey) for k in self._items)

    def as_constant(self) -> Any:
        if any(isinstance(k, IdentityKey) for k in self._items):
            raise NotConstant("set of objects")
        return self.py_type(self._items)

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        return [self._items[k] for k in self._order()]

    def truth(self, tx: Tx) -> bool:
        return bool(self._items)

    def _mutate(self, tx: Tx, what: str) -> None:
        if self.py_type is frozenset:
            raise UserCodeError(AttributeError(f"'frozenset' object has no attribute '{what}'"))
        if self.source is not None:
            tx.mutation(self, f"set.{what}")
        else:
            tx.local_mutation(self, f"set.{what}")

    def binary_op(self, tx: Tx, op: str, other: VariableTracker, reflected: bool) -> Any:
        if not isinstance(other, SetVariable):
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        inplace = op.startswith("i") and op[1:] in ("or", "and", "sub", "xor")
        name = op[1:] if inplace else op
        keys = {"or": lambda: {**a._items, **b._items},
                "and": lambda: {k: v for k, v in a._items.items() if k in b._items},
                "sub": lambda: {k: v for k, v in a._items.items() if k not in b._items},
                "xor": lambda: {**{k: v for k, v in a._items.items() if k not in b._items},
                                **{k: v for k, v in b._items.items() if k not in a._items}}}.get(name)
        if keys is not None:
            result = keys()
            if inplace:
                self._mutate(tx, f"__{op}__")
                self._items.clear()                 # in place: a live iterator of the set reads this object
                self._items.update(result)
                return self
            return SetVariable(result, a.py_type)
        if op in ("eq", "ne", "le", "lt", "ge", "gt"):
            return tx.wrap_const(getattr(operator, op)(set(a._items), set(b._items)))
        return NotImplemented

    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(len(self._items))

    @pymethod("__contains__")
    def _contains(self, tx: Tx, item: VariableTracker) -> VariableTracker:
        return tx.wrap_const(hash_key(tx, item, self._items) in self._items)

    @pymethod("__iter__")
    def _iter(self, tx: Tx) -> VariableTracker:
        return SetIteratorVariable(self)

    @pymethod("add")
    def _add(self, tx: Tx, item: VariableTracker) -> VariableTracker:
        self._mutate(tx, "add")
        self._items.setdefault(hash_key(tx, item, self._items), item)
        return tx.wrap_const(None)

    @pymethod("update")
    def _update(self, tx: Tx, *others: VariableTracker) -> VariableTracker:
        self._mutate(tx, "update")
        for other in others:
            for vt in other.unpack(tx):
                self._items.setdefault(hash_key(tx, vt, self._items), vt)
        return tx.wrap_const(None)

    @pymethod("discard", "remove")
    def _discard(self, tx: Tx, item: VariableTracker) -> VariableTracker:
        k = hash_key(tx, item, self._items)
        if k not in self._items:
            return tx.wrap_const(None)
        self._mutate(tx, "discard")
        del self._items[k]
        return tx.wrap_const(None)

    @pymethod("union")
    def _union(self, tx: Tx, *others: VariableTracker) -> VariableTracker:
        out = SetVariable(self._items, self.py_type)
        for other in others:
            for vt in other.unpack(tx):
                out._items.setdefault(hash_key(tx, vt, out._items), vt)
        return out

    @pymethod("copy")
    def _copy(self, tx: Tx) -> VariableTracker:
        return SetVariable(self._items, self.py_type)

    # the named forms of the operators, over any iterables (CPython takes them as sets)
    def _as_set(self, tx: Tx, other: VariableTracker) -> "SetVariable":
        return other if isinstance(other, SetVariable) else SetVariable.of(tx, other.unpack(tx))

    def _apply(self, tx: Tx, op: str, others: tuple[VariableTracker, ...]) -> VariableTracker:
        out: VariableTracker = self if op.startswith("i") else SetVariable(self._items, self.py_type)
        for other in others:
            out = out.binary_op(tx, op, self._as_set(tx, other), False)
        return tx.wrap_const(None) if op.startswith("i") else out

    @pymethod("intersection")
    def _intersection(self, tx: Tx, *others: VariableTracker) -> VariableTracker:
        return self._apply(tx, "and", others)

    @pymethod("difference")
    def _difference(self, tx: Tx, *others: VariableTracker) -> VariableTracker:
        return self._apply(tx, "sub", others)

    @pymethod("symmetric_difference")
    def _symmetric_difference(self, tx: Tx, other: VariableTracker) -> VariableTracker:
        return self._apply(tx, "xor", (other,))

    @pymethod("intersection_update")
    def _intersection_update(self, tx: Tx, *others: VariableTracker) -> VariableTracker:
        return self._apply(tx, "iand", others)

    @pymethod("difference_update")
    def _difference_update(self, tx: Tx, *others: VariableTracker) -> VariableTracker:
        return self._apply(tx, "isub", others)

    @pymethod("symmetric_difference_update")
    def _symmetric_difference_update(self, tx: Tx, other: VariableTracker) -> VariableTracker:
        return self._apply(tx, "ixor", (other,))

    @pymethod("issubset")
    def _issubset(self, tx: Tx, other: VariableTracker) -> VariableTracker:
        return tx.wrap_const(all(k in self._as_set(tx, other)._items for k in self._items))

    @pymethod("issuperset")
    def _issuperset(self, tx: Tx, other: VariableTracker) -> VariableTracker:
        return tx.wrap_const(all(k in self._items for k in self._as_set(tx, other)._items))

    @pymethod("isdisjoint")
    def _isdisjoint(self, tx: Tx, other: VariableTracker) -> VariableTracker:
        return tx.wrap_const(not any(k in self._items for k in self._as_set(tx, other)._items))

    @pymethod("pop")
    def _pop(self, tx: Tx) -> VariableTracker:
        """An arbitrary item: the first in the set's iteration order, as CPython's."""
        if not self._items:
            raise UserCodeError(KeyError("pop from an empty set"))
        self._mutate(tx, "pop")
        return self._items.pop(self._order()[0])

    @pymethod("clear")
    def _clear(self, tx: Tx) -> VariableTracker:
        self._mutate(tx, "clear")
        self._items.clear()
        return tx.wrap_const(None)

    def replay_values(self) -> list[VariableTracker]:
        return list(self._items.values())

    def replay(self, cg: Any) -> None:
        """``src.clear(); src.update({...})``."""
        def build() -> None:
            cg.begin_build(set)
            for vt in self._items.values():
                cg.reconstruct(vt)
            cg.build(set, len(self._items))
        _clear_and_update(cg, self.source, build)

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        cg.begin_build(self.py_type)
        for vt in self.unpack(None):   # type: ignore[arg-type]
            cg.reconstruct(vt)
        cg.build(self.py_type, len(self._items))

    def describe(self) -> str:
        return f"a {self.py_type.__name__} of {len(self._items)}"


class DictIteratorAt:
    """A dict iterator handed on at a graph break: ``iter(view)`` advanced ``n`` steps, made at its
    first step. The transformed code builds the values it hands on *before* it writes the trace's
    side effects back (so that none is read after its source changed), and a real dict iterator
    made then would see the write-back as a change of size. This one remembers the size the dict
    had when the program made its iterator (``size``, known at trace time) and, as CPython's dict
    iterators do, raises ``RuntimeError`` at a step where the dict's size differs from it: a dict
    the trace grew before the break raises at the first step after it."""

    def __init__(self, view: Any, n: int, size: int) -> None:
        self.view, self.n, self.size = view, n, size
        self.it: Any = None

    def __iter__(self) -> "DictIteratorAt":
        return self

    def __next__(self) -> Any:
        if len(self.view) != self.size:
            raise RuntimeError("dictionary changed size during iteration")
        if self.it is None:
            self.it = iter(self.view)
            collections.deque(itertools.islice(self.it, self.n), maxlen=0)
        return next(self.it)

    def __length_hint__(self) -> int:
        return max(len(self.view) - self.n, 0) if self.it is None else operator.length_hint(self.it)


def dict_iterator_at(view: Any, n: int | None, size: int) -> Any:
    """The iterator of ``view`` (a dict or one of its views) resumed after ``n`` steps; None: one
    that ran out (and stays out)."""
    if n is None:
        return iter(())
    return DictIteratorAt(view, n, size)


class DictIteratorVariable(IteratorVariable):
    """``iter(d)``, ``iter(d.keys())``, ``iter(d.values())``, ``iter(d.items())``: it steps the
    dict as it stands, as CPython's dict iterators do (Objects/dictobject.c ``dictiter_iternext*``):
    a dict whose size changed since the iterator was made raises ``RuntimeError: dictionary changed
    size during iteration`` at the next step (and at every step after), and one whose keys were
    replaced at equal size raises "dictionary keys changed during iteration". The trace's dict
    tracker holds its keys in a real dict, in the real dict's order, so a real iterator over it
    gives exactly CPython's behaviour."""

    def __init__(self, tx: Tx, d: DictVariable, kind: str) -> None:
        super().__init__([], type(iter(getattr({}, kind)())))
        self.d = d
        self.kind = kind
        d.keys()                                # iteration sees the whole key set: guarded
        self._keys = iter(d._items)
        self.size = len(d._items)               # (CPython's ``di_used``: the size it was made at)
        self._key = lambda k: key_tracker(tx, k)
        self.exhausted = False

    def next_item(self, tx: Tx) -> VariableTracker | None:
        if self.exhausted:
            return None
        try:
            k = next(self._keys)
        except StopIteration:
            self.exhausted = True
            return None
        except RuntimeError as e:
            raise UserCodeError(RuntimeError(*e.args)) from None
        self.index += 1
        return self._item(k)

    def _item(self, k: Hashable) -> VariableTracker:
        if self.kind == "keys":
            return self._key(k)
        if self.kind == "values":
            return self.d.value(k)
        return TupleVariable([self._key(k), self.d.value(k)])

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        rest = []
        while (vt := self.next_item(tx)) is not None:
            rest.append(vt)
        return rest

    @property
    def items(self) -> list[VariableTracker]:
        """Every item of the dict as it stands (``items[index:]`` are the ones still to come)."""
        return [self._item(k) for k in self.d._items]

    @items.setter
    def items(self, items: list[VariableTracker]) -> None:
        pass                       # (IteratorVariable.__init__): the items are the dict's

    def reconstruct(self, cg: Any) -> None:
        """The dict's iterator (of the same view), advanced as far as tracing did (DictIteratorAt)."""
        cg.push_callable(dict_iterator_at)
        cg.reconstruct(self.d)
        if self.kind != "keys":
            cg.load_method_call(self.kind, 0)
        cg.load_const(None if self.exhausted else self.index)
        cg.load_const(self.size)       # (a dict whose size changed since raises at the next step: fuzz seed 1483)
        cg.call(3)


class SetIteratorVariable(IteratorVariable):
    """``iter(s)`` of a set: the members in the order the set had when the iterator was made; a
    set whose size changed since raises ``RuntimeError: Set changed size during iteration`` at the
    next step, as CPython's (Objects/setobject.c ``setiter_iternext``)."""

    def __init__(self, s: "SetVariable") -> None:
        super().__init__(s.unpack(None), type(iter(set())))
        self.s = s
        self.size = len(s._items)

    def next_item(self, tx: Tx) -> VariableTracker | None:
        if self.size != len(self.s._items):
            self.size = -1                  # sticky, as CPython's
            raise UserCodeError(RuntimeError("Set changed size during iteration"))
        return super().next_item(tx)
