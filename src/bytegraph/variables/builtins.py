"""BuiltinVariable: Python builtins (functions and builtin types) and ``operator``/``math`` functions.

Calls dispatch through ``HANDLERS``, a table keyed by the builtin object itself; a
builtin without a handler is recorded as its ``SYMBOLIC`` counterpart on a symbolic number
(``math.sqrt(n)`` -> ``torch._sym_sqrt``), folded at trace time when it is pure and every
argument is a constant, and is a graph break otherwise. A C function of the standard library with
a Python equivalent (``itertools.product``, ``functools.reduce``: ``polyfills.EQUIVALENTS``) is
that equivalent, traced; a method of a builtin type called through the type (``list.append(xs,
v)``, ``map(str.strip, names)``) is the object's own method.
"""

from __future__ import annotations

import builtins
import collections
import contextvars
import itertools
import math
import operator
import sys
import types
import warnings
from typing import Any, Callable

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..guards import GuardKind
from ..sources import AttrSource, CallerExceptionSource, TypeSource
from . import log_calls, ops, polyfills
from .base import LazyVariableTracker, NotConstant, Tx, VariableTracker, constant_args, fold
from .ctx import ExceptionVariable
from .dicts import DictVariable, DictViewVariable, SetVariable
from .functions import traced_equivalent
from .getters import GETTER_TYPES, make_getter
from .lists import (CombinedIteratorVariable, IteratorVariable, ListIteratorVariable, ListVariable, TupleVariable,
                    each_item, sort_trackers)

Handler = Callable[..., VariableTracker]
HANDLERS: dict[Any, Handler] = {}

# Builtins without side effects: folded when every argument is a constant.
PURE: frozenset[Any] = frozenset({
    abs, all, any, ascii, bin, bool, callable, chr, complex, divmod, float, format, hex,
    int, isinstance, issubclass, len, max, min, oct, ord, pow, repr, round, str, sum, tuple,
    bytes, slice, range, type,
    *[getattr(operator, n) for n in dir(operator) if not n.startswith("_") and callable(getattr(operator, n))],
    *[getattr(math, n) for n in dir(math) if callable(getattr(math, n))],
}) - {operator.setitem, operator.delitem, operator.iadd, operator.iconcat}

# One-argument builtins with a symbolic counterpart: on a symbolic int or float they are a graph
# op with a symbolic result (the ops torch.compile records), where folding would specialize.
SYMBOLIC: dict[Any, Callable] = {
    int: torch.sym_int, float: torch.sym_float, math.floor: math.floor, math.ceil: math.ceil,
    math.trunc: math.trunc,     # SymFloat/SymInt implement __floor__, __ceil__, __trunc__
    **{getattr(math, n): getattr(torch, f"_sym_{n}")
       for n in ("sqrt", "cos", "cosh", "sin", "sinh", "tan", "tanh", "asin", "acos", "atan", "log2")},
}


def _symbolic_number(vt: VariableTracker) -> bool:
    return vt.is_symbolic and vt.python_type() in (int, float)


def handles(*fns: Any) -> Callable[[Handler], Handler]:
    def deco(h: Handler) -> Handler:
        for fn in fns:
            HANDLERS[fn] = h
        return h
    return deco


class BuiltinVariable(VariableTracker):
    static_identity = True      # builtins, operator/math functions: module-level objects that live forever

    def __init__(self, fn: Any, source: Any = None) -> None:
        super().__init__(source)
        self.fn = fn

    def python_type(self) -> type:
        return type(self.fn)

    def as_constant(self) -> Any:
        return self.fn

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        handler = HANDLERS.get(self.fn)
        if handler is not None:
            return handler(tx, *args, **kwargs)
        if is_unbound_method(self.fn):
            return _call_unbound_method(tx, self.fn, args, kwargs)
        if len(args) == 1 and not kwargs and args[0].is_graph_float:
            kept = args[0].call_builtin(tx, self.fn)          # float(t) is t; anything else reads it
            if kept is not None:
                return kept
        if self.fn in SYMBOLIC and len(args) == 1 and not kwargs and _symbolic_number(args[0]):
            return tx.graph.call_function(SYMBOLIC[self.fn], args, {})
        if self.fn in PURE or isinstance(self.fn, type) and issubclass(self.fn, BaseException):
            try:
                cargs, ckwargs = constant_args(args, kwargs)
            except NotConstant:
                pass
            else:
                return fold(tx, self.fn, *cargs, **ckwargs)
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"builtin {getattr(self.fn, '__name__', self.fn)}() "
                          f"with arguments {', '.join(a.describe() for a in args)}")

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        return fold(tx, getattr, self.fn, name)

    def describe(self) -> str:
        return f"builtin {getattr(self.fn, '__qualname__', self.fn)}"


