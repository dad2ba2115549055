"""Values created while tracing (the SourcelessBuilder: no source, no guards): new lists,
dicts, sets, dataclass instances, user objects, closures, partials and iterators built
inside the compiled function and returned. The returned object must equal eager's and have
its type; every call must return a fresh object (nothing is cached between calls); since
the new value itself is unguarded, only what it was built from (inputs, read by their own
rules) can recompile."""

import collections
import dataclasses
import functools

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


def _returns(counter, fn, check, calls=3, graphs=1):
    """Call ``fn`` compiled and eagerly on fresh inputs; ``check(got, expected)`` each time.
    Returns the compiled outputs, which must be distinct objects."""
    cf = bytegraph.compile(fn, backend=counter)
    outs = []
    for _ in range(calls):
        x = torch.randn(3)
        got, expected = cf(x), fn(x)
        assert type(got) is type(expected)
        assert check(got, expected)
        outs.append(got)
    assert len({id(o) for o in outs}) == calls
    _assert_counts(counter, cf, graphs, 0)
    return cf, outs


def _as_list(got, expected):
    return same(list(got), list(expected))


# -- containers -----------------------------------------------------------------------------------------
def test_new_list_is_fresh_each_call(counter):
    def fn(x):
        out = [x * 2, 1, [x + 1, "k"], []]
        out.append(len(out))
        return out

    _, outs = _returns(counter, fn, same)
    outs[0][2].append("mutated")                        # a caller's change never leaks into later calls
    assert outs[1][2] == outs[1][2][:2] and len(outs[1][2]) == 2


def test_new_dict_after_mutation_keeps_eager_order(counter):
    def fn(x):
        d = {"b": x, "a": x * 2}
        d["c"] = x.sum()
        del d["b"]
        d.setdefault("b", 0)
        return d

    _returns(counter, fn, same)


def test_new_ordered_dict_and_defaultdict(counter):
    def fn(x):
        od = collections.OrderedDict(b=x, a=x * 2)
        od["c"] = x.sum()
        dd = collections.defaultdict(list)
        dd["a"].append(x + 1)
        return od, dd

    def check(got, expected):
        return (type(got[0]) is collections.OrderedDict and same(got[0], expected[0])
                and type(got[1]) is collections.defaultdict and got[1].default_factory is list
                and same(dict(got[1]), dict(expected[1])))

    _returns(counter, fn, check)


def test_new_ordered_dict_move_to_end(counter):
    def fn(x):
        od = collections.OrderedDict(b=x, a=x * 2)
        od.move_to_end("b")
        return od

    _returns(counter, fn, same)


def test_new_defaultdict_with_keyword_items(counter):
    def fn(x):
        return collections.defaultdict(list, a=x * 2)

    _returns(counter, fn, lambda g, e: g.default_factory is list and same(dict(g), dict(e)))


def test_new_set_deque_and_namedtuple(counter):
    Pair = collections.namedtuple("Pair", "first second")

    def fn(x):
        s = set()
        s.add(x.shape[0])
        s.add("k")
        q = collections.deque([x, x * 2], maxlen=2)
        q.append(x * 3)
        return s, q, Pair(x.sum(), frozenset(s))

    def check(got, expected):
        return (got[0] == expected[0] and type(got[1]) is collections.deque and got[1].maxlen == 2
                and same(list(got[1]), list(expected[1])) and type(got[2]) is Pair and same(got[2], expected[2]))

    _returns(counter, fn, check)


def test_one_new_list_returned_in_three_places_stays_one_object(counter):
    def fn(x):
        shared = [x * 2]
        return shared, {"again": shared}, (shared,)

    _, outs = _returns(counter, fn, same)
    for out in outs:
        assert out[0] is out[1]["again"] is out[2][0]


# -- dataclasses and user objects -----------------------------------------------------------------------------
@dataclasses.dataclass
class Output:
    logits: torch.Tensor
    n: int
    tags: list = dataclasses.field(default_factory=list)


