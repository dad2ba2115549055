"""Builder rules "dict", "dict with object keys", "defaultdict or mappingproxy", "set of
literals", and range, slice and frozenset under "literal"/"slice" (docs/builder.md). A dict
is guarded by type; its values lazily under ``d[key]``; its keys as the code uses them (one
key's presence for ``in``, DICT_KEYS once the whole key set matters). Each case: (a) use,
(b) change what is guarded and see a recompile naming the source, (c) change what is not
(an unread key or value, an equal new object) and see none."""

import collections
import enum
import types

import torch

import bytegraph
from bytegraph.testing import same


class Color(enum.Enum):
    RED = 1
    BLUE = 2


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


def _run(cf, fn, *calls):
    for args in calls:
        assert same(cf(*args), fn(*args))


# -- dict with literal keys ------------------------------------------------------------------------
def test_dict_read_by_key_unread_keys_and_values_are_free(counter):
    def fn(d):
        return d["w"] * 2

    cf = bytegraph.compile(fn, backend=counter)
    _run(cf, fn, ({"w": torch.randn(2)},), ({"w": torch.randn(2), "z": 1},), ({"z": "x", "w": torch.randn(2)},))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, ({"w": torch.randn(3)},), ({"w": torch.randn(3), "q": 0},))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['d']['w']: size mismatch")


def test_dict_literal_value_change_recompiles(counter):
    def fn(x, cfg):
        return x * cfg["scale"] if cfg["act"] == "id" else (x * cfg["scale"]).relu()

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, {"scale": 2, "act": "id", "note": 1}), (x, {"scale": 2, "act": "id", "note": 2}))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, {"scale": 2, "act": "relu", "note": 1}), (x, {"scale": 2, "act": "relu"}))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['cfg']['act']: expected EQUALS_MATCH 'id', got 'relu'")


def test_get_guards_one_key(counter):
    def fn(x, d):
        b = d.get("b")
        return x * 2 if b is None else x + b

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    _run(cf, fn, (x, {"a": torch.randn(2)}), (x, {"a": 1, "c": torch.randn(2)}), (x, {"c": "v"}))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, {"b": torch.randn(2)}), (x, {"b": torch.randn(2), "a": 0}))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['d']: expected DICT_NOT_CONTAINS 'b'")


def test_membership_guards_one_key(counter):
    def fn(x, d):
        return x * d["k"] if "k" in d else x - 1

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    _run(cf, fn, (x, {"k": 1.5}), (x, {"k": 1.5, "j": torch.randn(2)}), (x, {"j": 3, "k": 1.5}))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, {"j": 1}), (x, {"j": 2, "i": torch.randn(2)}))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['d']: expected DICT_CONTAINS 'k'")


def test_len_guards_the_key_set(counter):
    def fn(x, d):
        return x * len(d)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    _run(cf, fn, (x, {"a": 1}), (x, {"a": "unread value"}), (x, {"a": 1, "b": 2}), (x, {"a": 1, "b": 3}))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['d']: expected DICT_KEYS ('a',), got keys ['a', 'b']")


def test_int_and_str_keys_of_equal_text_are_distinct(counter):
    def fn(x, d):
        return x * d[1] + d["1"]

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(2)
    _run(cf, fn, (x, {1: 2, "1": 3}), (x, {"1": 3, 1: 2}), (x, {1: 5, "1": 3}))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['d'][1]: expected EQUALS_MATCH 2, got 5")


def test_enum_keys(counter):
    def fn(x, weights):
        return x * weights[Color.RED]

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    _run(cf, fn, (x, {Color.RED: torch.ones(2), Color.BLUE: 0}), (x, {Color.RED: torch.zeros(2)}))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, {Color.RED: torch.ones(2, dtype=torch.float64)}),)
    _assert_counts(counter, cf, 2, 1)
    assert "dtype mismatch" in cf.stats.recompile_reasons[0] and "Color.RED" in cf.stats.recompile_reasons[0]


def test_tuple_keys_are_guarded_one_by_one(counter):
    def fn(x, table):
        return x * table[(0, 1)]

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(2)
    _run(cf, fn, (x, {(0, 1): 2, (1, 0): 3}), (x, {(0, 1): 2, (1, 0): 3}))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, {(0, 1): 4, (1, 0): 3}), (x, {(0, 1): 4, (1, 0): 3}))
    _assert_counts(counter, cf, 2, 1)
    assert "L['table']" in cf.stats.recompile_reasons[0]


class _Key:
    """Hashed by identity."""


def test_object_key_lookup_that_missed_guards_the_key_is_another_object(counter):
    """Traced with a key not in the dict: `k in d` was decided by identity, so a later call
    whose key *is* one of the dict's keys must miss the cache (DISTINCT_OBJECTS)."""
    k1, k2, k3 = _Key(), _Key(), _Key()

    def fn(x, d, k):
        return (x * d[k], True) if k in d else (x, False)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    for k in (k3, k3, k2, k1, k3):
        d = {k1: 1.5, k2: 2.5}
        assert same(cf(x, d, k), fn(x, d, k))
    assert cf.stats.captures == 3
    assert cf.stats.recompile_reasons[0].startswith("DISTINCT_OBJECTS: aliasing between inputs changed")


