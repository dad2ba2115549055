"""HuggingFace transformers models built from small configs (random weights, no downloads):
one graph on the first call, outputs equal to eager, no recompile for new values, at most one
recompile for a new sequence length; training models give eager's gradients in one graph.

Training covers every model of ``zoo.TRAINING``; those not in ``_FAST_TRAINING`` repeat a
kind of layer already covered and are ``slow`` (``make test-slow``) to keep ``make test``
short on a small box."""

import pytest
import torch

import bytegraph
from bytegraph.testing import CompileCounter, same

transformers = pytest.importorskip("transformers")
from bytegraph.zoo import TRAINING, ZOO, build  # noqa: E402


def _all_stats(compiled):
    return compiled._bytegraph.stats_all


def _first(out):
    return out[0] if not isinstance(out, torch.Tensor) else out


@pytest.mark.parametrize("name", sorted(ZOO))
def test_one_graph_matching_eager(name):
    model, make_inputs = build(name)
    counter = CompileCounter()
    compiled = bytegraph.compile(model, backend=counter)
    with torch.no_grad():
        for _ in range(2):                               # second call: new values, same shapes
            inputs = make_inputs(16)
            assert same(_first(compiled(**inputs)), _first(model(**inputs)), rtol=1e-4, atol=1e-5)
        assert counter.frame_count == 1, [r for st in _all_stats(compiled) for r in st.break_reasons + st.eager_reasons]
        assert all(st.eager == 0 and not st.break_reasons for st in _all_stats(compiled))
        assert compiled.stats.captures == 1
        if ZOO[name].inputs != "pixels":                 # a new sequence length: at most one recompile
            for seq_len in (12, 9):
                inputs = make_inputs(seq_len)
                assert same(_first(compiled(**inputs)), _first(model(**inputs)), rtol=1e-4, atol=1e-5)
            assert compiled.stats.captures <= 2 and counter.frame_count <= 2


# one per kind of decoder layer (dense, sliding window + softcapping, mixture of experts,
# parallel attention) and both encoders; the others are `slow`
_FAST_TRAINING = {"gpt2", "llama", "gemma2", "qwen3_moe", "phi", "bert", "deberta-v2"}
TRAINING_CASES = [pytest.param(name, head, marks=() if name in _FAST_TRAINING else pytest.mark.slow)
                  for name, head in TRAINING]


@pytest.mark.parametrize("name,head", TRAINING_CASES)
def test_training_gradients_equal_eager(name, head):
    model, make_inputs = build(name, head)
    model.train()
    counter = CompileCounter()
    compiled = bytegraph.compile(model, backend=counter)
    for _ in range(2):
        ids = make_inputs(12)["input_ids"]
        model.zero_grad()
        loss = compiled(input_ids=ids, labels=ids).loss
        loss.backward()
        ours = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad()
        ref = model(input_ids=ids, labels=ids).loss
        ref.backward()
        theirs = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        assert same(loss, ref, rtol=1e-5, atol=1e-6)
        assert ours.keys() == theirs.keys() and ours
        assert all(same(ours[k], theirs[k], rtol=1e-4, atol=1e-5) for k in ours)
    assert counter.frame_count == 1 and compiled.stats.captures == 1
