"""``id(obj)`` while tracing. An object reached from a source has the id it has at run time
as long as an ID_MATCH guard holds, so ``id()`` folds to that constant: a registry keyed by
ids (``kernels``' ``use_kernelized_func``: ``active[id(fn)] = ...`` then ``active.get(id(self))``)
stays in one graph. Another object at that source recompiles; the entry is dropped when the
object dies (its address may be reused). Objects made while tracing and graph inputs
(tensors: a new object every call) still break (see test_breaks.py::test_id_breaks_and_resumes)."""

import gc

import torch
from torch import nn

import bytegraph
from bytegraph.testing import same


def _no_breaks(cf):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []


class Scale(nn.Module):
    """A function made a module (kernels' ``use_kernel_forward_from_hub`` on a function)."""

    def forward(self, x):
        override = ACTIVE.get(id(self))
        return x * (override if override is not None else 1.0)


scale = Scale()
ACTIVE: dict = {}


class Layer(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.factor = factor
        self.funcs = (scale,)

    def forward(self, x):
        active = dict(ACTIVE)
        for fn in self.funcs:
            active[id(fn)] = self.factor           # keyed by the id of a module reached from a source
        key = id(self.funcs[0])
        return self.lin(x) * (active[key] if key in active else 0.0), len(active)


def test_id_of_objects_from_sources_keys_a_dict_in_one_graph(counter):
    model = Layer(3.0)
    cf = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 4)
        assert same(cf(x), model(x))
    assert counter.frame_count == 1 and cf.stats.captures == 1
    _no_breaks(cf)
    model.funcs = (Scale(),)                       # another object at that source: its id differs
    x = torch.randn(2, 4)
    assert same(cf(x), model(x))
    assert cf.stats.recompiles == 1 and counter.frame_count == 2


def test_id_read_by_the_object_itself_matches_the_registry(counter):
    """The registry written under one id is read under the same id by the callee: the value
    set on the way in is seen (an id folded once per object, consistently)."""
    def fn(x, table):
        ACTIVE[id(scale)] = table["factor"]
        try:
            return scale(x)
        finally:
            del ACTIVE[id(scale)]

    cf = bytegraph.compile(fn, backend=counter)
    for factor in (2.0, 2.0, 5.0):
        x = torch.randn(3)
        assert same(cf(x, {"factor": factor}), fn(x, {"factor": factor}))
        assert ACTIVE == {}
    _no_breaks(cf)
    assert counter.frame_count == 2 and cf.stats.recompiles == 1       # 5.0 is a new constant


def test_id_of_a_function_and_of_a_class_argument(counter):
    def helper(x):
        return x + 1

    def other(x):
        return x - 1

    def fn(f, cls, x):
        return x * (id(f) == id(helper)) + (id(cls) == id(int))

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(helper, int, x), fn(helper, int, x))
    assert same(cf(helper, int, x), fn(helper, int, x))
    assert cf.stats.captures == 1
    assert same(cf(other, float, x), fn(other, float, x))     # other objects: the identity guards fail
    assert cf.stats.recompiles == 1 and counter.frame_count == 2
    _no_breaks(cf)


class Box:
    pass


def test_an_entry_pinned_on_an_id_is_dropped_when_the_object_dies(counter):
    def fn(obj, x):
        return x + (id(obj) == id(obj.peer))

    cf = bytegraph.compile(fn, backend=counter)
    a, b = Box(), Box()
    a.peer, b.peer = a, a
    x = torch.zeros(2)
    assert same(cf(a, x), fn(a, x)) and same(cf(b, x), fn(b, x))
    assert len(cf.entries) == 2 and cf.stats.recompiles == 1
    del b
    gc.collect()
    assert len(cf.entries) == 1                   # b's id could be reused by a new object: its entry is gone
    c = Box()
    c.peer = a
    assert same(cf(c, x), fn(c, x))
    _no_breaks(cf)


def test_id_of_an_object_made_while_tracing_still_breaks(counter):
    def fn(x):
        box = Box()
        return x + (id(box) > 0)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.zeros(2)
    assert same(cf(x), fn(x)) and same(cf(x), fn(x))
    assert len(cf.stats.break_reasons) == 1 and "made while tracing" in cf.stats.break_reasons[0]


def test_id_of_a_bound_method_breaks_instead_of_recompiling(counter):
    """``obj.method`` is a new object on every read: pinning its id would fail every call."""
    class Obj:
        def method(self):
            return 1

    def fn(obj, x):
        return x + (id(obj.method) > 0)

    cf = bytegraph.compile(fn, backend=counter)
    obj = Obj()
    for _ in range(3):
        x = torch.zeros(2)
        assert same(cf(obj, x), fn(obj, x))
    assert cf.stats.recompiles == 0 and len(cf.stats.break_reasons) == 1
    assert "bound method" in cf.stats.break_reasons[0]
