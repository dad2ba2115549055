"""Builder rules "tensor" and "tensor subclass" (docs/builder.md rules 1-2), one capture
test per case: (a) the value is used and the answer is eager's, (b) changing what
TENSOR_MATCH or the alias guards protect recompiles, naming the source, (c) changing what
they do not protect (tensor values, unread tensors) does not."""

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.testing import same


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


def _grads(fn, *inputs):
    """Output of ``fn`` and the gradients of its summed output with respect to ``inputs``."""
    inputs = [t.detach().clone().requires_grad_(t.requires_grad) for t in inputs]
    out = fn(*inputs)
    out.sum().backward()
    return out, [t.grad for t in inputs]


# -- Parameters ---------------------------------------------------------------------------------
def test_parameter_argument_gradients_match_eager(counter):
    def fn(x, w):
        return (x @ w).tanh()

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x, w = torch.randn(4, 3), nn.Parameter(torch.randn(3, 2))   # a new Parameter each call: no recompile
        out, (gx, gw) = _grads(cf, x, w)
        ref, (rx, rw) = _grads(fn, x, w)
        assert same(out, ref) and gx is None and rx is None and same(gw, rw)
    _assert_counts(counter, cf, 1, 0)


def test_parameter_requires_grad_off_recompiles(counter):
    def fn(x, w):
        return x * w

    cf = bytegraph.compile(fn, backend=counter)
    w = nn.Parameter(torch.randn(3))
    x = torch.randn(3)
    assert same(cf(x, w), fn(x, w))
    w.requires_grad_(False)
    for _ in range(2):
        out = cf(x, w)
        assert same(out, fn(x, w)) and not out.requires_grad
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['w']: requires_grad mismatch")


def test_parameter_replaced_by_plain_tensor_recompiles(counter):
    def fn(x, w):
        return x + w, type(w).__name__

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    w = nn.Parameter(torch.randn(3))
    assert same(cf(x, w), fn(x, w))
    for _ in range(2):
        t = torch.randn(3, requires_grad=True)          # same metadata, another tensor type
        assert same(cf(x, t), fn(x, t))
    _assert_counts(counter, cf, 2, 1)
    assert "L['w']" in cf.stats.recompile_reasons[0]


# -- buffers ------------------------------------------------------------------------------------
class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(3))
        self.register_buffer("unused", torch.zeros(2))

    def forward(self, x):
        return x - self.mean


def test_buffer_dtype_change_recompiles_unread_buffer_does_not(counter):
    model = Normalize()
    cm = bytegraph.compile(model, backend=counter)
    x = torch.randn(2, 3)
    assert same(cm(x), model(x))
    model.unused = torch.zeros(5, dtype=torch.int64)          # unread buffer: not guarded
    model.mean.add_(1.0)                                      # values: not guarded, but read
    assert same(cm(x), model(x))
    _assert_counts(counter, cm, 1, 0)
    model.mean = torch.zeros(3, dtype=torch.float64)
    for _ in range(2):
        out = cm(x)
        assert same(out, model(x)) and out.dtype == torch.float64
    _assert_counts(counter, cm, 2, 1)
    assert "L['module']._buffers['mean']" in cm.stats.recompile_reasons[0]
    assert "dtype mismatch" in cm.stats.recompile_reasons[0]


# -- requires_grad tensors ------------------------------------------------------------------------
def test_requires_grad_moves_to_the_other_input_recompiles(counter):
    def fn(x, y):
        return (x * y).sin() + x

    cf = bytegraph.compile(fn, backend=counter)
    for rx, ry in ((True, False), (True, False), (False, True), (False, True)):
        x = torch.randn(3, requires_grad=rx)
        y = torch.randn(3, requires_grad=ry)
        out, (gx, gy) = _grads(cf, x, y)
        ref, (ex, ey) = _grads(fn, x, y)
        assert same(out, ref) and same(gx, ex) and same(gy, ey)
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['x']: requires_grad mismatch")


def test_non_leaf_input_gradient_reaches_its_leaf(counter):
    def fn(h):
        return (h * h).sum()

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        a = torch.randn(4, requires_grad=True)
        cf(a * 3).backward()
        b = a.grad.clone()
        a.grad = None
        fn(a * 3).backward()
        assert same(b, a.grad)
    _assert_counts(counter, cf, 1, 0)


# -- views of other inputs --------------------------------------------------------------------------
def test_input_and_a_slice_of_it(counter):
    def fn(x, v):
        return x[1:] * v + x.sum()

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(4)
        assert same(cf(x, x[1:]), fn(x, x[1:]))
    _assert_counts(counter, cf, 1, 0)


def test_write_through_a_view_input_is_seen_by_its_base(counter):
    def fn(x, v):
        v.mul_(10)
        return x + 1

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(4)
        x2 = x.clone()
        assert same(cf(x, x[1:]), fn(x2, x2[1:]))
        assert same(x, x2)
    # v shares x's storage and is written: the graph runs its ops natively (DESIGN 52), not through the backend
    _assert_counts(counter, cf, 0, 0)
    assert cf.stats.graphs == 1


