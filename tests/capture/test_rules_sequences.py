"""Builder rules "namedtuple", "list or tuple" and "deque", and torch.Size under "literal"
(docs/builder.md). A sequence is guarded by type and length; its items are wrapped, and so
guarded, only when the code reads them. Each case: (a) the value is used and the answer is
eager's, (b) changing what is guarded recompiles naming the item's source, (c) changing an
item the code never reads, or passing an equal new object, does not."""

import collections

import torch

import bytegraph
from bytegraph.testing import same

Pair = collections.namedtuple("Pair", ["a", "b"])
OtherPair = collections.namedtuple("OtherPair", ["a", "b"])


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


def _run(cf, fn, *calls):
    for args in calls:
        assert same(cf(*args), fn(*args))


# -- list -----------------------------------------------------------------------------------------
def test_list_item_type_change_recompiles_unread_item_does_not(counter):
    def fn(xs):
        return xs[0] * xs[1]

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, ([x, torch.randn(3), "unread"],), ([x, torch.randn(3), 17],), ([x, torch.randn(3), None],))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, ([x, 2.0, None],), ([x, 2.0, None],))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['xs'][1]: expected a tensor, got float")


def test_list_of_literals_read_item_value_is_guarded(counter):
    def fn(x, cfg):
        return x * cfg[0] + cfg[2]

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, [2, "unread", 1]), (x, [2, "changed", 1]), (x, [2, 99, 1]))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, [2, "x", 5]), (x, [2, "y", 5]))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['cfg'][2]: expected EQUALS_MATCH 1, got 5")


def test_list_iteration_guards_the_length(counter):
    def fn(xs):
        out = 0
        for t in xs:
            out = out + t.sin()
        return out

    cf = bytegraph.compile(fn, backend=counter)
    for n in (2, 2, 3, 3):
        _run(cf, fn, ([torch.randn(2) for _ in range(n)],))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['xs']: expected SEQUENCE_LENGTH 2, got length 3")


def test_empty_list_then_non_empty_list(counter):
    def fn(x, extras):
        return x + sum(extras) if extras else x * 2

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, []), (x, []), (x, [torch.ones(3)]), (x, [torch.zeros(3)]))
    _assert_counts(counter, cf, 2, 1)
    assert "L['extras']" in cf.stats.recompile_reasons[0]


def test_nested_list_inner_item_is_guarded_by_its_own_source(counter):
    def fn(x, groups):
        return x * groups[1][0]

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, [[1, 2], [3, 4]]), (x, [[9, 9], [3, 0]]))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, [[1, 2], [5, 4]]), (x, [[1, 2], [5, 4]]))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['groups'][1][0]: expected EQUALS_MATCH 3, got 5")


def test_list_slice_and_negative_index(counter):
    def fn(xs):
        return xs[-1] - sum(xs[1:-1], xs[0])

    cf = bytegraph.compile(fn, backend=counter)
    for n in (4, 4, 5):
        _run(cf, fn, ([torch.randn(2) for _ in range(n)],))
    _assert_counts(counter, cf, 2, 1)
    assert "L['xs']" in cf.stats.recompile_reasons[0]


def test_append_to_an_input_list_is_replayed(counter):
    def fn(x, log):
        log.append(x * 2)
        return len(log)

    cf = bytegraph.compile(fn, backend=counter)
    log, ref = [], []
    for _ in range(3):
        x = torch.randn(2)
        assert cf(x, log) == fn(x, ref)
        assert same(log, ref)
    _assert_counts(counter, cf, 3, 2)                  # the length is guarded: one entry per length
    assert cf.stats.recompile_reasons[0].startswith("L['log']: expected SEQUENCE_LENGTH 0, got length 1")


# -- tuple ----------------------------------------------------------------------------------------
def test_tuple_unpack_length_change_recompiles(counter):
    def fn(pair):
        a, *rest = pair
        return a + len(rest)

    cf = bytegraph.compile(fn, backend=counter)
    _run(cf, fn, ((torch.randn(2), 1),), ((torch.randn(2), 1),), ((torch.randn(2), 1, 2),))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['pair']: expected SEQUENCE_LENGTH 2, got length 3")


def test_tuple_then_list_with_the_same_items_recompiles(counter):
    def fn(xs):
        return xs[0] + xs[1], type(xs).__name__

    cf = bytegraph.compile(fn, backend=counter)
    a, b = torch.randn(2), torch.randn(2)
    _run(cf, fn, ((a, b),), ((b, a),), ([a, b],))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['xs']: expected TYPE_MATCH tuple, got type list")


