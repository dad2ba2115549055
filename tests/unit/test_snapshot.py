"""guards/snapshot.py: which sources a state snapshot covers and which guards it implies (the
rule tables), and the generated fast check against the full one (guards/fastpath.py)."""

from __future__ import annotations

import types

import pytest
import torch

from bytegraph.config import config
from bytegraph.guards import Guard, GuardKind, GuardSet, IdRef, TensorSpec
from bytegraph.guards import snapshot
from bytegraph.guards.codegen import compile_guards
from bytegraph.sources import (AttrSource, GlobalsDictSource, InstanceAttrSource, ItemSource, LocalSource,
                               ModuleGlobalsSource, ObjectRefSource, TypeSource)
from bytegraph.guards import snapshot as snapshot_module

# Snapshots rely on dict version tags seeing attribute writes; where they do not (CPython 3.13.0:
# a bug, python/cpython#125608, fixed in 3.13.1; probed at import: guards/snapshot.py TAGS_SEE_WRITES)
# snapshots are off and every guard is checked on each call, as the rest of the suite tests.
pytestmark = pytest.mark.skipif(not snapshot_module.TAGS_SEE_WRITES,
                                reason="snapshots are off on this Python (its dict version tags miss attribute writes)")

K = GuardKind
M = LocalSource("m")


class Holder:
    def __init__(self):
        self.items = [1, 2]
        self.shape = (3, 4)
        self.fn = lambda x: x

    @property
    def computed(self):
        return 1


class Custom:
    def __getattribute__(self, name):
        return object.__getattribute__(self, name)


def _module():
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    m.holder = Holder()
    m.custom = Custom()
    m.custom.x = 1
    return m


def _plan(guards, m):
    return snapshot.plan(guards, snapshot.Values({"m": m}, {}, {}), 0)


def _child(name):
    return ItemSource(AttrSource(M, "_modules"), name)


def _attr(obj, name):
    return InstanceAttrSource.of_object(obj, name)


@pytest.mark.parametrize("guard, stable", [
    (Guard(M, K.TYPE_MATCH, torch.nn.Sequential), True),                                   # the anchor's own type
    (Guard(_child("0"), K.TYPE_MATCH, torch.nn.Linear), True),                             # a submodule: tagged dict
    (Guard(_child("0"), K.NO_MODULE_HOOKS), True),
    (Guard(_attr(_child("0"), "in_features"), K.EQUALS_MATCH, 2), True),                   # an immutable attribute
    (Guard(ItemSource(AttrSource(_child("0"), "_parameters"), "weight"), K.TENSOR_MATCH, None), False),  # metadata
    (Guard(AttrSource(_child("1"), "inplace"), K.EQUALS_MATCH, False), True),             # through an instance
    (Guard(AttrSource(_attr(M, "holder"), "items"), K.SEQUENCE_LENGTH, 2), False),        # a list can change
    (Guard(AttrSource(_attr(M, "holder"), "shape"), K.SEQUENCE_LENGTH, 2), True),         # a tuple cannot
    (Guard(AttrSource(_attr(M, "holder"), "computed"), K.EQUALS_MATCH, 1), False),        # a property runs code
    (Guard(AttrSource(_attr(M, "custom"), "x"), K.EQUALS_MATCH, 1), False),               # custom __getattribute__
    (Guard(AttrSource(_attr(M, "holder"), "fn"), K.CLOSURE_MATCH, Holder().fn.__code__), True),   # __code__ watched
    (Guard(AttrSource(TypeSource(M), "forward"), K.CLOSURE_MATCH, torch.nn.Sequential.forward.__code__),
     True),                                                                                # a class attribute
    (Guard(M, K.NOT_HASATTR, "missing"), True),                                           # instance, class, state dicts
    (Guard(LocalSource("x"), K.EQUALS_MATCH, 3), False),                                  # an argument
    # torch functions by identity through their module's dict (tagged): implied
    (Guard(ItemSource(ModuleGlobalsSource("torch.nn.functional"), "gelu"), K.ID_MATCH,
           IdRef.of(torch.nn.functional.gelu)), True),
    # kinds the snapshot never implies, whatever their sources: checked on every call
    (Guard(_attr(M, "_modules"), K.DICT_CONTAINS_OBJECT, _child("0")), False),
    (Guard(_attr(M, "_modules"), K.DICT_NOT_CONTAINS_OBJECT, _child("1")), False),
    (Guard(GlobalsDictSource(), K.DICT_NOT_CONTAINS, "len"), False),                     # a shadowing global
    (Guard(AttrSource(ItemSource(AttrSource(_attr(M, "holder"), "fn"), 0), "cell_contents"), K.CELL_EMPTY), False),
    (Guard(None, K.NO_GLOBAL_MODULE_HOOKS), False),
    (Guard(AttrSource(ObjectRefSource.of(Holder), "__name__"), K.EQUALS_MATCH, "Holder"), False),  # unread path
])
def test_which_guards_the_snapshot_implies(guard, stable):
    m = _module()
    p = _plan([Guard(M, K.TYPE_MATCH, torch.nn.Sequential), guard], m)
    assert p is not None
    assert (guard in p.stable) is stable