# -- C functions of the standard library, traced as their Python equivalents ------------------
for _c_fn, _python_fn in polyfills.EQUIVALENTS.items():
    HANDLERS[_c_fn] = traced_equivalent(_python_fn)


# -- methods of builtin types called through the type ------------------------------------------
# The types whose trackers model their methods: ``list.copy(xs)`` is ``xs.copy()``.
UNBOUND_METHOD_TYPES = frozenset({list, tuple, dict, set, frozenset, str, bytes, int, float, complex,
                                  collections.deque, collections.OrderedDict, collections.defaultdict})


def is_unbound_method(value: Any) -> bool:
    """A method of one of ``UNBOUND_METHOD_TYPES`` read from the type (``str.strip``)."""
    return type(value) is types.MethodDescriptorType and value.__objclass__ in UNBOUND_METHOD_TYPES


def _call_unbound_method(tx: Tx, method: Any, args: list[VariableTracker],
                         kwargs: dict[str, VariableTracker]) -> VariableTracker:
    """``list.append(xs, v)``: ``xs``'s own ``append`` when its class does not override it (CPython
    calls the type's C method even on a subclass that does). Any other call runs natively, where
    CPython raises its TypeError (a break: a protocol lookup made on the class itself, ``list[int]``
    reading ``list.__getitem__``, reaches here too, and is not the program's error)."""
    owner, name = method.__objclass__, method.__name__
    cls = args[0].python_type() if args else None
    if cls is None or not issubclass(cls, owner):
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"{owner.__name__}.{name}() of "
                          f"{args[0].describe() if args else 'no arguments'}")
    if getattr(cls, name, None) is not method:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"{owner.__name__}.{name}() on a {cls.__qualname__}, whose "
                          f"class overrides {name}")
    return args[0].call_method(tx, name, args[1:], kwargs)


# -- operators as functions ----------------------------------------------------------------
def _binary_handler(op: str) -> Handler:
    return lambda tx, a, b: ops.binary(tx, op, a, b)


for _name in ops.BINARY:
    HANDLERS[ops.BINARY[_name]] = _binary_handler(_name)
for _name in ops.INPLACE:
    HANDLERS[ops.INPLACE[_name]] = _binary_handler(_name)
for _name in ("neg", "pos", "invert"):
    HANDLERS[ops.UNARY[_name]] = (lambda op: lambda tx, a: ops.unary(tx, op, a))(_name)


@handles(abs)
def _abs(tx: Tx, a: VariableTracker) -> VariableTracker:
    return ops.unary(tx, "abs", a)


@handles(operator.getitem)
def _getitem(tx: Tx, obj: VariableTracker, key: VariableTracker) -> VariableTracker:
    return obj.getitem(tx, key)


@handles(operator.not_)
def _not(tx: Tx, a: VariableTracker) -> VariableTracker:
    return tx.wrap_const(not a.truth(tx))


@handles(operator.truth, bool)
def _bool(tx: Tx, a: VariableTracker | None = None) -> VariableTracker:
    return tx.wrap_const(False if a is None else a.truth(tx))


@handles(operator.is_)
def _is(tx: Tx, a: VariableTracker, b: VariableTracker) -> VariableTracker:
    return tx.wrap_const(ops.is_(tx, a, b))


@handles(operator.is_not)
def _is_not(tx: Tx, a: VariableTracker, b: VariableTracker) -> VariableTracker:
    return tx.wrap_const(not ops.is_(tx, a, b))


@handles(operator.contains)
def _contains(tx: Tx, container: VariableTracker, item: VariableTracker) -> VariableTracker:
    return tx.wrap_const(ops.contains(tx, item, container))


# -- introspection ---------------------------------------------------------------------------
@handles(len)
def _len(tx: Tx, obj: VariableTracker) -> VariableTracker:
    return obj.call_method(tx, "__len__", [], {})


