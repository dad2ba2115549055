"""A view returned from a graph has eager's autograd metadata when grad mode changes inside the graph.

An AOTAutograd backend makes an output that is a view (of an input or of an intermediate)
again *after* the graph, in the grad mode the graph was called in, before it applies the
graph's own grad-mode switches. So a view made under another mode than the graph started in
came back wrong:

* a graph that starts by leaving a ``no_grad`` block (the resume function of a break inside
  one; fuzz seed 70019) returned ``t.flatten()`` with no ``grad_fn`` (``is_leaf`` True; eager
  False). bytegraph now takes leading switches out of the graph and calls it in that mode
  (torch.compile's Dynamo does the same, and gets this case right);
* ``with torch.no_grad(): v = x.view(-1)`` returned from a graph running with grad on came back
  with a ``grad_fn`` (eager: none, and an in-place op on it raises), and a view made under
  ``enable_grad`` in a graph called under ``no_grad`` came back without one. torch.compile
  (aot_eager) gets both wrong (checked on torch 2.13); bytegraph makes such views again from
  their base, in their own mode.
"""

from __future__ import annotations

import warnings
import zlib

import pytest
import torch

import bytegraph


def _break() -> int:
    return zlib.crc32(b"x")      # a C call: a graph break


def break_in_no_grad(x):
    t = x * 2
    with torch.no_grad():
        _break()
    return t.flatten(), t[0], x.t()


def view_in_no_grad(x):
    t = x * 2
    with torch.no_grad():
        v = x.view(-1)
        w = t[1:]
    return v, w, t


def view_in_enable_grad(x):       # called under no_grad
    with torch.enable_grad():
        v = x.view(-1)
        w = x * 2
    return v, w


def break_in_enable_grad(x):      # called under no_grad
    t = x * 2
    with torch.enable_grad():
        _break()
        v = x.view(-1)
    return v, t


def view_in_no_grad_after_break(x):
    t = x.sin()
    _break()
    with torch.no_grad():
        v = t.view(2, -1)
    return v, t * 3


def view_written_in_no_grad(x):   # made with grad on, written under no_grad: still a grad-mode view
    v = x.view_as(x)
    with torch.no_grad():
        v.add_(1)
    w = x.t().t()
    with torch.no_grad():
        w.mul_(2)
    return v, w, x * 2


# (function, grad mode of the call, captures, graphs compiled in all)
CASES = [
    (break_in_no_grad, True, 2, 2),
    (view_in_no_grad, True, 1, 1),
    (view_in_enable_grad, False, 1, 1),
    (break_in_enable_grad, False, 2, 2),
    (view_in_no_grad_after_break, True, 2, 2),
    (view_written_in_no_grad, True, 1, 1),
]


def _describe(out: torch.Tensor, x: torch.Tensor) -> tuple:
    """What eager defines for a returned tensor: values, autograd metadata, whether it is a view
    of the input's storage, whether an in-place op on it raises (a no_grad view), the input's grad."""
    meta = (out.detach().clone(), out.is_leaf, out.requires_grad, out.grad_fn is None, out._is_view(),
            out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr())
    try:
        out.clone().mul_(1)            # (a clone: no error; the view itself below)
        with torch.enable_grad():
            out.mul_(1)
        inplace = "ok"
    except RuntimeError as e:
        inplace = str(e).split(".")[0]
    grad = None
    if out.grad_fn is not None:
        x.grad = None
        out.float().sum().backward(retain_graph=True)
        grad = x.grad
    return (*meta, inplace, grad)


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        (torch.equal(p, q) if isinstance(p, torch.Tensor) and isinstance(q, torch.Tensor) else p == q)
        for p, q in zip(a, b))


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0].__name__)
def test_returned_view_keeps_eager_autograd_metadata(case, backend):
    fn, grad_mode, captures, graphs = case
    compiled = bytegraph.compile(fn, backend=backend)
    for call in range(3):
        runs = []
        for f in (fn, compiled):
            torch.manual_seed(call)
            x = torch.randn(4, 3, requires_grad=True)
            with torch.set_grad_enabled(grad_mode):
                outs = f(x)
            runs.append([_describe(o, x) for o in outs])
        for i, (want, got) in enumerate(zip(*runs)):
            assert _same(want, got), (call, i, want, got)
    stats = compiled.stats_all
    assert len(stats) == captures and sum(s.graphs for s in stats) == graphs, stats
    assert all(s.recompiles == 0 and s.eager_reasons == [] for s in stats), stats


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_one_view_returned_twice_stays_one_tensor(backend):
    def f(x):
        y = x * 2
        with torch.no_grad():
            v = x.view(-1)
        return v, [v, y], {"v": v}

    compiled = bytegraph.compile(f, backend=backend)
    for call in range(3):
        x = torch.randn(3, 2, requires_grad=True)
        want, got = f(x), compiled(x)
        assert got[0] is got[1][0] is got[2]["v"]
        assert _same(_describe(got[0], x), _describe(want[0], x))
    assert compiled.stats.graphs == 1 and compiled.stats.recompiles == 0, compiled.stats


