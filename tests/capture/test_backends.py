"""Backends (issue #6), inference: every program runs with ``"eager"``, ``"aot_eager"``,
``"inductor"`` and a user's callable backend (``Recorder``, conftest.py), and matches eager.

A callable backend is handed what torch.compile hands it: the fx graph, real example inputs
(parameters are the module's own objects), inside a TracingContext whose fake mode shares the
ShapeEnv of the placeholders' fake tensors, and symbolic sizes once a dimension varied.
``mode=``/``options=`` reach Inductor exactly as torch.compile passes them.

Inductor compiles take seconds each (the Inductor cases of test_backends, test_training and
test_grad_modes take about a minute on 2 cores with a cold cache): they are few and small.
"""

import pytest
import torch
import torch._dynamo
from torch._guards import TracingContext
from torch._subclasses.fake_tensor import FakeTensor

import bytegraph
from bytegraph.demo import MLP, GPTBlock
from bytegraph.guards import GuardKind



def _fn(x, w, b):
    h = torch.tanh(x @ w + b)
    return torch.softmax(h, -1) * 2 - h.mean()


def test_function(backend):
    cf = bytegraph.compile(_fn, backend=backend.arg)
    w, b = torch.randn(8, 6), torch.randn(6)
    for _ in range(3):
        x = torch.randn(4, 8)
        assert backend.close(cf(x, w, b), _fn(x, w, b))
    backend.assert_graphs(cf, 1)


def test_module(backend):
    model = MLP()
    cm = bytegraph.compile(model, backend=backend.arg)
    for _ in range(3):
        x = torch.randn(4, 16)
        out, ref = cm(x), model(x)
        assert backend.close(out, ref) and out.requires_grad and ref.requires_grad
    # Parameters are graph inputs, not constants: a new weight value is used without recompiling.
    with torch.no_grad():
        model.fc1.weight.mul_(-0.5)
    x = torch.randn(4, 16)
    assert backend.close(cm(x), model(x))
    backend.assert_graphs(cm, 1)


def test_gpt_block_inference(backend):
    model = GPTBlock().eval()
    cm = bytegraph.compile(model, backend=backend.arg)
    with torch.no_grad():
        for _ in range(3):
            x = torch.randn(2, 8, 64)
            out, ref = cm(x), model(x)
            assert backend.close(out, ref) and not out.requires_grad
    backend.assert_graphs(cm, 1)


# --------------------------------------------------------------------------- what a backend receives

def test_callable_backend_gets_real_inputs_in_a_tracing_context(recorder):
    model = MLP()
    cm = bytegraph.compile(model, backend=recorder)
    x = torch.randn(4, 16)
    assert torch.equal(cm(x), model(x))
    assert len(recorder.calls) == 1 and cm.stats.captures == 1
    got = recorder.calls[0]
    assert got.op_count() == 3                                      # linear, relu, linear
    # Real tensors: the call's input and the module's own parameter objects.
    assert all(type(e) in (torch.Tensor, torch.nn.Parameter) for e in got.example_inputs)
    assert got.example_inputs[0] is x
    assert {id(e) for e in got.example_inputs[1:]} == {id(p) for p in model.parameters()}
    # Fake placeholders, under the tracing context's ShapeEnv; backends find its fake mode.
    fakes = got.placeholder_values()
    assert len(fakes) == 5 and all(isinstance(f, FakeTensor) for f in fakes)
    assert got.tracing is not None and got.tracing.fake_mode is not None
    assert all(f.fake_mode.shape_env is got.tracing.fake_mode.shape_env for f in fakes)
    assert got.detected_fake_mode is got.tracing.fake_mode
    assert [f.shape for f in fakes] == [e.shape for e in got.example_inputs]
    assert got.grad_enabled
    assert TracingContext.try_get() is None                          # only while compiling


def test_callable_backend_gets_symbolic_sizes_after_a_dynamic_recompile(recorder):
    def fn(x, w):
        return torch.relu(x @ w) * x.shape[0]

    cf = bytegraph.compile(fn, backend=recorder)
    w = torch.randn(3, 4)
    for batch in (2, 3, 5, 7):
        x = torch.randn(batch, 3)
        assert torch.equal(cf(x, w), fn(x, w))
    assert len(recorder.calls) == 2 and cf.stats.captures == 2 and cf.stats.recompiles == 1
    static, dynamic = recorder.calls
    assert all(isinstance(d, int) for f in static.placeholder_values() for d in f.shape)
    fx, fw = dynamic.placeholder_values()
    assert isinstance(fx, FakeTensor) and isinstance(fx.shape[0], torch.SymInt) and fx.shape[1] == 3
    assert fx.shape[0].node.hint == 3                                  # the recompiling call's size
    assert all(isinstance(d, int) for d in fw.shape)                  # w never changed
    assert fx.fake_mode.shape_env is dynamic.tracing.fake_mode.shape_env
    assert [tuple(e.shape) for e in dynamic.example_inputs] == [(3, 3), (3, 4)]    # real, this call's
    assert not any(isinstance(e, FakeTensor) for e in dynamic.example_inputs)


