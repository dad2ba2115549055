"""``operator.itemgetter``, ``attrgetter`` and ``methodcaller`` objects.

A getter is what it was made from: the keys, attribute names, or method name and arguments
(CPython: Modules/_operator.c). ``GetterVariable`` holds those as trackers; calling it is
the subscripts, attribute reads or method call it stands for, traced like the program's own.
One made while tracing is rebuilt by calling its class again; one from outside the trace
(passed in, stored on an object) is read through ``__reduce__()`` (its arguments guarded by
their own rules) and passed on as itself.
"""

from __future__ import annotations

import operator
from typing import Any

from ..diagnostics.errors import UserCodeError
from .base import NotConstant, Tx, VariableTracker, constant_args

GETTER_TYPES = (operator.itemgetter, operator.attrgetter, operator.methodcaller)


class GetterVariable(VariableTracker):
    def __init__(self, kind: type, args: list[VariableTracker], kwargs: dict[str, VariableTracker] | None = None,
                 source: Any = None) -> None:
        super().__init__(source)
        self.kind = kind
        self.args = args
        self.kwargs = kwargs or {}

    def python_type(self) -> type:
        return self.kind

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if len(args) != 1 or kwargs:
            raise UserCodeError(TypeError(f"{self.kind.__name__} expected 1 argument, got {len(args) + len(kwargs)}"))
        obj = args[0]
        if self.kind is operator.methodcaller:
            return obj.call_method(tx, self.args[0].as_constant(), list(self.args[1:]), dict(self.kwargs))
        get = _item if self.kind is operator.itemgetter else _attribute
        results = [get(tx, obj, key) for key in self.args]
        if len(results) == 1:
            return results[0]
        from .lists import TupleVariable

        return TupleVariable(results)

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        cg.push_callable(self.kind)
        for vt in [*self.args, *self.kwargs.values()]:
            cg.reconstruct(vt)
        cg.call_kw(len(self.args) + len(self.kwargs), tuple(self.kwargs))

    def describe(self) -> str:
        return f"operator.{self.kind.__name__} object"


def _item(tx: Tx, obj: VariableTracker, key: VariableTracker) -> VariableTracker:
    return obj.getitem(tx, key)


def _attribute(tx: Tx, obj: VariableTracker, name: VariableTracker) -> VariableTracker:
    for part in name.as_constant().split("."):        # attrgetter("a.b") reads obj.a.b
        obj = obj.var_getattr(tx, part)
    return obj


def make_getter(kind: type):
    """The builtin handler of ``operator.<kind>(...)``: CPython's checks of the arguments (by
    building a real one when they are constants), then a tracker over them."""
    def construct(tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
        try:
            cargs, ckwargs = constant_args(args, kwargs)
        except NotConstant:
            if kind is not operator.itemgetter and (not args or not args[0].is_constant()):
                raise UserCodeError(TypeError(f"{kind.__name__}: attribute/method name must be a string")) from None
        else:
            try:
                kind(*cargs, **ckwargs)
            except Exception as e:   # noqa: BLE001 - the program's own error (no keys, a name not a str)
                raise UserCodeError(e) from e
        if kwargs and kind is not operator.methodcaller:
            raise UserCodeError(TypeError(f"{kind.__name__}() takes no keyword arguments"))
        return GetterVariable(kind, list(args), dict(kwargs))
    return construct


def getter_parts(value: Any) -> tuple[type, tuple[Any, ...], dict[str, Any]]:
    """(class, positional arguments, keyword arguments) a real getter was made from."""
    ctor, args = value.__reduce__()[:2]
    if isinstance(ctor, type):
        return ctor, tuple(args), {}
    # methodcaller with keywords reduces to (partial(methodcaller, name, **kwargs), args)
    return ctor.func, (*ctor.args, *args), dict(ctor.keywords)
