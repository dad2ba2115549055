"""builder.rules: select_rule picks the documented rule per value, RULES order is the documented precedence, guards match."""

from __future__ import annotations

import collections
import contextvars
import functools
import math
import operator
import types
import weakref

import pytest
import torch
import torch.nn.functional as F

from bytegraph.builder import SourcelessBuilder, VariableBuilder
from bytegraph.builder.rules import RULES, WrapRule, select_rule
from bytegraph.guards import Guard, GuardKind
from bytegraph.interpreter.capture import CaptureState
from bytegraph.sources import LocalSource

Point = collections.namedtuple("Point", "x y")


class UserClass:
    def method(self):
        return 1


class MyTensor(torch.Tensor):
    pass


def python_function(x):
    return x


_REFERENT = UserClass()
_HANDLE = torch.nn.Linear(1, 1).register_forward_hook(lambda *a: None)


VALUES = [
    ("tensor", torch.ones(2), "tensor"),
    ("Parameter", torch.nn.Parameter(torch.ones(2)), "tensor"),
    ("tensor subclass", torch.ones(2).as_subclass(MyTensor), "tensor subclass"),
    ("int", 3, "literal"),
    ("float", 2.5, "literal"),
    ("bool", True, "literal"),
    ("str", "relu", "literal"),
    ("None", None, "literal"),
    ("dtype", torch.float16, "literal"),
    ("device", torch.device("cpu"), "literal"),
    ("torch.Size", torch.Size([2, 3]), "literal"),
    ("slice", slice(1, None), "slice"),
    ("frozenset", frozenset({1, 2}), "literal"),
    ("list", [1, torch.ones(1)], "list or tuple"),
    ("tuple", (1, "a"), "list or tuple"),
    ("empty tuple", (), "list or tuple"),
    ("namedtuple", Point(1, 2), "namedtuple"),
    ("torch.return_types", torch.max(torch.ones(2, 2), dim=0), "namedtuple"),
    ("dict with literal keys", {"a": 1, 2: torch.ones(1)}, "dict"),
    ("OrderedDict", collections.OrderedDict(a=1), "dict"),
    ("set of literals", {1, 2}, "set of literals"),
    ("deque", collections.deque([1, 2], maxlen=4), "deque"),
    ("defaultdict", collections.defaultdict(list, a=[1]), "defaultdict or mappingproxy"),
    ("mappingproxy", types.MappingProxyType({"a": 1}), "defaultdict or mappingproxy"),
    ("functools.partial", functools.partial(python_function, 1), "functools.partial"),
    ("weakref", weakref.ref(_REFERENT), "weakref"),
    ("hook handle", _HANDLE, "hook handle"),
    ("ContextVar", contextvars.ContextVar("unit_var"), "contextvars.ContextVar"),
    ("nn.Module", torch.nn.Linear(2, 2), "nn.Module"),
    ("Sequential", torch.nn.Sequential(), "nn.Module"),
    ("torch.add", torch.add, "torch callable"),
    ("F.relu", F.relu, "torch callable"),
    ("Tensor.add", torch.Tensor.add, "torch callable"),
    ("aten op", torch.ops.aten.add.Tensor, "torch callable"),
    ("torch.Size class", torch.Size, "torch callable"),
    ("python function", python_function, "python function"),
    ("lambda", lambda: 0, "python function"),
    ("bound method", UserClass().method, "bound method"),
    ("len", len, "builtin"),
    ("isinstance", isinstance, "builtin"),
    ("range", range, "builtin"),
    ("int type", int, "builtin"),
    ("math.sqrt", math.sqrt, "builtin"),
    ("operator.add", operator.add, "builtin"),
    ("math module", math, "python module"),
    ("torch module", torch, "python module"),
    ("user class", UserClass, "class"),
    ("torch.Tensor class", torch.Tensor, "class"),
    ("user object", UserClass(), "user object"),
    ("object()", object(), "user object"),
]


@pytest.mark.parametrize("value, rule", [v[1:] for v in VALUES], ids=[v[0] for v in VALUES])
def test_select_rule(value, rule):
    assert select_rule(value).name == rule


def _index(name: str) -> int:
    names = [r.name for r in RULES]
    assert name in names, f"no rule named {name!r}: {names}"
    return names.index(name)


@pytest.mark.parametrize("before, after", [
    ("tensor", "tensor subclass"),          # a Parameter is a tensor subclass too
    ("tensor subclass", "user object"),
    ("torch callable", "python function"),  # F.relu is a Python function we record, not inline
    ("torch callable", "builtin"),          # torch.add is a builtin_function_or_method
    ("torch callable", "class"),            # torch.Size is a class
    ("builtin", "class"),                   # int, range are classes
    ("namedtuple", "list or tuple"),
    ("literal", "list or tuple"),           # torch.Size is a tuple
    ("nn.Module", "user object"),
    ("bound method", "user object"),
    ("python module", "user object"),
])
def test_precedence(before, after):
    assert _index(before) < _index(after)


def test_tensor_first_and_catch_all_last():
    assert RULES[0].name == "tensor"
    assert RULES[-1].name == "user object"
    assert all(not r.match(object()) for r in RULES[:-1]), "only the catch-all matches a bare object"