def test_callable_backend_with_dynamic_true(recorder):
    def fn(x, n):
        return x * n + x.shape[0]

    cf = bytegraph.compile(fn, backend=recorder, dynamic=True)
    for size, n in ((4, 2), (6, 3), (9, 5)):
        x = torch.randn(size)
        assert torch.equal(cf(x, n), fn(x, n))
    assert len(recorder.calls) == 1 and cf.stats.captures == 1
    fx, fn_ = recorder.calls[0].placeholder_values()
    assert isinstance(fx.shape[0], torch.SymInt) and isinstance(fn_, torch.SymInt)
    # the int's SymInt, as torch.compile hands it (a real int would be re-symbolized by AOTAutograd,
    # which specializes 0 and 1): test_dynamic_int_examples.py
    n_example = recorder.calls[0].example_inputs[1]
    assert isinstance(n_example, torch.SymInt) and n_example.node.hint == 2


def test_callable_backend_sees_what_torch_compile_shows_it(recorder):
    """The same backend under torch.compile and bytegraph: one graph each, the same ops, real
    inputs, an active tracing context."""
    model = MLP()
    x = torch.randn(4, 16)
    bytegraph.compile(model, backend=recorder)(x)
    torch._dynamo.reset()
    try:
        torch.compile(model, backend=recorder)(x)
    finally:
        torch._dynamo.reset()
    ours, theirs = recorder.calls
    assert ours.op_count() == theirs.op_count() == 3
    assert len(ours.example_inputs) == len(theirs.example_inputs) == 5
    for got in (ours, theirs):
        assert got.tracing is not None and not any(isinstance(e, FakeTensor) for e in got.example_inputs)
        assert all(isinstance(f, FakeTensor) for f in got.placeholder_values())


# --------------------------------------------------------------------------- Inductor: dynamic shapes

def test_inductor_dynamic_batch_compiles_twice():
    model = MLP()
    cm = bytegraph.compile(model, backend="inductor")
    with torch.no_grad():
        for batch in (2, 3, 5, 8, 3, 17):
            x = torch.randn(batch, 16)
            assert torch.allclose(cm(x), model(x), rtol=1e-4, atol=1e-5)
    assert (cm.stats.captures, cm.stats.graphs, cm.stats.recompiles) == (2, 2, 1)
    assert "size mismatch" in cm.stats.recompile_reasons[0]
    dynamic = cm.entries[0]
    assert any(g.kind is GuardKind.SHAPE_ENV for g in dynamic.guards.guards)
    x_fake = next(n for n in dynamic.graph.graph.nodes if n.op == "placeholder").meta["example_value"]
    assert isinstance(x_fake.shape[0], torch.SymInt)


def test_inductor_gpt_block_dynamic_sequence_length():
    model = GPTBlock().eval()
    cm = bytegraph.compile(model, backend="inductor")
    with torch.no_grad():
        for length in (8, 12, 5, 16):
            x = torch.randn(2, length, 64)
            assert torch.allclose(cm(x), model(x), rtol=1e-4, atol=1e-5)
    assert (cm.stats.captures, cm.stats.graphs, cm.stats.recompiles) == (2, 2, 1)


# --------------------------------------------------------------------------- mode= and options=

@pytest.fixture
def inductor_spy(monkeypatch):
    """Replace Inductor's compile_fx (what torch's Inductor wrapper calls) by a spy that keeps
    the config patches it is given and runs the graph as Python: no Inductor compile."""
    seen = []

    def spy(gm, example_inputs, config_patches=None, **kwargs):
        seen.append(dict(config_patches or {}))
        return gm.forward

    monkeypatch.setattr(torch._inductor.compile_fx, "compile_fx", spy)
    return seen


