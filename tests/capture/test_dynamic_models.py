"""Dynamic shapes through nn.Modules (issue #4): a GPT block over sequence lengths and batch
sizes, a small language model that slices its position table and mask by the sequence length,
LayerNorm/Linear MLPs (with gradients), nn.MultiheadAttention. Parameters and buffers keep
static shapes; the input's varying dimensions become symbolic on the recompile. Each test
compares with eager and asserts exact graph counts, and never more than torch.compile's for
the same calls (computed in the same test)."""

import math

import pytest
import torch
import torch._dynamo
from torch import nn

import bytegraph
from bytegraph.demo import GPTBlock
from bytegraph.testing import CompileCounter, same


def _run(cf, model, inputs, atol=1e-5):
    with torch.no_grad():
        for args in inputs:
            assert same(cf(*args), model(*args), atol=atol)


def _bytegraph_graphs(model, inputs, **kwargs):
    counter = CompileCounter()
    cf = bytegraph.compile(model, backend=counter, **kwargs)
    _run(cf, model, inputs)
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    return counter, cf


def _torch_graphs(model, inputs, **kwargs):
    torch._dynamo.reset()
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter, **kwargs)
    with torch.no_grad():
        for args in inputs:
            compiled(*args)
    torch._dynamo.reset()
    return counter.frame_count


def _placeholders(gm):
    return {n.name: n.meta["example_value"] for n in gm.graph.nodes if n.op == "placeholder"}


def _symbolic_dims(fake):
    return [i for i, d in enumerate(fake.shape) if isinstance(d, torch.SymInt)]


def _assert_module_state_static(gm):
    """Parameters and buffers are placeholders with static shapes; only the input is symbolic."""
    params = {k: v for k, v in _placeholders(gm).items() if "_parameters_" in k or "_buffers_" in k}
    assert params and all(_symbolic_dims(v) == [] for v in params.values())


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return GPTBlock(d_model=32, n_head=4).eval()


# -- GPT block ----------------------------------------------------------------------------------------
def test_gpt_block_four_sequence_lengths_compile_twice(gpt):
    inputs = [(torch.randn(2, t, 32),) for t in (8, 12, 16, 24)]
    counter, cf = _bytegraph_graphs(gpt, inputs)
    assert counter.frame_count == 2 and cf.stats.recompiles == 1
    assert cf.stats.recompile_reasons[0].startswith("L['args'][0]: size mismatch: expected (2, 8, 32), got (2, 12, 32)")
    gm = counter.graphs[1]
    assert _symbolic_dims(_placeholders(gm)["l_args_0_"]) == [1]       # only the sequence length
    _assert_module_state_static(gm)
    assert "2 <= args[0].size()[1]" in cf.entries[0].guards.source_code
    _run(cf, gpt, [(torch.randn(2, t, 32),) for t in (5, 40, 8)])     # 8 is served by the static entry
    assert counter.frame_count == 2
    assert counter.frame_count <= _torch_graphs(gpt, inputs)


def test_gpt_block_batch_sizes_starting_at_one(gpt):
    inputs = [(torch.randn(b, 6, 32),) for b in (1, 2, 3, 4)]
    counter, cf = _bytegraph_graphs(gpt, inputs)
    assert counter.frame_count == 2
    assert _symbolic_dims(_placeholders(counter.graphs[1])["l_args_0_"]) == [0]
    assert counter.frame_count <= _torch_graphs(gpt, inputs)


def test_gpt_block_batch_and_length_both_vary(gpt):
    inputs = [(torch.randn(b, t, 32),) for b, t in ((2, 8), (3, 12), (4, 16), (5, 9), (2, 3))]
    counter, cf = _bytegraph_graphs(gpt, inputs)
    assert counter.frame_count == 2
    assert _symbolic_dims(_placeholders(counter.graphs[1])["l_args_0_"]) == [0, 1]
    assert counter.frame_count <= _torch_graphs(gpt, inputs)


def test_gpt_block_marked_dynamic_compiles_once(gpt):
    inputs = []
    for t in (8, 12, 16, 24):
        x = torch.randn(2, t, 32)
        bytegraph.mark_dynamic(x, 1)
        inputs.append((x,))
    counter, cf = _bytegraph_graphs(gpt, inputs)
    assert counter.frame_count == 1                 # the least any compiler can do: no torch.compile run needed
    assert _symbolic_dims(_placeholders(counter.graphs[0])["l_args_0_"]) == [1]


def test_gpt_block_dynamic_true_keeps_parameters_static(gpt):
    inputs = [(torch.randn(b, t, 32),) for b, t in ((2, 8), (3, 12), (4, 16))]
    counter, cf = _bytegraph_graphs(gpt, inputs, dynamic=True)
    assert counter.frame_count == 1                 # the least any compiler can do
    _assert_module_state_static(counter.graphs[0])
    described = [g.describe() for g in cf.entries[0].guards.guards]
    # every input dimension started symbolic; the Linear layers specialized d_model to 32
    assert "TENSOR_MATCH(L['args'][0], Tensor(float32, cpu, size=[?, ?, 32], stride=[?, 32, 1]))" in described


