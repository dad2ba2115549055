"""Exceptions raised by the user's own code while it is being captured reach the caller
exactly as in eager: same type, same message, raised from the user's line. The frame
gets an eager entry (its reason says which exception and where); inputs that do not
raise still get a graph.

PYTEST_DONT_REWRITE: the traced functions below contain ``assert`` statements, which
pytest would otherwise rewrite into calls of its own helpers (and bytegraph would trace
those instead of the user's assert).
"""

import inspect
import os

import pytest
import torch

import bytegraph
from bytegraph.testing import same

FILE = os.path.basename(__file__)


def _line(fn, text):
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, ln in enumerate(lines) if text in ln)


def _check_raises(counter, fn, make_args, exc_type, text, calls=2, where=None):
    """Each call raises ``exc_type`` with eager's message; capture recorded why, once."""
    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(calls):
        args = make_args()
        with pytest.raises(exc_type) as eager:
            fn(*args)
        with pytest.raises(exc_type) as compiled:
            cf(*args)
        assert type(compiled.value) is type(eager.value)
        assert str(compiled.value) == str(eager.value)
        raising = [e for e in compiled.traceback if os.path.basename(str(e.path)) == FILE][-1]
        assert raising.lineno + 1 == _line(where or fn, text)     # raised from the user's own line
    assert cf.stats.captures == 1 and cf.stats.eager == 1 and cf.stats.recompiles == 0
    assert counter.frame_count == 0
    (reason,) = cf.stats.eager_reasons
    assert reason.startswith(f"the program raises {exc_type.__name__}"), reason
    assert f"{FILE}:{_line(where or fn, text)}" in reason, reason
    return cf


def test_matmul_shape_mismatch(counter):
    def fn(x, w):
        return torch.matmul(x, w).relu()

    _check_raises(counter, fn, lambda: (torch.randn(2, 3), torch.randn(4, 5)), RuntimeError,
                  "return torch.matmul(x, w).relu()")


def test_broadcast_mismatch_in_operator(counter):
    def fn(x, y):
        z = x * 2
        return z + y

    _check_raises(counter, fn, lambda: (torch.randn(3), torch.randn(4)), RuntimeError, "return z + y")


def test_index_error_on_list(counter):
    def fn(xs):
        return xs[0] + xs[5]

    _check_raises(counter, fn, lambda: ([torch.randn(2), torch.randn(2)],), IndexError, "return xs[0] + xs[5]")


def test_key_error_on_dict(counter):
    def fn(d):
        return d["missing"] * 2

    _check_raises(counter, fn, lambda: ({"present": torch.randn(2)},), KeyError, 'return d["missing"] * 2')


def test_explicit_raise_value_error(counter):
    def fn(x, mode):
        if mode not in ("a", "b"):
            raise ValueError(f"unknown mode {mode!r}")
        return x

    _check_raises(counter, fn, lambda: (torch.randn(2), "c"), ValueError, "raise ValueError(")


def test_failed_assert_with_message(counter):
    def fn(x):
        assert x.shape[0] == 4, f"expected 4 rows, got {x.shape[0]}"
        return x * 2

    _check_raises(counter, fn, lambda: (torch.randn(3, 2),), AssertionError, "assert x.shape[0] == 4")


def test_failed_assert_without_message(counter):
    def fn(x, n):
        y = x + 1
        assert n > 0
        return y

    _check_raises(counter, fn, lambda: (torch.randn(2), 0), AssertionError, "assert n > 0")


def test_type_error_calling_inlined_function(counter):
    def helper(a, b):
        return a + b

    def fn(x):
        return helper(x)

    _check_raises(counter, fn, lambda: (torch.randn(2),), TypeError, "return helper(x)")


def test_attribute_error_on_user_object(counter):
    class Config:
        def __init__(self):
            self.scale = 2

    def fn(x, cfg):
        return x * cfg.shift

    _check_raises(counter, fn, lambda: (torch.randn(2), Config()), AttributeError, "return x * cfg.shift")


def test_zero_division_in_python_arithmetic(counter):
    def fn(x, n):
        return x * (1 / n)

    _check_raises(counter, fn, lambda: (torch.randn(2), 0), ZeroDivisionError, "return x * (1 / n)")


def test_error_raised_in_inlined_function(counter):
    def check(t):
        if t.dim() != 2:
            raise ValueError("need a matrix")
        return t

    def fn(x):
        return check(x) @ check(x).t()

    _check_raises(counter, fn, lambda: (torch.randn(3),), ValueError, 'raise ValueError("need a matrix")',
                  where=check)


def test_error_in_module_forward(counter):
    model = torch.nn.Linear(4, 2)
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(2):
        x = torch.randn(3, 5)
        with pytest.raises(RuntimeError) as eager:
            model(x)
        with pytest.raises(RuntimeError) as compiled:
            cm(x)
        assert str(compiled.value) == str(eager.value)
    assert cm.stats.eager == 1 and cm.stats.recompiles == 0 and counter.frame_count == 0


def test_valid_inputs_after_an_error_get_a_graph(counter):
    def fn(xs):
        return xs[0] * xs[2]

    cf = bytegraph.compile(fn, backend=counter)
    short = [torch.randn(2), torch.randn(2)]
    with pytest.raises(IndexError, match="list index out of range"):
        cf(short)
    for _ in range(3):
        xs = [torch.randn(2) for _ in range(3)]
        assert same(cf(xs), fn(xs))
    with pytest.raises(IndexError):
        cf(short)                           # still served by the eager entry
    assert cf.stats.captures == 2 and cf.stats.eager == 1 and cf.stats.graphs == 1
    assert cf.stats.recompiles == 1 and counter.frame_count == 1 and counter.op_count == 1


def test_error_only_for_some_inputs(counter):
    def fn(x, k):
        if k > 2:
            raise ValueError("k too large")
        return x * k

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(x, 1), fn(x, 1))
    with pytest.raises(ValueError, match="k too large"):
        cf(x, 3)
    assert same(cf(x, 1), fn(x, 1))
    with pytest.raises(ValueError, match="k too large"):
        cf(x, 3)
    assert cf.stats.captures == 2 and cf.stats.eager == 1 and cf.stats.recompiles == 1
    assert counter.frame_count == 1


def test_user_exception_class(counter):
    class BadInput(Exception):
        pass

    def fn(x):
        if x.dim() == 1:
            raise BadInput("1-d input")
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        with pytest.raises(BadInput, match="1-d input"):
            cf(torch.randn(3))
    assert cf.stats.captures == 1 and cf.stats.eager == 1 and counter.frame_count == 0


def test_user_error_under_fullgraph_is_not_a_compile_error(counter):
    def fn(x, w):
        return x @ w

    cf = bytegraph.compile(fn, backend=counter, fullgraph=True)
    x, w = torch.randn(2, 3), torch.randn(2, 3)
    with pytest.raises(RuntimeError) as eager:
        fn(x, w)
    for _ in range(2):
        with pytest.raises(RuntimeError) as compiled:
            cf(x, w)
        assert str(compiled.value) == str(eager.value)
    assert counter.frame_count == 0 and cf.stats.eager == 1
