"""Builtins that consume an iterator take its items one at a time, as CPython does.

``sum(gen, start)``, ``any(gen)``, ``all(gen)`` over a generator: eager runs the generator's
body between the consumer's steps. Unpacked first, ``sum(y * i for i in range(n))`` recorded all
the products before the additions, so autograd accumulated ``y``'s gradient in another order and
it came out one ulp apart (fuzz seed 5009); ``any``/``all`` consumed the whole generator where
CPython stops at the first decisive item (its later side effects happened, a later ``next`` ran
out).

``map``, ``filter``, ``zip``, ``enumerate`` and ``itertools.chain`` are lazy in CPython: ``map``'s
function runs when the loop asks for the next item, generators zipped together run one step each
in turn, a loop over ``enumerate(gen())`` runs the generator's code between the body's steps. They
were read whole when made, which ran the function before the body changed what it reads, and a
log two generators appended to came out in another order: a wrong answer, no error. ``x in gen``
steps the generator up to the first match and leaves the rest (it was a graph break).

An iterator object is stepped too, not only a generator: ``zip(range(n), it)`` takes ``n`` items
of ``it`` and leaves the rest for the program, as does a loop over ``enumerate(it)`` left with
``break``; read whole when made, ``it`` came out empty (``heapq.nsmallest`` returned the wrong
items, no error). ``zip(..., strict=True)`` stops where CPython does and says what CPython says.
"""

from __future__ import annotations

import itertools

import pytest
import torch

import bytegraph
from bytegraph.testing import same


def sum_of_generator(x, y):
    return torch.nn.functional.linear(sum((y * i for i in range(x.shape[0])), y), x).sum()


def test_sum_of_a_generator_interleaves_its_ops_with_the_additions():
    compiled = bytegraph.compile(sum_of_generator)
    for call in range(3):
        torch.manual_seed(call)
        x, y = torch.randn(4, 4), torch.randn(4, 4)
        ye, yc = y.clone().requires_grad_(), y.clone().requires_grad_()
        sum_of_generator(x, ye).backward()
        compiled(x, yc).backward()
        assert torch.equal(ye.grad, yc.grad), call        # bitwise: the same ops in the same order
    assert compiled.stats.graphs == 1 and compiled.stats.recompiles == 0, compiled.stats


def stop_early(x, consumer, threshold):
    seen = []

    def gen():
        for i in range(4):
            seen.append(i)
            yield (i > threshold) if consumer is any else (i <= threshold)

    g = gen()
    decided = consumer(g)
    rest = next(g, "exhausted")
    return x + len(seen), decided, list(seen), rest


@pytest.mark.parametrize("consumer", [any, all], ids=lambda c: c.__name__)
def test_any_and_all_stop_at_the_first_decisive_item(consumer):
    compiled = bytegraph.compile(stop_early)
    for threshold in (1, 1, 5):
        x = torch.randn(2)
        want, got = stop_early(x, consumer, threshold), compiled(x, consumer, threshold)
        assert torch.equal(want[0], got[0]) and want[1:] == got[1:], (threshold, want, got)
    assert compiled.stats.graphs == compiled.stats.captures == 2 and compiled.stats.break_reasons == [], compiled.stats


def map_reads_what_the_body_changes(x):
    scale = [1.0]
    out = []
    for y in map(lambda t: t * scale[0], [x, x, x]):
        scale[0] += 1
        out.append(y)
    return out


def zipped_generators(x):
    log = []

    def gen(name):
        for i in range(2):
            log.append(name)
            yield x * i
    return list(zip(gen("a"), gen("b"))), log


def filter_made_before_it_runs(x):
    seen = []
    kept = filter(lambda t: seen.append(1) or True, [x, x + 1])
    seen.append(0)
    return list(kept), seen


def enumerate_of_a_generator(x):
    log = []

    def gen():
        for i in range(3):
            log.append(i)
            yield x * i
    out = [v + i for i, v in enumerate(gen())]
    for i, v in enumerate(gen()):
        log.append(f"body {i}")
        out.append(v)
    return out, log


def chain_of_generators(x):
    log = []

    def gen(name):
        log.append(name)
        yield x * len(log)

    chained = itertools.chain(gen("a"), gen("b"))
    log.append("made")
    first = next(chained)
    log.append("first")
    return [first, *chained], log


def infinite_inputs(x):
    """Read whole when made, these never end (an error or a trace that ran out of budget)."""
    return ([t * i for i, t in zip(range(3), itertools.cycle([x, -x]))],
            list(map(lambda i, t: t * i, itertools.count(), [x, x])),
            [i for _, i in zip(range(2), filter(None, itertools.count()))])


def membership_stops_at_the_first_match(x):
    log = []

    def gen():
        for i in range(5):
            log.append(i)
            yield i

    g = gen()
    found = 2 in g                  # steps g up to 2 and no further
    log.append("found")
    return x * len(log), found, list(g), log, dict.fromkeys(i * 2 for i in range(2))


def zip_leaves_the_rest_of_an_iterator(x):
    it = iter([x, x + 1, x + 2, x + 3])
    pairs = list(zip(range(2), it))              # takes two items of it, as CPython's zip does
    tail = iter((1, 2, 3))
    z = zip(tail, "ab")
    first = next(z)
    return [t * i for i, t in pairs], list(it), first, list(tail), list(z)


def enumerate_left_with_break(x):
    it = iter([x, x * 2, x * 3, x * 4])
    for i, v in enumerate(it):
        if i == 1:
            break
    return v, list(it)


