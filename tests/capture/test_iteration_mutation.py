"""Iterating a dict (or one of its views) or a set steps the container as it stands, as CPython's
iterators do: a body that changes its size raises CPython's ``RuntimeError`` at the next step
(``dictionary changed size during iteration``, ``dictionary keys changed during iteration``,
``Set changed size during iteration``), and one that only rewrites values goes on. Before, the
trace iterated a snapshot of the keys and returned normally (fuzz finding F2,
tests/fuzz/findings/dict_changed_during_iteration.py). ``enumerate``/``zip`` over them step them
the same way, and an iterator that crosses a graph break is the dict's own, advanced as far as the
trace went.
"""

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def pop_in_items(x, d):
    for k, v in d.items():
        d.pop("a", None)
    return x + 1


def add_in_keys(x, d):
    out = x
    for k in d:
        out = out + d[k]
        if k == "a":
            d["z"] = 3
    return out


def replace_key_same_size(x, d):
    for k in d:
        if k == "a":
            del d["a"]
            d["b2"] = 5
    return x + len(d)


def rewrite_values(x, d):
    for k, v in d.items():
        d[k] = v * x
    return x + 1


def pop_in_enumerate(x, d):
    out = x
    for i, (k, v) in enumerate(d.items()):
        out = out + i
        if i == 0:
            d.pop(k)
    return out


def values_in_zip(x, d):
    out = x
    for a, v in zip([1, 2, 3], d.values()):
        out = out + a * v
        d["n"] = 1
    return out


def over_a_copy(x, d):
    for k in list(d):
        d.pop(k)
    return x + len(d)


def grow_set(x, s):
    out = x
    for m in s:
        out = out + m
        s.add(m + 10)
    return out


def set_unchanged(x, s):
    out = x
    for m in sorted(s):
        out = out * m
    return out


def exhaust_then_add(x, d):
    for k in d:
        pass
    d["new"] = 1                # the loop is over: no error
    return x + len(d)


# (program, container for each call, whether eager raises on it)
CASES = {
    "pop_in_items": (pop_in_items, lambda i: {"a": 1, "k": 2 + i}, True),
    "pop_absent": (pop_in_items, lambda i: {"b": 1, "k": 2 + i}, False),
    "add_in_keys": (add_in_keys, lambda i: {"a": 1, "b": 2 + i}, True),
    "add_absent": (add_in_keys, lambda i: {"c": 1, "b": 2 + i}, False),
    "replace_key_same_size": (replace_key_same_size, lambda i: {"a": 1, "b": i}, True),
    "rewrite_values": (rewrite_values, lambda i: {"a": 1, "b": i}, False),
    "pop_in_enumerate": (pop_in_enumerate, lambda i: {"a": 1, "b": i}, True),
    "values_in_zip": (values_in_zip, lambda i: {"a": 1, "b": i}, True),
    "over_a_copy": (over_a_copy, lambda i: {"a": 1, "b": i}, False),
    "grow_set": (grow_set, lambda i: {1, 2 + i}, True),
    "set_unchanged": (set_unchanged, lambda i: {1, 2 + i}, False),
    "exhaust_then_add": (exhaust_then_add, lambda i: {"a": 1, "b": i}, False),
}


def _run(fn, arg):
    try:
        return ("returned", fn(torch.ones(2), arg), arg)
    except RuntimeError as e:
        return ("raised", str(e), arg)


@pytest.mark.parametrize("name", list(CASES))
def test_iteration_over_a_changing_container(name):
    fn, make, raises = CASES[name]
    compiled = bytegraph.compile(fn)
    for i in range(3):
        expected, got = _run(fn, make(i)), _run(compiled, make(i))
        assert expected[0] == ("raised" if raises else "returned"), expected
        assert got[0] == expected[0] and same(got[2], expected[2]), (got, expected)
        if raises:
            assert got[1] == expected[1]
        else:
            assert same(got[1], expected[1])
    stats = compiled.stats
    if raises:      # the error is the program's own: it runs eagerly and raises there, every call
        assert stats.graphs == 0 and any("raises RuntimeError" in r for r in stats.eager_reasons), stats
    else:           # captured whole, one graph per key set seen
        assert stats.graphs == stats.captures >= 1 and stats.eager_reasons == [] and stats.break_reasons == [], stats


