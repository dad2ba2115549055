"""Compiled autograd as an opt-in (issue 18, item 3): ``with bytegraph.compiled_autograd(backend=...)``
and ``bytegraph.compile(..., compiled_autograd=True)`` capture ``backward()`` at run time through
torch's compiled autograd and compile the captured graph with bytegraph itself.

Every test runs the same program eagerly and compiled, compares gradients and what the hooks saw
at every step, and counts with a backend that wraps ``eager``/``aot_eager``: backward graphs
compiled (one per autograd-graph structure: a hook added, ``.grad`` existing or not), graph calls
per backward (exactly 1: the whole backward, hooks and gradient accumulation included, is one
graph; nothing runs eagerly or breaks), and no compile after the first steps.
"""

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.runtime.autograd import is_enabled
from bytegraph.testing import CountingBackend

BACKENDS = ("eager", "aot_eager")
STEPS = 4




class Hooked(nn.Module):
    """An MLP whose backward runs Python: a tensor hook on an intermediate that scales the gradient
    and records it, a module full backward hook and a post-accumulate-grad hook on a parameter
    that write into Python containers the test owns."""

    def __init__(self, log: list, norms: dict) -> None:
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(6, 16), nn.Linear(16, 16), nn.Linear(16, 2)
        self.log, self.norms = log, norms
        self.l2.register_full_backward_hook(self._full_hook)
        self.l3.weight.register_post_accumulate_grad_hook(self._after_accumulate)

    def _full_hook(self, module, grad_input, grad_output):
        self.log.append(("l2", grad_output[0].sum()))
        return (grad_input[0] * 0.5,)

    def _after_accumulate(self, p):
        self.norms["l3.weight"] = p.grad.norm()

    def forward(self, x):
        h = torch.relu(self.l1(x))
        h.register_hook(lambda g: g * 2.0)
        h2 = torch.tanh(self.l2(h))
        h2.register_hook(lambda g: self.log.append(("h2", g.sum())))
        return self.l3(h2)


def _pair():
    torch.manual_seed(0)
    a = Hooked([], {})
    b = Hooked([], {})
    b.load_state_dict(a.state_dict())
    return a, b


def _step(model, x, y):
    model.log.clear()                           # (state the hooks write, reset by the program)
    model.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    return loss.detach()


