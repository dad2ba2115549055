"""Sequences and iterators: ListVariable, TupleVariable, IteratorVariable.

Items may be lazy (``LazyVariableTracker``) when the container came from a source: an item
is built, and guarded, only when the traced code reads it. Every access goes through
``item(i)`` / ``realized()``, never the raw list.

A list created during tracing is mutated in place (it is this tracker's own object). A
list that existed before the call is not: mutating it is a side effect (``tx.mutation``).
"""

from __future__ import annotations

import collections
import inspect
import itertools
import operator
import types
from typing import Any, Callable, Iterable, Iterator

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from .base import BoundMethodVariable, NotConstant, Tx, VariableTracker, fold, pymethod
from .constant import ConstantVariable


def _user_error(exc: Exception) -> UserCodeError:
    return UserCodeError(exc)


def derived_type(a: type, b: type | None = None) -> type | None:
    """The type of a sequence made from ``a`` (and ``b``) by slicing, ``+`` or ``*``, as CPython
    and torch make it; None where CPython raises TypeError (list + tuple). A torch.Size stays a
    Size, even with a plain tuple on either side (its ``__getitem__``, ``__add__``, ``__radd__``,
    ``__mul__``, ``__rmul__`` say so); any other tuple subclass (named tuple, structseq) gives a
    plain tuple; lists and deques give their own type."""
    b = a if b is None else b
    if issubclass(a, tuple) and issubclass(b, tuple):
        return torch.Size if torch.Size in (a, b) else tuple
    return a if a is b else None


def _constant_sequence(vt: VariableTracker) -> bool:
    """A constant list or tuple (a torch.Size read from a static tensor, ``(4, 3)``): the other
    operand of ``seq + other`` and of comparisons, which CPython does item by item."""
    return vt.is_constant() and isinstance(vt.as_constant(), (list, tuple))


def _sequence_operand(tx: Tx, vt: VariableTracker) -> tuple[list[VariableTracker], type] | None:
    """The items and type of the other operand of ``seq + other``, if it is a list or tuple
    (a tracked one, or a constant such as ``(1,)``)."""
    if isinstance(vt, BaseListVariable):
        return list(vt._items), vt.py_type
    if _constant_sequence(vt):
        value = vt.as_constant()
        return [tx.wrap_const(v) for v in value], type(value)
    return None


def _same_kind(a: type, b: type) -> bool:
    """Two sequences CPython compares item by item: both tuples (torch.Size is one) or both lists."""
    return issubclass(a, tuple) and issubclass(b, tuple) or issubclass(a, list) and issubclass(b, list)


def _compare_items(tx: Tx, op: str, a: list[VariableTracker], b: list[VariableTracker]) -> bool:
    """``a <op> b`` for two tuples or two lists, as CPython's tuplerichcompare/list_richcompare do
    it: the first position whose items are not equal (identity first, then ``==``'s truth)
    decides, else the lengths. Symbolic sizes compare without a guard when the ShapeEnv can
    decide (``attn.size() != (bsz * heads, tgt, src)``): not by first making them constants."""
    from .ops import binary

    for x, y in zip(a, b):
        if x is y or binary(tx, "eq", x, y).truth(tx):
            continue
        if op in ("eq", "ne"):
            return op == "ne"
        return binary(tx, op, x, y).truth(tx)
    return getattr(operator, op)(len(a), len(b))


