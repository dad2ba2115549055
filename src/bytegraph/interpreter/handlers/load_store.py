"""Loads, stores and deletes: locals, cells, globals, attributes, subscripts, imports.

A local's slot holds its value, or, for a variable inner functions capture (a cell
variable, after MAKE_CELL), its cell: ``LOAD_FAST`` of a cell variable pushes the cell (3.13
loads closures that way), and an inlined comprehension (3.12+, PEP 709) saves and restores
the slot, cell or value, with ``LOAD_FAST_AND_CLEAR``/``STORE_FAST``, which may store the
NULL of an unbound slot back.

A callable a call will use is pushed with a NULL beside it (``LOAD_GLOBAL``'s bit, a method
``LOAD_ATTR``): below it up to 3.12, above it from 3.13. The bound attribute stands in for
CPython's ``(method, self)`` pair.
"""

from __future__ import annotations

import builtins
import importlib.util
import sys

from ...codegen.instructions import Inst
from ...diagnostics import breaks
from ...diagnostics.errors import Unsupported, UserCodeError
from ...sources import ModuleSource
from ...variables.base import NULL, NullVariable, VariableTracker
from ...variables.builtins import BuiltinVariable
from ...variables.functions import CellVariable
from ...variables.user_defined import PythonModuleVariable
from ..registry import V311, V312, V313, handles, since, until
from ..translator import InstructionTranslator as Tx


def _load_slot(tx: Tx, name: str) -> VariableTracker:
    cell = tx.cells.get(name)          # a cell or free variable: only closures load its slot
    if cell is not None:
        return cell
    try:
        return tx.locals[name]
    except KeyError:
        raise UserCodeError(UnboundLocalError(
            f"cannot access local variable '{name}' where it is not associated with a value")) from None


def _store_slot(tx: Tx, name: str, value: VariableTracker) -> None:
    if name in tx.code.co_cellvars and isinstance(value, (CellVariable, NullVariable)):
        slots = tx.cells                # an inlined comprehension puts the frame's cell back
    else:
        slots = tx.locals
    if isinstance(value, NullVariable):
        slots.pop(name, None)           # the slot was unbound before the comprehension
    else:
        slots[name] = value


@handles("LOAD_FAST_CHECK", versions=since(V312))
@handles("LOAD_FAST")
def load_fast(tx: Tx, inst: Inst) -> None:
    """( -- value): a cell variable's slot holds its cell"""
    tx.push(_load_slot(tx, inst.arg))


@handles("LOAD_FAST_AND_CLEAR", versions=since(V312))
def load_fast_and_clear(tx: Tx, inst: Inst) -> None:
    """( -- value or NULL): an inlined comprehension saves the slot of its variable and clears it"""
    name = inst.arg
    slots = tx.cells if name in tx.code.co_cellvars else tx.locals
    value = slots.pop(name, None)
    tx.stack.append(NULL if value is None else value)


@handles("LOAD_FAST_LOAD_FAST", versions=since(V313))
def load_fast_load_fast(tx: Tx, inst: Inst) -> None:
    """( -- value1, value2)"""
    for name in inst.arg:
        tx.push(_load_slot(tx, name))


@handles("STORE_FAST")
def store_fast(tx: Tx, inst: Inst) -> None:
    """(value -- ): a NULL (from LOAD_FAST_AND_CLEAR) unbinds the local"""
    _store_slot(tx, inst.arg, tx.pop())


@handles("STORE_FAST_LOAD_FAST", versions=since(V313))
def store_fast_load_fast(tx: Tx, inst: Inst) -> None:
    """(value -- value2)"""
    store, load = inst.arg
    _store_slot(tx, store, tx.pop())
    tx.push(_load_slot(tx, load))


@handles("STORE_FAST_STORE_FAST", versions=since(V313))
def store_fast_store_fast(tx: Tx, inst: Inst) -> None:
    """(value2, value1 -- ): the first name takes the top"""
    for name in inst.arg:
        _store_slot(tx, name, tx.pop())


@handles("DELETE_FAST")
def delete_fast(tx: Tx, inst: Inst) -> None:
    """( -- )"""
    tx.locals.pop(inst.arg, None)


@handles("LOAD_CONST")
def load_const(tx: Tx, inst: Inst) -> None:
    """( -- const)"""
    tx.push(tx.wrap_const(inst.arg))


