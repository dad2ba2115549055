"""Python functions, methods and closure cells.

* UserFunctionVariable — a real function object (reached from a source or a sourceless
  path); calling it inlines its bytecode.
* NestedFunctionVariable — a function created by MAKE_FUNCTION while tracing: its code,
  globals, defaults and closure cells are all trackers.
* UserMethodVariable — a Python function bound to a tracked ``self``.
* CellVariable / ExistingCellVariable — closure cells created during tracing, and real
  cells of existing functions (their contents are read through a source).

Inlining itself belongs to the interpreter: these trackers describe *what* to run
(``InlineTarget``) and hand it to ``tx.inline_call``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import weakref
from typing import Any, Callable

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..guards import GuardKind
from ..sources import AttrSource, ItemSource, Source, builtins_of
from .base import BoundMethodVariable, Tx, VariableTracker, constant_args, pymethod


# Functions of these modules write somewhere (log records, warnings): a graph break that runs
# them natively, rather than tracing into their handlers and locks.
IO_MODULES = frozenset({"logging", "warnings"})


@dataclasses.dataclass
class InlineTarget:
    """Everything the interpreter needs to run a Python function's code symbolically."""

    code: types.CodeType
    fn_globals: dict[str, Any]
    fn_source: Source | None                 # the function object's source, if it has one
    defaults: list[VariableTracker]
    kwdefaults: dict[str, VariableTracker]
    closure: list[VariableTracker]           # CellVariable / ExistingCellVariable, in co_freevars order
    module: str | None                       # __module__ of the function (globals policy)
    builtins: dict[str, Any]                 # the function's __builtins__ (what LOAD_GLOBAL falls back to)


class CellVariable(VariableTracker):
    """A closure cell created while tracing (MAKE_CELL, or a cell of a nested function)."""
    identity_matters = True

    def __init__(self, contents: VariableTracker | None = None, name: str = "") -> None:
        super().__init__(None)
        self.contents = contents
        self.name = name

    def load(self, tx: Tx) -> VariableTracker:
        if self.contents is None:
            raise UserCodeError(NameError(
                f"cannot access free variable '{self.name}' where it is not associated with a value in enclosing scope"))
        return self.contents

    def store(self, tx: Tx, value: VariableTracker | None) -> None:
        tx.local_mutation(self, f"assignment to closure variable '{self.name}'")
        self.contents = value

    def reconstruct(self, cg: Any) -> None:
        cg.push_callable(types.CellType)
        if self.contents is not None:
            cg.reconstruct(self.contents)
        cg.call(1 if self.contents is not None else 0)


_UNREAD = object()


class ExistingCellVariable(VariableTracker):
    """A real cell of a function that existed before the call. Reads go through
    ``contents_source`` (guarded like any value); writes are side effects."""

    def __init__(self, cell: Any, contents_source: Source | None, name: str = "") -> None:
        super().__init__(None)
        self.cell = cell
        self.contents_source = contents_source
        self.name = name
        self._contents: Any = _UNREAD          # a tracker; None once deleted (`del name`)

    def load(self, tx: Tx) -> VariableTracker:
        if self._contents is _UNREAD:
            try:
                value = self.cell.cell_contents
            except ValueError:
                self._contents = None
                src = self.contents_source
                if isinstance(src, AttrSource) and src.attr == "cell_contents":   # it may hold one next time
                    tx.guard(src.of, GuardKind.CELL_EMPTY, None, "closure variable read while unassigned")
            else:
                self._contents = (tx.wrap(value, self.contents_source) if self.contents_source is not None
                                  else tx.wrap_const(value))
        if self._contents is None:
            raise UserCodeError(NameError(f"cannot access free variable '{self.name}' where it is not "
                                          f"associated with a value in enclosing scope"))
        return self._contents

    def store(self, tx: Tx, value: VariableTracker | None) -> None:
        tx.mutation(self, f"assignment to closure variable '{self.name}'")
        self._contents = value

    def python_type(self) -> type:
        return types.CellType

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        """``cell.cell_contents``: how a resume function reads a cell of the original frame."""
        if name != "cell_contents":
            return super().var_getattr(tx, name)
        try:
            return self.load(tx)
        except UserCodeError:
            raise UserCodeError(ValueError("Cell is empty")) from None

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if name in ("__setattr__", "__delattr__") and args[0].as_constant() == "cell_contents":
            self.store(tx, args[1] if name == "__setattr__" else None)
            return tx.wrap_const(None)
        return super().call_method(tx, name, args, kwargs)

    def replayable(self) -> bool:
        return self.contents_source is not None

    def replay_values(self) -> list[VariableTracker]:
        return [self._contents] if self._contents is not None and self._contents is not _UNREAD else []

    def changes_nothing(self) -> bool:
        contents = self._contents
        return contents is not None and contents is not _UNREAD and contents.source == self.contents_source

    def replay(self, cg: Any) -> None:
        """``cell.cell_contents = value`` on the real cell (deleting it for ``del``)."""
        if self._contents is None:
            self.reconstruct(cg)
            cg.emit("DELETE_ATTR", "cell_contents")
            return
        cg.reconstruct(self._contents)
        self.reconstruct(cg)
        cg.emit("STORE_ATTR", "cell_contents")

    def reconstruct(self, cg: Any) -> None:
        """The real cell: read from its function's ``__closure__``, or, for a free variable of
        the compiled function itself, loaded with LOAD_CLOSURE."""
        from ..sources import FreeVarSource

        src = self.contents_source
        if isinstance(src, FreeVarSource):
            cg.load_closure(src.free)
        elif isinstance(src, AttrSource) and src.attr == "cell_contents":
            cg.load_source(src.of)
        else:
            super().reconstruct(cg)


