"""Graph inputs that share storage (``y = x.detach()``, two views of one base, an input that is a
detached parameter) while the graph writes one of them in place (DESIGN 52).

Eager shows the write through every tensor on that storage. A graph compiled while the inputs
were apart is guarded by NO_STORAGE_OVERLAP and is not reused once they share storage; a graph
captured while they share it runs its recorded ops natively (not through a functionalizing
backend such as AOTAutograd, which would apply the write after the reads). Inputs that share
storage but are only read stay on one graph.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.testing import CompileCounter


def _same(a, b) -> bool:
    return torch.equal(a, b)


def _calls(make_args, fn, compiled, states):
    """Run ``fn`` and ``compiled`` on identical, separately built arguments; compare the results
    and every argument afterwards (the writes)."""
    for state in states:
        eager_args, compiled_args = make_args(state), make_args(state)
        expected, got = fn(*eager_args), compiled(*compiled_args)
        assert _same(expected, got), state
        for e, c in zip(eager_args, compiled_args):
            if isinstance(e, torch.Tensor):
                assert _same(e, c), state


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_written_input_sharing_storage_with_another_input(backend):
    torch.manual_seed(0)
    m = nn.Linear(4, 4)

    def fn(x, y):
        with torch.no_grad():
            x[..., :1] += 1
        return torch.relu(m(y))

    base = torch.randn(2, 4)

    def make_args(state):
        x = base.clone()
        return {"apart": (x, torch.randn(2, 4, generator=torch.Generator().manual_seed(1))),
                "detached": (x, x.detach()),
                "view": (x, x.view(2, 4))}[state]

    cf = bytegraph.compile(fn, backend=backend)
    _calls(make_args, fn, cf, ["apart", "detached", "apart", "view", "detached", "apart"])
    s = cf.stats
    assert (s.captures, s.graphs, s.recompiles) == (2, 2, 1), s
    assert s.eager_reasons == [] and s.break_reasons == [], s
    assert s.recompile_reasons[0].startswith("NO_STORAGE_OVERLAP: aliasing between inputs changed"), s.recompile_reasons


def test_shared_storage_at_capture_runs_natively_then_apart_compiles():
    """Captured first with the inputs sharing storage: that graph never reaches the backend (it
    runs as recorded) and needs no storage guard; inputs apart later are served by it too."""
    def fn(x, y):
        x.mul_(2)
        return y + 1

    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    base = torch.arange(4.0)
    _calls(lambda s: (lambda x: (x, x.detach() if s else torch.ones(4)))(base.clone()), fn, cf, [True, False, True])
    s = cf.stats
    assert (s.captures, s.graphs, s.recompiles) == (1, 1, 0), s
    assert counter.frame_count == 0         # run natively, not handed to the backend


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_written_input_that_is_a_detached_parameter(backend):
    """Parameters are inputs the written one may share storage with (they are exempt only from the
    object-identity check)."""
    torch.manual_seed(0)
    m_eager = nn.Linear(3, 3)
    m_compiled = copy.deepcopy(m_eager)

    def make(m):
        def fn(w, inp):
            with torch.no_grad():
                w.mul_(0.5)
            return m(inp)
        return fn

    def run(m, fn, state):
        w = m.weight.detach() if state == "param" else torch.ones(3, 3)
        return fn(w, torch.ones(2, 3))

    fn, cf = make(m_eager), bytegraph.compile(make(m_compiled), backend=backend)
    for state in ["apart", "param", "apart", "param"]:
        assert _same(run(m_eager, fn, state), run(m_compiled, cf, state)), state
        assert _same(m_eager.weight, m_compiled.weight), state
    s = cf.stats
    assert (s.captures, s.graphs, s.recompiles) == (2, 2, 1), s


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_inputs_sharing_storage_but_only_read_keep_one_graph(backend):
    def fn(x, y, z):
        z.add_(1)
        return x * 2 + y

    base = torch.randn(3)

    def make_args(shared):
        x = base.clone()
        return (x, x.detach() if shared else torch.ones(3), torch.zeros(3))

    cf = bytegraph.compile(fn, backend=backend)
    _calls(make_args, fn, cf, [False, True, False, True])
    s = cf.stats
    assert (s.captures, s.graphs, s.recompiles) == (1, 1, 0), s
