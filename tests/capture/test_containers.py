"""Tuples, lists, dicts and named tuples: built, unpacked, passed in, returned and
manipulated with their methods inside the traced code. One graph each."""

import collections

import pytest
import torch

import bytegraph
from bytegraph.testing import same

Pair = collections.namedtuple("Pair", ["first", "second"])


def _run(counter, fn, make_args, calls=3):
    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(calls):
        args = make_args()
        assert same(cf(*args), fn(*args))
    return cf


def _one_graph(counter, cf, ops):
    assert cf.stats.eager_reasons == []
    assert counter.frame_count == 1
    assert counter.op_count == ops
    assert cf.stats.recompiles == 0


def test_tuple_build_index_unpack(counter):
    def fn(x, y):
        t = (x, y, x + y)
        a, b, c = t
        return t[0] * c, t[-1], t[1:], (a, (b, c))

    cf = _run(counter, fn, lambda: (torch.randn(2), torch.randn(2)))
    _one_graph(counter, cf, 2)


def test_star_unpacking(counter):
    def fn(xs):
        first, *middle, last = xs
        head, *tail = middle
        return first + last, len(middle), head, tail, [*xs, first], (*middle, last)

    cf = _run(counter, fn, lambda: ([torch.randn(2) for _ in range(5)],))
    _one_graph(counter, cf, 1)


def test_list_methods_on_local_list(counter):
    def fn(x):
        out = [x, x * 2]
        out.append(x + 1)
        out.extend([x - 1, x - 2])
        out.insert(0, x.sin())
        last = out.pop()
        out.reverse()
        out[0] = out[0] * 10
        del out[1]
        copy = out.copy()
        copy.clear()
        names = ["a", "b", "c", "b"]
        names.remove("b")
        return out, last, copy, len(out), names, names.index("b"), names.count("c")

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    _one_graph(counter, cf, 6)


def test_list_operators_and_slicing(counter):
    def fn(xs):
        doubled = xs + xs
        repeated = [xs[0]] * 3
        return doubled[::2], repeated, xs[1:][::-1], sum(xs[:2]), 0 in [0, 1], 5 not in (1, 2)

    cf = _run(counter, fn, lambda: ([torch.randn(2) for _ in range(3)],))
    _one_graph(counter, cf, 2)         # sum() is 0 + a + b


def test_sort_list_of_constants(counter):
    def fn(x, sizes):
        s = list(sizes)
        s.sort(reverse=True)
        return x * s[0], sorted(sizes), s.count(2), min(s), max(s)

    cf = _run(counter, fn, lambda: (torch.randn(3), (3, 1, 2, 2)))
    _one_graph(counter, cf, 1)


def test_torch_cat_of_built_list(counter):
    def fn(x):
        parts = []
        for i in range(3):
            parts.append(x[:, i:i + 1] * i)
        return torch.cat(parts, dim=1), torch.stack(parts).sum(0)

    cf = _run(counter, fn, lambda: (torch.randn(2, 3),))
    _one_graph(counter, cf, 9)


def test_dict_build_and_methods(counter):
    def fn(x):
        d = {"a": x, "b": x * 2}
        d["c"] = x + 1
        d.update({"e": x - 1}, f=x * 3)
        popped = d.pop("b")
        d.setdefault("g", popped)
        default = d.get("missing", x.sum())
        copy = d.copy()
        del copy["a"]
        merged = d | {"z": popped}
        return d, copy, default, "a" in d, list(d.keys()), list(d.values()), list(d.items()), merged, len(d)

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    _one_graph(counter, cf, 5)


def test_dict_input_read_and_rebuilt(counter):
    def fn(batch):
        out = {k: v.float() * 2 for k, v in batch.items() if k != "skip"}
        out["n"] = len(batch)
        return out

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        batch = {"x": torch.randn(2), "y": torch.randint(0, 5, (3,)), "skip": torch.randn(1)}
        assert same(cf(batch), fn(batch))
    _one_graph(counter, cf, 3)      # x.float() of a float tensor is x itself: no op