def _assert_same(backend, eager, compiled):
    for (n, p1), p2 in zip(eager.named_parameters(), compiled.parameters()):
        assert torch.equal(p1.grad, p2.grad), (backend, n, (p1.grad - p2.grad).abs().max())
    assert [k for k, _ in eager.log] == [k for k, _ in compiled.log]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(eager.log, compiled.log)), (eager.log, compiled.log)
    assert torch.equal(eager.norms["l3.weight"], compiled.norms["l3.weight"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_backward_with_hooks_is_one_graph(backend):
    """The backward of an MLP with tensor hooks, a full backward hook and a post-accumulate-grad
    hook: one graph per backward, captured on the first step and reused on every later one;
    gradients and what the hooks recorded bitwise equal to eager."""
    eager, model = _pair()
    counting = CountingBackend(backend)
    ca = bytegraph.compiled_autograd(backend=counting)
    calls = []
    for step in range(STEPS):
        x, y = torch.randn(8, 6), torch.randn(8, 2)
        _step(eager, x, y)
        before = counting.calls
        with ca:                                # (entered again each step: the same compiler, its cache kept)
            _step(model, x, y)
        calls.append(counting.calls - before)
        _assert_same(backend, eager, model)
        assert len(model.log) == 2
    assert calls == [1] * STEPS, calls
    assert counting.compiled == 1 and len(ca.compiled) == 1
    (stats,) = ca.stats_all
    assert (stats.captures, stats.graphs, stats.eager, stats.break_reasons) == (1, 1, 0, []), stats


def test_grads_accumulated_across_backwards_and_graph_count():
    """Without zero_grad the second backward accumulates into existing ``.grad``: compiled autograd
    captures a second graph (AccumulateGrad of an existing gradient), then reuses both."""
    eager, model = _pair()
    counting = CountingBackend()
    x, y = torch.randn(8, 6), torch.randn(8, 2)
    ca = bytegraph.compiled_autograd(backend=counting)
    for _ in range(STEPS):
        nn.functional.mse_loss(eager(x), y).backward()
        with ca:
            nn.functional.mse_loss(model(x), y).backward()
        _assert_same("eager", eager, model)
        eager.log.clear(), model.log.clear()
    assert counting.compiled == 2 and counting.calls == STEPS, (counting.compiled, counting.calls)
    assert [(s.captures, s.graphs, s.break_reasons) for s in ca.stats_all] == [(1, 1, [])] * 2


def test_counter_hook_recompiles_once():
    """A hook that increments a Python counter reads the count: the first graph is specialized on
    it (an EQUALS guard); the second backward recompiles with the count symbolic (automatic
    dynamic), and no later backward compiles. The count and the gradients are eager's."""
    counts = {"eager": [0], "compiled": [0]}

    def make(key):
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))

        def hook(g):
            counts[key][0] += 1
        m[0].weight.register_hook(hook)
        return m

    eager, model = make("eager"), make("compiled")
    counting = CountingBackend()
    x = torch.randn(3, 4)
    ca = bytegraph.compiled_autograd(backend=counting)
    for _ in range(5):
        eager.zero_grad(), model.zero_grad()
        eager(x).sum().backward()
        with ca:
            model(x).sum().backward()
    assert counts["eager"] == counts["compiled"] == [5]
    assert torch.equal(eager[0].weight.grad, model[0].weight.grad)
    (stats,) = ca.stats_all
    assert (stats.captures, stats.graphs, stats.eager) == (2, 2, 0), stats
    assert "['compiled'][0]: expected EQUALS_MATCH 0, got 1" in stats.recompile_reasons[0], stats.recompile_reasons
    assert counting.calls == 5


def test_off_outside_the_context():
    """Compiled autograd is on only inside the block: before and after it, backward is eager
    autograd (the counting backend sees no compile and no call) and the gradients still match."""
    eager, model = _pair()
    counting = CountingBackend()
    x, y = torch.randn(8, 6), torch.randn(8, 2)
    assert not is_enabled()
    _step(model, x, y)
    assert counting.compiled == counting.calls == 0
    with bytegraph.compiled_autograd(backend=counting):
        assert is_enabled()
        _step(model, x, y)
    assert not is_enabled()
    assert (counting.compiled, counting.calls) == (1, 1)
    _step(eager, x, y)
    _step(model, x, y)
    assert (counting.compiled, counting.calls) == (1, 1)
    _assert_same("eager", eager, model)


def test_a_context_per_step_reuses_the_graph():
    """``with bytegraph.compiled_autograd(...)`` entered anew every step, with the same
    configuration, reuses the backward graph compiled on the first step; another backend does not
    get the first one's graphs."""
    eager, model = _pair()
    counting, other = CountingBackend(), CountingBackend("aot_eager")
    x, y = torch.randn(8, 6), torch.randn(8, 2)
    for _ in range(STEPS):
        with bytegraph.compiled_autograd(backend=counting):
            _step(model, x, y)
    assert (counting.compiled, counting.calls) == (1, STEPS)
    with bytegraph.compiled_autograd(backend=other):
        _step(model, x, y)
    assert (other.compiled, other.calls, counting.calls) == (1, 1, STEPS)
    _step(eager, x, y)
    _assert_same("eager", eager, model)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compile_flag_captures_the_backward_inside(backend):
    """``compile(step, compiled_autograd=True)``: the ``loss.backward()`` inside the compiled
    function (a graph break of the forward's capture) is one backward graph with the same backend;
    a backward after the call returns runs eagerly."""
    eager, model = _pair()
    counting = CountingBackend(backend)
    step = bytegraph.compile(_step, backend=counting, compiled_autograd=True)
    backward_graphs = []
    for _ in range(STEPS):
        x, y = torch.randn(8, 6), torch.randn(8, 2)
        assert torch.equal(_step(eager, x, y), step(model, x, y))
        _assert_same(backend, eager, model)
        backward_graphs.append(step._bytegraph_autograd.graphs)
    # The forward is one graph (the module with a full backward hook is in it) and recompiles
    # once, on step 2 (``model.log`` is 2 long then); under an AOT backend its backward node is
    # then another one, so compiled autograd captures one more backward graph. Then nothing.
    assert backward_graphs[0] == 1 and backward_graphs[1:] == [1 + (backend != "eager")] * (STEPS - 1), \
        backward_graphs
    assert not is_enabled()
    calls = counting.calls
    nn.functional.mse_loss(model(torch.randn(8, 6)), torch.randn(8, 2)).backward()
    assert counting.calls == calls


