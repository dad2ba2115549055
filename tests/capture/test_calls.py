"""Calls made by the traced code are inlined into the caller's graph: user functions with
every argument form, closures, lambdas, nested defs, methods and descriptors, small
recursion. Each program is one graph."""

import torch

import bytegraph
from bytegraph.testing import same


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
    assert cf.stats.recompiles == 0 and cf.stats.eager == 0


def helper_scale(x, factor):
    return x * factor


def helper_defaults(x, a=1, b=2.0, *, c=3):
    return x * a + b - c


def helper_varargs(x, *rest, **named):
    out = x
    for r in rest:
        out = out + r
    for k in named:
        out = out * named[k]
    return out


def test_inlined_global_function(counter):
    def fn(x):
        return helper_scale(x, 3) + helper_scale(x, 0.5)

    cf = _run(counter, fn, lambda: (torch.randn(4),))
    _one_graph(counter, cf, 3)


def test_default_and_keyword_arguments(counter):
    def fn(x):
        return helper_defaults(x), helper_defaults(x, 2), helper_defaults(x, b=0.5), helper_defaults(x, c=1, a=4)

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    _one_graph(counter, cf, 12)


def test_star_args_and_star_kwargs_in_callee(counter):
    def fn(x, y):
        return helper_varargs(x, y, y), helper_varargs(x, w=2, v=y)

    cf = _run(counter, fn, lambda: (torch.randn(3), torch.randn(3)))
    _one_graph(counter, cf, 4)


def test_call_with_unpacked_tuple_and_dict(counter):
    def fn(x, y):
        args = (x, y)
        kwargs = {"w": 3, "v": y}
        return helper_varargs(*args), helper_varargs(x, *args, **kwargs), helper_defaults(*[x], **{"b": 1.0})

    cf = _run(counter, fn, lambda: (torch.randn(3), torch.randn(3)))
    _one_graph(counter, cf, 8)


def test_compiled_function_with_star_parameters(counter):
    def fn(*xs, **opts):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out * opts["scale"]

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        a, b, c = torch.randn(2), torch.randn(2), torch.randn(2)
        assert same(cf(a, b, c, scale=2), fn(a, b, c, scale=2))
    _one_graph(counter, cf, 3)


def test_keyword_only_and_positional_only_parameters(counter):
    def inner(a, b, /, c, *, d=2):
        return (a - b) * c + d

    def fn(x, y):
        return inner(x, y, 3), inner(y, x, c=x, d=y)

    cf = _run(counter, fn, lambda: (torch.randn(3), torch.randn(3)))
    _one_graph(counter, cf, 6)


def test_closures_read_outer_variables(counter):
    def fn(x, k):
        offset = x.mean()

        def add_offset(t):
            return t + offset * k

        return add_offset(x), add_offset(x * 2)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(4)
        assert same(cf(x, 3), fn(x, 3))
    _one_graph(counter, cf, 6)


def test_closure_writes_with_nonlocal(counter):
    def fn(x):
        acc = x

        def bump(t):
            nonlocal acc
            acc = acc + t

        bump(x)
        bump(x * 3)
        return acc

    cf = _run(counter, fn, lambda: (torch.randn(4),))
    _one_graph(counter, cf, 3)


def test_lambdas_and_map(counter):
    def fn(xs):
        square = lambda t: t * t  # noqa: E731
        return list(map(square, xs)), (lambda a, b=2: a + b)(xs[0]), list(filter(lambda t: t is not None, [xs[1], None]))

    cf = _run(counter, fn, lambda: ([torch.randn(2) for _ in range(3)],))
    _one_graph(counter, cf, 4)


def test_sorted_with_key_lambda(counter):
    def fn(x, sizes):
        order = sorted(sizes, key=lambda v: -v)
        return x * order[0] + order[-1]

    cf = _run(counter, fn, lambda: (torch.randn(3), [3, 1, 2]))
    _one_graph(counter, cf, 2)


