"""Guards: GuardSet dedup, and compile_guards' generated check (signature, every kind, hoisting, failure reasons)."""

from __future__ import annotations

import inspect
import math
import re
import sys
import types

import pytest
import torch

from bytegraph.guards import Guard, GuardKind, GuardSet, IdRef, ShapeGuards, TensorSpec
from torch._C._dynamo.guards import dict_version

from bytegraph.guards.codegen import compile_guards
from bytegraph.guards.guard import GlobalStateSnapshot, StorageSets
from bytegraph.sources import AttrSource, FreeVarSource, GlobalSource, ItemSource, LocalSource, ModuleGlobalsSource

K = GuardKind
A, B, C = LocalSource("a"), LocalSource("b"), LocalSource("c")


class Obj:
    pass


class _Remapped:
    """A class of its own __getattribute__ that answers ``w`` (remapped to ``v``): object's
    generic lookup still finds no ``w``, which is what NO_GENERIC_ATTR checks."""
    v = 1

    def __getattribute__(self, key):
        return object.__getattribute__(self, "v" if key == "w" else key)


class _RemappedW(_Remapped):
    w = 2           # on the class: generic lookup finds it


class _WithW:
    w = 1


def obj(**attrs):
    o = Obj()
    o.__dict__.update(attrs)
    return o


def compiled(fn, guards, frame_locals=None, *, fn_globals=None, cells=None):
    gs = GuardSet()
    for g in guards:
        gs.add(g)
    return compile_guards(gs, fn.__code__, fn_globals=fn.__globals__ if fn_globals is None else fn_globals,
                          cells=cells or {}, function=fn, defaults=fn.__defaults__, kwdefaults=fn.__kwdefaults__,
                          frame_locals=frame_locals or {})


def one(a):
    pass


def two(a, b):
    pass


def three(a, b, c):
    pass


# -- GuardSet ----------------------------------------------------------------------------------------

def test_guardset_dedup_ignores_reason_and_keeps_the_first():
    gs = GuardSet()
    gs.add(Guard(A, K.TYPE_MATCH, int, "rule one"))
    gs.add(Guard(A, K.TYPE_MATCH, int, "rule two"))
    assert len(gs) == 1
    assert [g.reason for g in gs] == ["rule one"]
    assert Guard(A, K.TYPE_MATCH, int, "other reason") in gs


@pytest.mark.parametrize("other", [
    Guard(B, K.TYPE_MATCH, int, "r"),                 # other source
    Guard(A, K.TYPE_MATCH, float, "r"),               # other payload
    Guard(A, K.EQUALS_MATCH, int, "r"),               # other kind
])
def test_guardset_keeps_distinct_guards_in_order(other):
    gs = GuardSet()
    gs.add(Guard(A, K.TYPE_MATCH, int, "r"))
    gs.add(other)
    assert list(gs) == [Guard(A, K.TYPE_MATCH, int), other]


def test_guard_identity_is_source_kind_payload():
    g1, g2 = Guard(A, K.SEQUENCE_LENGTH, 2, "x"), Guard(LocalSource("a"), K.SEQUENCE_LENGTH, 2, "y")
    assert g1 == g2 and hash(g1) == hash(g2)
    assert Guard(A, K.SEQUENCE_LENGTH, 2) != Guard(A, K.SEQUENCE_LENGTH, 3)


def test_guardset_watch_tolerates_objects_without_weakrefs():
    gs = GuardSet()
    o = Obj()
    gs.watch(o)
    gs.watch(3)            # ints cannot be weakly referenced: skipped, not an error
    assert [r() for r in gs.watched] == [o]


def test_idref_holds_no_reference():
    o = Obj()
    ref = IdRef.of(o)
    assert ref.id == id(o) and "Obj" in ref.description
    assert not any(v is o for v in (ref.id, ref.description))


# -- signature ------------------------------------------------------------------------------------------

def user(a, b=2, /, c=3, *args, d, e=5, **kw):
    pass


