"""A training step in the graph (issue 18, item 1): optimizer steps as graphs, alone and inside a
whole step (zero_grad, forward, backward, grad clipping, step, LR scheduler), equal to eager.

Every test counts, with a backend that wraps ``eager``, the graphs compiled and the graph calls
made at run time per training step, and records every capture: no frame runs eagerly, the
optimizer's update of all parameters is one graph call per step, and after the second step
(optimizer state created, a changed ``lr`` made a graph input) nothing is compiled again.
SGD, RMSprop and Adagrad are bitwise equal to eager; Adam and AdamW differ in the last bits, as
under torch.compile (``torch.compiler.is_compiling()`` selects the tensor-step formulas).

The classes behind the breaks these tests pin down: ``p.grad`` read and assigned in the trace
(``TensorVariable`` real attributes); ``torch.autograd.profiler.record_function`` (around every
``step``) a no-op; a 0-d tensor passed where an op takes a number (``addcdiv_(value=step_size)``:
``graph/scalar_operands.py``); ``functools.wraps`` copying a broken function's table of compiled
callees onto its wrapper (an LR scheduler wraps ``opt.step``); ``_group_tensors_by_device_and_dtype``
(``clip_grad_norm_``) answered at trace time; a graph that only switches grad mode run natively.
"""

import functools
import itertools

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.runtime import events
from bytegraph.testing import CountingBackend

OPTIMIZERS = {
    "sgd": (torch.optim.SGD, dict(lr=0.1)),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    "adam": (torch.optim.Adam, dict(lr=0.05)),
    "adamw": (torch.optim.AdamW, dict(lr=0.05, weight_decay=0.1)),
    "rmsprop": (torch.optim.RMSprop, dict(lr=0.01, momentum=0.5)),
    "adagrad": (torch.optim.Adagrad, dict(lr=0.1)),
}
EXACT = {"sgd", "sgd_momentum", "rmsprop", "adagrad"}
STEPS = 6




def _model():
    # 8 parameters: more than a few, so a per-parameter guard or recompile would show
    return nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 12), nn.ReLU(),
                         nn.Linear(12, 3))


def _pair(name, lr=None):
    """Two equal models and their optimizers: one for eager, one for the compiled code."""
    cls, kwargs = OPTIMIZERS[name]
    kwargs = dict(kwargs, **({"lr": lr()} if lr is not None else {}))
    torch.manual_seed(0)
    eager_model, model = _model(), _model()
    model.load_state_dict(eager_model.state_dict())
    eager_kwargs = dict(kwargs, **({"lr": lr()} if lr is not None else {}))
    return (eager_model, cls(eager_model.parameters(), **eager_kwargs)), (model, cls(model.parameters(), **kwargs))


def _close(name, a, b):
    return torch.equal(a, b) if name in EXACT else torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def _assert_same(name, eager, compiled):
    (m1, o1), (m2, o2) = eager, compiled
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert _close(name, p1, p2), (p1 - p2).abs().max()
        s1, s2 = o1.state[p1], o2.state[p2]
        assert sorted(s1) == sorted(s2)
        for key in s1:
            assert _close(name, s1[key], s2[key]), key
    assert [g["lr"] for g in o1.param_groups] == [g["lr"] for g in o2.param_groups]


