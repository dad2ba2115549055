"""The smallest end-to-end checks: one function and one module captured as one graph."""

import torch

import bytegraph
from bytegraph.testing import same


def test_function_one_graph_then_cache_hit(counter):
    def fn(x, y):
        return torch.relu(x + y) * 2

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x, y = torch.randn(3, 4), torch.randn(3, 4)
        assert same(cf(x, y), fn(x, y))
    assert counter.frame_count == 1
    assert counter.op_count == 3
    assert cf.stats.recompiles == 0


def test_module_parameters_are_graph_inputs(counter):
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    cm = bytegraph.compile(mlp, backend=counter)
    for _ in range(3):
        x = torch.randn(5, 4)
        assert same(cm(x), mlp(x))
    assert counter.frame_count == 1
    placeholders = [n.name for n in counter.graphs[0].graph.nodes if n.op == "placeholder"]
    assert any("_parameters_weight" in name for name in placeholders)
    assert cm.stats.recompiles == 0
