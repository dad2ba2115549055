"""Programs whose bytecode differs between CPython 3.11, 3.12 and 3.13, captured with the same
graphs and breaks on each (the suite runs on all three; see README "Python versions").

What each construct compiles to: comprehensions are functions on 3.11 and inlined into the
frame from 3.12 (PEP 709: LOAD_FAST_AND_CLEAR saves the variable's slot, a cell included);
``super()`` is a call on 3.11 and LOAD_SUPER_ATTR from 3.12; slices are BUILD_SLICE +
BINARY_SUBSCR on 3.11 and BINARY_SLICE / STORE_SLICE from 3.12; f-strings use FORMAT_VALUE up
to 3.12 and CONVERT_VALUE / FORMAT_SIMPLE / FORMAT_WITH_SPEC on 3.13; keyword calls use
KW_NAMES up to 3.12 and CALL_KW on 3.13; conditions go through TO_BOOL on 3.13; a
generator's StopIteration becomes RuntimeError inside the generator's code from 3.12
(CALL_INTRINSIC_1); ``yield from`` ends with END_SEND from 3.12; closures load cells with
LOAD_FAST on 3.13; 3.13 pairs two local accesses in one instruction (LOAD_FAST_LOAD_FAST,
STORE_FAST_LOAD_FAST, STORE_FAST_STORE_FAST, two local numbers of 4 bits each), which a resume
function, whose locals are numbered anew, splits.

Each test compares with eager over several calls and counts graphs (``counter.frame_count``)
and captures.
"""

from __future__ import annotations

import copy

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def _shape(cf):
    return [(s.captures, s.graphs, s.eager) for s in cf.stats_all]


def _run(counter, fn, make_args, calls=3):
    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(calls):
        args = make_args()
        assert same(cf(*args), fn(*copy.deepcopy(args)))
    return cf


# -- comprehensions (functions on 3.11, inlined from 3.12) ---------------------------------------
def test_comprehension_variable_shadows_a_local_and_is_restored(counter):
    def fn(x):
        i = x * 2
        ys = [x + i for i in range(3)]
        return i + sum(ys)          # `i` is the tensor again, as CPython restores it

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_comprehension_closures_each_get_their_own_cell(counter):
    def fn(x):
        fs = [lambda: x * i for i in range(3)]
        return [f() for f in fs]

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_comprehension_variable_that_is_a_cell_of_the_frame(counter):
    def fn(x):
        k = 1
        get = lambda: k            # noqa: E731 - `k` is a cell of fn
        ys = [x * k for k in range(1, 3)]
        return sum(ys) + get()

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


# A break inside a comprehension runs the whole comprehension natively: on 3.11 it is a function
# call (GB009 at the call of <listcomp>), from 3.12 its inlined code (codegen/comprehension.py).
# Either way: the graph before it, the graph after it, nothing per item.
def test_break_inside_comprehension_runs_it_natively(counter):
    def fn(x):
        y = x + 1
        ks = [print(end="") or y * i for i in range(4)]
        return sum(ks)

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0), (1, 1, 0)] and counter.frame_count == 2


def test_break_inside_comprehension_keeps_the_shadowed_local(counter):
    def fn(x):
        i = 10
        ks = [print(end="") or i for i in range(3)]
        return x * i + sum(ks)

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 0, 0), (1, 1, 0)] and counter.frame_count == 1


def test_break_inside_comprehension_whose_variable_closures_capture(counter):
    def fn(x):
        fs = [print(end="") or (lambda: x * i) for i in range(3)]
        return [f() for f in fs]

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 0, 0), (1, 1, 0)] and counter.frame_count == 1


def test_break_inside_comprehension_reading_a_cell_and_assigning_with_walrus(counter):
    def fn(x):
        k = x + 1
        get = lambda: k            # noqa: E731 - `k` is a cell of fn
        ks = [(last := print(end="") or k * i) for i in range(3)]
        k = k * 2                  # the closure sees it
        return sum(ks) + last + get()

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0), (1, 1, 0)] and counter.frame_count == 2


def test_break_inside_nested_comprehension(counter):
    def fn(x):
        y = x * 2
        rows = [[print(end="") or y * (i + j) for j in range(2)] for i in range(3)]
        return sum(sum(r) for r in rows)

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0), (1, 1, 0)] and counter.frame_count == 2


def test_break_inside_comprehension_inside_a_try_block(counter):
    def fn(x):
        y = x + 1
        try:
            ks = [print(end="") or y * i for i in range(3)]
        except ValueError:
            ks = []
        return sum(ks) + y

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert [s.eager for s in cf.stats_all] == [0] * len(cf.stats_all)


