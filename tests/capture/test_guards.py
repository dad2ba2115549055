"""Guards on the inputs and on torch's state: for each kind of guard, change exactly
what it protects between calls and check that the function recompiles (and gives eager's
answer), then change something the graph does not depend on and check that it does not.
Guards on globals, functions, closures and objects are in test_guards_objects.py."""

import warnings

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


# -- TENSOR_MATCH ---------------------------------------------------------------------------
def test_tensor_dtype_change_recompiles(counter):
    def fn(x):
        return x * 2 + 1

    cf = bytegraph.compile(fn, backend=counter)
    for dtype in (torch.float32, torch.float32, torch.float64, torch.float64, torch.float32):
        x = torch.randn(3).to(dtype)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons == ["L['x']: dtype mismatch: expected torch.float32, got torch.float64"
                                          " (guard from builder rule 'tensor')"]


def test_tensor_shape_change_recompiles(counter):
    def fn(x):
        return x.sum(0) * 2

    cf = bytegraph.compile(fn, backend=counter)
    for n in (3, 3, 4, 4, 3):
        x = torch.randn(n, 2)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['x']: size mismatch: expected (3, 2), got (4, 2)")


def test_tensor_stride_change_recompiles(counter):
    def fn(x):
        return x + 1

    cf = bytegraph.compile(fn, backend=counter)
    a = torch.randn(3, 3)
    assert same(cf(a), fn(a))
    assert same(cf(a.t()), fn(a.t()))
    assert same(cf(a.t()), fn(a.t()))
    _assert_counts(counter, cf, 2, 1)
    assert "stride mismatch" in cf.stats.recompile_reasons[0]


def test_tensor_requires_grad_change_recompiles(counter):
    def fn(x):
        return (x * 3).sum()

    cf = bytegraph.compile(fn, backend=counter)
    for rg in (False, False, True, True):
        x = torch.randn(4, requires_grad=rg)
        out = cf(x)
        assert same(out, fn(x))
        if rg:
            out.backward()
            assert same(x.grad, torch.full((4,), 3.0))
    _assert_counts(counter, cf, 2, 1)
    assert "requires_grad mismatch" in cf.stats.recompile_reasons[0]


def test_tensor_values_are_not_guarded(counter):
    def fn(x, y):
        return x @ y

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(5):
        x, y = torch.randn(2, 3), torch.randn(3, 2)
        assert same(cf(x, y), fn(x, y))
    _assert_counts(counter, cf, 1, 0)


def test_returning_to_an_earlier_variant_hits_its_entry(counter):
    def fn(x):
        return x.relu()

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)   # static: each size is its own entry
    for shape in ((2,), (3,), (2,), (3,), (4,), (2,)):
        x = torch.randn(shape)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 3, 2)
    assert len(cf.entries) == 3


# -- EQUALS_MATCH on arguments ------------------------------------------------------------------
@pytest.mark.parametrize("first,second", [(2, 3), (0.5, 0.25), ("sum", "mean"), (True, False), (None, 1)])
def test_constant_argument_change_recompiles(counter, first, second):
    def fn(x, c):
        if c is None:
            return x
        if isinstance(c, str):
            return getattr(x, c)()
        return x * c + 1

    cf = bytegraph.compile(fn, backend=counter)
    for c in (first, first, second, second):
        x = torch.randn(3)
        assert same(cf(x, c), fn(x, c))
    assert cf.stats.recompiles == 1 and cf.stats.eager == 0
    assert "L['c']" in cf.stats.recompile_reasons[0]
    assert counter.frame_count == (1 if first is None else 2)       # fn(x, None) returns x: no graph

# -- TYPE_MATCH, SEQUENCE_LENGTH, DICT_KEYS ---------------------------------------------------
def test_container_type_change_recompiles(counter):
    def fn(xs):
        return xs[0] + xs[1]

    cf = bytegraph.compile(fn, backend=counter)
    for make in (list, list, tuple, tuple):
        xs = make([torch.randn(2), torch.randn(2)])
        assert same(cf(xs), fn(xs))
    _assert_counts(counter, cf, 2, 1)
    assert "TYPE_MATCH" in cf.stats.recompile_reasons[0]


def test_list_length_change_recompiles(counter):
    def fn(xs):
        return sum(xs)

    cf = bytegraph.compile(fn, backend=counter)
    for n in (3, 3, 4, 4):
        xs = [torch.randn(2) for _ in range(n)]
        assert same(cf(xs), fn(xs))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['xs']: expected SEQUENCE_LENGTH 3, got length 4")


def test_star_args_length_change_recompiles(counter):
    def fn(*xs):
        return torch.stack(xs).sum(0)

    cf = bytegraph.compile(fn, backend=counter)
    for n in (2, 2, 3, 3):
        xs = [torch.randn(2) for _ in range(n)]
        assert same(cf(*xs), fn(*xs))
    _assert_counts(counter, cf, 2, 1)