def smallest_items(x):
    import heapq

    values = [3.0, 1.0, 2.0, 5.0, 0.5]
    return x * heapq.nsmallest(2, values)[-1], heapq.nlargest(2, values), heapq.nsmallest(2, values, key=lambda v: -v)


def chain_from_iterable_of_generators(x):
    log = []

    def gen(tag):
        for i in range(2):
            log.append(tag)
            yield x * i

    out = []
    for t in itertools.chain.from_iterable([gen("a"), gen("b")]):
        log.append("body")
        out.append(t)
    return out, log


def strict_zip_errors(x):
    out = []
    for args in (([x, x], [1]), ([x], [1, 2]), ([x], [1], [2, 3]), ([x, x], [1, 2])):
        try:
            out.append([t * k for t, k, *_ in zip(*args, strict=True)])
        except ValueError as e:
            out.append(str(e))
    try:
        reversed(iter([x]))
    except TypeError as e:
        out.append(str(e))
    return out


@pytest.mark.parametrize("fn", [map_reads_what_the_body_changes, zipped_generators, filter_made_before_it_runs,
                                enumerate_of_a_generator, chain_of_generators, infinite_inputs,
                                membership_stops_at_the_first_match, zip_leaves_the_rest_of_an_iterator,
                                enumerate_left_with_break, smallest_items, chain_from_iterable_of_generators,
                                strict_zip_errors],
                         ids=lambda f: f.__name__)
def test_lazy_builtins_step_their_inputs_as_they_are_asked(fn):
    compiled = bytegraph.compile(fn)
    for call in range(3):
        x = torch.randn(2) + call
        assert same(compiled(x), fn(x)), call
    assert compiled.stats.graphs == compiled.stats.captures == 1 and compiled.stats.break_reasons == [], compiled.stats


def test_a_partly_consumed_map_that_escapes_is_a_map_at_the_same_place():
    def fn(x):
        m = map(lambda t: t * 2, [x, x + 1, x + 2])
        first = next(m)
        return first, m

    compiled = bytegraph.compile(fn)
    x = torch.randn(2)
    first, rest = compiled(x)
    assert type(rest) is map and same([first, *rest], [x * 2, (x + 1) * 2, (x + 2) * 2])


def test_an_exhausted_iterator_from_outside_the_frame():
    """An exhausted list iterator reduces to ``(iter, ((),))``, without a position: it is wrapped
    as one with nothing left (it was an internal error, so the frame ran eagerly), and a fresh
    one passed next recompiles."""
    def fn(x, it):
        return x + 1, list(it)

    compiled = bytegraph.compile(fn)
    for _ in range(2):
        spent = iter([1, 2])
        list(spent)
        x = torch.randn(2)
        assert same(compiled(x, spent), fn(x, spent))
    fresh = iter([1, 2])
    assert same(compiled(x, fresh), (x + 1, [1, 2]))
    assert compiled.stats.graphs == 2 and compiled.stats.eager == 0 and compiled.stats.recompiles == 1, compiled.stats


def test_one_iterator_reached_twice_is_one_object():
    """An iterator from outside the frame passed as two arguments, or live across a graph break
    (the frame's local and the value a call was being built with): one tracker, advanced once per
    step. It had one per source, each replayed its steps on the real iterator: StopIteration
    reached the program (fuzz seed 41606)."""
    def twice(it, it2, x):
        return x * next(it), next(it2), list(it)

    def across_a_break(x, gate):
        it = iter([x, x + 1, x + 2])
        for a, b in zip(it, [x * 2 if gate.sum() > 0 else x]):      # a break while zip's arguments are built
            pass
        return a + b, list(it)

    compiled = bytegraph.compile(twice)
    for call in range(3):
        mine, theirs = iter([1, 2, 3, 4]), iter([1, 2, 3, 4])
        x = torch.randn(2) + call
        assert same(compiled(mine, mine, x), twice(theirs, theirs, x))
        assert list(mine) == list(theirs)
    assert compiled.stats.graphs == 1 and compiled.stats.break_reasons == [], compiled.stats
    compiled = bytegraph.compile(across_a_break)
    for call in range(3):
        x, gate = torch.randn(2), torch.full((1,), call - 1.0)
        assert same(compiled(x, gate), across_a_break(x, gate))
    assert compiled.stats.eager == 0 and len(compiled.stats.break_reasons) == 1, compiled.stats


def generator_driven_by_send(x):
    """A coroutine-style generator: the value of each ``yield`` is what ``send`` passed."""
    def running_total():
        total = x * 0
        while True:
            v = yield total
            if v is None:
                return "closed"
            total = total + v

    def delegating():
        got = yield from running_total()
        yield got

    gen = running_total()
    first = next(gen)
    a, b = gen.send(x), gen.send(x * 2)
    try:
        gen.send(None)
        ended = None
    except StopIteration as e:
        ended = e.value
    d = delegating()
    next(d)
    c = d.send(x + 1)
    try:
        running_total().send(1)
        fresh = None
    except TypeError as e:
        fresh = str(e)
    return first, a, b, ended, c, d.send(None), fresh


def test_send_resumes_the_paused_yield_with_its_value():
    """``gen.send(v)`` made the frame run eagerly (a break at LOAD_METHOD that cannot resume)."""
    compiled = bytegraph.compile(generator_driven_by_send)
    for call in range(3):
        x = torch.randn(2) + call
        assert same(compiled(x), generator_driven_by_send(x))
    assert compiled.stats.graphs == 1 and compiled.stats.break_reasons == [] and compiled.stats.eager == 0