class BaseListVariable(VariableTracker):
    py_type: type = list

    def __init__(self, items: list[VariableTracker], source: Any = None) -> None:
        super().__init__(source)
        self._items = list(items)

    # -- access ------------------------------------------------------------------------
    def item(self, i: int) -> VariableTracker:
        vt = self._items[i].realize()
        self._items[i] = vt
        return vt

    def realized(self) -> list[VariableTracker]:
        return [self.item(i) for i in range(len(self._items))]

    def __len__(self) -> int:
        return len(self._items)

    def new(self, items: list[VariableTracker]) -> "BaseListVariable":
        """A container of the same kind, created during tracing."""
        return type(self)(items)

    # -- tracker protocol --------------------------------------------------------------
    def python_type(self) -> type:
        return self.py_type

    def is_constant(self) -> bool:
        return all(vt.is_constant() for vt in self.realized())      # never specializes a symbolic item

    def as_constant(self) -> Any:
        return self.py_type(vt.as_constant() for vt in self.realized())

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        return self.realized()

    def truth(self, tx: Tx) -> bool:
        return bool(self._items)

    def as_graph_arg(self) -> tuple[Any, Any]:
        pairs = [vt.as_graph_arg() for vt in self.realized()]
        node_type = self.py_type if self.py_type in (list, tuple) else tuple    # torch.Size of nodes: a tuple
        return node_type(p[0] for p in pairs), self.py_type(p[1] for p in pairs)

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        try:
            k = key.as_constant()
        except NotConstant:
            raise Unsupported(breaks.DYNAMIC_CONTROL, f"indexing {self.describe()} with {key.describe()}") from None
        if isinstance(k, slice):
            return self.new([self._items[i] for i in range(*k.indices(len(self._items)))])
        try:
            index = operator.index(k)
            self._items[index]
        except (TypeError, IndexError) as e:
            what = self.py_type.__name__
            raise _user_error(type(e)(f"{what} index out of range" if isinstance(e, IndexError)
                                      else f"{what} indices must be integers or slices, not {type(k).__name__}")) from e
        return self.item(index)

    def binary_op(self, tx: Tx, op: str, other: VariableTracker, reflected: bool) -> Any:
        if op == "add":
            found = _sequence_operand(tx, other)
            result_type = derived_type(self.py_type, found[1]) if found is not None else None
            if result_type is not None:
                a, b = (found[0], self._items) if reflected else (self._items, found[0])
                if issubclass(result_type, tuple):
                    return TupleVariable(a + b, py_type=result_type)
                return self.new(a + b)
        if op == "mul" and other.python_type() is int:
            return self.new(self._items * other.as_constant())      # a symbolic count specializes
        if op in ("eq", "ne", "lt", "le", "gt", "ge") and (isinstance(other, BaseListVariable) or _constant_sequence(other)):
            found = _sequence_operand(tx, other)
            if found is not None and _same_kind(self.py_type, found[1]) and not (
                    all(vt.is_constant() for vt in self.realized()) and other.is_constant()):
                a, b = (found[0], self.realized()) if reflected else (self.realized(), found[0])
                return tx.wrap_const(_compare_items(tx, op, a, b))
            try:
                a, b = self.as_constant(), other.as_constant()
            except NotConstant:
                return NotImplemented
            a, b = (b, a) if reflected else (a, b)
            return fold(tx, getattr(operator, op), a, b)
        return NotImplemented

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None:      # mutations of it were replayed before anything is rebuilt
            self.source.reconstruct(cg)
            return
        cg.begin_build(self.py_type)
        for vt in self.realized():
            cg.reconstruct(vt)
        cg.build(self.py_type, len(self._items))

    # -- methods shared by list and tuple ------------------------------------------------
    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(len(self._items))

    @pymethod("__getitem__")
    def _getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return self.getitem(tx, key)

    @pymethod("__contains__")
    def _contains(self, tx: Tx, value: VariableTracker) -> VariableTracker:
        return contains_item(tx, self.realized(), value)

    @pymethod("index")
    def _index(self, tx: Tx, value: VariableTracker) -> VariableTracker:
        from .ops import compare

        for i, vt in enumerate(self.realized()):
            if vt is value or compare(tx, "eq", vt, value).truth(tx):
                return tx.wrap_const(i)
        raise _user_error(ValueError(f"{value.describe()} is not in {self.py_type.__name__}"))

    @pymethod("count")
    def _count(self, tx: Tx, value: VariableTracker) -> VariableTracker:
        from .ops import compare

        return tx.wrap_const(sum(1 for vt in self.realized() if vt is value or compare(tx, "eq", vt, value).truth(tx)))

    def describe(self) -> str:
        where = f" from {self.source.name()}" if self.source is not None else ""
        return f"a {self.py_type.__name__} of {len(self._items)}{where}"


