"""Calls and function creation: CALL, CALL_KW, CALL_FUNCTION_EX, MAKE_FUNCTION.

A call's operands start with two items: ``NULL, callable`` up to 3.12, ``callable, NULL``
from 3.13, or ``method, self`` on every version. Which one is the NULL says which layout it
is, so one handler reads all three.
"""

from __future__ import annotations

from ...codegen.instructions import Inst
from ...diagnostics import breaks
from ...diagnostics.errors import Unsupported
from ...variables.base import NullVariable, VariableTracker
from ...variables.dicts import DictVariable
from ...variables.functions import NestedFunctionVariable
from ..registry import V312, V313, handles, since, until
from ..translator import InstructionTranslator as Tx


def _callee(first: VariableTracker, second: VariableTracker) -> tuple[VariableTracker, list[VariableTracker]]:
    """The callable and the arguments before the explicit ones, from the two items below them."""
    if isinstance(first, NullVariable):
        return second, []
    if isinstance(second, NullVariable):
        return first, []
    return first, [second]              # method, self


def _call(tx: Tx, nargs: int, names: tuple[str, ...]) -> None:
    args = tx.popn(nargs)
    second, first = tx.pop(), tx.pop()
    fn, head = _callee(first, second)
    split = len(args) - len(names)
    kwargs = dict(zip(names, args[split:]))
    tx.push(tx.call(fn, [*head, *args[:split]], kwargs))


@handles("CALL")
def call(tx: Tx, inst: Inst) -> None:
    """(NULL|method, callable|self, arg * n -- result); 3.13: (callable|method, NULL|self, ...);
    the last len(KW_NAMES) args are keywords"""
    names, tx.kw_names = tx.kw_names, ()
    _call(tx, inst.arg, names)


@handles("CALL_KW", versions=since(V313))
def call_kw(tx: Tx, inst: Inst) -> None:
    """(callable|method, NULL|self, arg * n, names -- result): the last len(names) args are keywords"""
    names = tuple(tx.pop().as_constant())
    _call(tx, inst.arg, names)


@handles("CALL_FUNCTION_EX")
def call_function_ex(tx: Tx, inst: Inst) -> None:
    """(NULL, callable, args[, kwargs] -- result): ``f(*args, **kwargs)``; 3.13: (callable, NULL, ...)"""
    kwargs = tx.pop() if inst.arg & 0x01 else None
    args = tx.pop()
    second, first = tx.pop(), tx.pop()
    fn, _ = _callee(first, second)
    if kwargs is not None and not isinstance(kwargs, DictVariable):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"** of {kwargs.describe()}")
    kw = {k: kwargs.value(k) for k in kwargs.keys()} if kwargs is not None else {}
    tx.push(tx.call(fn, args.unpack(tx), kw))


def _function(tx: Tx, code_vt: VariableTracker) -> NestedFunctionVariable:
    code = code_vt.as_constant()
    return NestedFunctionVariable(code, tx.fn_globals, code.co_qualname, [], {}, [], tx.fn_globals.get("__name__"))


def _set_attribute(tx: Tx, fn: NestedFunctionVariable, flag: int, value: VariableTracker) -> None:
    """One of MAKE_FUNCTION's optional parts, set on the function just made (nothing else has
    seen it yet). Annotations are kept as given (name, value, name, value...), for
    ``__annotations__``."""
    if flag == 0x04:
        fn.annotations = value
    elif flag == 0x08:
        fn.closure = value.unpack(tx)
    elif flag == 0x02:
        fn.kwdefaults = {k: value.value(k) for k in value.keys()}
    elif flag == 0x01:
        fn.defaults = value.unpack(tx)


@handles("MAKE_FUNCTION", versions=until(V312))
def make_function(tx: Tx, inst: Inst) -> None:
    """([defaults], [kwdefaults], [annotations], [closure], code -- function)"""
    fn = _function(tx, tx.pop())
    for flag in (0x08, 0x04, 0x02, 0x01):        # popped from the top: the closure was pushed last
        if inst.arg & flag:
            _set_attribute(tx, fn, flag, tx.pop())
    tx.push(fn)


@handles("MAKE_FUNCTION", versions=since(V313))
def make_function_313(tx: Tx, inst: Inst) -> None:
    """(code -- function): 3.13 sets defaults, closure... with SET_FUNCTION_ATTRIBUTE"""
    tx.push(_function(tx, tx.pop()))


@handles("SET_FUNCTION_ATTRIBUTE", versions=since(V313))
def set_function_attribute(tx: Tx, inst: Inst) -> None:
    """(value, function -- function): the argument names the part (0x01 defaults, 0x02 kwdefaults,
    0x04 annotations, 0x08 closure)"""
    fn = tx.pop()
    _set_attribute(tx, fn, inst.arg, tx.pop())
    tx.push(fn)