@handles(isinstance)
def _isinstance(tx: Tx, obj: VariableTracker, classes: VariableTracker) -> VariableTracker:
    return fold(tx, issubclass, obj.python_type(), classes.as_constant())


@handles(type)
def _type(tx: Tx, *args: VariableTracker) -> VariableTracker:
    if len(args) != 1:
        raise Unsupported(breaks.UNSUPPORTED_CALL, "type() with three arguments (creating a class)")
    from .user_defined import UserDefinedClassVariable, UserDefinedObjectVariable

    obj = args[0]
    if isinstance(obj, UserDefinedObjectVariable) and obj.source is not None:
        # the object's type is guarded (TYPE_MATCH); reads on its class are guarded at type(obj).name
        return UserDefinedClassVariable(obj.python_type(), TypeSource(obj.source))
    return tx.wrap_const(obj.python_type())


@handles(callable)
def _callable(tx: Tx, obj: VariableTracker) -> VariableTracker:
    """Whether the object's type has ``__call__`` (CPython's ``tp_call``); a class always has one
    (``hasattr(cls, "__call__")`` finds its metaclass's, so it tells nothing about instances)."""
    return tx.wrap_const(callable(obj.as_constant()) if obj.is_constant()
                         else any("__call__" in vars(c) for c in obj.python_type().__mro__))


def _absent(tx: Tx, obj: VariableTracker, name: str, e: UserCodeError) -> bool:
    """True (and guarded: the attribute may be added later) when ``e`` says ``obj.name`` is missing."""
    if not isinstance(e.original, AttributeError):
        return False
    removed = getattr(obj, "_removed_by_trace", None)       # (deleted by the trace: the real object has it)
    if obj.source is not None and not (removed is not None and removed(name)) \
            and not getattr(e, "absence_guarded", False):   # (the lookup that failed guarded it already)
        tx.guard(obj.source, GuardKind.NOT_HASATTR, name, "getattr/hasattr found no attribute")
    return True


@handles(getattr)
def _getattr(tx: Tx, obj: VariableTracker, name: VariableTracker, default: VariableTracker | None = None) -> VariableTracker:
    attr = name.as_constant()
    try:
        return obj.var_getattr(tx, attr)
    except UserCodeError as e:
        if default is not None and _absent(tx, obj, attr, e):
            return default
        raise


@handles(hasattr)
def _hasattr(tx: Tx, obj: VariableTracker, name: VariableTracker) -> VariableTracker:
    attr = name.as_constant()
    try:
        obj.var_getattr(tx, attr)
    except UserCodeError as e:
        if _absent(tx, obj, attr, e):
            return tx.wrap_const(False)
        raise
    return tx.wrap_const(True)


@handles(setattr)
def _setattr(tx: Tx, obj: VariableTracker, name: VariableTracker, value: VariableTracker) -> VariableTracker:
    obj.call_method(tx, "__setattr__", [name, value], {})
    return tx.wrap_const(None)


@handles(delattr)
def _delattr(tx: Tx, obj: VariableTracker, name: VariableTracker) -> VariableTracker:
    obj.call_method(tx, "__delattr__", [name], {})
    return tx.wrap_const(None)


# -- iteration ----------------------------------------------------------------------------
_call_until = traced_equivalent(polyfills.iter_callable)


@handles(iter)
def _iter(tx: Tx, obj: VariableTracker, sentinel: VariableTracker | None = None) -> VariableTracker:
    if sentinel is not None:                  # iter(fn, sentinel): fn called as each item is asked for
        return _call_until(tx, obj, sentinel)
    if isinstance(obj, IteratorVariable):
        return obj
    if type(obj) is ListVariable:
        return ListIteratorVariable(obj)
    if "__iter__" in type(obj)._methods:
        return obj.call_method(tx, "__iter__", [], {})
    return IteratorVariable(obj.unpack(tx), _ITERATOR_TYPES.get(_type_or_none(obj), type(iter([]))))


def _live(vt: VariableTracker) -> bool:
    """Whether ``iter(vt)`` is stepped one item at a time rather than read whole now: a container
    the loop body may change (a list, a dict or one of its views, a set), as CPython's iterators of
    them see the change, or any iterator: its position is the program's to see afterwards
    (``zip(range(n), it)`` leaves the rest of ``it``), and a generator's or ``map``'s items are
    made as they are asked for, their code running between the body's steps."""
    return type(vt) is ListVariable or isinstance(vt, (DictVariable, DictViewVariable, SetVariable, IteratorVariable))


