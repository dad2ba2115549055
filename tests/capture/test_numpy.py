"""numpy ndarrays (builder rule "numpy ndarray", variables/numpy.py): arrays enter the graph as
tensors, numpy calls are recorded through torch._numpy, results come back as ndarrays (numpy
scalars for 0-d reductions). Each test compares with eager over several calls with new values,
and counts graphs and recompiles; what cannot be traced breaks or runs eagerly with a reason."""

import numpy as np
import pytest
import torch

import bytegraph


def same(a, b):
    """Equal as numpy sees it: same type, and for arrays and numpy scalars same dtype, shape, values."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and bool(torch.allclose(a, b))
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and a.shape == b.shape and np.allclose(a, b, equal_nan=True)
    return a == b


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


def _arrays(*shape, dtype=np.float32, calls=3):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(calls)]


# -- in and out -------------------------------------------------------------------------------------
def test_ndarray_in_ndarray_out_values_change_without_recompiling(counter):
    def fn(a, b):
        return np.sin(a) * 2 + b

    cf = bytegraph.compile(fn, backend=counter)
    for a, b in zip(_arrays(2, 3), _arrays(2, 3)[::-1]):
        out = cf(a, b)
        assert same(out, fn(a, b)) and out.dtype == np.float32
    _assert_counts(counter, cf, 1, 0)
    assert counter.op_count == 3


def test_operators_comparisons_and_reflected_operands(counter):
    def fn(a, b):
        return (a + b, a - 1.5, 2 - a, a * b, a / b, a // 2, a ** 2, a @ b.T, -a, abs(a), a < b, a == b,
                1 / (1 + b * b))

    cf = bytegraph.compile(fn, backend=counter)
    for a, b in zip(_arrays(3, 4, dtype=np.float64), _arrays(3, 4, dtype=np.float64)[::-1]):
        assert same(cf(a, b), fn(a, b))
    _assert_counts(counter, cf, 1, 0)


def test_methods_attributes_and_scalar_results(counter):
    def fn(a):
        return (a.sum(axis=0), a.mean(), a.max(), a.argmax(), a.reshape(4, 3), a.reshape((-1,)),
                a.astype(np.float64), a.T, a.transpose(1, 0).copy(), a.clip(-0.5, 0.5), a.cumsum(1),
                a.shape, a.ndim, a.size, a.dtype, a.itemsize, len(a))

    cf = bytegraph.compile(fn, backend=counter)
    for a in _arrays(3, 4):
        out, ref = cf(a), fn(a)
        assert same(out, ref)
        assert type(out[1]) is np.float32 and type(out[3]) is np.int64      # reductions give numpy scalars
    _assert_counts(counter, cf, 1, 0)


def test_indexing_and_iteration(counter):
    def fn(a, idx):
        rows = [r * i for i, r in enumerate(a)]
        return a[0], a[1, 2], a[:, 1:], a[::2], a[None], a[..., 0], a[[0, 2]], a[idx], rows

    cf = bytegraph.compile(fn, backend=counter)
    idx = np.array([2, 0], dtype=np.int64)
    for a in _arrays(3, 4):
        out, ref = cf(a, idx), fn(a, idx)
        assert same(out, ref) and type(out[1]) is np.float32
    _assert_counts(counter, cf, 1, 0)


def test_numpy_functions_and_constants(counter):
    def fn(a, b):
        c = np.concatenate([a, b])
        s = np.stack((a, b), axis=0)
        z = np.zeros(a.shape, dtype=np.float32) + np.ones_like(b) * np.float32(2.0)
        r = np.arange(4) * np.pi
        q, m = np.divmod(a, b)
        return c, s, z, r, np.where(a > b, a, b), np.exp(a), np.linalg.norm(a), q, m, np.float32(3.5), np.e

    cf = bytegraph.compile(fn, backend=counter)
    for a, b in zip(_arrays(2, 3), _arrays(2, 3)[::-1]):
        assert same(cf(a, b), fn(a, b))
    _assert_counts(counter, cf, 1, 0)


def test_dtype_queries_fold_and_numpy_scalars_stay_typed(counter):
    def fn(a):
        if np.issubdtype(a.dtype, np.floating) and a.dtype == np.float32 and a.ndim == 2:
            eps = np.finfo(a.dtype).eps
            return a.astype(np.float16) * np.float32(2.0) + eps, eps, np.float64(1.5) * 2, np.dtype("int8").itemsize
        return a

    cf = bytegraph.compile(fn, backend=counter)
    for a in _arrays(2, 2):
        out, ref = cf(a), fn(a)
        assert same(out, ref) and type(out[1]) is np.float32 and type(out[2]) is np.float64
    _assert_counts(counter, cf, 1, 0)


# -- numpy and torch together ---------------------------------------------------------------------
def test_torch_from_numpy_and_tensor_numpy_mix(counter):
    def fn(a, t):
        x = torch.from_numpy(a) * t              # the ndarray as a tensor: a torch op
        y = (t + 1).numpy()                       # a tensor as an ndarray: numpy ops
        return x, np.cos(y) + a, t.numpy()

    cf = bytegraph.compile(fn, backend=counter)
    for a in _arrays(3):
        t = torch.randn(3)
        out, ref = cf(a, t), fn(a, t)
        assert same(out, ref)
        assert np.shares_memory(out[2], t.numpy())          # t.numpy() shares t's memory, as eagerly
    _assert_counts(counter, cf, 1, 0)


def test_tensor_numpy_of_a_grad_tensor_raises_like_eager(counter):
    def fn(t):
        return t.numpy() * 2

    cf = bytegraph.compile(fn, backend=counter)
    t = torch.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        fn(t)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="requires grad"):
            cf(t)
    assert counter.frame_count == 0 and cf.stats.eager_reasons[0].startswith("the program raises RuntimeError at "
                                                                             "test_numpy.py:")


# -- writes ---------------------------------------------------------------------------------------------
def test_in_place_writes_reach_the_callers_array(counter):
    def fn(a):
        a += 1
        a[0] = 0
        b = a.T
        b[1] *= 3
        return a

    cf = bytegraph.compile(fn, backend=counter)
    for a in _arrays(3, 2):
        mine, theirs = a.copy(), a.copy()
        out = cf(mine)
        assert out is mine and same(out, fn(theirs)) and same(mine, theirs)
    _assert_counts(counter, cf, 1, 0)


def test_read_only_array_is_read_through_a_copy_and_writes_raise(counter):
    def read(a):
        return a * 2

    def write(a):
        a[0] = 1.0
        return a

    ro = np.arange(4.0)
    ro.flags.writeable = False
    cr = bytegraph.compile(read, backend=counter)
    for _ in range(2):
        assert same(cr(ro), read(ro))
    _assert_counts(counter, cr, 1, 0)

    cw = bytegraph.compile(write, backend=counter)
    for _ in range(2):
        with pytest.raises(ValueError, match="read-only"):
            cw(ro)
    assert cw.stats.eager_reasons[0].startswith("the program raises ValueError")
    w = np.arange(4.0)
    assert same(cw(w), write(np.arange(4.0))) and w[0] == 1.0        # writeable again: a graph
    assert counter.frame_count == 2 and cw.stats.recompiles == 1
    assert "L['a'].flags.writeable" in cw.stats.recompile_reasons[0]


# -- guards ---------------------------------------------------------------------------------------------
def test_dtype_change_recompiles_once(counter):
    def fn(a):
        return np.tanh(a) + a.sum()

    cf = bytegraph.compile(fn, backend=counter)
    for dtype in (np.float32, np.float32, np.float64, np.float64, np.float32):
        a = _arrays(4, dtype=dtype, calls=1)[0]
        out = cf(a)
        assert same(out, fn(a)) and out.dtype == dtype
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons == [
        "___from_numpy(L['a']): dtype mismatch: expected torch.float32, got torch.float64 "
        "(guard from builder rule 'numpy ndarray')"]


def test_shape_change_recompiles(counter):
    def fn(a):
        return a.reshape(-1, a.shape[-1]).mean(axis=0)

    cf = bytegraph.compile(fn, backend=counter)
    for shape in ((2, 3), (2, 3), (4, 3), (4, 3)):
        a = _arrays(*shape, calls=1)[0]
        assert same(cf(a), fn(a))
    _assert_counts(counter, cf, 2, 1)
    assert "size mismatch" in cf.stats.recompile_reasons[0]


def test_non_contiguous_arrays(counter):
    def fn(a):
        return a * 2 + a.sum(axis=1, keepdims=True)

    cf = bytegraph.compile(fn, backend=counter)
    base = _arrays(4, 6, calls=4)
    for b in base[:2]:
        view = b[:, ::2]                              # a strided view, not a copy
        assert not view.flags.c_contiguous and same(cf(view), fn(view))
    _assert_counts(counter, cf, 1, 0)
    for b in base[2:]:
        t = np.asfortranarray(b[:, :3])               # same shape, other strides: recompiles once
        assert same(cf(t), fn(t))
    _assert_counts(counter, cf, 2, 1)
    assert "stride mismatch" in cf.stats.recompile_reasons[0]


def test_negative_strides_run_eagerly_with_a_reason_only_for_such_arrays(counter):
    def fn(a):
        return a + 1

    cf = bytegraph.compile(fn, backend=counter)
    a = np.arange(6.0)
    for _ in range(2):
        assert same(cf(a[::-1]), fn(a[::-1]))
    assert counter.frame_count == 0 and "negative" in cf.stats.eager_reasons[0]
    for _ in range(2):
        assert same(cf(a), fn(a))                      # a plain array still gets a graph
    assert counter.frame_count == 1


# -- what falls back ------------------------------------------------------------------------------------
def test_numpy_random_breaks_and_runs_natively(counter):
    def fn(a):
        b = a * 2
        noise = np.random.rand(*a.shape)
        return b + noise

    cf = bytegraph.compile(fn, backend=counter)
    for a in _arrays(2, 3):
        np.random.seed(7)
        out = cf(a)
        np.random.seed(7)
        assert same(out, fn(a))                        # numpy's own stream: the same numbers
    assert len(cf.stats.break_reasons) == 1 and "numpy.random.rand()" in cf.stats.break_reasons[0]
    assert counter.frame_count == 2 and cf.stats.recompiles == 0


def test_numpy_function_torch_numpy_lacks_breaks(counter):
    def fn(a):
        return np.interp(a, [0.0, 1.0], [10.0, 20.0]) + a

    cf = bytegraph.compile(fn, backend=counter)
    for a in _arrays(5, dtype=np.float64):
        assert same(cf(a), fn(a))
    assert "numpy.interp() has no torch._numpy implementation" in cf.stats.break_reasons[0]
    assert counter.frame_count == 1 and cf.stats.recompiles == 0     # the add after the break


def test_ndarray_given_to_a_torch_function_breaks(counter):
    def fn(a, t):
        return torch.tensor(a) + t                    # torch.tensor copies an ndarray: run natively

    cf = bytegraph.compile(fn, backend=counter)
    for a in _arrays(3, dtype=np.float64):
        t = torch.randn(3, dtype=torch.float64)
        assert same(cf(a, t), fn(a, t))
    assert "passed to a torch operation" in cf.stats.break_reasons[0]


def test_mixing_ndarray_and_tensor_in_an_operator_breaks(counter):
    def fn(a, t):
        return t + a

    cf = bytegraph.compile(fn, backend=counter)
    for a in _arrays(3):
        t = torch.randn(3)
        assert same(cf(a, t), fn(a, t))
    assert counter.frame_count == 0
    assert "mixing ndarrays and tensors" in (cf.stats.break_reasons + cf.stats.eager_reasons)[0]


@pytest.mark.parametrize("backend", ["aot_eager"])
def test_real_backend_with_in_place_write(backend):
    def fn(a, b):
        a *= 2
        return np.maximum(a, b).sum(axis=1), a

    cf = bytegraph.compile(fn, backend=backend)
    for a, b in zip(_arrays(3, 4), _arrays(3, 4)[::-1]):
        mine, theirs = a.copy(), a.copy()
        out, ref = cf(mine, b), fn(theirs, b)
        assert same(out, ref) and out[1] is mine and same(mine, theirs)
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == [] and cf.stats.recompiles == 0