class TupleVariable(BaseListVariable):
    """A tuple; also a named tuple or structseq (``torch.return_types.max``) when ``py_type``
    says so, whose fields read by name."""

    py_type = tuple

    def __init__(self, items: list[VariableTracker], source: Any = None, py_type: type = tuple) -> None:
        super().__init__(items, source)
        self.py_type = py_type

    def new(self, items: list[VariableTracker]) -> "BaseListVariable":
        """A slice or repetition: a torch.Size stays a Size, other tuples become plain tuples."""
        return TupleVariable(items, py_type=derived_type(self.py_type))

    def fields(self) -> tuple[str, ...]:
        return getattr(self.py_type, "_fields", None) or getattr(self.py_type, "__match_args__", ())

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name in self.fields():
            return self.item(self.fields().index(name))
        if name == "numel" and self.py_type is torch.Size:     # a Size with symbolic items
            return BoundMethodVariable(self, name)
        if self.py_type is not tuple and hasattr(self.py_type, name):
            # named tuple class members: _fields, _asdict, _replace, user methods (the type is guarded)
            from .functions import UserMethodVariable

            attr = getattr(self.py_type, name)
            raw = inspect.getattr_static(self.py_type, name)
            if isinstance(raw, types.FunctionType):
                return UserMethodVariable(tx.wrap_const(raw), self)
            if isinstance(raw, classmethod):
                return UserMethodVariable(tx.wrap_const(raw.__func__), tx.wrap_const(self.py_type))
            if not callable(attr):
                return tx.wrap_const(attr)
        return super().var_getattr(tx, name)

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker],
                    kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if name == "numel" and self.py_type is torch.Size and not args and not kwargs:
            from .ops import binary

            total = tx.wrap_const(1)
            for vt in self.realized():      # symbolic items multiply in the graph
                total = binary(tx, "mul", total, vt)
            return total
        return super().call_method(tx, name, args, kwargs)

    def as_constant(self) -> Any:
        values = [vt.as_constant() for vt in self.realized()]
        if self.py_type is tuple:
            return tuple(values)
        return self.py_type(*values) if hasattr(self.py_type, "_fields") else self.py_type(values)

    def __repr__(self) -> str:
        return f"TupleVariable({self._items!r})"


def _mutator(fn: Callable) -> Callable:
    """Marks a list method that changes the list: allowed on lists created while tracing;
    on a pre-existing list it is a side effect the translator must record."""
    def wrapper(self: "ListVariable", tx: Tx, *args: Any, **kwargs: Any) -> VariableTracker:
        if self.source is not None:
            tx.mutation(self, f"list.{fn.__name__.lstrip('_')}")
        else:
            tx.local_mutation(self, f"list.{fn.__name__.lstrip('_')}")
        return fn(self, tx, *args, **kwargs)
    wrapper.__name__ = fn.__name__
    if hasattr(fn, "__pymethods__"):
        wrapper.__pymethods__ = fn.__pymethods__   # type: ignore[attr-defined]
    return wrapper


