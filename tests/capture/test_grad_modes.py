"""Backends (issue #6): grad mode, autocast and inference mode, inside the compiled function and
around the call, behave as in eager with every backend.

Inside: ``no_grad``/``enable_grad``/``set_grad_enabled``/``autocast`` are recorded in the graph
(the backend replays them), so results have eager's dtype, requires_grad and gradients.
Around: the state at capture is guarded (GLOBAL_STATE), so calling under another state
recompiles exactly once, and returning to a seen state reuses its entry.
"""

import pytest
import torch

import bytegraph

# Cases where only the frontend's handling matters: Inductor adds a compile, not coverage.
WITHOUT_INDUCTOR = ["eager", "aot_eager", "recorder"]


def _inputs():
    return torch.randn(4, 8), torch.randn(8, 8, requires_grad=True)


def _same_results(backend, out, ref):
    outs = out if isinstance(out, tuple) else (out,)
    refs = ref if isinstance(ref, tuple) else (ref,)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        assert (o.dtype, o.requires_grad, o.is_inference()) == (r.dtype, r.requires_grad, r.is_inference())
        assert backend.close(o, r, rtol=1e-2 if o.dtype is torch.bfloat16 else 1e-4)


def _w_grad(w, out):
    sum(o.float().sum() for o in (out if isinstance(out, tuple) else (out,)) if o.requires_grad).backward()
    grad = w.grad.clone()
    w.grad = None
    return grad


def _grads_close(backend, got, ref, bf16=False):
    """Inductor fuses bf16 ops and keeps intermediates in float32 where eager rounds each op
    (torch.compile's Inductor gives the very same gradients): compare at bf16 precision."""
    if bf16 and not backend.exact:
        return torch.allclose(got, ref, rtol=2e-2, atol=2e-2 * float(ref.abs().max()))
    return backend.close(got, ref)


def _check_inside(backend, fn, graphs=1, bf16=False):
    """Results, their dtype/requires_grad and w's gradient equal eager's, over two calls."""
    cf = bytegraph.compile(fn, backend=backend.arg)
    for _ in range(2):
        x, w = _inputs()
        out, ref = cf(x, w), fn(x, w)
        _same_results(backend, out, ref)
        assert _grads_close(backend, _w_grad(w, out), _w_grad(w, ref), bf16)
    backend.assert_graphs(cf, graphs)
    assert torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu")
    return cf


# --------------------------------------------------------------------------- inside the compiled function

def test_no_grad_inside(backend):
    def fn(x, w):
        with torch.no_grad():
            frozen = x @ w
        return frozen, torch.sin(x @ w) + frozen

    _check_inside(backend, fn)


@pytest.mark.parametrize("backend", WITHOUT_INDUCTOR, indirect=True)
def test_nested_grad_modes_and_set_grad_enabled(backend):
    def fn(x, w):
        with torch.no_grad():
            a = x @ w
            with torch.enable_grad():
                b = torch.relu(x @ w)
        torch.set_grad_enabled(False)
        c = x @ w
        torch.set_grad_enabled(True)
        with torch.set_grad_enabled(False):
            d = x @ w
        return a, b, c, d, torch.tanh(x @ w)

    _check_inside(backend, fn)


@pytest.mark.parametrize("backend", WITHOUT_INDUCTOR, indirect=True)
def test_no_grad_decorated_helper_inlined(backend):
    @torch.no_grad()
    def helper(x, w):
        return x @ w

    def fn(x, w):
        return helper(x, w) * (x @ w)

    _check_inside(backend, fn)


def test_autocast_bf16_inside(backend):
    def fn(x, w):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = torch.relu(x @ w)
            with torch.autocast("cpu", enabled=False):
                z = (x @ w).exp()
        return y, z, y.float() * z

    _check_inside(backend, fn, bf16=True)


def test_enable_grad_inside_called_under_no_grad(backend):
    def fn(x, w):
        with torch.enable_grad():
            y = torch.sin(x @ w) * 2
        return y, x @ w

    cf = bytegraph.compile(fn, backend=backend.arg)
    x, w = _inputs()
    with torch.no_grad():
        out, ref = cf(x, w), fn(x, w)
    _same_results(backend, out, ref)
    assert out[0].requires_grad and not out[1].requires_grad
    assert backend.close(_w_grad(w, out), _w_grad(w, ref))
    backend.assert_graphs(cf, 1)
    _same_results(backend, cf(x, w), fn(x, w))                # grad mode on: a new state, one recompile
    backend.assert_graphs(cf, 2, recompiles=1)


@pytest.mark.parametrize("backend", WITHOUT_INDUCTOR, indirect=True)
def test_inference_mode_inside_matches_eager(backend):
    """Captured in one graph (enter/exit nodes), on every backend. AOTAutograd returns a normal
    tensor where eager returns an inference tensor; torch.compile does the same, so under
    aot_eager the reference for ``is_inference()`` is torch.compile's output."""
    def fn(x, w):
        with torch.inference_mode():
            y = x @ w
        return y

    cf = bytegraph.compile(fn, backend=backend.arg)
    theirs = torch.compile(fn, backend=backend.arg) if backend.name == "aot_eager" else None
    for _ in range(2):
        x, w = _inputs()
        out, ref = cf(x, w), fn(x, w)
        assert backend.close(out, ref)
        if theirs is not None:
            assert out.is_inference() == theirs(x, w).is_inference() == False   # noqa: E712
        else:
            _same_results(backend, out, ref)
    assert cf.stats.captures == 1 and cf.stats.graphs == 1 and cf.stats.break_reasons == []


