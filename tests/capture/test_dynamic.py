"""Dynamic shapes (issue #4), end to end: automatic dynamic, the user's markers, symbolic
sizes through the graph, shape guards, symbolic ints and floats, data-dependent ops.

Every test compares each call with eager and asserts bytegraph's exact number of graphs.
Where torch.compile is the reference, its count comes from the same calls in the same test
(``_torch_graphs``: torch.compile with a counting backend, after ``torch._dynamo.reset()``)
and bytegraph must not compile more. Rows where it does are ``xfail(strict=True)`` with the
diagnosis in the reason. Modules (GPT block, attention, LayerNorm): test_dynamic_models.py.
"""

import math
import types

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

import bytegraph
from bytegraph.testing import CompileCounter, same


# -- helpers -----------------------------------------------------------------------------------
def _args(call):
    """A call is a tuple of arguments, or a function that prepares state and returns them."""
    return call() if callable(call) else call


def _run(cf, fn, calls):
    for call in calls:
        args = _args(call)
        assert same(cf(*args), fn(*args))


def _bytegraph_graphs(fn, calls, **kwargs):
    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter, **kwargs)
    _run(cf, fn, calls)
    return counter, cf


def _torch_graphs(fn, calls, **kwargs):
    """How many graphs torch.compile hands its backend for the same calls."""
    torch._dynamo.reset()
    counter = CompileCounter()
    compiled = torch.compile(fn, backend=counter, **kwargs)
    for call in calls:
        compiled(*_args(call))
    torch._dynamo.reset()
    return counter.frame_count


def _no_breaks(cf):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []


def _placeholder_values(gm):
    return {n.name: n.meta["example_value"] for n in gm.graph.nodes if n.op == "placeholder"}


def _is_sym(d):
    return isinstance(d, torch.SymInt)


def _rows(*sizes, cols=3):
    return [(torch.randn(n, cols),) for n in sizes]


def _marked(mark, sizes, dims=0):
    out = []
    for n in sizes:
        t = torch.randn(n, 3)
        mark(t, dims)
        out.append((t,))
    return out


# -- automatic dynamic: batch sizes -------------------------------------------------------------
def scale_rows(x):
    return (x * 2).sum(0) + x.shape[0]


def test_five_batch_sizes_compile_twice():
    calls = _rows(2, 3, 4, 5, 6)
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 2 and cf.stats.recompiles == 1
    _no_breaks(cf)
    assert cf.stats.recompile_reasons == [
        "L['x']: size mismatch: expected (2, 3), got (3, 3) (guard from builder rule 'tensor')"]
    static, dynamic = (_placeholder_values(g)["l_x_"] for g in counter.graphs)
    assert not any(map(_is_sym, static.shape))
    assert _is_sym(dynamic.shape[0]) and dynamic.shape[1] == 3      # only the dimension that changed
    _run(cf, scale_rows, _rows(7, 100, 2))                          # the dynamic graph serves any size >= 2
    assert counter.frame_count == 2
    assert counter.frame_count <= _torch_graphs(scale_rows, calls)


def checks_shapes(x, w):
    """A model's shape checks (HuggingFace's older attention: ``if attn_weights.size() != (...)``):
    sequences of symbolic sizes compared item by item, as CPython does."""
    y = x @ w
    if y.size() != (x.shape[0], w.shape[1]):
        raise ValueError("bad shape")
    if list(y.shape) == [x.shape[0], 4] and y.shape[:1] <= (x.shape[0],) and not (y.shape < x.shape):
        y = y + 1
    return y * (y.shape > (1,))


def test_comparing_sequences_of_symbolic_sizes_keeps_them_dynamic():
    """``size() != (a, b)`` with symbolic sizes is decided by the ShapeEnv item by item: equal
    expressions need no guard, so the dimension stays dynamic (before, the tuple was made a
    constant, specializing each size: one graph per batch size)."""
    calls = [(torch.randn(n, 3), torch.randn(3, 4)) for n in (2, 3, 5, 8)]
    counter, cf = _bytegraph_graphs(checks_shapes, calls)
    assert counter.frame_count == 2 and cf.stats.recompiles == 1
    _no_breaks(cf)
    assert _is_sym(_placeholder_values(counter.graphs[1])["l_x_"].shape[0])
    assert counter.frame_count <= _torch_graphs(checks_shapes, calls)


def test_alternating_sizes_compile_twice():
    calls = _rows(4, 8, 4, 8, 4, 8)
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 2 and cf.stats.recompiles == 1
    assert counter.frame_count <= _torch_graphs(scale_rows, calls)


