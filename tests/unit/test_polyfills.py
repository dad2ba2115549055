"""bytegraph.variables.polyfills, run as plain Python: each equivalent gives the items the C
function gives, in the same order, and raises the same error type, over a grid of arguments.
(tests/capture/test_stdlib_calls.py traces them.)"""

import collections
import functools
import itertools
import math
import operator
import re
import sys

import pytest

from bytegraph.variables import polyfills

POOLS = [[], [1], [1, 2], "abc", [3, 1, 3, 2], range(5)]


def _take(it, n=40):
    return list(itertools.islice(it, n))        # (the C islice: bounds the infinite ones)


def _same(c_call, py_call):
    try:
        expected = _take(c_call())
    except Exception as e:   # noqa: BLE001 - the polyfill must raise the same type
        with pytest.raises(type(e)):
            _take(py_call())
        return
    assert _take(py_call()) == expected


@pytest.mark.parametrize("pool", POOLS, ids=repr)
def test_combinatorics(pool):
    for r in (None, 0, 1, 2, 3, 6):
        _same(lambda: itertools.permutations(pool, r), lambda: polyfills.permutations(pool, r))
    for r in (0, 1, 2, 3, 6, -1):
        _same(lambda: itertools.combinations(pool, r), lambda: polyfills.combinations(pool, r))
        _same(lambda: itertools.combinations_with_replacement(pool, r),
              lambda: polyfills.combinations_with_replacement(pool, r))
    for repeat in (0, 1, 2, -1):
        _same(lambda: itertools.product(pool, [0, 1], repeat=repeat), lambda: polyfills.product(pool, [0, 1], repeat=repeat))
    _same(lambda: itertools.product(), lambda: polyfills.product())


@pytest.mark.parametrize("pool", POOLS, ids=repr)
def test_slicing_and_grouping(pool):
    for args in [(0,), (2,), (None,), (1, 3), (0, None, 2), (4, 1), (1, 10, 3), (-1,), (0, 3, 0), (0, "a")]:
        _same(lambda: itertools.islice(pool, *args), lambda: polyfills.islice(pool, *args))
    _same(lambda: ((k, list(g)) for k, g in itertools.groupby(pool)),
          lambda: ((k, list(g)) for k, g in polyfills.groupby(pool)))
    _same(lambda: ((k, list(g)) for k, g in itertools.groupby(pool, key=lambda v: str(v) < "2")),
          lambda: ((k, list(g)) for k, g in polyfills.groupby(pool, key=lambda v: str(v) < "2")))
    _same(lambda: itertools.pairwise(pool), lambda: polyfills.pairwise(pool))
    for n in (0, 1, 3):
        _same(lambda: [list(t) for t in itertools.tee(pool, n)], lambda: [list(t) for t in polyfills.tee(pool, n)])
    _same(lambda: itertools.tee(pool, -1), lambda: polyfills.tee(pool, -1))
    _same(lambda: itertools.cycle(pool), lambda: polyfills.cycle(pool))
    _same(lambda: itertools.compress(pool, [1, 0, 1]), lambda: polyfills.compress(pool, [1, 0, 1]))
    if sys.version_info >= (3, 12):
        for n in (1, 2, 3, 0):
            _same(lambda: itertools.batched(pool, n), lambda: polyfills.batched(pool, n))


@pytest.mark.parametrize("pool", [p for p in POOLS if not isinstance(p, str)], ids=repr)
def test_accumulating_and_filtering(pool):
    _same(lambda: itertools.accumulate(pool), lambda: polyfills.accumulate(pool))
    _same(lambda: itertools.accumulate(pool, operator.mul, initial=2),
          lambda: polyfills.accumulate(pool, operator.mul, initial=2))
    _same(lambda: itertools.accumulate(pool, max), lambda: polyfills.accumulate(pool, max))
    small = lambda v: v < 3                                        # noqa: E731
    for c_fn, py_fn in [(itertools.takewhile, polyfills.takewhile), (itertools.dropwhile, polyfills.dropwhile),
                        (itertools.filterfalse, polyfills.filterfalse)]:
        _same(lambda: c_fn(small, pool), lambda: py_fn(small, pool))
    _same(lambda: itertools.filterfalse(None, pool), lambda: polyfills.filterfalse(None, pool))
    _same(lambda: itertools.starmap(operator.add, zip(pool, pool)), lambda: polyfills.starmap(operator.add, zip(pool, pool)))
    _same(lambda: itertools.zip_longest(pool, [7], fillvalue=0), lambda: polyfills.zip_longest(pool, [7], fillvalue=0))
    _same(lambda: itertools.zip_longest(), lambda: polyfills.zip_longest())
    for initial in ((), (10,)):
        _same(lambda: [functools.reduce(operator.add, pool, *initial)],
              lambda: [polyfills.reduce(operator.add, pool, *initial)])


def test_products():
    for values, start in [([], 1), ([2, 3], 1), ([2.5, 4], 2), ([1, 2], 0.5), ([True, 3], 1)]:
        assert polyfills.prod(values, start=start) == math.prod(values, start=start)
        assert type(polyfills.prod(values, start=start)) is type(math.prod(values, start=start))


