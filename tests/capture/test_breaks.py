"""Graph breaks: code bytegraph cannot put in a graph. Without fullgraph the graph before
the break is compiled, the unsupported instruction runs natively and capture resumes after
it in a resume function (``stats.break_reasons`` names the break id and the user's line;
nothing runs eagerly as a whole); with ``fullgraph=True`` the call raises CompileError.
"""

import inspect
import os
import time

import pytest
import torch

import bytegraph
from bytegraph.testing import same

FILE = os.path.basename(__file__)


def _line(fn, text):
    """The line number of the first source line of ``fn`` containing ``text``."""
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, ln in enumerate(lines) if text in ln)


def _check_break(counter, fn, make_args, break_id, text, graphs, calls=3, where=None):
    """Run ``fn`` compiled, compare with eager, and check it broke once at ``text`` (a line of
    ``where``, by default of ``fn``), resumed, and compiled ``graphs`` graphs in all."""
    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(calls):
        args = make_args()
        assert same(cf(*args), fn(*args))
    assert cf.stats.captures == 1 and cf.stats.eager == 0 and cf.stats.recompiles == 0
    assert all(st.eager == 0 for st in cf.stats_all), [st.eager_reasons for st in cf.stats_all]
    assert counter.frame_count == graphs
    (reason,) = cf.stats.break_reasons
    assert reason.startswith(f"graph break {break_id}:"), reason
    assert f"{FILE}:{_line(where or fn, text)} in " in reason, reason
    assert text in reason
    return cf, reason


def _check_fullgraph(fn, args, break_id, text, where=None):
    cf = bytegraph.compile(fn, backend="eager", fullgraph=True)
    for _ in range(2):                   # no entry is kept: every call raises again
        with pytest.raises(bytegraph.CompileError) as info:
            cf(*args)
    assert cf.entries == ()
    msg = str(info.value)
    assert f"graph break {break_id}" in msg
    assert f"{FILE}:{_line(where or fn, text)}" in msg
    assert text in msg
    return msg


def test_print_breaks_and_resumes(counter, capsys):
    def fn(x):
        y = x * 2
        print("value", y.shape)
        return y + 1

    _check_break(counter, fn, lambda: (torch.randn(3),), "GB009", 'print("value", y.shape)', graphs=2)
    out = capsys.readouterr().out
    assert out.count("value torch.Size([3])") == 6          # 3 compiled + 3 eager calls, each printed once


def test_branch_on_tensor_value_resumes_on_both_sides(counter):
    def fn(x):
        if x.sum() > 0:
            return x * 2
        return x - 1

    signs = iter([1.0, -1.0, 1.0, -1.0])
    # the condition's graph, then one graph per side, each compiled when first taken
    _check_break(counter, fn, lambda: (torch.rand(4) * next(signs),), "GB002", "if x.sum() > 0:", graphs=3, calls=4)


def test_item_breaks_and_resumes(counter):
    def fn(x):
        scale = x.max().item()
        return x / scale

    # x.max(), then x / scale: static for the first float, symbolic once it changed
    _check_break(counter, fn, lambda: (torch.rand(4) + 0.1,), "GB003", "scale = x.max().item()", graphs=3)


def test_tolist_breaks_and_resumes(counter):
    def fn(x):
        values = x.tolist()
        return x * len(values)

    _check_break(counter, fn, lambda: (torch.randn(3),), "GB003", "values = x.tolist()", graphs=1)


def test_int_of_tensor_breaks_and_resumes(counter):
    def fn(x):
        n = int(x.sum())
        return x * n

    _, reason = _check_break(counter, fn, lambda: (torch.full((3,), 2.0),), "GB004", "n = int(x.sum())", graphs=2)
    assert "int()" in reason


def test_formatting_a_tensor_breaks_and_resumes(counter):
    def fn(x):
        label = f"{x}"
        return x + len(label)

    # the string is a constant of the resume function (guarded by value), so keep it the same
    _check_break(counter, fn, lambda: (torch.ones(2),), "GB009", 'label = f"{x}"', graphs=1)


def test_opaque_c_function_breaks_and_resumes(counter):
    def fn(x):
        t = time.perf_counter()
        return x * 2, t > 0

    # time.perf_counter() runs natively; its float result is static, then symbolic
    _check_break(counter, fn, lambda: (torch.randn(2),), "GB004", "t = time.perf_counter()", graphs=2)


def test_id_breaks_and_resumes(counter):
    def fn(x, y):
        return x + y if id(x) != id(y) else x

    _check_break(counter, fn, lambda: (torch.randn(2), torch.randn(2)), "GB004", "return x + y if id(x) != id(y)",
                 graphs=2)


