"""A module's full backward hooks in one graph (issue 18 item 2; variables/module_hooks.py).

``register_full_backward_hook`` / ``register_full_backward_pre_hook`` on a module called in
compiled code: the module's inputs and outputs pass hook points of the graph whose backward
runs the hooks (found through the graph's backward-state input), so the call stays in the graph
(it ran natively between two graphs before; torch.compile needs compiled autograd for these).
Every test runs the same program eagerly and compiled over several calls, changes what the hooks
see between calls, and compares gradients and everything the hooks saw and did.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.runtime.hooks import live_states
from bytegraph.testing import CountingBackend

BACKENDS = ("eager", "aot_eager")


def _sums(values) -> list:
    return [None if v is None else round(float(v.double().sum()), 5) for v in values]


class Recorder:
    """Hooks that record what they see into Python state, and may change the gradients."""

    def __init__(self) -> None:
        self.log: list = []
        self.calls = 0

    def full(self, name: str, scale: float | None = None):
        def hook(module, grad_input, grad_output):
            self.calls += 1
            self.log.append((name, "full", type(module).__name__, _sums(grad_input), _sums(grad_output)))
            if scale is not None:
                return tuple(None if g is None else g * scale for g in grad_input)
            return None
        return hook

    def pre(self, name: str, scale: float | None = None):
        def hook(module, grad_output):
            self.log.append((name, "pre", _sums(grad_output)))
            if scale is not None:
                return tuple(None if g is None else g * scale for g in grad_output)
            return None
        return hook


def _mlp(rec: Recorder) -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    m[0].register_full_backward_hook(rec.full("l0"))
    m[2].register_full_backward_hook(rec.full("l2", scale=0.5))      # changes grad_input
    m[2].register_full_backward_pre_hook(rec.pre("l2", scale=3.0))   # changes grad_output
    m[4].register_full_backward_pre_hook(rec.pre("l4"))
    return m


def _loss(m, x):
    return m(x).square().sum()


def _compare(fn, make, inputs, backend, calls=3):
    """Run ``fn(model, *inputs(call))`` and backward eagerly and compiled; compare everything."""
    rec_e, rec_c = Recorder(), Recorder()
    me, mc = make(rec_e), make(rec_c)
    counter = CountingBackend(backend)
    compiled = bytegraph.compile(fn, backend=counter)
    for call in range(calls):
        args_e, args_c = inputs(call), inputs(call)
        with warnings.catch_warnings(record=True) as we:
            warnings.simplefilter("always")
            fn(me, *args_e).backward()
        with warnings.catch_warnings(record=True) as wc:
            warnings.simplefilter("always")
            compiled(mc, *args_c).backward()
        assert _hook_warnings(we) == _hook_warnings(wc), call
        assert rec_e.log == rec_c.log, (call, rec_e.log, rec_c.log)
        for (name, p), q in zip(me.named_parameters(), mc.parameters()):
            torch.testing.assert_close(p.grad, q.grad, msg=f"{call} {name}")
        for a, b in zip(args_e, args_c):
            if isinstance(a, torch.Tensor) and a.requires_grad:
                torch.testing.assert_close(a.grad, b.grad)
    return compiled, counter, rec_e


def _hook_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "backward hook" in str(w.message)]


def _x(call, requires_grad=True):
    torch.manual_seed(100 + call)
    return (torch.randn(3, 4, requires_grad=requires_grad),)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hooks_that_change_gradients_and_record_python_state_are_one_graph(backend):
    compiled, counter, rec = _compare(_loss, _mlp, _x, backend)
    assert rec.calls == 6 and len(rec.log) == 12
    assert counter.compiled == 1 and compiled.stats.graphs == 1 and compiled.stats.recompiles == 0
    assert compiled.stats.break_reasons == [] and compiled.stats.eager_reasons == []


def test_hooks_under_inductor():
    compiled, counter, _ = _compare(_loss, _mlp, _x, "inductor", calls=2)
    assert counter.compiled == 1 and compiled.stats.graphs == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_input_requires_grad_fires_at_the_outputs_with_the_warning(backend):
    """Eager calls the hook with grad_input all None when no input requires grad, and warns."""
    compiled, counter, rec = _compare(_loss, _mlp, lambda c: _x(c, requires_grad=False), backend)
    assert [e[3] for e in rec.log if e[:2] == ("l0", "full")] == [[None]] * 3
    assert counter.compiled == 1 and compiled.stats.recompiles == 0


class Two(nn.Module):
    """Several inputs (a tensor without grad, a number) and outputs (one unused by the loss,
    one without grad): eager packs None and zeros in their places."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, mask, scale):
        h = self.lin(x) * scale + mask
        return h, h.sum(-1), mask * 2


def _two(rec: Recorder) -> nn.Module:
    torch.manual_seed(0)
    m = Two()
    m.register_full_backward_hook(rec.full("two"))
    m.register_full_backward_pre_hook(rec.pre("two"))
    return m


def _use_first(m, x, mask):
    h, s, c = m(x, mask, 2.0)
    return (h * c).sum()


def _use_both(m, x, mask):
    h, s, _ = m(x, mask, 2.0)
    return h.sum() + s.pow(2).sum()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", [_use_first, _use_both], ids=lambda f: f.__name__)