def test_second_dimension_changing_later_recompiles_once_more():
    calls = [(torch.randn(*s),) for s in ((4, 3), (8, 3), (16, 3), (8, 5), (16, 7), (2, 2))]
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 3 and cf.stats.recompiles == 2
    assert cf.stats.recompile_reasons[1].startswith("L['x']: size mismatch")
    last = _placeholder_values(counter.graphs[-1])["l_x_"]
    assert _is_sym(last.shape[0]) and _is_sym(last.shape[1])
    assert counter.frame_count <= _torch_graphs(scale_rows, calls)


def test_automatic_dynamic_is_per_source():
    def fn(x, y):
        return x.sum(0) + y.sum(0)

    calls = [(torch.randn(n, 3), torch.randn(5, 3)) for n in (2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 2
    values = _placeholder_values(counter.graphs[-1])
    assert _is_sym(values["l_x_"].shape[0]) and values["l_y_"].shape == (5, 3)   # y never changed: static
    _run(cf, fn, [(torch.randn(3, 3), torch.randn(6, 3))])                        # y changes now: recompiles
    assert counter.frame_count == 3 and cf.stats.recompile_reasons[-1].startswith("L['y']: size mismatch")
    _run(cf, fn, [(torch.randn(4, 3), torch.randn(7, 3))])
    assert counter.frame_count == 3


@pytest.mark.parametrize("layout", ["transposed", "expanded", "strided"])
def test_non_contiguous_inputs_become_dynamic(layout):
    make = {"transposed": lambda n: torch.randn(3, n).t(),
            "expanded": lambda n: torch.randn(1, 3).expand(n, 3),
            "strided": lambda n: torch.randn(n, 6)[:, ::2]}[layout]
    calls = [(make(n),) for n in (2, 3, 4, 5, 6)]
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 2
    assert counter.frame_count <= _torch_graphs(scale_rows, calls)


def test_tensors_inside_containers_become_dynamic():
    def fn(xs, d):
        return (xs[0] @ xs[1]).sum(0) + d["b"].shape[0]

    calls = [([torch.randn(n, 3), torch.randn(3, n)], {"b": torch.randn(n + 1)}) for n in (2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 2
    values = _placeholder_values(counter.graphs[1])
    assert [_is_sym(d) for d in values["l_xs_0_"].shape] == [True, False]
    assert [_is_sym(d) for d in values["l_xs_1_"].shape] == [False, True]
    assert _is_sym(values["l_d_b_"].shape[0])
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_inputs_of_equal_size_share_a_shape_guard():
    def fn(x, y):
        return x + y

    calls = [(torch.randn(n, 3), torch.randn(n, 3)) for n in (2, 3, 4)]
    calls += [(torch.randn(4, 3), torch.randn(1, 3)), (torch.randn(5, 3), torch.randn(1, 3))]   # broadcasting now
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 3
    assert cf.stats.recompile_reasons[1] == "symbolic shape guard failed: L['y'].size()[0] == L['x'].size()[0]"
    assert counter.frame_count <= _torch_graphs(fn, calls)


# -- sizes 0 and 1; the shape guard ----------------------------------------------------------------
def test_size_one_after_sizes_four_and_eight_is_rejected_by_the_shape_guard():
    calls = _rows(4, 8, 1)
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 3 and cf.stats.recompiles == 2
    reason = cf.stats.recompile_reasons[1]
    assert reason == "symbolic shape guard failed: 2 <= L['x'].size()[0]"
    expr = reason.split(": ", 1)[1]                                  # the guard reads as Python over L
    assert eval(expr, {"L": {"x": torch.randn(1, 3)}}) is False
    assert eval(expr, {"L": {"x": torch.randn(8, 3)}}) is True
    size_one = _placeholder_values(counter.graphs[-1])["l_x_"]
    assert size_one.shape == (1, 3)                                  # size 1 is specialized
    _run(cf, scale_rows, _rows(1, 16, 1, 3))                         # each size finds its entry
    assert counter.frame_count == 3
    assert counter.frame_count <= _torch_graphs(scale_rows, calls + _rows(1, 16, 1, 3))


def test_guard_function_source_contains_the_shape_guard():
    counter, cf = _bytegraph_graphs(scale_rows, _rows(4, 8))
    dynamic = cf.entries[0]
    assert "(2 <= x.size()[0])" in dynamic.guards.source_code
    described = [g.describe() for g in dynamic.guards.guards]
    assert "SHAPE_ENV(<global>, 2 <= L['x'].size()[0])" in described
    assert "TENSOR_MATCH(L['x'], Tensor(float32, cpu, size=[?, 3], stride=[3, 1]))" in described
    static = cf.entries[1]
    assert "size()" not in static.guards.source_code                 # the first, static entry has none


def test_sizes_zero_and_one_are_specialized():
    calls = _rows(0, 1, 2, 3, 4)
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 3
    shapes = [_placeholder_values(g)["l_x_"].shape for g in counter.graphs]
    assert shapes[0] == (0, 3) and shapes[1] == (1, 3) and _is_sym(shapes[2][0])
    _run(cf, scale_rows, _rows(0, 1, 9))
    assert counter.frame_count == 3
    assert counter.frame_count <= _torch_graphs(scale_rows, calls)


def test_size_zero_after_dynamic_compile_recompiles():
    calls = _rows(4, 8, 0, 0, 16)
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 3
    assert cf.stats.recompile_reasons[1] == "symbolic shape guard failed: 2 <= L['x'].size()[0]"
    assert counter.frame_count <= _torch_graphs(scale_rows, calls)


# -- markers: mark_dynamic, maybe_mark_dynamic, mark_static ---------------------------------------
@pytest.mark.parametrize("mark", [bytegraph.mark_dynamic, torch._dynamo.mark_dynamic],
                         ids=["bytegraph", "torch._dynamo"])
def test_mark_dynamic_compiles_once(mark):
    calls = _marked(mark, (2, 3, 4, 5, 6))
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 1 and cf.stats.recompiles == 0
    assert _is_sym(_placeholder_values(counter.graphs[0])["l_x_"].shape[0])
    assert "(2 <= x.size()[0])" in cf.entries[0].guards.source_code      # one graph: the least possible


def test_mark_dynamic_several_dims():
    def fn(x):
        return x.sum() / x.numel()

    calls = []
    for shape in ((2, 3), (4, 5), (6, 2)):
        t = torch.randn(*shape)
        bytegraph.mark_dynamic(t, [0, 1])
        calls.append((t,))
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 1
    assert all(map(_is_sym, _placeholder_values(counter.graphs[0])["l_x_"].shape))


@pytest.mark.parametrize("mark", [bytegraph.maybe_mark_dynamic, torch._dynamo.maybe_mark_dynamic],
                         ids=["bytegraph", "torch._dynamo"])
def test_maybe_mark_dynamic_compiles_once(mark):
    calls = _marked(mark, (2, 3, 4, 5))
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 1                     # the least possible: no torch.compile run needed
    assert _is_sym(_placeholder_values(counter.graphs[0])["l_x_"].shape[0])


def test_maybe_mark_dynamic_may_still_specialize():
    def fn(x):
        return x * 2 if x.shape[0] == 4 else x - 1

    calls = _marked(bytegraph.maybe_mark_dynamic, (4, 5, 6, 4))
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 2                     # no error: the ShapeEnv specialized 4, then 5 recompiled
    assert counter.frame_count <= _torch_graphs(fn, calls)


@pytest.mark.parametrize("mark", [bytegraph.mark_static, torch._dynamo.mark_static], ids=["bytegraph", "torch._dynamo"])
def test_mark_static_recompiles_per_size(mark):
    calls = _marked(mark, (2, 3, 4, 5, 6))
    counter, cf = _bytegraph_graphs(scale_rows, calls)
    assert counter.frame_count == 5 and cf.stats.recompiles == 4
    assert all(r.startswith("L['x']: size mismatch") for r in cf.stats.recompile_reasons)
    assert counter.frame_count <= _torch_graphs(scale_rows, calls)


def test_mark_static_wins_over_dynamic_true():
    calls = []
    for shape in ((2, 3), (2, 4), (3, 4), (3, 5)):
        t = torch.randn(*shape)
        bytegraph.mark_static(t, 0)
        calls.append((t,))
    counter, cf = _bytegraph_graphs(scale_rows, calls, dynamic=True)
    assert counter.frame_count == 2                     # dimension 1 is symbolic; dimension 0 is not
    fake = _placeholder_values(counter.graphs[0])["l_x_"]
    assert fake.shape[0] == 2 and _is_sym(fake.shape[1])
    assert counter.frame_count <= _torch_graphs(scale_rows, calls, dynamic=True)


# -- compile(dynamic=True / False) ------------------------------------------------------------------
def test_dynamic_true_compiles_once_for_sizes_and_ints():
    def fn(x, n):
        return x.sum(0) * n + x.shape[0]

    calls = [(torch.randn(m, 3), m + 1) for m in (2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(fn, calls, dynamic=True)
    assert counter.frame_count == 1
    values = _placeholder_values(counter.graphs[0])
    assert all(map(_is_sym, values["l_x_"].shape)) and _is_sym(values["l_n_"])
    assert counter.frame_count <= _torch_graphs(fn, calls, dynamic=True)


def test_dynamic_true_still_specializes_size_one():
    calls = _rows(1, 2, 3, 1)
    counter, cf = _bytegraph_graphs(scale_rows, calls, dynamic=True)
    assert counter.frame_count == 2
    first = _placeholder_values(counter.graphs[0])["l_x_"]
    assert first.shape[0] == 1 and _is_sym(first.shape[1])
    assert counter.frame_count <= _torch_graphs(scale_rows, calls, dynamic=True)


def test_dynamic_false_recompiles_per_size_and_value():
    def fn(x, n):
        return x * n

    calls = [(torch.randn(m, 3), m) for m in (2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(fn, calls, dynamic=False)
    assert counter.frame_count == 4
    assert not any(_is_sym(d) for g in counter.graphs for v in _placeholder_values(g).values()
                   for d in getattr(v, "shape", ()))
    assert counter.frame_count <= _torch_graphs(fn, calls, dynamic=False)


# -- symbolic sizes through the graph --------------------------------------------------------------
SHAPE_PROGRAMS = {
    "reshape": lambda x: x.reshape(x.shape[0] * x.shape[1]),
    "view(-1, n)": lambda x: x.view(-1, x.shape[1] // 2),
    "expand": lambda x: x[:, :1].expand(x.shape[0], 5) + 1,
    "new_zeros(x.shape)": lambda x: x.new_zeros(x.shape) + x,
    "torch.zeros(x.shape[0])": lambda x: torch.zeros(x.shape[0]) + x.sum(1),
    "new_ones(n, 2)": lambda x: x.new_ones(x.shape[0], 2) * x[:, :2],
    "torch.full": lambda x: torch.full((x.shape[0],), 2.0) + x[:, 0],
    "arange": lambda x: x + torch.arange(x.shape[0]).unsqueeze(1),
    "slice [1:n-1]": lambda x: x[1: x.size(0) - 1] * 3,
    "slice [:n//2]": lambda x: x[: x.shape[0] // 2] * 2,
    "numel": lambda x: x.sum() / x.numel(),
    "size(1) arithmetic": lambda x: x * (x.size(1) * 2 - x.size(0)),
    "true division by size": lambda x: x / x.shape[0] + x.shape[0] ** 0.5,
    "chunk / cat": lambda x: torch.cat(x.chunk(2, 0)[::-1]),
    "split(n // 2)": lambda x: x.split(x.shape[0] // 2)[0] * 2,
    "F.pad by size": lambda x: F.pad(x, (0, x.shape[0])),
    "unflatten": lambda x: x.unflatten(0, (2, -1)).sum(1),
    "tril mask": lambda x: x.masked_fill(torch.ones(x.shape[0], x.shape[0]).triu(1).bool(), 0.0),
    "*x.shape unpacking": lambda x: (lambda a, b: x.view(b, a))(*x.shape),
}


@pytest.mark.parametrize("name", list(SHAPE_PROGRAMS))
def test_symbolic_size_program(name):
    """Row counts 4..12 (first static, then dynamic): 2 graphs, no break, eager's results, never
    more graphs than torch.compile. (Sizes 2 and 3 would make ``n // 2`` a size 1, which both
    compilers specialize.)"""
    fn = SHAPE_PROGRAMS[name]
    cols = {"view(-1, n)": 4, "*x.shape unpacking": 7}.get(name, 3)   # 7: no row count is a multiple
    calls = [(torch.randn(n, cols) if name != "tril mask" else torch.randn(n, n),) for n in (4, 6, 8, 10, 12)]
    counter, cf = _bytegraph_graphs(fn, calls)
    _no_breaks(cf)
    assert counter.frame_count == 2
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_symbolic_view_has_no_constant_size():
    def fn(x):
        return x.view(-1, x.shape[1]) * x.numel()

    counter, cf = _bytegraph_graphs(fn, [(torch.randn(n, 4, 3),) for n in (2, 5, 7)])
    assert counter.frame_count == 2
    out = [n for n in counter.graphs[-1].graph.nodes if n.op == "call_method" and n.target == "view"][0]
    assert _is_sym(out.meta["example_value"].shape[0])


def test_range_over_symbolic_size_specializes_like_torch():
    """``range(x.shape[0])`` needs a Python int: the ShapeEnv specializes the size with a guard,
    so every new size recompiles, exactly as with torch.compile."""
    def fn(x):
        total = x[0]
        for i in range(1, x.shape[0]):
            total = total + x[i] * i
        return total

    calls = _rows(2, 3, 4, 5, 6)
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 5
    assert cf.stats.recompile_reasons[1:] == [
        f"L['x']: size mismatch: expected ({n}, 3), got ({n + 1}, 3) (guard from builder rule 'tensor')"
        for n in (3, 4, 5)]                        # the dynamic capture's size was specialized to 3
    assert counter.frame_count == _torch_graphs(fn, calls)


def test_branch_on_symbolic_size_guards_the_comparison():
    def fn(x):
        if x.shape[0] > 3:
            return x * 2
        return x * 3

    calls = _rows(2, 3, 4, 5, 6, 2, 3)
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 3
    assert any("L['x'].size()[0]" in r for r in cf.stats.recompile_reasons)
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_symbolic_graph_runs_under_aot_autograd():
    """A real backend refakifies the inputs with the same symbols (sizes and an int argument)."""
    def fn(x, n):
        return torch.zeros(x.shape[0]) + x.view(-1, x.shape[1]).sum(1) * n

    cf = bytegraph.compile(fn, backend="aot_eager")
    for b, n in ((2, 2), (3, 3), (5, 4), (7, -1)):
        x = torch.randn(b, 3, requires_grad=True)
        out, ref = cf(x, n), fn(x, n)
        assert same(out, ref)
        (grad,) = torch.autograd.grad(out.sum(), x)
        (ref_grad,) = torch.autograd.grad(ref.sum(), x)
        assert same(grad, ref_grad)
    assert cf.stats.captures == 2 and cf.stats.graphs == 2 and cf.stats.eager == 0


# -- ints ----------------------------------------------------------------------------------------------
def test_local_int_becomes_symbolic_after_it_changes():
    def fn(x, n):
        return x * n + n // 2

    x = torch.randn(4)
    calls = [(x, n) for n in (2, 3, 4, 5, 6, 7, 8, 100, -3, 0, 1)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 2
    assert cf.stats.recompile_reasons == ["L['n']: expected EQUALS_MATCH 2, got 3 (guard from builder rule 'literal')"]
    assert _placeholder_values(counter.graphs[0]).keys() == {"l_x_"}        # first capture: a constant
    assert _is_sym(_placeholder_values(counter.graphs[1])["l_n_"])          # then a SymInt graph input
    assert "type(n) is" in cf.entries[0].guards.source_code
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_local_int_sizing_a_view_and_a_new_tensor():
    def fn(x, n):
        return x.view(n, -1) @ torch.ones(x.numel() // n, n)

    calls = [(torch.randn(12), n) for n in (2, 3, 4, 6, 12)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 2
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_int_in_a_list_and_as_keyword_become_symbolic():
    def fn(x, ns, *, k):
        return x * ns[0] + k

    x = torch.randn(3)
    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    for n in (2, 3, 4, 5):
        assert same(cf(x, [n, "label"], k=n + 1), fn(x, [n, "label"], k=n + 1))
    assert counter.frame_count == 2
    values = _placeholder_values(counter.graphs[1])
    assert _is_sym(values["l_ns_0_"]) and _is_sym(values["l_k_"])


def test_int_zero_and_one_then_symbolic():
    def fn(x, n):
        return x * n

    x = torch.randn(3)
    calls = [(x, n) for n in (0, 1, 2, 3, 0, 1)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 2
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_int_in_range_specializes_per_value():
    def fn(x, n):
        for i in range(n):
            x = x + i
        return x

    x = torch.randn(3)
    calls = [(x, n) for n in (2, 3, 4, 5, 3)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 4
    assert cf.stats.recompile_reasons[1] == "symbolic shape guard failed: L['n'] == 3"
    assert counter.frame_count <= _torch_graphs(fn, calls)


SCALE = 2


def scale_by_global(x):
    return x * SCALE


def test_global_int_becomes_symbolic_once_it_varies():
    """A global int that changes is a graph input after one recompile, like an argument's
    (torch.compile keeps it static and recompiles on every new value)."""
    def set_scale(v):
        def call():
            global SCALE
            SCALE = v
            return (torch.randn(3),)
        return call

    calls = [set_scale(v) for v in (2, 3, 4, 5)]
    try:
        counter, cf = _bytegraph_graphs(scale_by_global, calls)
        assert counter.frame_count == 2
        assert cf.stats.recompile_reasons == ["G['SCALE']: expected EQUALS_MATCH 2, got 3 (guard from builder rule 'literal')"]
        assert counter.frame_count < _torch_graphs(scale_by_global, calls)
    finally:
        set_scale(2)()


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.k = 2

    def forward(self, x):
        return x * self.k


def test_module_attribute_int_stays_static():
    m = Scaled()

    def set_k(v):
        def call():
            m.k = v
            return (torch.randn(3),)
        return call

    calls = [set_k(v) for v in (2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(m, calls)
    assert counter.frame_count == 4
    assert all(r.startswith("L['module'].k: expected EQUALS_MATCH") for r in cf.stats.recompile_reasons)
    assert counter.frame_count <= _torch_graphs(m, calls)


CONFIG = types.ModuleType("CONFIG")
CONFIG.K = 2


def scale_by_python_module(x):
    return x * CONFIG.K


def test_python_module_attribute_int_becomes_symbolic_once_it_varies():
    def set_k(v):
        def call():
            CONFIG.K = v
            return (torch.randn(3),)
        return call

    calls = [set_k(v) for v in (2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(scale_by_python_module, calls)
    assert counter.frame_count == 2
    assert cf.stats.recompile_reasons == ["G['CONFIG'].K: expected EQUALS_MATCH 2, got 3 (guard from builder rule 'literal')"]
    assert counter.frame_count < _torch_graphs(scale_by_python_module, calls)


def _helper_with_default(x, k=2):
    return x * k


def call_helper(x):
    return _helper_with_default(x)


def test_default_of_an_inlined_function_stays_static():
    def set_default(v):
        def call():
            _helper_with_default.__defaults__ = (v,)
            return (torch.randn(3),)
        return call

    calls = [set_default(v) for v in (2, 3, 4, 5)]
    try:
        counter, cf = _bytegraph_graphs(call_helper, calls)
        assert counter.frame_count == 4
        reason = cf.stats.recompile_reasons[0]
        assert reason.startswith("G['_helper_with_default'].__defaults__[0]: expected EQUALS_MATCH")
        assert counter.frame_count <= _torch_graphs(call_helper, calls)
    finally:
        _helper_with_default.__defaults__ = (2,)


# -- floats --------------------------------------------------------------------------------------------
def test_float_argument_becomes_a_graph_input_after_it_changes():
    def fn(x, f):
        return x * f + f

    x = torch.randn(3)
    calls = [(x, f) for f in (0.5, 1.5, 2.5, -3.25, 0.0, 1.0, 1e10)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 2
    assert cf.stats.recompile_reasons[0].startswith("L['f']: expected EQUALS_MATCH 0.5, got 1.5")
    assert _placeholder_values(counter.graphs[0]).keys() == {"l_x_"}
    assert isinstance(_placeholder_values(counter.graphs[1])["l_f_"], torch.SymFloat)
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_float_that_never_changes_stays_a_constant():
    def fn(x, f):
        return x * f

    x = torch.randn(3)
    counter, cf = _bytegraph_graphs(fn, [(x, 0.5), (x, 0.5), (x, 0.5)])
    assert counter.frame_count == 1 and _placeholder_values(counter.graphs[0]).keys() == {"l_x_"}


def test_float_in_a_python_branch_stays_correct():
    def fn(x, f):
        return x * f if f > 1.0 else x - f

    x = torch.randn(3)
    calls = [(x, f) for f in (0.5, 1.5, 2.5, 0.25, 3.5)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 3                 # 0.5; then symbolic with f > 1.0; then f <= 1.0
    assert cf.stats.recompile_reasons[1] == "symbolic shape guard failed: L['f'] > 1.0"
    assert counter.frame_count <= _torch_graphs(fn, calls)


# -- data-dependent values ---------------------------------------------------------------------------
def test_nonzero_is_captured_with_an_unbacked_size():
    def fn(x):
        return torch.nonzero(x > 0) * 2

    calls = [(torch.randn(n),) for n in (4, 5, 6, 7)]
    counter, cf = _bytegraph_graphs(fn, calls)
    _no_breaks(cf)
    assert counter.frame_count == 2
    node = next(n for n in counter.graphs[0].graph.nodes if n.target is torch.nonzero)
    assert str(node.meta["example_value"].shape[0]).startswith("u")    # an unbacked symbol
    with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
        assert counter.frame_count <= _torch_graphs(fn, calls)
    assert counter.frame_count <= _torch_graphs(fn, calls)              # default config: torch breaks


def test_boolean_mask_indexing_is_captured():
    def fn(x):
        return x[x > 0].sum() + x.shape[0]

    calls = [(torch.randn(n),) for n in (4, 5, 6, 7)]
    counter, cf = _bytegraph_graphs(fn, calls)
    _no_breaks(cf)
    assert counter.frame_count == 2
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_item_is_a_graph_break_with_reason():
    def fn(x):
        y = x.sum()
        return x * y.item()

    calls = [(torch.randn(n),) for n in (4, 5, 6, 7)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 4                 # graph + resume graph, static then dynamic
    reason = cf.stats.break_reasons[0]
    assert reason.startswith("graph break GB003: operation needs tensor data")
    assert "Tensor.item()" in reason and "return x * y.item()" in reason
    assert counter.frame_count <= _torch_graphs(fn, calls)


# -- rows where bytegraph compiles more than torch.compile (known bugs) -----------------------------
def _xfail(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


# A reason marks a row as a known gap (xfail, strict); None: fixed, the row must pass.
SPECIALIZING_PROGRAMS = {
    "math.sqrt(size)": (lambda x: x / math.sqrt(x.shape[0]), None),     # torch._sym_sqrt(s0)
    "max(size, 4)": (lambda x: x * max(x.shape[0], 4), None),            # torch.sym_max(s0, 4)
    "x[:min(size, 3)]": (lambda x: x[: min(x.shape[0], 3)], None),       # torch.sym_min(s0, 3)
    "int(size / 2)": (lambda x: x * int(x.shape[0] / 2), None),          # torch.sym_int(s0 / 2)
    "x[size - 1]": (lambda x: x[x.shape[0] - 1], None),                  # torch.select(x, 0, s0 - 1)
}


def _targets(gm):
    return {n.target for n in gm.graph.nodes if n.op == "call_function"}


def test_builtins_on_symbolic_numbers_are_graph_ops():
    def fn(x, n):
        return x * math.sqrt(n) + float(n) + math.floor(n / 3) + max(n, 4) + min([n, 9, 7]), x[n - 3]

    x = torch.randn(8, 2)
    calls = [(x, n) for n in (5, 6, 7, 3)]
    counter, cf = _bytegraph_graphs(fn, calls)
    _no_breaks(cf)
    assert counter.frame_count == 2
    targets = _targets(counter.graphs[1])
    assert {torch._sym_sqrt, torch.sym_float, math.floor, torch.sym_max, torch.sym_min, torch.select} <= targets


def test_max_of_mixed_int_and_float_keeps_the_python_result_type():
    def fn(x, n):
        return x * max(n, 4.5)      # an int tensor stays int64 when n wins: no sym_max (a SymFloat)

    x = torch.arange(3)
    calls = [(x, n) for n in (2, 3, 7)]
    counter, cf = _bytegraph_graphs(fn, calls)
    _no_breaks(cf)
    assert counter.frame_count == 3                 # compared instead: the ShapeEnv specializes n
    assert [cf(x, n).dtype for n in (3, 7)] == [torch.float32, torch.int64]


@pytest.mark.parametrize("name", [pytest.param(k, marks=_xfail(v[1]) if v[1] else ())
                                  for k, v in SPECIALIZING_PROGRAMS.items()])
def test_symbolic_size_through_builtins_stays_symbolic(name):
    fn = SPECIALIZING_PROGRAMS[name][0]
    calls = _rows(2, 3, 4, 5, 6)
    counter, cf = _bytegraph_graphs(fn, calls)
    _no_breaks(cf)
    assert counter.frame_count == 2                 # static, then one symbolic graph
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_int_attribute_of_an_argument_object_becomes_symbolic():
    def fn(x, cfg):
        return x * cfg.n

    x = torch.randn(3)
    calls = [(x, types.SimpleNamespace(n=n)) for n in (2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 2                 # L['cfg'].n is local (torch: guard source LOCAL)
    assert counter.frame_count <= _torch_graphs(fn, calls)


class Holder(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.cfg = types.SimpleNamespace(n=n)

    def forward(self, x):
        return x * self.n + self.cfg.n


def test_int_reached_through_a_module_stays_static():
    """An int under an nn.Module (its attribute, an attribute of an object it holds, a module an
    argument holds) is configuration: each value recompiles, as in torch.compile."""
    def fn(x, cfg):
        return cfg.model(x)

    x = torch.randn(3)
    calls = [(x, types.SimpleNamespace(model=Holder(n))) for n in (2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count == 4
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_torch_size_argument_becomes_symbolic():
    def fn(x, shape):
        return x.reshape(shape)

    calls = [(torch.randn(12), torch.Size((n, 12 // n))) for n in (2, 3, 4, 6)]
    counter, cf = _bytegraph_graphs(fn, calls)
    _no_breaks(cf)
    assert counter.frame_count == 2                 # a constant Size; then a tuple of L['shape'][i]
    values = _placeholder_values(counter.graphs[1])
    assert _is_sym(values["l_shape_0_"]) and _is_sym(values["l_shape_1_"])
    assert counter.frame_count <= _torch_graphs(fn, calls)


def test_torch_size_argument_with_one_item_varying():
    def fn(x, shape):
        return x.new_zeros(shape) + len(shape) + shape.numel()

    calls = [(torch.randn(2), torch.Size((n, 3))) for n in (2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(fn, calls)
    _no_breaks(cf)
    assert counter.frame_count == 2
    values = _placeholder_values(counter.graphs[1])
    assert _is_sym(values["l_shape_0_"]) and "l_shape_1_" not in values    # the item that stayed is a constant


GAIN = 0.5


def gain_by_global(x):
    return x * GAIN


class Gain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = 0.5

    def forward(self, x):
        return x * self.gain


def _float_default(x, f=0.5):
    return x * f


def call_float_default(x):
    return _float_default(x)


def _float_source_case(where):
    """(program, setter) for a float read from a global, a module attribute or a default."""
    if where == "global":
        def setter(v):
            global GAIN
            GAIN = v
        return gain_by_global, setter
    if where == "module attribute":
        m = Gain()
        return m, lambda v: setattr(m, "gain", v)
    return call_float_default, lambda v: setattr(_float_default, "__defaults__", (v,))


@pytest.mark.parametrize("where", ["global", "module attribute", "default"])
def test_float_from_any_source_becomes_a_graph_input(where):
    """torch.compile (specialize_float=False, its default) makes every float that changed a graph
    input whatever its source; only constant sources, nan and inf specialize."""
    fn, setter = _float_source_case(where)

    def call(v):
        def prepare():
            setter(v)
            return (torch.randn(3),)
        return prepare

    calls = [call(v) for v in (0.5, 1.5, 2.5, 3.5)]
    try:
        counter, cf = _bytegraph_graphs(fn, calls)
        assert counter.frame_count == 2
        assert counter.frame_count <= _torch_graphs(fn, calls)
    finally:
        setter(0.5)


@pytest.mark.parametrize("special", [math.nan, math.inf])
def test_non_finite_float_stays_a_constant(special):
    def fn(x, f):
        return x * f

    x = torch.randn(3)
    calls = [(x, f) for f in (special, 0.5, 1.5)]
    counter, cf = _bytegraph_graphs(fn, calls, dynamic=True)
    assert counter.frame_count == 2                 # nan/inf: a constant; then one symbolic graph
    assert list(_placeholder_values(counter.graphs[0])) == ["l_x_"]
    assert isinstance(_placeholder_values(counter.graphs[1])["l_f_"], torch.SymFloat)


def scale_with_default(x, k=2):
    return x * k


def test_reassigned_root_default_becomes_symbolic():
    def set_default(v):
        def call():
            scale_with_default.__defaults__ = (v,)
            return (torch.randn(3),)
        return call

    calls = [set_default(v) for v in (2, 3, 4, 5)]
    try:
        counter, cf = _bytegraph_graphs(scale_with_default, calls)
        assert counter.frame_count <= _torch_graphs(scale_with_default, calls)
    finally:
        scale_with_default.__defaults__ = (2,)


def test_equal_symbolic_int_arguments_do_not_recompile():
    def fn(x, n, m):
        return x * n + m

    x = torch.randn(3)
    calls = [(x, n, m) for n, m in ((2, 3), (3, 4), (5, 5), (6, 6), (7, 7), (8, 9))]
    counter, cf = _bytegraph_graphs(fn, calls)
    assert counter.frame_count <= _torch_graphs(fn, calls)


SEQUENCE_COMPARISONS = {
    "size == size": lambda x, y: x.shape == y.shape,
    "size != size": lambda x, y: x.shape != y.shape,
    "size == tuple": lambda x, y: x.shape == (4, 3),
    "tuple == size": lambda x, y: (4, 3) == x.shape,
    "size < size": lambda x, y: x.shape < y.shape,
    "list == list": lambda x, y: [x.shape[0], 3] == list(y.shape),
    "size[1:] == size[1:]": lambda x, y: x.shape[1:] == y.shape[1:],
}


def _branch_on(compare):
    def fn(x, y):
        if compare(x, y):
            return x + 1
        return x - 1
    return fn


@pytest.mark.parametrize("name", sorted(SEQUENCE_COMPARISONS))
def test_sequence_of_symbolic_sizes_compared_with_a_static_one(name):
    """A torch.Size (or list, tuple) holding symbolic sizes compared with a static one: item by
    item, as CPython does, each symbolic item specialized under a guard; it was answered by
    identity (False, no guard), a silent wrong branch (fuzz seed 95030). One graph per outcome,
    no break."""
    fn = _branch_on(SEQUENCE_COMPARISONS[name])
    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    for xs, ys in [((4, 3), (4, 3)), ((4, 3), (5, 3)), ((4, 3), (4, 3)), ((5, 3), (4, 3))]:
        x, y = torch.randn(*xs), torch.randn(*ys)
        bytegraph.mark_dynamic(x, [0, 1])
        assert same(cf(x, y), fn(x, y)), (xs, ys)
    assert cf.stats.break_reasons == []
    assert 1 <= counter.frame_count <= 3


class _WithMethod:
    def scale(self, x):
        return x * 2


def test_equality_no_tracker_models_is_eagers_answer():
    """``==`` between values no tracker compares: identity only for types that keep
    object.__eq__ (a bound method compares its function and self: equal, not identical)."""
    obj = _WithMethod()

    def fn(x):
        same_method = obj.scale == obj.scale
        same_object = obj == obj
        return x + 1, same_method, same_object

    cf = bytegraph.compile(fn)
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(x), fn(x))


def test_a_view_and_its_base_as_inputs_are_static_on_the_first_capture():
    """Fake-tensor conversion of a view also converts its base (and memoizes it): with no
    context for the base, torch made every dimension of it symbolic, so the base read as an
    input of its own was dynamic from the first capture (fuzz seed 95030 took a wrong branch
    through it). The first capture is static, as for any input; a new size then recompiles
    into a dynamic graph as usual."""
    from bytegraph.runtime import events

    def fn(v, b):
        return v * 2 + b.sum(), v.shape == b.shape[1:]

    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    with events.recording() as log:
        for n in (4, 4, 6, 7):
            b = torch.randn(n, 3)
            v = b[1]
            assert same(cf(v, b), fn(v, b))
    assert not [g for g, _ in log[0].guards if g.startswith("SHAPE_ENV")], log[0].guards
    assert counter.frame_count == 2