class ListVariable(BaseListVariable):
    """A list. One from outside the frame may leave its length unguarded until the trace
    looks at its contents (``length_unread``: installs the length guard when first called):
    a list the frame only appends to (a log, a history of losses) is then written back by
    ``list.extend`` of what was appended, and a longer list on the next call still hits."""

    identity_matters = True

    py_type = list
    _length_unread: Callable[[], None] | None = None
    _input_length = 0

    @property
    def _items(self) -> list[VariableTracker]:
        if self._length_unread is not None:
            guard, self._length_unread = self._length_unread, None
            guard()
        return self._raw

    @_items.setter
    def _items(self, items: list[VariableTracker]) -> None:
        self._raw = items

    def leave_length_unread(self, guard: Callable[[], None]) -> None:
        self._length_unread = guard
        self._input_length = len(self._raw)

    @pymethod("append")
    @_mutator
    def _append(self, tx: Tx, value: VariableTracker) -> VariableTracker:
        self._raw.append(value)
        return tx.wrap_const(None)

    @pymethod("extend")
    @_mutator
    def _extend(self, tx: Tx, values: VariableTracker) -> VariableTracker:
        """Each item is appended as the iterator gives it, as CPython's list_extend does: a generator
        that appends to this list itself interleaves its items with its own (fuzz seed 32000)."""
        for vt in each_item(tx, values):
            self._raw.append(vt)
        return tx.wrap_const(None)

    @pymethod("__init__")
    def _init(self, tx: Tx, values: VariableTracker | None = None) -> VariableTracker:
        """``list.__init__(lst, iterable)`` (a list subclass's ``super().__init__``)."""
        self._clear(tx)
        if values is not None:
            self._extend(tx, values)
        return tx.wrap_const(None)

    def replay(self, cg: Any) -> None:
        """The list's new contents, through ``list``'s own methods (a subclass's overrides not run);
        only what was appended, if the trace never read the list (its length is not guarded)."""
        from .dicts import replace_contents

        if self._length_unread is not None:
            appended = self.replay_values()
            cg.push_callable(list.extend)
            cg.load_source(self.source)
            cg.begin_build(list)
            for vt in appended:
                cg.reconstruct(vt)
            cg.build(list, len(appended))
            cg.call(2)
            cg.emit("POP_TOP")
            return
        cg.push_callable(replace_contents)
        cg.load_source(self.source)
        cg.begin_build(list)
        for vt in self.realized():
            cg.reconstruct(vt)
        cg.build(list, len(self._items))
        cg.call(2)
        cg.emit("POP_TOP")

    def replay_values(self) -> list[VariableTracker]:
        return list(self._raw[self._input_length:]) if self._length_unread is not None else self.realized()

    @pymethod("__iadd__")
    def _iadd(self, tx: Tx, values: VariableTracker) -> VariableTracker:
        self._extend(tx, values)
        return self

    @pymethod("__imul__")
    @_mutator
    def _imul(self, tx: Tx, count: VariableTracker) -> VariableTracker:
        self._items *= count.as_constant()      # a symbolic count specializes
        return self

    def binary_op(self, tx: Tx, op: str, other: VariableTracker, reflected: bool) -> Any:
        """``lst += it`` and ``lst *= n`` change the list itself (``list.__iadd__``/``__imul__``)."""
        if op == "iadd" and not reflected:
            return self._iadd(tx, other)
        if op == "imul" and not reflected and other.python_type() is int:
            return self._imul(tx, other)
        return super().binary_op(tx, op, other, reflected)

    @pymethod("insert")
    @_mutator
    def _insert(self, tx: Tx, index: VariableTracker, value: VariableTracker) -> VariableTracker:
        self._items.insert(index.as_constant(), value)
        return tx.wrap_const(None)

    @pymethod("pop")
    @_mutator
    def _pop(self, tx: Tx, index: VariableTracker | None = None) -> VariableTracker:
        if not self._items:
            raise _user_error(IndexError("pop from empty list"))
        i = -1 if index is None else index.as_constant()
        vt = self.item(i)
        del self._items[i]
        return vt

    @pymethod("remove")
    @_mutator
    def _remove(self, tx: Tx, value: VariableTracker) -> VariableTracker:
        i = self._index(tx, value).as_constant()
        del self._items[i]
        return tx.wrap_const(None)

    @pymethod("clear")
    @_mutator
    def _clear(self, tx: Tx) -> VariableTracker:
        self._items.clear()
        return tx.wrap_const(None)

    @pymethod("reverse")
    @_mutator
    def _reverse(self, tx: Tx) -> VariableTracker:
        self._items.reverse()
        return tx.wrap_const(None)

    @pymethod("sort")
    @_mutator
    def _sort(self, tx: Tx, key: VariableTracker | None = None, reverse: VariableTracker | None = None) -> VariableTracker:
        self._items[:] = sort_trackers(tx, self.realized(), key, reverse)
        return tx.wrap_const(None)

    @pymethod("__setitem__")
    @_mutator
    def _setitem(self, tx: Tx, key: VariableTracker, value: VariableTracker) -> VariableTracker:
        k = key.as_constant()
        if isinstance(k, slice):
            self._items[k] = value.unpack(tx)
        else:
            self._items[k] = value
        return tx.wrap_const(None)

    @pymethod("__delitem__")
    @_mutator
    def _delitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        del self._items[key.as_constant()]
        return tx.wrap_const(None)

    @pymethod("copy")
    def _copy(self, tx: Tx) -> VariableTracker:
        return ListVariable(list(self._items))

    def __repr__(self) -> str:
        return f"ListVariable({self._items!r})"


