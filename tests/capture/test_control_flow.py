"""Python control flow resolved at trace time: branches on Python values and tensor
metadata (specialized and guarded), loops over ranges and containers (unrolled),
comprehensions. Changing what a branch depends on recompiles; nothing else does."""

import torch

import bytegraph
from bytegraph.testing import same


def test_if_on_python_bool_argument_recompiles_per_value(counter):
    def fn(x, flag):
        if flag:
            return x.sin()
        return x.cos()

    cf = bytegraph.compile(fn, backend=counter)
    for flag in (True, True, False, False, True):
        x = torch.randn(4)
        assert same(cf(x, flag), fn(x, flag))
    assert counter.frame_count == 2
    assert cf.stats.recompiles == 1
    assert "L['flag']" in cf.stats.recompile_reasons[0]


def test_if_on_shape_specializes_and_recompiles_on_new_shape(counter):
    def fn(x):
        if x.shape[0] > 3:
            return x * 2
        return x - 1

    cf = bytegraph.compile(fn, backend=counter)
    for n in (5, 5, 2, 2, 5):
        x = torch.randn(n, 3)
        assert same(cf(x), fn(x))
    assert counter.frame_count == 2
    assert cf.stats.recompiles == 1
    assert "size mismatch" in cf.stats.recompile_reasons[0]
    ops = [{n.target for n in g.graph.nodes if n.op == "call_function"} for g in counter.graphs]
    assert ops[0] != ops[1]        # each graph holds only its branch


def test_if_on_dim(counter):
    def fn(x):
        if x.dim() == 2:
            return x.sum(1)
        elif x.ndim == 3:
            return x.sum((1, 2))
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for shape in ((2, 3), (2, 3), (2, 3, 4), (2, 3, 4)):
        x = torch.randn(shape)
        assert same(cf(x), fn(x))
    assert counter.frame_count == 2 and cf.stats.recompiles == 1


def test_if_on_dtype_and_is_none(counter):
    def fn(x, bias=None):
        if x.dtype == torch.float64:
            x = x.float()
        if bias is not None:
            x = x + bias
        return x * 2

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        x, b = torch.randn(3), torch.randn(3)
        assert same(cf(x), fn(x))
        assert same(cf(x, b), fn(x, b))
        assert same(cf(x.double(), b), fn(x.double(), b))
    assert counter.frame_count == 3 and cf.stats.recompiles == 2


def test_ternary_and_boolean_operators_on_python_values(counter):
    def fn(x, a, b):
        scale = 2.0 if a and not b else 0.5
        shift = (a or b) and 1
        return x * scale + shift

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(x, 1, 0), fn(x, 1, 0))
    assert counter.frame_count == 1 and cf.stats.recompiles == 0
    assert same(cf(x, 0, 0), fn(x, 0, 0))
    assert counter.frame_count == 2 and cf.stats.recompiles == 1


def test_isinstance_branch(counter):
    def fn(x, y):
        if isinstance(y, torch.Tensor):
            return x + y
        if isinstance(y, (int, float)):
            return x * y
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        x = torch.randn(3)
        assert same(cf(x, torch.ones(3)), fn(x, torch.ones(3)))
        assert same(cf(x, 3), fn(x, 3))
    assert counter.frame_count == 2 and cf.stats.recompiles == 1


def test_for_over_range_unrolls(counter):
    def fn(x, n):
        for i in range(n):
            x = x * 2 + i
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(x, 4), fn(x, 4))
    assert counter.frame_count == 1 and counter.op_count == 8
    assert cf.stats.recompiles == 0
    assert same(cf(x, 2), fn(x, 2))
    assert counter.frame_count == 2 and cf.stats.recompiles == 1


def test_for_over_list_and_tuple_of_tensors(counter):
    def fn(xs, ys):
        total = 0
        for t in xs:
            total = total + t
        for t in ys:
            total = total * t
        return total

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        xs, ys = [torch.randn(2) for _ in range(3)], tuple(torch.randn(2) for _ in range(2))
        assert same(cf(xs, ys), fn(xs, ys))
    assert counter.frame_count == 1 and counter.op_count == 5
    assert cf.stats.recompiles == 0


def test_for_over_dict_items_keys_values(counter):
    def fn(d):
        out = {}
        for k, v in d.items():
            out[k] = v * 2
        names = [k for k in d]
        total = sum(v.sum() for v in d.values())
        return out, names, total

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        d = {"a": torch.randn(3), "b": torch.randn(3)}
        assert same(cf(d), fn(d))
    assert counter.frame_count == 1 and cf.stats.recompiles == 0


