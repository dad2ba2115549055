"""contextlib's managers (issue 12, item 8): ExitStack with a number of entered contexts that
varies between calls, nullcontext, suppress, closing, redirect_stdout. Each compiled call
enters and exits the same contexts in the same order as eager and returns the same values.

What made ExitStack work is general: ``types.MethodType(f, obj)`` is traced (the stack's exit
wrappers), ``sys.exc_info()`` is modelled (the exception a traced frame handles, else the one
the caller handles, guarded), and every value a graph break passes on is built before side
effects are written back (a popped item is read before the pop is written back).
"""

import contextlib
import io
import sys

import torch

import bytegraph
from bytegraph.testing import same

EVENTS = []


class Tracked:
    def __init__(self, i):
        self.i = i

    def __enter__(self):
        EVENTS.append(("enter", self.i))
        return self

    def __exit__(self, *exc):
        EVENTS.append(("exit", self.i))
        return False


def _exit_stack(x, n):
    with contextlib.ExitStack() as stack:
        for i in range(n):
            stack.enter_context(Tracked(i))
        y = x * 2
    return y + n


def test_exit_stack_with_varying_contexts(counter):
    cf = bytegraph.compile(_exit_stack, backend=counter)
    for n in (1, 2, 3, 0, 2):
        EVENTS.clear()
        expected, expected_events = _exit_stack(torch.ones(2), n), list(EVENTS)
        EVENTS.clear()
        assert same(cf(torch.ones(2), n), expected)
        assert EVENTS == expected_events
    assert cf.stats.break_reasons == [] and cf.stats.eager == 0
    assert cf.stats.captures == cf.stats.graphs == 4           # n = 1, 2, 3, 0; then a hit


def _exit_stack_grad(x, n):
    with contextlib.ExitStack() as stack:
        for _ in range(n):
            stack.enter_context(torch.no_grad())
        y = x * 2
    return y, y.requires_grad, torch.is_grad_enabled()


def test_exit_stack_of_grad_modes(counter):
    """A grad-mode manager entered through ExitStack breaks (its ``__enter__`` sets an attribute
    on a trace-made object) and stays correct."""
    cf = bytegraph.compile(_exit_stack_grad, backend=counter)
    for n in (0, 1, 2, 1):
        x = torch.ones(2, requires_grad=True)
        assert same(cf(x, n), _exit_stack_grad(x, n))
    assert torch.is_grad_enabled()


def _null_or_no_grad(x, flag):
    with (contextlib.nullcontext(x) if flag else torch.no_grad()) as y:
        z = x * 2
    return z, z.requires_grad, y is x if flag else y


def test_nullcontext(counter):
    cf = bytegraph.compile(_null_or_no_grad, backend=counter)
    for flag in (True, False, True, False):
        x = torch.ones(2, requires_grad=True)
        assert same(cf(x, flag), _null_or_no_grad(x, flag))
    assert cf.stats.captures == cf.stats.graphs == 2 and cf.stats.break_reasons == []


def _suppress(x, d):
    with contextlib.suppress(KeyError):
        x = x + d["k"]
        x = x * 10
    return x * 2


def test_suppress(counter):
    cf = bytegraph.compile(_suppress, backend=counter)
    for d in ({"k": 1}, {}, {"k": 2}, {}):
        assert same(cf(torch.ones(2), d), _suppress(torch.ones(2), d))
    assert cf.stats.eager == 0 and cf.stats.break_reasons == []


class Resource:
    def __init__(self):
        self.closed = 0

    def close(self):
        self.closed += 1


def _closing(x, r):
    with contextlib.closing(r) as rr:
        y = x + rr.closed
    return y, rr.closed


def test_closing(counter):
    cf = bytegraph.compile(_closing, backend=counter)
    for _ in range(3):
        mine, theirs = Resource(), Resource()
        assert same(cf(torch.ones(2), mine), _closing(torch.ones(2), theirs))
        assert mine.closed == theirs.closed == 1
    assert cf.stats.eager == 0


def test_redirect_stdout(counter, capsys):
    buf = io.StringIO()

    def fn(x):
        with contextlib.redirect_stdout(buf):
            print("inside")
            y = x + 1
        print("outside")
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        assert same(cf(torch.ones(2)), fn(torch.ones(2)))
    assert buf.getvalue() == "inside\n" * 4
    assert capsys.readouterr().out == "outside\n" * 4


# -- sys.exc_info() --------------------------------------------------------------------------------
def _exc_info(x):
    return x + (0 if sys.exc_info()[1] is None else 1), sys.exc_info()[0]


def test_exc_info_of_the_caller_is_guarded(counter):
    cf = bytegraph.compile(_exc_info, backend=counter)
    assert same(cf(torch.ones(1)), _exc_info(torch.ones(1)))
    try:
        raise KeyError("k")
    except KeyError:
        assert same(cf(torch.ones(1)), _exc_info(torch.ones(1)))      # the caller handles one
    assert same(cf(torch.ones(1)), _exc_info(torch.ones(1)))
    assert cf.stats.captures == 2 and cf.stats.graphs == 2 and cf.stats.eager == 0
    assert "sys.exception()" in cf.stats.recompile_reasons[0]


def test_exc_info_inside_an_except_block(counter):
    def fn(x, d):
        try:
            return d["missing"]
        except KeyError:
            t, e, _ = sys.exc_info()
            return x + 1, t, e.args

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        assert same(cf(torch.ones(1), {}), fn(torch.ones(1), {}))
