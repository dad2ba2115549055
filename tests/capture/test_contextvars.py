"""``contextvars.ContextVar`` while tracing: ``get`` (with a default, the variable's own
default, or LookupError), ``set`` returning a Token, ``reset(token)``, and
``copy_context().run``. The value read is guarded (another value recompiles), a value left
set is written back after the graph, and a ``set`` undone by its ``reset`` leaves the context
as eager does. (kernels' ``use_kernelized_func`` routes calls through such a variable.)"""

import contextvars

import torch

import bytegraph
from bytegraph.testing import same

SCALE = contextvars.ContextVar("SCALE", default=None)
LAST = contextvars.ContextVar("LAST")


def _no_breaks(cf):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []


def _in_fresh_context(fn, *args):
    """Run in a new empty context, so each test starts with every variable unset."""
    return contextvars.Context().run(fn, *args)


def scaled(x):
    factors = SCALE.get() or {}
    return x * factors.get("k", 1.0)


def test_set_then_reset_in_finally_is_one_graph_and_leaves_no_trace(counter):
    def fn(x, k):
        token = SCALE.set({"k": k})
        try:
            return scaled(x)
        finally:
            SCALE.reset(token)

    cf = bytegraph.compile(fn, backend=counter)

    def check():
        for k in (2.0, 2.0):
            x = torch.randn(3)
            assert same(cf(x, k), fn(x, k))
            assert SCALE.get() is None                 # restored, as eager leaves it
        assert counter.frame_count == 1 and cf.stats.captures == 1

    _in_fresh_context(check)
    _no_breaks(cf)


def test_the_value_read_is_guarded(counter):
    def fn(x):
        return scaled(x)

    cf = bytegraph.compile(fn, backend=counter)

    def check():
        x = torch.randn(3)
        assert same(cf(x), fn(x))                     # unset: its default None
        SCALE.set({"k": 3.0})
        assert same(cf(x), fn(x))                     # a dict now: recompiles
        assert same(cf(x), fn(x))
        SCALE.set({"k": 4.0})                         # the dict's contents are guarded too
        assert same(cf(x), fn(x))
        return cf.stats.recompiles

    assert _in_fresh_context(check) == 2
    _no_breaks(cf)


def test_a_value_left_set_is_written_back(counter):
    def fn(x):
        LAST.set(x.shape[0])
        SCALE.set({"k": 2.0})
        return scaled(x)

    cf = bytegraph.compile(fn, backend=counter)

    def check():
        x = torch.randn(4)
        assert same(cf(x), fn(x))
        assert LAST.get() == 4 and SCALE.get() == {"k": 2.0}
        LAST.set(0)
        assert same(cf(x), fn(x)) and LAST.get() == 4
        assert cf.stats.captures == 1

    _in_fresh_context(check)
    _no_breaks(cf)


def test_get_without_value_or_default_raises_lookup_error(counter):
    def fn(x):
        try:
            return x + LAST.get()
        except LookupError:
            return x + LAST.get(-1)

    cf = bytegraph.compile(fn, backend=counter)

    def check():
        x = torch.zeros(2)
        assert same(cf(x), fn(x))
        LAST.set(5)
        assert same(cf(x), fn(x))                     # set now: another guard result, recompiles
        assert cf.stats.recompiles == 1

    _in_fresh_context(check)
    _no_breaks(cf)


def test_nested_sets_reset_in_reverse_order(counter):
    def fn(x):
        outer = SCALE.set({"k": 2.0})
        a = scaled(x)
        inner = SCALE.set({"k": 3.0})
        b = scaled(x)
        SCALE.reset(inner)
        c = scaled(x)
        SCALE.reset(outer)
        return a, b, c, SCALE.get()

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(_in_fresh_context(cf, x), _in_fresh_context(fn, x))
    assert counter.frame_count == 1
    _no_breaks(cf)


def test_reset_twice_raises_eagers_runtime_error(counter):
    def fn(x):
        token = SCALE.set({"k": 2.0})
        SCALE.reset(token)
        try:
            SCALE.reset(token)
        except RuntimeError:
            return x + 1
        return x

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.zeros(2)
    assert same(_in_fresh_context(cf, x), _in_fresh_context(fn, x))


def test_copy_context_run_keeps_its_sets_inside(counter):
    def body(x):
        SCALE.set({"k": 5.0})
        LAST.set(1)
        return scaled(x)

    def fn(x):
        SCALE.set({"k": 2.0})
        y = contextvars.copy_context().run(body, x)
        return y + scaled(x)

    cf = bytegraph.compile(fn, backend=counter)

    def check():
        x = torch.randn(3)
        assert same(cf(x), fn(x))
        assert SCALE.get() == {"k": 2.0} and LAST.get(None) is None
        assert counter.frame_count == 1

    _in_fresh_context(check)
    _no_breaks(cf)


def test_a_token_alive_at_a_graph_break_runs_correctly(counter):
    """A Token cannot be rebuilt: a break while one is alive still gives eager's results."""
    def fn(x):
        token = SCALE.set({"k": 2.0})
        y = scaled(x)
        print("", end="")                             # a graph break with the token alive
        SCALE.reset(token)
        return y + scaled(x)

    cf = bytegraph.compile(fn, backend=counter)

    def check():
        for _ in range(2):
            x = torch.randn(3)
            assert same(cf(x), fn(x))
            assert SCALE.get() is None

    _in_fresh_context(check)


def test_returning_a_token_runs_correctly(counter):
    def fn(x):
        return x + 1, SCALE.set({"k": 2.0})

    cf = bytegraph.compile(fn, backend=counter)

    def check():
        x = torch.zeros(2)
        y, token = cf(x)
        assert same(y, x + 1) and isinstance(token, contextvars.Token) and SCALE.get() == {"k": 2.0}
        SCALE.reset(token)
        assert SCALE.get() is None

    _in_fresh_context(check)


def test_a_context_var_made_while_tracing_starts_unset_and_can_escape(counter):
    def fn(x):
        var = contextvars.ContextVar("local", default=2)
        plain = contextvars.ContextVar("plain")
        a = x * var.get()
        var.set(3)
        try:
            plain.get()
        except LookupError:
            a = a + 1
        return a * var.get(), var, plain

    cf = bytegraph.compile(fn, backend=counter, fullgraph=True)
    for _ in range(2):
        x = torch.randn(2)
        (got, var, plain), (expected, evar, _) = cf(x), fn(x)
        assert same(got, expected)
        assert type(var) is contextvars.ContextVar and var.name == "local" and var.get() == evar.get() == 3
        assert plain.get("none") == "none"
        assert _in_fresh_context(var.get) == 2            # its default came along
    assert counter.frame_count == 1