def test_manual_seed_breaks_naming_the_call(counter):
    def fn(x):
        torch.manual_seed(0)
        return x + torch.rand(3)

    _, reason = _check_break(counter, fn, lambda: (torch.randn(3),), "GB004", "torch.manual_seed(0)", graphs=1)
    assert "manual_seed" in reason and "changes global state" in reason


def test_exception_raised_and_caught_while_tracing_is_captured(counter):
    """The translator follows the exception table: the except branch is traced, no break."""
    def fn(x, d):
        try:
            v = d["k"]
        except KeyError:
            v = 1
        return x * v

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        assert same(cf(x, {}), fn(x, {}))
    assert cf.stats.eager_reasons == []
    assert counter.frame_count == 1 and cf.stats.recompiles == 0
    d = {"k": 3}
    assert same(cf(torch.ones(2), d), fn(torch.ones(2), d))
    assert counter.frame_count == 2 and cf.stats.recompiles == 1


def test_break_in_inlined_function_names_both_frames(counter):
    def inner(t):
        return t.item()

    def fn(x):
        return x * inner(x.sum())

    # fn: x.sum(); inner through its own wrapper: breaks at .item() (nothing before it to
    # compile), resumes with a float return; then fn's resume: x * <float> (static, then symbolic)
    cf, reason = _check_break(counter, fn, lambda: (torch.randn(3),), "GB003", "return t.item()", graphs=3,
                              where=inner)
    assert f"called from {FILE}:{_line(fn, 'return x * inner(x.sum())')} in " in reason


def test_broken_frame_is_still_guarded(counter):
    def fn(x):
        if x.sum() > 0:
            return x * 2
        return x - 1

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    for n in (3, 3, 4, 4):
        x = torch.ones(n)
        assert same(cf(x), fn(x))
    assert cf.stats.captures == 2 and cf.stats.eager == 0 and cf.stats.recompiles == 1
    assert "size mismatch" in cf.stats.recompile_reasons[0]
    assert counter.frame_count == 4      # per size: the condition's graph and the taken side's


def test_break_in_module_forward_resumes(counter):
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 3)

        def forward(self, x):
            y = self.lin(x)
            if y.mean() > 0:
                return y
            return -y

    model = M()
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 3)
        assert same(cm(x), model(x))
    assert cm.stats.eager == 0 and cm.stats.recompiles == 0
    assert counter.frame_count >= 2      # the root's call of forward through its wrapper, forward's graphs
    reason = cm._bytegraph.stats.break_reasons[0]
    assert reason.startswith("graph break GB002")
    assert f"{FILE}:{_line(M.forward, 'if y.mean() > 0:')} in " in reason


def test_no_warning_for_a_graph_break(counter, recwarn):
    def fn(x):
        print(end="")
        return x + 1

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        x = torch.randn(2)
        assert same(cf(x), fn(x))
    assert len(cf.stats.break_reasons) == 1
    assert not [w for w in recwarn if "bytegraph" in str(w.message)]   # a break is not an internal error


# -- fullgraph=True ---------------------------------------------------------------------------------
def test_fullgraph_print_raises():
    def fn(x):
        print(x.shape)
        return x

    _check_fullgraph(fn, (torch.randn(2),), "GB009", "print(x.shape)")


def test_fullgraph_data_dependent_branch_raises():
    def fn(x):
        if (x > 0).all():
            return x
        return -x

    msg = _check_fullgraph(fn, (torch.randn(2),), "GB002", "if (x > 0).all():")
    assert "fullgraph=True" in msg and "fix:" in msg


def test_fullgraph_item_in_inlined_function_raises():
    def inner(t):
        return t.item() * 2

    def fn(x):
        return x + inner(x.max())

    msg = _check_fullgraph(fn, (torch.randn(3),), "GB003", "return t.item() * 2", where=inner)
    assert f"called from {FILE}:{_line(fn, 'return x + inner(x.max())')}" in msg


def test_fullgraph_raises_on_every_call_and_keeps_no_entry():
    def fn(x):
        return x * x.sum().item()

    cf = bytegraph.compile(fn, backend="eager", fullgraph=True)
    for _ in range(2):
        with pytest.raises(bytegraph.CompileError):
            cf(torch.randn(2))
    assert cf.entries == ()


def test_fullgraph_does_not_affect_a_capturable_function(counter):
    def fn(x):
        return torch.relu(x) + 1

    cf = bytegraph.compile(fn, backend=counter, fullgraph=True)
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    assert counter.frame_count == 1 and counter.op_count == 2 and cf.stats.recompiles == 0