def _per_step(backend, log, counts, fn, *args):
    """``fn(*args)``; appends (graphs compiled, graph calls) while it ran to ``counts``; no
    capture ran a frame eagerly."""
    (c0, k0), n0 = backend.snapshot(), len(log)
    out = fn(*args)
    assert not [e for e in log[n0:] if e.outcome == "eager"], [e.eager_reason for e in log[n0:]]
    c1, k1 = backend.snapshot()
    counts.append((c1 - c0, k1 - k0))
    return out


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compiled_optimizer_step_with_scheduler(name):
    """``compile(lambda: opt.step())``, the LR scheduler stepping outside: one graph call per
    step; two graphs in all (the first step creates the state; the second sees it, and the
    changed ``lr`` as an input), then none."""
    eager, compiled = _pair(name)
    (m1, o1), (m2, o2) = eager, compiled
    s1, s2 = (torch.optim.lr_scheduler.StepLR(o, 1, gamma=0.8) for o in (o1, o2))
    backend = CountingBackend()
    step = bytegraph.compile(lambda: o2.step(), backend=backend)
    counts = []
    with events.recording() as log:
        for _ in range(STEPS):
            x = torch.randn(5, 6)
            for m in (m1, m2):
                m(x).pow(2).mean().backward()
            o1.step()
            _per_step(backend, log, counts, step)
            _assert_same(name, eager, compiled)
            for o, s in ((o1, s1), (o2, s2)):
                o.zero_grad()
                s.step()
    assert [calls for _, calls in counts] == [1] * STEPS, counts
    assert sum(c for c, _ in counts) == 2 and all(c == 0 for c, _ in counts[2:]), counts


