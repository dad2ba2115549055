"""Sources: name(), guard_expr(), reconstruct(), placeholder_name, chain/root, is_module_state, hashing and dedup."""

from __future__ import annotations

import dataclasses
import sys
import types

import pytest

from bytegraph.sources import (AttrSource, DictKeySource, FreeVarSource, GlobalSource, ItemSource, LocalSource,
                               ModuleGlobalsSource, Source, TypeSource, placeholder_name)

L = LocalSource
x = L("x")
m = L("m")
w = ItemSource(AttrSource(m, "_parameters"), "weight")


class Obj:
    pass


# -- name() and guard_expr() ---------------------------------------------------------------------

@pytest.mark.parametrize("source, name, guard", [
    (x, "L['x']", "x"),
    (GlobalSource("CONST"), "G['CONST']", "___G['CONST']"),
    (FreeVarSource("scale"), "L['scale']", "___cell_scale.cell_contents"),
    (AttrSource(m, "weight"), "L['m'].weight", "m.weight"),
    (w, "L['m']._parameters['weight']", "m._parameters['weight']"),
    (ItemSource(x, 0), "L['x'][0]", "x[0]"),
    (ItemSource(x, -1), "L['x'][-1]", "x[-1]"),
    (ItemSource(x, ("a", 1)), "L['x'][('a', 1)]", "x[('a', 1)]"),
    (TypeSource(x), "type(L['x'])", "type(x)"),
    (AttrSource(TypeSource(x), "forward"), "type(L['x']).forward", "type(x).forward"),
    (DictKeySource(x, 2), "list(L['x'])[2]", "list(x)[2]"),
    (ModuleGlobalsSource("math"), "sys.modules['math'].__dict__", "___modules['math'].__dict__"),
    (ItemSource(ModuleGlobalsSource("math"), "pi"), "sys.modules['math'].__dict__['pi']",
     "___modules['math'].__dict__['pi']"),
])
def test_name_and_guard_expr(source, name, guard):
    assert source.name() == name
    assert source.guard_expr() == guard
    assert str(source) == name


def _frame():
    """A frame-like world: locals, globals, one closure cell, and the values the sources reach."""
    mod = Obj()
    mod._parameters = {"weight": 3.5}
    mod.sub = Obj()
    mod.sub.k = [10, 20, 30]
    f_locals = {"m": mod, "x": [1, {"b": 2, 7: "seven"}, (4, 5)]}
    f_globals = {"CONST": 42, "TABLE": {"z": 1}}
    cell = types.CellType(99)
    return f_locals, f_globals, cell


EVALUATED = [
    (ItemSource(AttrSource(L("m"), "_parameters"), "weight"), 3.5),
    (ItemSource(AttrSource(AttrSource(L("m"), "sub"), "k"), 1), 20),
    (ItemSource(ItemSource(L("x"), 1), "b"), 2),
    (DictKeySource(ItemSource(L("x"), 1), 1), 7),
    (ItemSource(L("x"), 2), (4, 5)),
    (TypeSource(L("m")), Obj),
    (GlobalSource("CONST"), 42),
    (ItemSource(GlobalSource("TABLE"), "z"), 1),
    (FreeVarSource("c"), 99),
    (ItemSource(ModuleGlobalsSource("math"), "pi"), __import__("math").pi),
]


@pytest.mark.parametrize("source, expected", EVALUATED, ids=[s.name() for s, _ in EVALUATED])
def test_guard_expr_and_name_evaluate_to_the_value(source, expected):
    f_locals, f_globals, cell = _frame()
    # As in a generated guard function: the user's parameters are locals, helpers are ___ globals.
    ns = {"___G": f_globals, "___modules": sys.modules, "___cell_c": cell}
    assert eval(source.guard_expr(), ns, dict(f_locals)) == expected
    # name() reads the frame through L (locals and cells) and G (globals), for people.
    assert eval(source.name(), {"sys": sys}, {"L": {**f_locals, "c": 99}, "G": f_globals}) == expected


def test_wrap_substitutes_the_base():
    src = ItemSource(AttrSource(m, "_buffers"), "b")
    assert src.wrap("___t0") == "___t0['b']"
    assert AttrSource(m, "a").wrap("base") == "base.a"
    assert TypeSource(m).wrap("base") == "type(base)"
    assert DictKeySource(m, 0).wrap("base") == "list(base)[0]"


def test_root_sources_have_no_wrap():
    with pytest.raises(NotImplementedError):
        x.wrap("y")


# -- reconstruct -----------------------------------------------------------------------------------

class RecordingCodegen:
    """Implements sources.SourceCodegen by recording calls."""

    def __init__(self) -> None:
        self.ops: list[tuple] = []

    def load_source(self, source: Source) -> None:
        source.reconstruct(self)

    def __getattr__(self, name):
        return lambda *args: self.ops.append((name, *args))