def test_sorted_over_kwargs_keys(counter):
    def scale_all(x, **named):
        for k in sorted(named):
            x = x * named[k]
        return x

    def fn(x, y):
        return scale_all(x, w=y, v=2)

    cf = _run(counter, fn, lambda: (torch.randn(3), torch.randn(3)))
    _one_graph(counter, cf, 2)


def test_nested_defs_returning_functions(counter):
    def make_layer(scale):
        def layer(t):
            return torch.relu(t) * scale
        return layer

    def fn(x):
        layers = [make_layer(s) for s in (1.0, 2.0, 3.0)]
        for layer in layers:
            x = layer(x)
        return x

    cf = _run(counter, fn, lambda: (torch.randn(5),))
    _one_graph(counter, cf, 6)


class Scaler:
    factor = 3

    def __init__(self, bias):
        self.bias = bias

    def apply(self, x):
        return self._inner(x) + self.bias

    def _inner(self, x):
        return x * self.factor

    @staticmethod
    def double(x):
        return x * 2

    @classmethod
    def from_class(cls, x):
        return x * cls.factor

    @property
    def shift(self):
        return self.bias * 10


def test_methods_on_user_objects(counter):
    s = Scaler(0.5)

    def fn(x):
        return s.apply(x), s.double(x), Scaler.double(x), s.from_class(x), Scaler.from_class(x), x + s.shift

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    _one_graph(counter, cf, 7)


def test_object_passed_as_argument(counter):
    def fn(obj, x):
        return obj.apply(x) - obj.shift

    cf = bytegraph.compile(fn, backend=counter)
    s = Scaler(2.0)
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(s, x), fn(s, x))
    _one_graph(counter, cf, 3)


class Base:
    def forward(self, x):
        return x + 1


class Child(Base):
    def forward(self, x):
        return super().forward(x) * 2


def test_super_call_inlined(counter):
    obj = Child()

    def fn(x):
        return obj.forward(x)

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    _one_graph(counter, cf, 2)


class Vec:
    def __init__(self, t):
        self.t = t

    def __add__(self, other):
        return self.t + other.t

    def __call__(self, y):
        return self.t * y

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return self.t[i]


def test_dunder_methods_on_user_objects(counter):
    def fn(a, b, y):
        return a + b, a(y), len(a), a[0]

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        a, b, y = Vec(torch.randn(3)), Vec(torch.randn(3)), torch.randn(3)
        assert same(cf(a, b, y), fn(a, b, y))
    _one_graph(counter, cf, 3)


def _fact(n):
    return 1 if n <= 1 else n * _fact(n - 1)


def _tree_sum(xs):
    if len(xs) == 1:
        return xs[0]
    mid = len(xs) // 2
    return _tree_sum(xs[:mid]) + _tree_sum(xs[mid:])


def test_small_recursion(counter):
    def fn(xs):
        return _tree_sum(xs) * _fact(4)

    cf = _run(counter, fn, lambda: ([torch.randn(2) for _ in range(5)],))
    _one_graph(counter, cf, 5)


def test_compiled_bound_method(counter):
    s = Scaler(1.5)
    cf = bytegraph.compile(s.apply, backend=counter)
    for _ in range(3):
        x = torch.randn(4)
        assert same(cf(x), s.apply(x))
    assert counter.frame_count == 1 and counter.op_count == 2
    assert cf.__func__.stats.recompiles == 0


def test_decorator_form(counter):
    @bytegraph.compile(backend=counter)
    def fn(x, y):
        return helper_scale(x, 2) - y

    for _ in range(3):
        x, y = torch.randn(3), torch.randn(3)
        assert same(fn(x, y), x * 2 - y)
    _one_graph(counter, fn, 2)


def test_callable_object_compiled(counter):
    v = Vec(torch.randn(3))
    cf = bytegraph.compile(v, backend=counter)
    for _ in range(3):
        y = torch.randn(3)
        assert same(cf(y), v(y))
    assert counter.frame_count == 1 and counter.op_count == 1
    assert cf.__func__.stats.recompiles == 0