def test_transposed_view_then_contiguous_tensor_recompiles(counter):
    def fn(x, y):
        return x @ y + y

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3, 3)
    assert same(cf(x, x.t()), fn(x, x.t()))
    y = torch.randn(3, 3).t()                          # another transposed tensor: same strides
    assert same(cf(x, y), fn(x, y))
    _assert_counts(counter, cf, 1, 0)
    for _ in range(2):
        y = torch.randn(3, 3)
        assert same(cf(x, y), fn(x, y))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['y']: stride mismatch")


def test_view_with_storage_offset_then_fresh_tensor(counter):
    def fn(x):
        return x * 2

    cf = bytegraph.compile(fn, backend=counter)
    base = torch.randn(6)
    for x in (base[2:], base[1:5], torch.randn(4)):
        assert same(cf(x), fn(x))
    assert same(cf(base[2:]), fn(base[2:]))
    _assert_counts(counter, cf, 1, 0)                  # storage offset is not part of the graph's meaning


# -- one tensor reached by two sources ---------------------------------------------------------------
def test_same_tensor_twice_after_two_tensors_recompiles(counter):
    def fn(x, y):
        return x * 2 + y

    cf = bytegraph.compile(fn, backend=counter)
    a, b = torch.randn(3), torch.randn(3)
    for x, y in ((a, b), (b, a), (a, a), (b, b)):
        assert same(cf(x, y), fn(x, y))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("NO_TENSOR_ALIASING: aliasing between inputs changed")
    assert "L['x']" in cf.stats.recompile_reasons[0] and "L['y']" in cf.stats.recompile_reasons[0]


def test_same_tensor_in_two_list_slots_after_distinct_recompiles(counter):
    def fn(xs):
        xs[0].add_(1)
        return xs[0] * xs[1]

    cf = bytegraph.compile(fn, backend=counter)
    for alias in (False, False, True, True):
        a, b = torch.randn(3), torch.randn(3)
        a2, b2 = a.clone(), b.clone()
        got = cf([a, a] if alias else [a, b])
        expected = fn([a2, a2] if alias else [a2, b2])
        assert same(got, expected) and same(a, a2)
    _assert_counts(counter, cf, 2, 1)
    assert "aliasing" in cf.stats.recompile_reasons[0]
    assert "L['xs'][0]" in cf.stats.recompile_reasons[0] and "L['xs'][1]" in cf.stats.recompile_reasons[0]


def test_same_tensor_as_argument_and_object_attribute(counter):
    class Holder:
        def __init__(self, w):
            self.w = w

    def fn(x, h):
        x.mul_(2)
        return x + h.w

    cf = bytegraph.compile(fn, backend=counter)
    for alias in (True, True, False, False):
        a = torch.randn(3)
        a2 = a.clone()
        w, w2 = (a, a2) if alias else (torch.ones(3), torch.ones(3))
        assert same(cf(a, Holder(w)), fn(a2, Holder(w2))) and same(a, a2)
    _assert_counts(counter, cf, 2, 1)
    assert "aliasing" in cf.stats.recompile_reasons[0]


def test_distinct_unread_tensor_is_not_alias_guarded(counter):
    def fn(x, y, unused):
        return x + y

    cf = bytegraph.compile(fn, backend=counter)
    a, b = torch.randn(3), torch.randn(3)
    for third in (torch.randn(3), a, b, "not a tensor"):
        assert same(cf(a, b, third), fn(a, b, third))
    _assert_counts(counter, cf, 1, 0)


# -- automatic dynamic shapes ------------------------------------------------------------------------
def test_size_that_changed_becomes_dynamic_on_recompile(counter):
    def fn(x):
        return x.sum(0) * x.shape[0]

    cf = bytegraph.compile(fn, backend=counter)
    for n in (2, 3, 4, 5, 6):
        x = torch.randn(n, 3)
        assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['x']: size mismatch")
    x = torch.randn(5, 4)                              # the static dimension still guards
    assert same(cf(x), fn(x))
    _assert_counts(counter, cf, 3, 2)


def test_zero_dim_tensor_then_one_element_tensor_recompiles(counter):
    def fn(x, s):
        return x * s

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    for s in (torch.tensor(2.0), torch.tensor(3.0), torch.tensor([2.0]), torch.tensor([4.0])):
        assert same(cf(x, s), fn(x, s))
    _assert_counts(counter, cf, 2, 1)
    assert "L['s']" in cf.stats.recompile_reasons[0]


def test_integer_and_bool_tensor_inputs(counter):
    def fn(idx, mask, x):
        return x[idx] * mask.to(x.dtype)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        idx, mask, x = torch.randint(0, 5, (3,)), torch.rand(3) > 0.5, torch.randn(5)
        assert same(cf(idx, mask, x), fn(idx, mask, x))
    _assert_counts(counter, cf, 1, 0)
    mask = torch.randint(0, 2, (3,))                  # int64 instead of bool
    assert same(cf(idx, mask, x), fn(idx, mask, x))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['mask']: dtype mismatch")