def _train(m, o, x, y):
    o.zero_grad(set_to_none=True)
    loss = nn.functional.mse_loss(m(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
    o.step()
    return loss.detach()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_whole_training_step(name):
    """zero_grad, forward, backward, clip_grad_norm_ and step compiled as one function: the
    forward, the clipping and the update are one graph each (zero_grad and backward run
    natively between them, as under torch.compile); losses and parameters equal eager's."""
    eager, compiled = _pair(name)
    s1, s2 = (torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9) for o in (eager[1], compiled[1]))
    backend = CountingBackend()
    step = bytegraph.compile(_train, backend=backend)
    counts = []
    with events.recording() as log:
        for _ in range(STEPS):
            x, y = torch.randn(5, 6), torch.randn(5, 3)
            l1 = _train(*eager, x, y)
            assert _close(name, l1, _per_step(backend, log, counts, step, *compiled, x, y))
            _assert_same(name, eager, compiled)
            s1.step()
            s2.step()
    # forward, clipping, update, then `loss.detach()` after the step's break
    assert [calls for _, calls in counts] == [4] * STEPS, counts
    assert all(c == 0 for c, _ in counts[2:]), counts


def _train_and_schedule(m, o, s, x, y):
    loss = _train(m, o, x, y)
    s.step()
    return loss


def test_scheduler_inside_with_tensor_lr():
    """The scheduler stepped inside the compiled step with a tensor ``lr`` (torch.compile's
    recipe): its arithmetic is a graph of its own, and nothing recompiles after the second step."""
    eager, compiled = _pair("adamw", lr=lambda: torch.tensor(0.01))
    s1, s2 = (torch.optim.lr_scheduler.CosineAnnealingLR(o, STEPS) for o in (eager[1], compiled[1]))
    backend = CountingBackend()
    step = bytegraph.compile(_train_and_schedule, backend=backend)
    counts = []
    with events.recording() as log:
        for _ in range(STEPS):
            x, y = torch.randn(5, 6), torch.randn(5, 3)
            l1 = _train_and_schedule(*eager, s1, x, y)
            assert _close("adamw", l1, _per_step(backend, log, counts, step, *compiled, s2, x, y))
            _assert_same("adamw", eager, compiled)
            assert torch.equal(eager[1].param_groups[0]["lr"], compiled[1].param_groups[0]["lr"])
    assert [calls for _, calls in counts] == [5] * STEPS, counts     # (the scheduler: the fifth)
    assert all(c == 0 for c, _ in counts[2:]), counts


def test_transformer_training_loop():
    """A 2-layer GPT-2 from transformers trained with AdamW for several steps, the whole step
    compiled: the forward is one graph, the update another (then ``loss.detach()`` after
    zero_grad's break); equal to eager (losses within float32
    rounding)."""
    pytest.importorskip("transformers")
    from bytegraph.zoo import build

    torch.manual_seed(0)
    model, make_inputs = build("gpt2", "causal-lm")
    eager_model, _ = build("gpt2", "causal-lm")
    eager_model.load_state_dict(model.state_dict())
    model.train(), eager_model.train()
    o1, o2 = (torch.optim.AdamW(m.parameters(), lr=1e-3) for m in (eager_model, model))

    def train(m, o, ids):
        loss = m(input_ids=ids, labels=ids).loss
        loss.backward()
        o.step()
        o.zero_grad()
        return loss.detach()

    backend = CountingBackend()
    step = bytegraph.compile(train, backend=backend)
    counts = []
    with events.recording() as log:
        for _ in range(4):
            ids = make_inputs(12)["input_ids"]
            l1 = train(eager_model, o1, ids)
            assert torch.allclose(l1, _per_step(backend, log, counts, step, model, o2, ids), rtol=1e-4, atol=1e-5)
            for (n, p1), p2 in zip(eager_model.named_parameters(), model.parameters()):
                # (AdamW's update of a parameter whose gradient is ~0, as the key bias's is, is
                # about lr * g / (|g| + eps): last-bit differences of g move it by a part of lr)
                assert torch.allclose(p1, p2, rtol=1e-4, atol=1e-4), (n, (p1 - p2).abs().max())
    assert [calls for _, calls in counts] == [3] * 4, counts     # forward, update, `loss.detach()`
    assert all(c == 0 for c, _ in counts[2:]), counts


# -- the classes behind the breaks --------------------------------------------------------------
def _decay_grad(p, x):
    if p.grad is not None:
        p.grad.mul_(0.5)
    out = p * x
    p.grad = None
    return out


def test_grad_read_and_assigned():
    """``p.grad`` of an input is read through its source (None or a tensor: guarded), and
    ``p.grad = None`` is written back after the graph."""
    backend = CountingBackend()
    cf = bytegraph.compile(_decay_grad, backend=backend)
    p, q = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    x = torch.arange(3.0)
    for i in range(3):
        if i:
            p.grad, q.grad = torch.full((3,), float(i)), torch.full((3,), float(i))
        expected = _decay_grad(q, x)
        assert torch.equal(cf(p, x), expected)
        assert p.grad is None and q.grad is None
    assert backend.compiled == 2 and cf.stats.captures == 2      # no grad, then a grad: recompiled once
    assert cf.stats.break_reasons == [] and cf.stats.eager_reasons == []


def test_grad_assigned_a_tensor_is_seen_by_later_reads():
    def f(p, g):
        p.grad = g * 2
        return p.grad + 1

    backend = CountingBackend()
    cf = bytegraph.compile(f, backend=backend)
    for _ in range(2):
        p, g = torch.zeros(2, requires_grad=True), torch.randn(2)
        assert torch.equal(cf(p, g), g * 2 + 1)
        assert torch.equal(p.grad, g * 2)
    assert backend.compiled == 1 and cf.stats.break_reasons == []


def test_record_function_is_no_break():
    def f(x):
        with torch.autograd.profiler.record_function("block"):
            y = x.sin()
        return y * 2

    backend = CountingBackend()
    cf = bytegraph.compile(f, backend=backend)
    for _ in range(2):
        x = torch.randn(4)
        assert torch.equal(cf(x), f(x))
    assert backend.compiled == 1 and backend.calls == 2 and cf.stats.break_reasons == []


def test_itertools_chain():
    def f(xs, ys):
        return sum(t * i for i, t in enumerate(itertools.chain(xs, ys))) + \
            sum(itertools.chain.from_iterable([xs, ys]))

    backend = CountingBackend()
    cf = bytegraph.compile(f, backend=backend)
    xs, ys = [torch.randn(2) for _ in range(2)], [torch.randn(2)]
    assert torch.equal(cf(xs, ys), f(xs, ys))
    assert backend.compiled == 1 and cf.stats.break_reasons == []


def _breaks(x):
    x = x + 1
    torch._dynamo.graph_break()
    return x * 2


def test_wrapper_of_a_function_that_broke_before():
    """``functools.wraps`` copies the wrapped function's ``__dict__``, where bytegraph keeps the
    function's own compiled callee: a wrapper made afterwards gets its own."""
    x = torch.ones(2)
    assert torch.equal(bytegraph.compile(lambda t: _breaks(t), backend="eager")(x), _breaks(x))

    @functools.wraps(_breaks)
    def wrapper(*args):
        return _breaks(*args) - 100

    assert torch.equal(bytegraph.compile(lambda t: wrapper(t), backend="eager")(x), wrapper(x))


def test_bound_through_get():
    """``func.__get__(obj, cls)`` (what a scheduler's step wrapper does): a bound method."""
    class Box:
        def __init__(self):
            self.k = 3

        def scale(self, x):
            return x * self.k

    box = Box()
    backend = CountingBackend()
    cf = bytegraph.compile(lambda x: Box.scale.__get__(box, Box)(x) + Box.scale.__get__(None, Box)(box, x),
                           backend=backend)
    x = torch.randn(2)
    assert torch.equal(cf(x), x * 3 + x * 3)
    assert backend.compiled == 1


@pytest.mark.parametrize("inner", ["eager", "aot_eager"])
def test_zero_dim_tensor_as_a_number(inner):
    """A 0-d tensor where an op takes a number (``value=``, ``alpha=``): eager reads it with
    ``.item()``; in the graph it is an explicit read (or the op as tensor ops), which
    AOTAutograd accepts; results equal eager's bitwise."""
    def f(p, a, b, s):
        p = p.clone()
        p.addcdiv_(a, b, value=-s)
        q = p.addcmul(a, b, value=s)
        return q.add(a, alpha=s * 2)

    backend = CountingBackend(inner)
    cf = bytegraph.compile(f, backend=backend)
    for i in range(3):
        p, a, b = torch.randn(4), torch.randn(4), torch.rand(4) + 0.5
        s = torch.tensor(0.1 * (i + 1))
        assert torch.equal(cf(p, a, b, s), f(p, a, b, s))
    assert backend.compiled == 1 and backend.calls == 3
    assert cf.stats.break_reasons == [] and cf.stats.eager_reasons == []


def test_clip_grad_norm_mixed_dtypes():
    """``clip_grad_norm_`` over float32 and float64 gradients: grouped at trace time in eager's
    order, one graph, eager's result bitwise."""
    def clip(ps):
        return torch.nn.utils.clip_grad_norm_(ps, 1.0)

    backend = CountingBackend()
    cf = bytegraph.compile(clip, backend=backend)
    for _ in range(2):
        grads = [torch.randn(3), torch.randn(2, dtype=torch.float64), torch.randn(4)]
        ps1 = [torch.zeros_like(g, requires_grad=True) for g in grads]
        ps2 = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for p1, p2, g in zip(ps1, ps2, grads):
            p1.grad, p2.grad = g.clone() * 3, g.clone() * 3
        assert torch.equal(cf(ps2), clip(ps1))
        assert all(torch.equal(p1.grad, p2.grad) for p1, p2 in zip(ps1, ps2))
    assert backend.compiled == 1 and cf.stats.break_reasons == [] and cf.stats.eager_reasons == []


def _no_grad_then_break(x):
    torch.set_grad_enabled(False)          # what the optimizer's _use_grad does before its break
    print(end="")
    y = x * 2
    torch.set_grad_enabled(True)
    return y


def test_graph_that_only_switches_grad_mode_runs_natively():
    """A frame whose graph would only switch grad mode before a break switches it natively:
    no graph call, and the code after the break runs with grad off."""
    backend = CountingBackend()
    cf = bytegraph.compile(_no_grad_then_break, backend=backend)
    for _ in range(2):
        x = torch.randn(3, requires_grad=True)
        y = cf(x)
        assert torch.equal(y, x * 2) and not y.requires_grad and torch.is_grad_enabled()
    assert backend.compiled == 1 and backend.calls == 2          # (the resume function's graph only)
    assert [(s.captures, s.graphs) for s in cf.stats_all] == [(1, 0), (1, 1)]


def _update_in_try(p, g, idx):
    try:
        p.copy_(p * 0.9 + g)
        if idx is not None:
            p.add_(g[idx].sum())          # a tensor index: may raise at run time
    finally:
        g.mul_(0)
    return p


@pytest.mark.parametrize("indexed", [False, True])
def test_inputs_copied_only_for_graphs_that_may_raise(indexed, monkeypatch):
    """A graph inside the program's try/finally (an optimizer's update inside ``_use_grad``) is
    rerun eagerly if it raises, from copies of the inputs it writes; a graph of elementwise
    float ops cannot raise once its guards hold, and copies nothing."""
    from bytegraph.runtime import convert

    calls = []
    real_init = convert.GraphCall.__init__
    monkeypatch.setattr(convert.GraphCall, "__init__",
                        lambda self, compiled, mutated, modes: calls.append(mutated) or real_init(self, compiled, mutated, modes))
    cf = bytegraph.compile(_update_in_try, backend=CountingBackend())
    p, g, p2, g2 = torch.ones(4), torch.full((4,), 2.0), torch.ones(4), torch.full((4,), 2.0)
    idx = torch.tensor([1, 3]) if indexed else None
    cf(p, g, idx)                                           # (compiles)
    monkeypatch.undo()
    clones = []
    real_clone = torch.Tensor.clone
    monkeypatch.setattr(torch.Tensor, "clone", lambda self, *a, **k: clones.append(1) or real_clone(self, *a, **k))
    p, g = torch.ones(4), torch.full((4,), 2.0)
    cf(p, g, idx)
    monkeypatch.undo()
    assert torch.equal(p, _update_in_try(p2, g2, idx)) and torch.equal(g, g2)
    assert (len(clones) > 0) == indexed, clones
    assert cf.stats.captures == 1 and cf.stats.graphs == 1
    assert calls == [[0, 1] if indexed else []]         # the graph is rerun on a raise, either way


SCHEDULERS = {
    "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, STEPS),
    "step": lambda o: torch.optim.lr_scheduler.StepLR(o, 2, gamma=0.5),
    "exponential": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "linear": lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=STEPS),
}
_GLOBAL_STEP = {}


