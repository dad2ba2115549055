"""Standard-library functions modelled instead of inlined (their Python code is correct but
slow to trace, or needs object identities that only exist at trace time).

``PY_FUNCTION_HANDLERS`` is keyed by the function object (``PY_FUNCTION_HANDLERS_BY_NAME`` by
module and qualified name, for modules not imported here); ``UserFunctionVariable`` looks
there before inlining. ``CONSTANT_METHODS`` models methods of constant objects that take traced
arguments (``Signature.bind``).
"""

from __future__ import annotations

import copy
import inspect
import types
from typing import Any, Callable

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..guards import GuardKind
from ..guards.snapshot import TAGS_SEE_WRITES
from ..sources import AttrSource
from ..torch_compat import dict_version
from .autograd_runtime import AUTOGRAD_RUNTIME_HANDLERS
from .base import NotConstant, Tx, VariableTracker, fold
from .functions import traced_equivalent
from .polyfills import PY_EQUIVALENTS


def _real_callable(vt: VariableTracker) -> Any:
    """A real object with the same signature as the traced callable ``vt``."""
    from .functions import NestedFunctionVariable, UserFunctionVariable, UserMethodVariable

    if isinstance(vt, UserMethodVariable):
        return types.MethodType(_real_callable(vt.fn), object())
    if isinstance(vt, UserFunctionVariable):
        return vt.fn
    if isinstance(vt, NestedFunctionVariable):
        try:
            defaults = tuple(d.as_constant() for d in vt.defaults) or None
            kwdefaults = {k: v.as_constant() for k, v in vt.kwdefaults.items()} or None
        except NotConstant:
            raise Unsupported(breaks.UNSUPPORTED_CALL, "inspect.signature of a closure with non-constant defaults") from None
        fn = types.FunctionType(vt.code, vt.fn_globals, vt.code.co_name, defaults)
        fn.__kwdefaults__ = kwdefaults
        return fn
    try:
        return vt.as_constant()
    except NotConstant:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"inspect.signature of {vt.describe()}") from None


def _signature(tx: Tx, fn: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    """``inspect.signature(f)``: computed at trace time from the function itself (its code and
    defaults are what the function's guards already pin down); a Signature is immutable."""
    return fold(tx, inspect.signature, _real_callable(fn), **{k: v.as_constant() for k, v in kwargs.items()})


def _deepcopy(tx: Tx, obj: VariableTracker, memo: VariableTracker | None = None) -> VariableTracker:
    """``copy.deepcopy(x)``: constants fold; an object from a source (a config, say) is copied
    for real at trace time, guarded by its ``__dict__``'s version tag (any attribute change
    misses), and the copy is a trace-local object (its writes are the trace's own). A copy of
    such an object, or of one the trace wrote, carries those writes when they are constants."""
    from .user_defined import DELETED, ObjectDictVariable, UserDefinedObjectVariable

    if obj.is_constant():
        return fold(tx, copy.deepcopy, obj.as_constant())
    if isinstance(obj, ObjectDictVariable):            # copy.deepcopy(self.__dict__)
        return fold(tx, copy.deepcopy, {n: obj._get(tx, n).as_constant() for n in obj._names(tx)})
    if isinstance(obj, UserDefinedObjectVariable) and (obj.source is not None or obj.snapshot) \
            and obj.contents is None and type(getattr(obj.value, "__dict__", None)) is dict:
        writes = _constant_writes(obj)
        if obj.source is not None and TAGS_SEE_WRITES:
            tx.guard(AttrSource(obj.source, "__dict__"), GuardKind.DICT_VERSION, dict_version(obj.value.__dict__),
                     "copy.deepcopy of the object")
        elif obj.source is not None:            # (CPython 3.13.0: a write may leave the tag as it was)
            _guard_every_attribute(tx, obj)
        copied = copy.deepcopy(obj.value)
        state = copied.__dict__
        for name, value in writes.items():      # the trace's writes, as a copy of its state has them
            if value is DELETED:
                state.pop(name, None)
            else:
                state[name] = copy.deepcopy(value)
        return UserDefinedObjectVariable(copied, snapshot=True)
    raise Unsupported(breaks.UNSUPPORTED_CALL, f"copy.deepcopy of {obj.describe()}")


def _guard_every_attribute(tx: Tx, obj: Any) -> None:
    """The object's state guarded by value, name by name (its dict's keys, each value a constant),
    where a dict's version tag cannot stand for it."""
    from .user_defined import ObjectDictVariable

    state = ObjectDictVariable(obj)
    try:
        for name in state._names(tx):
            state._get(tx, name).as_constant()
    except NotConstant:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"copy.deepcopy of {obj.describe()} (an attribute that is not a "
                          "constant, on a Python whose dict version tags miss attribute writes)") from None


