"""Guards on what the traced code reads besides its arguments' tensors: globals,
functions and closure cells, user objects and their classes, modules and hooks. Change
exactly what a guard protects and the function recompiles with eager's answer; change
something unread and it does not."""

import sys

import torch

import bytegraph
from bytegraph.testing import same

THIS = sys.modules[__name__]
SCALE = 2
UNUSED = 0
ACT = torch.relu
WEIGHT = torch.ones(3)


def _helper(x):
    return x + 1


def _other_helper(x):
    return x - 1


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


# -- EQUALS_MATCH and TENSOR_MATCH on globals ---------------------------------------------------
def test_global_int_change_recompiles(counter, monkeypatch):
    def fn(x):
        return x * SCALE

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(x), fn(x))
    monkeypatch.setattr(THIS, "SCALE", 5)
    for _ in range(2):
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("G['SCALE']: expected EQUALS_MATCH 2, got 5")


def test_unused_global_change_does_not_recompile(counter, monkeypatch):
    def fn(x):
        return x * SCALE

    cf = bytegraph.compile(fn, backend=counter)
    for i in range(3):
        monkeypatch.setattr(THIS, "UNUSED", i)
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 1, 0)


def test_global_tensor_rebound_same_spec_no_recompile_new_spec_recompiles(counter, monkeypatch):
    def fn(x):
        return x * WEIGHT

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(x), fn(x))
    monkeypatch.setattr(THIS, "WEIGHT", torch.randn(3))          # same metadata: read again, no recompile
    assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 1, 0)
    monkeypatch.setattr(THIS, "WEIGHT", torch.randn(1))          # new shape: recompile
    assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert "G['WEIGHT']" in cf.stats.recompile_reasons[0]

# -- ID_MATCH and CLOSURE_MATCH ---------------------------------------------------------------
def test_global_torch_function_replaced_recompiles(counter, monkeypatch):
    def fn(x):
        return ACT(x) * 2

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(4)
    assert same(cf(x), fn(x))
    monkeypatch.setattr(THIS, "ACT", torch.sigmoid)
    assert same(cf(x), fn(x))
    assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert "G['ACT']" in cf.stats.recompile_reasons[0]


def test_global_user_function_replaced_recompiles(counter, monkeypatch):
    def fn(x):
        return _helper(x) * 2

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(4)
    assert same(cf(x), fn(x))
    monkeypatch.setattr(THIS, "_helper", _other_helper)
    for _ in range(2):
        x = torch.randn(4)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert "G['_helper']" in cf.stats.recompile_reasons[0]


def test_function_argument_recreated_by_same_def_does_not_recompile(counter):
    def fn(x, f):
        return f(x) + 1

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        f = lambda t: t * 2  # noqa: E731  (a new function object each time, same code)
        assert same(cf(x, f), fn(x, f))
    _assert_counts(counter, cf, 1, 0)
    g = lambda t: t * 3  # noqa: E731  (different code)
    assert same(cf(x, g), fn(x, g))
    _assert_counts(counter, cf, 2, 1)


def test_closure_cell_of_compiled_function_change_recompiles(counter):
    k = 2

    def fn(x):
        return x * k

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(x), fn(x))
    k = 7  # noqa: F841 - rebinds the cell fn reads
    for _ in range(2):
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)


def test_closure_cell_holding_a_tensor_is_reread(counter):
    w = torch.randn(3)

    def fn(x):
        return x + w

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        w = torch.randn(3)   # noqa: F841 - same spec: no recompile, but the new tensor is used
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 1, 0)


def test_closure_cell_of_inlined_function_change_recompiles(counter):
    def make(scale):
        def inner(t):
            return t * scale
        return inner

    holder = {"f": make(2)}

    def fn(x):
        return holder["f"](x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(x), fn(x))
    holder["f"] = make(2)          # same code, same cell contents: no recompile
    assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 1, 0)
    holder["f"] = make(5)          # same code, new cell contents: recompile
    assert same(cf(x), fn(x))
    assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)


class Activation:
    def __init__(self):
        self.bias = 1.0

    def act(self, x):
        return x.relu() + self.bias


OBJ = Activation()


def test_method_monkeypatched_on_user_class_recompiles(counter, monkeypatch):
    def fn(x):
        return OBJ.act(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(4)
    assert same(cf(x), fn(x))
    monkeypatch.setattr(Activation, "act", lambda self, x: x.sigmoid() - self.bias)
    for _ in range(2):
        x = torch.randn(4)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)


def test_method_shadowed_on_the_instance_recompiles(counter):
    obj = Activation()

    def fn(x):
        return obj.act(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(4)
    assert same(cf(x), fn(x))
    obj.act = lambda x: x * 100            # an instance attribute now hides the class's method
    for _ in range(2):
        x = torch.randn(4)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)


def test_user_object_attribute_change_recompiles(counter):
    obj = Activation()

    def fn(x):
        return obj.act(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(4)
    assert same(cf(x), fn(x))
    obj.bias = -3.0
    for _ in range(2):
        x = torch.randn(4)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert "bias" in cf.stats.recompile_reasons[0]


def test_hasattr_result_is_guarded(counter):
    obj = Activation()

    def fn(x):
        if hasattr(obj, "extra"):
            return x * obj.extra
        return x - 1

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(x), fn(x))
    obj.extra = 10
    for _ in range(2):
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)


class Gate(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)
        self.threshold = 0

    def forward(self, x):
        return (self.lin(x) - self.threshold).relu()


MODEL = Gate()


def test_module_attribute_read_through_a_global_recompiles(counter, monkeypatch):
    def fn(x):
        return MODEL(x) * MODEL.threshold if MODEL.threshold else MODEL(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2, 3)
    assert same(cf(x), fn(x))
    monkeypatch.setattr(MODEL, "threshold", 2)
    for _ in range(2):
        x = torch.randn(2, 3)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert "G['MODEL'].threshold" in cf.stats.recompile_reasons[0]


def test_parameter_requires_grad_toggled_recompiles(counter):
    model = Gate()
    cm = bytegraph.compile(model, backend=counter)
    x = torch.randn(2, 3)
    assert same(cm(x), model(x)) and cm(x).requires_grad
    model.lin.weight.requires_grad_(False)
    model.lin.bias.requires_grad_(False)
    for _ in range(2):
        out = cm(x)
        assert same(out, model(x)) and not out.requires_grad
    _assert_counts(counter, cm, 2, 1)
    assert "requires_grad mismatch" in cm.stats.recompile_reasons[0]

# -- module hooks (global) --------------------------------------------------------------------------
def test_global_module_hook_recompiles(counter):
    model = torch.nn.Linear(3, 3)
    cm = bytegraph.compile(model, backend=counter)
    x = torch.randn(2, 3)
    assert same(cm(x), model(x))
    handle = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o + 100)
    try:
        assert same(cm(x), model(x))
        assert same(cm(x), model(x))
    finally:
        handle.remove()
    assert same(cm(x), model(x))
    assert cm.stats.recompiles == 1 and cm.stats.eager == 0
    assert counter.frame_count == 2
