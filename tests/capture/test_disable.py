"""torch.compiler.disable inside compiled code, and hooks registered on a compiled module."""

import pytest
import torch

import bytegraph
from bytegraph.testing import CompileCounter


@torch.compiler.disable
def _disabled_helper(t, log):
    log.append(t.shape[0])
    return t * 3


def test_a_disabled_function_runs_natively_between_two_graphs(counter):
    log_eager, log_compiled = [], []

    def f(x, log):
        y = x.sin()
        z = _disabled_helper(y, log)
        return z.cos() + 1

    compiled = bytegraph.compile(f, backend=counter)
    for n in (3, 3, 5):
        x = torch.randn(n)
        assert torch.allclose(compiled(x, log_compiled), f(x, log_eager))
    assert log_compiled == log_eager == [3, 3, 5]
    assert counter.frame_count >= 2
    assert any("GB020" in r for st in compiled.stats_all for r in st.break_reasons)


@pytest.mark.parametrize("recursive", [True, False])
def test_disable_called_while_tracing_breaks_once_at_the_call(recursive, counter):
    """FSDP2 wraps its hooks so: ``torch._dynamo.disable(fn, ...)(*args)`` made at call time."""
    seen = []

    def hook(t):
        seen.append(float(t.sum()))        # .item()-like work: must run natively, in order
        return t + 1

    def f(x):
        y = x * 2
        out = torch._dynamo.disable(hook, recursive=recursive, reason="test")(y)
        return out.relu()

    compiled = bytegraph.compile(f, backend=counter)
    for _ in range(3):
        x = torch.randn(4)
        expected = f(x)
        assert torch.allclose(compiled(x), expected)
    assert len(seen) == 6
    breaks = [r for st in compiled.stats_all for r in st.break_reasons]
    assert len(breaks) == 1 and "GB020" in breaks[0], breaks


def test_hooks_on_the_compiled_module_run():
    """A hook registered on what bytegraph.compile returned (FSDP2 shards compiled blocks so)."""
    model = torch.nn.Linear(4, 4)
    counter = CompileCounter()
    compiled = bytegraph.compile(model, backend=counter)
    calls = []
    compiled.register_forward_pre_hook(lambda mod, args: calls.append("pre"))
    handle = compiled.register_forward_hook(lambda mod, args, out: out * 2)
    x = torch.randn(2, 4)
    assert torch.allclose(compiled(x), model(x) * 2) and calls == ["pre"]
    handle.remove()
    assert torch.allclose(compiled(x), model(x)) and calls == ["pre", "pre"]
    assert counter.frame_count == 1
