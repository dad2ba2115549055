"""Autocast's weight cache across graph breaks, as eager keeps it (fuzz seed 2127 and 11 others).

Eager autocast casts a leaf fp32 tensor that requires grad (a weight) to the lower precision
once per outermost ``torch.autocast`` block and reuses that cast until the block is left to
nesting 0, even after the weight is written in place (an optimizer step inside the block: the
second forward still sees the old weight). A break inside the block cuts it into pieces: the
graph leaves it, the break's instruction runs in it natively, the resume function enters it
again. Each piece used to leave the block for real, dropping the cache, and so did every fake
run and backend trace at compile time; the next forward cast the new weight. The pieces now
leave it with ``suspend_autocast`` (the cache stays) and the block's real end clears it.

With an AOTAutograd backend the casts are explicit ops of the graph and never cached; that
case still differs from eager (tests/fuzz/findings/autocast_cached_cast_across_break.py).
"""

from __future__ import annotations

import zlib

import pytest
import torch
from torch import nn

import bytegraph


def _nesting() -> int:
    n = torch.autocast_increment_nesting() - 1
    torch.autocast_decrement_nesting()
    return n


def _model() -> tuple[nn.Linear, torch.optim.Optimizer]:
    torch.manual_seed(0)
    m = nn.Linear(4, 1)
    return m, torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)


def steps_in_one_block(y, n, m, opt):
    losses = []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for _ in range(n):
            loss = m(y).sum()
            loss.backward()          # a break: the block is cut here, every iteration
            opt.step()
            losses.append(loss)
    return losses


def step_then_failing_call(y, m, opt, key):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = m(y).sum()
        loss.backward()
        opt.step()
        zlib.crc32(key)              # a break whose native call raises (key None: TypeError)
        return m(y).sum()


def test_steps_inside_one_autocast_block_reuse_the_cast_weight_as_eager():
    compiled = bytegraph.compile(steps_in_one_block, backend="eager")
    (me, oe), (mc, oc) = _model(), _model()
    y = torch.randn(2, 4)
    for n in (3, 2, 2, 3):           # (a new count: one recompile of the first piece)
        want = [t.item() for t in steps_in_one_block(y, n, me, oe)]
        got = [t.item() for t in compiled(y, n, mc, oc)]
        assert got == want, (n, want, got)
        assert len(set(want)) == 1   # the stale cast: every forward of the block sees the first weight
        assert torch.equal(mc.weight, me.weight) and _nesting() == 0
    graphs = sum(s.graphs for s in compiled.stats_all)
    assert graphs >= 3 and all(s.eager_reasons == [] for s in compiled.stats_all), compiled.stats_all


def test_the_block_left_through_an_error_drops_the_cache():
    compiled = bytegraph.compile(step_then_failing_call, backend="eager")
    (me, oe), (mc, oc) = _model(), _model()
    y = torch.randn(2, 4)
    for call, key in enumerate((b"k", None, b"k", None)):
        runs = []
        for f, m, opt in ((step_then_failing_call, me, oe), (compiled, mc, oc)):
            try:
                out = f(y, m, opt, key).item()
            except TypeError as e:
                out = str(e)
            with torch.no_grad():
                m.weight.add_(1.0)               # outside any block: a later block must cast it again
            with torch.autocast("cpu", dtype=torch.bfloat16):
                after = m(y).sum().item()
            runs.append((out, after))
            assert _nesting() == 0
        assert runs[0] == runs[1], (call, runs)
    reasons = [r for s in compiled.stats_all for r in s.eager_reasons]
    assert reasons and all(r.startswith("the program raises TypeError") for r in reasons), reasons
    assert sum(s.graphs for s in compiled.stats_all) >= 2, compiled.stats_all


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_compiling_inside_a_cut_block_leaves_the_programs_cached_casts(backend):
    """The first call compiles the resume functions while the block's casts are cached: the
    compiler's own fake runs and the backend's trace enter autocast too, and used to drop them."""
    def f(y, m, opt):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            a = m(y).sum()
            a.backward()
            opt.step()
            b = nn.functional.linear(y, m.weight, m.bias).sum()   # eager: the cached, old weight
        return a, b

    (me, oe), (mc, oc) = _model(), _model()
    y = torch.randn(2, 4)
    want = [t.item() for t in f(y, me, oe)]
    compiled = bytegraph.compile(f, backend=backend)
    got = [t.item() for t in compiled(y, mc, oc)]
    assert want[0] == want[1]
    if backend == "eager":
        assert got == want
    else:                            # AOT: the casts are ops of the graph, never cached (see above)
        assert got[0] == want[0]
    assert _nesting() == 0


def test_a_cut_block_split_in_parts_leaves_each_part_with_the_suspend():
    """A graph split in parts (DDP's gradient buckets, runtime/split.py) whose autocast block a
    break cut: split_module needs an exit it knows for every enter (it raised "autocast must
    exit"); each part leaves the block with ``suspend_autocast`` and the parts compute the graph."""
    import operator

    from bytegraph.runtime.split import split_graph
    from bytegraph.testing import CompileCounter
    from bytegraph.variables.ctx import suspend_autocast

    def fn(x, w):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = x @ w
            z = (y @ w).relu()
            zlib.crc32(b"x")
            return z @ w

    counter = CompileCounter()
    compiled = bytegraph.compile(fn, backend=counter)
    x, w = torch.randn(2, 3), torch.randn(3, 3)
    assert torch.equal(compiled(x, w), fn(x, w))
    gm = counter.graphs[0]
    first = next(n for n in gm.graph.nodes if n.target is operator.matmul)
    order = list(gm.graph.nodes)
    split = split_graph(gm, lambda n: int(order.index(n) > order.index(first)))
    parts = [sub for sub in split.children() if isinstance(sub, torch.fx.GraphModule)]
    assert len(parts) == 2
    for sub in parts:
        targets = [n.target for n in sub.graph.nodes if n.op == "call_function"]
        assert targets.count(torch.amp._enter_autocast) == targets.count(suspend_autocast) == 1, targets
    assert all(torch.equal(a, b) for a, b in zip(split(x, w), gm(x, w)))
    assert _nesting() == 0
    assert [n.target for n in gm.graph.nodes if n.op == "call_function"][-1] is suspend_autocast
