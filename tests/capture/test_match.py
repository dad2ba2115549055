"""``match`` statements are traced (MATCH_MAPPING/SEQUENCE/KEYS/CLASS, GET_LEN): the pattern
folds while tracing, guarded on what it read, so each call is one graph and a subject of
another shape recompiles instead of running eagerly."""

import dataclasses

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def _check(counter, fn, calls):
    """Compile ``fn`` and compare it with eager on each argument tuple of ``calls``."""
    cf = bytegraph.compile(fn, backend=counter)
    for args in calls:
        assert same(cf(*args), fn(*args)), args
    assert cf.stats.eager == 0
    assert not cf.stats.break_reasons
    return cf


def _mapping(x, cfg):
    y = x + 1
    match cfg:
        case {"k": k, "mode": "scale"}:
            y = y * k
        case {"k": k, **rest}:
            y = y - k * len(rest)
        case _:
            y = y.neg()
    return y.relu()


def test_mapping_patterns_fold_and_guard_the_keys_they_read(counter):
    x = torch.randn(3)
    calls = [(x, {"k": 3, "mode": "scale"}), (x, {"k": 2, "mode": "scale"}), (x, {"k": 2, "a": 0, "b": 1}),
             (x, {"j": 1}), (x, {"k": 3, "mode": "scale"})]
    cf = _check(counter, _mapping, calls)
    # k is a symbolic int after it changed; each case taken is one graph
    assert counter.frame_count == cf.stats.captures == 4
    assert cf.stats.recompiles == 3


def _sequence(x, items):
    match items:
        case []:
            return x
        case [t]:
            return x + t
        case (first, *middle, last):
            return x * first + sum(middle) - last
    return None


def test_sequence_patterns_on_tuples_and_lists_of_tensors(counter):
    x = torch.randn(2)
    t = [torch.randn(2) for _ in range(4)]
    calls = [(x, (t[0],)), (x, [t[1]]), (x, tuple(t)), (x, tuple(t[:3])), (x, []), (x, (t[2], t[3], t[0], t[1]))]
    cf = _check(counter, _sequence, calls)
    # lengths 1, 4, 3 and 0 (a list and a tuple of one item differ in type): one capture each;
    # `case []` returns the input, so it makes no graph
    assert cf.stats.captures == 5
    assert counter.frame_count == 4


def test_a_string_is_not_a_sequence_pattern(counter):
    def fn(x, name):
        match name:
            case [*chars]:
                return x * len(chars)
            case str() as s if s.startswith("r"):
                return x.relu()
            case _:
                return x.neg()

    x = torch.randn(4)
    cf = _check(counter, fn, [(x, "relu"), (x, "rope"), (x, "gelu"), (x, ("a", "b"))])
    assert counter.frame_count == cf.stats.captures == 4


@dataclasses.dataclass
class Point:
    x: int
    y: torch.Tensor


class Plain:
    def __init__(self, scale):
        self.scale = scale


def _classes(t, obj):
    match obj:
        case Point(0, y):
            return t + y
        case Point(x=n, y=y) if n > 1:
            return t * n + y
        case Point():
            return t - 1
        case Plain(scale=s):
            return t * s
        case torch.Tensor():
            return t + obj
        case int(n) | float(n):
            return t + n
    return t


def test_class_patterns_use_match_args_keywords_and_isinstance(counter):
    t = torch.randn(3)
    calls = [(t, Point(0, torch.ones(3))), (t, Point(0, torch.zeros(3))), (t, Point(3, torch.ones(3))),
             (t, Point(1, torch.ones(3))), (t, Plain(2.0)), (t, torch.ones(3)), (t, 4), (t, "nothing")]
    cf = _check(counter, _classes, calls)
    # one capture per case taken, plus Point(1, ...) (n > 1 read x == 3); "nothing" matches no
    # case and returns t (no graph)
    assert cf.stats.captures == 7
    assert counter.frame_count == 6
    assert cf.stats.recompile_reasons[0].startswith("L['obj'].x: expected EQUALS_MATCH 0, got 3")


def test_class_pattern_with_a_missing_attribute_does_not_match(counter):
    def fn(t, obj):
        match obj:
            case Plain(missing=m):
                return t * m
            case Plain(scale=s):
                return t + s
        return t

    has_it = Plain(1)
    has_it.missing = 10
    cf = _check(counter, fn, [(torch.randn(2), Plain(3)), (torch.randn(2), Plain(5)), (torch.randn(2), Plain(7)),
                              (torch.randn(2), has_it)])
    # `missing` is absent: the first case does not match (guarded: an object that has it
    # recompiles); scale becomes symbolic once it changed
    assert cf.stats.graphs == counter.frame_count == 3
    assert "missing" in cf.stats.recompile_reasons[-1]


def test_too_many_positional_sub_patterns_raise_as_eager(counter):
    def fn(t, obj):
        match obj:
            case Point(a, b, c):
                return t * a
        return t

    cf = bytegraph.compile(fn, backend=counter)
    with pytest.raises(TypeError) as mine:
        cf(torch.randn(2), Point(1, torch.ones(2)))
    with pytest.raises(TypeError) as theirs:
        fn(torch.randn(2), Point(1, torch.ones(2)))
    assert str(mine.value) == str(theirs.value)


class IntSub(int):
    pass


class GetsDefault(dict):
    def get(self, key, default=None):
        return 42 if key == "a" else dict.get(self, key, default)


def test_class_patterns_on_builtin_subclasses_and_mappings_read_through_get(counter):
    """``case IntSub(n)`` matches the subject itself (CPython's MATCH_SELF flag is inherited),
    and a mapping pattern looks keys up with ``subject.get`` (an override is honored)."""
    def cls(x, v):
        match v:
            case IntSub(n):
                return x + 1, type(n).__name__
            case int(n):
                return x - 1, type(n).__name__
        return x, ""

    def mapping(x, m):
        match m:
            case {"a": a}:
                return x + a
        return x

    _check(counter, cls, [(torch.zeros(1), IntSub(3)), (torch.zeros(1), 3)])
    _check(counter, mapping, [(torch.zeros(1), GetsDefault(a=1)), (torch.zeros(1), GetsDefault(b=1)),
                              (torch.zeros(1), {"a": 2})])
