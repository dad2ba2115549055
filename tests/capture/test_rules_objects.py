"""Objects: dataclasses (frozen too) and objects with a custom ``__eq__``/``__hash__`` used as
dict keys under rule "user object"; enum members and regex patterns under "literal";
"weakref"; "hook handle" (docs/builder.md). An object is guarded by type, and each attribute
the code reads by its own rule, so (a) using it gives eager's answer, (b) changing a read
attribute (or the class) recompiles naming ``L['obj'].attr``, (c) changing an unread
attribute, or passing an equal new object, does not. Attribute protocol, descriptors,
inheritance: test_rules_user_objects.py."""

import dataclasses
import enum
import gc
import re
import weakref

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


def _run(cf, fn, *calls):
    for args in calls:
        assert same(cf(*args), fn(*args))


@dataclasses.dataclass
class Config:
    mode: str = "relu"
    scale: float = 2.0
    note: str = ""


@dataclasses.dataclass(frozen=True)
class FrozenConfig:
    mode: str = "relu"
    scale: float = 2.0
    note: str = ""


def _apply(x, cfg):
    return getattr(x, cfg.mode)() * cfg.scale


# -- dataclasses ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [Config, FrozenConfig])
def test_dataclass_fields_read_are_guarded_unread_are_not(counter, cls):
    cf = bytegraph.compile(_apply, backend=counter)
    x = torch.randn(3)
    _run(cf, _apply, (x, cls()), (x, cls(note="changed")), (x, cls(note="again")))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, _apply, (x, cls(mode="tanh")), (x, cls(mode="tanh", note="x")))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['cfg'].mode: expected EQUALS_MATCH 'relu', got 'tanh'")


def test_dataclass_of_another_class_recompiles(counter):
    cf = bytegraph.compile(_apply, backend=counter)
    x = torch.randn(3)
    _run(cf, _apply, (x, Config()), (x, FrozenConfig()), (x, FrozenConfig()))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['cfg']: expected TYPE_MATCH Config, got type FrozenConfig")


def test_dataclass_with_a_tensor_field_and_replace(counter):
    @dataclasses.dataclass
    class State:
        h: torch.Tensor
        step: int = 0

    def fn(s, x):
        return dataclasses.replace(s, h=s.h * 0.5 + x, step=s.step + 1)

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    for step in (0, 0, 1):
        s, x = State(torch.randn(2), step), torch.randn(2)
        got, expected = cf(s, x), fn(s, x)
        assert type(got) is State and same(got.h, expected.h) and got.step == expected.step
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['s'].step: expected EQUALS_MATCH 0, got 1")


# -- enum members, regex patterns ------------------------------------------------------------------------
class Mode(enum.Enum):
    SUM = "sum"
    MEAN = "mean"

    def reduce(self, t):
        return t.sum() if self is Mode.SUM else t.mean()


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


def test_enum_member_and_its_method(counter):
    def fn(x, mode):
        return mode.reduce(x) + len(mode.value)

    cf = bytegraph.compile(fn, backend=counter)
    _run(cf, fn, (torch.randn(3), Mode.SUM), (torch.randn(3), Mode("sum")), (torch.randn(3), Mode.MEAN))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['mode']: expected EQUALS_MATCH <Mode.SUM: 'sum'>")


def test_int_enum_in_arithmetic(counter):
    def fn(x, level):
        return x * level + int(level)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, Level.LOW), (x, Level(1)), (x, Level.HIGH), (x, Level.HIGH))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['level']")


def test_regex_pattern_decides_a_branch(counter):
    def fn(x, pattern, name):
        return x.relu() if pattern.fullmatch(name) else x * len(pattern.pattern)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, re.compile("lay.*"), "layer"), (x, re.compile("lay.*"), "layer"))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, re.compile("head.*"), "layer"), (x, re.compile("head.*"), "layer"))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['pattern']: expected EQUALS_MATCH re.compile('lay.*')")


# -- weakref, hook handles ----------------------------------------------------------------------------------
class Box:
    def __init__(self, t):
        self.t = t


