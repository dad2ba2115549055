"""Tensor operations captured into one graph: operators, methods, torch and F functions,
indexing, in-place ops and constants. Each test runs the compiled function three times
on new inputs, compares with eager, and checks that one graph served every call."""

import math

import torch
import torch.nn.functional as F

import bytegraph
from bytegraph.testing import same


def _check(counter, fn, make_args, *, ops_at_least=1, calls=3):
    """Compile ``fn``, call it ``calls`` times on fresh inputs, compare with eager, and
    assert one graph with at least ``ops_at_least`` operations and no recompile."""
    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(calls):
        args = make_args()
        assert same(cf(*args), fn(*args))
    assert counter.frame_count == 1
    assert counter.op_count >= ops_at_least
    assert cf.stats.recompiles == 0 and cf.stats.eager == 0
    return cf


def test_arithmetic_operators(counter):
    def fn(x, y):
        return x + y, x - y, x * y, x / (y.abs() + 1), x // 2, x % 3, x ** 2, x @ y.t()

    _check(counter, fn, lambda: (torch.randn(3, 4), torch.randn(3, 4)), ops_at_least=9)


def test_reflected_scalar_operators(counter):
    def fn(x):
        return 2 - x, 3 * x, 1 / (x.abs() + 1), 2 ** x, 10 + x

    _check(counter, fn, lambda: (torch.randn(5),), ops_at_least=5)


def test_unary_operators(counter):
    def fn(x, m):
        return -x, +x, abs(x), ~m, x.neg().exp()

    _check(counter, fn, lambda: (torch.randn(4, 4), torch.randn(4, 4) > 0), ops_at_least=5)


def test_comparisons_produce_bool_tensors(counter):
    def fn(x, y):
        return x < y, x <= y, x > 0, x >= y, x == y, x != 0, (x > 0) & (y > 0), (x > 0) | (y > 0), (x > 0) ^ (y > 0)

    _check(counter, fn, lambda: (torch.randn(6), torch.randn(6)), ops_at_least=12)


def test_integer_tensor_arithmetic(counter):
    def fn(a, b):
        return a * b + 1, a // 3, a % 4, a << 1, a >> 1, a & b, a | b

    _check(counter, fn, lambda: (torch.randint(0, 100, (8,)), torch.randint(0, 100, (8,))), ops_at_least=8)


def test_tensor_methods(counter):
    def fn(x):
        a = x.sum(dim=1, keepdim=True)
        b = x.mean()
        c = x.view(-1).reshape(4, 3)
        d = x.permute(1, 0).contiguous().transpose(0, 1)
        e = x.clamp(min=-0.5, max=0.5).softmax(dim=-1)
        return a, b, c, d, e, x.t(), x.T, x.float().to(torch.float64), x.new_zeros(2, 2)

    _check(counter, fn, lambda: (torch.randn(3, 4),), ops_at_least=10)


def test_metadata_queries_are_constants(counter):
    def fn(x):
        n, m = x.shape
        if x.dim() != 2 or x.ndim != 2:
            return None
        return x.reshape(x.size(0) * x.size(1)) * n + m + x.numel() + len(x), x.dtype, x.shape

    _check(counter, fn, lambda: (torch.randn(3, 4),))
    assert counter.op_count == 5            # reshape, *, +, +, +: sizes, numel and len are folded


def test_torch_functions(counter):
    def fn(x, y):
        return (torch.cat([x, y], dim=0), torch.stack([x, y]), torch.where(x > y, x, y),
                torch.einsum("ij,kj->ik", x, y), torch.zeros_like(x), torch.matmul(x, y.t()),
                torch.sigmoid(x), torch.tanh(y), torch.maximum(x, y), torch.flatten(torch.outer(x[0], y[0])))

    _check(counter, fn, lambda: (torch.randn(3, 4), torch.randn(3, 4)), ops_at_least=10)


def test_factory_functions_with_constant_arguments(counter):
    def fn(x):
        return x + torch.ones(4), x * torch.arange(4, dtype=torch.float32), torch.full((2, 4), 3.0) + x, torch.eye(4) @ x

    _check(counter, fn, lambda: (torch.randn(4),), ops_at_least=8)


def test_functional_activations(counter):
    def fn(x):
        return F.relu(x), F.gelu(x), F.silu(x), F.softmax(x, dim=-1), F.log_softmax(x, -1), F.leaky_relu(x, 0.1), F.elu(x)

    _check(counter, fn, lambda: (torch.randn(2, 6),), ops_at_least=7)


def test_functional_layers(counter):
    def fn(x, w, b, img, kernel):
        h = F.linear(x, w, b)
        h = F.layer_norm(h, (h.shape[-1],))
        h = F.normalize(F.pad(h, (1, 1)), dim=-1)
        conv = F.conv2d(img, kernel, padding=1)
        pooled = F.max_pool2d(conv, 2)
        return h, pooled, F.dropout(h, p=0.5, training=False)

    def args():
        return (torch.randn(2, 4), torch.randn(3, 4), torch.randn(3), torch.randn(1, 2, 8, 8), torch.randn(4, 2, 3, 3))

    _check(counter, fn, args, ops_at_least=6)


def test_functional_losses(counter):
    def fn(logits, target, pred, ref):
        return F.cross_entropy(logits, target), F.mse_loss(pred, ref), F.l1_loss(pred, ref, reduction="sum")

    def args():
        return torch.randn(5, 3), torch.randint(0, 3, (5,)), torch.randn(5), torch.randn(5)

    _check(counter, fn, args, ops_at_least=3)


