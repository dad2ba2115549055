"""``register_hook`` inside compiled code (issue 18, item 2).

A hook registered on an input tensor (a parameter, an argument that requires grad) is a side
effect replayed on the real tensor after the graph: no graph break, the hook (a closure over the
program's Python objects) runs in backward as in eager. On a tensor the graph computes it is a
node of the graph (test_intermediate_hooks.py). Each test runs the program eagerly and compiled
on separate copies, compares gradients and what the hooks saw on every call, and counts graphs
and breaks.
"""

import pytest
import torch

import bytegraph
from bytegraph.testing import CompileCounter


def _leaf(t):
    return t.detach().clone().requires_grad_()


def test_hooks_on_inputs_are_one_graph():
    """Hooks on a weight and on an argument, closing over a list and a float they use: one graph,
    no break, no recompile; gradients and hook calls equal to eager on every call (hooks registered
    on the persistent weight accumulate call after call, in both)."""
    def f(x, w, scale, seen):
        w.register_hook(lambda g: seen.append(g.sum()) or g * scale)
        x.register_hook(lambda g: g + 1)
        return (x @ w).relu().sum()

    torch.manual_seed(0)
    w_eager = torch.randn(4, 4, requires_grad=True)
    w_comp = _leaf(w_eager)
    seen_eager, seen_comp = [], []
    counter = CompileCounter()
    cf = bytegraph.compile(f, backend=counter)
    for _ in range(3):
        x_eager = torch.randn(2, 4, requires_grad=True)
        x_comp = _leaf(x_eager)
        f(x_eager, w_eager, 2.0, seen_eager).backward()
        cf(x_comp, w_comp, 2.0, seen_comp).backward()
        assert torch.equal(w_eager.grad, w_comp.grad) and torch.equal(x_eager.grad, x_comp.grad)
        assert len(seen_eager) == len(seen_comp) and all(torch.equal(a, b) for a, b in zip(seen_eager, seen_comp))
    assert len(seen_comp) == 1 + 2 + 3
    assert (cf.stats.captures, cf.stats.graphs, cf.stats.break_reasons, cf.stats.eager) == (1, 1, [], 0), cf.stats
    assert counter.frame_count == 1


def test_post_accumulate_grad_hook_on_a_parameter():
    """``p.register_post_accumulate_grad_hook`` on a parameter in compiled code (its handle
    dropped): the hook sees the accumulated gradient; hooks accumulate call after call, as in eager."""
    norms = {"eager": [], "compiled": []}

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 3)

    def forward(m, x, key):
        h = m.lin.weight.register_post_accumulate_grad_hook(lambda p: norms[key].append(p.grad.norm()))
        del h
        return m.lin(x).square().sum()

    torch.manual_seed(0)
    eager, comp = M(), M()
    comp.load_state_dict(eager.state_dict())
    counter = CompileCounter()
    cf = bytegraph.compile(forward, backend=counter)
    for _ in range(3):
        x = torch.randn(5, 3)
        forward(eager, x, "eager").backward()
        cf(comp, x, "compiled").backward()
        assert torch.equal(eager.lin.weight.grad, comp.lin.weight.grad)
    assert len(norms["compiled"]) == 1 + 2 + 3
    assert all(torch.equal(a, b) for a, b in zip(norms["eager"], norms["compiled"]))
    assert (cf.stats.captures, cf.stats.graphs, cf.stats.break_reasons) == (1, 1, []), cf.stats


def test_hook_removed_in_the_frame_is_never_registered():
    def f(x):
        h = x.register_hook(lambda g: g * 100)
        y = x * 3
        h.remove()
        return y.sum()

    counter = CompileCounter()
    cf = bytegraph.compile(f, backend=counter)
    for _ in range(2):
        x = torch.randn(3, requires_grad=True)
        cf(x).backward()
        assert torch.equal(x.grad, torch.full((3,), 3.0))
    assert (cf.stats.captures, cf.stats.graphs, cf.stats.break_reasons) == (1, 1, []), cf.stats