# the type of ``iter(seq)`` for the builtin sequences, whose trackers have no ``__iter__`` of their own
_ITERATOR_TYPES: dict[type, type] = {tuple: type(iter(())), range: type(iter(range(0))), list: type(iter([]))}


def _type_or_none(vt: VariableTracker) -> type | None:
    try:
        return vt.python_type()
    except Unsupported:
        return None


@handles(next)
def _next(tx: Tx, it: VariableTracker, default: VariableTracker | None = None) -> VariableTracker:
    if isinstance(it, IteratorVariable):
        vt = it.advance(tx)
        if vt is not None:
            return vt
        if default is not None:
            return default
        raise UserCodeError(StopIteration())
    return it.call_method(tx, "__next__", [], {})


@handles(range)
def _range(tx: Tx, *args: VariableTracker) -> VariableTracker:
    return fold(tx, range, *[a.as_constant() for a in args])


@handles(zip)
def _zip(tx: Tx, *iterables: VariableTracker, strict: VariableTracker | None = None) -> VariableTracker:
    if strict is not None and strict.as_constant():
        return CombinedIteratorVariable([_iter(tx, it) for it in iterables], zip, strict=True)
    if any(_live(it) for it in iterables):     # stepped: a container the loop may change, an iterator
        return CombinedIteratorVariable([_iter(tx, it) for it in iterables], zip)
    columns = [it.unpack(tx) for it in iterables]
    return IteratorVariable([TupleVariable(list(row)) for row in zip(*columns)], type(zip()))


@handles(enumerate)
def _enumerate(tx: Tx, iterable: VariableTracker, start: VariableTracker | None = None) -> VariableTracker:
    first = start.as_constant() if start is not None else 0
    if _live(iterable):        # a container the loop may change: stepped as it stands
        return CombinedIteratorVariable([_iter(tx, iterable)], enumerate, first)
    return IteratorVariable([TupleVariable([tx.wrap_const(first + i), vt]) for i, vt in enumerate(iterable.unpack(tx))],
                            enumerate)


_lazy_chain = traced_equivalent(polyfills.chain)


@handles(itertools.chain)
def _chain(tx: Tx, *iterables: VariableTracker) -> VariableTracker:
    """``itertools.chain(a, b, ...)``: the items of each, in order, read now; where one is stepped
    (``_live``: a generator, a list the loop may change), each is read as the chain gets to it
    (``polyfills.chain``)."""
    if any(_live(it) for it in iterables):
        return _lazy_chain(tx, *iterables)
    return IteratorVariable([vt for it in iterables for vt in it.unpack(tx)], itertools.chain)


_lazy_chain_from = traced_equivalent(polyfills.chain_from_iterable)


@handles(itertools.chain.from_iterable)
def _chain_from_iterable(tx: Tx, iterables: VariableTracker) -> VariableTracker:
    """The outer iterable read now unless it is stepped (``_live``), then as ``chain(*those)``."""
    if _live(iterables):
        return _lazy_chain_from(tx, iterables)
    return _chain(tx, *iterables.unpack(tx))


@handles(reversed)
def _reversed(tx: Tx, seq: VariableTracker) -> VariableTracker:
    if isinstance(seq, IteratorVariable) and "__reversed__" not in type(seq)._methods:
        raise UserCodeError(TypeError(f"'{seq.python_type().__name__}' object is not reversible"))
    return IteratorVariable(seq.unpack(tx)[::-1], _REVERSED_TYPES.get(_type_or_none(seq), reversed))


# the type of ``reversed(seq)``: lists and ranges have their own reverse iterators (``__reversed__``)
_REVERSED_TYPES: dict[type, type] = {list: type(reversed([])), range: type(iter(range(0)))}


@handles(map)
def _map(tx: Tx, fn: VariableTracker, *iterables: VariableTracker) -> VariableTracker:
    """``map(fn, *its)``: ``fn`` is called as each item is asked for, not when the map is made."""
    if not iterables:
        raise UserCodeError(TypeError("map() must have at least two arguments."))
    return CombinedIteratorVariable([_iter(tx, it) for it in iterables], map, fn=fn)