def test_zip_enumerate_reversed(counter):
    def fn(xs, ws):
        out = []
        for i, (x, w) in enumerate(zip(xs, ws)):
            out.append(x * w + i)
        for i, x in enumerate(reversed(xs), start=10):
            out.append(x - i)
        return out

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        xs, ws = [torch.randn(2) for _ in range(3)], [torch.randn(2) for _ in range(3)]
        assert same(cf(xs, ws), fn(xs, ws))
    assert counter.frame_count == 1 and counter.op_count == 9
    assert cf.stats.recompiles == 0


def test_while_loop_with_constant_condition(counter):
    def fn(x):
        i = 0
        while i < 4:
            x = x + i
            i += 1
        while True:
            x = x * 2
            if i >= 6:
                break
            i += 1
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    assert counter.frame_count == 1 and counter.op_count == 7
    assert cf.stats.recompiles == 0


def test_break_and_continue(counter):
    def fn(xs):
        out = xs[0] * 0
        for i, x in enumerate(xs):
            if i == 1:
                continue
            if i == 4:
                break
            out = out + x
        return out

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        xs = [torch.randn(3) for _ in range(6)]
        assert same(cf(xs), fn(xs))
    assert counter.frame_count == 1 and cf.stats.recompiles == 0
    assert counter.op_count == 4


def test_nested_loops(counter):
    def fn(x, w):
        for i in range(2):
            for j in range(3):
                if j == i:
                    continue
                x = x + w[i, j]
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x, w = torch.randn(3), torch.randn(2, 3)
        assert same(cf(x, w), fn(x, w))
    assert counter.frame_count == 1 and cf.stats.recompiles == 0


def test_list_dict_comprehensions(counter):
    def fn(x, xs):
        squares = [x * i for i in range(3)]
        evens = [t for i, t in enumerate(xs) if i % 2 == 0]
        table = {f"k{i}": t.sum() for i, t in enumerate(xs)}
        nested = [[a * b for b in range(2)] for a in range(2)]
        return squares, evens, table, nested

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x, xs = torch.randn(2), [torch.randn(2) for _ in range(3)]
        assert same(cf(x, xs), fn(x, xs))
    assert counter.frame_count == 1 and cf.stats.recompiles == 0
    assert counter.op_count == 6


def test_loop_over_tensor_rows(counter):
    def fn(x):
        rows = []
        for row in x:
            rows.append(row.sum())
        return torch.stack(rows)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(4, 3)
        assert same(cf(x), fn(x))
    assert counter.frame_count == 1 and cf.stats.recompiles == 0


def test_any_all_min_max_on_python_values(counter):
    def fn(x, sizes):
        if any(s > 3 for s in sizes) and all(s > 0 for s in sizes):
            return x * max(sizes) + min(sizes)
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(x, [1, 5, 2]), fn(x, [1, 5, 2]))
    assert counter.frame_count == 1 and counter.op_count == 2
    assert cf.stats.recompiles == 0


def test_with_no_grad_block(counter):
    def fn(x, w):
        with torch.no_grad():
            frozen = x @ w
        return frozen + (x @ w)

    cf = bytegraph.compile(fn, backend=counter)
    w = torch.randn(3, 3, requires_grad=True)
    for _ in range(3):
        x = torch.randn(2, 3)
        out = cf(x, w)
        assert same(out, fn(x, w))
    assert cf.stats.eager_reasons == []
    # 2 matmuls + add, and the switch back on; the graph starts with grad off, set before it
    # runs (a leading switch is taken out of the graph: OutputGraph.hoist_leading_grad_mode)
    assert counter.frame_count == 1 and counter.op_count == 4 and cf.stats.recompiles == 0
    assert out.requires_grad


def test_a_huge_range_left_by_break_runs_natively_not_out_of_memory(counter):
    """``for step in range(10**12): ... break`` was read whole at GET_ITER (a list of 10**12
    trackers: the process ran out of memory before the instruction budget could stop the trace,
    as ``islice(it, 1, None)``'s range(sys.maxsize) did in the fuzz slice). A range longer than a
    trace can unroll is a graph break (GB014): the graph before it, the loop run natively."""
    def fn(x):
        y = x.sin()
        for step in range(10**12):
            y = y * 2
            if step == 3:
                break
        return y + 1

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    assert cf.stats.eager == 0 and any("GB014" in r and "range(0, 1000000000000)" in r for r in cf.stats.break_reasons)