def test_gpt_block_size_one_after_dynamic_compile(gpt):
    inputs = [(torch.randn(2, t, 32),) for t in (4, 8, 1, 16)]
    counter, cf = _bytegraph_graphs(gpt, inputs)
    assert counter.frame_count == 3
    assert cf.stats.recompile_reasons[1] == "symbolic shape guard failed: 2 <= L['args'][0].size()[1]"
    # torch.compile's count for this guard is checked in test_dynamic.py (size one after 4 and 8)
    # and in the GPT rows of benchmarks/dynamic_compiles.py: 3 as well.


# -- a small language model: embedding, position table and mask sliced by T -----------------------------
class TinyLM(nn.Module):
    def __init__(self, vocab: int = 50, d: int = 32, n_head: int = 4, max_len: int = 64) -> None:
        super().__init__()
        self.n_head = n_head
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(max_len, d) * 0.02)
        self.ln = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.head = nn.Linear(d, vocab)
        self.register_buffer("mask", torch.tril(torch.ones(max_len, max_len)).bool())

    def forward(self, idx):
        B, T = idx.shape
        x = self.emb(idx) + self.pos[:T]
        q, k, v = self.qkv(self.ln(x)).chunk(3, dim=-1)
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))
        att = att.masked_fill(~self.mask[:T, :T], float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, -1)
        return self.head(x + self.proj(y))


def test_language_model_slicing_tables_by_sequence_length():
    torch.manual_seed(0)
    model = TinyLM().eval()
    inputs = [(torch.randint(0, 50, (2, t)),) for t in (5, 9, 17, 33, 7)]
    counter, cf = _bytegraph_graphs(model, inputs)
    assert counter.frame_count == 2
    gm = counter.graphs[1]
    assert _symbolic_dims(_placeholders(gm)["l_args_0_"]) == [1]
    _assert_module_state_static(gm)
    assert counter.frame_count <= _torch_graphs(model, inputs)


# -- Linear / LayerNorm, with gradients --------------------------------------------------------------------
def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 4))


def _loss_and_grads(model, x):
    model.zero_grad()
    out = model(x)
    out.pow(2).mean().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters()]


def test_mlp_gradients_match_eager_across_batch_sizes():
    model = _mlp()
    counter = CompileCounter()
    cf = bytegraph.compile(model, backend=counter)
    for b in (3, 5, 7, 2, 11):
        x = torch.randn(b, 8)
        out, grads = _loss_and_grads(cf, x)
        ref, ref_grads = _loss_and_grads(model, x)
        assert same(out, ref) and all(same(g, r) for g, r in zip(grads, ref_grads))
    assert counter.frame_count == 2
    assert _symbolic_dims(_placeholders(counter.graphs[1])["l_args_0_"]) == [0]
    _assert_module_state_static(counter.graphs[1])
    assert counter.frame_count <= _torch_graphs(model, [(torch.randn(b, 8),) for b in (3, 5, 7, 2, 11)])


def test_mlp_mark_static_batch_recompiles_per_size():
    model = _mlp().eval()
    inputs = []
    for b in (3, 5, 7):
        x = torch.randn(b, 8)
        bytegraph.mark_static(x, 0)
        inputs.append((x,))
    counter, cf = _bytegraph_graphs(model, inputs)
    assert counter.frame_count == 3
    assert counter.frame_count <= _torch_graphs(model, inputs)


class RepeatLayer(nn.Module):
    """A module whose forward takes an int: symbolic once it changes, like any local int."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, times):
        return self.lin(x).repeat(times, 1) * times


def test_module_int_argument_becomes_symbolic():
    torch.manual_seed(0)
    model = RepeatLayer().eval()
    inputs = [(torch.randn(3, 4), n) for n in (1, 2, 3, 4, 5)]
    counter, cf = _bytegraph_graphs(model, inputs)
    assert counter.frame_count == 2
    assert isinstance(_placeholders(counter.graphs[1])["l_args_1_"], torch.SymInt)
    assert counter.frame_count <= _torch_graphs(model, inputs)


# -- nn.MultiheadAttention ----------------------------------------------------------------------------------
def test_multihead_attention_over_sequence_lengths():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 2, batch_first=True).eval()

    def attend(x):
        return mha(x, x, x, need_weights=False)[0]

    inputs = [(torch.randn(2, t, 16),) for t in (3, 5, 7, 9)]
    counter, cf = _bytegraph_graphs(attend, inputs)
    assert counter.frame_count == 2
    assert counter.frame_count <= _torch_graphs(attend, inputs)