def test_a_model_in_a_closure_cell_is_not_watched():
    """A cell's contents are held by the snapshot to compare them: never a model, which would
    then be kept alive."""
    inner = torch.nn.Linear(2, 2)

    def f():
        return inner

    m = _module()
    m.f = f
    cell = AttrSource(ItemSource(AttrSource(_attr(M, "f"), "__closure__"), 0), "cell_contents")
    p = _plan([Guard(M, K.TYPE_MATCH, torch.nn.Sequential), Guard(cell, K.TYPE_MATCH, torch.nn.Linear)], m)
    assert cell not in p.covered or cell in p.anchors


def test_plan_refused_when_too_few_guards_are_implied():
    m = _module()
    guards = [Guard(M, K.TYPE_MATCH, torch.nn.Sequential)]
    assert snapshot.plan(guards, snapshot.Values({"m": m}, {}, {}), 2) is None
    assert snapshot.plan([Guard(LocalSource("x"), K.EQUALS_MATCH, 1)], snapshot.Values({"x": 1}, {}, {}), 0) is None


def _compiled(guards, m):
    gs = GuardSet()
    for g in guards:
        gs.add(g)

    def user(m):
        pass
    return compile_guards(gs, user.__code__, fn_globals={}, cells={}, function=user, defaults=None, kwdefaults=None,
                          frame_locals={"m": m})


@pytest.mark.parametrize("upgrade_after", [256, 1], ids=["map", "torch"])
def test_fast_check_agrees_with_the_full_guards_through_mutations(upgrade_after, monkeypatch):
    monkeypatch.setattr(snapshot, "UPGRADE_AFTER", upgrade_after)
    m = _module()
    weight = ItemSource(AttrSource(_child("0"), "_parameters"), "weight")
    guards = [Guard(M, K.TYPE_MATCH, torch.nn.Sequential), Guard(_child("0"), K.TYPE_MATCH, torch.nn.Linear),
              Guard(_child("1"), K.NO_MODULE_HOOKS), Guard(_attr(_child("0"), "in_features"), K.EQUALS_MATCH, 2),
              Guard(weight, K.TENSOR_MATCH, TensorSpec.of(m[0].weight))]
    with config.patch(snapshot_min_guards=0):
        cg = _compiled(guards, m)
    assert cg.fast is not None
    checks = []

    def check(expected):
        checks.append(cg.check(m))
        assert checks[-1] is expected

    check(True)
    check(True)
    m[0].in_features = 3                     # attribute
    check(False)
    m[0].in_features = 2
    check(True)
    m[1].register_forward_hook(lambda *a: None)                   # hook
    check(False)
    m[1]._forward_hooks.clear()
    check(True)
    m._modules["0"] = torch.nn.Linear(2, 2)  # raw submodule swap, same type: passes, new values
    check(True)
    m[0].weight.requires_grad_(False)        # tensor metadata, no dict written
    check(False)
    m[0].weight.requires_grad_(True)
    check(True)
    m[0].__class__ = type("Sub", (torch.nn.Linear,), {})          # __class__ assignment
    check(False)
    # taken: first check, after in_features was put back, after the swap (a hook removed again or
    # requires_grad switched back write no watched dict: the snapshot holds throughout)
    assert cg.fast.snapshot.rearms == 3
    state = cg.fast.snapshot.holder.state
    assert isinstance(state[8], snapshot._KeptWatch) is (upgrade_after > 1)