def test_dict_constructor_and_zip(counter):
    def fn(x, y):
        d = dict(zip(["p", "q"], [x, y]))
        e = dict(d, r=x * y)
        f = dict([("s", x), ("t", y)])
        return e, f, {**d, "u": x - y}

    cf = _run(counter, fn, lambda: (torch.randn(2), torch.randn(2)))
    _one_graph(counter, cf, 2)


def test_nested_containers_input(counter):
    def fn(data):
        (a, b), rest = data["pair"], data["rest"]
        return a @ b + rest[0]["w"], [r["w"].sum() for r in rest]

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        data = {"pair": (torch.randn(2, 3), torch.randn(3, 2)), "rest": [{"w": torch.randn(2, 2)}, {"w": torch.randn(1)}]}
        assert same(cf(data), fn(data))
    _one_graph(counter, cf, 4)


def test_structseq_from_torch_max(counter):
    def fn(x):
        result = torch.max(x, dim=1)
        vals, idx = result
        return result.values * 2, result.indices, vals + 1, idx, result[0], result

    cf = _run(counter, fn, lambda: (torch.randn(3, 4),))
    _one_graph(counter, cf, 5)


def test_namedtuple_input_fields(counter):
    def fn(p):
        a, b = p
        return p.first * p.second + a - b, p[0], p[1:]

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        p = Pair(torch.randn(2), torch.randn(2))
        assert same(cf(p), fn(p))
    _one_graph(counter, cf, 3)


def test_namedtuple_fields_attribute(counter):
    def fn(p):
        return p.first * len(p._fields)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        p = Pair(torch.randn(2), torch.randn(2))
        assert same(cf(p), fn(p))
    _one_graph(counter, cf, 1)


def test_namedtuple_created_in_traced_code(counter):
    def fn(x):
        p = Pair(x, x + 1)
        return p.first + p.second

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        assert same(cf(x), fn(x))
    _one_graph(counter, cf, 2)


def test_namedtuple_constructed_and_returned(counter):
    def fn(x):
        return Pair(first=x.sin(), second=x.cos())

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    _one_graph(counter, cf, 2)


def test_tuple_and_list_conversions(counter):
    def fn(xs):
        t = tuple(xs)
        lst = list(t)
        lst.append(t[0] * 2)
        return t, lst, tuple(range(3)), list("ab"), tuple(reversed(lst))

    cf = _run(counter, fn, lambda: ([torch.randn(2), torch.randn(2)],))
    _one_graph(counter, cf, 1)


def test_enumerate_of_dict_and_len_checks(counter):
    def fn(d):
        out = []
        for i, k in enumerate(d):
            out.append(d[k] * i)
        return out if len(out) == len(d) else None

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        d = {"x": torch.randn(2), "y": torch.randn(2)}
        assert same(cf(d), fn(d))
    _one_graph(counter, cf, 2)


@pytest.mark.parametrize("n", [1, 4])
def test_list_of_tensors_any_length(counter, n):
    def fn(xs):
        return sum(t * i for i, t in enumerate(xs))

    cf = _run(counter, fn, lambda: ([torch.randn(3) for _ in range(n)],))
    assert counter.frame_count == 1 and cf.stats.recompiles == 0
    assert counter.op_count == 2 * n


class _PlainDictSub(dict):
    pass


def test_dict_and_double_star_of_a_dict_subclass(counter):
    def fn(x, m):
        return x + 1, dict(m), {**m, "z": 0}

    cf = bytegraph.compile(fn, backend=counter)
    for m in (_PlainDictSub(a=1), _PlainDictSub(a=1, b=2)):
        assert same(cf(torch.ones(2), m), fn(torch.ones(2), m))
    assert cf.stats.eager == 0 and not cf.stats.break_reasons