def test_counters_and_repeats():
    _same(lambda: itertools.count(), lambda: polyfills.count())
    _same(lambda: itertools.count(2.5, -0.5), lambda: polyfills.count(2.5, -0.5))
    for times in (None, 0, 3, -2):
        _same(lambda: itertools.repeat("x", times) if times is not None else itertools.repeat("x"),
              lambda: polyfills.repeat("x", times))
    c, py = collections.Counter(), collections.Counter()
    collections._count_elements(c, "abracadabra")
    polyfills.count_elements(py, "abracadabra")
    assert c == py


def test_lazy_ones_read_their_input_as_they_are_iterated():
    """islice reads only what it needs (the rest of the iterator stays for the caller), as C's."""
    for c_fn, py_fn in [(itertools.islice, polyfills.islice)]:
        it_c, it_py = iter(range(10)), iter(range(10))
        assert list(c_fn(it_c, 1, 4, 2)) == list(py_fn(it_py, 1, 4, 2))
        assert list(it_c) == list(it_py)
    it_c, it_py = iter(range(10)), iter(range(10))
    assert list(itertools.takewhile(lambda v: v < 3, it_c)) == list(polyfills.takewhile(lambda v: v < 3, it_py))
    assert list(it_c) == list(it_py)


def test_count_of_a_tensor_does_not_write_its_start():
    """C's count adds (``PyNumber_Add``): the start it yielded first stays as it was (fuzz seed 43294)."""
    import torch

    starts = {"c": torch.zeros(2), "py": torch.zeros(2)}
    got = {"c": _take(itertools.count(starts["c"], 2), 3), "py": _take(polyfills.count(starts["py"], 2), 3)}
    assert [t.tolist() for t in got["c"]] == [t.tolist() for t in got["py"]]
    assert starts["py"].tolist() == starts["c"].tolist() == [0.0, 0.0] and got["py"][0] is starts["py"]


class Logged:
    """A value whose ``<`` is logged: the C heap functions and ours must compare the same pairs
    in the same order (a traced ``<`` may be a tensor op or a guard)."""

    def __init__(self, v, log):
        self.v, self.log = v, log

    def __lt__(self, other):
        self.log.append((self.v, other.v))
        return self.v < other.v


HEAP_OPS = [("heappush", 1), ("heappop", 0), ("heapreplace", 1), ("heappushpop", 1), ("_heappop_max", 0),
            ("_heapreplace_max", 1)]


@pytest.mark.parametrize("seed", range(6))
def test_heap_functions_compare_and_arrange_as_the_c_ones(seed):
    import heapq
    import random

    rng = random.Random(seed)
    values = [rng.randint(0, 9) for _ in range(rng.randint(0, 30))]
    logs = {"c": [], "py": []}
    heaps = {k: [Logged(v, logs[k]) for v in values] for k in logs}
    funcs = {"c": lambda name: getattr(heapq, name),
             "py": lambda name: polyfills.EQUIVALENTS[getattr(heapq, name)]}
    maxed = rng.random() < 0.5
    for k in logs:
        funcs[k]("_heapify_max" if maxed else "heapify")(heaps[k])
    for _ in range(40):
        name, nargs = rng.choice([op for op in HEAP_OPS if op[0].startswith("_heap") == maxed])
        item = rng.randint(0, 9)
        results = {}
        for k in logs:
            args = [Logged(item, logs[k])] if nargs else []
            try:
                out = funcs[k](name)(heaps[k], *args)
                results[k] = getattr(out, "v", out)
            except Exception as e:   # noqa: BLE001 - the same type and message
                results[k] = (type(e), str(e))
        assert results["c"] == results["py"], name
        assert [h.v for h in heaps["c"]] == [h.v for h in heaps["py"]], name
    assert logs["c"] == logs["py"]


def test_heap_functions_reject_what_the_c_ones_reject():
    import heapq

    for name, args in [("heappush", ((), 1)), ("heapify", ((1, 2),)), ("heappop", ([],)), ("heapreplace", ([], 1)),
                       ("_heappop_max", ([],)), ("heappushpop", ("ab", 1)), ("_heapify_max", ({},)),
                       ("_heapreplace_max", ([], 2)), ("heappop", ((),))]:
        c_fn = getattr(heapq, name)
        with pytest.raises(Exception) as c_err:
            c_fn(*args)
        with pytest.raises(c_err.type, match=re.escape(str(c_err.value))):
            polyfills.EQUIVALENTS[c_fn](*args)
    assert polyfills.EQUIVALENTS[heapq.heappushpop]([], 3) == heapq.heappushpop([], 3) == 3


def test_every_equivalent_is_registered_for_tracing():
    from bytegraph.variables.builtins import HANDLERS, is_builtin

    assert all(c_fn in HANDLERS and is_builtin(c_fn) for c_fn in polyfills.EQUIVALENTS)
    assert itertools.product in polyfills.EQUIVALENTS and functools.reduce in polyfills.EQUIVALENTS