@handles(filter)
def _filter(tx: Tx, fn: VariableTracker, iterable: VariableTracker) -> VariableTracker:
    """``filter(fn, it)``: each item is tested as it is asked for."""
    plain = fn.is_constant() and fn.as_constant() is None
    return CombinedIteratorVariable([_iter(tx, iterable)], filter, fn=None if plain else fn)


@handles(list)
def _list(tx: Tx, iterable: VariableTracker | None = None) -> VariableTracker:
    return ListVariable(iterable.unpack(tx) if iterable is not None else [])


@handles(tuple)
def _tuple(tx: Tx, iterable: VariableTracker | None = None) -> VariableTracker:
    if isinstance(iterable, TupleVariable) and iterable.py_type is tuple:
        return iterable
    return TupleVariable(iterable.unpack(tx) if iterable is not None else [])


@handles(dict)
def _dict(tx: Tx, arg: VariableTracker | None = None, **kwargs: VariableTracker) -> VariableTracker:
    out = DictVariable({})
    if arg is not None:
        out._update(tx, arg)
    out._update(tx, None, **kwargs)
    return out


@handles(dict.fromkeys)
def _dict_fromkeys(tx: Tx, keys: VariableTracker, value: VariableTracker | None = None) -> VariableTracker:
    """``dict.fromkeys(keys, value)``: every key to the one value (None by default)."""
    out = DictVariable({})
    value = value if value is not None else tx.wrap_const(None)
    for key in each_item(tx, keys):
        out.call_method(tx, "__setitem__", [key, value], {})
    return out


@handles(set)
def _set(tx: Tx, iterable: VariableTracker | None = None) -> VariableTracker:
    return SetVariable.of(tx, iterable.unpack(tx) if iterable is not None else [])


@handles(frozenset)
def _frozenset(tx: Tx, iterable: VariableTracker | None = None) -> VariableTracker:
    return SetVariable.of(tx, iterable.unpack(tx) if iterable is not None else [], frozenset)


@handles(hash)
def _hash(tx: Tx, obj: VariableTracker) -> VariableTracker:
    if obj.is_constant():
        return fold(tx, hash, obj.as_constant())
    return obj.call_method(tx, "__hash__", [], {})


@handles(sorted)
def _sorted(tx: Tx, iterable: VariableTracker, *, key: VariableTracker | None = None,
            reverse: VariableTracker | None = None) -> VariableTracker:
    return ListVariable(sort_trackers(tx, iterable.unpack(tx), key, reverse))


@handles(tuple.__new__)
def _tuple_new(tx: Tx, cls: VariableTracker, iterable: VariableTracker | None = None) -> VariableTracker:
    """``tuple.__new__(cls, items)``: how named tuples build themselves (``_make``)."""
    return TupleVariable(iterable.unpack(tx) if iterable is not None else [], py_type=cls.as_constant())


@handles(sum)
def _sum(tx: Tx, iterable: VariableTracker, start: VariableTracker | None = None) -> VariableTracker:
    total = start if start is not None else tx.wrap_const(0)
    for vt in each_item(tx, iterable):
        total = ops.binary(tx, "add", total, vt)
    return total


def _extreme(pick: Callable, op: str, sym_pick: Callable) -> Handler:
    """``min``/``max``: folded over constants; over ints (or floats) some of them symbolic, a chain
    of ``torch.sym_min``/``sym_max`` graph ops (no specialization; mixed int and float would change
    the result's type, so they compare, which specializes); otherwise compared pairwise (graph
    floats too: each comparison is guarded, the result is one of the items, as in CPython).
    ``key=`` is traced on each item and the keys compared the same way (the result is the item,
    the first of equal ones); ``default=`` is what an empty iterable gives."""
    def handler(tx: Tx, *args: VariableTracker, key: VariableTracker | None = None,
                default: VariableTracker | None = None) -> VariableTracker:
        if len(args) != 1 and (default is not None or not args):      # CPython's TypeError
            fold(tx, pick, *range(len(args)), **({} if default is None else {"default": None}))
        keyed = key is not None and not (key.is_constant() and key.as_constant() is None)
        items, keys = [], []
        for vt in each_item(tx, args[0]) if len(args) == 1 else args:    # key(item) as each item comes
            items.append(vt)
            if keyed:
                keys.append(tx.call(key, [vt], {}))
        if not items:
            return default if default is not None else fold(tx, pick, [])       # CPython's ValueError
        if keyed:
            return _pick_by(tx, items, keys, pick, op)
        if any(vt.is_symbolic for vt in items) and _same_number_type(items):
            best = items[0]
            for vt in items[1:]:
                best = tx.graph.call_function(sym_pick, [best, vt], {})
            return best
        return _pick_by(tx, items, items, pick, op)
    return handler


