"""Mutations of state that exists outside the compiled function (DESIGN: "Side effects"):
recorded while tracing and replayed after the graph runs, so the caller sees the same
state as after an eager call. Mutations of objects created inside the frame are plain
tracing and need no replay."""

import sys

import torch

import bytegraph
from bytegraph.testing import same

THIS = sys.modules[__name__]
LAST = None




def _one_graph(counter, cf, ops):
    assert cf.stats.eager_reasons == []
    assert counter.frame_count == 1 and counter.op_count == ops
    assert cf.stats.recompiles == 0


def test_mutating_containers_created_in_the_frame_needs_no_replay(counter):
    def fn(x):
        acc = []
        table = {}
        for i in range(3):
            acc.append(x * i)
            table[i] = acc[-1] + 1
        acc.pop(0)
        del table[0]
        return acc, table

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        assert same(cf(x), fn(x))
    _one_graph(counter, cf, 6)


def test_append_to_input_list(counter):
    def fn(x, out):
        out.append(x * 2)
        return x + 1

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        seed = torch.randn(2)
        mine, theirs = [seed], [seed]
        assert same(cf(x, mine), fn(x, theirs))
        assert same(mine, theirs)
    _one_graph(counter, cf, 2)


def test_setitem_on_input_dict(counter):
    def fn(x, state):
        state["out"] = x.relu()
        return state["out"] * 2

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        mine, theirs = {"old": 1}, {"old": 1}
        assert same(cf(x, mine), fn(x, theirs))
        assert same(mine, theirs)
    _one_graph(counter, cf, 2)


def test_global_assignment(counter, monkeypatch):
    monkeypatch.setattr(THIS, "LAST", None)

    def fn(x):
        global LAST
        LAST = x * 2
        return LAST + 1

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        out = cf(x)
        mine = THIS.LAST
        assert same(out, fn(x)) and same(mine, THIS.LAST)
    _one_graph(counter, cf, 2)


def test_attribute_store_on_user_object(counter):
    class Recorder:
        def __init__(self):
            self.last = None

    def fn(x, rec):
        rec.last = x.sum()
        return x * 2

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        mine, theirs = Recorder(), Recorder()
        assert same(cf(x, mine), fn(x, theirs))
        assert same(mine.last, theirs.last)
    _one_graph(counter, cf, 2)


def test_module_caches_its_output_on_self(counter):
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 3)
            self.last_out = None

        def forward(self, x):
            out = self.lin(x)
            self.last_out = out.detach()
            return out

    model = M()
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 3)
        out = cm(x)
        assert same(model.last_out, out.detach())
        assert same(out, model(x))
    _one_graph(counter, cm, 2)   # linear, detach


def test_nonlocal_write_to_an_outer_cell(counter):
    state = None

    def fn(x):
        nonlocal state
        state = x * 3
        return state - 1

    def read():
        return state

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        out = cf(x)
        assert same(read(), x * 3) and same(out, x * 3 - 1)
    _one_graph(counter, cf, 2)
