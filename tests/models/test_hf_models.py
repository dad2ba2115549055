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


# generation with the KV cache through a compiled forward, as a serving loop runs it: every mode on
# one decoder, and one more cache layout each (sliding window with a hybrid cache, mixture of
# experts); the others are `slow`
_FAST_GENERATE = {("gpt2", "greedy"), ("gpt2", "beam"), ("gpt2", "sample"), ("gemma2", "greedy"),
                  ("gemma2", "static"), ("qwen3_moe", "beam")}
_MODES = {"greedy": {}, "beam": {"num_beams": 2}, "sample": {"do_sample": True, "top_k": 5, "temperature": 0.7},
          "static": {"cache_implementation": "static"}}
_DECODERS = sorted(name for name, head in TRAINING if head == "causal-lm")
_GENERATE = [pytest.param(name, mode, marks=() if (name, mode) in _FAST_GENERATE else pytest.mark.slow)
             for name in _DECODERS for mode in _MODES]


@pytest.mark.parametrize("name,mode", _GENERATE)
def test_generate_through_a_compiled_forward_gives_eager_tokens(name, mode):
    """``model.forward = bytegraph.compile(model.forward)``, then ``generate``: the cache objects
    (``DynamicCache`` and its layers, or a ``StaticCache`` written with ``index_copy_``) are inputs
    read and written in place; the tokens are eager's (left padding, beams reordered, sampling
    under one seed), in as many graphs as torch.compile makes (prefill, the first step, the steps
    with a dynamic cache length; a sliding window one more; a static cache one fewer), with no
    break and nothing run eagerly."""
    import torch._dynamo

    model, _ = build(name, "causal-lm")
    model.eval()
    ids = torch.randint(3, 100, (2, 6))
    mask = torch.ones_like(ids)
    mask[0, :2] = 0

    def generate():
        torch.manual_seed(1)
        return model.generate(ids, attention_mask=mask, max_new_tokens=6, pad_token_id=0, **_MODES[mode])

    forward = model.forward
    with torch.no_grad():
        expected = generate()
        counter = CompileCounter()
        model.forward = bytegraph.compile(forward, backend=counter)
        try:
            assert torch.equal(generate(), expected) and torch.equal(generate(), expected)
            stats = model.forward.stats
            torch._dynamo.reset()
            theirs = CompileCounter()
            model.forward = torch.compile(forward, backend=theirs)
            generate()
        finally:
            model.forward = forward
            torch._dynamo.reset()
    assert not stats.break_reasons and not stats.eager_reasons, stats
    assert counter.frame_count == theirs.frame_count and 2 <= counter.frame_count <= 4, stats.recompile_reasons