def test_fast_check_under_the_assumptions_misses_only_what_they_name():
    """``assume_hooks_registered_via_api`` and ``assume_static_tensor_metadata``: the hit checks
    the hook-handle count and no tensor metadata; everything else is seen as before."""
    m = _module()
    weight = ItemSource(AttrSource(_child("0"), "_parameters"), "weight")
    guards = [Guard(M, K.TYPE_MATCH, torch.nn.Sequential), Guard(_child("1"), K.NO_MODULE_HOOKS),
              Guard(_attr(_child("0"), "in_features"), K.EQUALS_MATCH, 2),
              Guard(weight, K.TENSOR_MATCH, TensorSpec.of(m[0].weight))]
    with config.patch(snapshot_min_guards=0, assume_hooks_registered_via_api=True,
                      assume_static_tensor_metadata=True):
        cg = _compiled(guards, m)
    assert cg.check(m) and cg.check(m)
    m[0].in_features = 3                     # attribute: a dict written
    assert not cg.check(m)
    m[0].in_features = 2
    assert cg.check(m)
    handle = m[1].register_forward_hook(lambda *a: None)          # the count moves: the full guards run
    assert not cg.check(m)
    handle.remove()
    assert cg.check(m)
    m[1]._forward_hooks[0] = lambda *a: None                      # no handle: missed, as documented
    assert cg.check(m)
    del m[1]._forward_hooks[0]
    m[0].weight.requires_grad_(False)        # tensor metadata: missed, as documented ...
    assert cg.check(m)
    assert "requires_grad" in cg.failure({"m": m})                # ... though the full guards see it
    m[0].weight.requires_grad_(True)
    assert cg.fast.snapshot.rearms == 3      # first check, in_features put back, the hook removed


def test_checkers_agree():
    def closure():
        def f():
            pass
        return f, (lambda: f).__closure__[0]

    f, cell = closure()
    dicts = [{"a": 1}, {}, types.SimpleNamespace().__dict__]
    for _, make in snapshot.CHECKERS:
        check = make(dicts, [(f, "__code__", f.__code__), (cell, "cell_contents", f), (Holder, "__mro__", Holder.__mro__)])
        assert check()
        dicts[2]["x"] = 1
        assert not check()
        del dicts[2]["x"]
        assert not check()                    # a deletion is a write too
        check = make(dicts, [(cell, "cell_contents", f)])
        cell.cell_contents = None
        assert not check()
        cell.cell_contents = f
        assert check()


def test_every_checker_passes_its_probe():
    """``_works``: untouched state passes; a dict write, ``__class__`` assignment, ``__bases__``
    assignment (a new ``__mro__``, read by torch's direct accessor) and ``__code__`` reassignment
    each fail. A checker that stopped seeing one would silently fall back to the next."""
    assert [name for name, make in snapshot.CHECKERS if snapshot._works(make)] == [n for n, _ in snapshot.CHECKERS]


