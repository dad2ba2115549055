"""Exceptions raised and handled while tracing, `with` blocks, and lazily run generators.

The translator follows CPython's exception table: an exception raised inside traced code
is delivered to the user's own except/finally/__exit__, which is traced like any code.
"""

import contextlib

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def _run(counter, fn, make_args, calls=3):
    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(calls):
        args = make_args()
        assert same(cf(*args), fn(*args))
    return cf


def test_try_finally_runs_the_finally_block(counter):
    def fn(x):
        out = []
        try:
            out.append(x + 1)
        finally:
            out.append(x * 2)
        return out

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert cf.stats.eager_reasons == [] and counter.frame_count == 1 and counter.op_count == 2


def test_exception_from_inlined_callee_caught_by_caller(counter):
    def lookup(d, k):
        return d[k]

    def fn(x, d):
        try:
            scale = lookup(d, "missing")
        except KeyError as e:
            scale = len(str(e))
        return x * scale

    cf = _run(counter, fn, lambda: (torch.randn(3), {"a": 1}))
    assert cf.stats.eager_reasons == [] and counter.frame_count == 1 and cf.stats.recompiles == 0


def test_reraised_exception_reaches_the_user_unchanged(counter):
    def fn(x):
        try:
            raise ValueError("bad value")
        except ValueError:
            x = x + 1
            raise

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        with pytest.raises(ValueError, match="bad value"):
            cf(torch.randn(2))
    assert counter.frame_count == 0 and cf.stats.eager == 1


def test_exception_chaining_with_from(counter):
    def fn(x):
        try:
            return {}["k"]
        except KeyError as e:
            raise RuntimeError("wrapped") from e

    cf = bytegraph.compile(fn, backend=counter)
    with pytest.raises(RuntimeError, match="wrapped") as info:
        cf(torch.randn(2))
    assert isinstance(info.value.__cause__, KeyError)


def test_stop_iteration_from_next_is_catchable(counter):
    def fn(x, items):
        it = iter(items)
        total = x
        while True:
            try:
                total = total + next(it)
            except StopIteration:
                break
        return total

    cf = _run(counter, fn, lambda: (torch.randn(2), [1, 2, 3]))
    assert cf.stats.eager_reasons == [] and counter.frame_count == 1 and counter.op_count == 3


class Scaled:
    """A user context manager: __enter__ and __exit__ are traced."""

    def __init__(self, factor):
        self.factor = factor
        self.log = []

    def __enter__(self):
        self.log.append("enter")
        return self.factor

    def __exit__(self, *exc):
        self.log.append("exit")
        return False


def test_user_context_manager_created_inside(counter):
    def fn(x):
        cm = Scaled(3)
        with cm as k:
            y = x * k
        return y, len(cm.log)

    cf = _run(counter, fn, lambda: (torch.randn(2),))
    assert cf.stats.eager_reasons == [] and counter.frame_count == 1


@contextlib.contextmanager
def doubled(x):
    yield x * 2


def test_contextlib_contextmanager(counter):
    def fn(x):
        with doubled(x) as y:
            z = y + 1
        return z

    cf = _run(counter, fn, lambda: (torch.randn(4),))
    assert cf.stats.eager_reasons == [] and counter.frame_count == 1 and counter.op_count == 2


def test_grad_mode_nesting_and_set_grad_enabled(counter):
    def fn(x, w):
        with torch.no_grad():
            a = x @ w
            with torch.enable_grad():
                b = x @ w
        with torch.set_grad_enabled(False):
            c = x @ w
        return a, b, c, torch.is_grad_enabled()

    w = torch.randn(3, 3, requires_grad=True)
    cf = _run(counter, fn, lambda: (torch.randn(2, 3), w))
    a, b, c, enabled = cf(torch.randn(2, 3), w)
    assert (a.requires_grad, b.requires_grad, c.requires_grad, enabled) == (False, True, False, True)
    assert torch.is_grad_enabled(), "grad mode is restored after the graph"
    assert cf.stats.eager_reasons == [] and counter.frame_count == 1


def test_calling_under_no_grad_recompiles_once(counter):
    def fn(x, w):
        return x @ w

    w = torch.randn(3, 3, requires_grad=True)
    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2, 3)
    assert cf(x, w).requires_grad
    with torch.no_grad():
        out = cf(x, w)
        assert not out.requires_grad and same(out, fn(x, w))
    assert cf(x, w).requires_grad
    assert counter.frame_count == 2 and cf.stats.recompiles == 1
    assert "global state" in cf.stats.recompile_reasons[0]


def test_generator_runs_lazily_interleaved_with_its_consumer(counter):
    def numbers(log):
        for i in range(3):
            log.append(("yield", i))
            yield i

    def fn(x):
        log = []
        out = x
        for i in numbers(log):
            log.append(("use", i))
            out = out + i
        return out, log

    cf = _run(counter, fn, lambda: (torch.randn(2),))
    assert cf(torch.zeros(2))[1] == [("yield", 0), ("use", 0), ("yield", 1), ("use", 1), ("yield", 2), ("use", 2)]
    assert counter.frame_count == 1


def test_generator_expressions_and_yield_from(counter):
    def inner(n):
        yield from range(n)
        yield n

    def fn(x):
        return sum(x * i for i in inner(3)), all(i >= 0 for i in inner(2)), list(inner(1))

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert cf.stats.eager_reasons == [] and counter.frame_count == 1
