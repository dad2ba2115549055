"""Structural pattern matching (``match``/``case``): the MATCH_* opcodes, with CPython's
rules, on the traced values (so a match on a config dict or a tuple folds while tracing).

A subject is a mapping or a sequence by its type's flags, exactly as CPython decides
(``Py_TPFLAGS_MAPPING``/``Py_TPFLAGS_SEQUENCE``: ``str`` is not a sequence pattern, a class
registered with ``collections.abc.Sequence`` is).
"""

from __future__ import annotations

from ...codegen.instructions import Inst
from ...diagnostics.errors import UserCodeError
from ...variables.base import VariableTracker
from ...variables.builtins import BuiltinVariable
from ...variables.lists import TupleVariable
from ..registry import handles
from ..translator import InstructionTranslator as Tx

_TPFLAGS_SEQUENCE = 1 << 5
_TPFLAGS_MAPPING = 1 << 6

# ``case int(x):``: classes (and their subclasses) for which one positional pattern matches
# the subject itself, unless they define __match_args__ (CPython: _Py_TPFLAGS_MATCH_SELF)
_TPFLAGS_MATCH_SELF = 1 << 22
_NOT_FOUND = object()


def _has_flag(vt: VariableTracker, flag: int) -> bool:
    return bool(vt.python_type().__flags__ & flag)


@handles("MATCH_MAPPING")
def match_mapping(tx: Tx, inst: Inst) -> None:
    """(subject -- subject, is_mapping)"""
    tx.push(tx.wrap_const(_has_flag(tx.stack[-1], _TPFLAGS_MAPPING)))


@handles("MATCH_SEQUENCE")
def match_sequence(tx: Tx, inst: Inst) -> None:
    """(subject -- subject, is_sequence)"""
    tx.push(tx.wrap_const(_has_flag(tx.stack[-1], _TPFLAGS_SEQUENCE)))


@handles("GET_LEN")
def get_len(tx: Tx, inst: Inst) -> None:
    """(subject -- subject, len(subject))"""
    tx.push(BuiltinVariable(len).call_function(tx, [tx.stack[-1]], {}))


@handles("MATCH_KEYS")
def match_keys(tx: Tx, inst: Inst) -> None:
    """(subject, keys -- subject, keys, values or None): every key present, or None"""
    subject, keys = tx.stack[-2], tx.stack[-1]
    get = subject.var_getattr(tx, "get")          # CPython looks keys up with subject.get(key, <dummy>)
    dummy = tx.wrap_const(_NOT_FOUND)
    values = []
    for key in keys.realized():
        value = tx.call(get, [key, dummy], {})
        if value is dummy:
            tx.push(tx.wrap_const(None))
            return
        values.append(value)
    tx.push(TupleVariable(values))


def _attribute(tx: Tx, subject: VariableTracker, name: str) -> VariableTracker | None:
    try:
        return subject.var_getattr(tx, name)
    except UserCodeError as e:
        if isinstance(e.original, AttributeError):
            return None
        raise


@handles("MATCH_CLASS")
def match_class(tx: Tx, inst: Inst) -> None:
    """(subject, cls, keyword names -- attributes or None): ``case Cls(a, b, k=c)``"""
    names = tx.pop().as_constant()
    cls = tx.pop()
    subject = tx.pop()
    if not BuiltinVariable(isinstance).call_function(tx, [subject, cls], {}).as_constant():
        tx.push(tx.wrap_const(None))
        return
    klass = cls.as_constant()
    match_args = getattr(klass, "__match_args__", _NOT_FOUND)
    match_self = match_args is _NOT_FOUND and bool(klass.__flags__ & _TPFLAGS_MATCH_SELF)
    if match_args is _NOT_FOUND:
        match_args = ()
    if not inst.arg:
        positional = []
    elif match_self and inst.arg == 1:
        positional = [subject]
    else:
        allowed = 1 if match_self else len(match_args)
        if not isinstance(match_args, tuple):
            raise UserCodeError(TypeError(f"{klass.__name__}.__match_args__ must be a tuple (got "
                                          f"{type(match_args).__name__})"))
        if inst.arg > allowed:
            raise UserCodeError(TypeError(f"{klass.__name__}() accepts {allowed} positional "
                                          f"sub-pattern{'s' if allowed != 1 else ''} ({inst.arg} given)"))
        positional = [_attribute(tx, subject, name) for name in match_args[:inst.arg]]
    attrs = positional + [_attribute(tx, subject, name) for name in names]
    tx.push(tx.wrap_const(None) if any(a is None for a in attrs) else TupleVariable(attrs))
