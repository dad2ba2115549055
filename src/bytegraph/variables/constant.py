"""ConstantVariable: an immutable Python value known at trace time (int, str, dtype, torch.Size,
enum members, compiled regex patterns...).

Operations on constants are folded: the real Python operation runs at trace time on the
real values, and its result is wrapped again (an exception it raises is the user's own).
Only immutable values are constants; tuples and lists of constants are container
trackers that report ``as_constant()``.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from typing import Any

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from .base import BoundMethodVariable, NotConstant, Tx, VariableTracker, constant_args, fold

LITERAL_TYPES: frozenset[type] = frozenset({
    int, float, bool, complex, str, bytes, type(None), type(Ellipsis), type(NotImplemented),
    torch.dtype, torch.device, torch.layout, torch.memory_format, torch.Size,
    range, slice, types.CodeType, torch.finfo, torch.iinfo,
})


def is_literal(value: Any) -> bool:
    """True for immutable values that can be folded at trace time and guarded by value."""
    t = type(value)
    if t in LITERAL_TYPES:
        return t is not slice or all(is_literal(v) for v in (value.start, value.stop, value.step))
    if t is frozenset:          # (a set literal's constant: ``{(1, 2), (2, 1), (3, 3)}``)
        return all(is_literal(v) or (type(v) is tuple and is_literal(frozenset(v))) for v in value)
    # immutable singletons, regex objects, signatures, typing's aliases (``isinstance(x, typing.Sequence)``)
    return isinstance(value, (enum.Enum, re.Pattern, re.Match, inspect.Signature, inspect.Parameter, _TYPING_FORMS))


_TYPING_FORMS = getattr(typing, "_Final", ())     # List, Sequence, Optional[int]...: made once, never changed


# A range longer than this is not unrolled (a break): more items than any trace gets through
# within ``config.max_instructions``.
MAX_RANGE_ITEMS = 100_000


class ConstantVariable(VariableTracker):
    def __init__(self, value: Any, source: Any = None) -> None:
        super().__init__(source)
        self.value = value

    def python_type(self) -> type:
        return type(self.value)

    def as_constant(self) -> Any:
        return self.value

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        try:
            attr = getattr(self.value, name)
        except AttributeError as e:
            from ..diagnostics.errors import UserCodeError
            raise UserCodeError(e) from e
        if isinstance(attr, (types.BuiltinMethodType, types.MethodWrapperType)) and getattr(attr, "__self__", None) is self.value:
            return BoundMethodVariable(self, name)
        return tx.wrap_const(attr)

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        from .stdlib import CONSTANT_METHODS

        special = CONSTANT_METHODS.get((type(self.value), name))
        if special is not None:
            return special(tx, self.value, args, kwargs)
        try:
            cargs, ckw = constant_args(args, kwargs)
        except NotConstant:
            return super().call_method(tx, name, args, kwargs)
        method = getattr(self.value, name, None)
        if method is None:
            return super().call_method(tx, name, args, kwargs)
        return fold(tx, method, *cargs, **ckw)

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        if type(self.value) is range and len(self.value) > MAX_RANGE_ITEMS:
            # ``for step in range(10**9): ... break``: read whole it would exhaust memory before the
            # instruction budget could stop the trace; the loop runs natively instead
            raise Unsupported(breaks.TOO_LONG, f"iterating over {self.value!r} ({len(self.value)} items, "
                              f"more than a trace unrolls)")
        try:
            return [tx.wrap_const(v) for v in self.value]
        except TypeError:
            return super().unpack(tx)

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return fold(tx, lambda v, k: v[k], self.value, key.as_constant()) if key.is_constant() else super().getitem(tx, key)

    def describe(self) -> str:
        return f"the constant {self.value!r}"

    def __repr__(self) -> str:
        return f"ConstantVariable({self.value!r})"
