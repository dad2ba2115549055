"""Loads, stores and deletes: locals, cells, globals, attributes, subscripts, imports."""

from __future__ import annotations

import builtins
import sys

from ...codegen.instructions import Inst
from ...diagnostics import breaks
from ...diagnostics.errors import Unsupported, UserCodeError
from ...sources import ModuleSource
from ...variables.base import NULL
from ...variables.builtins import BuiltinVariable
from ...variables.functions import CellVariable
from ...variables.user_defined import PythonModuleVariable
from ..registry import handles
from ..translator import InstructionTranslator as Tx


@handles("LOAD_FAST")
def load_fast(tx: Tx, inst: Inst) -> None:
    """( -- value)"""
    try:
        tx.push(tx.locals[inst.arg])
    except KeyError:
        raise UserCodeError(UnboundLocalError(
            f"cannot access local variable '{inst.arg}' where it is not associated with a value")) from None


@handles("STORE_FAST")
def store_fast(tx: Tx, inst: Inst) -> None:
    """(value -- )"""
    tx.locals[inst.arg] = tx.pop()


@handles("DELETE_FAST")
def delete_fast(tx: Tx, inst: Inst) -> None:
    """( -- )"""
    tx.locals.pop(inst.arg, None)


@handles("LOAD_CONST")
def load_const(tx: Tx, inst: Inst) -> None:
    """( -- const)"""
    tx.push(tx.wrap_const(inst.arg))


@handles("LOAD_GLOBAL")
def load_global(tx: Tx, inst: Inst) -> None:
    """( -- [NULL], value): 3.11 encodes "push NULL first" in the argument"""
    push_null, name = inst.arg
    if push_null:
        tx.stack.append(NULL)
    tx.push(tx.load_global(name))


@handles("STORE_GLOBAL")
def store_global(tx: Tx, inst: Inst) -> None:
    """(value -- ): recorded, and written to the module's globals after the graph runs"""
    tx.store_global(inst.arg, tx.pop())


@handles("DELETE_GLOBAL")
def delete_global(tx: Tx, inst: Inst) -> None:
    """( -- )"""
    raise Unsupported(breaks.SIDE_EFFECT, f"deleting global '{inst.arg}'")


@handles("MAKE_CELL")
def make_cell(tx: Tx, inst: Inst) -> None:
    """( -- ): a cell for a variable that nested functions capture (an argument keeps its value)"""
    tx.cells[inst.arg] = CellVariable(tx.locals.pop(inst.arg, None), inst.arg)


@handles("LOAD_DEREF")
def load_deref(tx: Tx, inst: Inst) -> None:
    """( -- value)"""
    tx.push(tx.cells[inst.arg].load(tx))


@handles("LOAD_CLOSURE")
def load_closure(tx: Tx, inst: Inst) -> None:
    """( -- cell)"""
    tx.stack.append(tx.cells[inst.arg])


@handles("STORE_DEREF")
def store_deref(tx: Tx, inst: Inst) -> None:
    """(value -- )"""
    tx.cells[inst.arg].store(tx, tx.pop())


@handles("DELETE_DEREF")
def delete_deref(tx: Tx, inst: Inst) -> None:
    """( -- )"""
    tx.cells[inst.arg].store(tx, None)


@handles("LOAD_ATTR")
def load_attr(tx: Tx, inst: Inst) -> None:
    """(obj -- obj.name)"""
    tx.push(tx.pop().var_getattr(tx, inst.arg))


@handles("LOAD_METHOD")
def load_method(tx: Tx, inst: Inst) -> None:
    """(obj -- NULL, obj.name): the bound attribute stands in for CPython's (method, self) pair"""
    obj = tx.pop()
    attr = obj.var_getattr(tx, inst.arg)
    tx.stack.append(NULL)
    tx.push(attr)


@handles("STORE_ATTR")
def store_attr(tx: Tx, inst: Inst) -> None:
    """(value, obj -- )"""
    obj = tx.pop()
    value = tx.pop()
    obj.call_method(tx, "__setattr__", [tx.wrap_const(inst.arg), value], {})


@handles("DELETE_ATTR")
def delete_attr(tx: Tx, inst: Inst) -> None:
    """(obj -- )"""
    obj = tx.pop()
    obj.call_method(tx, "__delattr__", [tx.wrap_const(inst.arg)], {})


@handles("BINARY_SUBSCR")
def binary_subscr(tx: Tx, inst: Inst) -> None:
    """(container, key -- container[key])"""
    key = tx.pop()
    tx.push(tx.pop().getitem(tx, key))


@handles("STORE_SUBSCR")
def store_subscr(tx: Tx, inst: Inst) -> None:
    """(value, container, key -- )"""
    key, container, value = tx.pop(), tx.pop(), tx.pop()
    container.call_method(tx, "__setitem__", [key, value], {})


@handles("DELETE_SUBSCR")
def delete_subscr(tx: Tx, inst: Inst) -> None:
    """(container, key -- )"""
    key, container = tx.pop(), tx.pop()
    container.call_method(tx, "__delitem__", [key], {})


@handles("IMPORT_NAME")
def import_name(tx: Tx, inst: Inst) -> None:
    """(level, fromlist -- module): only modules already imported (importing runs code)"""
    fromlist, level = tx.pop(), tx.pop()
    name = inst.arg
    if level.as_constant() != 0 or name not in sys.modules:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"import of {name!r} inside the compiled function")
    bound = name if fromlist.as_constant() else name.partition(".")[0]
    tx.push(tx.wrap(sys.modules[bound], ModuleSource(bound)))     # guarded: the module object, its attributes


@handles("IMPORT_FROM")
def import_from(tx: Tx, inst: Inst) -> None:
    """(module -- module, module.name): an attribute of the module, or a submodule already
    imported; one not imported yet would be imported by running its code (CPython:
    Python/ceval.c import_from), which is a graph break, never the AttributeError of a lookup."""
    module = tx.stack[-1]
    real = module.as_constant() if isinstance(module, PythonModuleVariable) else None
    if real is not None and not hasattr(real, inst.arg):
        submodule = sys.modules.get(f"{real.__name__}.{inst.arg}")
        if submodule is None:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"import of {real.__name__}.{inst.arg} inside the compiled function")
        tx.push(tx.wrap(submodule, ModuleSource(submodule.__name__)))
        return
    tx.push(module.var_getattr(tx, inst.arg))


@handles("LOAD_ASSERTION_ERROR")
def load_assertion_error(tx: Tx, inst: Inst) -> None:
    """( -- AssertionError)"""
    tx.push(tx.wrap_const(AssertionError))


@handles("LOAD_BUILD_CLASS")
def load_build_class(tx: Tx, inst: Inst) -> None:
    """( -- __build_class__): a ``class`` statement; calling it runs the class body natively
    (a graph break at the call, which resumes after it)"""
    tx.push(BuiltinVariable(builtins.__build_class__))