def _constant_writes(obj: Any) -> dict[str, Any]:
    """The attributes the trace wrote on an object (a copy made at trace time, then changed, as
    transformers' ``get_text_config`` does), when all are constants (or deletions)."""
    from .user_defined import DELETED

    try:
        return {name: vt if vt is DELETED else vt.as_constant() for name, vt in obj.pending.items()}
    except NotConstant:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"copy.deepcopy of {obj.describe()} after the trace wrote a "
                          "non-constant attribute on it") from None


PY_FUNCTION_HANDLERS: dict[Any, Callable[..., VariableTracker]] = {
    inspect.signature: _signature,
    copy.deepcopy: _deepcopy,
    **{fn: traced_equivalent(python_fn) for fn, python_fn in PY_EQUIVALENTS.items()},
}


def _skip(tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    return tx.wrap_const(None)


# The same, for functions of modules bytegraph does not import, by (module, qualname).
PY_FUNCTION_HANDLERS_BY_NAME: dict[tuple[str, str], Callable[..., VariableTracker]] = {
    # Once torch.compile has run in the process, torch._dynamo wraps nn.Module.__init__ to tag
    # every new module for its own heuristics; nothing in a traced program reads the tag.
    ("torch._dynamo.mutation_guard", "GenerationTracker.tag"): _skip,     # torch 2.13, 2.14: a classmethod
    ("torch._dynamo.mutation_guard", "_GenerationTracker.tag"): _skip,    # torch 2.15: a method of one instance
    **AUTOGRAD_RUNTIME_HANDLERS,        # a backward graph captured by compiled autograd calls these
}


class _Slot:
    """A stand-in argument for binding traced values with a real Signature."""

    __slots__ = ("vt",)

    def __init__(self, vt: VariableTracker) -> None:
        self.vt = vt


class BoundArgumentsVariable(VariableTracker):
    """``signature.bind(...)`` of traced arguments: a real BoundArguments over stand-ins, so
    CPython's own rules (and errors) decide the binding."""

    def __init__(self, bound: inspect.BoundArguments) -> None:
        super().__init__(None)
        self.bound = bound

    def python_type(self) -> type:
        return inspect.BoundArguments

    def _vt(self, tx: Tx, value: Any) -> VariableTracker:
        if isinstance(value, _Slot):
            return value.vt
        if isinstance(value, tuple):
            from .lists import TupleVariable
            return TupleVariable([self._vt(tx, v) for v in value])
        if isinstance(value, dict):
            from .dicts import DictVariable
            return DictVariable({k: self._vt(tx, v) for k, v in value.items()})
        return tx.wrap_const(value)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name in ("arguments", "args", "kwargs"):
            return self._vt(tx, dict(self.bound.arguments) if name == "arguments" else getattr(self.bound, name))
        if name == "signature":
            return tx.wrap_const(self.bound.signature)
        return super().var_getattr(tx, name)

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if name == "apply_defaults":
            self.bound.apply_defaults()
            return tx.wrap_const(None)
        return super().call_method(tx, name, args, kwargs)


def _bind(tx: Tx, sig: inspect.Signature, partial: bool, args: list[VariableTracker],
          kwargs: dict[str, VariableTracker]) -> VariableTracker:
    method = sig.bind_partial if partial else sig.bind
    try:
        bound = method(*[_Slot(a) for a in args], **{k: _Slot(v) for k, v in kwargs.items()})
    except TypeError as e:
        raise UserCodeError(e) from e
    return BoundArgumentsVariable(bound)


def _join(tx: Tx, sep: str | bytes, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    """``sep.join(iterable)`` of constant items reached through an iterator (``"".join(reversed(s))``,
    a generator of strings): the items are read as the iterator yields them, then joined."""
    if len(args) != 1 or kwargs:
        return fold(tx, sep.join, *args, **kwargs)
    try:
        items = [vt.as_constant() for vt in args[0].unpack(tx)]
    except NotConstant:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"{sep!r}.join() of items unknown at trace time") from None
    return fold(tx, sep.join, items)


CONSTANT_METHODS: dict[tuple[type, str], Callable[..., VariableTracker]] = {
    (str, "join"): _join,
    (bytes, "join"): _join,
    (inspect.Signature, "bind"): lambda tx, sig, args, kwargs: _bind(tx, sig, False, args, kwargs),
    (inspect.Signature, "bind_partial"): lambda tx, sig, args, kwargs: _bind(tx, sig, True, args, kwargs),
}
