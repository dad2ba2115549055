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
    """A grad-mode manager entered through ExitStack (``type(cm).__enter__(cm)``, and its exit kept
    as ``MethodType(type(cm).__exit__, cm)``) runs the same model as ``with cm:``: one graph per
    count, no break."""
    cf = bytegraph.compile(_exit_stack_grad, backend=counter)
    for n in (0, 1, 2, 1):
        x = torch.ones(2, requires_grad=True)
        assert same(cf(x, n), _exit_stack_grad(x, n))
    assert torch.is_grad_enabled()
    assert (cf.stats.captures, cf.stats.graphs, cf.stats.eager) == (3, 3, 0) and cf.stats.break_reasons == []


# -- context managers entered outside a `with` statement (issue 12, fuzzer: 522 eager frames) -----
def _stats_all(cf):
    """(graphs, eager frames, resumed breaks) over the function and its resume functions."""
    stats = cf.stats_all
    return (sum(s.graphs for s in stats), sum(s.eager for s in stats), sum(len(s.break_reasons) for s in stats))


def _check_manager(fn, counter, make_args, graphs, breaks, calls=3):
    """Same results, events and grad/autocast state as eager on every call; ``graphs`` graphs,
    ``breaks`` resumed breaks over all frames, no frame run eagerly."""
    cf = bytegraph.compile(fn, backend=counter)
    for i in range(calls):
        EVENTS.clear()
        expected, expected_events = fn(*make_args(i)), list(EVENTS)
        EVENTS.clear()
        assert same(cf(*make_args(i)), expected)
        assert EVENTS == expected_events
        assert torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu")
    assert _stats_all(cf) == (graphs, 0, breaks), cf.stats_all
    return cf


def _grad_x(i):
    return (torch.full((2, 2), float(i + 1), requires_grad=True),)


def _stack_no_grad_callback_break(x):
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.no_grad())
        stack.callback(EVENTS.append, "cb")
        y = x * 2
        EVENTS.append(("mid", torch.is_grad_enabled()))
        print(end="")                          # a graph break inside the stack's block
        z = y + x
    return z, z.requires_grad, y.requires_grad, torch.is_grad_enabled()


def test_exit_stack_grad_mode_across_a_break(counter):
    """The stack, its no_grad manager (rebuilt in its entered state: its own ``__exit__`` restores
    the mode) and its callback (a closure with ``__wrapped__`` set, around ``EVENTS.append``)
    are passed to the resume function, which finishes the block in a graph."""
    _check_manager(_stack_no_grad_callback_break, counter, _grad_x, graphs=2, breaks=1)


def _stack_modes(x, flag):
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.set_grad_enabled(flag))
        a = x * 2
        stack.enter_context(torch.enable_grad())
        b = a * x
        stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
        c = b @ x
    return a, b, c, [t.requires_grad for t in (a, b, c)], c.dtype


def test_exit_stack_of_mixed_managers(counter):
    """set_grad_enabled, enable_grad and autocast entered through one stack, left in reverse order."""
    _check_manager(lambda x: _stack_modes(x, False), counter, _grad_x, graphs=1, breaks=0)


def _direct_enter_exit(x):
    cm = torch.no_grad()
    cm.__enter__()
    y = x * 2
    cm.__exit__(None, None, None)
    ac = torch.autocast("cpu", dtype=torch.bfloat16)
    type(ac).__enter__(ac)
    z = x @ x
    type(ac).__exit__(ac, None, None, None)
    return y, y.requires_grad, z.dtype, (z.float() + y).requires_grad


def test_direct_enter_and_exit_calls(counter):
    _check_manager(_direct_enter_exit, counter, _grad_x, graphs=1, breaks=0)


def _direct_enter_break_exit(x):
    cm = torch.enable_grad()
    with torch.no_grad():
        type(cm).__enter__(cm)
        y = x * 3
        print(end="")
        z = y * x
        type(cm).__exit__(cm, None, None, None)
        w = z * 2
    return y.requires_grad, z.requires_grad, w.requires_grad, z


def test_manager_entered_by_hand_across_a_break(counter):
    """``cm`` is live at the break: rebuilt as a real enable_grad whose ``prev`` is the mode it
    restores (False: the outer no_grad)."""
    _check_manager(_direct_enter_break_exit, counter, _grad_x, graphs=2, breaks=1)


def _stack_closed_by_hand(x):
    stack = contextlib.ExitStack()
    stack.enter_context(torch.no_grad())
    y = x * 2
    print(end="")
    stack.close()
    return y, y.requires_grad, (y * x).requires_grad


def test_exit_stack_closed_by_hand_after_a_break(counter):
    _check_manager(_stack_closed_by_hand, counter, _grad_x, graphs=2, breaks=1)


def test_callback_keeps_wrapped_attribute(counter):
    """``ExitStack.callback`` sets ``__wrapped__`` on a closure made while tracing; the rebuilt
    closure (returned here) carries it."""
    def fn(x):
        stack = contextlib.ExitStack()
        stack.callback(EVENTS.append, "cb")
        cb = stack._exit_callbacks[0][1]
        return x + 1, cb, stack

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        EVENTS.clear()
        y, cb, stack = cf(torch.ones(2))
        assert same(y, torch.ones(2) + 1) and cb.__wrapped__ == EVENTS.append
        stack.close()
        assert EVENTS == ["cb"]
    assert (cf.stats.captures, cf.stats.graphs, cf.stats.eager) == (1, 1, 0)


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