def test_check_has_the_user_signature():
    cg = compiled(user, [])
    assert inspect.signature(cg.check) == inspect.signature(user)
    assert cg.check.__defaults__ == (2, 3) and cg.check.__kwdefaults__ == {"e": 5}


@pytest.mark.parametrize("guard, call, expected", [
    (Guard(B, K.EQUALS_MATCH, 2), ((1,), {"d": 0}), True),                  # default of b applies
    (Guard(B, K.EQUALS_MATCH, 2), ((1, 7), {"d": 0}), False),
    (Guard(LocalSource("c"), K.EQUALS_MATCH, 3), ((1,), {"d": 0}), True),
    (Guard(LocalSource("c"), K.EQUALS_MATCH, 3), ((1,), {"c": 4, "d": 0}), False),   # by keyword
    (Guard(LocalSource("e"), K.EQUALS_MATCH, 5), ((1,), {"d": 0}), True),   # keyword-only default
    (Guard(LocalSource("e"), K.EQUALS_MATCH, 5), ((1,), {"d": 0, "e": 6}), False),
    (Guard(LocalSource("d"), K.EQUALS_MATCH, 0), ((1,), {"d": 0}), True),   # required keyword-only
    (Guard(LocalSource("args"), K.SEQUENCE_LENGTH, 0), ((1, 2, 3), {"d": 0}), True),
    (Guard(LocalSource("args"), K.SEQUENCE_LENGTH, 0), ((1, 2, 3, 4), {"d": 0}), False),
    (Guard(ItemSource(LocalSource("args"), 0), K.EQUALS_MATCH, "s"), ((1, 2, 3, "s"), {"d": 0}), True),
    (Guard(LocalSource("kw"), K.DICT_KEYS, ()), ((1,), {"d": 0}), True),
    (Guard(LocalSource("kw"), K.DICT_KEYS, ()), ((1,), {"d": 0, "z": 1}), False),
    (Guard(ItemSource(LocalSource("kw"), "z"), K.EQUALS_MATCH, 1), ((1,), {"d": 0, "z": 1}), True),
])
def test_cpython_binds_the_call(guard, call, expected):
    args, kwargs = call
    assert compiled(user, [guard]).check(*args, **kwargs) is expected


def test_wrong_call_is_a_type_error_not_a_miss():
    with pytest.raises(TypeError):
        compiled(two, []).check(1)


def test_wrong_call_names_the_user_function():
    with pytest.raises(TypeError) as real:
        two(1)
    with pytest.raises(TypeError) as ours:
        compiled(two, []).check(1)
    assert str(ours.value) == str(real.value)


# -- every kind accepts the original and rejects a change ------------------------------------------------

def _make_closure(k):
    def inner():
        return k
    return inner


def _other_function():
    return 0


_SAME = Obj()
_VERSIONED = {"k": 1}
_LIN = torch.nn.Linear(2, 2)
_T = torch.ones(2, 3)

