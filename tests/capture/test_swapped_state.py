"""State swapped in for the length of a call is the state the call sees (issue #12, item 2).

``torch.func.functional_call`` and ``torch.nn.utils.stateless`` put other tensors in a
module's ``_parameters``/``_buffers`` and put the originals back in ``finally``;
parametrizations compute a weight on every read; context managers (``mock.patch.object``, a
user's ``@contextmanager``, try/finally) patch an attribute or a module global and restore
it. The trace must run the module with the swapped-in state (it reads a module's
parameters through the trace's own record of those dicts), leave every object as eager
leaves it (Module.__setattr__/__delattr__ are traced, so a tensor lands in ``_buffers`` or in
``__dict__`` as in eager), and write back nothing for a state that was restored.

Also here: write-backs rebuild every value before writing any (a value read from a place
the frame then overwrote is the old value), and a dict is written back key by key, so keys
added since the capture survive.
"""

import contextlib
import sys
import types
from unittest import mock

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize, stateless

import bytegraph
from bytegraph.testing import CompileCounter, same


def _compiled(fn):
    counter = CompileCounter()
    return bytegraph.compile(fn, backend=counter), counter


def _no_breaks(cf):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == [], cf.stats


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.register_buffer("scale", torch.tensor(2.0))

    def forward(self, x, shift=0.0):
        return self.lin(x) * self.scale + shift


# -- functional_call and stateless --------------------------------------------------------------
@pytest.mark.parametrize("call", ["torch.func", "stateless", "(params, buffers)", "kwargs, strict=False"])
def test_functional_call_runs_the_module_with_the_given_tensors(call):
    model = Scaled()
    params = {"lin.weight": torch.randn(3, 4), "lin.bias": torch.randn(3)}
    buffers = {"scale": torch.tensor(5.0)}
    calls = {
        "torch.func": lambda x: torch.func.functional_call(model, {**params, **buffers}, (x,)),
        "stateless": lambda x: stateless.functional_call(model, params, (x,)),
        "(params, buffers)": lambda x: torch.func.functional_call(model, (params, buffers), x),
        "kwargs, strict=False": lambda x: torch.func.functional_call(model, {"scale": buffers["scale"]}, (x,),
                                                                     {"shift": 1.0}, strict=False),
    }
    fn = calls[call]
    cf, counter = _compiled(fn)
    own = {k: v.clone() for k, v in model.state_dict().items()}
    for step in range(3):
        x = torch.randn(2, 4)
        assert same(cf(x), fn(x))
        params["lin.weight"] = torch.randn(3, 4)          # new tensors of the same kind: no recompile
        buffers["scale"] = torch.tensor(float(step + 3))
    assert all(torch.equal(v, own[k]) for k, v in model.state_dict().items())   # the module's own are back
    assert all(type(v) is nn.Parameter for v in model.lin._parameters.values())
    if call == "stateless":      # it warns that it is deprecated: warnings.warn breaks (GB009), by design
        assert cf.stats.eager_reasons == [] and all("GB009" in r for r in cf.stats.break_reasons)
        return
    _no_breaks(cf)
    assert counter.frame_count == 1 and cf.stats.captures == 1


def test_functional_call_then_a_plain_call_of_the_same_module():
    """After the swap is undone inside the trace, the module's own parameters are used again."""
    model = Scaled()

    def fn(x):
        swapped = torch.func.functional_call(model, {"lin.bias": torch.ones(3), "scale": torch.tensor(10.0)}, (x,))
        return swapped - model(x)

    cf, counter = _compiled(fn)
    for _ in range(3):
        x = torch.randn(2, 4)
        assert same(cf(x), fn(x))
    _no_breaks(cf)
    assert counter.frame_count == 1


def test_a_restored_swap_writes_nothing_back():
    """Swapping a parameter in and out nets to nothing: the module's dicts are not rewritten
    (a parameter registered between calls stays), and no write-back runs."""
    model = Scaled()
    weight = torch.randn(3, 4)

    def fn(x):
        return torch.func.functional_call(model, {"lin.weight": weight}, (x,))

    cf, counter = _compiled(fn)
    x = torch.randn(2, 4)
    assert same(cf(x), fn(x))
    params_dict = model.lin._parameters
    model.lin.register_parameter("extra", nn.Parameter(torch.zeros(1)))
    assert same(cf(x), fn(x))
    assert model.lin._parameters is params_dict and list(params_dict) == ["weight", "bias", "extra"]
    assert cf.stats.captures == 2 and counter.frame_count == 2          # the key set changed: one recompile
    _no_breaks(cf)


# -- parametrizations -------------------------------------------------------------------------
class Symmetric(nn.Module):
    def forward(self, w):
        return w.triu() + w.triu(1).T


def test_a_parametrized_weight_is_computed_on_every_call():
    model = nn.Linear(4, 4)
    parametrize.register_parametrization(model, "weight", Symmetric())

    def fn(x):
        return model(x)

    cf, counter = _compiled(fn)
    for _ in range(3):
        x = torch.randn(2, 4)
        assert same(cf(x), fn(x))
        with torch.no_grad():
            model.parametrizations.weight.original.mul_(2)      # the data changes, the graph holds
    _no_breaks(cf)
    assert counter.frame_count == 1


# -- context managers that patch and restore ----------------------------------------------------
class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.k = 2.0
        self.register_buffer("s", torch.tensor(3.0))

    def forward(self, x):
        return x * self.k * self.s


