"""operator.itemgetter / attrgetter / methodcaller (issue 12, item 7): traced as the subscripts,
attribute reads and method calls they stand for, whether made inside the compiled function,
passed in, stored on an object or returned; a getter from outside is guarded on what it was
made from (``__reduce__()``), so an equal new getter hits the cache and another one recompiles.
"""

import operator

import torch

import bytegraph
from bytegraph.testing import same


class Box:
    pass


def _made_inside(t, xs):
    a = operator.itemgetter(0, -1)(xs)
    s = operator.attrgetter("shape")(t)
    m = operator.methodcaller("sum")(t)
    k = operator.methodcaller("sum", dim=0)(t)
    d = operator.attrgetter("dtype", "device.type")(t)
    return a, s, m + 1, k, d


def test_getters_made_inside(counter):
    cf = bytegraph.compile(_made_inside, backend=counter)
    for n in (3, 3, 3):
        t, xs = torch.randn(2, n), [1, 2, 3]
        assert same(cf(t, xs), _made_inside(t, xs))
    assert cf.stats.captures == 1 and cf.stats.graphs == 1 and cf.stats.break_reasons == []


def _stored_and_returned(t, box):
    box.getter = operator.itemgetter(1)
    return operator.methodcaller("mul", 2), box.getter(t), t * 1


def test_getters_stored_and_returned(counter):
    cf = bytegraph.compile(_stored_and_returned, backend=counter)
    for _ in range(3):
        t = torch.randn(3)
        mine, theirs = Box(), Box()
        got, expected = cf(t, mine), _stored_and_returned(t, theirs)
        assert type(got[0]) is operator.methodcaller and same(got[0](t), expected[0](t))
        assert same(got[1:], expected[1:])
        assert type(mine.getter) is operator.itemgetter and mine.getter([5, 6]) == 6
    assert cf.stats.captures == 1 and cf.stats.graphs == 1


def _apply(g, xs, t):
    return g(xs), t + 1


def test_getters_passed_in_are_guarded_on_their_arguments(counter):
    cf = bytegraph.compile(_apply, backend=counter)
    xs, t = [10, 20, 30], torch.ones(1)
    for g in (operator.itemgetter(0), operator.itemgetter(0),          # an equal new getter: hit
              operator.itemgetter(1, 2),                               # other keys: recompile
              operator.methodcaller("count", 20), operator.methodcaller("index", 30)):
        assert same(cf(g, xs, t), _apply(g, xs, t))
    assert cf.stats.captures == 4 and cf.stats.graphs == 4
    assert "__reduce__()" in cf.stats.recompile_reasons[0]


def test_bad_getter_arguments_raise_like_eager(counter):
    def fn(t):
        return operator.attrgetter(1)(t)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        try:
            fn(torch.ones(1))
        except TypeError as e:
            expected = str(e)
        try:
            cf(torch.ones(1))
        except TypeError as e:
            assert str(e) == expected
        else:
            raise AssertionError("no TypeError")