def _train_and_schedule_globals(x, y):
    m, o, s = _GLOBAL_STEP["m"], _GLOBAL_STEP["o"], _GLOBAL_STEP["s"]
    return _train_and_schedule(m, o, s, x, y)


@pytest.mark.parametrize("reach", ["arguments", "globals"])
@pytest.mark.parametrize("sched", sorted(SCHEDULERS))
def test_scheduler_inside_with_float_lr(sched, reach):
    """A float ``lr`` and a scheduler stepped inside the compiled step, the objects passed as
    arguments or read from a global (a training script's usual shape): the step counter and the
    lr become graph inputs once they vary, and the scheduler's formula (``math.cos`` of the
    symbolic step, times the lr) is graph arithmetic, so nothing recompiles once each branch the
    scheduler takes has been seen (StepLR's ``step % step_size`` has two)."""
    eager, compiled = _pair("sgd_momentum")
    s1, s2 = SCHEDULERS[sched](eager[1]), SCHEDULERS[sched](compiled[1])
    backend = CountingBackend()
    if reach == "globals":
        _GLOBAL_STEP.update(m=compiled[0], o=compiled[1], s=s2)
        step, args = bytegraph.compile(_train_and_schedule_globals, backend=backend), ()
    else:
        step, args = bytegraph.compile(_train_and_schedule, backend=backend), (*compiled, s2)
    counts = []
    with events.recording() as log:
        for _ in range(STEPS):
            x, y = torch.randn(5, 6), torch.randn(5, 3)
            l1 = _train_and_schedule(*eager, s1, x, y)
            assert _close("sgd_momentum", l1, _per_step(backend, log, counts, step, *args, x, y))
            _assert_same("sgd_momentum", eager, compiled)
    _GLOBAL_STEP.clear()
    assert all(c == 0 for c, _ in counts[4:]), counts
    assert sum(c for c, _ in counts) <= 9, counts
