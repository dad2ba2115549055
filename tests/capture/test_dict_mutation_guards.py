"""A pre-existing dict that compiled code mutates is written back key by key (``DictVariable.replay``:
``del d[k]`` and ``d[k] = v`` for what changed), so keys the trace never saw survive and one entry
serves dicts with other keys; only when the traced key order cannot be reached that way (a key
deleted and set again) is the dict rewritten whole, under a guard on its key set. A method whose
effect depends on whether a key is there (``setdefault``, ``pop`` with a default) guards that. Found by the fuzzer
(tests/fuzz/findings: a key added by an earlier call lost, ``setdefault`` replacing the
existing value by a new one, a reordered dict put back in the traced order).
"""

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def setitem_new_key(x, d):
    d["c"] = x
    return x + 1


def setdefault_append(x, d):
    d.setdefault("c", []).append(1)
    return x + 1


def pop_with_default(x, d):
    v = d.pop("c", None)
    return x + 1, v


def delete_key(x, d):
    del d["a"]
    return x + 1


def move_to_end(x, d):
    v = d.pop("a")
    d["a"] = v + 1
    return x * v


def update(x, d):
    d.update(z=2)
    return x * 2


# (program, dicts for successive calls, compiles expected)
CASES = {
    "setitem": (setitem_new_key, [{"a": 1}, {"c": 0, "a": 1}, {"a": 1}], 1),
    "setdefault": (setdefault_append, [{"a": 1}, {"a": 1, "c": [5]}, {"a": 1}], 2),
    "pop": (pop_with_default, [{"a": 1}, {"a": 1, "c": 3}, {"a": 1}], 2),
    "del": (delete_key, [{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1, "b": 2}], 1),
    "update": (update, [{"a": 1}, {"a": 1, "k": 3}, {"k": 3, "a": 1}], 1),
    "reorder": (move_to_end, [{"a": 1, "b": 2}, {"b": 2, "a": 1, "k": 3}, {"a": 1, "b": 2}], 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dict_mutation_matches_eager(case, counter):
    fn, dicts, compiles = CASES[case]
    cf = bytegraph.compile(fn, backend=counter)
    for d in dicts:
        mine, theirs = _copy(d), _copy(d)
        inner = mine.get("c")
        assert same(cf(torch.ones(2), mine), fn(torch.ones(2), theirs))
        assert list(mine) == list(theirs) and same(mine, theirs), (case, mine, theirs)
        if isinstance(inner, list) and "c" in mine:
            assert mine["c"] is inner          # the existing value is kept, not rebuilt
    assert (cf.stats.captures, cf.stats.graphs, cf.stats.eager) == (compiles, compiles, 0), cf.stats
    assert counter.frame_count == compiles


def _copy(d):
    return {k: list(v) if isinstance(v, list) else v for k, v in d.items()}
