"""A tensor operation that fails while it is traced (on fake tensors), inside the program's own
``try``: the program catches eager's exact exception, type and message (issue 12, fuzz seed
62951: a ``.view`` of a non-contiguous input with dynamic sizes was caught as the fake kernel's
``ValueError: Cannot view a tensor with shape ...`` where eager raises ``RuntimeError: view size
is not compatible ... Use .reshape(...) instead.``).

The op is rerun on zeros with the same metadata; what eager's kernel raises there is the
program's exception, whatever its type. An error the rerun does not reproduce (it depends on
grad mode or data) is a GB022 graph break: the op runs natively and raises its own error.
"""

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def _caught(op):
    def fn(x, y):
        try:
            out = op(x, y)
        except (RuntimeError, ValueError, IndexError, TypeError) as e:
            return x + 1, type(e).__name__, str(e)
        return out * 2, "ok", ""
    return fn


def _noncontig(i):
    return torch.randn(3 + i, 2 + i).t(), torch.randn(4 + i, 5 + i)


def _contig(i):
    return torch.randn(3 + i, 4 + i), torch.randn(3 + i, 5 + i)


OPS = {   # name: (op, inputs for call i); each raises on every call
    "view of a non-contiguous tensor": (lambda x, y: x.view(-1), _noncontig),
    "expand to a wrong size": (lambda x, y: x.expand(7, 1), _contig),
    "matmul shape mismatch": (lambda x, y: x @ y, _contig),
    "index out of range": (lambda x, y: x[x.shape[0] + 3], _contig),
    "cat of mismatched shapes": (lambda x, y: torch.cat([x, y.t()], 1), _contig),
    "broadcast mismatch": (lambda x, y: x + y, _contig),
    "reshape to a wrong numel": (lambda x, y: x.reshape(-1, 5 * x.shape[0] + 1), _contig),
}


@pytest.mark.parametrize("dynamic", [None, True], ids=["automatic", "dynamic"])
@pytest.mark.parametrize("name", list(OPS))
def test_caught_error_is_eagers(counter, name, dynamic):
    """Three calls with three input sizes (the second recompiles with dynamic sizes under the
    automatic policy): each catches eager's type and message, in a graph (no break, no eager
    frame)."""
    op, inputs = OPS[name]
    fn = _caught(op)
    cf = bytegraph.compile(fn, backend=counter, dynamic=dynamic)
    for i in range(3):
        args = inputs(i)
        expected = fn(*args)
        assert expected[1] != "ok"
        got = cf(*args)
        assert same(got, expected), (got[1:], expected[1:])
    stats = cf.stats
    assert stats.eager == 0 and stats.break_reasons == [], stats
    assert stats.captures == stats.graphs == 3       # an op that raised specializes the sizes it saw (guarded)


def _inplace_on_leaf(w, x):
    try:
        w.add_(x)
    except RuntimeError as e:
        return x * 2, str(e)
    return x, ""


def test_error_the_rerun_does_not_reproduce_runs_the_op_natively(counter):
    """An in-place op on a leaf that requires grad raises only under grad mode (the rerun on
    zeros runs under no_grad and does not raise): a GB022 break, the op runs natively and the
    program catches eager's own error; the rest of the frame is still captured."""
    cf = bytegraph.compile(_inplace_on_leaf, backend=counter)
    for i in range(3):
        w, x = torch.randn(3, requires_grad=True), torch.full((3,), float(i))
        expected = _inplace_on_leaf(w, x)
        assert expected[1].startswith("a leaf Variable that requires grad")
        assert same(cf(w, x), expected)
    stats_all = cf.stats_all
    assert [len(s.break_reasons) for s in stats_all][0] == 1 and sum(s.eager for s in stats_all) == 0, stats_all
    assert stats_all[0].break_reasons[0].startswith("graph break GB022"), stats_all[0].break_reasons
    assert sum(s.graphs for s in stats_all) >= 1


def test_uncaught_error_still_raises_eagers(counter):
    """Outside a try the frame reruns eagerly: CPython raises eager's exception itself."""
    def fn(x):
        return x.view(-1) + 1

    cf = bytegraph.compile(fn, backend=counter, dynamic=True)
    for i in range(2):
        x = torch.randn(3 + i, 2).t()
        with pytest.raises(RuntimeError) as eager:
            fn(x)
        with pytest.raises(RuntimeError) as compiled:
            cf(x)
        assert str(compiled.value) == str(eager.value)
    assert cf.stats.eager == 1 and cf.stats.eager_reasons[0].startswith("the program raises RuntimeError")