def advance_iterator(it: Any, n: int) -> None:
    for _ in range(n):
        next(it)


# -- escaping iterators, rebuilt at run time from the items they still have to produce ----------------
def _range_iterator(items: list[int]) -> Any:
    """The remaining items of a range iterator are an arithmetic progression."""
    start, step = (items[0], items[1] - items[0] if len(items) > 1 else 1) if items else (0, 1)
    return iter(range(start, start + step * len(items), step))


def _zip(rows: list[tuple]) -> Any:
    return zip(*zip(*rows))                        # rows -> columns -> zip of the columns


def _enumerate(rows: list[tuple]) -> Any:
    return enumerate([v for _, v in rows], rows[0][0] if rows else 0)


def _identity(item: Any) -> Any:
    return item


def _keep(item: Any) -> bool:
    return True


# iterator type -> run-time constructor from the remaining items (a list), through the builtin that
# makes that type, so an escaping iterator keeps it; any other kind becomes ``iter(list)``
REBUILD: dict[type, Callable[[list], Any]] = {
    type(iter([])): iter,
    type(iter(())): lambda items: iter(tuple(items)),
    type(iter(range(0))): _range_iterator,
    type(reversed([])): lambda items: reversed(items[::-1]),
    reversed: lambda items: reversed(tuple(items[::-1])),
    zip: _zip,
    enumerate: _enumerate,
    map: lambda items: map(_identity, items),
    filter: lambda items: filter(_keep, items),
    type(iter({})): lambda items: iter(dict.fromkeys(items)),
    itertools.chain: lambda items: itertools.chain(items),
}


def contains_item(tx: Tx, items: Iterable[VariableTracker], item: VariableTracker) -> VariableTracker:
    """``item in ...`` over ``items`` as CPython searches a sequence or an iterator: identity first,
    then the truth of ``==``, stopping at the first match (what an iterator has left stays)."""
    from .ops import compare        # (ops compares sequences through this module)

    return tx.wrap_const(any(vt is item or compare(tx, "eq", vt, item).truth(tx) for vt in items))


def each_item(tx: Tx, iterable: VariableTracker) -> Iterator[VariableTracker]:
    """The items of ``iterable`` one at a time, as CPython's consumers take them: an iterator (a
    generator's body) advances between the consumer's steps, so their ops interleave as in eager
    (``sum(y * i for i in ...)``: autograd then adds the gradients in eager's order; fuzz seed 5009),
    and a consumer that stops early (``any``, ``all``) leaves the rest of it unconsumed."""
    if isinstance(iterable, IteratorVariable):
        while (vt := iterable.advance(tx)) is not None:
            yield vt
    else:
        yield from iterable.unpack(tx)


def sort_trackers(tx: Tx, items: list[VariableTracker], key: VariableTracker | None,
                  reverse: VariableTracker | None) -> list[VariableTracker]:
    """``sorted(items, key=key, reverse=reverse)``: the key function is traced; keys known at
    trace time are sorted there; others (``sorted(d.items())`` with tensor values, whose distinct
    keys decide every comparison) through ``_TracedKey``, which makes each comparison CPython's sort
    makes, in its order, as ``a < b`` written out would (decided at trace time, guarded, or a
    break). The sort is stable, as CPython's."""
    keys = [tx.call(key, [vt], {}) if key is not None and not (key.is_constant() and key.as_constant() is None)
            else vt for vt in items]
    descending = bool(reverse.as_constant()) if reverse is not None else False
    try:
        values = [k.as_constant() for k in keys]
    except NotConstant:         # (a traced comparison raises the user's error itself)
        traced = [_TracedKey(tx, k) for k in keys]
        return [items[i] for i in sorted(range(len(items)), key=traced.__getitem__, reverse=descending)]
    try:
        order = sorted(range(len(items)), key=values.__getitem__, reverse=descending)
    except Exception as e:   # noqa: BLE001 - e.g. comparing str with int: the user's TypeError
        raise _user_error(e) from e
    return [items[i] for i in order]