def bind_function(fn: VariableTracker, obj: VariableTracker) -> VariableTracker:
    """``fn.__get__(obj, cls)``: a method bound to ``obj``; ``fn`` itself when ``obj`` is None
    (CPython: Objects/funcobject.c func_descr_get)."""
    if obj.is_constant() and obj.as_constant() is None:
        return fn
    return UserMethodVariable(fn, obj)


def existing_cell(capture: Any, cell: Any, contents_source: Source | None, name: str) -> ExistingCellVariable:
    """The one tracker of a real cell in this capture, however it is reached (the compiled
    function's closure, an inlined function's ``__closure__``, a resume function's cell
    argument): a write through one path is seen by a read through another."""
    known = capture.identity.get(id(cell))
    if isinstance(known, ExistingCellVariable):
        if known.contents_source is None:
            known.contents_source = contents_source
        return known
    vt = ExistingCellVariable(cell, contents_source, name)
    capture.identity[id(cell)] = vt
    capture.keepalive.append(cell)
    return vt


def _is_modelled_method(fn: types.FunctionType, obj: VariableTracker) -> bool:
    """Whether ``fn(obj, ...)`` is a method of ``obj``'s type that its tracker models: a context
    manager entered outside a ``with`` statement (``ExitStack.enter_context`` calls
    ``type(cm).__enter__(cm)`` and keeps ``MethodType(type(cm).__exit__, cm)``; a program may call
    ``cm.__enter__`` itself) runs the same model as ``with cm:``. Inlining the Python method instead
    would read state the model keeps symbolically (``no_grad.prev``)."""
    if not obj.models_type or fn.__name__ not in type(obj)._methods:
        return False
    try:
        return inspect.getattr_static(obj.python_type(), fn.__name__, None) is fn
    except Unsupported:
        return False


class UserFunctionVariable(VariableTracker):
    """A Python function object; calling it inlines it."""

    def __init__(self, fn: types.FunctionType, source: Source | None = None) -> None:
        super().__init__(source)
        self.fn = fn

    def python_type(self) -> type:
        return types.FunctionType

    def as_constant(self) -> Any:
        return self.fn   # functions compare and hash by identity: safe to fold `f is g`, dict keys

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        from .stdlib import PY_FUNCTION_HANDLERS, PY_FUNCTION_HANDLERS_BY_NAME

        handler = PY_FUNCTION_HANDLERS.get(self.fn) or PY_FUNCTION_HANDLERS_BY_NAME.get(
            (self.fn.__module__, self.fn.__qualname__))
        if handler is not None:
            return handler(tx, *args, **kwargs)
        if args and _is_modelled_method(self.fn, args[0]):
            return args[0].call_method(tx, self.fn.__name__, args[1:], kwargs)
        if self.fn.__module__ in IO_MODULES:
            raise Unsupported(breaks.PRINT_OR_IO, f"{self.fn.__module__}.{self.fn.__qualname__}()")
        return tx.inline_call(self, args, kwargs)

    def inline_target(self, tx: Tx) -> InlineTarget:
        fn, src = self.fn, self.source

        def wrap(value: Any, source: Source | None) -> VariableTracker:
            return tx.wrap(value, source) if source is not None else tx.wrap_const(value)

        defaults = [wrap(v, ItemSource(AttrSource(src, "__defaults__"), i) if src else None)
                    for i, v in enumerate(fn.__defaults__ or ())]
        kwdefaults = {k: wrap(v, ItemSource(AttrSource(src, "__kwdefaults__"), k) if src else None)
                      for k, v in (fn.__kwdefaults__ or {}).items()}
        closure = [existing_cell(tx.capture, cell, AttrSource(ItemSource(AttrSource(src, "__closure__"), i),
                                                             "cell_contents") if src else None, fn.__code__.co_freevars[i])
                   for i, cell in enumerate(fn.__closure__ or ())]
        return InlineTarget(fn.__code__, fn.__globals__, src, defaults, kwdefaults, closure, fn.__module__,
                            fn.__builtins__)

    @pymethod("__get__")
    def _get(self, tx: Tx, obj: VariableTracker, cls: VariableTracker | None = None) -> VariableTracker:
        return bind_function(self, obj)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name in type(self)._methods:
            return BoundMethodVariable(self, name)
        if name in ("__name__", "__qualname__", "__module__", "__doc__"):
            return tx.wrap_const(getattr(self.fn, name))
        if name == "__code__":
            return tx.wrap_const(self.fn.__code__)
        if self.source is not None and hasattr(self.fn, name):
            return tx.wrap(getattr(self.fn, name), AttrSource(self.source, name))
        if hasattr(self.fn, name):
            return tx.wrap_const(getattr(self.fn, name))
        raise UserCodeError(AttributeError(f"'function' object has no attribute '{name}'"))

    def describe(self) -> str:
        return f"function {self.fn.__qualname__}"