# (id, guards, the user function, frame locals at capture, an accepted call, rejected calls)
CASES = [
    ("TYPE_MATCH", [Guard(A, K.TYPE_MATCH, int)], one, {}, (1,), [(1.0,), (True,), ("1",)]),
    ("ID_MATCH", [Guard(A, K.ID_MATCH, IdRef.of(_SAME))], one, {}, (_SAME,), [(Obj(),), (None,)]),
    ("CLOSURE_MATCH", [Guard(A, K.CLOSURE_MATCH, _make_closure(1).__code__)], one, {},
     (_make_closure(2),), [(_other_function,), (len,)]),
    ("EQUALS_MATCH int", [Guard(A, K.EQUALS_MATCH, 3)], one, {}, (3,), [(4,), (3.0,), (True,), ("3",)]),
    ("EQUALS_MATCH float", [Guard(A, K.EQUALS_MATCH, 0.5)], one, {}, (0.5,), [(0.25,), (1,)]),
    ("EQUALS_MATCH nan", [Guard(A, K.EQUALS_MATCH, math.nan)], one, {}, (float("nan"),), [(1.0,), (None,)]),
    ("EQUALS_MATCH inf", [Guard(A, K.EQUALS_MATCH, math.inf)], one, {}, (float("inf"),), [(-math.inf,), (1e308,)]),
    ("EQUALS_MATCH bool", [Guard(A, K.EQUALS_MATCH, True)], one, {}, (True,), [(1,), (False,)]),
    ("EQUALS_MATCH None", [Guard(A, K.EQUALS_MATCH, None)], one, {}, (None,), [(0,), (False,)]),
    ("EQUALS_MATCH str", [Guard(A, K.EQUALS_MATCH, "relu")], one, {}, ("relu",), [("gelu",), (b"relu",)]),
    ("EQUALS_MATCH bytes", [Guard(A, K.EQUALS_MATCH, b"x")], one, {}, (b"x",), [(b"y",), ("x",)]),
    ("EQUALS_MATCH dtype", [Guard(A, K.EQUALS_MATCH, torch.float32)], one, {}, (torch.float32,),
     [(torch.float64,), ("float32",)]),
    ("EQUALS_MATCH device", [Guard(A, K.EQUALS_MATCH, torch.device("cpu"))], one, {}, (torch.device("cpu"),),
     [(torch.device("meta"),), ("cpu",)]),
    ("EQUALS_MATCH Size", [Guard(A, K.EQUALS_MATCH, torch.Size([2, 3]))], one, {}, (torch.Size([2, 3]),),
     [(torch.Size([3, 2]),), ((2, 3),)]),
    ("EQUALS_MATCH frozenset", [Guard(A, K.EQUALS_MATCH, frozenset({1, 2}))], one, {}, ({2, 1},), [({1},)]),
    ("EQUALS_MATCH attribute", [Guard(AttrSource(A, "v"), K.EQUALS_MATCH, 7)], one, {}, (obj(v=7),),
     [(obj(v=8),), (obj(v=7.0),), (obj(),)]),
    ("SEQUENCE_LENGTH", [Guard(A, K.SEQUENCE_LENGTH, 3)], one, {}, ([1, 2, 3],), [([1, 2],), ((),)]),
    ("DICT_KEYS", [Guard(A, K.DICT_KEYS, ("a", "b"))], one, {}, ({"a": 1, "b": 2},),
     [({"b": 2, "a": 1},), ({"a": 1},), ({"a": 1, "b": 2, "c": 3},)]),
    ("DICT_KEYS empty", [Guard(A, K.DICT_KEYS, ())], one, {}, ({},), [({"a": 1},)]),
    ("DICT_CONTAINS", [Guard(A, K.DICT_CONTAINS, "a")], one, {}, ({"a": 1, "b": 2},), [({"b": 2},), ({},)]),
    ("DICT_VERSION", [Guard(A, K.DICT_VERSION, dict_version(_VERSIONED))], one, {}, (_VERSIONED,),
     [(dict(_VERSIONED),), ({},)]),
    ("HASATTR", [Guard(A, K.HASATTR, "w")], one, {}, (obj(w=1),), [(obj(),)]),
    ("NOT_HASATTR", [Guard(A, K.NOT_HASATTR, "w")], one, {}, (obj(),), [(obj(w=1),)]),
    ("NO_GENERIC_ATTR", [Guard(A, K.NO_GENERIC_ATTR, "w")], one, {}, (_Remapped(),),
     [(obj(w=1),), (_WithW(),), (_RemappedW(),)]),
    ("CELL_EMPTY", [Guard(A, K.CELL_EMPTY)], one, {}, (types.CellType(),), [(types.CellType(1),), (1,)]),
    ("DICT_NOT_CONTAINS", [Guard(AttrSource(A, "__dict__"), K.DICT_NOT_CONTAINS, "w")], one, {}, (obj(v=1),),
     [(obj(w=1),), (1,)]),
    ("TENSOR_MATCH", [Guard(A, K.TENSOR_MATCH, TensorSpec.of(_T))], one, {"a": _T}, (torch.zeros(2, 3),),
     [(torch.ones(2, 3, dtype=torch.float64),), (torch.ones(3, 2),), (torch.ones(2, 3, requires_grad=True),),
      (torch.ones(3, 2).t(),), (torch.nn.Parameter(torch.ones(2, 3), requires_grad=False),), ([1.0, 2.0],)]),
    ("DUPLICATE_INPUT", [Guard(A, K.DUPLICATE_INPUT, B)], two, {}, (_SAME, _SAME), [(_SAME, Obj())]),
    ("DICT_CONTAINS_OBJECT", [Guard(A, K.DICT_CONTAINS_OBJECT, B)], two, {}, ({_SAME: 1}, _SAME),
     [({_SAME: 1}, Obj()), ({}, _SAME)]),
    ("DICT_NOT_CONTAINS_OBJECT", [Guard(A, K.DICT_NOT_CONTAINS_OBJECT, B)], two, {}, ({_SAME: 1}, Obj()),
     [({_SAME: 1}, _SAME)]),
    ("NO_TENSOR_ALIASING 2", [Guard(None, K.NO_TENSOR_ALIASING, (A, B))], two, {}, (_T, _T.clone()), [(_T, _T)]),
    ("NO_TENSOR_ALIASING 3", [Guard(None, K.NO_TENSOR_ALIASING, (A, B, C))], three, {},
     (_T, _T.clone(), _T.clone()), [(_T, _T.clone(), _T), (_T, _T, _T.clone())]),
    ("NO_STORAGE_OVERLAP", [Guard(None, K.NO_STORAGE_OVERLAP, StorageSets((A,), (B, C)))], three, {},
     (_T, _T.clone(), _T.clone()), [(_T, _T.clone(), _T.detach()), (_T, _T[1:], _T.clone()), (_T, _T.clone(), _T)]),
    ("DISTINCT_OBJECTS", [Guard(None, K.DISTINCT_OBJECTS, (A, B))], two, {}, (_SAME, Obj()), [(_SAME, _SAME)]),
    ("NO_MODULE_HOOKS", [Guard(A, K.NO_MODULE_HOOKS)], one, {}, (_LIN,), "hooked_module"),
    ("NO_GLOBAL_MODULE_HOOKS", [Guard(None, K.NO_GLOBAL_MODULE_HOOKS)], one, {}, (1,), "global_hook"),
    ("GLOBAL_STATE", "snapshot", one, {}, (1,), "no_grad"),
    ("SHAPE_ENV", [Guard(None, K.SHAPE_ENV, ShapeGuards(("2 <= a.size()[0]",), ("2 <= L['a'].size()[0]",)))],
     one, {}, (torch.ones(3),), [(torch.ones(1),), (3,)]),
]