class _TracedKey:
    """A sort key whose ``<`` is the traced comparison of the trackers (sort_trackers)."""

    __slots__ = ("tx", "vt")

    def __init__(self, tx: Tx, vt: VariableTracker) -> None:
        self.tx, self.vt = tx, vt

    def __lt__(self, other: "_TracedKey") -> bool:
        from . import ops       # (ops compares sequences through this module)

        return ops.compare(self.tx, "lt", self.vt, other.vt).truth(self.tx)


class IteratorVariable(VariableTracker):
    """An iterator over items known at trace time (from a list, tuple, range, dict, zip,
    enumerate, map...). It advances in place: one iterator object, one tracker.

    An iterator from outside the frame may give its items lazily (``pending``: a function
    that reads them, installing the guards on its sequence and position), so that one only
    passed along (a loop's iterator crossing a graph break) is not guarded on its position."""
    identity_matters = True

    @property
    def items(self) -> list[VariableTracker]:
        if self._pending is not None:
            read, self._pending = self._pending, None
            self._items = read()
        return self._items

    @items.setter
    def items(self, items: list[VariableTracker]) -> None:
        self._items = items

    _pending: Callable[[], list[VariableTracker]] | None = None

    def __init__(self, items: list[VariableTracker], py_type: type = type(iter([])), source: Any = None) -> None:
        super().__init__(source)
        self.items = items
        self.index = 0
        self.py_type = py_type

    def python_type(self) -> type:
        return self.py_type

    def advance(self, tx: Tx) -> VariableTracker | None:
        """The next item, or None when exhausted (``next()``, FOR_ITER)."""
        self.record_advance(tx)
        return self.next_item(tx)

    def record_advance(self, tx: Tx) -> None:
        """Advancing an iterator from outside the frame is a side effect: the real one is
        advanced after the graph."""
        if self.source is not None and not self.mutation_recorded:
            tx.mutation(self, "advancing an iterator")
            self.mutation_recorded = True
        elif self.source is None:
            tx.local_mutation(self, "advancing an iterator")

    def next_item(self, tx: Tx) -> VariableTracker | None:
        if self.source is not None and not self.mutation_recorded:
            raise Unsupported(breaks.SIDE_EFFECT, f"advancing the iterator {self.source.name()} from outside the frame")
        if self.index >= len(self.items):
            return None
        vt = self.items[self.index].realize()
        self.index += 1
        return vt

    mutation_recorded = False

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        if self.source is not None:
            tx.mutation(self, "consuming an iterator")
            self.mutation_recorded = True
        rest = [vt.realize() for vt in self.items[self.index:]]
        self.index = len(self.items)
        return rest

    @pymethod("__next__")
    def _next(self, tx: Tx) -> VariableTracker:
        vt = self.advance(tx)
        if vt is None:
            raise Unsupported(breaks.EXCEPTION_HANDLING, "StopIteration from next() on an exhausted iterator")
        return vt

    @pymethod("__iter__")
    def _iter(self, tx: Tx) -> VariableTracker:
        return self

    @pymethod("__contains__")
    def _contains(self, tx: Tx, item: VariableTracker) -> VariableTracker:
        """``item in it``: the iterator is stepped until an item equal to ``item``, as CPython's
        PySequence_Contains steps it; the rest is left for the program."""
        return contains_item(tx, each_item(tx, self), item)

    def replay(self, cg: Any) -> None:
        """Advance the real iterator as far as tracing did."""
        cg.push_callable(advance_iterator)
        cg.load_source(self.source)
        cg.load_const(self.index)
        cg.call(2)
        cg.emit("POP_TOP")

    def reconstruct(self, cg: Any) -> None:
        """An iterator that escapes is rebuilt from its remaining items by the builtin that made
        it (``REBUILD``: ``zip(*columns)``, ``enumerate(values, start)``...), keeping its type."""
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        cg.push_callable(REBUILD.get(self.py_type, iter))
        rest = [vt.realize() for vt in self.items[self.index:]]
        for vt in rest:
            cg.reconstruct(vt)
        cg.build(list, len(rest))
        cg.call(1)