class Accumulator:
    def __init__(self):
        self.items = []

    def add(self, t):
        self.items.append(t)
        return self


def test_new_dataclass_instance(counter):
    def fn(x):
        out = Output(x.relu(), x.shape[0])
        out.tags.append("relu")
        return out

    _returns(counter, fn, lambda g, e: same(g.logits, e.logits) and g.n == e.n and g.tags == e.tags)


def test_new_dataclass_depends_on_a_guarded_input(counter):
    def fn(x, n):
        return Output(x * n, n)

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    for n in (1, 1, 2, 2):
        x = torch.randn(3)
        got, expected = cf(x, n), fn(x, n)
        assert type(got) is Output and same(got.logits, expected.logits) and got.n == expected.n
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['n']: expected EQUALS_MATCH 1, got 2")


def test_new_user_object_with_attributes_set_after_init(counter):
    def fn(x):
        acc = Accumulator().add(x).add(x * 2)
        acc.total = sum(acc.items)
        return acc

    _returns(counter, fn, lambda g, e: same(g.items, e.items) and same(g.total, e.total) and
             set(vars(g)) == set(vars(e)))


def test_new_bound_method_of_a_new_object(counter):
    def fn(x):
        acc = Accumulator().add(x + 1)
        return acc.add

    def check(got, expected):
        return (type(got.__self__) is Accumulator and got.__func__ is Accumulator.add
                and same(got.__self__.items, expected.__self__.items))

    _returns(counter, fn, check)


# -- closures, lambdas, partials --------------------------------------------------------------------------------
def test_new_closure_sees_the_final_cell_value(counter):
    def fn(x):
        k = x * 2

        def inner(t):
            return t + k
        k = k + 1                                          # the cell, not the value at def time
        return inner

    _returns(counter, fn, lambda g, e: same(g(torch.ones(3)), e(torch.ones(3))))


def test_new_closure_with_nonlocal_state(counter):
    def fn(x):
        n = 0

        def bump():
            nonlocal n
            n += 1
            return n
        bump()
        return bump, x * 2

    _returns(counter, fn, lambda g, e: same(g[1], e[1]) and g[0]() == e[0]() == 2 and g[0]() == e[0]() == 3)


def test_new_lambda_and_partial(counter):
    def fn(x):
        y = x * 2
        return (lambda t: t * y), functools.partial(torch.add, y, alpha=3)

    def check(got, expected):
        t = torch.randn(3)
        return same(got[0](t), expected[0](t)) and type(got[1]) is functools.partial and same(got[1](t), expected[1](t))

    _returns(counter, fn, check)


# -- iterators ------------------------------------------------------------------------------------------------------------
def test_new_list_iterator_partly_consumed(counter):
    def fn(x):
        it = iter([x, x * 2, x * 3])
        first = next(it)
        return first, it

    _returns(counter, fn, lambda g, e: same(g[0], e[0]) and type(g[1]) is type(e[1]) and _as_list(g[1], e[1]))


def test_new_dict_items_view(counter):
    def fn(x):
        return {"a": x * 2, "b": 1}.items()

    _returns(counter, fn, _as_list)


_ITERATORS = {
    "zip": lambda x: zip([x, x * 2], "ab"),
    "map": lambda x: map(torch.sin, [x, x * 2]),
    "enumerate": lambda x: enumerate([x, x * 2]),
    "reversed": lambda x: reversed([x, x * 2]),
    "range_iterator": lambda x: iter(range(x.shape[0])),
}


@pytest.mark.parametrize("kind", sorted(_ITERATORS))
def test_new_builtin_iterator_keeps_its_type(counter, kind):
    _returns(counter, _ITERATORS[kind], _as_list, graphs=0 if kind == "range_iterator" else 1)


def test_new_generator_expression_returned(counter):
    def fn(x):
        return (t * 2 for t in [x, x + 1])

    _returns(counter, fn, _as_list)