def _guards_of(case_guards):
    return [Guard(None, K.GLOBAL_STATE, GlobalStateSnapshot.capture())] if case_guards == "snapshot" else case_guards


def test_every_kind_has_a_case():
    kinds = {g.kind for _, gs, *_ in CASES for g in _guards_of(gs)}
    assert kinds == set(GuardKind)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kind_accepts_original_rejects_change(case):
    _, guards, fn, frame_locals, accepted, rejected = case
    cg = compiled(fn, _guards_of(guards), frame_locals)
    assert cg.check(*accepted) is True
    if rejected == "hooked_module":
        lin = torch.nn.Linear(2, 2)
        assert cg.check(lin) is True
        lin.register_forward_hook(lambda *a: None)
        assert cg.check(lin) is False
    elif rejected == "global_hook":
        handle = torch.nn.modules.module.register_module_forward_hook(lambda *a: None)
        try:
            assert cg.check(*accepted) is False
        finally:
            handle.remove()
        assert cg.check(*accepted) is True
    elif rejected == "no_grad":
        with torch.no_grad():
            assert cg.check(*accepted) is False
        assert cg.check(*accepted) is True
    else:
        for call in rejected:
            assert cg.check(*call) is False, call


@pytest.mark.parametrize("captured, other", [(0.0, -0.0), (-0.0, 0.0)])
def test_equals_match_tells_signed_zeros_apart(captured, other):
    cg = compiled(one, [Guard(A, K.EQUALS_MATCH, captured)])
    assert cg.check(captured) is True
    assert cg.check(other) is False