@pytest.mark.parametrize("how", [dict(), dict(mode="default"), dict(mode="max-autotune-no-cudagraphs"),
                                 dict(options={"epilogue_fusion": False}),
                                 dict(options={"epilogue-fusion": False, "max_autotune": True})],
                         ids=["none", "default", "max-autotune-no-cudagraphs", "options", "options2"])
def test_mode_and_options_reach_inductor_as_torch_compile_passes_them(inductor_spy, how):
    x = torch.randn(4, 8)
    w, b = torch.randn(8, 6), torch.randn(6)
    cf = bytegraph.compile(_fn, backend="inductor", **how)
    assert torch.equal(cf(x, w, b), _fn(x, w, b))
    assert cf.stats.captures == cf.stats.graphs == 1
    torch._dynamo.reset()
    try:
        torch.compile(_fn, backend="inductor", **how)(x, w, b)
    finally:
        torch._dynamo.reset()
    ours, theirs = inductor_spy
    assert ours == theirs


def test_options_compile_with_inductor():
    cf = bytegraph.compile(_fn, backend="inductor", options={"epilogue_fusion": False})
    w, b = torch.randn(8, 6), torch.randn(6)
    for _ in range(2):
        x = torch.randn(4, 8)
        assert torch.allclose(cf(x, w, b), _fn(x, w, b), rtol=1e-4, atol=1e-5)
    assert (cf.stats.captures, cf.stats.graphs, cf.stats.recompiles) == (1, 1, 0)


@pytest.mark.parametrize("how", [dict(mode="max-autotune"), dict(options={"epilogue_fusion": False})])
def test_mode_and_options_rejected_for_a_callable_backend(recorder, how):
    with pytest.raises(ValueError, match="callable backend takes its own configuration"):
        bytegraph.compile(_fn, backend=recorder, **how)


def test_unknown_mode_or_option_fails_at_compile_like_torch_compile():
    with pytest.raises(RuntimeError, match="Unrecognized mode=fastest"):
        bytegraph.compile(_fn, backend="inductor", mode="fastest")
    with pytest.raises(RuntimeError, match="Unexpected optimization option no_such_option"):
        bytegraph.compile(_fn, backend="inductor", options={"no_such_option": 1})


def test_mode_together_with_options_rejected_like_torch_compile():
    with pytest.raises(RuntimeError, match="Either mode or options"):
        torch.compile(_fn, backend="inductor", mode="default", options={"epilogue_fusion": False})
    with pytest.raises(RuntimeError, match="Either mode or options"):
        bytegraph.compile(_fn, backend="inductor", mode="default", options={"epilogue_fusion": False})


def test_unknown_backend_name():
    with pytest.raises(ValueError, match="unknown backend 'no_such_backend'.*aot_eager"):
        bytegraph.compile(_fn, backend="no_such_backend")


# --------------------------------------------------------------------------- float inputs

@pytest.mark.parametrize("backend_name", ["aot_eager", "inductor"])
def test_varying_float_inputs_are_float64_tensors_for_aot_backends(backend_name):
    """AOTAutograd-based backends take a float only as a tensor: bytegraph passes it as a 0-d
    float64 tensor (torch.compile's "tensorify"), so after one recompile every new value reuses
    the graph, across a graph break too (the resume function's float input is the same). A float
    computed from it and returned (``k * 2``) is eager's Python float."""
    def fn(x, k):
        y = x * k
        print(end="")                 # the resume function gets k too
        return y + k, k * 2

    cf = bytegraph.compile(fn, backend=backend_name)
    x = torch.ones(3)
    for k in (2.5, 4.5, 4.5, -3.0, 7.25):
        (a, b), (c, d) = cf(x, k), fn(x, k)
        assert torch.equal(a, c) and b == d and type(b) is float
    assert all(st.eager == 0 for st in cf.stats_all)
    assert [st.captures for st in cf.stats_all] == [2, 2]    # the frame and its resume function
    assert cf.stats.recompile_reasons == ["L['k']: expected EQUALS_MATCH 2.5, got 4.5 (guard from builder rule 'literal')"]


def test_a_backend_that_runs_the_graph_as_python_keeps_floats_symbolic(recorder):
    def fn(x, k):
        return x * k

    recorder.symbolic_floats = True
    cf = bytegraph.compile(fn, backend=recorder)
    for k in (2.5, 4.5, -3.0):
        assert torch.equal(cf(torch.ones(2), k), torch.full((2,), k))
    assert cf.stats.captures == 2                     # constant, then symbolic once it changed
    assert isinstance(recorder.calls[-1].placeholder_values()[1], torch.SymFloat)
