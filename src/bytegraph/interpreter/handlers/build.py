"""Building and unpacking containers, slices and f-strings."""

from __future__ import annotations

from ...codegen.instructions import Inst
from ...diagnostics import breaks
from ...diagnostics.errors import Unsupported, UserCodeError
from ...variables.base import NotConstant, VariableTracker, fold
from ...variables.dicts import DictVariable, SetVariable, hash_key
from ...variables.lists import ListVariable, TupleVariable
from ...variables.symbolic import SliceVariable
from ..registry import V311, V312, V313, handles, since, until
from ..translator import InstructionTranslator as Tx


@handles("BUILD_TUPLE")
def build_tuple(tx: Tx, inst: Inst) -> None:
    """(item * n -- tuple)"""
    tx.push(TupleVariable(tx.popn(inst.arg)))


@handles("BUILD_LIST")
def build_list(tx: Tx, inst: Inst) -> None:
    """(item * n -- list)"""
    tx.push(ListVariable(tx.popn(inst.arg)))


@handles("LIST_TO_TUPLE", versions=until(V311))
def list_to_tuple(tx: Tx, inst: Inst) -> None:
    """(list -- tuple)"""
    tx.push(TupleVariable(tx.pop().unpack(tx)))


@handles("LIST_APPEND")
def list_append(tx: Tx, inst: Inst) -> None:
    """(list, ..., item -- list, ...)"""
    item = tx.pop()
    tx.stack[-inst.arg].call_method(tx, "append", [item], {})


@handles("LIST_EXTEND")
def list_extend(tx: Tx, inst: Inst) -> None:
    """(list, ..., iterable -- list, ...)"""
    items = tx.pop()
    tx.stack[-inst.arg].call_method(tx, "extend", [items], {})


@handles("BUILD_MAP")
def build_map(tx: Tx, inst: Inst) -> None:
    """(key, value * n -- dict)"""
    flat = tx.popn(2 * inst.arg)
    d = DictVariable({})
    for k, v in zip(flat[::2], flat[1::2]):
        d._items[hash_key(tx, k, d._items)] = v
    tx.push(d)


@handles("BUILD_CONST_KEY_MAP")
def build_const_key_map(tx: Tx, inst: Inst) -> None:
    """(value * n, keys -- dict)"""
    keys = tx.pop().as_constant()
    values = tx.popn(inst.arg)
    tx.push(DictVariable(dict(zip(keys, values))))


@handles("BUILD_SET")
def build_set(tx: Tx, inst: Inst) -> None:
    """(item * n -- set)"""
    tx.push(SetVariable.of(tx, tx.popn(inst.arg)))


@handles("SET_ADD")
def set_add(tx: Tx, inst: Inst) -> None:
    """(set, ..., item -- set, ...)"""
    item = tx.pop()
    tx.stack[-inst.arg].call_method(tx, "add", [item], {})


@handles("SET_UPDATE")
def set_update(tx: Tx, inst: Inst) -> None:
    """(set, ..., iterable -- set, ...)"""
    items = tx.pop()
    tx.stack[-inst.arg].call_method(tx, "update", [items], {})


@handles("MAP_ADD")
def map_add(tx: Tx, inst: Inst) -> None:
    """(dict, ..., key, value -- dict, ...)"""
    value, key = tx.pop(), tx.pop()
    tx.stack[-inst.arg].call_method(tx, "__setitem__", [key, value], {})


@handles("DICT_UPDATE", "DICT_MERGE")
def dict_update(tx: Tx, inst: Inst) -> None:
    """(dict, ..., mapping -- dict, ...): DICT_MERGE (for ``**kw`` in calls) refuses duplicate keys"""
    other = tx.pop()
    target = tx.stack[-inst.arg]
    contents = getattr(other, "contents", None)
    if isinstance(contents, DictVariable) and other.python_type().keys is dict.keys \
            and other.python_type().__getitem__ is dict.__getitem__:
        other = contents              # a dict subclass that reads like a dict
    if not isinstance(other, DictVariable):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"** of {other.describe()}")
    if inst.opname == "DICT_MERGE":
        for k in other.keys():
            if k in target.keys():
                raise UserCodeError(TypeError(f"got multiple values for keyword argument '{k}'"))
    target._update(tx, other)