def test_global_and_cell_and_module_sources(monkeypatch):
    fn_globals = {"CONST": 42}
    cell = types.CellType(5)
    fake = types.ModuleType("bytegraph_fake_mod")
    fake.LIMIT = 3
    monkeypatch.setitem(sys.modules, "bytegraph_fake_mod", fake)
    cg = compiled(one, [Guard(GlobalSource("CONST"), K.EQUALS_MATCH, 42),
                        Guard(FreeVarSource("k"), K.EQUALS_MATCH, 5),
                        Guard(ItemSource(ModuleGlobalsSource("bytegraph_fake_mod"), "LIMIT"), K.EQUALS_MATCH, 3)],
                  fn_globals=fn_globals, cells={"k": cell})
    assert cg.check(0) is True
    fn_globals["CONST"] = 43
    assert cg.check(0) is False
    fn_globals["CONST"] = 42
    cell.cell_contents = 6
    assert cg.check(0) is False
    cell.cell_contents = 5
    fake.LIMIT = 4
    assert cg.check(0) is False
    fake.LIMIT = 3
    del fn_globals["CONST"]                     # KeyError while reading: a miss, not an error
    assert cg.check(0) is False


class Exploding:
    @property
    def value(self):
        raise RuntimeError("boom")


@pytest.mark.parametrize("arg", [Obj(), Exploding(), None])
def test_exception_while_reading_a_source_is_false(arg):
    cg = compiled(one, [Guard(AttrSource(A, "value"), K.TYPE_MATCH, int)])
    assert cg.check(obj(value=1)) is True
    assert cg.check(arg) is False


# -- structure of the generated code ---------------------------------------------------------------------

def test_shared_base_is_read_once():
    ma = AttrSource(A, "a")
    cg = compiled(one, [Guard(AttrSource(ma, "b"), K.EQUALS_MATCH, 1),
                        Guard(AttrSource(ma, "c"), K.TYPE_MATCH, float),
                        Guard(AttrSource(A, "single"), K.EQUALS_MATCH, 0)])
    src = cg.source_code
    assigns = re.findall(r"^\s*(___t\d+) = (.+)$", src, re.M)
    assert assigns == [(assigns[0][0], "a.a")], src
    temp = assigns[0][0]
    assert src.count("a.a") == 1 and f"{temp}.b" in src and f"{temp}.c" in src
    assert "a.single" in src                              # used once: read in place
    assert cg.check(obj(a=obj(b=1, c=2.0), single=0)) is True
    assert cg.check(obj(a=obj(b=1, c=2), single=0)) is False


def test_nested_shared_bases_are_hoisted_once_each():
    mab = AttrSource(AttrSource(A, "a"), "b")
    cg = compiled(one, [Guard(AttrSource(mab, "x"), K.EQUALS_MATCH, 1),
                        Guard(AttrSource(mab, "y"), K.EQUALS_MATCH, 2),
                        Guard(AttrSource(AttrSource(A, "a"), "c"), K.EQUALS_MATCH, 3)])
    assigns = re.findall(r"^\s*(___t\d+) = (.+)$", cg.source_code, re.M)
    assert [v for _, v in assigns] == ["a.a", f"{assigns[0][0]}.b"], cg.source_code
    assert cg.check(obj(a=obj(b=obj(x=1, y=2), c=3))) is True
    assert cg.check(obj(a=obj(b=obj(x=1, y=0), c=3))) is False


def test_local_roots_are_not_hoisted():
    cg = compiled(one, [Guard(AttrSource(A, "p"), K.EQUALS_MATCH, 1), Guard(AttrSource(A, "q"), K.EQUALS_MATCH, 2)])
    assert not re.search(r"^\s*___t\d+ = ", cg.source_code, re.M)


def test_tensor_guards_share_hoisted_bases():
    m = torch.nn.Linear(2, 2)
    params = AttrSource(A, "_parameters")
    cg = compiled(one, [Guard(ItemSource(params, "weight"), K.TENSOR_MATCH, TensorSpec.of(m.weight)),
                        Guard(ItemSource(params, "bias"), K.TENSOR_MATCH, TensorSpec.of(m.bias))], {"a": m})
    assert cg.source_code.count("a._parameters") == 1
    assert cg.check(m) is True
    assert cg.check(torch.nn.Linear(2, 3)) is False


