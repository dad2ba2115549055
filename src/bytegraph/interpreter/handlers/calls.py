"""Calls and function creation: CALL, CALL_FUNCTION_EX, MAKE_FUNCTION."""

from __future__ import annotations

from ...codegen.instructions import Inst
from ...diagnostics import breaks
from ...diagnostics.errors import Unsupported
from ...variables.base import NullVariable
from ...variables.dicts import DictVariable
from ...variables.functions import NestedFunctionVariable
from ..registry import handles
from ..translator import InstructionTranslator as Tx


@handles("CALL")
def call(tx: Tx, inst: Inst) -> None:
    """(NULL|method, callable|self, arg * n -- result); the last len(KW_NAMES) args are keywords"""
    args = tx.popn(inst.arg)
    second, first = tx.pop(), tx.pop()
    fn, args = (second, args) if isinstance(first, NullVariable) else (first, [second, *args])
    names, tx.kw_names = tx.kw_names, ()
    kwargs = dict(zip(names, args[len(args) - len(names):])) if names else {}
    if names:
        args = args[:len(args) - len(names)]
    tx.push(tx.call(fn, args, kwargs))


@handles("CALL_FUNCTION_EX")
def call_function_ex(tx: Tx, inst: Inst) -> None:
    """(NULL, callable, args[, kwargs] -- result): ``f(*args, **kwargs)``"""
    kwargs = tx.pop() if inst.arg & 0x01 else None
    args = tx.pop()
    fn = tx.pop()
    tx.pop()   # NULL
    if kwargs is not None and not isinstance(kwargs, DictVariable):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"** of {kwargs.describe()}")
    kw = {k: kwargs.value(k) for k in kwargs.keys()} if kwargs is not None else {}
    tx.push(tx.call(fn, args.unpack(tx), kw))


@handles("MAKE_FUNCTION")
def make_function(tx: Tx, inst: Inst) -> None:
    """([defaults], [kwdefaults], [annotations], [closure], code -- function)"""
    code = tx.pop().as_constant()
    closure = tx.pop().unpack(tx) if inst.arg & 0x08 else []
    if inst.arg & 0x04:
        tx.pop()
    kwdefaults = tx.pop() if inst.arg & 0x02 else None
    defaults = tx.pop().unpack(tx) if inst.arg & 0x01 else []
    kw = {k: kwdefaults.value(k) for k in kwdefaults.keys()} if kwdefaults is not None else {}
    tx.push(NestedFunctionVariable(code, tx.fn_globals, code.co_qualname, defaults, kw, closure,
                                   tx.fn_globals.get("__name__")))