@contextlib.contextmanager
def patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _patch_programs(m):
    def by_contextmanager(x):
        with patched(m, "k", 5.0):
            a = m(x)
        return a + m(x)

    def by_try_finally(x):
        old = m.k
        m.k = 7.0
        try:
            a = m(x)
        finally:
            m.k = old
        return a + m(x)

    def by_mock_attribute(x):
        with mock.patch.object(m, "k", 9.0):
            a = m(x)
        return a + m(x)

    def by_mock_buffer(x):
        with mock.patch.object(m, "s", torch.tensor(4.0)):
            a = m(x)
        return a + m(x)

    return {"contextmanager": by_contextmanager, "try/finally": by_try_finally,
            "mock.patch.object attribute": by_mock_attribute, "mock.patch.object buffer": by_mock_buffer}


@pytest.mark.parametrize("how", list(_patch_programs(Holder())))
def test_a_patched_attribute_is_seen_inside_and_restored_after(how):
    """Two identical modules, one run compiled, one eagerly: same results, and the same state
    afterwards (a buffer patched by mock ends up an instance attribute, in eager too)."""
    mine, theirs = Holder(), Holder()
    cf, counter = _compiled(_patch_programs(mine)[how])
    fn = _patch_programs(theirs)[how]
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(x), fn(x))
        assert mine.k == theirs.k and list(mine._buffers) == list(theirs._buffers)
        assert sorted(k for k in vars(mine) if not k.startswith("_")) == \
            sorted(k for k in vars(theirs) if not k.startswith("_"))
    assert cf.stats.eager_reasons == []
    assert counter.frame_count >= 1


def test_a_patched_module_global_is_seen_by_the_modules_functions():
    conf = types.ModuleType("bytegraph_swap_conf")
    exec("SCALE = 2\n\ndef scaled(x):\n    return x * SCALE\n", conf.__dict__)
    sys.modules[conf.__name__] = conf
    try:
        def fn(x):
            with patched(conf, "SCALE", 10):
                a = conf.scaled(x)
            return a + conf.scaled(x) + conf.SCALE

        cf, counter = _compiled(fn)
        for _ in range(3):
            x = torch.randn(3)
            assert same(cf(x), fn(x))
            assert conf.SCALE == 2
        conf.SCALE = 3                       # a new value outside: recompiles, still right
        x = torch.randn(3)
        assert same(cf(x), fn(x))
        _no_breaks(cf)
        assert cf.stats.captures == 2 and counter.frame_count == 2
    finally:
        sys.modules.pop(conf.__name__, None)


# -- write-back order ---------------------------------------------------------------------------
class Obj:
    pass


def _writeback_programs():
    o, p = Obj(), Obj()
    lst, d, g = [1, 2], {}, {"v": 1}
    box = types.SimpleNamespace(o=o, p=p, lst=lst, d=d, g=g)

    def reset():
        o.__dict__.clear()
        o.a, o.b = 1, 2
        p.b = 10
        lst[:] = [1, 2]
        d.clear()
        g.clear()
        g["v"] = 1

    def swap_attributes(x):
        o.a, o.b = o.b, o.a
        return x + 1

    def across_objects(x):
        v = p.b
        p.b = 5
        o.a = v
        return x * 2

    def list_then_dict(x):
        v = lst[0]
        lst[0] = 9
        d["k"] = v
        return x - 1

    def dict_then_attribute(x):
        v = g["v"]
        g["v"] = 7
        o.c = v
        return x / 2

    def state():
        return (dict(vars(o)), dict(vars(p)), list(lst), dict(d), dict(g))

    programs = {"swap attributes": swap_attributes, "across objects": across_objects,
                "list then dict": list_then_dict, "dict then attribute": dict_then_attribute}
    return programs, reset, state


@pytest.mark.parametrize("name", list(_writeback_programs()[0]))
def test_write_back_uses_the_values_the_program_read(name):
    programs, reset, state = _writeback_programs()
    fn = programs[name]
    cf, counter = _compiled(fn)
    for _ in range(3):
        x = torch.randn(3)
        reset()
        want = fn(x), state()
        reset()
        got = cf(x), state()
        assert same(got, want), (got, want)
    _no_breaks(cf)
    assert counter.frame_count == 1


def test_write_back_before_a_graph_break_uses_the_values_the_program_read():
    """The native instruction of a break gets the values the program holds, not values re-read
    after the write-back (the old attribute, passed after overwriting it)."""
    o = Obj()
    seen = []

    def fn(x):
        old = o.a
        o.a = 100
        seen.append(old)
        print("", end="")           # a break: old and o are rebuilt around it
        return x + old

    cf, _ = _compiled(fn)
    for i in range(3):
        o.a = i
        x = torch.randn(3)
        assert same(cf(x), x + i)
        assert seen[-1] == i and o.a == 100


def test_a_dict_written_back_keeps_keys_added_since_the_capture():
    d = {"a": 1}

    def fn(x):
        d["b"] = 2
        return x + 1

    cf, counter = _compiled(fn)
    x = torch.randn(3)
    cf(x)
    d["c"] = 3
    cf(x)
    assert d == {"a": 1, "b": 2, "c": 3}
    _no_breaks(cf)
    assert counter.frame_count == 1


def test_dict_pop_and_setdefault_guard_the_key():
    """``d.pop(k, default)`` and ``d.setdefault(k, v)`` depend on whether ``k`` is there."""
    d = {}

    def fn(x):
        v = d.pop("z", None)
        d.setdefault("w", 5)
        return x + (0 if v is None else v)

    cf, counter = _compiled(fn)
    x = torch.randn(3)
    assert same(cf(x), x)
    d.clear()
    d["z"] = 10
    assert same(cf(x), x + 10) and d == {"w": 5}
    assert cf.stats.captures == 2