def test_inference_mode_inside_is_one_graph(counter):
    def fn(x, w):
        with torch.inference_mode():
            y = x @ w
        return y, y + 1

    cf = bytegraph.compile(fn, backend=counter)
    x, w = _inputs()
    out, ref = cf(x, w), fn(x, w)
    assert [t.is_inference() for t in out] == [t.is_inference() for t in ref] == [True, False]
    assert all(torch.equal(o, r) for o, r in zip(out, ref))
    assert counter.frame_count == 1 and cf.stats.break_reasons == []


# --------------------------------------------------------------------------- around the call: guarded state

def _fn(x, w):
    return torch.tanh(x @ w) * 2


def test_no_grad_around_the_call_recompiles_once(backend):
    cf = bytegraph.compile(_fn, backend=backend.arg)
    x, w = _inputs()
    _same_results(backend, cf(x, w), _fn(x, w))
    with torch.no_grad():
        out = cf(x, w)
        _same_results(backend, out, _fn(x, w))
        assert not out.requires_grad
    backend.assert_graphs(cf, 2, recompiles=1)
    assert "global state" in cf.stats.recompile_reasons[0]
    if backend.recorder is not None:
        assert [c.grad_enabled for c in backend.recorder.calls] == [True, False]
    for _ in range(2):                                    # both states are cached now
        x, w = _inputs()
        out = cf(x, w)
        assert out.requires_grad and backend.close(_w_grad(w, out), _w_grad(w, _fn(x, w)))
        with torch.no_grad():
            _same_results(backend, cf(x, w), _fn(x, w))
    backend.assert_graphs(cf, 2, recompiles=1)


@pytest.mark.parametrize("backend", WITHOUT_INDUCTOR, indirect=True)
def test_enable_grad_and_set_grad_enabled_around_the_call(backend):
    cf = bytegraph.compile(_fn, backend=backend.arg)
    x, w = _inputs()
    with torch.no_grad():
        assert not cf(x, w).requires_grad
        with torch.enable_grad():
            out = cf(x, w)
            _same_results(backend, out, _fn(x, w))
    assert backend.close(_w_grad(w, out), _w_grad(w, _fn(x, w)))
    with torch.set_grad_enabled(False):
        _same_results(backend, cf(x, w), _fn(x, w))
    backend.assert_graphs(cf, 2, recompiles=1)


def test_autocast_around_the_call_recompiles_once(backend):
    cf = bytegraph.compile(_fn, backend=backend.arg)
    x, w = _inputs()
    _same_results(backend, cf(x, w), _fn(x, w))
    for _ in range(2):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, ref = cf(x, w), _fn(x, w)
        assert out.dtype is torch.bfloat16
        _same_results(backend, out, ref)
        assert _grads_close(backend, _w_grad(w, out), _w_grad(w, ref), bf16=True)
    _same_results(backend, cf(x, w), _fn(x, w))
    backend.assert_graphs(cf, 2, recompiles=1)
    assert "autocast" in cf.stats.recompile_reasons[0]


def test_inference_mode_around_the_call(backend):
    cf = bytegraph.compile(_fn, backend=backend.arg)
    x, w = _inputs()
    _same_results(backend, cf(x, w), _fn(x, w))
    with torch.inference_mode():
        for _ in range(2):
            out, ref = cf(x, w), _fn(x, w)
            _same_results(backend, out, ref)
            assert out.is_inference() and not out.requires_grad
            xi = torch.randn(4, 8)                           # an inference tensor as input
            _same_results(backend, cf(xi, w), _fn(xi, w))
    out = cf(x, w)                                           # back outside: the first entry again
    assert out.requires_grad and not out.is_inference()
    assert backend.close(_w_grad(w, out), _w_grad(w, _fn(x, w)))
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    # Inference mode changes the inputs' dispatch keys; an inference tensor is another input kind.
    assert cf.stats.captures == cf.stats.graphs == 3, cf.stats.recompile_reasons


@pytest.mark.parametrize("backend", WITHOUT_INDUCTOR, indirect=True)
def test_branch_on_grad_mode_is_guarded(backend):
    def fn(x, w):
        if torch.is_grad_enabled():
            return x @ w
        return (x @ w) * 0

    cf = bytegraph.compile(fn, backend=backend.arg)
    x, w = _inputs()
    for _ in range(2):
        _same_results(backend, cf(x, w), fn(x, w))
        with torch.no_grad():
            assert torch.count_nonzero(cf(x, w)) == 0
    backend.assert_graphs(cf, 2, recompiles=1)


def test_inference_mode_query_inside_a_traced_block(counter):
    """torch.is_inference_mode_enabled() reads the traced block's mode, with or without a
    graph break inside the block."""
    def plain(x):
        with torch.inference_mode():
            return x * 2, torch.is_inference_mode_enabled()

    def split(x):
        with torch.inference_mode():
            print(end="")
            return x * 2, torch.is_inference_mode_enabled()

    for fn in (plain, split):
        cf = bytegraph.compile(fn, backend=counter)
        for _ in range(2):
            out, flag = cf(torch.ones(2))
            assert flag is True and not torch.is_inference_mode_enabled()
            assert out.is_inference()