def test_dict_and_set_comprehensions(counter):
    def fn(x):
        d = {k: x * k for k in range(3)}
        s = {k % 2 for k in range(5)}
        return d[2] + len(s)

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


# -- calls and attributes -------------------------------------------------------------------------
class _Base(torch.nn.Module):
    scale = 2.0

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3)

    def forward(self, x, *, bias=0.0):
        return self.lin(x) * self.scale + bias


class _Child(_Base):
    scale = 3.0

    def forward(self, x, *, bias=0.0):
        base = super().forward(x, bias=bias)                  # zero-argument super(), method call
        two = super(_Child, self).forward(x, bias=1.0)        # two-argument form
        return base + two + super().scale                     # super() attribute


def test_super_method_and_attribute(counter):
    model = _Child()
    cm = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 3)
        assert same(cm(x, bias=0.5), model(x, bias=0.5))
    assert counter.frame_count == 1


def _kw(a, b=1, *, c=2, **rest):
    return a * b + c + sum(rest.values())


def test_keyword_calls_and_star_calls(counter):
    def fn(x):
        args, kw = (x,), {"c": 3, "d": 4}
        return _kw(x, b=2, c=1) + _kw(*args, **kw) + x.sum(dim=0, keepdim=True)

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def _breaks_inside(x, *, scale):
    x = x * scale
    print(end="")
    return x + 1


def test_break_inside_a_callee_called_with_keywords(counter):
    def fn(x):
        y = x + 1
        z = _breaks_inside(y, scale=2)
        return z - 1

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    # fn before the call, the callee before and after its print, fn after the call
    assert counter.frame_count == 4 and cf.stats.eager == 0


def test_nested_closures_pass_a_free_variable_on(counter):
    def fn(x):
        k = x + 1

        def outer():
            def inner():
                return k * 2           # `k` is a free variable of outer, passed on to inner
            return inner
        f = outer()
        print(end="")
        return f() + k

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert cf.stats.eager == 0 and counter.frame_count == 2


# -- slices and f-strings ---------------------------------------------------------------------------
def test_slices_read_and_assign(counter):
    def fn(x, lst):
        lst[1:3] = [x, x * 2]
        n = x.shape[0]
        return x[1:n - 1] + lst[0:2][1][0:n - 2], lst[::2]

    cf = _run(counter, fn, lambda: (torch.randn(4), [0, 1, 2, 3]))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_fstring_conversions_and_specs(counter):
    def fn(x, name):
        tag = f"{name!r}:{x.shape[0]:>4}|{name!s}{name!a}|{3.14159:.2f}"
        return x * len(tag), tag

    cf = _run(counter, fn, lambda: (torch.randn(3), "layer"))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_fstring_of_a_tensor_breaks_and_resumes(counter):
    def fn(x):
        y = x + 1
        s = f"{y!r}"
        return y * len(s)

    cf = _run(counter, fn, lambda: (torch.ones(3),))
    assert cf.stats.eager == 0 and counter.frame_count == 2


# -- conditions (TO_BOOL on 3.13) -------------------------------------------------------------------
def test_not_of_a_tensor_condition_breaks_and_resumes(counter):
    def fn(x):
        y = x * 2
        flag = not (y.sum() > 0)
        return y + 1 if flag else y - 1

    cf = bytegraph.compile(fn, backend=counter)
    for sign in (1, -1, 1):
        x = torch.ones(3) * sign
        assert same(cf(x), fn(x))
    assert cf.stats.eager == 0 and cf.stats.break_reasons


def test_and_or_of_tensor_values(counter):
    """``a and b`` as a value: the side that short-circuits keeps ``a`` as the result (3.11:
    JUMP_IF_FALSE_OR_POP; 3.12+: COPY, POP_JUMP_IF_FALSE)."""
    def fn(x, y):
        z = (x.sum() > 0) and y
        w = (x.sum() < 0) or y
        return z * 2, w * 3

    cf = bytegraph.compile(fn, backend=counter)
    for sign in (1, -1, 1, -1):
        x, y = torch.ones(3) * sign, torch.randn(3)
        assert same(cf(x, y), fn(x, y))
    assert [s.eager for s in cf.stats_all] == [0] * len(cf.stats_all) and cf.stats.break_reasons


def test_possibly_unbound_local_raises_as_in_eager(counter):
    def fn(x, flag):
        if flag:
            y = x + 1
        return y * 2

    cf = bytegraph.compile(fn, backend=counter)
    assert same(cf(torch.ones(2), True), fn(torch.ones(2), True))
    with pytest.raises(UnboundLocalError, match="cannot access local variable 'y'"):
        cf(torch.ones(2), False)