@pytest.mark.parametrize("source, ops", [
    (x, [("load_local", "x")]),
    (GlobalSource("G1"), [("load_global", "G1")]),
    (FreeVarSource("c"), [("load_deref", "c")]),
    (w, [("load_local", "m"), ("load_attr", "_parameters"), ("load_const", "weight"), ("binary_subscr",)]),
    (TypeSource(x), [("push_callable", type), ("load_local", "x"), ("call", 1)]),
    (DictKeySource(x, 3), [("push_callable", list), ("load_local", "x"), ("call", 1), ("load_const", 3),
                           ("binary_subscr",)]),
])
def test_reconstruct_emits_the_path(source, ops):
    cg = RecordingCodegen()
    source.reconstruct(cg)
    assert cg.ops == ops


# -- placeholder names ------------------------------------------------------------------------------

@pytest.mark.parametrize("source, name", [
    (x, "L_x_"),
    (AttrSource(x, "weight"), "L_x_weight_"),
    (w, "L_m__parameters_weight_"),
    (ItemSource(x, 0), "L_x_0_"),
    (GlobalSource("CONST"), "G_CONST_"),
    (ItemSource(ItemSource(GlobalSource("T"), "a b"), -1), "G_T_a_b_1_"),
])
def test_placeholder_name(source, name):
    assert placeholder_name(source) == name
    assert name.isidentifier()


@dataclasses.dataclass(frozen=True, slots=True)
class _Odd(Source):
    text: str

    def name(self) -> str:
        return self.text


@pytest.mark.parametrize("text, name", [("0abc", "_0abc_"), ("[]", "__"), ("'x'", "x_")])
def test_placeholder_name_is_always_an_identifier(text, name):
    assert placeholder_name(_Odd(text)) == name
    assert name.isidentifier()


# -- structure --------------------------------------------------------------------------------------

def test_chain_is_root_first_and_root_is_first():
    a = AttrSource(m, "_parameters")
    assert w.chain() == [m, a, w]
    assert w.root() == m
    assert x.chain() == [x] and x.root() is x
    assert w.base == a and a.base == m and m.base is None


@pytest.mark.parametrize("source, expected", [
    (w, True),
    (ItemSource(AttrSource(AttrSource(m, "sub"), "_buffers"), "running_mean"), True),
    (AttrSource(ItemSource(AttrSource(m, "_parameters"), "w"), "grad"), True),
    (AttrSource(m, "weight"), False),
    (ItemSource(AttrSource(m, "_modules"), "fc"), False),
    (ItemSource(m, "_parameters"), False),          # an item named like it, not the attribute
    (x, False),
])
def test_is_module_state(source, expected):
    assert source.is_module_state() is expected


# -- values: frozen, hashable, deduplicated -----------------------------------------------------------

def test_equal_sources_are_equal_and_hash_equal():
    a = ItemSource(AttrSource(L("m"), "_parameters"), "weight")
    assert a == w and hash(a) == hash(w) and a is not w
    assert len({a, w, ItemSource(AttrSource(L("m"), "_parameters"), "bias")}) == 2


def test_a_hash_is_computed_once_and_not_carried_by_replace():
    """A deep chain's hash walks the whole chain: it is kept on the source after the first call
    (capture hashes sources tens of thousands of times), and a replaced copy computes its own."""
    deep = x
    for i in range(50):
        deep = AttrSource(deep, f"a{i}")
    assert deep._hash == 0
    h = hash(deep)
    assert deep._hash == h and deep.of._hash != 0          # the bases' too, on the way
    again = AttrSource(deep.of, "a49")
    assert again == deep and hash(again) == h
    other = dataclasses.replace(deep, attr="b")
    assert other._hash == 0 and hash(other) != h and other != deep
    assert "_hash" not in repr(deep)


@pytest.mark.parametrize("a, b", [
    (L("x"), L("y")),
    (L("x"), FreeVarSource("x")),                  # same name, other kind
    (L("x"), GlobalSource("x")),
    (AttrSource(x, "a"), ItemSource(x, "a")),       # x.a is not x['a']
    (ItemSource(x, "0"), ItemSource(x, 0)),
    (AttrSource(x, "a"), AttrSource(L("y"), "a")),  # same attribute of another base
    (TypeSource(x), TypeSource(L("y"))),
    (DictKeySource(x, 0), DictKeySource(x, 1)),
])
def test_distinct_sources_differ(a, b):
    assert a != b
    assert len({a, b}) == 2


def test_sources_are_frozen_and_slotted():
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.local = "y"
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.key = "bias"
    assert not hasattr(w, "__dict__")


def test_sources_as_dict_keys():
    seen = {}
    for s in [x, AttrSource(L("x"), "a"), L("x"), AttrSource(x, "a")]:
        seen[s] = seen.get(s, 0) + 1
    assert seen == {x: 2, AttrSource(x, "a"): 2}