def traced_equivalent(python_fn: types.FunctionType) -> Callable[..., VariableTracker]:
    """A call handler that traces ``python_fn`` (one of ours, ``polyfills``) on the call's arguments."""
    def handler(tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
        return tx.call(UserFunctionVariable(python_fn), list(args), kwargs)
    return handler


class NestedFunctionVariable(VariableTracker):
    """A function made by MAKE_FUNCTION during tracing (a closure, a lambda, a comprehension)."""
    identity_matters = True

    def __init__(self, code: types.CodeType, fn_globals: dict[str, Any], qualname: str,
                 defaults: list[VariableTracker], kwdefaults: dict[str, VariableTracker],
                 closure: list[VariableTracker], module: str | None) -> None:
        super().__init__(None)
        self.code = code
        self.fn_globals = fn_globals
        self.qualname = qualname
        self.defaults = defaults
        self.kwdefaults = kwdefaults
        self.closure = closure
        self.module = module
        self.fn_builtins = builtins_of(fn_globals)      # as CPython's MAKE_FUNCTION takes them
        self.attrs: dict[str, VariableTracker] = {}     # attributes the trace set (``f.__wrapped__ = g``)
        self.annotations: VariableTracker | None = None  # MAKE_FUNCTION's (name, value, ...) tuple

    def python_type(self) -> type:
        return types.FunctionType

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return tx.inline_call(self, args, kwargs)

    def inline_target(self, tx: Tx) -> InlineTarget:
        return InlineTarget(self.code, self.fn_globals, None, self.defaults, self.kwdefaults, self.closure, self.module,
                            self.fn_builtins)

    @pymethod("__get__")
    def _get(self, tx: Tx, obj: VariableTracker, cls: VariableTracker | None = None) -> VariableTracker:
        return bind_function(self, obj)

    @pymethod("__setattr__")
    def _setattr(self, tx: Tx, name: VariableTracker, value: VariableTracker) -> VariableTracker:
        """An attribute of a function made while tracing (contextlib's ``ExitStack.callback`` sets
        ``__wrapped__``, ``functools.wraps`` copies names): kept here, set again when it is rebuilt.
        The attributes that change what the function does stay unsupported."""
        key = name.as_constant()
        if key in _BEHAVIOUR_ATTRS:
            raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"setting {key} of {self.describe()}")
        tx.local_mutation(self, f"setting {key}")
        self.attrs[key] = value
        return tx.wrap_const(None)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name in self.attrs:
            return self.attrs[name]
        if name in ("__name__", "__qualname__"):
            return tx.wrap_const(self.code.co_name if name == "__name__" else self.qualname)
        if name == "__module__":
            return tx.wrap_const(self.module)
        if name == "__code__":
            return tx.wrap_const(self.code)
        if name == "__annotations__":       # made on the first read and kept, as CPython does
            pairs = self.annotations.unpack(tx) if self.annotations is not None else []
            self.attrs[name] = tx.wrap_new({k.as_constant(): v.as_constant() for k, v in zip(pairs[::2], pairs[1::2])})
            return self.attrs[name]
        if name == "__doc__":       # (CPython <= 3.13 keeps a function's docstring, or None, first in co_consts)
            first = self.code.co_consts[0] if self.code.co_consts else None
            return tx.wrap_const(first if isinstance(first, str) else None)
        return super().var_getattr(tx, name)

    def describe(self) -> str:
        return f"function {self.qualname} (created while tracing)"

    def reconstruct(self, cg: Any) -> None:
        """A closure that escapes is rebuilt at run time from its code, globals, defaults and cells."""
        cg.push_callable(make_function)
        cg.load_const(self.code)
        cg.load_const(self.fn_globals)
        for group in (self.defaults, self.closure):
            cg.begin_build(tuple)
            for vt in group:
                cg.reconstruct(vt.realize())
            cg.build(tuple, len(group))
        cg.begin_build(dict)
        for k, v in self.kwdefaults.items():
            cg.load_const(k)
            cg.reconstruct(v.realize())
        cg.build(dict, len(self.kwdefaults))
        cg.begin_build(dict)
        for k, v in self.attrs.items():
            cg.load_const(k)
            cg.reconstruct(v.realize())
        cg.build(dict, len(self.attrs))
        cg.call(6)