@pytest.mark.parametrize("value, matching", [
    (torch.nn.Parameter(torch.ones(1)), {"tensor", "tensor subclass"}),
    (F.relu, {"torch callable", "python function"}),
    (int, {"builtin", "class"}),
    (torch.Size, {"torch callable", "class"}),
    (torch.nn.Linear(1, 1), {"nn.Module"}),
], ids=["Parameter", "F.relu", "int", "torch.Size class", "Linear"])
def test_order_decides_between_matching_rules(value, matching):
    # These values satisfy several predicates: the list order, not the predicates, picks the rule.
    hits = [r.name for r in RULES if r.match(value)]
    assert set(hits) - {"user object"} == matching
    assert select_rule(value).name == hits[0]


def test_rules_are_well_formed():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    for r in RULES:
        assert isinstance(r, WrapRule) and callable(r.match) and callable(r.wrap)
        assert all(isinstance(k, GuardKind) for k in r.guards), r.name
        assert r.doc, f"rule {r.name!r}: its wrap function needs a docstring (docs/builder.md shows it)"


def test_wraprule_is_frozen():
    with pytest.raises(AttributeError):
        RULES[0].name = "renamed"


# -- the guards a rule declares are the guards it installs ---------------------------------------------

class FakeTx:
    """The part of the translator the builder uses: capture state, guard(), graph."""

    def __init__(self) -> None:
        self.capture = CaptureState(root_globals={})
        self.capture.tx = self
        self.graph = self.capture.graph

    def guard(self, source, kind, payload, reason) -> None:
        self.capture.guards.add(Guard(source, kind, payload, reason))

    def wrap_const(self, value):
        return SourcelessBuilder(self)(value)


BREAKING = ("tensor subclass",)                  # these rules raise a graph break
GUARDED = [v for v in VALUES if v[2] not in BREAKING]
@pytest.mark.parametrize("value, rule", [
    pytest.param(*v[1:], id=v[0]) for v in GUARDED])
def test_declared_guards_are_installed(value, rule):
    tx = FakeTx()
    src = LocalSource("v")
    vt = VariableBuilder(tx, src)(value)
    assert vt.source == src
    if type(value) is list:
        # a list's length is guarded when the trace first reads the list, not by appends alone
        assert GuardKind.SEQUENCE_LENGTH not in {g.kind for g in tx.capture.guards if g.source == src}
        assert len(vt._items) == len(value)          # reading it installs the guard
    own = {g.kind for g in tx.capture.guards if g.source == src}
    assert own == set(select_rule(value).guards), rule
    assert all(g.reason == f"builder rule '{rule}'" for g in tx.capture.guards if g.source == src)
    assert tx.capture.wrapped[-1] == (src, rule)


def test_identity_tracking_rules_alias_guard():
    tx = FakeTx()
    shared = [1, 2]
    a = VariableBuilder(tx, LocalSource("a"))(shared)
    b = VariableBuilder(tx, LocalSource("b"))(shared)
    assert a is b
    assert Guard(LocalSource("b"), GuardKind.DUPLICATE_INPUT, LocalSource("a")) in tx.capture.guards


def test_rules_without_identity_do_not_alias():
    tx = FakeTx()
    VariableBuilder(tx, LocalSource("a"))(python_function)
    VariableBuilder(tx, LocalSource("b"))(python_function)
    assert not any(g.kind is GuardKind.DUPLICATE_INPUT for g in tx.capture.guards)


def test_values_made_by_the_trace_get_no_guards():
    tx = FakeTx()
    built = 0
    for name, value, rule in GUARDED:
        # A real tensor without a source is a graph break (it could not be re-fetched), so
        # skip tensors and containers holding them.
        if rule != "tensor" and name not in ("list", "dict with literal keys", "torch.return_types"):
            vt = SourcelessBuilder(tx, fresh=True)(value)
            assert vt.source is None, name
            built += 1
    assert built > 30 and len(tx.capture.guards) == 0


def test_sourceless_objects_with_state_are_their_own_source():
    """A pre-existing object reached without a source (a trusted global) is never rebuilt: an
    object with state of its own gets an ObjectRefSource (its identity and type unguarded: it is
    held); immutable values (constants, tuples, functions, classes) stay sourceless."""
    from bytegraph.sources import ObjectRefSource

    for name, value, rule in GUARDED:
        tx = FakeTx()
        vt = SourcelessBuilder(tx)(value)
        if select_rule(value).holds_state(value):
            assert vt.source == ObjectRefSource.of(value) and vt.source.obj is value, name
            assert tx.capture.guards.held == {vt.source.guard_expr(): value}
            assert not {GuardKind.TYPE_MATCH, GuardKind.ID_MATCH} & {g.kind for g in tx.capture.guards
                                                                      if g.source == vt.source}, name
        else:
            assert vt.source is None, name


@pytest.mark.parametrize("value, words", [
    (torch.ones(1).as_subclass(MyTensor), "MyTensor"),
], ids=["tensor subclass"])
def test_breaking_rules_raise_a_graph_break(value, words):
    from bytegraph.diagnostics import breaks
    from bytegraph.diagnostics.errors import Unsupported

    assert select_rule(value).name in BREAKING
    with pytest.raises(Unsupported) as e:
        VariableBuilder(FakeTx(), LocalSource("t"))(value)
    assert e.value.kind is breaks.UNSUPPORTED_VALUE and words in e.value.detail
