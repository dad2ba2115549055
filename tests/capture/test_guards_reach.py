"""Every value the trace reads is guarded where it could change between calls (issue #12).

A trace that reads a value bakes it into the graph, so the value must be re-checked on every
call, however the program reached it: a builtin (which a module global added later shadows,
or a patched ``builtins`` module replaces), a global of another module, a module attribute
(also of a module imported inside the function, and torch's own flags such as
``torch.backends.cudnn.enabled``), a closure cell, a default, a class attribute, an object
reached only through a closure or a default. Each test calls the compiled function, changes
that one value, calls again, compares with eager every time, and counts captures: a change
recompiles once; changing it back hits the first entry again.
"""

import builtins
import itertools
import sys
import textwrap
import types

import pytest
import torch

import bytegraph
from bytegraph.testing import CompileCounter, same

_names = itertools.count()


@pytest.fixture
def make_module():
    """``make_module(source)``: a real module (in sys.modules) made from ``source``; removed after."""
    made = []

    def make(source: str) -> types.ModuleType:
        name = f"bytegraph_reach_{next(_names)}"
        module = types.ModuleType(name)
        sys.modules[name] = module
        made.append(name)
        exec(compile(textwrap.dedent(source), f"{name}.py", "exec"), module.__dict__)
        return module

    yield make
    for name in made:
        sys.modules.pop(name, None)


def _namespace(source: str, **extra) -> dict:
    """Functions defined in their own globals dict (so tests can shadow builtins there)."""
    ns = {"__name__": f"bytegraph_reach_ns_{next(_names)}", "torch": torch, **extra}
    exec(compile(textwrap.dedent(source), "<reach>", "exec"), ns)
    return ns


def _check(fn, change, undo=None, *, make_args=lambda: (torch.randn(3),)):
    """Call, change, call, (undo, call): each compared with eager. Returns the stats."""
    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    steps = [lambda: None, change] + ([undo] if undo is not None else [])
    for step in steps:
        step()
        for _ in range(2):
            args = make_args()
            assert same(cf(*args), fn(*args))
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    return cf.stats, counter


# -- builtins ----------------------------------------------------------------------------------
def test_a_global_added_later_shadows_a_builtin():
    ns = _namespace("""
        def f(x):
            return abs(x) + len(x.shape)
    """)
    stats, counter = _check(ns["f"], lambda: ns.__setitem__("abs", lambda t: t * 10), lambda: ns.pop("abs"))
    assert stats.captures == 2 and counter.frame_count == 2 and stats.recompiles == 1
    assert "DICT_NOT_CONTAINS 'abs'" in stats.recompile_reasons[0]


def test_a_global_shadowing_a_builtin_in_the_module_of_an_inlined_function(make_module):
    helpers = make_module("""
        def helper(x):
            return abs(x) * len(x.shape)
    """)
    ns = _namespace("""
        def f(x):
            return helpers.helper(x) + 1
    """, helpers=helpers)
    stats, counter = _check(ns["f"], lambda: setattr(helpers, "len", lambda s: 5), lambda: delattr(helpers, "len"))
    assert stats.captures == 2 and counter.frame_count == 2
    assert f"sys.modules['{helpers.__name__}'].__dict__: expected DICT_NOT_CONTAINS 'len'" in stats.recompile_reasons[0]


def test_a_patched_builtins_module(monkeypatch):
    ns = _namespace("""
        def f(x):
            return abs(x) - 1
    """)
    stats, _ = _check(ns["f"], lambda: monkeypatch.setattr(builtins, "abs", lambda t: t * 10), monkeypatch.undo)
    assert stats.captures == 2 and stats.recompiles == 1


def test_a_function_with_its_own_builtins_dict():
    """Code exec'd with a ``__builtins__`` dict of its own reads builtins from that dict."""
    own = dict(builtins.__dict__)
    ns = _namespace("""
        def f(x):
            return abs(x) + 1
    """, __builtins__=own)
    stats, _ = _check(ns["f"], lambda: own.__setitem__("abs", lambda t: t * 10),
                      lambda: own.__setitem__("abs", builtins.abs))
    assert stats.captures == 2 and stats.recompiles == 1


def test_builtins_are_the_functions_own_not_its_globals_current_ones():
    """CPython fixes a function's builtins when the function is made: rebinding ``__builtins__``
    in its globals afterwards changes nothing for it, compiled or not."""
    ns = _namespace("""
        def f(x):
            return abs(x) + 1
    """)
    ns["__builtins__"] = {**builtins.__dict__, "abs": lambda t: t * 10}
    stats, _ = _check(ns["f"], lambda: ns.__setitem__("__builtins__", {**builtins.__dict__, "abs": lambda t: -t}))
    assert stats.captures == 1


def test_inlined_functions_with_one_code_and_different_builtins():
    base = _namespace("""
        def g(x):
            return abs(x) + 1
    """, __builtins__=dict(builtins.__dict__))
    g1 = base["g"]
    g2 = types.FunctionType(g1.__code__, {"__builtins__": {**builtins.__dict__, "abs": lambda t: t * 10}})
    slot = [g1]
    ns = _namespace("""
        def f(x):
            return slot[0](x) * 2
    """, slot=slot)
    stats, _ = _check(ns["f"], lambda: slot.__setitem__(0, g2), lambda: slot.__setitem__(0, g1))
    assert stats.captures == 2 and stats.recompiles == 1