def test_positions_of_other_inputs_and_unused_outputs(backend, fn):
    def inputs(call):
        torch.manual_seed(call)
        return torch.randn(2, 4, requires_grad=True), torch.randn(2, 4)

    compiled, counter, rec = _compare(fn, _two, inputs, backend)
    full = [e for e in rec.log if e[1] == "full"]
    assert len(full) == 3 and full[0][3][2] is None            # the number's place
    if fn is _use_first:
        assert full[0][4][1] is None                            # the unused output: None, as eager
    assert counter.compiled == 1 and compiled.stats.graphs == 1 and compiled.stats.recompiles == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backward_through_another_output_does_not_run_the_hooks(backend):
    """Two outputs, two backward passes: the hooks run in the pass through the module only."""
    def fn(m, x):
        y = m(x)
        return y.sum(), (x * 3).sum()

    rec_e, rec_c = Recorder(), Recorder()
    me, mc = _mlp(rec_e), _mlp(rec_c)
    compiled = bytegraph.compile(fn, backend=backend)
    for call in range(3):
        xe, xc = _x(call)[0], _x(call)[0]
        a_e, b_e = fn(me, xe)
        a_c, b_c = compiled(mc, xc)
        b_e.backward()
        b_c.backward()
        assert rec_e.log == rec_c.log == []
        a_e.backward()
        a_c.backward()
        assert rec_e.log == rec_c.log and rec_c.log
        torch.testing.assert_close(xe.grad, xc.grad)
        rec_e.log.clear(), rec_c.log.clear()
    assert compiled.stats.graphs == 1 and compiled.stats.recompiles == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hook_added_or_removed_between_calls_recompiles(backend):
    rec_e, rec_c = Recorder(), Recorder()
    me, mc = _mlp(rec_e), _mlp(rec_c)
    compiled = bytegraph.compile(_loss, backend=backend)
    handles = []
    for call in range(4):
        if call == 1:
            handles = [m[4].register_full_backward_hook(r.full("l4 added")) for m, r in ((me, rec_e), (mc, rec_c))]
        if call == 3:
            for h in handles:
                h.remove()
        _loss(me, *_x(call)).backward()
        compiled(mc, *_x(call)).backward()
        assert rec_e.log == rec_c.log, call
        assert ("l4 added" in str(rec_c.log)) == (call in (1, 2))
        rec_e.log.clear(), rec_c.log.clear()
    # (removed again: the first entry's guards hold again)
    assert compiled.stats.captures == 2 and compiled.stats.recompiles == 1
    assert all(s.break_reasons == [] for s in compiled.stats_all)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_global_full_backward_hook(backend):
    rec_e, rec_c = Recorder(), Recorder()
    me, mc = _mlp(rec_e), _mlp(rec_c)
    compiled = bytegraph.compile(_loss, backend=backend)
    seen: list = []
    handle = nn.modules.module.register_module_full_backward_hook(
        lambda mod, gi, go: seen.append((type(mod).__name__, _sums(go))))
    try:
        for call in range(2):
            _loss(me, *_x(call)).backward()
            n = len(seen)
            compiled(mc, *_x(call)).backward()
            assert seen[:n] == seen[n:] and n >= 4, seen
            seen.clear()
    finally:
        handle.remove()
    assert compiled.stats.graphs == 1 and compiled.stats.break_reasons == []


def _raises_as_eager(fn, make, calls=2):
    """Both runs raise the same error, every call; returns the compiled function."""
    me, mc = make(Recorder()), make(Recorder())
    compiled = bytegraph.compile(fn, backend="eager")
    for call in range(calls):
        errors = []
        for f, m in ((fn, me), (compiled, mc)):
            with pytest.raises(RuntimeError) as info:
                f(m, *_x(call))
            errors.append(str(info.value))
        assert errors[0] == errors[1], errors
    return compiled


def test_in_place_write_into_the_module_output_raises_as_in_eager():
    """Eager's hook function returns views of what it passes, and autograd forbids writing into
    them; the graph's hook point copies, so the write runs the call natively (a break at it)
    and eager's error is raised."""
    def fn(m, x):
        y = m(x)
        y.add_(1)
        return y.square().sum()

    compiled = _raises_as_eager(fn, _mlp)
    assert any("GB019" in r for s in compiled.stats_all for r in s.break_reasons), compiled.stats_all


def test_inplace_relu_with_a_hook_raises_as_in_eager():
    """``nn.ReLU(inplace=True)`` with a full backward hook writes into the hook function's view."""
    def make(rec):
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 1))
        m[1].register_full_backward_hook(rec.full("relu"))
        return m

    _raises_as_eager(_loss, make)


def test_backward_states_do_not_accumulate():
    rec = Recorder()
    m = _mlp(rec)
    compiled = bytegraph.compile(_loss, backend="eager")
    compiled(m, *_x(0)).backward()
    before = live_states()
    for call in range(5):
        compiled(m, *_x(call)).backward()
        compiled(m, *_x(call))          # a forward whose backward never runs
    assert live_states() <= before + 1


class Printing(nn.Module):
    """A forward that breaks the graph (a print): its BackwardHook cannot span the break."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        print("forward")
        return self.lin(x).tanh()


def test_a_hooked_module_whose_forward_breaks_runs_natively(capsys):
    """The call runs natively as a whole (not its ``_call_impl`` in compiled pieces: on CPython
    3.13.0 compiling those pieces crashed), the graphs around it stay, the hooks see eager's values."""
    def make(rec):
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(4, 4), Printing(), nn.Linear(4, 1))
        m[1].register_full_backward_hook(rec.full("printing", scale=2.0))
        return m

    compiled, _, rec = _compare(_loss, make, _x, "eager")
    assert [e[0] for e in rec.log] == ["printing"] * 3
    assert compiled.stats.recompiles == 0 and sum(s.graphs for s in compiled.stats_all) >= 1
    assert capsys.readouterr().out.count("forward") == 6