def test_compiled_forward_and_backward_outside():
    """A compiled module's forward, ``loss.backward()`` outside compiled code inside the context:
    the backward of the forward graph (one autograd node for the whole graph) is captured with
    the rest of the backward."""
    torch.manual_seed(0)
    eager = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 2))
    model = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 2))
    model.load_state_dict(eager.state_dict())
    forward_backend, backward_backend = CountingBackend("aot_eager"), CountingBackend("aot_eager")
    compiled = bytegraph.compile(model, backend=forward_backend)
    ca = bytegraph.compiled_autograd(backend=backward_backend)
    for _ in range(STEPS):
        x = torch.randn(8, 6)
        eager.zero_grad(), compiled.zero_grad()
        (eager(x) ** 2).mean().backward()
        with ca:
            (compiled(x) ** 2).mean().backward()
        for p1, p2 in zip(eager.parameters(), model.parameters()):
            assert torch.allclose(p1.grad, p2.grad, rtol=1e-5, atol=1e-6)
    assert forward_backend.compiled == 1 and backward_backend.compiled == 1
    assert backward_backend.calls == STEPS
    assert [(s.captures, s.graphs, s.break_reasons) for s in ca.stats_all] == [(1, 1, [])]


def test_transformer_backward_with_hooks():
    """A 2-layer GPT-2 from transformers: its backward, with a tensor hook on the logits and a full
    backward hook on the last block's MLP, is one graph per step after the first; gradients
    allclose to eager (float32 reductions in another order), hooks called as in eager."""
    pytest.importorskip("transformers")
    from bytegraph.zoo import build

    torch.manual_seed(0)
    model, make_inputs = build("gpt2", "causal-lm")
    eager, _ = build("gpt2", "causal-lm")
    eager.load_state_dict(model.state_dict())
    seen = {"eager": [], "compiled": []}

    def setup(m, key):
        m.transformer.h[-1].mlp.register_full_backward_hook(lambda mod, gi, go: seen[key].append(go[0].shape))

    setup(eager, "eager"), setup(model, "compiled")

    def step(m, ids):
        m.zero_grad()
        logits = m(input_ids=ids).logits
        logits.register_hook(lambda g: g * 0.5)
        loss = nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        return loss.detach()

    counting = CountingBackend()
    calls = []
    ca = bytegraph.compiled_autograd(backend=counting)
    for _ in range(3):
        ids = make_inputs(12)["input_ids"]
        l1 = step(eager, ids)
        before = counting.calls
        with ca:
            l2 = step(model, ids)
        calls.append(counting.calls - before)
        assert torch.equal(l1, l2)
        for (n, p1), p2 in zip(eager.named_parameters(), model.parameters()):
            assert torch.allclose(p1.grad, p2.grad, rtol=1e-4, atol=1e-6), (n, (p1.grad - p2.grad).abs().max())
    assert seen["eager"] == seen["compiled"] and len(seen["compiled"]) == 3
    assert calls == [1] * 3 and counting.compiled == 1, (calls, counting.compiled)
    assert [(s.captures, s.graphs, s.eager, s.break_reasons) for s in ca.stats_all] == [(1, 1, 0, [])]