def test_swap_and_return_constant(counter):
    def fn(x, y):
        a, b = x, y
        a, b = b, a
        if a.shape[0] == 0:
            return None
        return a - b

    cf = _run(counter, fn, lambda: (torch.randn(3), torch.randn(3)))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


# -- generators -------------------------------------------------------------------------------------
def _stops_early(x):
    yield x + 1
    raise StopIteration          # PEP 479: a RuntimeError for the consumer


def test_stopiteration_inside_a_generator_is_a_runtime_error(counter):
    def fn(x):
        return list(_stops_early(x))

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="generator raised StopIteration"):
            cf(torch.ones(2))
    with pytest.raises(RuntimeError, match="generator raised StopIteration"):
        fn(torch.ones(2))


def _inner(x):
    yield x
    yield x * 2
    return 7


def _outer(x):
    result = yield from _inner(x)
    yield x + result


def test_yield_from_returns_the_inner_value(counter):
    def fn(x):
        return sum(_outer(x))

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_for_loop_with_a_break_in_its_body_runs_to_the_end(counter):
    def fn(x, xs):
        total = x
        for v in xs:
            print(end="")
            total = total + v
        return total * 2

    cf = _run(counter, fn, lambda: (torch.randn(3), [1.0, 2.0, 3.0]))
    assert cf.stats.eager == 0


# -- pairs of local accesses (3.13) in a resume function --------------------------------------------
# A resume function numbers its locals anew: stack values, then the live locals sorted by name. A
# pair that the original numbers below 16 (CPython pairs only those) can land on 16 and above there;
# the pair cannot hold that (packed in 4 bits it reads other locals), so it is split.
def test_pairs_of_locals_renumbered_past_15_after_a_break(counter):
    def fn(x):
        zy = x + 1                  # locals 1 and 2 here; 17 and 18 in the resume function
        zz = x * 2
        a00, a01, a02, a03, a04, a05, a06, a07, a08, a09, a10, a11, a12, a13, a14 = range(15)
        print(end="")               # resume function: ___stack0, a00..a14, x (16), zy, zz
        s = zz * zz                 # LOAD_FAST_LOAD_FAST (zz, zz): local 18 twice
        t = zz - zy
        a00, a14 = a14, a00         # STORE_FAST_STORE_FAST
        print(end="")               # its resume target is mapped back through the first one's
        return s + t * a00 - a14 + a07 + zy * x

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0)] * 3 and counter.frame_count == 3


def test_comprehension_in_a_resume_function_whose_variable_is_local_16(counter):
    lin = torch.nn.Linear(3, 3)

    def fn(x):
        a00, a01, a02, a03, a04, a05, a06, a07, a08, a09, a10, a11, a12, a13 = range(14)
        print(end="")               # resume function: ___stack0, a00..a13, x, then p (16)
        ys = [p.sum() * x for p in lin.parameters()]    # 3.13: STORE_FAST_LOAD_FAST (p, p)
        return ys[0] + ys[1] + a05

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 0, 0), (1, 1, 0)] and counter.frame_count == 1


# -- locals() (PEP 667: a new snapshot on each call from 3.13; the frame's own dict before) ---------
def test_locals_is_read_while_tracing(counter):
    def fn(x):
        y = x + 1
        d = locals()
        return d["y"] * 2 + len(d)

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_locals_and_vars_after_a_break_with_cells(counter):
    def fn(x, n):
        k = x * 2
        get = lambda: k            # noqa: E731 - `k` is a cell: locals() shows its contents
        print(end="")
        d = locals()
        e = vars()                 # 3.11/3.12: the same dict as d, refreshed (now holding d); 3.13: a new one
        return d["k"] + d["x"] * n + len(d) + len(e) + ("get" in d) + (d is e)

    cf = bytegraph.compile(fn, backend=counter)
    for n in (3, 3, 3):
        x = torch.randn(3)
        assert same(cf(x, n), fn(x, n))
    assert cf.stats.eager == 0 and counter.frame_count == 2


def _profiled(x):
    with torch.autograd.profiler.record_function("step"):
        y = x * 2
        print(end="")                   # a graph break inside the open block
        return y + 1


def test_break_inside_record_function_block(counter):
    """The block's ``__exit__`` rebuilt at the break is one value on the stack on every version
    (it was pushed as a call target: on 3.13 the NULL after it was what got stored, and calling
    it crashed the interpreter)."""
    cf = _run(counter, _profiled, lambda: (torch.randn(4),))
    assert _shape(cf) == [(1, 1, 0), (1, 1, 0)] and counter.frame_count == 2
