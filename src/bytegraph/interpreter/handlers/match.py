"""Structural pattern matching (``match``/``case``): the MATCH_* opcodes, with CPython's
rules, on the traced values (so a match on a config dict or a tuple folds while tracing).

A subject is a mapping or a sequence by its type's flags, exactly as CPython decides
(``Py_TPFLAGS_MAPPING``/``Py_TPFLAGS_SEQUENCE``: ``str`` is not a sequence pattern, a class
registered with ``collections.abc.Sequence`` is).
"""

from __future__ import annotations

from ...codegen.instructions import Inst
from ...diagnostics.errors import UserCodeError
from ...variables import ops
from ...variables.base import VariableTracker
from ...variables.builtins import BuiltinVariable
from ...variables.lists import TupleVariable
from ..registry import handles
from ..translator import InstructionTranslator as Tx

_TPFLAGS_SEQUENCE = 1 << 5
_TPFLAGS_MAPPING = 1 << 6

# ``case int(x):``: for these classes one positional pattern matches the subject itself
_SELF_MATCHING = (bool, bytearray, bytes, dict, float, frozenset, int, list, set, str, tuple)


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
    values = []
    for key in keys.realized():
        if not ops.contains(tx, key, subject):
            tx.push(tx.wrap_const(None))
            return
        values.append(subject.getitem(tx, key))
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
    if inst.arg == 1 and klass in _SELF_MATCHING:
        positional = [subject]
    elif inst.arg:
        match_args = getattr(klass, "__match_args__", ())
        if not isinstance(match_args, tuple):
            raise UserCodeError(TypeError(f"{klass.__name__}.__match_args__ must be a tuple (got "
                                          f"{type(match_args).__name__})"))
        if inst.arg > len(match_args):
            raise UserCodeError(TypeError(f"{klass.__name__}() accepts {len(match_args)} positional "
                                          f"sub-pattern{'s' if len(match_args) != 1 else ''} ({inst.arg} given)"))
        positional = [_attribute(tx, subject, name) for name in match_args[:inst.arg]]
    else:
        positional = []
    attrs = positional + [_attribute(tx, subject, name) for name in names]
    tx.push(tx.wrap_const(None) if any(a is None for a in attrs) else TupleVariable(attrs))