def _push_callable(tx: Tx, value: VariableTracker, null_after: bool) -> None:
    """Push ``value`` with the NULL of a call: below it up to 3.12, above it from 3.13."""
    if not null_after:
        tx.stack.append(NULL)
    tx.push(value)
    if null_after:
        tx.stack.append(NULL)


@handles("LOAD_GLOBAL", versions=until(V312))
def load_global(tx: Tx, inst: Inst) -> None:
    """( -- [NULL], value): the argument's bit asks for a NULL below the value"""
    push_null, name = inst.arg
    value = tx.load_global(name)
    if push_null:
        _push_callable(tx, value, null_after=False)
    else:
        tx.push(value)


@handles("LOAD_GLOBAL", versions=since(V313))
def load_global_313(tx: Tx, inst: Inst) -> None:
    """( -- value, [NULL]): from 3.13 the NULL goes above the value"""
    push_null, name = inst.arg
    value = tx.load_global(name)
    if push_null:
        _push_callable(tx, value, null_after=True)
    else:
        tx.push(value)


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


@handles("LOAD_CLOSURE", versions=until(V312))
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


@handles("LOAD_ATTR", versions=until(V311))
def load_attr(tx: Tx, inst: Inst) -> None:
    """(obj -- obj.name)"""
    tx.push(tx.pop().var_getattr(tx, inst.arg))


@handles("LOAD_METHOD", versions=until(V311))
def load_method(tx: Tx, inst: Inst) -> None:
    """(obj -- NULL, obj.name)"""
    _push_callable(tx, tx.pop().var_getattr(tx, inst.arg), null_after=False)


def _load_attr(tx: Tx, inst: Inst, null_after: bool) -> None:
    method, name = inst.arg
    attr = tx.pop().var_getattr(tx, name)
    if method:
        _push_callable(tx, attr, null_after)
    else:
        tx.push(attr)


@handles("LOAD_ATTR", versions=(V312,))
def load_attr_312(tx: Tx, inst: Inst) -> None:
    """(obj -- [NULL], obj.name): from 3.12 the argument's bit makes it LOAD_METHOD"""
    _load_attr(tx, inst, null_after=False)


@handles("LOAD_ATTR", versions=since(V313))
def load_attr_313(tx: Tx, inst: Inst) -> None:
    """(obj -- obj.name, [NULL]): from 3.13 the NULL goes above the attribute"""
    _load_attr(tx, inst, null_after=True)


def _load_super_attr(tx: Tx, inst: Inst, null_after: bool) -> None:
    method, two_args, name = inst.arg
    self_, cls, super_fn = tx.pop(), tx.pop(), tx.pop()
    # CPython calls the global ``super`` with (class, self) for super(C, self), and with no
    # arguments for super(), which reads the frame (CPython: Python/bytecodes.c LOAD_SUPER_ATTR)
    proxy = tx.call(super_fn, [cls, self_] if two_args else [], {})
    attr = proxy.var_getattr(tx, name)
    if method:
        _push_callable(tx, attr, null_after)
    else:
        tx.push(attr)


@handles("LOAD_SUPER_ATTR", versions=(V312,))
def load_super_attr(tx: Tx, inst: Inst) -> None:
    """(super, class, self -- [NULL], super().name)"""
    _load_super_attr(tx, inst, null_after=False)


@handles("LOAD_SUPER_ATTR", versions=since(V313))
def load_super_attr_313(tx: Tx, inst: Inst) -> None:
    """(super, class, self -- super().name, [NULL])"""
    _load_super_attr(tx, inst, null_after=True)


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
    """(level, fromlist -- module): only modules already imported (importing runs code), relative too

    A relative import (``from . import x``, ``from .sub import y``) is resolved against the
    function's ``__package__`` (read as a global: guarded) as ``__import__`` does."""
    fromlist, level = tx.pop(), tx.pop()
    name, depth = inst.arg, level.as_constant()
    shown = "." * depth + name
    if depth:
        package = tx.load_global("__package__").as_constant() if "__package__" in tx.fn_globals else None
        if not isinstance(package, str) or not package:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"import of {shown!r} inside the compiled function "
                              "(a relative import where the module's __package__ is not set)")
        try:
            name = importlib.util.resolve_name(shown, package)
        except ImportError as e:       # beyond the top-level package: the program's own error
            raise UserCodeError(e) from None
    if name not in sys.modules:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"import of {shown!r} inside the compiled function")
    bound = name if depth or fromlist.as_constant() else name.partition(".")[0]
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
