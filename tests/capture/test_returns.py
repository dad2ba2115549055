"""Return values rebuilt after the graph runs: tensors, containers, constants, inputs
returned unchanged, None, and mixes of these."""

import torch

import bytegraph
from bytegraph.testing import same


def _run(counter, fn, make_args, calls=3):
    cf = bytegraph.compile(fn, backend=counter)
    outs = []
    for _ in range(calls):
        args = make_args()
        out = cf(*args)
        assert same(out, fn(*args))
        outs.append((args, out))
    assert cf.stats.eager_reasons == [] and cf.stats.recompiles == 0
    return cf, outs


def test_return_single_tensor(counter):
    cf, _ = _run(counter, lambda x: x.exp(), lambda: (torch.randn(3),))
    assert counter.frame_count == 1 and counter.op_count == 1


def test_return_tuple_list_dict_of_tensors(counter):
    def fn(x):
        return (x + 1, x - 1), [x * 2, x / 2], {"sin": x.sin(), "cos": x.cos()}

    _run(counter, fn, lambda: (torch.randn(3),))
    assert counter.frame_count == 1 and counter.op_count == 6


def test_return_constants(counter):
    def fn(x):
        return 3, 2.5, "name", True, None, torch.float16, (1, (2, "x")), [None], {"k": 1}, x.shape[0]

    cf, _ = _run(counter, fn, lambda: (torch.randn(3),))
    assert cf.stats.captures == 1 and cf.stats.eager == 0
    assert counter.frame_count == 0          # no tensor operation: the entry runs no graph


def test_return_constants_and_tensors_mixed(counter):
    def fn(x):
        return {"out": x.relu(), "n": x.shape[0], "shape": x.shape, "tag": "ok"}, x.dim(), [x.sum(), 0]

    _run(counter, fn, lambda: (torch.randn(4, 2),))
    assert counter.frame_count == 1 and counter.op_count == 2


def test_return_input_unchanged(counter):
    def fn(x, y):
        return x

    cf, outs = _run(counter, fn, lambda: (torch.randn(3), torch.randn(3)))
    assert all(out is args[0] for args, out in outs)            # the very same object, not a copy
    assert counter.frame_count == 0 and cf.stats.graphs == 0      # no operation: no graph at all
    assert cf.stats.captures == 1


def test_return_inputs_together_with_computed_tensors(counter):
    def fn(x, y):
        z = x + y
        return y, z, x, (x, z)

    cf, outs = _run(counter, fn, lambda: (torch.randn(3), torch.randn(3)))
    for (x, y), out in outs:
        assert out[0] is y and out[2] is x and out[3][0] is x
        assert out[1] is out[3][1]                       # one graph output, returned twice
    assert counter.frame_count == 1 and counter.op_count == 1


def test_return_same_tensor_twice(counter):
    def fn(x):
        y = x * 3
        return y, y, [y]

    cf, outs = _run(counter, fn, lambda: (torch.randn(2),))
    for _, out in outs:
        assert out[0] is out[1] and out[2][0] is out[0]
    assert counter.frame_count == 1 and counter.op_count == 1


def test_return_none_implicitly_after_mutating_an_input(counter):
    def fn(x):
        x.mul_(2)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        x2 = x.clone()
        assert cf(x) is None and fn(x2) is None
        assert same(x, x2)
    assert counter.frame_count == 1 and counter.op_count == 1
    assert cf.stats.recompiles == 0 and cf.stats.eager == 0


def test_return_none_explicitly(counter):
    def fn(x):
        return None

    cf, _ = _run(counter, fn, lambda: (torch.randn(2),))
    assert cf.stats.captures == 1 and cf.stats.eager == 0
    assert counter.frame_count == 0 and cf.stats.graphs == 0


def test_return_input_list_and_dict(counter):
    def fn(xs, d):
        return xs, d, xs[0] + d["a"]

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        xs, d = [torch.randn(2), torch.randn(2)], {"a": torch.randn(2)}
        out = cf(xs, d)
        assert same(out, fn(xs, d))
        assert out[0] is xs and out[1] is d
    assert counter.frame_count == 1 and counter.op_count == 1 and cf.stats.recompiles == 0


def test_return_view_of_input(counter):
    def fn(x):
        return x[0], x.view(-1), x.t()

    cf, outs = _run(counter, fn, lambda: (torch.randn(2, 3),))
    for (x,), out in outs:
        out[1][0] = 42.0                                  # a view: writes reach the input, as in eager
        assert x[0, 0].item() == 42.0
    assert counter.frame_count == 1 and counter.op_count == 3


def test_return_nested_structure(counter):
    def fn(x):
        return {"a": [x, (x + 1, {"b": x * 2})], "c": ((), [], {})}

    _run(counter, fn, lambda: (torch.randn(2),))
    assert counter.frame_count == 1 and counter.op_count == 2


def test_return_scalar_tensor_and_int_tensor(counter):
    def fn(x):
        return x.sum(), x.argmax(), (x > 0).sum(), x.mean().unsqueeze(0)

    _run(counter, fn, lambda: (torch.randn(5),))
    assert counter.frame_count == 1 and counter.op_count == 6


def test_return_requires_grad_output(counter):
    def fn(x, w):
        return x @ w, w

    cf = bytegraph.compile(fn, backend=counter)
    w = torch.randn(3, 2, requires_grad=True)
    for _ in range(3):
        x = torch.randn(4, 3)
        out = cf(x, w)
        assert same(out, fn(x, w)) and out[0].requires_grad and out[1] is w
    assert counter.frame_count == 1 and cf.stats.recompiles == 0