def _pick_by(tx: Tx, items: list[VariableTracker], keys: list[VariableTracker], pick: Callable,
             op: str) -> VariableTracker:
    """The item whose key ``pick`` chooses: keys known at trace time are compared there, others
    one comparison at a time (``op``: strictly better replaces, so the first of equal keys wins)."""
    try:
        if any(vt.is_graph_float for vt in keys):
            raise NotConstant("compared under guards, not folded")   # (their values would be guarded)
        values = [vt.as_constant() for vt in keys]
    except NotConstant:
        best = 0
        for i in range(1, len(items)):
            if ops.compare(tx, op, keys[i], keys[best]).truth(tx):
                best = i
        return items[best]
    try:
        chosen = pick(values)
    except Exception as e:   # noqa: BLE001 - the user's keys do not compare: their error
        raise UserCodeError(e) from e
    return items[next(i for i, v in enumerate(values) if v is chosen)]


def _same_number_type(items: list[VariableTracker]) -> bool:
    """All ints or all floats (bool excluded), each symbolic or a constant."""
    if not all(vt.is_symbolic or vt.is_constant() for vt in items):
        return False
    kinds = {vt.python_type() for vt in items}
    return len(kinds) == 1 and kinds <= {int, float}


HANDLERS[min] = _extreme(min, "lt", torch.sym_min)
HANDLERS[max] = _extreme(max, "gt", torch.sym_max)


@handles(all)
def _all(tx: Tx, iterable: VariableTracker) -> VariableTracker:
    return tx.wrap_const(all(vt.truth(tx) for vt in each_item(tx, iterable)))


@handles(any)
def _any(tx: Tx, iterable: VariableTracker) -> VariableTracker:
    return tx.wrap_const(any(vt.truth(tx) for vt in each_item(tx, iterable)))


@handles(print)
def _print(tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    raise Unsupported(breaks.PRINT_OR_IO, "print()")


@handles(sys.exception)
def _exception(tx: Tx) -> VariableTracker:
    """``sys.exception()``: the exception a traced frame is handling (inlined callers included),
    else the one the compiled function's caller is handling, guarded (None in the common case)."""
    frame = tx
    while frame is not None:
        if frame.current_exc is not None:
            return frame.current_exc
        frame = frame.parent
    return tx.wrap(tx.capture.caller_exc, CallerExceptionSource())


@handles(sys.exc_info)
def _exc_info(tx: Tx) -> VariableTracker:
    """``sys.exc_info()``: (type, exception, traceback) of ``sys.exception()``; the traceback of
    an exception raised while tracing does not exist yet (a graph break if it is needed)."""
    exc = _exception(tx)
    if not isinstance(exc, ExceptionVariable):          # None: no exception is being handled
        return TupleVariable([exc, exc, exc])
    if exc.source is None:
        raise Unsupported(breaks.UNSUPPORTED_CALL, "sys.exc_info() of an exception raised while tracing "
                          "(its traceback is made at run time)")
    tb = LazyVariableTracker(exc.exc.__traceback__, AttrSource(exc.source, "__traceback__"), tx.capture.build)
    return TupleVariable([tx.wrap_const(exc.python_type()), exc, tb])


HANDLERS[warnings.warn] = HANDLERS[warnings.warn_explicit] = log_calls.warn
for _getter in GETTER_TYPES:
    HANDLERS[_getter] = make_getter(_getter)


@handles(builtins.__build_class__)
def _build_class(tx: Tx, body: VariableTracker, name: VariableTracker, *rest: VariableTracker,
                 **kwargs: VariableTracker) -> VariableTracker:
    raise Unsupported(breaks.CLASS_STATEMENT, f"class {name.as_constant()}")


@handles(id)
def _id(tx: Tx, obj: VariableTracker) -> VariableTracker:
    """``id(obj)`` of an object reached from a source is a constant, pinned by an identity
    guard (``tx.pin_identity``); an object made while tracing has no id until run time."""
    return tx.wrap_const(tx.pin_identity(obj))


@handles(locals)
def _locals(tx: Tx) -> VariableTracker:
    return tx.frame_locals()


@handles(vars)
def _vars(tx: Tx, obj: VariableTracker | None = None) -> VariableTracker:
    return tx.frame_locals() if obj is None else obj.var_getattr(tx, "__dict__")


@handles(super)
def _super(tx: Tx, *args: VariableTracker) -> VariableTracker:
    from .user_defined import SuperVariable

    if args:
        cls, obj = args
    else:
        cls, obj = tx.frame_super_args()
    return SuperVariable(cls.as_constant(), obj)


@handles(object.__setattr__)
def _object_setattr(tx: Tx, obj: VariableTracker, name: VariableTracker, value: VariableTracker) -> VariableTracker:
    from .user_defined import UserDefinedObjectVariable

    if not isinstance(obj, UserDefinedObjectVariable):
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"object.__setattr__ on {obj.describe()}")
    return obj.generic_setattr(tx, name.as_constant(), value)


