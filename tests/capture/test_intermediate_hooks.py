"""``register_hook`` on a tensor the compiled function computes (issue 18, item 2): one graph.

Every use of the hooked tensor reads a ``bytegraph::hook_point`` node whose backward runs this
call's hooks (runtime/hooks.py), bound to the graph's backward-state input after the graph
returns. Each test runs the program eagerly and compiled on separate copies, under eager,
aot_eager and inductor, compares gradients and what the hooks did on every call, and counts
graphs, recompiles and breaks.
"""

import gc

import pytest
import torch

import bytegraph
from bytegraph.runtime import hooks
from bytegraph.testing import CompileCounter

from .conftest import make_backend

BACKENDS = ("eager", "aot_eager", "inductor")


def _leaf(t):
    return t.detach().clone().requires_grad_()


def _backward_both(f, cf, size):
    """``f`` and its compiled ``cf`` each called on an equal fresh leaf and a log list, then
    backpropagated: (eager leaf, compiled leaf, eager log, compiled log)."""
    x_e = torch.randn(size, requires_grad=True)
    x_c = _leaf(x_e)
    log_e, log_c = [], []
    f(x_e, log_e).backward()
    cf(x_c, log_c).backward()
    return x_e, x_c, log_e, log_c


def _close(be, a, b):
    if isinstance(a, torch.Tensor):
        return be.close(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(be, x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(params=BACKENDS)
def be(request):
    return make_backend(request.param)


def test_hooks_see_every_use_and_change_upstream_grads(be):
    """A hook registered after a use of ``y`` sees the gradient of every use (eager: the total
    gradient); one appending to a list, one counting in a dict, one returning ``g * 2``: the
    inputs' and the weight's gradients and the hooks' records equal eager's on every call, over
    new values and one new shape (one recompile); one graph per shape, no break."""
    def f(x, w, seen, count):
        y = x @ w
        a = y.sin()                                     # a use before the registration
        y.register_hook(lambda g: seen.append(g.clone()))
        y.register_hook(lambda g: count.__setitem__("n", count["n"] + 1))
        y.register_hook(lambda g: g * 2)
        return (a * y).sum() + y.relu().sum()           # and uses after it

    torch.manual_seed(0)
    w_eager = torch.randn(4, 5, requires_grad=True)
    w_comp = _leaf(w_eager)
    cf = bytegraph.compile(f, backend=be.arg)
    seen_e, seen_c, count_e, count_c = [], [], {"n": 0}, {"n": 0}
    for rows in (3, 3, 3, 6, 6):
        x_e = torch.randn(rows, 4, requires_grad=True)
        x_c = _leaf(x_e)
        f(x_e, w_eager, seen_e, count_e).backward()
        cf(x_c, w_comp, seen_c, count_c).backward()
        assert be.close(x_e.grad, x_c.grad) and be.close(w_eager.grad, w_comp.grad)
        assert _close(be, seen_e, seen_c) and count_e == count_c
    assert count_c["n"] == 5
    stats = cf.stats
    assert (stats.graphs, stats.recompiles, stats.eager, stats.break_reasons) == (2, 1, 0, []), stats


def test_hooks_run_in_registration_order_and_a_removed_one_does_not(be):
    def f(x, log):
        y = x.exp()
        h1 = y.register_hook(lambda g: log.append(("first", g.sum())) or g + 1)
        h2 = y.register_hook(lambda g: log.append(("removed", g.sum())))
        y.register_hook(lambda g: log.append(("second", g.sum())) or g * 3)
        h2.remove()
        del h1
        return (y * y).sum()

    cf = bytegraph.compile(f, backend=be.arg)
    for _ in range(3):
        x_e, x_c, log_e, log_c = _backward_both(f, cf, 4)
        assert be.close(x_e.grad, x_c.grad)
        assert [k for k, _ in log_c] == ["first", "second"] and _close(be, log_e, log_c)
    be.assert_graphs(cf, 1)


def test_two_forwards_then_one_backward_call_each_calls_own_hooks(be):
    """Gradient accumulation: the hook object is made per call (a closure over the call's
    index); one backward over both losses calls each call's own hook with its own gradient."""
    def f(x, i, log):
        y = x * x
        y.register_hook(lambda g: log.append((i, g.clone())))
        return (y * (i + 1)).sum()

    cf = bytegraph.compile(f, backend=be.arg)
    for _ in range(2):
        xs_e = [torch.randn(3, requires_grad=True) for _ in range(2)]
        xs_c = [_leaf(x) for x in xs_e]
        log_e, log_c = [], []
        (f(xs_e[0], 1, log_e) + f(xs_e[1], 2, log_e)).backward()
        (cf(xs_c[0], 1, log_c) + cf(xs_c[1], 2, log_c)).backward()
        assert sorted(i for i, _ in log_c) == [1, 2]
        assert _close(be, sorted(log_e, key=lambda p: p[0]), sorted(log_c, key=lambda p: p[0]))
        assert all(be.close(a.grad, b.grad) for a, b in zip(xs_e, xs_c))
    assert cf.stats.break_reasons == [] and cf.stats.eager == 0


def test_hook_on_a_returned_intermediate_runs_only_in_passes_that_reach_it(be):
    """``y`` is returned and hooked; a backward through an output that does not depend on ``y``
    does not call the hook (an AOT graph is one autograd node, which hands it zeros: the hook
    must not run, as in eager, where a ``g + 1`` would otherwise change ``x.grad``); a backward
    through ``y`` itself, and one through the loss, call it once each."""
    def f(x, log):
        y = x * 2
        y.register_hook(lambda g: log.append(g.clone()) or g + 1)
        return y, (x * 3).sum(), y.sum()

    cf = bytegraph.compile(f, backend=be.arg)
    for _ in range(3):
        x_e = torch.randn(3, requires_grad=True)
        x_c = _leaf(x_e)
        log_e, log_c = [], []
        (ye, other_e, loss_e), (yc, other_c, loss_c) = f(x_e, log_e), cf(x_c, log_c)
        other_e.backward(retain_graph=True)
        other_c.backward(retain_graph=True)
        assert be.close(x_e.grad, x_c.grad) and log_c == [] and log_e == []
        loss_e.backward(retain_graph=True)
        loss_c.backward(retain_graph=True)
        ye.backward(torch.ones(3))
        yc.backward(torch.ones(3))
        assert be.close(x_e.grad, x_c.grad) and len(log_c) == 2 and _close(be, log_e, log_c)
    be.assert_graphs(cf, 1)


def test_hooks_in_a_module_forward_bound_methods_and_state(be):
    """A module that hooks its hidden activation with a bound method recording norms, in a
    training loop with an optimizer: parameters and the record equal eager's step after step."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(4, 8), torch.nn.Linear(8, 2)
            self.norms = []

        def record(self, g):
            self.norms.append(g.norm())
            return g.clamp(-0.05, 0.05)

        def forward(self, x):
            h = torch.tanh(self.fc1(x))
            h.register_hook(self.record)
            return self.fc2(h)

    torch.manual_seed(0)
    eager, model = Net(), Net()
    model.load_state_dict(eager.state_dict())
    opt_e = torch.optim.SGD(eager.parameters(), lr=0.1)
    opt_c = torch.optim.SGD(model.parameters(), lr=0.1)
    cf = bytegraph.compile(model, backend=be.arg)
    for _ in range(4):
        x = torch.randn(5, 4)
        for m, o in ((eager, opt_e), (cf, opt_c)):
            o.zero_grad()
            m(x).square().mean().backward()
            o.step()
        assert all(be.close(p, q) for p, q in zip(eager.parameters(), model.parameters()))
        assert _close(be, eager.norms, model.norms)
    assert len(model.norms) == 4
    assert cf.stats.graphs == 1 and cf.stats.break_reasons == [] and cf.stats.eager == 0


def test_backward_states_do_not_accumulate(be):
    """The entry of each call goes with its autograd graph: none left after many calls whose
    outputs are dropped without a backward, after many with one, or once retained outputs go."""
    def f(x, log):
        y = x.sin()
        y.register_hook(lambda g: log.append(1))
        return y.sum()

    cf = bytegraph.compile(f, backend=be.arg)
    log = []
    gc.collect()
    before = hooks.live_states()
    for _ in range(30):
        cf(torch.randn(3, requires_grad=True), log)
    gc.collect()
    assert hooks.live_states() == before
    for _ in range(30):
        cf(torch.randn(3, requires_grad=True), log).backward()
    gc.collect()
    assert hooks.live_states() == before and len(log) == 30
    kept = [cf(torch.randn(3, requires_grad=True), log) for _ in range(5)]
    assert hooks.live_states() == before + 5
    kept[0].backward()
    del kept
    gc.collect()
    assert hooks.live_states() == before and len(log) == 31
    be.assert_graphs(cf, 1)


def test_hook_on_a_tensor_without_grad_raises_eagers_error(be):
    def f(x):
        y = x * 2
        y.register_hook(lambda g: g)
        return y

    cf = bytegraph.compile(f, backend=be.arg)
    with pytest.raises(RuntimeError) as eager:
        f(torch.randn(2))
    with pytest.raises(RuntimeError) as compiled:
        cf(torch.randn(2))
    assert str(compiled.value) == str(eager.value) == "cannot register a hook on a tensor that doesn't require gradient"


@pytest.mark.parametrize("bad", ["shape", "dtype", "raises"])
def test_a_bad_hook_fails_in_backward_as_in_eager(be, bad):
    """A hook returning another shape or dtype fails in backward with eager's message; an
    exception the hook raises reaches the caller of backward() with its own type."""
    def hook(g):
        if bad == "raises":
            raise KeyError("from the hook")
        return g[:1] if bad == "shape" else g.double()

    def f(x):
        y = x + 1
        y.register_hook(hook)
        return y.sum()

    cf = bytegraph.compile(f, backend=be.arg)
    errors = []
    for fn in (f, cf):
        with pytest.raises(Exception) as info:
            fn(torch.randn(3, requires_grad=True)).backward()
        errors.append(info.value)
    assert type(errors[0]) is type(errors[1])
    assert str(errors[0]) in str(errors[1])


@pytest.mark.parametrize("case", ["written before", "written after", "base written after", "leaf made here",
                                  "handle returned"])
def test_cases_kept_eagers_way_are_a_clean_break(case):
    """Where the hook point (a copy of the tensor) could not give eager's gradient or memory
    sharing, the registration is a graph break that runs natively: eager's gradients and hook
    calls, the break located at the registration."""
    def f(x, log):
        base = x * 1
        y = base[1:] if case == "base written after" else x * 2
        if case == "written before":
            y.mul_(3)
        if case == "leaf made here":
            y = torch.ones(3, requires_grad=True)
        h = y.register_hook(lambda g: log.append(g.clone()) or g * 2)
        if case == "written after":
            y.mul_(3)
        if case == "base written after":
            base.mul_(2)
        return (y * y).sum() + base.sum(), (h if case == "handle returned" else None), y

    cf = bytegraph.compile(f, backend=CompileCounter())
    for _ in range(2):
        x_e = torch.randn(4, requires_grad=True)
        x_c = _leaf(x_e)
        log_e, log_c = [], []
        out_e, out_c = f(x_e, log_e), cf(x_c, log_c)
        out_e[0].backward()
        out_c[0].backward()
        # (after its base is written, eager's view has a new history: its hook is never reached)
        calls = 0 if case == "base written after" else 1
        assert torch.allclose(x_e.grad, x_c.grad) and len(log_e) == len(log_c) == calls
        assert all(torch.allclose(a, b) for a, b in zip(log_e, log_c))
        if case == "leaf made here":
            assert torch.equal(out_e[2].grad, out_c[2].grad)
    reasons = cf.stats_all[0].break_reasons
    assert len(reasons) == 1 and "register_hook" in reasons[0], reasons
    assert cf.stats_all[0].eager == 0


def test_hook_inside_a_checkpointed_body_breaks():
    """Inside a higher-order op's body (a checkpointed function) the hook is not captured: a break
    (the body runs natively), with eager's gradients and hook calls."""
    from torch.utils.checkpoint import checkpoint

    def body(x, log):
        y = x.sin()
        y.register_hook(lambda g: log.append(1) or g * 2)
        return y.cos()

    def f(x, log):
        return checkpoint(body, x, log, use_reentrant=False).sum()

    cf = bytegraph.compile(f, backend=CompileCounter())
    x_e, x_c, log_e, log_c = _backward_both(f, cf, 3)
    assert torch.allclose(x_e.grad, x_c.grad) and log_e == log_c == [1]
    assert any("register_hook" in r for s in cf.stats_all for r in s.break_reasons + s.eager_reasons)


def test_torch_compile_breaks_where_bytegraph_keeps_one_graph():
    """Without compiled autograd, torch.compile breaks the graph at ``y.register_hook`` (2 graphs
    for this function); bytegraph keeps one, with the same gradients and hook calls."""
    def f(x, log):
        y = x * 2
        y.register_hook(lambda g: log.append(1) or g * 3)
        return (y * y).sum()

    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounter()
    tc = torch.compile(f, backend=counter)
    cf = bytegraph.compile(f, backend=CompileCounter())
    x1 = torch.randn(3, requires_grad=True)
    x2 = _leaf(x1)
    log1, log2 = [], []
    tc(x1, log1).backward()
    cf(x2, log2).backward()
    assert torch.allclose(x1.grad, x2.grad)
    assert counter.frame_count == 2 and log1 == [1]
    assert cf.stats.graphs == 1 and cf.stats.break_reasons == [] and log2 == [1]
    torch._dynamo.reset()


def _written_into_another(x, buf, log):
    z = x * 1
    y = x * 2
    y.register_hook(lambda g: log.append(g.clone()) or g * 3)
    z.add_(y)                       # y's value reaches the output through z, written in place
    return z.sum()


def _detached_into_a_buffer(x, buf, log):
    y = x.exp()
    y.register_hook(lambda g: log.append(g.clone()) or g * 3)
    buf.mul_(0.9).add_(y.detach().mean())        # (no gradient flows back through the buffer)
    return y.sum()


def _registered_in_no_grad(x, buf, log):
    y = x.exp()
    with torch.no_grad():
        y.register_hook(lambda g: log.append(g.clone()) or g * 3)
        z = y * 2
    return (y * z).sum()


def _one_output_of_split(x, buf, log):
    a, b = x.split(2)
    a.register_hook(lambda g: log.append(g.clone()) or g * 3)
    return (a * b).sum()


def _then_a_graph_break(x, buf, log):
    y = x.exp()
    y.register_hook(lambda g: log.append(g.clone()) or g * 3)
    print("", end="")                            # (a break: the hooks are bound before it)
    return (y * 2).sum()


@pytest.mark.parametrize("program", [_written_into_another, _detached_into_a_buffer, _registered_in_no_grad,
                                     _one_output_of_split, _then_a_graph_break], ids=lambda p: p.__name__[1:])
def test_program_shapes_around_the_hook(be, program):
    cf = bytegraph.compile(program, backend=be.arg)
    buf_e, buf_c = torch.zeros(()), torch.zeros(())
    for _ in range(3):
        x_e = torch.randn(4, requires_grad=True)
        x_c = _leaf(x_e)
        log_e, log_c = [], []
        program(x_e, buf_e, log_e).backward()
        cf(x_c, buf_c, log_c).backward()
        assert be.close(x_e.grad, x_c.grad) and be.close(buf_e, buf_c)
        assert len(log_c) == 1 and _close(be, log_e, log_c)
    stats = cf.stats_all
    assert all(s.eager == 0 and s.recompiles == 0 for s in stats), stats
    breaks = 1 if program is _then_a_graph_break else 0
    assert len(stats[0].break_reasons) == breaks and all("register_hook" not in r for r in stats[0].break_reasons)


@pytest.mark.parametrize("forward_backend", ["eager", "aot_eager"])
def test_under_compiled_autograd(forward_backend):
    """With ``bytegraph.compiled_autograd`` the forward keeps the hook in its graph, and the
    backward graph compiled autograd captures calls it (under the eager backend, the hook
    point's own autograd node, whose formula is traced): gradients and calls equal eager's."""
    def f(x, log):
        y = x.exp()
        y.register_hook(lambda g: log.append(g.clone()) or g * 3)
        return (y * y).sum()

    cf = bytegraph.compile(f, backend=forward_backend)
    with bytegraph.compiled_autograd(backend="aot_eager") as ca:
        for _ in range(3):
            x_e, x_c, log_e, log_c = _backward_both(f, cf, 4)
            assert torch.equal(x_e.grad, x_c.grad) and len(log_c) == 1 and torch.equal(log_e[0], log_c[0])
    assert cf.stats.graphs == 1 and cf.stats.break_reasons == []
    assert ca.graphs >= 1 and all(s.eager == 0 and s.break_reasons == [] for s in ca.stats_all)


@pytest.mark.parametrize("case", ["written after", "handle returned"])
def test_a_break_after_uses_of_the_hooked_tensor_runs_the_frame_eagerly(case):
    """A case kept eager's way whose tensor the graph already used: a hook registered natively on
    the graph's output would miss those uses' gradient (an AOT graph is one autograd node), so
    the frame runs eagerly, with the reason recorded; the gradients are eager's."""
    def f(x, log):
        y = x * 2
        a = y[1:] * 5                   # (reads y: a's gradient flows back through y)
        h = y.register_hook(lambda g: log.append(g.clone()) or g * 2)
        if case == "written after":
            y.mul_(3)
        return a.sum() + y.sum(), (h if case == "handle returned" else None)

    cf = bytegraph.compile(f, backend="aot_eager")
    for _ in range(2):
        x_e = torch.randn(4, requires_grad=True)
        x_c = _leaf(x_e)
        log_e, log_c = [], []
        f(x_e, log_e)[0].backward()
        cf(x_c, log_c)[0].backward()
        assert torch.equal(x_e.grad, x_c.grad) and len(log_c) == 1 and torch.equal(log_e[0], log_c[0])
    (reason,) = cf.stats.eager_reasons
    assert "used in the graph before the registration" in reason, reason


@pytest.mark.parametrize("case", ["intermediate", "intermediate used before", "input"])
def test_retain_grad_is_a_break_or_runs_the_frame_eagerly(case):
    """``retain_grad()`` runs natively (recorded in the graph, an AOT backend's output never got
    its ``.grad``): a break, or the whole frame eagerly when the graph already used the tensor."""
    def f(x):
        y = x * 2 if case != "input" else x
        a = y.sin() if case == "intermediate used before" else x * 0
        y.retain_grad()
        return y, (y * y).sum() + a.sum()

    cf = bytegraph.compile(f, backend="aot_eager")
    for _ in range(2):
        x_e = torch.randn(3, requires_grad=True)
        x_c = _leaf(x_e)
        if case == "input":
            x_e, x_c = x_e * 1, x_c * 1
        y_e, loss_e = f(x_e)
        y_c, loss_c = cf(x_c)
        loss_e.backward()
        loss_c.backward()
        assert y_c.grad is not None and torch.allclose(y_e.grad, y_c.grad)
    stats = cf.stats
    assert "retain_grad" in (stats.eager_reasons if case == "intermediate used before" else stats.break_reasons)[0]