def test_object_identity_comparison_guards_distinctness(counter):
    a, b = _Key(), _Key()

    def fn(x, p, q):
        return x + 1 if p is q else x - 1

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    for p, q in ((a, b), (a, b), (a, a), (b, b)):
        assert same(cf(x, p, q), fn(x, p, q))
    assert cf.stats.captures == 2 and counter.frame_count == 2


def test_star_star_kwargs_values(counter):
    def fn(x, **opts):
        return x * opts["scale"]

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    for kw in ({"scale": 2.0}, {"scale": 2.0}, {"scale": 3.0}, {"scale": 3.0, "extra": 1}):
        assert same(cf(x, **kw), fn(x, **kw))
    _assert_counts(counter, cf, 3, 2)
    assert cf.stats.recompile_reasons[0].startswith("L['opts']['scale']: expected EQUALS_MATCH 2.0, got 3.0")
    assert cf.stats.recompile_reasons[1].startswith("L['opts']: expected DICT_KEYS")   # **kwargs keys are bound


# -- OrderedDict ---------------------------------------------------------------------------------------
def test_ordered_dict_iteration_order_and_type(counter):
    def fn(d):
        return [k + str(v.shape[0]) for k, v in d.items()], [v * 2 for v in d.values()]

    cf = bytegraph.compile(fn, backend=counter)
    OD = collections.OrderedDict
    a, b = torch.randn(2), torch.randn(3)
    _run(cf, fn, (OD(a=a, b=b),), (OD(a=b[:2], b=a.repeat(2)[:3]),))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (OD(b=b, a=a),), (dict(b=b, a=a),))
    _assert_counts(counter, cf, 3, 2)
    assert cf.stats.recompile_reasons[0].startswith("L['d']: expected DICT_KEYS ('a', 'b'), got keys ['b', 'a']")
    assert cf.stats.recompile_reasons[1].startswith("L['d']: expected TYPE_MATCH OrderedDict, got type dict")


# -- defaultdict and mappingproxy ----------------------------------------------------------------------------
def test_defaultdict_existing_key_and_type(counter):
    def fn(d):
        return d["a"] * 2

    cf = bytegraph.compile(fn, backend=counter)
    DD = collections.defaultdict
    _run(cf, fn, (DD(list, a=torch.randn(2)),), (DD(int, a=torch.randn(2), b=1),))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (dict(a=torch.randn(2)),), (dict(a=torch.randn(2)),))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['d']: expected TYPE_MATCH defaultdict, got type dict")


def test_defaultdict_missing_key_calls_the_factory_and_inserts(counter):
    def fn(x, d):
        return x + len(d["missing"])

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        d, ref = collections.defaultdict(list, a=1), collections.defaultdict(list, a=1)
        assert same(cf(x, d), fn(x, ref))
        assert d == ref and list(d) == ["a", "missing"]
    _assert_counts(counter, cf, 1, 0)


def test_mappingproxy_value_is_guarded(counter):
    def fn(x, ns):
        return x * ns["a"]

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(2)
    MP = types.MappingProxyType
    _run(cf, fn, (x, MP({"a": 2, "b": 1})), (x, MP({"a": 2, "b": 7})))
    _assert_counts(counter, cf, 1, 0)
    backing = {"a": 3}
    _run(cf, fn, (x, MP(backing)))
    backing["a"] = 4                                  # a live view: the guard sees the backing dict
    _run(cf, fn, (x, MP(backing)))
    _assert_counts(counter, cf, 3, 2)
    assert cf.stats.recompile_reasons[0].startswith("L['ns']['a']: expected EQUALS_MATCH 2, got 3")


# -- set and frozenset of literals ---------------------------------------------------------------------------
def test_set_of_literals_contents_are_guarded(counter):
    def fn(x, acts):
        return x.relu() if "relu" in acts else x.tanh()

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, {"relu", "gelu"}), (x, {"gelu", "relu"}), (x, {"gelu"}), (x, {"gelu"}))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['acts']: expected EQUALS_MATCH frozenset(")


def test_frozenset_is_a_literal(counter):
    def fn(x, dims):
        return x.sum(tuple(sorted(dims)))

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2, 3, 4)
    _run(cf, fn, (x, frozenset({0, 2})), (x, frozenset([2, 0])), (x, frozenset({1})), (x, frozenset({1})))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['dims']: expected EQUALS_MATCH frozenset({0, 2})")


# -- range and slice ----------------------------------------------------------------------------------------
def test_range_argument(counter):
    def fn(x, r):
        return sum(x * i for i in r), len(r)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    _run(cf, fn, (x, range(3)), (x, range(0, 3)), (x, range(1, 4)), (x, range(1, 4)))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['r']: expected EQUALS_MATCH range(0, 3), got range(1, 4)")


def test_slice_bounds_are_guarded_one_by_one(counter):
    def fn(x, s):
        return x[s] * 2

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    _run(cf, fn, (torch.randn(6), slice(1, 3)), (torch.randn(6), slice(1, 3, None)))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (torch.randn(6), slice(1, 5)), (torch.randn(6), slice(1, 5, 2)))
    _assert_counts(counter, cf, 3, 2)
    assert cf.stats.recompile_reasons[0].startswith("L['s'].stop: expected EQUALS_MATCH 3, got 5")
    assert cf.stats.recompile_reasons[1].startswith("L['s'].step")