@handles(object.__delattr__)
def _object_delattr(tx: Tx, obj: VariableTracker, name: VariableTracker) -> VariableTracker:
    from .user_defined import UserDefinedObjectVariable

    if not isinstance(obj, UserDefinedObjectVariable):
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"object.__delattr__ on {obj.describe()}")
    return obj.generic_delattr(tx, name.as_constant())


@handles(object.__getattribute__)
def _object_getattribute(tx: Tx, obj: VariableTracker, name: VariableTracker) -> VariableTracker:
    from .user_defined import UserDefinedObjectVariable

    if isinstance(obj, UserDefinedObjectVariable):
        return obj.generic_getattr(tx, name.as_constant())
    return obj.var_getattr(tx, name.as_constant())


@handles(contextvars.copy_context)
def _copy_context(tx: Tx) -> VariableTracker:
    from .contextvar import copy_context

    return copy_context(tx)


@handles(object.__new__)
def _object_new(tx: Tx, cls: VariableTracker, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    """``object.__new__(cls)`` (a Python ``__new__`` calling ``super().__new__(cls)``): a new
    object of ``cls``, tracked while tracing. Extra arguments are CPython's TypeError
    (Objects/typeobject.c object_new) unless only ``__init__`` is overridden."""
    from .user_defined import is_python_class, lookup_class_attr, new_object

    klass = cls.as_constant()
    if not isinstance(klass, type):
        raise UserCodeError(TypeError(f"object.__new__(X): X is not a type object ({type(klass).__name__})"))
    if not is_python_class(klass):      # a C base has its own layout: object.__new__ would refuse it
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"object.__new__({klass.__qualname__}) while tracing")
    if args or kwargs:
        if lookup_class_attr(klass, "__new__")[1] is not object.__new__:
            raise UserCodeError(TypeError("object.__new__() takes exactly one argument (the type to instantiate)"))
        if lookup_class_attr(klass, "__init__")[1] is object.__init__:
            raise UserCodeError(TypeError(f"{klass.__name__}() takes no arguments"))
    return new_object(klass, cls.source)


@handles(operator.call)
def _operator_call(tx: Tx, fn: VariableTracker, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    """``operator.call(fn, *args)`` is ``fn(*args)``, traced (not folded: ``fn`` may do anything)."""
    return tx.call(fn, list(args), kwargs)


@handles(object)
def _object(tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    """``object()``: a new sentinel (``heapq.nlargest``, ``sentinel = object()`` in a function)."""
    from .user_defined import new_object

    if args or kwargs:
        raise UserCodeError(TypeError("object() takes no arguments"))
    return new_object(object)


@handles(object.__init__)
def _object_init(tx: Tx, obj: VariableTracker, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    return tx.wrap_const(None)


def is_builtin(value: Any) -> bool:
    """A builtin function or type, an ``operator``/``math`` function, a C function of the standard
    library with a Python equivalent, or a method of a builtin type read from the type."""
    try:
        if value in HANDLERS or value in PURE or is_unbound_method(value):
            return True
    except TypeError:   # unhashable: not a builtin
        return False
    return getattr(builtins, getattr(value, "__name__", ""), None) is value
