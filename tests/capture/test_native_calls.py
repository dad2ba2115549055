"""torch transforms and higher-order functions: captured as one node, or run natively (GB019).

None of them is ever inlined (variables/native.py): inlining their Python implementation pushed
functorch transform levels that a failed trace left behind. torch.func.grad / vmap / jacrev,
torch.cond, flex_attention and checkpoint are captured as higher-order ops (variables/higher_order.py,
tests/capture/test_higher_order.py); here they must leave torch's global state as it was. The rest
(torch.autograd.functional, vjp, linearize, forward AD, reentrant checkpoint of inputs without grad) still runs
natively: each program compares with eager over several calls with new values, checks that the
capture broke at the call with GB019 and resumed (graphs before and after, nothing eager as a
whole), and that torch's global state is unchanged afterwards.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.utils.checkpoint
from torch.nn.attention.flex_attention import flex_attention

import bytegraph
from bytegraph.runtime import torch_state
from bytegraph.testing import same
from bytegraph.variables.native import native_reason

FILE = os.path.basename(__file__)
W = torch.randn(4, 4)


def _loss(w):
    return (w * w).sin().sum()


def grad_fn(x, w):
    y = x.cos() * 2
    g = torch.func.grad(_loss)(w)
    return y + g


def vmap_fn(xs):
    y = xs * 2
    z = torch.func.vmap(lambda a: (a @ W).relu())(y)
    return z - 1


def jacrev_fn(x):
    y = x + 1
    j = torch.func.jacrev(torch.sin)(y)
    return j.sum(0) * 3


def _score(score, b, h, q_idx, kv_idx):
    return score + (q_idx - kv_idx)


def flex_fn(q, k, v):
    q = q * 0.5
    out = flex_attention(q, k, v, score_mod=_score)
    return out + 1


def cond_fn(x):
    y = x * 2
    z = torch.cond(y.sum() > 0, lambda t: t.sin(), lambda t: t.cos(), (y,))
    return z + 1


def checkpoint_fn(x):
    y = x * 2
    z = torch.utils.checkpoint.checkpoint(torch.sin, y, use_reentrant=False)
    return z + 1


def jacobian_fn(x):
    y = x * 2
    j = torch.autograd.functional.jacobian(torch.tanh, y)
    return j.sum() + y.sum()


def _helper(w):
    return torch.func.grad(_loss)(w) * 2


def nested_fn(x, w):
    y = x.exp()
    g = _helper(w)
    return y.sum() + g


_GRAD_OF_LOSS = torch.func.grad(_loss)


def made_outside_fn(w):
    return _GRAD_OF_LOSS(w) + 1


def vjp_fn(x):
    y = x * 2
    out, pull = torch.func.vjp(torch.sin, y)
    return pull(torch.ones_like(out))[0] + 1


def linearize_fn(x, t):
    y = x * 2
    out, jvp_fn = torch.func.linearize(torch.sin, y)
    return jvp_fn(t) + out


def reentrant_checkpoint_fn(x):
    y = x * 2
    z = torch.utils.checkpoint.checkpoint(torch.sin, y, use_reentrant=True)
    return z + 1


# name -> (function, arguments for one call): captured as one graph
CAPTURED = {
    "torch.func.grad": (grad_fn, lambda: (torch.randn(4), torch.randn(4))),
    "torch.func.vmap": (vmap_fn, lambda: (torch.randn(3, 4),)),
    "torch.func.jacrev": (jacrev_fn, lambda: (torch.randn(3),)),
    "flex_attention": (flex_fn, lambda: tuple(torch.randn(1, 1, 16, 8) for _ in range(3))),
    "torch.cond": (cond_fn, lambda: (torch.randn(3),)),
    "checkpoint": (checkpoint_fn, lambda: (torch.randn(3),)),
    "torch.func.grad inside a called function": (nested_fn, lambda: (torch.randn(4), torch.randn(4))),
    "the function torch.func.grad returned before the call": (made_outside_fn, lambda: (torch.randn(4),)),
}


def _three_calls_like_eager(fn, make_args, counter, **tolerance):
    """``fn`` compiled and called three times with new arguments: each call leaves torch's global
    state as it found it and returns what eager returns."""
    compiled = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        args = make_args()
        before = torch_state.TorchState()
        out = compiled(*args)
        assert before.changed() == [], f"the call changed torch's global state: {before.changed()}"
        before.restore()
        assert same(out, fn(*args), **tolerance)
    return compiled


@pytest.mark.parametrize("name", list(CAPTURED))
def test_captured_leaves_global_state_alone(name, counter):
    fn, make_args = CAPTURED[name]
    compiled = _three_calls_like_eager(fn, make_args, counter, rtol=1e-4, atol=1e-5)
    stats = compiled.stats
    assert (stats.captures, stats.graphs, stats.break_reasons, stats.eager_reasons) == (1, 1, [], []), stats
    assert torch._C._functorch.maybe_current_level() is None


# name -> (function, arguments for one call, the text of the line that runs natively)
PROGRAMS = {
    "torch.autograd.functional.jacobian": (jacobian_fn, lambda: (torch.randn(3),), "jacobian(torch.tanh"),
    "torch.func.vjp": (vjp_fn, lambda: (torch.randn(3),), "torch.func.vjp("),
    "torch.func.linearize": (linearize_fn, lambda: (torch.randn(3), torch.randn(3)), "torch.func.linearize("),
    "reentrant checkpoint of inputs without grad": (reentrant_checkpoint_fn, lambda: (torch.randn(3),),
                                                    "checkpoint(torch.sin, y, use_reentrant=True)"),
}


def _line_of(text: str) -> int:
    """The line of this file where ``text`` first appears (in the programs above PROGRAMS)."""
    with open(__file__, encoding="utf-8") as f:
        return next(n for n, line in enumerate(f, 1) if text in line)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_runs_natively_between_graphs(name, counter):
    fn, make_args, text = PROGRAMS[name]
    compiled = _three_calls_like_eager(fn, make_args, counter)
    stats = compiled.stats_all
    assert all(s.eager == 0 for s in stats), [s.eager_reasons for s in stats]
    assert all(s.recompiles == 0 for s in stats), [s.recompile_reasons for s in stats]
    reasons = [r for s in stats for r in s.break_reasons]
    native = [r for r in reasons if r.startswith("graph break GB019:")]
    assert native, reasons
    assert f"{FILE}:{_line_of(text)} in " in native[0], native[0]
    assert counter.frame_count >= 2          # the graph before the call and the one after it
    assert torch._C._functorch.maybe_current_level() is None


def test_eager_code_still_works_after_a_native_transform(counter):
    """The reported symptom: deepcopy and torch.cond failed after compiling a torch.func.grad call."""
    compiled = bytegraph.compile(grad_fn, backend=counter)
    compiled(torch.randn(4), torch.randn(4))
    copy.deepcopy([torch.randn(2), torch.randn(3)])
    x = torch.randn(3)
    assert torch.equal(torch.cond(torch.tensor(False), lambda t: t + 1, lambda t: t - 1, (x,)), x - 1)


def test_fullgraph_names_the_native_call():
    compiled = bytegraph.compile(vjp_fn, backend="eager", fullgraph=True)
    with pytest.raises(bytegraph.CompileError) as info:
        compiled(torch.randn(3))
    assert "GB019" in str(info.value) and "vjp" in str(info.value)


NATIVE = {
    "torch.func.grad": torch.func.grad, "torch.func.vmap": torch.func.vmap, "torch.vmap": torch.vmap,
    "torch.func.jacrev": torch.func.jacrev, "torch.func.jvp": torch.func.jvp, "torch.func.hessian": torch.func.hessian,
    "torch.cond": torch.cond, "checkpoint": torch.utils.checkpoint.checkpoint,
    "torch.autograd.functional.jacobian": torch.autograd.functional.jacobian,
    "torch._C._functorch._grad_increment_nesting": torch._C._functorch._grad_increment_nesting,
    "the function torch.func.grad returns": torch.func.grad(_loss),
    "torch.autograd.forward_ad.make_dual": torch.autograd.forward_ad.make_dual,
}


@pytest.mark.parametrize("fn", list(NATIVE.values()), ids=list(NATIVE))
def test_native_table_covers(fn):
    """Those captured as higher-order ops are so by the builder before this table is read; the table
    still says none of them may be inlined. (flex_attention's front-end is traced: it reaches the op.)"""
    from bytegraph.variables.torch import unwrap_disabled

    assert native_reason(unwrap_disabled(fn)) is not None


@pytest.mark.parametrize("fn", [torch.func.functional_call, torch.func.stack_module_state, torch.sin,
                                torch.nn.functional.relu, torch.utils._pytree.tree_map, _loss],
                         ids=lambda f: f.__qualname__)
def test_native_table_leaves_others_traced(fn):
    assert native_reason(fn) is None