LINEAR = torch.nn.Linear(3, 3)


def write_in_no_grad_then_linear(x, v):     # fuzz seed 85: the graph starts under no_grad
    with torch.no_grad():
        x.add_(1)
    return LINEAR(v), x * 2                 # (Linear on a 1-D input returns a view)


def test_a_view_already_made_in_its_own_mode_is_not_remade():
    """The graph starts in no_grad (its first op is the write), so the Linear output is a view made
    in another mode than the graph's; the eager backend made it right already, and remaking it
    gave ``AsStridedBackward0`` where eager prints ``ViewBackward0`` in the tensor's repr. (An
    AOTAutograd backend returns it as its own tensor, not a view, with or without this.)"""
    compiled = bytegraph.compile(write_in_no_grad_then_linear, backend="eager")
    for call in range(3):
        runs = []
        for f in (write_in_no_grad_then_linear, compiled):
            torch.manual_seed(call)
            x, v = torch.randn(2, 3), torch.randn(3)
            out, y = f(x, v)
            name = type(out.grad_fn).__name__
            runs.append((_describe(out, v), name, torch.equal(y, x * 2)))
        want, got = runs
        assert _same(want[0], got[0]) and want[2] and got[2], (call, want, got)
        assert got[1] == want[1], (call, want, got)        # torch 2.13: ViewBackward0 (2.15: not a view)
    assert compiled.stats.graphs == 1 and compiled.stats.recompiles == 0, compiled.stats


def no_grad_view_written_across_break(x, y):    # called under no_grad; fuzz seeds 398, 5368, ...
    v = y.t()
    v.mul_(2)
    _break()
    return v * 3, x + 1


def test_a_view_whose_history_autograd_refuses_to_read_runs_eagerly_without_a_warning():
    """``y.t()`` made under no_grad from a leaf that requires grad, then written in place: autograd
    refuses to read the view's history (``grad_fn`` and ``is_leaf`` raise), and faking it as the
    resume function's input raised inside the compiler (an internal fallback with a warning).
    The builder now names it a GB005 break: the resume function runs eagerly, quietly, the
    first graph stays, and the program's result and its write to ``y`` are eager's."""
    compiled = bytegraph.compile(no_grad_view_written_across_break, backend="eager")
    for call in range(3):
        runs = []
        for f in (no_grad_view_written_across_break, compiled):
            torch.manual_seed(call)
            x, y = torch.randn(2, 3), torch.randn(3, 2, requires_grad=True)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("error")
                outs = f(x, y)
            runs.append((*outs, y.detach()))
        assert all(torch.equal(a, b) for a, b in zip(*runs)), call
    first, resume = compiled.stats_all
    assert first.graphs == 1 and first.recompiles == 0, first
    assert resume.graphs == 0 and len(resume.eager_reasons) == 1, resume
    assert "GB005" in resume.eager_reasons[0] and "history" in resume.eager_reasons[0], resume
