"""Side effects (issue #5), mutation kind by mutation kind, checked on the mutated objects after
every call (not only on the return value): lists, dicts, sets, attributes of user objects and
modules, globals, nonlocals, buffers (BatchNorm running statistics); several mutations of one
object in program order; mutations followed by a graph break whose native code reads the
mutated state; objects created while tracing that escape; and tracing itself never changing
user state (a frame that falls back to eager applies its mutations once, not twice).

Exact counts: a pre-existing int that the program increments is guarded by value, so such
tests recompile once per call and say so.
"""

import copy
import sys
import threading

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.testing import same

THIS = sys.modules[__name__]
COUNT = 0
REGISTRY = None
SEEN = []


@pytest.fixture(autouse=True)
def _clear_seen():
    SEEN.clear()
    yield
    SEEN.clear()


def _shape(cf):
    """(captures, graphs, eager) of the function, then of each resume function."""
    return [(s.captures, s.graphs, s.eager) for s in cf.stats_all]


def _check_mutations(counter, fn, make_state, calls=3):
    """Call compiled ``fn`` and eager ``fn`` on equal fresh states; after each call the returned
    values and every state object must be equal (and the compiled call's objects still the
    same objects)."""
    cf = bytegraph.compile(fn, backend=counter)
    for i in range(calls):
        x = torch.randn(2)
        mine, theirs = make_state(i), make_state(i)
        ids = [id(o) for o in mine]
        assert same(cf(x, *mine), fn(x, *theirs))
        for a, b in zip(mine, theirs):
            assert same(_state(a), _state(b)), (a, b)
        assert [id(o) for o in mine] == ids
    return cf


def _state(obj):
    if isinstance(obj, (list, dict)):
        return obj
    if isinstance(obj, set):
        return sorted(obj)
    return dict(vars(obj))


# -- lists, dicts, sets --------------------------------------------------------------------------
def test_list_mutations_in_program_order(counter):
    def fn(x, lst):
        lst.append(x + 1)
        lst[0] = lst[0] * 2
        lst.extend([x, x * 3])
        v = lst.pop(1)
        lst.insert(0, v)
        del lst[-1]
        lst.reverse()
        return x.sum()

    cf = _check_mutations(counter, fn, lambda i: ([torch.ones(2) * i, torch.zeros(2)],))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_dict_mutations_keep_eager_key_order(counter):
    def fn(x, d):
        d["new"] = x + 1
        del d["old"]
        d.update({"u": x * 2, "old": x})        # "old" comes back, now last
        d.setdefault("s", x)
        kept = d.pop("keep")
        return kept + x

    def make(i):
        return ({"old": 1, "keep": torch.full((2,), float(i))},)

    cf = _check_mutations(counter, fn, make)
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_set_mutations(counter):
    def fn(x, s):
        s.add("a")
        s.discard("z")
        s |= {"q"}
        return x * len(s)

    cf = _check_mutations(counter, fn, lambda i: ({"z", "k"},))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_mutations_through_two_names_for_one_list(counter):
    def fn(x, a, b):
        a.append(1)
        b.append(2)
        a[0] = a[-1] * 10
        return x + len(b)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        mine, theirs = [0], [0]
        assert same(cf(x, mine, mine), fn(x, theirs, theirs))
        assert mine == theirs == [20, 1, 2]
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_augmented_assignment_extends_the_input_list_in_place(counter):
    def fn(x, lst):
        lst += [x]
        lst *= 2
        return x + 1

    cf = _check_mutations(counter, fn, lambda i: (["a"],))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_augmented_assignment_on_attribute_keeps_list_identity(counter):
    class Holder:
        def __init__(self):
            self.items = [0]

    def fn(x, h):
        h.items += [x * 2]
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        h = Holder()
        before = h.items
        x = torch.randn(2)
        assert same(cf(x, h), x)
        assert h.items is before and same(before, [0, x * 2])
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


# -- attributes, modules, globals, nonlocals -----------------------------------------------------
class Obj:
    def __init__(self, i):
        self.a = torch.full((2,), float(i))
        self.b = "z"