def test_order_global_state_first_then_shallow_then_aliasing_then_tensors():
    deep = Guard(AttrSource(AttrSource(A, "x"), "y"), K.EQUALS_MATCH, 1)
    shallow = Guard(A, K.TYPE_MATCH, Obj)
    alias = Guard(None, K.NO_TENSOR_ALIASING, (AttrSource(A, "t"), AttrSource(A, "u")))
    tensor = Guard(AttrSource(A, "t"), K.TENSOR_MATCH, TensorSpec.of(_T))
    state = Guard(None, K.GLOBAL_STATE, GlobalStateSnapshot.capture())
    a = obj(x=obj(y=1), t=_T, u=_T.clone())
    cg = compiled(one, [tensor, alias, deep, shallow, state], {"a": a})
    src = cg.source_code
    marks = ["___global_state", "type(a) is", "a.x.y", "is not a.u", "return ___tensors"]
    positions = [src.find(m) for m in marks]
    assert -1 not in positions and positions == sorted(positions), src
    assert cg.check(a) is True
    a.u = a.t
    assert cg.check(a) is False


# -- failure reasons ------------------------------------------------------------------------------------

def test_failure_is_none_when_all_pass():
    cg = compiled(one, [Guard(A, K.TYPE_MATCH, int)])
    assert cg.failure({"a": 1}) is None


@pytest.mark.parametrize("guard, value, words", [
    (Guard(A, K.TYPE_MATCH, int, "rule 'literal'"), 1.5, ["L['a']", "TYPE_MATCH", "int", "float", "rule 'literal'"]),
    (Guard(A, K.EQUALS_MATCH, 3, "r"), 4, ["L['a']", "EQUALS_MATCH", "3", "got 4"]),
    (Guard(AttrSource(A, "n"), K.SEQUENCE_LENGTH, 2, "r"), obj(n=[1, 2, 3]), ["L['a'].n", "2", "length 3"]),
    (Guard(A, K.DICT_KEYS, ("x",), "r"), {"y": 1}, ["L['a']", "'x'", "keys ['y']"]),
    (Guard(A, K.ID_MATCH, IdRef.of(_SAME), "r"), Obj(), ["L['a']", "ID_MATCH", "another object"]),
])
def test_failure_names_source_expected_and_actual(guard, value, words):
    cg = compiled(one, [guard])
    assert cg.check(value) is False
    reason = cg.failure({"a": value})
    for w in words:
        assert w in reason, (w, reason)


def test_failure_reports_the_first_failing_guard():
    cg = compiled(two, [Guard(A, K.TYPE_MATCH, int), Guard(B, K.TYPE_MATCH, int)])
    assert cg.failure({"a": 1, "b": "s"}).startswith("L['b']")
    assert cg.failure({"a": "s", "b": "s"}).startswith("L['a']")


@pytest.mark.parametrize("value, words", [
    (torch.ones(2, 3, dtype=torch.float64), ["L['a']", "dtype", "torch.float32", "torch.float64"]),
    (torch.ones(3, 3), ["L['a']", "size", "(2, 3)", "(3, 3)"]),
    (torch.ones(2, 3, requires_grad=True), ["L['a']", "requires_grad"]),
    ("not a tensor", ["L['a']", "expected a tensor", "str"]),
])
def test_tensor_failure_names_the_field(value, words):
    cg = compiled(one, [Guard(A, K.TENSOR_MATCH, TensorSpec.of(_T), "rule 'tensor'")], {"a": _T})
    reason = cg.failure({"a": value})
    for w in words:
        assert w in reason, (w, reason)


def test_failure_when_a_source_cannot_be_read():
    cg = compiled(one, [Guard(AttrSource(A, "value"), K.TYPE_MATCH, int)])
    reason = cg.failure({"a": Exploding()})
    assert "L['a'].value" in reason and "could not be read" in reason and "boom" in reason