def test_list_item_tensor_metadata_is_guarded(counter):
    def fn(xs):
        return xs[0] * xs[1]

    cf = bytegraph.compile(fn, backend=counter)
    for dtype in (torch.float32, torch.float32, torch.float64):
        xs = [torch.randn(2), torch.randn(2).to(dtype)]
        assert same(cf(xs), fn(xs))
    _assert_counts(counter, cf, 2, 1)
    assert "L['xs'][1]" in cf.stats.recompile_reasons[0]


def test_dict_keys_change_recompiles_values_do_not(counter):
    def fn(d):
        return {k: v * 2 for k, v in d.items()}

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        d = {"a": torch.randn(2), "b": torch.randn(2)}
        assert same(cf(d), fn(d))
    _assert_counts(counter, cf, 1, 0)
    for _ in range(2):
        d = {"b": torch.randn(2), "a": torch.randn(2)}          # same keys, another order
        assert same(cf(d), fn(d))
    _assert_counts(counter, cf, 2, 1)
    assert "DICT_KEYS" in cf.stats.recompile_reasons[0]


def test_kwargs_keys_change_recompiles(counter):
    def fn(x, **opts):
        return x * opts.get("scale", 1) + opts.get("shift", 0)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    for kwargs in ({"scale": 2}, {"scale": 2}, {"scale": 2, "shift": 1}, {"scale": 2, "shift": 1}):
        assert same(cf(x, **kwargs), fn(x, **kwargs))
    _assert_counts(counter, cf, 2, 1)


def test_default_argument_value_change_recompiles(counter):
    def fn(x, k=2):
        return x * k

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(x), fn(x))
    fn.__defaults__ = (5,)
    for _ in range(2):
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)

# -- GLOBAL_STATE -------------------------------------------------------------------------------
def test_grad_mode_change_recompiles(counter):
    def fn(x, w):
        return (x @ w).relu()

    cf = bytegraph.compile(fn, backend=counter)
    w = torch.randn(3, 2, requires_grad=True)
    x = torch.randn(4, 3)
    assert same(cf(x, w), fn(x, w))
    for _ in range(2):
        with torch.no_grad():
            out = cf(x, w)
            assert same(out, fn(x, w))
        assert not out.requires_grad
    assert same(cf(x, w), fn(x, w))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("global state changed")


def test_default_dtype_change_recompiles(counter):
    def fn(x):
        return x + torch.ones(3)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(x), fn(x))
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for _ in range(2):
            out = cf(x)
            assert same(out, fn(x)) and out.dtype == torch.float64
    finally:
        torch.set_default_dtype(old)
    assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert "global state" in cf.stats.recompile_reasons[0]


# -- aliasing -------------------------------------------------------------------------------------
def test_aliased_inputs_after_distinct_inputs_recompile(counter):
    def fn(x, y):
        x.add_(1)
        return x + y

    cf = bytegraph.compile(fn, backend=counter)
    for alias in (False, False, True, True, False):
        a, b = torch.randn(3), torch.randn(3)
        a2, b2 = a.clone(), b.clone()
        got = cf(a, a) if alias else cf(a, b)
        expected = fn(a2, a2) if alias else fn(a2, b2)
        assert same(got, expected) and same(a, a2)
    _assert_counts(counter, cf, 2, 1)
    assert "aliasing" in cf.stats.recompile_reasons[0]


def test_distinct_inputs_after_aliased_inputs_recompile(counter):
    def fn(x, y):
        return x * y + x

    cf = bytegraph.compile(fn, backend=counter)
    a, b = torch.randn(3), torch.randn(3)
    assert same(cf(a, a), fn(a, a))
    assert same(cf(b, b), fn(b, b))
    _assert_counts(counter, cf, 1, 0)
    assert same(cf(a, b), fn(a, b))
    assert same(cf(b, a), fn(b, a))
    _assert_counts(counter, cf, 2, 1)
    assert counter.graphs[0].graph.find_nodes(op="placeholder").__len__() == 1     # traced with one input

# -- the recompile limit ------------------------------------------------------------------------------
def test_recompile_limit_falls_back_to_eager_with_one_warning(counter):
    def fn(x, n):
        return x * n

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)   # every new n is a new entry
    x = torch.randn(3)
    with bytegraph.config.patch(recompile_limit=2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for n in range(5):
                assert same(cf(x, n), fn(x, n))
    limit = [w for w in caught if "recompile limit" in str(w.message)]
    assert len(limit) == 1
    assert counter.frame_count == 2 and len(cf.entries) == 2
    assert same(cf(x, 0), fn(x, 0))        # earlier entries still serve their inputs
    assert counter.frame_count == 2