def _slice(tx: Tx, parts: list[VariableTracker]) -> VariableTracker:
    if any(p.is_symbolic for p in parts):
        return SliceVariable(parts)
    try:
        return tx.wrap_const(slice(*[p.as_constant() for p in parts]))
    except NotConstant:
        raise Unsupported(breaks.DYNAMIC_CONTROL, "a slice whose bounds are unknown at trace time") from None


@handles("BUILD_SLICE")
def build_slice(tx: Tx, inst: Inst) -> None:
    """(start, stop[, step] -- slice)"""
    tx.push(_slice(tx, tx.popn(inst.arg)))


@handles("BINARY_SLICE", versions=since(V312))
def binary_slice(tx: Tx, inst: Inst) -> None:
    """(container, start, stop -- container[start:stop]): 3.11's BUILD_SLICE 2, BINARY_SUBSCR"""
    bounds = tx.popn(2)
    tx.push(tx.pop().getitem(tx, _slice(tx, bounds)))


@handles("STORE_SLICE", versions=since(V312))
def store_slice(tx: Tx, inst: Inst) -> None:
    """(value, container, start, stop -- ): ``container[start:stop] = value``"""
    bounds = tx.popn(2)
    container, value = tx.pop(), tx.pop()
    container.call_method(tx, "__setitem__", [_slice(tx, bounds), value], {})


@handles("UNPACK_SEQUENCE")
def unpack_sequence(tx: Tx, inst: Inst) -> None:
    """(seq -- item_n, ..., item_1)"""
    items = tx.pop().unpack(tx)
    if len(items) != inst.arg:
        raise UserCodeError(ValueError(f"too many values to unpack (expected {inst.arg})" if len(items) > inst.arg
                                       else f"not enough values to unpack (expected {inst.arg}, got {len(items)})"))
    for vt in reversed(items):
        tx.push(vt)


@handles("UNPACK_EX")
def unpack_ex(tx: Tx, inst: Inst) -> None:
    """(seq -- after..., list(rest), before...): ``a, *b, c = seq``"""
    before, after = inst.arg & 0xFF, inst.arg >> 8
    items = tx.pop().unpack(tx)
    if len(items) < before + after:
        raise UserCodeError(ValueError(f"not enough values to unpack (expected at least {before + after}, got {len(items)})"))
    rest = ListVariable(items[before:len(items) - after])
    for vt in reversed([*items[:before], rest, *items[len(items) - after:]]):
        tx.push(vt)


_CONVERSIONS = {0: None, 1: str, 2: repr, 3: ascii}


def _format(tx: Tx, value: VariableTracker, convert: int, spec: str) -> VariableTracker:
    try:
        v = value.as_constant()
    except NotConstant:
        raise Unsupported(breaks.PRINT_OR_IO, f"formatting {value.describe()} as text") from None
    fn = _CONVERSIONS[convert]
    return fold(tx, lambda x: format(fn(x) if fn else x, spec), v)


@handles("FORMAT_VALUE", versions=until(V312))
def format_value(tx: Tx, inst: Inst) -> None:
    """(value[, spec] -- str): one part of an f-string"""
    spec = tx.pop().as_constant() if inst.arg & 0x04 else ""
    tx.push(_format(tx, tx.pop(), inst.arg & 0x03, spec))


@handles("CONVERT_VALUE", versions=since(V313))
def convert_value(tx: Tx, inst: Inst) -> None:
    """(value -- str(value) | repr(value) | ascii(value)): ``!s``, ``!r``, ``!a`` of an f-string"""
    tx.push(_format(tx, tx.pop(), int(inst.arg), ""))


@handles("FORMAT_SIMPLE", versions=since(V313))
def format_simple(tx: Tx, inst: Inst) -> None:
    """(value -- format(value))"""
    tx.push(_format(tx, tx.pop(), 0, ""))


@handles("FORMAT_WITH_SPEC", versions=since(V313))
def format_with_spec(tx: Tx, inst: Inst) -> None:
    """(value, spec -- format(value, spec))"""
    spec = tx.pop().as_constant()
    tx.push(_format(tx, tx.pop(), 0, spec))


@handles("BUILD_STRING")
def build_string(tx: Tx, inst: Inst) -> None:
    """(str * n -- str)"""
    parts = tx.popn(inst.arg)
    tx.push(tx.wrap_const("".join(p.as_constant() for p in parts)))