def test_basic_indexing_and_slicing(counter):
    def fn(x):
        return x[0], x[:, 1], x[1:3, ::2], x[-1, -2:], x[1:], x[0, 0]

    _check(counter, fn, lambda: (torch.randn(4, 6),), ops_at_least=6)


def test_none_and_ellipsis_indexing(counter):
    def fn(x):
        return x[None], x[..., None], x[:, None, :], x[..., 1:3], x[None, ..., 0], x.unsqueeze(0)[0, ...]

    _check(counter, fn, lambda: (torch.randn(3, 4, 5),), ops_at_least=6)


def test_tensor_index_and_gather(counter):
    def fn(x, idx):
        return x[idx], x[:, idx], torch.gather(x, 1, idx.expand(x.shape[0], -1)), x.index_select(0, idx)

    _check(counter, fn, lambda: (torch.randn(4, 4), torch.randint(0, 4, (1, 3))[0]), ops_at_least=4)


def test_bool_mask_with_where_and_masked_fill(counter):
    def fn(x):
        mask = x > 0
        return torch.where(mask, x, torch.zeros_like(x)), x.masked_fill(~mask, -1.0), (x * mask).sum()

    _check(counter, fn, lambda: (torch.randn(5, 5),), ops_at_least=6)


def test_bool_mask_assignment(counter):
    def fn(x):
        y = x.clone()
        y[y < 0] = 0.0
        return y

    _check(counter, fn, lambda: (torch.randn(6, 3),), ops_at_least=3)


def test_bool_mask_read(counter):
    """``x[mask]`` has a data-dependent size; it is still one graph (the size is unbacked)."""
    def fn(x):
        return x[x > 0] * 2

    _check(counter, fn, lambda: (torch.randn(10),), ops_at_least=3)


def test_setitem_on_local_tensor(counter):
    def fn(x, v):
        y = torch.zeros(4, 5)
        y[0] = x[0]
        y[1:3, 2] = v
        y[..., -1] = 7.0
        return y

    _check(counter, fn, lambda: (torch.randn(4, 5), torch.randn(2)), ops_at_least=4)


def test_inplace_ops_on_local_tensors(counter):
    def fn(x):
        y = x.clone()
        y.add_(1)
        y.mul_(2)
        y += x
        y *= 0.5
        y.clamp_(min=0)
        y.relu_()
        return y

    _check(counter, fn, lambda: (torch.randn(3, 3),), ops_at_least=7)


def test_inplace_ops_on_inputs_mutate_the_callers_tensor(counter):
    def fn(x, y):
        x.add_(y)
        x[0] = 0.0
        return x * 2

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x, y = torch.randn(4, 2), torch.randn(4, 2)
        x_eager, x_comp = x.clone(), x.clone()
        expected = fn(x_eager, y)
        assert same(cf(x_comp, y), expected)
        assert same(x_comp, x_eager)          # the caller sees the same mutation
    assert counter.frame_count == 1 and counter.op_count >= 3
    assert cf.stats.recompiles == 0


def test_python_and_math_constants(counter):
    SCALE = 0.5

    def fn(x):
        return x * math.pi + math.sqrt(2.0) - SCALE * 3 + int("4") + float(2) + abs(-3) + max(1, 2) + round(2.6)

    _check(counter, fn, lambda: (torch.randn(3),), ops_at_least=2)


def test_dtype_and_device_arguments(counter):
    def fn(x):
        return x.to(torch.float16), x.to(dtype=torch.int32), torch.zeros(2, dtype=x.dtype, device=x.device), x.type(torch.float64)

    _check(counter, fn, lambda: (torch.randn(2),), ops_at_least=4)


def test_reductions_returning_values_and_indices(counter):
    def fn(x):
        values, indices = x.max(dim=1)
        top = torch.topk(x, 2, dim=-1)
        return values, indices, top.values, top.indices, x.argmin(), torch.sort(x, dim=0)[0]

    _check(counter, fn, lambda: (torch.randn(4, 5),), ops_at_least=4)


def test_split_and_chunk(counter):
    def fn(x):
        a, b = x.chunk(2, dim=1)
        parts = torch.split(x, [1, 3], dim=0)
        first, *rest = x.unbind(0)
        return a * b, parts[0] + parts[1].sum(0), first, len(rest)

    _check(counter, fn, lambda: (torch.randn(4, 6),), ops_at_least=5)


def test_scalar_tensor_arithmetic_with_python_numbers(counter):
    def fn(x, n, f):
        return x * n + f, x.sum() / n, torch.full((2,), f) * n

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(x, 3, 1.5), fn(x, 3, 1.5))
    assert counter.frame_count == 1 and counter.op_count >= 5
    assert cf.stats.recompiles == 0


def test_python_scalar_types_as_dtypes(counter):
    """``dtype=int`` (transformers' sliding-window cache: ``torch.tensor([-1], dtype=int)``),
    ``.to(float)``, ``dtype=bool``: torch reads a Python scalar type as its dtype, and so does the
    graph (fx would write the class as ``<class 'int'>``, not Python: an internal error, eager)."""
    def fn(x):
        index = torch.tensor([-1], dtype=int, device=x.device)
        mask = torch.zeros(x.shape, dtype=bool)
        return x[index].to(float), mask | (x > 0), torch.full((2,), 3, dtype=complex), x.new_ones(2, dtype=int)

    cf = _check(counter, fn, lambda: (torch.randn(4),))
    assert [t.dtype for t in cf(torch.randn(4))] == [torch.float64, torch.bool, torch.complex128, torch.int64]