# matrix ops whose fake kernels do not compare dtypes (graph/eager_checks.py); each result unused
MIXED_DTYPE_OPS = {
    "linear": lambda x, w, v: torch.nn.functional.linear(x, w, v),
    "mm": lambda x, w, v: torch.mm(x, w),
    "addmm": lambda x, w, v: torch.addmm(v, x, w),
    "addmm_bias": lambda x, w, v: torch.addmm(x[0], w, w.t()),
    "mv": lambda x, w, v: torch.mv(x, v),
    "addmv": lambda x, w, v: torch.addmv(v, x, v),
    "addmv_bias": lambda x, w, v: torch.addmv(x[0], w, v),
    "matmul": lambda x, w, v: x @ w,
}


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
@pytest.mark.parametrize("name", list(MIXED_DTYPE_OPS))
def test_dead_matrix_op_with_mixed_dtypes_raises_eagers_error(name, backend):
    """Fuzz seed 70091: an op whose result is unused is dropped by AOTAutograd, so an error only
    its eager kernel checks (operands of two dtypes) was lost. The trace raises it: the frame
    runs eagerly for those dtypes and the program sees eager's exception; same dtypes keep the graph."""
    op = MIXED_DTYPE_OPS[name]

    def fn(x, w, v):
        op(x, w, v)                  # result unused
        return x.sum() * 2

    def fn_caught(x, w, v):
        try:
            op(x, w, v)
        except RuntimeError as e:
            return str(e)
        return x.sum() * 2

    w, v = torch.randn(3, 3), torch.randn(3)
    for program in (fn, fn_caught):
        cf = bytegraph.compile(program, backend=backend)
        for dtype in (torch.float32, torch.bfloat16, torch.float32, torch.bfloat16):
            x = torch.randn(3, 3).to(dtype)
            if program is fn and dtype is torch.bfloat16:
                with pytest.raises(RuntimeError) as eager:
                    program(x, w, v)
                with pytest.raises(RuntimeError) as compiled:
                    cf(x, w, v)
                assert str(compiled.value) == str(eager.value)
            else:
                expected = program(x, w, v)
                assert same(cf(x, w, v), expected), (name, dtype)
                if program is fn_caught and dtype is torch.bfloat16:
                    assert isinstance(expected, str) and "dtype" in expected
        s = cf.stats
        assert s.captures == 2 and s.graphs >= 1 and s.recompiles == 1, (program.__name__, s)


# -- eager's memory-overlap checks of in-place pointwise ops (graph/eager_checks.py) --------------

def _overlap_cases():
    """(name, make the written-to tensor and the other from one base): each checked against eager."""
    return [
        ("unsqueezed self", lambda b: (b.unsqueeze(0), b)),
        ("transposed self", lambda b: (b.t(), b)),
        ("same tensor", lambda b: (b, b)),
        ("same view twice", lambda b: (b.view(9), b.view(9))),
        ("disjoint rows", lambda b: (b[0], b[1])),
        ("overlapping slices", lambda b: (b.view(9)[0:5], b.view(9)[3:8])),
        ("expanded output", lambda b: (b[0:1].expand(3, 3), b)),
        ("other base", lambda b: (b, b.clone())),
        ("strided, not dense", lambda b: (b.view(9)[0:8:2], b.view(9)[1::2])),
    ]


@pytest.mark.parametrize("name", [n for n, _ in _overlap_cases()])
def test_overlap_checks_agree_with_eager(name):
    """The checks on fake tensors raise exactly where eager's kernel does (also no false alarm:
    a full overlap, disjoint views, a non-dense pair are eager's to accept)."""
    from bytegraph.graph.eager_checks import _no_overlap
    from torch._subclasses.fake_tensor import FakeTensorMode

    make = dict(_overlap_cases())[name]
    try:
        out, other = make(torch.zeros(3, 3))
        out.add_(other)
        eager = None
    except RuntimeError as e:
        eager = str(e)
    with FakeTensorMode():
        out, other = make(torch.zeros(3, 3))
        try:
            _no_overlap((out, other))
            ours = None
        except RuntimeError as e:
            ours = str(e)
    assert ours == eager


def overlapping_add(x, y):
    z = x * 2                                   # (the graph's own work, so the frame has a graph)
    try:
        y.unsqueeze(0).add_(y)                  # eager: partial overlap, RuntimeError, y untouched
    except RuntimeError:
        pass
    try:
        y[0:1].expand(3, 3).add_(1)             # eager: one address written twice
    except RuntimeError:
        pass
    return z + y


def test_in_place_op_eager_refuses_for_overlap_is_not_recorded():
    """Fuzz seed 46476: recorded, the op failed in the graph and the restore of ``y`` after the
    failure moved its version counter, so a backward through a graph saved before failed."""
    lin = torch.nn.Linear(3, 3)
    compiled = bytegraph.compile(overlapping_add)
    for call in range(3):
        x = torch.randn(3, 3)
        y = torch.randn(3, 3)
        ys = [y, y.clone()]
        saved = [lin(y) for y in ys]                # autograd keeps y for the weight's gradient
        assert same(compiled(x, ys[1]), overlapping_add(x, ys[0]))
        assert ys[1]._version == ys[0]._version
        for s in saved:
            s.sum().backward()                      # fails if y's version moved