# -- modules -----------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["module attribute", "import inside", "from-import inside", "through a function"])
def test_a_module_global_rebound(make_module, how):
    conf = make_module("""
        SCALE = 2

        def scaled(x):
            return x * SCALE
    """)
    bodies = {
        "module attribute": "return x * conf.SCALE",
        "import inside": f"import {conf.__name__}\n    return x * {conf.__name__}.SCALE",
        "from-import inside": f"from {conf.__name__} import SCALE\n    return x * SCALE",
        "through a function": "return conf.scaled(x)",
    }
    ns = _namespace(f"def f(x):\n    {bodies[how]}\n", conf=conf)
    stats, _ = _check(ns["f"], lambda: setattr(conf, "SCALE", 5), lambda: setattr(conf, "SCALE", 2))
    assert stats.captures == 2 and stats.recompiles == 1


def test_a_torch_flag_set_by_the_user(monkeypatch):
    """Torch's modules are trusted for their code, not for their data: flags users set are guarded."""
    def f(x):
        return x + 1 if torch.backends.cudnn.enabled else x - 1

    flag = torch.backends.cudnn.enabled
    stats, _ = _check(f, lambda: monkeypatch.setattr(torch.backends.cudnn, "enabled", not flag), monkeypatch.undo)
    assert stats.captures == 2 and stats.recompiles == 1
    assert "sys.modules['torch.backends.cudnn'].enabled" in stats.recompile_reasons[0]


# -- closures, defaults, classes, objects ------------------------------------------------------
def _closure_program():
    k = 2

    def inner(x):
        return x * k

    def rebind(v):
        nonlocal k
        k = v
    return inner, rebind


class _Obj:
    pass


class _Scaled:
    scale = 2

    def apply(self, x):
        return x * self.scale


def _cases():
    """name -> (function, change, undo)."""
    inner, rebind = _closure_program()
    inlined, rebind_inlined = _closure_program()
    obj = _Obj()
    obj.k = 2

    def through_closure():
        def inner(x):
            return x * obj.k
        return inner

    def default_list(x, k=[2]):
        return x * k[0]

    def default_obj(x, o=obj):
        return x + o.k

    def callee(x, k=2):
        return x * k

    scaled = _Scaled()
    return {
        "closure cell rebound": (inner, lambda: rebind(5), lambda: rebind(2)),
        "closure cell of an inlined function": (lambda x: inlined(x) + 1, lambda: rebind_inlined(5),
                                                lambda: rebind_inlined(2)),
        "object reached only through a closure": (through_closure(), lambda: setattr(obj, "k", 7),
                                                  lambda: setattr(obj, "k", 2)),
        "default list mutated": (default_list, lambda: default_list.__defaults__[0].__setitem__(0, 9),
                                 lambda: default_list.__defaults__[0].__setitem__(0, 2)),
        "object reached through a default": (default_obj, lambda: setattr(obj, "k", 7), lambda: setattr(obj, "k", 2)),
        "default of an inlined function": (lambda x: callee(x) - 1, lambda: setattr(callee, "__defaults__", (9,)),
                                           lambda: setattr(callee, "__defaults__", (2,))),
        "class attribute changed": (lambda x: scaled.apply(x), lambda: setattr(_Scaled, "scale", 4),
                                    lambda: setattr(_Scaled, "scale", 2)),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_a_value_reached_indirectly_changes(name):
    fn, change, undo = _cases()[name]
    stats, _ = _check(fn, change, undo)
    assert stats.captures == 2 and stats.recompiles == 1


def test_a_method_replaced_on_the_class():
    class Model:
        def scale(self, x):
            return x * 2

    m = Model()
    original = Model.scale
    stats, _ = _check(lambda x: m.scale(x), lambda: setattr(Model, "scale", lambda self, x: x - 100),
                      lambda: setattr(Model, "scale", original))
    assert stats.captures == 2 and stats.recompiles == 1


@pytest.mark.parametrize("where", ["torch.nn.functional.gelu", "torch.sin"])
def test_a_torch_function_replaced_by_the_program(monkeypatch, where):
    """Torch's functions are graph constants, guarded by identity: a backend that bakes the
    graph in (aot_eager) must not keep running the replaced function."""
    import torch.nn.functional as F

    module, name = (F, "gelu") if where.endswith("gelu") else (torch, "sin")

    def f(x):
        return F.gelu(x) + 1 if name == "gelu" else torch.sin(x) + 1

    cf = bytegraph.compile(f, backend="aot_eager")
    x = torch.randn(4)
    assert same(cf(x), f(x))
    monkeypatch.setattr(module, name, lambda t: t * 100)
    assert same(cf(x), f(x))
    monkeypatch.undo()
    assert same(cf(x), f(x))
    assert cf.stats.captures == 2 and cf.stats.recompiles == 1
    assert f"sys.modules['{module.__name__}'].__dict__['{name}']" in cf.stats.recompile_reasons[0]