def list_iterator_at(lst: list, n: int | None) -> Any:
    """``lst``'s iterator at position ``n``; None: one that ran out (and stays out)."""
    if n is None:
        it = iter(())
        next(it, None)
        return it
    it = iter(lst)
    size = len(lst)
    if n > size:            # past the end (the list shrank): setstate would clamp, so grow it a moment
        list.extend(lst, [None] * (n - size))
        it.__setstate__(n)
        list.__delitem__(lst, slice(size, None))
    else:
        it.__setstate__(n)
    return it


class ListIteratorVariable(IteratorVariable):
    """``iter(lst)`` of a list: it reads the list as it is at each step, as CPython's
    list_iterator does, so a loop that appends to (or pops from) the list it iterates sees
    the change."""

    def __init__(self, seq: "ListVariable") -> None:
        super().__init__([], type(iter([])))
        self.seq = seq
        self.exhausted = False     # once out, out for good (CPython drops the list)

    def next_item(self, tx: Tx) -> VariableTracker | None:
        if self.exhausted:
            return None
        vt = super().next_item(tx)
        self.exhausted = vt is None
        return vt

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        rest = [] if self.exhausted else super().unpack(tx)
        self.exhausted = True
        return rest

    @property
    def items(self) -> list[VariableTracker]:
        return self.seq._items

    @items.setter
    def items(self, items: list[VariableTracker]) -> None:
        pass                       # (IteratorVariable.__init__): the items are the list's

    def reconstruct(self, cg: Any) -> None:
        """The list's own iterator, advanced as far as tracing did."""
        cg.push_callable(list_iterator_at)
        cg.reconstruct(self.seq)
        cg.load_const(None if self.exhausted else self.index)
        cg.call(2)


def strict_zip(*iterables: Any) -> Any:
    """``zip(*iterables, strict=True)``: how an escaping strict zip is rebuilt."""
    return zip(*iterables, strict=True)


class CombinedIteratorVariable(IteratorVariable):
    """``enumerate(it)``, ``zip(*its)``, ``map(fn, *its)`` or ``filter(fn, it)`` over iterators it
    steps one item at a time, as CPython does: over a list (a ListIteratorVariable) it sees the
    list as the loop changes it; over a generator, the generator's code runs one item at a time;
    ``fn`` is called as each item is asked for. So what runs between the loop body's steps runs
    there, in CPython's order (a map whose function reads what the body changes, two generators
    zipped that append to one log)."""

    def __init__(self, inners: list[IteratorVariable], py_type: type, start: int = 0,
                 fn: VariableTracker | None = None, strict: bool = False) -> None:
        super().__init__([], py_type)
        self.inners = inners
        self.start = start
        self.fn = fn            # map's function; filter's predicate (None: the item's own truth)
        self.strict = strict    # zip(..., strict=True)
        self.done = False

    def next_item(self, tx: Tx) -> VariableTracker | None:
        while not self.done:
            values = []
            for i, inner in enumerate(self.inners):
                vt = inner.advance(tx)          # (an iterator from outside the frame: a recorded mutation)
                if vt is None:
                    self.done = True
                    if self.strict:
                        self._check_lengths(tx, i)
                    return None
                values.append(vt)
            self.index += 1
            if self.py_type is map:
                return tx.call(self.fn, values, {})
            if self.py_type is filter:
                test = values[0] if self.fn is None else tx.call(self.fn, values, {})
                if test.truth(tx):
                    return values[0]
                continue
            if self.py_type is enumerate:
                values.insert(0, ConstantVariable(self.start + self.index - 1))
            return TupleVariable(values)
        return None

    def _check_lengths(self, tx: Tx, stopped: int) -> None:
        """``zip(strict=True)`` when inner ``stopped`` ran out: CPython's check and words (a later
        one ran out first: shorter; the first ran out and a later one still has an item: longer)."""
        def plural(i: int) -> str:
            return " " if i == 1 else "s 1-"
        if stopped:
            raise UserCodeError(ValueError(
                f"zip() argument {stopped + 1} is shorter than argument{plural(stopped)}{stopped}"))
        for i, inner in enumerate(self.inners[1:], start=1):
            if inner.advance(tx) is not None:
                raise UserCodeError(ValueError(f"zip() argument {i + 1} is longer than argument{plural(i)}{i}"))

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        rest = []
        while (vt := self.next_item(tx)) is not None:
            rest.append(vt)
        return rest

    def reconstruct(self, cg: Any) -> None:
        """The same builtin over the inner iterators as they stand (an exhausted one over none:
        ``zip()``, ``enumerate(())``, ``map(fn, ())``)."""
        cg.push_callable(strict_zip if self.strict else self.py_type)
        args = 0
        if self.py_type in (map, filter):
            if self.fn is None:
                cg.load_const(None)
            else:
                cg.reconstruct(self.fn)
            args += 1
        if self.done:
            if self.py_type is not zip:
                cg.load_const(())
                args += 1
            cg.call(args)
            return
        for inner in self.inners:
            cg.reconstruct(inner)
        if self.py_type is enumerate:
            cg.load_const(self.start + self.index)
        cg.call(args + len(self.inners) + (self.py_type is enumerate))


