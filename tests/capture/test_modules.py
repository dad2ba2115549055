"""nn.Modules compiled with ``bytegraph.compile(module)``: standard layers and containers,
custom modules with submodules, buffers and attributes. Parameters stay the original's;
changing module state the graph depends on (training flag, attributes) recompiles."""

import copy

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.testing import same


def _placeholders(gm):
    return [n.name for n in gm.graph.nodes if n.op == "placeholder"]


def test_linear(counter):
    model = nn.Linear(4, 3)
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 4)
        assert same(cm(x), model(x))
    assert counter.frame_count == 1 and counter.op_count == 1
    assert cm.stats.recompiles == 0
    assert len(_placeholders(counter.graphs[0])) == 3      # x, weight, bias


def test_sequential_mlp(counter):
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 2), nn.Softmax(-1))
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(5, 4)
        assert same(cm(x), model(x))
    assert counter.frame_count == 1 and counter.op_count == 5
    assert cm.stats.recompiles == 0


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim * 2), nn.ReLU(), nn.Linear(dim * 2, dim))

    def forward(self, x):
        return x + self.ff(self.norm(x))


class Stack(nn.Module):
    def __init__(self, dim=6, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        self.heads = nn.ModuleDict({"a": nn.Linear(dim, 2), "b": nn.Linear(dim, 3)})
        self.register_buffer("center", torch.randn(dim))
        self.scale = 0.5
        self.mode = "sum"

    def forward(self, x):
        x = x - self.center
        for block in self.blocks:
            x = block(x)
        outs = {name: head(x) * self.scale for name, head in self.heads.items()}
        if self.mode == "sum":
            return outs["a"].sum(-1) + outs["b"].sum(-1)
        return outs


def test_nested_submodules_module_list_and_dict(counter):
    model = Stack()
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(4, 6)
        assert same(cm(x), model(x))
    assert counter.frame_count == 1 and cm.stats.recompiles == 0
    assert counter.op_count == 1 + 3 * 5 + 2 * 2 + 3


def test_module_list_indexing_and_len(counter):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(4)])

        def forward(self, x):
            for i in range(len(self.layers) - 1):
                x = self.layers[i](x).relu()
            return self.layers[-1](x) + self.layers[0].bias

    model = M()
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 3)
        assert same(cm(x), model(x))
    assert counter.frame_count == 1 and counter.op_count == 8
    assert cm.stats.recompiles == 0


def test_buffers_are_graph_inputs_and_follow_updates(counter):
    model = Stack()
    cm = bytegraph.compile(model, backend=counter)
    x = torch.randn(4, 6)
    assert same(cm(x), model(x))
    model.center.add_(1.0)                      # in-place: same tensor, same metadata
    assert same(cm(x), model(x))
    model.center = torch.randn(6)               # rebinding a buffer to a new tensor of the same spec
    assert same(cm(x), model(x))
    assert counter.frame_count == 1 and cm.stats.recompiles == 0
    assert any("_buffers_center" in p for p in _placeholders(counter.graphs[0]))


def test_parameters_are_shared_with_the_original(counter):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    cm = bytegraph.compile(model, backend=counter)
    assert [p is q for p, q in zip(cm.parameters(), model.parameters())] == [True] * 4
    assert set(cm.state_dict()) == {"_orig_mod." + k for k in model.state_dict()}
    x = torch.randn(2, 3)
    before = cm(x)
    with torch.no_grad():
        for p in cm.parameters():
            p.mul_(2)
    after = cm(x)
    assert same(after, model(x)) and not same(after, before)
    assert counter.frame_count == 1 and cm.stats.recompiles == 0


def test_gradients_flow_to_original_parameters(counter):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    ref = copy.deepcopy(model)
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(5, 3)
        out, expected = cm(x), ref(x)
        assert same(out, expected)
        out.sum().backward()
        expected.sum().backward()
        for p, q in zip(model.parameters(), ref.parameters()):
            assert same(p.grad, q.grad)
    assert counter.frame_count == 1 and cm.stats.recompiles == 0


