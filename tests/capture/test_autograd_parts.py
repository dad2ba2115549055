"""A graph whose outputs' backward passes share no op is compiled as one part per output group.

An AOTAutograd backend makes a whole graph one autograd node; eager has one per op. A GAN step
returns ``d_loss`` (from ``fake.detach()``) and ``g_loss`` and backpropagates them one at a time:
through one node, the first backward freed what the second needs (RuntimeError: Trying to backward
through the graph a second time; torch.compile raises it too). bytegraph compiles each
autograd-independent part as its own submodule (graph/autograd_parts.py, runtime/split.py).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.testing import CountingBackend

BACKENDS = ["aot_eager", "inductor"]


def _gan():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
    d = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    return g, d


def gan_losses(g, d, z, real):
    fake = g(z)
    d_loss = d(real).mean() - d(fake.detach()).mean()
    g_loss = -d(fake).mean()
    return d_loss, g_loss


def _step(fn, g, d, z, real):
    for p in [*g.parameters(), *d.parameters()]:
        p.grad = None
    d_loss, g_loss = fn(g, d, z, real)
    d_loss.backward()
    g_loss.backward()
    return d_loss.detach(), g_loss.detach(), [p.grad.clone() for p in [*g.parameters(), *d.parameters()]]


def _close(a, b, exact):
    return torch.equal(a, b) if exact else torch.allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gan_step_backpropagates_each_loss_on_its_own(backend):
    g, d = _gan()
    compiled = bytegraph.compile(gan_losses, backend=backend)
    for call, batch in enumerate((3, 3, 5)):
        torch.manual_seed(call)
        z, real = torch.randn(batch, 4), torch.randn(batch, 4)
        want = _step(gan_losses, g, d, z, real)
        got = _step(compiled, g, d, z, real)
        exact = backend == "aot_eager"
        assert _close(want[0], got[0], exact) and _close(want[1], got[1], exact), call
        assert all(_close(a, b, exact) for a, b in zip(want[2], got[2])), call
    stats = compiled.stats
    assert stats.graphs == stats.captures <= 2 and stats.break_reasons == [] and stats.eager_reasons == [], stats


def test_each_part_is_its_own_backend_graph():
    g, d = _gan()
    backend = CountingBackend("aot_eager")
    compiled = bytegraph.compile(gan_losses, backend=backend)
    _step(compiled, g, d, torch.randn(3, 4), torch.randn(3, 4))
    assert compiled.stats.graphs == 1 and backend.compiled == 2, (compiled.stats, backend.compiled)
    with bytegraph.config.patch(split_autograd_parts=False):
        whole = bytegraph.compile(gan_losses, backend="aot_eager")
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            _step(whole, g, d, torch.randn(3, 4), torch.randn(3, 4))


def shared_hidden(w, x):
    h = (x @ w).tanh()
    return h.sum(), (h * 2).mean()


@pytest.mark.parametrize("backend", BACKENDS)
def test_outputs_that_share_an_op_stay_one_part_and_fail_as_in_eager(backend):
    """Both losses go through ``h``'s ops: eager's second backward raises too, and so must ours."""
    backend_ = CountingBackend(backend)
    compiled = bytegraph.compile(shared_hidden, backend=backend_)
    for fn in (shared_hidden, compiled):
        w = torch.randn(3, 3, requires_grad=True)
        a, b = fn(w, torch.randn(2, 3))
        a.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            b.backward()
    assert backend_.compiled == 1


def two_dropouts(w, x):
    a = torch.nn.functional.dropout(x @ w, 0.5)
    b = torch.nn.functional.dropout(x.exp() @ w, 0.5)
    c = torch.rand(3)
    return a.sum(), b.sum() + c.sum()


def interleaved_draws(w, x):
    a1 = torch.nn.functional.dropout(x @ w, 0.5)
    b = torch.nn.functional.dropout(x.exp() @ w, 0.5)
    a2 = torch.nn.functional.dropout(a1, 0.5)           # a's part draws again after b's
    return a2.sum(), b.sum()


@pytest.mark.parametrize("fn, parts", [(two_dropouts, 2), (interleaved_draws, 1)], ids=["in_order", "interleaved"])
def test_random_ops_draw_in_program_order(fn, parts):
    """Parts run in the order of their first op: random ops that keep that order stay split (the
    draws are eager's, bitwise); interleaved ones make one part (and so one backward, as before)."""
    backend = CountingBackend("aot_eager")
    compiled = bytegraph.compile(fn, backend=backend)
    for call in range(3):
        runs = []
        for f in (fn, compiled):
            w = torch.randn(3, 3, generator=torch.Generator().manual_seed(call)).requires_grad_()
            torch.manual_seed(100 + call)
            a, b = f(w, torch.ones(2, 3))
            if parts == 2:
                a.backward()
                b.backward()
            else:
                (a + b).backward()
            runs.append((a.detach(), b.detach(), w.grad.clone(), torch.rand(1)))
        assert all(torch.equal(p, q) for p, q in zip(*runs)), call
    assert backend.compiled == parts and compiled.stats.graphs == 1, (backend.compiled, compiled.stats)


def write_input_then_loss(x, y):
    x.add_(y)                 # x now needs grad through y: the backend hands it back
    return (y * 3).sum()


def test_a_write_of_a_grad_value_into_an_input_is_a_part_of_its_own():
    """fuzz seed 110094: ``y``'s loss and the write into ``x`` share only the input ``y``."""
    backend = CountingBackend("aot_eager")
    compiled = bytegraph.compile(write_input_then_loss, backend=backend)
    for call in range(3):
        runs = []
        for fn in (write_input_then_loss, compiled):
            x, y = torch.zeros(2, 3), torch.full((2, 3), float(call + 1), requires_grad=True)
            loss = fn(x, y)
            loss.backward()
            x.sum().backward()
            runs.append((loss.detach(), x.detach(), y.grad.clone()))
        assert all(torch.equal(p, q) for p, q in zip(*runs)), call
    assert compiled.stats.graphs == 1 and backend.compiled == 2, (compiled.stats, backend.compiled)


def write_under_no_grad(x, y, w):
    a = (x @ w).tanh().sum()
    with torch.no_grad():
        y.mul_(2)                          # fuzz seed 110086: a grad-mode switch between the parts
    b = (y.exp() * 3).sum()
    with torch.no_grad():
        c = x * 2
        print("logged", float(c.sum()))    # a graph break inside no_grad: the graph ends in no_grad
    return a, b


@pytest.mark.parametrize("backend", BACKENDS)
def test_parts_run_each_op_in_its_grad_mode(backend, capsys):
    counting = CountingBackend(backend)
    compiled = bytegraph.compile(write_under_no_grad, backend=counting)
    for call in range(3):
        runs = []
        for fn in (write_under_no_grad, compiled):
            torch.manual_seed(call)
            x, w = torch.randn(2, 3), torch.randn(3, 3, requires_grad=True)
            y = torch.randn(3, requires_grad=True)
            yy = y.detach().clone().requires_grad_()
            a, b = fn(x, yy * 1, w)
            mode = torch.is_grad_enabled()
            a.backward()
            b.backward()
            runs.append((a.detach(), b.detach(), w.grad.clone(), yy.grad.clone(), mode))
        for want, got in zip(*runs):
            assert (torch.allclose(want, got) if isinstance(want, torch.Tensor) else want == got), (call, runs)
    assert counting.compiled >= 2, counting.compiled     # the first graph went in two parts
    assert compiled.stats_all[0].eager_reasons == [], compiled.stats_all