def test_checkers_see_a_class_assignment():
    class A:
        pass

    class B:
        pass

    obj = A()
    for _, make in snapshot.CHECKERS:
        check = make([{}], [], [obj], [A])
        assert check()
        obj.__class__ = B
        assert not check()
        obj.__class__ = A
        assert check()


def _tensor_cases():
    p = torch.nn.Parameter(torch.randn(2, 3))
    b = torch.randn(4)
    sym = torch.randn(5, 2)
    spec_sym = TensorSpec(torch.Tensor, sym.dtype, sym.device, False, (None, 2), (2, 1))   # dim 0 symbolic
    return [p, b, sym], [TensorSpec.of(p), TensorSpec.of(b), spec_sym]


# each: (what it does to the tensors, whether their TENSOR_MATCH still holds); undone after
_TENSOR_CHANGES = [
    ("nothing", lambda ts: None, True),
    ("requires_grad_ off", lambda ts: ts[0].requires_grad_(False), False),
    ("requires_grad on", lambda ts: ts[1].requires_grad_(True), False),
    (".data = other shape", lambda ts: setattr(ts[0], "data", torch.randn(3, 2)), False),
    (".data = other dtype", lambda ts: setattr(ts[0], "data", torch.randn(2, 3, dtype=torch.float64)), False),
    (".data = same shape", lambda ts: setattr(ts[0], "data", torch.randn(2, 3)), True),
    ("t_() in place", lambda ts: ts[0].t_(), False),
    ("resize_ a buffer", lambda ts: ts[1].resize_(6), False),
    ("symbolic dim changes", lambda ts: ts[2].resize_(7, 2), True),
    ("as_strided_", lambda ts: ts[2].as_strided_((5, 2), (1, 5)), False),
]


@pytest.mark.parametrize("change", _TENSOR_CHANGES, ids=[c[0] for c in _TENSOR_CHANGES])
def test_kept_tensor_checks_agree_with_tensor_guards(change):
    """torch's guard manager with TENSOR_MATCH leaves (what a snapshot switches to) says what the
    capture's TensorGuards says after each metadata change that writes no dict."""
    from bytegraph.torch_compat import TensorGuards

    _, do, holds = change
    assert snapshot.tensor_checker() is snapshot._tensors_in_torch, "works on the torch the suite pins"
    tensors, specs = _tensor_cases()
    guards = TensorGuards(*tensors, dynamic_dims_sizes=[list(s.size) for s in specs],
                          dynamic_dims_strides=[list(s.stride) for s in specs]).check
    leaves = snapshot._tensors_in_torch(tensors, specs)
    assert guards(*tensors) and leaves()
    with torch.no_grad():
        do(tensors)
    assert guards(*tensors) is holds
    assert leaves() is holds


def test_kept_tensor_checks_agree_under_inference_mode():
    tensors, specs = _tensor_cases()
    from bytegraph.torch_compat import TensorGuards

    guards = TensorGuards(*tensors, dynamic_dims_sizes=[list(s.size) for s in specs],
                          dynamic_dims_strides=[list(s.stride) for s in specs]).check
    leaves = snapshot._tensors_in_torch(tensors, specs)
    with torch.inference_mode():
        assert guards(*tensors) is leaves()


def test_kept_tensor_check_is_not_rebuilt_from_a_changed_tensor():
    """The faster check reads the expected metadata from the tensors when it is built; it is
    built only while the capture's check still passes, so a tensor changed in between (another
    thread) stays a mismatch."""
    tensors, specs = _tensor_cases()
    from bytegraph.torch_compat import TensorGuards

    kept = snapshot.KeptTensors(TensorGuards(*tensors, dynamic_dims_sizes=[list(s.size) for s in specs],
                                             dynamic_dims_strides=[list(s.stride) for s in specs]).check, specs)
    holder = snapshot.Holder(())
    watch = snapshot._KeptWatch(holder, kept, tensors)
    assert watch.faster() is not None
    tensors[0].requires_grad_(False)
    assert watch.faster() is None and not watch()