# -- tensor subclasses ----------------------------------------------------------------------------------
class Tagged(torch.Tensor):
    """A __torch_function__ subclass: every op result stays Tagged."""


class FrozenParam(nn.Parameter):
    """A Parameter subclass: not Parameter itself, so not the "tensor" rule."""


def _reasons(cf):
    """Every break and eager reason of ``cf`` and of its resume functions."""
    return [r for st in cf.stats_all for r in (*st.break_reasons, *st.eager_reasons)]


def _check_subclass_break(counter, fn, make_args, name):
    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        args = make_args()
        got, expected = cf(*args), fn(*args)
        assert same(got, expected) and type(got) is type(expected)
    assert cf.stats.captures == 1 and cf.stats.recompiles == 0 and counter.frame_count == 0
    reasons = _reasons(cf)
    assert reasons and all(r.startswith("graph break GB005:") for r in reasons), reasons
    assert all(f"tensor subclass {name} is not supported yet" in r for r in reasons), reasons
    return cf


def test_torch_function_subclass_argument_breaks_with_reason(counter):
    _check_subclass_break(counter, lambda x: x * 2 + 1, lambda: (torch.randn(3).as_subclass(Tagged),), "Tagged")


def test_parameter_subclass_inside_a_list_breaks_with_reason(counter):
    def fn(xs):
        return xs[0] + xs[1]

    _check_subclass_break(counter, fn, lambda: ([torch.randn(2), FrozenParam(torch.randn(2))],), "FrozenParam")


def test_subclass_after_plain_tensor_recompiles_into_eager(counter):
    def fn(x):
        return x.relu()

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert same(cf(x), fn(x))
    t = torch.randn(3).as_subclass(Tagged)
    for _ in range(2):
        got = cf(t)
        assert type(got) is Tagged and same(got, fn(t))
    assert same(cf(x), fn(x))                          # plain tensors still hit the graph
    assert counter.frame_count == 1 and cf.stats.recompiles == 1 and cf.stats.eager == 1
    assert "L['x']" in cf.stats.recompile_reasons[0]
    (reason,) = _reasons(cf)
    assert reason.startswith("graph break GB005:") and "tensor subclass Tagged" in reason


def _flag_inputs(lst, x):
    lst[0].requires_grad_()
    x.requires_grad_(False)
    return lst[0] * 2 + x.detach()


@pytest.mark.parametrize("backend_name", ["eager", "aot_eager"])
def test_requires_grad_on_inputs_reaches_the_callers_tensors(backend_name):
    """``requires_grad_()`` that changes a graph input's flag is a graph break (run natively, as
    torch.compile breaks): under aot_eager the op in the graph left the caller's tensor unchanged
    (fuzz seed 110142). On an input whose flag it keeps, and on intermediates, it stays in the graph."""
    cf = bytegraph.compile(_flag_inputs, backend=backend_name)
    for _ in range(3):
        lst, x = [torch.randn(3)], torch.randn(3, requires_grad=True)
        lst2, x2 = [lst[0].clone()], x.detach().clone().requires_grad_()
        out, expected = cf(lst, x), _flag_inputs(lst2, x2)
        assert (lst[0].requires_grad, x.requires_grad) == (lst2[0].requires_grad, x2.requires_grad) == (True, False)
        assert same(out, expected) and out.requires_grad

    def keeps(x):
        y = (x * 2).requires_grad_()
        x.requires_grad_(True)
        return y + x

    kf = bytegraph.compile(keeps, backend=backend_name)
    for _ in range(2):
        x = torch.randn(3, requires_grad=True)
        assert same(kf(x), keeps(x))
    assert kf.stats.break_reasons == [] and kf.stats.graphs == 1


def _unused_draws(x, y, training):
    torch.nn.functional.dropout(x, 0.5, training)           # unused: still draws its mask
    torch.rand(3)
    x.clone().bernoulli_(0.5)
    return torch.nn.functional.dropout(y, 0.5, training) + torch.randn(3)


@pytest.mark.parametrize("backend_name", ["eager", "aot_eager"])
def test_unused_random_ops_still_draw(backend_name):
    """A random op whose result nothing uses still advances the RNG stream, so later draws are
    eager's: AOTAutograd drops dead ops, and a dropped dropout shifted every later mask (fuzz seed
    110053; torch.compile(aot_eager) has this bug). One graph, the same numbers on every call."""
    cf = bytegraph.compile(_unused_draws, backend=backend_name)
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    for seed in range(3):
        torch.manual_seed(seed)
        expected = _unused_draws(x, y, True)
        torch.manual_seed(seed)
        assert torch.equal(cf(x, y, True), expected)
    assert cf.stats.graphs == 1 and cf.stats.break_reasons == []