def test_attribute_stores_and_deletes_on_user_object(counter):
    def fn(x, o):
        o.a = o.a + 1
        o.c = x * 2
        del o.b
        o.a = o.a * 10            # the same attribute again: its final value is written
        return x

    cf = _check_mutations(counter, fn, lambda i: (Obj(i),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


class Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_buffer("steps", torch.zeros(()))
        self.calls = 0
        self.last = None

    def forward(self, x):
        self.calls += 1
        self.steps += 1                 # a buffer updated in place (in the graph)
        self.last = x.detach()
        return self.lin(x) * self.calls


def test_module_attribute_and_buffer_updates(counter):
    model = Counting()
    ref = copy.deepcopy(model)
    cm = bytegraph.compile(model, backend=counter)
    for i in range(1, 4):
        x = torch.randn(1, 2)
        assert same(cm(x), ref(x))
        assert model.calls == ref.calls == i
        assert same(model.steps, ref.steps) and same(model.last, ref.last)
    # `self.calls` is an int guarded by value: each call sees a new one and recompiles
    assert cm.stats.captures == 3 and cm.stats.eager == 0 and counter.frame_count == 3
    assert all("calls" in r for r in cm.stats.recompile_reasons)


def test_global_stores_including_a_dict_created_inside(counter, monkeypatch):
    monkeypatch.setattr(THIS, "COUNT", 0)
    monkeypatch.setattr(THIS, "REGISTRY", None)

    def fn(x):
        global COUNT, REGISTRY
        COUNT = COUNT + 1
        REGISTRY = {"t": x * 2, "n": COUNT}
        return x + COUNT, REGISTRY

    cf = bytegraph.compile(fn, backend=counter)
    for i in range(1, 4):
        x = torch.randn(2)
        out, reg = cf(x)
        assert THIS.COUNT == i and reg is THIS.REGISTRY          # the escaping dict is one object
        assert same(REGISTRY, {"t": x * 2, "n": i}) and same(out, x + i)
    # COUNT is guarded by value, then a graph input once it has varied (DESIGN 46)
    assert cf.stats.captures == 2 and counter.frame_count == 2
    assert type(THIS.COUNT) is int and type(REGISTRY["n"]) is int
    assert cf.stats.eager == 0


def test_nonlocal_stores(counter):
    def make_counter():
        n = 0
        total = None

        def step(x):
            nonlocal n, total
            n += 1
            total = x * n if total is None else total + x * n
            return total

        return step, lambda: (n, total)

    mine, read_mine = make_counter()
    theirs, read_theirs = make_counter()
    cf = bytegraph.compile(mine, backend=counter)
    for i in range(1, 4):
        x = torch.randn(2)
        assert same(cf(x), theirs(x))
        assert read_mine()[0] == read_theirs()[0] == i and same(read_mine()[1], read_theirs()[1])
    assert cf.stats.captures == 3 and counter.frame_count == 3     # n is guarded by value
    assert cf.stats.eager == 0


def test_nonlocal_writes_of_a_closure_called_twice_are_seen_by_the_second_call(counter):
    """Each inlined call of ``step`` reaches the same real cell: one tracker per cell, so the
    second call reads what the first wrote (before, it re-read the real cell: a stale value)."""
    def make_counter():
        n = 0

        def step():
            nonlocal n
            n += 1
            return n

        return step

    mine, theirs = make_counter(), make_counter()

    def fn(x, step):
        a = step()
        b = step()
        return x * a * b, step.__closure__[0].cell_contents

    cf = bytegraph.compile(fn, backend=counter)
    for i in range(3):
        x = torch.randn(2)
        assert same(cf(x, mine), fn(x, theirs))
        assert mine.__closure__[0].cell_contents == theirs.__closure__[0].cell_contents == 2 * (i + 1)
    assert cf.stats.eager == 0 and counter.frame_count == cf.stats.captures


def test_dict_subclass_override_runs_once(counter):
    class LoggedDict(dict):
        def __setitem__(self, k, v):
            super().__setitem__(k, v)
            self.log.append(k)

    def fn(x, d):
        d["a"] = x
        d["b"] = x + 1
        return x * 2

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        mine, theirs = LoggedDict(), LoggedDict()
        mine.log, theirs.log = [], []
        assert same(cf(x, mine), fn(x, theirs))
        assert same(dict(mine), dict(theirs)) and mine.log == theirs.log == ["a", "b"]
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


# -- BatchNorm running statistics ----------------------------------------------------------------
def test_batchnorm_train_mode_running_stats(counter):
    model = nn.BatchNorm1d(4)
    ref = copy.deepcopy(model)
    cm = bytegraph.compile(model, backend=counter)
    for i in range(1, 4):
        x = torch.randn(8, 4)
        assert same(cm(x), ref(x))
        assert same(model.running_mean, ref.running_mean) and same(model.running_var, ref.running_var)
        assert model.num_batches_tracked.item() == ref.num_batches_tracked.item() == i
    assert cm.stats.captures == 1 and cm.stats.eager == 0 and counter.frame_count == 1


def test_batchnorm_cumulative_average_breaks_and_keeps_stats(counter):
    model = nn.BatchNorm1d(3, momentum=None)     # factor 1 / float(num_batches_tracked): a break
    ref = copy.deepcopy(model)
    cm = bytegraph.compile(model, backend=counter)
    for i in range(1, 4):
        x = torch.randn(5, 3)
        assert same(cm(x), ref(x))
        assert same(model.running_mean, ref.running_mean) and same(model.running_var, ref.running_var)
        assert model.num_batches_tracked.item() == ref.num_batches_tracked.item() == i
    reasons = [r for st in cm._bytegraph.stats_all for r in st.break_reasons]
    assert reasons and all("float()" in r for r in reasons)
    # the root frame breaks at its call of forward, which runs through its own wrapper: forward
    # before float(), then after it, where the factor (a float) is static, then symbolic
    assert [(st.captures, st.graphs, st.eager) for st in cm._bytegraph.stats_all] == [(1, 0, 0), (1, 0, 0)]
    assert counter.frame_count == 4


def test_conv_batchnorm_train_then_eval(counter):
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    ref = copy.deepcopy(model)
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 2, 5, 5)
        assert same(cm(x), ref(x))
        assert same(model[1].running_mean, ref[1].running_mean) and same(model[1].running_var, ref[1].running_var)
    model.eval()
    ref.eval()
    for _ in range(2):
        x = torch.randn(2, 2, 5, 5)
        assert same(cm(x), ref(x))
        assert same(model[1].running_mean, ref[1].running_mean)
        assert model[1].num_batches_tracked.item() == 3
    assert cm.stats.captures == 2 and counter.frame_count == 2
    assert "training" in cm.stats.recompile_reasons[0]


# -- mutations and graph breaks ------------------------------------------------------------------
def _len_probe(lst, _b):
    SEEN.append(len(lst))
    return 0


def test_mutation_is_applied_before_the_native_call_reads_it(counter, capsys):
    def fn(x, lst):
        lst.append(x + 1)
        lst.pop(0)
        print(len(lst), lst[-1].shape)
        sys.call_tracing(_len_probe, (lst, 0))
        lst.append(x)
        return x * 2

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        mine, theirs = ["a", "b"], ["a", "b"]
        assert same(cf(x, mine), fn(x, theirs))
        assert same(mine, theirs)
    assert capsys.readouterr().out == "2 torch.Size([2])\n" * 6
    assert SEEN == [2] * 6                 # the native call saw the appended and popped list
    assert _shape(cf) == [(1, 1, 0), (1, 0, 0), (1, 1, 0)]
    assert counter.frame_count == 2


def test_native_print_of_the_mutated_object(counter, capsys):
    def fn(x, lst):
        lst.append(x + 1)
        print(lst)
        lst.append("after")
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.ones(2)
        mine, theirs = [0], [0]
        assert same(cf(x, mine), fn(x, theirs))
        compiled, eager = capsys.readouterr().out.splitlines()
        assert compiled == eager == "[0, tensor([2., 2.])]"
        assert same(mine, theirs)
    assert _shape(cf) == [(1, 1, 0), (1, 0, 0)] and counter.frame_count == 1


def test_attribute_mutations_on_both_sides_of_a_break(counter, capsys):
    class Cfg:
        pass

    def fn(x, cfg):
        cfg.phase = "a"
        cfg.val = x * 2
        print(cfg.phase)
        cfg.phase = "b"
        return cfg.val + 1

    cf = _check_mutations(counter, fn, lambda i: (Cfg(),))
    assert capsys.readouterr().out == "a\n" * 6
    assert _shape(cf) == [(1, 1, 0), (1, 1, 0)] and counter.frame_count == 2


def _mutating_callee(lst, t):
    lst.append("b")
    print(end="")
    lst.append("c")
    return t * 2


def test_mutations_across_a_break_inside_a_callee_keep_order(counter):
    def fn(x, lst):
        lst.append("a")
        y = _mutating_callee(lst, x + 1)
        lst.append("d")
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        mine, theirs = [], []
        assert same(cf(x, mine), fn(x, theirs))
        assert mine == theirs == ["a", "b", "c", "d"]
    assert _shape(cf) == [(1, 1, 0), (1, 0, 0)]
    assert counter.frame_count == 2           # fn before the call, the callee after its print


def test_created_list_aliased_across_a_break(counter):
    def fn(x, out):
        tmp = [x]
        out.append(tmp)
        print(end="")
        tmp.append(x * 2)          # the resume function's tmp is the list the caller holds
        return out[-1] is tmp, len(tmp)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        mine, theirs = [], []
        assert cf(x, mine) == fn(x, theirs) == (True, 2)
        assert same(mine, theirs)
    assert _shape(cf) == [(1, 0, 0), (1, 1, 0)] and counter.frame_count == 1


# -- objects created while tracing that escape ---------------------------------------------------
class Box:
    def __init__(self, v):
        self.v = v


def test_created_object_escapes_through_an_input_object(counter):
    class Holder:
        def __init__(self):
            self.items = []
            self.last = None

    def fn(x, h):
        b = Box(x * 2)
        h.items.append(b)
        h.last = b
        return x

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        h = Holder()
        x = torch.randn(2)
        assert same(cf(x, h), x)
        assert len(h.items) == 1 and type(h.last) is Box and h.last is h.items[0]
        assert same(h.last.v, x * 2)
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_created_object_escapes_through_a_global(counter, monkeypatch):
    monkeypatch.setattr(THIS, "REGISTRY", None)

    def fn(x):
        global REGISTRY
        box = Box(x + 1)
        REGISTRY = [box, {"box": box}]
        return box

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        box = cf(x)
        assert THIS.REGISTRY[0] is box and THIS.REGISTRY[1]["box"] is box
        assert same(box.v, x + 1)
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


# -- tracing itself never changes user state -----------------------------------------------------
_LOCK = threading.Lock()


def test_frame_that_falls_back_applies_its_mutations_once(counter):
    def fn(x, lst, d):
        lst.append("before")
        d["k"] = x
        with _LOCK:                      # a break at BEFORE_WITH (a C __exit__): the frame cannot resume
            lst.append("after")
        return x * 1

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        lst, d = [], {}
        assert same(cf(x, lst, d), x)
        assert lst == ["before", "after"] and same(d, {"k": x})
    assert _shape(cf) == [(1, 0, 1)] and counter.frame_count == 0


def test_uncaught_user_error_after_mutations_applies_them_once(counter):
    def fn(x, lst, d):
        lst.append(1)
        d["k"] = 2
        y = x + 1
        raise KeyError("boom")

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        lst, d = [], {}
        with pytest.raises(KeyError, match="boom"):
            cf(torch.randn(2), lst, d)
        assert lst == [1] and d == {"k": 2}
    assert _shape(cf) == [(1, 0, 1)] and counter.frame_count == 0


def test_input_iterator_advances_once_per_call(counter):
    def fn(x, it):
        return x * next(it)

    cf = bytegraph.compile(fn, backend=counter)
    mine, theirs = iter([1, 2, 3, 4, 5]), iter([1, 2, 3, 4, 5])
    for _ in range(3):
        x = torch.randn(2)
        assert same(cf(x, mine), fn(x, theirs))
    assert list(mine) == list(theirs) == [4, 5]
    assert cf.stats.captures == 3 and cf.stats.eager == 0   # the iterator's position is guarded
    assert counter.frame_count == 3


def test_random_number_generator_consumed_as_in_eager(counter):
    def fn(x):
        return x + torch.rand(3), torch.randn(2) * 2

    cf = bytegraph.compile(fn, backend=counter)
    torch.manual_seed(1)
    mine = [cf(torch.zeros(3)) for _ in range(3)] + [torch.rand(2)]
    torch.manual_seed(1)
    theirs = [fn(torch.zeros(3)) for _ in range(3)] + [torch.rand(2)]
    assert same(mine, theirs)
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_mutation_inside_a_data_dependent_branch(counter):
    def fn(x, log):
        log.append("start")
        if x.sum() > 0:
            log.append("pos")
            y = x * 2
        else:
            log.append("neg")
            y = -x
        log.append("end")
        return y

    signs = iter([1.0, -1.0, 1.0, -1.0])
    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(4):
        x = torch.rand(3) * next(signs)
        mine, theirs = [], []
        assert same(cf(x, mine), fn(x, theirs))
        assert mine == theirs and len(mine) == 3
    assert _shape(cf) == [(1, 1, 0), (1, 1, 0), (1, 1, 0)] and counter.frame_count == 3


# -- lists the frame only appends to ----------------------------------------------------------
HISTORY = []


def test_appending_to_a_growing_global_list_does_not_recompile(counter):
    """The trace never reads HISTORY, only appends to it: its length is not guarded, and the
    write-back extends the real list by what was appended (torch.compile recompiles here on
    every call, the list being one longer each time)."""
    def fn(x):
        y = x * 2
        HISTORY.append(y.sum())
        HISTORY.extend([1, 2])
        return y

    cf = bytegraph.compile(fn, backend=counter)
    HISTORY.clear()
    expected = []
    for _ in range(5):
        x = torch.randn(3)
        assert same(cf(x), x * 2)
        expected += [(x * 2).sum(), 1, 2]
    assert len(HISTORY) == 15 and all(same(a, b) for a, b in zip(HISTORY, expected))
    assert cf.stats.captures == counter.frame_count == 1


def test_reading_an_appended_list_guards_its_length(counter):
    def fn(x, log):
        log.append(x.sum())
        return x * len(log)

    cf = bytegraph.compile(fn, backend=counter)
    for n in (0, 0, 2, 2):
        x = torch.randn(3)
        mine, theirs = [0] * n, [0] * n
        assert same(cf(x, mine), fn(x, theirs))
        assert len(mine) == len(theirs) == n + 1 and same(mine[-1], theirs[-1])
    assert cf.stats.captures == 2
    assert cf.stats.recompile_reasons == ["L['log']: expected SEQUENCE_LENGTH 0, got length 2 "
                                          "(guard from builder rule 'list or tuple')"]


def test_append_then_pop_writes_the_whole_list_back(counter):
    def fn(x, log):
        log.append(x)
        log.append(x + 1)
        first = log.pop(0)
        return first * 2

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        mine, theirs = ["a"], ["a"]
        assert same(cf(x, mine), fn(x, theirs))
        assert len(mine) == 2 and same(mine, theirs)
    assert cf.stats.captures == 1


def test_loop_over_a_list_it_appends_to_or_pops_from(counter):
    """``for v in lst`` reads the live list at each step, as CPython's list iterator does."""
    def grows(x, lst):
        for v in lst:
            if len(lst) < 5:
                lst.append(v)
            x = x + v
        return x

    def shrinks(x, lst):
        for v in lst:
            print(end="")
            x = x + v
            if v == 1:
                lst.pop()
        return x

    for fn, make in ((grows, lambda: [1, 2]), (shrinks, lambda: [1, 2, 3])):
        cf = bytegraph.compile(fn, backend=counter)
        for _ in range(2):
            mine, theirs = make(), make()
            assert same(cf(torch.ones(2), mine), fn(torch.ones(2), theirs))
            assert mine == theirs
        assert all(st.eager == 0 for st in cf.stats_all)


def test_side_effects_before_an_op_that_fails_at_run_time_are_kept(counter):
    """The out-of-range index is seen only at run time, outside any try block: the frame is
    rerun eagerly, so the append made before it happens, as in eager, before the IndexError."""
    def fn(x, idx, log):
        log.append("before")
        return x[idx] + 1

    cf = bytegraph.compile(fn, backend=counter)
    mine, theirs = [], []
    assert same(cf(torch.ones(3), torch.tensor([1]), mine), fn(torch.ones(3), torch.tensor([1]), theirs))
    with pytest.raises(IndexError) as e_mine:
        cf(torch.ones(3), torch.tensor([5]), mine)
    with pytest.raises(IndexError) as e_theirs:
        fn(torch.ones(3), torch.tensor([5]), theirs)
    assert str(e_mine.value) == str(e_theirs.value)
    assert mine == theirs == ["before", "before"]
    assert cf.stats.captures == 1


def test_exhausted_list_iterator_stays_exhausted(counter):
    """CPython's list iterator stops for good once it ran out, even if the list grows; one that
    escapes keeps its position (and its exhaustion)."""
    def fn(x, lst):
        it = iter(lst)
        for v in it:
            x = x + v
        lst.append(3)
        for v in it:                     # nothing: it is exhausted
            x = x + v
        later = iter(lst)
        next(later)
        lst.clear()                      # later's position is past the end now
        return x, it, later

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        mine, theirs = [1, 2], [1, 2]
        (a, it_a, later_a), (b, it_b, later_b) = cf(torch.zeros(2), mine), fn(torch.zeros(2), theirs)
        assert same(a, b) and mine == theirs
        mine.append(9), theirs.append(9)
        assert list(it_a) == list(it_b) == []
        assert list(later_a) == list(later_b)


def test_enumerate_and_zip_over_a_list_the_loop_changes(counter):
    def enum(x, lst):
        for i, v in enumerate(lst):
            if len(lst) < 4:
                lst.append(v + i)
            x = x + v * i
        return x

    def zipped(x, lst, other):
        for a, b in zip(lst, other):
            if a == 1:
                lst.append(5)
            x = x + a * b
        return x

    def escaping(x, lst):
        e = enumerate(lst, 10)
        first = next(e)
        return x + first[1], e

    cf, cz, ce = (bytegraph.compile(f, backend=counter) for f in (enum, zipped, escaping))
    for _ in range(2):
        mine, theirs = [1, 2], [1, 2]
        assert same(cf(torch.zeros(2), mine), enum(torch.zeros(2), theirs)) and mine == theirs
        mine, theirs = [1, 2], [1, 2]
        assert same(cz(torch.zeros(2), mine, [1, 2, 3, 4]), zipped(torch.zeros(2), theirs, [1, 2, 3, 4]))
        assert mine == theirs
        (a, e_mine), (b, e_theirs) = ce(torch.zeros(2), [1, 2, 3]), escaping(torch.zeros(2), [1, 2, 3])
        assert same(a, b) and type(e_mine) is enumerate and list(e_mine) == list(e_theirs) == [(11, 2), (12, 3)]


def test_value_read_before_its_source_is_overwritten_is_returned_as_read(counter):
    """``d = o.a; o.a = 1; return d``: the return value is rebuilt before the write-back, so it
    is the value read, not the one written (also for a closure cell after a graph break)."""
    class O:
        pass

    def attr(x, o):
        d, t = o.a, o.t
        o.a, o.t = 1, x * 5
        return x + 1, d, t

    def cell(x):
        c = 0
        print(end="")
        d = c
        c = 1
        g = lambda: c                    # noqa: E731
        return x + 1, d, g()

    ca, cc = bytegraph.compile(attr, backend=counter), bytegraph.compile(cell, backend=counter)
    for _ in range(2):
        mine, theirs = O(), O()
        mine.a = theirs.a = 0
        mine.t = theirs.t = torch.zeros(1)
        assert same(ca(torch.ones(1), mine), attr(torch.ones(1), theirs))
        assert mine.a == theirs.a == 1 and same(mine.t, theirs.t)
        assert same(cc(torch.ones(1)), cell(torch.ones(1)))


def test_resume_function_past_the_recompile_limit_runs_eagerly(counter):
    def fn(x, lst):
        for i in range(12):
            print(end="")
            lst.append(str(i))           # a new string each iteration: the resume recompiles
            x = x + 1
        return x

    cf = bytegraph.compile(fn, backend=counter)
    with pytest.warns(RuntimeWarning, match="recompile limit"):
        mine = []
        assert same(cf(torch.ones(3), mine), torch.full((3,), 13.0))
    assert mine == [str(i) for i in range(12)]