def test_train_eval_flag_recompiles(counter):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    ref = copy.deepcopy(model)
    cm = bytegraph.compile(model, backend=counter)
    for training in (True, True, False, False, True):
        model.train(training)
        ref.train(training)
        x = torch.randn(8, 4)
        torch.manual_seed(1)
        out = cm(x)
        torch.manual_seed(1)
        assert same(out, ref(x))
        assert same(model[2].running_mean, ref[2].running_mean)      # buffer updates happen in training
    assert counter.frame_count == 2
    assert cm.stats.recompiles == 1
    assert "training" in cm.stats.recompile_reasons[0]


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.factor = 2
        self.shift = 0.25
        self.act = "relu"

    def forward(self, x):
        y = self.lin(x) * self.factor + self.shift
        return y.relu() if self.act == "relu" else y.tanh()


@pytest.mark.parametrize("attr,value", [("factor", 3), ("shift", -1.0), ("act", "tanh")])
def test_module_attribute_change_recompiles(counter, attr, value):
    model = Scaled()
    cm = bytegraph.compile(model, backend=counter)
    x = torch.randn(2, 3)
    for _ in range(2):
        assert same(cm(x), model(x))
    setattr(model, attr, value)
    for _ in range(2):
        x = torch.randn(2, 3)
        assert same(cm(x), model(x))
    assert counter.frame_count == 2
    assert cm.stats.recompiles == 1
    assert f"L['module'].{attr}" in cm.stats.recompile_reasons[0]


def test_unused_module_attribute_change_does_not_recompile(counter):
    model = Scaled()
    model.note = "unused"
    cm = bytegraph.compile(model, backend=counter)
    for i in range(3):
        model.note = f"changed {i}"
        x = torch.randn(2, 3)
        assert same(cm(x), model(x))
    assert counter.frame_count == 1 and cm.stats.recompiles == 0


def test_submodule_replaced_recompiles(counter):
    model = Scaled()
    cm = bytegraph.compile(model, backend=counter)
    x = torch.randn(2, 3)
    assert same(cm(x), model(x))
    model.lin = nn.Linear(3, 3, bias=False)
    assert same(cm(x), model(x))
    assert same(cm(x), model(x))
    assert counter.frame_count == 2 and cm.stats.recompiles == 1


def test_tied_parameters(counter):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.out = nn.Linear(4, 10, bias=False)
            self.out.weight = self.emb.weight

        def forward(self, idx):
            return self.out(self.emb(idx))

    model = Tied()
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        idx = torch.randint(0, 10, (3,))
        assert same(cm(idx), model(idx))
    assert counter.frame_count == 1 and counter.op_count == 2
    assert cm.stats.recompiles == 0
    assert len(_placeholders(counter.graphs[0])) == 2            # idx and the one shared weight


def test_conv_net(counter):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 1, 8, 8)
        assert same(cm(x), model(x))
    assert counter.frame_count == 1 and counter.op_count == 6
    assert cm.stats.recompiles == 0


def test_module_forward_with_keyword_arguments_and_helper_method(counter):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def _gate(self, x, temperature):
            return torch.sigmoid(x / temperature)

        def forward(self, x, mask=None, temperature=1.0):
            h = self.proj(x) * self._gate(x, temperature)
            if mask is not None:
                h = h.masked_fill(mask, 0.0)
            return h

    model = M()
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 4)
        mask = torch.rand(2, 4) > 0.5
        assert same(cm(x, mask=mask, temperature=2.0), model(x, mask=mask, temperature=2.0))
    assert counter.frame_count == 1 and counter.op_count == 5
    assert cm.stats.recompiles == 0


def test_multi_head_attention_module(counter):
    model = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        q = torch.randn(2, 5, 8)
        assert same(cm(q, q, q), model(q, q, q))
    assert counter.frame_count == 1 and cm.stats.recompiles == 0
    assert counter.op_count >= 1


def test_forward_hook_runs_and_is_guarded(counter):
    model = Scaled()
    cm = bytegraph.compile(model, backend=counter)
    x = torch.randn(2, 3)
    assert same(cm(x), model(x))
    handle = model.register_forward_hook(lambda mod, inp, out: out * 10)
    try:
        for _ in range(2):
            assert same(cm(x), model(x))
    finally:
        handle.remove()
    assert same(cm(x), model(x))
    assert cm.stats.recompiles == 1
    assert "hook" in cm.stats.recompile_reasons[0]
    assert cm.stats.captures == 2 and len(cm.entries) == 2
    assert counter.frame_count == 2 and cm.stats.eager == 0      # the hook is traced into the second graph