# -- namedtuple and structseq ---------------------------------------------------------------------------
def test_namedtuple_field_value_change_recompiles(counter):
    def fn(p):
        return p.a * p.b

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    _run(cf, fn, (Pair(torch.randn(2), 2),), (Pair(torch.randn(2), 2),))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (Pair(torch.randn(2), 3),), (Pair(torch.randn(2), 3),))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['p'][1]: expected EQUALS_MATCH 2, got 3")


def test_namedtuple_of_another_type_recompiles_unread_field_does_not(counter):
    def fn(p):
        return p.a.cos()

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    _run(cf, fn, (Pair(x, 1),), (Pair(x, "unread"),), (Pair(x, None),))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (OtherPair(x, 1),), (OtherPair(x, 1),))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['p']: expected TYPE_MATCH Pair, got type OtherPair")


def test_namedtuple_replace_and_asdict_match_eager(counter):
    def fn(p):
        q = p._replace(b=p.a * 2)
        return q, q._asdict()["b"], p._fields

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        p = Pair(torch.randn(2), 0)
        got, expected = cf(p), fn(p)
        assert same(got, expected) and type(got[0]) is Pair
    _assert_counts(counter, cf, 1, 0)


def test_torch_return_types_by_field_name(counter):
    def fn(x, r):
        return x[r.indices] + r.values

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(4)
    _run(cf, fn, (x, torch.max(torch.randn(3, 4), 1)), (x, torch.max(torch.randn(3, 4), 1)))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, torch.min(torch.randn(3, 4), 1)), (x, torch.min(torch.randn(3, 4), 1)))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['r']: expected TYPE_MATCH max, got type min")


# -- torch.Size (a literal) ------------------------------------------------------------------------------
def test_torch_size_argument_is_guarded_by_value(counter):
    def fn(x, shape):
        return x.reshape(shape) * shape[0]

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(6)
    _run(cf, fn, (x, torch.Size([2, 3])), (x, torch.randn(2, 3).shape), (x, torch.Size([3, 2])))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith(
        "L['shape']: expected EQUALS_MATCH torch.Size([2, 3]), got torch.Size([3, 2])")


def test_torch_size_then_equal_plain_tuple_recompiles(counter):
    def fn(x, shape):
        return x.new_zeros(shape) + x.sum(), shape

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    _run(cf, fn, (x, torch.Size([2, 2])), (x, (2, 2)), (x, (2, 2)))
    _assert_counts(counter, cf, 2, 1)
    assert "L['shape']" in cf.stats.recompile_reasons[0]


# -- deque ----------------------------------------------------------------------------------------------
def test_deque_items_and_length(counter):
    def fn(q):
        return q[0] + q[-1] * len(q)

    cf = bytegraph.compile(fn, backend=counter)
    D = collections.deque
    _run(cf, fn, (D([torch.randn(2), "unread", torch.randn(2)]),), (D([torch.randn(2), 5, torch.randn(2)]),))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (D([torch.randn(2), torch.randn(2)]),), (D([torch.randn(2), torch.randn(2)]),))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['q']: expected SEQUENCE_LENGTH 3, got length 2")


def test_deque_maxlen_decides_what_append_drops(counter):
    def fn(q, x):
        q.append(x)
        return q[0] * 2

    cf = bytegraph.compile(fn, backend=counter)
    for maxlen in (None, None, 2, 2):
        a, b, x = torch.randn(2), torch.randn(2), torch.randn(2)
        q, ref = collections.deque([a, b], maxlen), collections.deque([a, b], maxlen)
        assert same(cf(q, x), fn(ref, x)) and same(list(q), list(ref))
    _assert_counts(counter, cf, 2, 1)
    assert "L['q'].maxlen" in cf.stats.recompile_reasons[0]


def test_deque_maxlen_read_in_code(counter):
    def fn(x, q):
        return x * (q.maxlen or len(q))

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2)
    _run(cf, fn, (x, collections.deque([1], 4)), (x, collections.deque([2], 4)))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, collections.deque([1], 3)), (x, collections.deque([1], 3)))
    _assert_counts(counter, cf, 2, 1)
    assert "L['q'].maxlen" in cf.stats.recompile_reasons[0]