# Function attributes that change what a call does: a trace that sets one breaks.
_BEHAVIOUR_ATTRS = frozenset({"__code__", "__defaults__", "__kwdefaults__", "__globals__", "__closure__", "__dict__",
                              "__call__", "__get__"})


def make_function(code: types.CodeType, fn_globals: dict, defaults: tuple, closure: tuple, kwdefaults: dict,
                  attrs: dict) -> Any:
    """Run-time constructor of a function created while tracing that escapes the frame."""
    fn = types.FunctionType(code, fn_globals, code.co_name, defaults or None, closure or None)
    fn.__kwdefaults__ = kwdefaults or None
    fn.__qualname__ = code.co_qualname
    for name, value in attrs.items():
        setattr(fn, name, value)
    return fn


class UserMethodVariable(VariableTracker):
    """A Python function bound to a tracked object (``obj.method``)."""

    def __init__(self, fn: VariableTracker, obj: VariableTracker, source: Source | None = None) -> None:
        super().__init__(source)
        self.fn = fn
        self.obj = obj

    def python_type(self) -> type:
        return types.MethodType

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return tx.call(self.fn, [self.obj, *args], kwargs)

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        cg.push_callable(types.MethodType)
        cg.reconstruct(self.fn)
        cg.reconstruct(self.obj)
        cg.call(2)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name == "__self__":
            return self.obj
        if name == "__func__":
            return self.fn
        return self.fn.var_getattr(tx, name)

    def describe(self) -> str:
        return f"method {self.fn.describe()} of {self.obj.describe()}"


class PartialVariable(VariableTracker):
    """``functools.partial(func, *args, **keywords)``: calling it calls ``func`` with the
    stored arguments first."""
    identity_matters = True

    def __init__(self, func: VariableTracker, args: list[VariableTracker], keywords: dict[str, VariableTracker],
                 source: Source | None = None) -> None:
        super().__init__(source)
        self.func = func
        self.args = args
        self.keywords = keywords

    def python_type(self) -> type:
        return functools.partial

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return tx.call(self.func, [*self.args, *args], {**self.keywords, **kwargs})

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        from .dicts import DictVariable
        from .lists import TupleVariable

        if name == "func":
            return self.func
        if name == "args":
            return TupleVariable(list(self.args))
        if name == "keywords":
            return DictVariable(dict(self.keywords))
        return super().var_getattr(tx, name)

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        cg.push_callable(functools.partial)
        cg.reconstruct(self.func)
        for a in self.args:
            cg.reconstruct(a.realize())
        for k, v in self.keywords.items():
            cg.reconstruct(v.realize())
        cg.call_kw(1 + len(self.args) + len(self.keywords), tuple(self.keywords))

    def describe(self) -> str:
        return f"functools.partial of {self.func.describe()}"


class LruCacheVariable(VariableTracker):
    """A ``functools.lru_cache`` wrapper (see the builder rule "lru_cache wrapper")."""

    def __init__(self, fn: Any, wrapped: VariableTracker, source: Source | None = None) -> None:
        super().__init__(source)
        self.fn = fn
        self.wrapped = wrapped

    def python_type(self) -> type:
        return type(self.fn)

    def as_constant(self) -> Any:
        return self.fn

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        from .base import NotConstant, fold

        try:
            cargs, ckwargs = constant_args(args, kwargs)
            hash((tuple(cargs), tuple(ckwargs.items())))
        except (NotConstant, TypeError):
            return tx.call(self.wrapped, args, kwargs)
        return fold(tx, self.fn, *cargs, **ckwargs)


class WeakRefVariable(VariableTracker):
    """A weak reference; calling it gives the referent, read through ``ref()``."""

    def __init__(self, referent: VariableTracker, source: Source | None = None) -> None:
        super().__init__(source)
        self.referent = referent

    def python_type(self) -> type:
        return weakref.ref

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return self.referent.realize()


def guard_function(tx: Tx, fn: types.FunctionType, source: Source, reason: str) -> None:
    """Functions are guarded by their code object (CLOSURE_MATCH): a new closure made by
    the same ``def`` each call reuses the cache; its cell contents are guarded as read."""
    tx.guard(source, GuardKind.CLOSURE_MATCH, fn.__code__, reason)