def test_hook_then_in_place_write_breaks_before_the_write():
    """A hook registered on a (non-leaf) input that the frame then writes in place: eager's hook
    sees the gradient of the version it was registered on; the write is a break, so the hook is
    registered (after the first graph) before it, as in eager."""
    def f(x, log):
        x.register_hook(lambda g: log.append(g.clone()) or g * 2)
        x.mul_(3)
        return (x * x).sum()

    counter = CompileCounter()
    cf = bytegraph.compile(f, backend=counter)
    for _ in range(2):
        a_eager = torch.randn(4, requires_grad=True)
        a_comp = _leaf(a_eager)
        log_eager, log_comp = [], []
        f(a_eager * 1, log_eager).backward()
        cf(a_comp * 1, log_comp).backward()
        assert torch.equal(a_eager.grad, a_comp.grad)
        assert len(log_eager) == len(log_comp) == 1 and torch.equal(log_eager[0], log_comp[0])
    (reason,) = cf.stats.break_reasons
    assert "writes in place into" in reason and "a hook was registered on" in reason


def test_hook_on_a_tensor_without_grad_raises_as_eager():
    def f(x):
        x.register_hook(lambda g: g)
        return x + 1

    cf = bytegraph.compile(f, backend=CompileCounter())
    with pytest.raises(RuntimeError) as compiled:
        cf(torch.randn(2))
    with pytest.raises(RuntimeError) as eager:
        f(torch.randn(2))
    assert str(compiled.value) == str(eager.value)


@pytest.mark.parametrize("kept", ["returned", "live at a break"])
def test_handle_kept_past_the_graph_breaks_at_the_registration(kept):
    """The handle exists only once the registration runs: a handle returned, or live at a later
    graph break, makes the registration itself the break (it runs natively there, and the frame
    is still captured around it, not run eagerly); gradients are eager's."""
    def returned(x, log):
        h = x.register_hook(lambda g: g * 2)
        return (x * 3).sum(), h

    def live(x, log):
        h = x.register_hook(lambda g: g * 2)
        y = x * 3
        log.append(y.detach().numpy().tolist())     # (a break: Tensor.numpy)
        h.remove()
        return y.sum(), None

    f = returned if kept == "returned" else live
    counter = CompileCounter()
    cf = bytegraph.compile(f, backend=counter)
    for _ in range(2):
        x = torch.randn(3, requires_grad=True)
        out, h = cf(x, [])
        out.backward()
        assert torch.equal(x.grad, torch.full((3,), 6.0 if kept == "returned" else 3.0))
    stats = cf.stats_all
    assert stats[0].eager == 0 and "whose handle is kept past the graph" in stats[0].break_reasons[0], stats
    assert counter.frame_count >= 1


def test_module_with_full_backward_hook_in_compiled_forward():
    """A submodule with a full backward hook (and a backward pre-hook) called in compiled code
    (this crashed: BackwardHook checks that its outputs' grad_fn is BackwardHookFunctionBackward;
    then it ran natively between two graphs): one graph, the hooks see eager's gradients
    (tests/capture/test_module_backward_hooks.py has the rest); nothing recompiles."""
    def make(log):
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        m[2].register_full_backward_hook(lambda mod, gi, go: log.append(("full", go[0].sum())))
        m[2].register_full_backward_pre_hook(lambda mod, go: log.append(("pre", go[0].sum())))
        return m

    log_eager, log_comp = [], []
    eager, model = make(log_eager), make(log_comp)
    counter = CompileCounter()
    cf = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(5, 4)
        eager(x).square().sum().backward()
        cf(x).square().sum().backward()
        for p1, p2 in zip(eager.parameters(), model.parameters()):
            assert torch.equal(p1.grad, p2.grad)
        assert [k for k, _ in log_eager] == [k for k, _ in log_comp]
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(log_eager, log_comp))
    stats = cf.stats_all
    assert len(stats) == 1 and stats[0].recompiles == 0 and stats[0].eager == 0, stats
    assert stats[0].break_reasons == [] and counter.frame_count == 1
