"""A number computed from tensor data (``len(x.nonzero())``, ``x.nonzero().shape[0]``: an unbacked
SymInt) used where Python needs its concrete value (a dict key, ``range``, ``if``, a list index) is
a graph break (GB003, data-dependent) that resumes after the instruction, not an internal error
that ran the whole frame eagerly with a warning (fuzz finding F3: ``GuardOnDataDependentSymNode``
reached the frame boundary as an internal failure).
"""

import warnings

import pytest
import torch

import bytegraph

G = {}


def dict_key(x):
    y = x * 2
    G[len(y.nonzero())] = 1
    return y + 1


def range_bound(x):
    acc = x * 2
    for i in range(len(acc.nonzero())):
        acc = acc + i
    return acc


def branch(x):
    y = x.cos()
    n = y.nonzero().shape[0]
    if n > 2:
        return y * 2
    return y - 1


def list_index(x):
    lst = [1, 2, 3, 4, 5]
    y = x + 1
    return y + lst[len(x.nonzero())]


CALLS = [torch.tensor([1.0, 0.0, 2.0]), torch.tensor([1.0, 3.0, 2.0]), torch.tensor([0.0, 0.0, 2.0]),
         torch.tensor([0.0, 0.0, 0.0])]


@pytest.mark.parametrize("fn", [dict_key, range_bound, branch, list_index], ids=lambda f: f.__name__)
def test_data_dependent_number_used_concretely_breaks_cleanly(fn):
    compiled = bytegraph.compile(fn)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for x in CALLS:
            G.clear()
            expected, eager_g = fn(x), dict(G)
            G.clear()
            got = compiled(x)
            assert torch.equal(got, expected) and G == eager_g, (x, got, expected)
    stats = compiled.stats
    assert not [w for w in caught if "bytegraph" in str(w.message)], [str(w.message) for w in caught]
    assert stats.eager_reasons == [], stats.eager_reasons          # no internal error, no eager frame
    assert stats.break_reasons and all("GB003" in r and "computed from tensor data" in r
                                       for r in stats.break_reasons), stats.break_reasons
    assert stats.graphs >= 1 and stats.recompiles == 0, stats     # the part before the break is a graph


# -- unbacked symbols in a graph an AOTAutograd backend compiles ---------------------------------
# The ShapeEnv is shared with the backend: a symbol ``x.nonzero()`` made stayed "pending" after
# the trace, and AOTAutograd's own trace of the graph refused it ("PendingUnbackedSymbolNotFound:
# pending unbacked symbols {u0} not in returned outputs"): the whole frame ran eagerly with an
# internal-error warning (fuzz seed 70091: ``def g8(a, k=len(t4.nonzero()))``). Each symbol is now
# bound to the node whose output carries it (``unbacked_bindings``, as Dynamo records them).

def count_as_number(x):
    y = x * 2
    return y * len(y.nonzero())


def count_as_default(x):
    y = x * 2
    def g(t, k=len(y.nonzero())):       # a data-dependent default, made inside the compiled code
        return t * k + 1
    return g(y)


def count_unused(x):
    y = x * 2
    n = len(y.nonzero())   # noqa: F841 - made, never used: still bound
    return y - 1


def flag_as_default(x):
    y = x * 2
    def g(t, k=int(y.sum() > 0)):        # int() of a tensor: a clean graph break (GB004)
        return t * k
    return g(y)


# (function, captures: graphs, whether a recorded graph break is expected)
UNBACKED = [(count_as_number, 1, False), (count_as_default, 1, False), (count_unused, 1, False),
            (flag_as_default, 2, True)]


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
@pytest.mark.parametrize("case", UNBACKED, ids=lambda c: c[0].__name__)
def test_unbacked_symbol_in_a_graph(case, backend):
    fn, captures, breaks = case
    compiled = bytegraph.compile(fn, backend=backend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for x in CALLS:
            assert torch.equal(compiled(x), fn(x)), x
    assert not [w for w in caught if "bytegraph" in str(w.message)], [str(w.message) for w in caught]
    stats = compiled.stats_all
    assert len(stats) == captures and all(s.eager_reasons == [] for s in stats), stats
    assert stats[0].graphs == 1 and stats[0].recompiles == 0, stats     # (the resume function: one per value of k)
    reasons = [r for s in stats for r in s.break_reasons]
    assert bool(reasons) == breaks and all("GB004" in r for r in reasons), reasons
