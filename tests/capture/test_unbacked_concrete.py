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
