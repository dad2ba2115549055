"""Builder rule "literal" (docs/builder.md): int, float, bool, complex, str, bytes, None,
Ellipsis. Each is folded into the graph and guarded by EQUALS_MATCH (type and value), so
(a) using it gives eager's answer, (b) another value, or an equal value of another type,
recompiles naming the argument, (c) an equal value that is a different object, or a
change to a literal the code never reads, does not. An int that changed becomes symbolic
on the recompile (automatic dynamic), so a third value does not recompile again.
(dtype/device/layout/memory_format: test_rules_callables.py; torch.Size: test_rules_sequences.py;
frozenset, range, slice: test_rules_mappings.py; enum members, regex: test_rules_objects.py.)"""

import math

import torch

import bytegraph
from bytegraph.testing import same


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


def _run(cf, fn, *calls):
    for args in calls:
        assert same(cf(*args), fn(*args))


# -- int ----------------------------------------------------------------------------------------
def test_int_change_recompiles_once_then_is_symbolic(counter):
    def fn(x, n):
        return x * n + n

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, 2), (x, 2))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, 3), (x, 4), (x, 5), (x, 2))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons == ["L['n']: expected EQUALS_MATCH 2, got 3 (guard from builder rule 'literal')"]


def test_int_with_dynamic_false_recompiles_per_value(counter):
    def fn(x, n):
        return x + n

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, 1), (x, 2), (x, 3), (x, 1), (x, 2))
    _assert_counts(counter, cf, 3, 2)
    assert all(r.startswith("L['n']: expected EQUALS_MATCH") for r in cf.stats.recompile_reasons)


def test_equal_large_int_built_anew_does_not_recompile(counter):
    def fn(x, n):
        return x * (n % 7)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        n = int("1000000000003")                     # equal value, a new object each call
        _run(cf, fn, (torch.randn(3), n))
    _assert_counts(counter, cf, 1, 0)


def test_int_sizing_a_new_tensor(counter):
    def fn(x, n):
        return torch.ones(n, 2) @ x

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2, 3)
    _run(cf, fn, (x, 3), (x, 3), (x, 4), (x, 6), (x, 3))
    _assert_counts(counter, cf, 2, 1)
    assert "L['n']" in cf.stats.recompile_reasons[0]


def test_int_in_a_python_branch_stays_correct_when_symbolic(counter):
    def fn(x, n):
        if n > 2:
            return x * n
        return x - n

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, 1), (x, 2), (x, 3), (x, 4), (x, 0), (x, 7))
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == cf.stats.captures == 3        # 1 static, then one per side of n > 2
    assert "L['n']" in cf.stats.recompile_reasons[0]


def test_unread_literal_argument_is_not_guarded(counter):
    def fn(x, n, note):
        return x * n

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, 2, "a"), (x, 2, 7), (x, 2, None), (x, 2, 2.5))
    _assert_counts(counter, cf, 1, 0)


# -- float, complex -------------------------------------------------------------------------------
def test_float_change_recompiles(counter):
    def fn(x, eps):
        return x / (x.abs() + eps)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, 1e-3), (x, 1e-3), (x, 0.5), (x, 0.5))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['eps']: expected EQUALS_MATCH 0.001, got 0.5")


def test_signed_zero_is_a_different_float(counter):
    def fn(x, z):
        return x * math.copysign(1.0, z)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, 0.0), (x, 0.0), (x, -0.0), (x, -0.0), (x, 0.0))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['z']")


def test_nan_argument_does_not_recompile_every_call(counter):
    def fn(x, v):
        return x + v if v == v else x.nan_to_num()

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        v = float("nan")                              # nan != nan: a value guard must still match it
        _run(cf, fn, (torch.randn(3), v))
    _assert_counts(counter, cf, 1, 0)


def test_complex_change_recompiles(counter):
    def fn(x, c):
        return x * c.real - c.imag

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, 1 + 2j), (x, complex(1, 2)), (x, 3j), (x, 3j))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['c']: expected EQUALS_MATCH (1+2j), got 3j")


# -- equal values of different types ---------------------------------------------------------------
def test_bool_after_int_of_equal_value_recompiles(counter):
    def fn(x, flag):
        return x * 2 if isinstance(flag, bool) else x * flag

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, 1), (x, 1), (x, True), (x, True))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['flag']: expected EQUALS_MATCH 1, got True")


def test_float_after_int_of_equal_value_recompiles(counter):
    def fn(x, k):
        return x + k, k / 2, type(k).__name__

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, 2), (x, 2.0), (x, 2.0), (x, 2))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['k']: expected EQUALS_MATCH 2, got 2.0")


# -- bool, None ----------------------------------------------------------------------------------------
def test_bool_flag_selects_a_branch(counter):
    def fn(x, training):
        return x.relu() if training else x.sigmoid()

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(4)
    _run(cf, fn, (x, True), (x, True), (x, False), (x, False), (x, True))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['training']: expected EQUALS_MATCH True, got False")


def test_none_then_tensor_argument_recompiles(counter):
    def fn(x, bias=None):
        out = x * 2
        if bias is not None:
            out = out + bias
        return out

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x,), (x, None), (x, torch.ones(3)), (x, torch.zeros(3)))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['bias']")


# -- str, bytes, Ellipsis ------------------------------------------------------------------------------
def test_str_names_the_method_to_call(counter):
    def fn(x, op):
        return getattr(x, op)() + len(op)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, "exp"), (x, "".join(["e", "x", "p"])), (x, "sin"), (x, "sin"))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['op']: expected EQUALS_MATCH 'exp', got 'sin'")


def test_str_used_in_a_returned_format(counter):
    def fn(x, prefix):
        return x + 1, f"{prefix}:{x.shape[0]}"

    cf = bytegraph.compile(fn, backend=counter)
    _run(cf, fn, (torch.randn(3), "out"), (torch.randn(3), "out"), (torch.randn(3), "res"))
    _assert_counts(counter, cf, 2, 1)
    assert "L['prefix']" in cf.stats.recompile_reasons[0]


def test_bytes_change_recompiles(counter):
    def fn(x, key):
        return x * len(key) + key[0]

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, b"ab"), (x, bytes([97, 98])), (x, b"xyz"), (x, b"xyz"))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['key']: expected EQUALS_MATCH b'ab', got b'xyz'")


def test_ellipsis_then_int_index_recompiles(counter):
    def fn(x, idx):
        return x[idx] * 2

    cf = bytegraph.compile(fn, backend=counter)
    _run(cf, fn, (torch.randn(3, 2), ...), (torch.randn(3, 2), ...), (torch.randn(3, 2), 1))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['idx']: expected EQUALS_MATCH Ellipsis, got 1")


# -- literals passed by keyword -----------------------------------------------------------------------
def test_keyword_only_literal_change_recompiles(counter):
    def fn(x, *, scale=1.0, mode="add"):
        return x + scale if mode == "add" else x * scale

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    for kw in ({}, {"scale": 1.0}, {"mode": "add"}, {"mode": "mul"}, {"mode": "mul"}):
        assert same(cf(x, **kw), fn(x, **kw))
    _assert_counts(counter, cf, 2, 1)
    assert "L['mode']" in cf.stats.recompile_reasons[0]


def test_none_to_int_reason_names_none(counter):
    def fn(x, k):
        return x + 1 if k is None else x * k

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, None), (x, None), (x, 1))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons == ["L['k']: expected EQUALS_MATCH None, got 1 (guard from builder rule 'literal')"]