class DequeVariable(ListVariable):
    """A ``collections.deque``: a list with fast ends and an optional ``maxlen``."""

    py_type = collections.deque

    def __init__(self, items: list[VariableTracker], source: Any = None, maxlen: int | None = None) -> None:
        super().__init__(items, source)
        self.maxlen = maxlen
        self._trim(left=True)

    def new(self, items: list[VariableTracker]) -> "BaseListVariable":
        return DequeVariable(items, maxlen=self.maxlen)

    def _trim(self, left: bool) -> None:
        while self.maxlen is not None and len(self._items) > self.maxlen:
            self._items.pop(0 if left else -1)

    def as_constant(self) -> Any:
        return collections.deque((vt.as_constant() for vt in self.realized()), self.maxlen)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        """``q.maxlen``: known at trace time (the "deque" rule guards it on a deque from a source)."""
        if name == "maxlen":
            return tx.wrap_const(self.maxlen)
        return super().var_getattr(tx, name)

    @pymethod("append")
    @_mutator
    def _append(self, tx: Tx, value: VariableTracker) -> VariableTracker:
        self._items.append(value)
        self._trim(left=True)
        return tx.wrap_const(None)

    @pymethod("appendleft")
    @_mutator
    def _appendleft(self, tx: Tx, value: VariableTracker) -> VariableTracker:
        self._items.insert(0, value)
        self._trim(left=False)
        return tx.wrap_const(None)

    @pymethod("extendleft")
    @_mutator
    def _extendleft(self, tx: Tx, values: VariableTracker) -> VariableTracker:
        for vt in values.unpack(tx):
            self._items.insert(0, vt)
        self._trim(left=False)
        return tx.wrap_const(None)

    @pymethod("popleft")
    @_mutator
    def _popleft(self, tx: Tx) -> VariableTracker:
        if not self._items:
            raise _user_error(IndexError("pop from an empty deque"))
        vt = self.item(0)
        del self._items[0]
        return vt

    @pymethod("rotate")
    @_mutator
    def _rotate(self, tx: Tx, n: VariableTracker | None = None) -> VariableTracker:
        """``q.rotate(n=1)``: ``n`` steps to the right (negative: to the left)."""
        steps = n.as_constant() if n is not None else 1
        if self._items:
            steps %= len(self._items)
            self._items[:] = self._items[-steps:] + self._items[:-steps] if steps else self._items
        return tx.wrap_const(None)

    def replay_values(self) -> list[VariableTracker]:
        return self.realized()

    def replay(self, cg: Any) -> None:
        """``src.clear(); src.extend([items])`` (items built first)."""
        from .dicts import replace_contents

        cg.push_callable(replace_contents)
        cg.load_source(self.source)
        cg.begin_build(list)
        for vt in self.realized():
            cg.reconstruct(vt)
        cg.build(list, len(self._items))
        cg.call(2)
        cg.emit("POP_TOP")

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        cg.push_callable(collections.deque)
        cg.begin_build(list)
        for vt in self.realized():
            cg.reconstruct(vt)
        cg.build(list, len(self._items))
        cg.load_const(self.maxlen)
        cg.call(2)