def test_weakref_referent_read_and_its_death_recompiles(counter):
    def fn(x, ref):
        box = ref()
        return x * 2 if box is None else x + box.t

    cf = bytegraph.compile(fn, backend=counter)
    box = Box(torch.randn(3))
    ref = weakref.ref(box)
    x = torch.randn(3)
    _run(cf, fn, (x, ref), (x, ref))
    box.t = torch.randn(3)                             # same spec: the new tensor is read, no recompile
    _run(cf, fn, (x, ref))
    _assert_counts(counter, cf, 1, 0)
    del box
    gc.collect()
    _run(cf, fn, (x, ref), (x, ref))
    _assert_counts(counter, cf, 2, 1)
    assert "L['ref']" in cf.stats.recompile_reasons[0]


def test_hook_handle_argument_breaks_with_reason(counter):
    def fn(x, handle):
        return x * handle.id

    cf = bytegraph.compile(fn, backend=counter)
    handle = torch.nn.Linear(2, 2).register_forward_hook(lambda *a: None)
    for _ in range(3):
        x = torch.randn(2)
        assert same(cf(x, handle), fn(x, handle))
    # the read is a break; the multiplication after it is a graph of the resume function
    assert cf.stats.captures == 1 and cf.stats.recompiles == 0 and counter.frame_count == 1
    (reason,) = cf.stats.eager_reasons + cf.stats.break_reasons
    assert reason.startswith("graph break GB005:")
    assert ".id of a hook handle (RemovableHandle) from outside the compiled function" in reason


def test_hook_handle_passed_through_and_removed(counter):
    """A handle from outside the frame is a value like any other: stored, passed, returned as is;
    its ``remove()`` is a break that runs natively (the hook is gone, as in eager)."""
    def fn(x, handle, keep):
        keep.append(handle)
        y = x + 1
        handle.remove()
        return y * 2, handle

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        calls = []
        lin = torch.nn.Linear(2, 2)
        handle = lin.register_forward_hook(lambda *a: calls.append(1))
        keep = []
        x = torch.randn(2)
        out, h = cf(x, handle, keep)
        assert same(out, (x + 1) * 2) and h is handle and keep == [handle]
        lin(x)
        assert calls == [] and not lin._forward_hooks
    assert cf.stats.captures == 1 and counter.frame_count == 2
    (reason,) = cf.stats.break_reasons
    assert "RemovableHandle.remove()" in reason


# -- custom __eq__/__hash__ as dict keys --------------------------------------------------------------------
class Key:
    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return isinstance(other, Key) and self.name.lower() == other.name.lower()

    def __hash__(self):
        return hash(self.name.lower())


class Colliding(Key):
    def __hash__(self):
        return 0                                       # every key in one bucket: __eq__ decides


@pytest.mark.parametrize("cls", [Key, Colliding])
def test_custom_eq_hash_keys_look_up_like_eager(counter, cls):
    def fn(x, table, key):
        return x * table[key] if key in table else x - 1

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    # new, equal keys and tables each call: guarded by type, hash/eq code and name, not identity
    _run(cf, fn, (x, {cls("a"): 2, cls("B"): 3}, cls("A")), (x, {cls("a"): 2, cls("B"): 3}, cls("A")))
    _assert_counts(counter, cf, 1, 0)
    table = {cls("a"): 2, cls("B"): 3}
    _run(cf, fn, (x, table, cls("b")), (x, table, cls("zz")), (x, table, cls("b")), (x, table, cls("zz")))
    _assert_counts(counter, cf, 3, 2)
    assert cf.stats.recompile_reasons[0].startswith("L['key'].name: expected EQUALS_MATCH 'A', got 'b'")


def test_custom_eq_keys_in_a_set_and_with_equality(counter):
    def fn(x, allowed, key, other):
        return x * 2 if key in allowed and key == other else x - 1

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    for k, o in (("a", "A"), ("a", "A"), ("b", "A"), ("b", "A"), ("c", "c")):
        allowed = {Key("A"), Key("b")}
        _run(cf, fn, (x, allowed, Key(k), Key(o)))
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == 3 and cf.stats.recompiles == 2
    assert cf.stats.recompile_reasons[0].startswith("L['key'].name: expected EQUALS_MATCH 'a', got 'b'")