def items_across_a_break(x, d):
    acc = []
    for k, v in d.items():
        print("step", k)                    # a graph break inside the loop
        acc.append(v)
        if k == "a":
            d["late"] = 0
    return x + sum(acc)


@pytest.mark.parametrize("keys", [("b", "c"), ("b", "a", "c"), ("a",)])
def test_live_dict_iterator_crosses_a_graph_break(keys, capsys):
    """The iterator handed to the resume function is the dict's own, advanced as far as the trace
    went: a change after the break still raises at the next step, as in eager."""
    compiled = bytegraph.compile(items_across_a_break)
    for i in range(2):
        d_e, d_c = {k: i + j for j, k in enumerate(keys)}, {k: i + j for j, k in enumerate(keys)}
        expected, got = _run(items_across_a_break, d_e), _run(compiled, d_c)
        assert got[0] == expected[0] and same(got[2], expected[2]), (got, expected)
        if expected[0] == "returned":
            assert same(got[1], expected[1])
        else:
            assert got[1] == expected[1] == "dictionary changed size during iteration"
    assert compiled.stats.captures >= 1 and any("GB009" in r for r in compiled.stats.break_reasons), compiled.stats


def add_then_loop_across_a_break(x, d):
    d.setdefault("c", []).append(1)         # written back at the break, before the resume
    acc = []
    for k, v in d.items():
        print("step", k)                    # a graph break inside the loop
        acc.append(k)
    return x + len(acc), acc


def test_dict_written_back_at_a_break_does_not_trip_its_iterator(capsys):
    """The iterator handed on at the break is made before the trace's write-back of the dict (a new
    key): it must not count that as a change of size (fuzz seed 60486 raised RuntimeError there)."""
    compiled = bytegraph.compile(add_then_loop_across_a_break)
    for i in range(3):
        d_e, d_c = {"a": i, "k": 2}, {"a": i, "k": 2}
        if i == 2:
            d_e["c"], d_c["c"] = [0], [0]
        expected, got = _run(add_then_loop_across_a_break, d_e), _run(compiled, d_c)
        assert expected[0] == got[0] == "returned", (got, expected)
        assert same(got[1], expected[1]) and same(got[2], expected[2]), (got, expected)
    assert any("GB009" in r for r in compiled.stats.break_reasons) and compiled.stats.eager_reasons == []


def grow_then_break_in_loop(x, d):
    acc = []
    for k, v in d.items():
        acc.append(v * 2)
        d.setdefault("c", [])               # grows the dict in the trace, before the break
        torch.ones(2).sum().item()          # a graph break inside the loop
    return acc


def test_dict_grown_in_the_trace_before_a_break_raises_after_it():
    """The dict grew in the trace after its iterator was made, then the loop hit a break: the
    iterator handed on must still raise at its next step, as CPython's compares the size it was
    made at (fuzz seed 1483 returned normally). A dict that already has the key is not changed."""
    compiled = bytegraph.compile(grow_then_break_in_loop)
    for i in range(4):
        make = (lambda: {"a": torch.ones(2) * i, "k": 2}) if i % 2 == 0 else (lambda: {"a": torch.ones(2), "c": 1})
        expected, got = _run(grow_then_break_in_loop, make()), _run(compiled, make())
        assert got[0] == expected[0] == ("raised" if i % 2 == 0 else "returned"), (i, got, expected)
        assert same(got[1], expected[1]) and same(got[2], expected[2]), (i, got, expected)
    assert any("GB0" in r for r in compiled.stats.break_reasons), compiled.stats
