"""Python equivalents of C functions of the standard library, traced in their place.

``itertools.product(a, b)`` is a C type: bytegraph cannot trace into it, and calling it at trace
time would consume traced iterables it cannot see. ``EQUIVALENTS`` maps each such C callable to a
Python function with the same documented behaviour (the itertools documentation's "roughly
equivalent" semantics: the same items, in the same order, the same errors for bad arguments),
and ``builtins.HANDLERS`` traces that function on the call's arguments. What the program gets
back is a generator where CPython gives an ``itertools.product`` object: the same items, a
different type (``type(it)`` and ``isinstance(it, itertools.product)`` differ; nothing else does).

``heapq``'s functions (the C module ``_heapq``) are here too, comparing the same items in the
same order as C, so a traced ``<`` on tensors records the same ops.

The functions that take their inputs whole when called (``product``, ``combinations``...) read
them before returning the generator, as the C types do; the lazy ones (``islice``, ``starmap``...)
read them as they are iterated, as the C types do.
"""

from __future__ import annotations

import collections
import functools
import heapq
import itertools
import math
import operator
import sys
from typing import Any, Callable, Iterable, Iterator

_MISSING = object()


def _index(value: Any, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {type(value).__name__}") from None


def reduce(function: Callable[[Any, Any], Any], iterable: Iterable[Any], initial: Any = _MISSING) -> Any:
    it = iter(iterable)
    if initial is _MISSING:
        try:
            value = next(it)
        except StopIteration:
            raise TypeError("reduce() of empty iterable with no initial value") from None
    else:
        value = initial
    for element in it:
        value = function(value, element)
    return value


def prod(iterable: Iterable[Any], *, start: Any = 1) -> Any:
    """``math.prod``: traced, a product of symbolic sizes stays symbolic (``math.prod(x.shape[1:])``
    folded at trace time specialized every size in it)."""
    result = start
    for element in iterable:
        result = result * element
    return result


def count_elements(mapping: Any, iterable: Iterable[Any]) -> None:
    """``collections._count_elements``: what ``Counter(iterable)`` and ``Counter.update`` call."""
    get = mapping.get
    for element in iterable:
        mapping[element] = get(element, 0) + 1


def _yield_all(items: Iterable[Any]) -> Iterator[Any]:
    yield from items


def chain(*iterables: Iterable[Any]) -> Iterator[Any]:
    """``itertools.chain`` over iterators stepped as the chain reaches them (builtins._chain)."""
    for it in iterables:
        yield from it


def iter_callable(fn: Callable[[], Any], sentinel: Any) -> Iterator[Any]:
    """``iter(fn, sentinel)``: ``fn()`` until it returns something equal to ``sentinel`` (compared
    as ``sentinel == value``, CPython's order) or raises StopIteration."""
    if not callable(fn):
        raise TypeError("iter(v, w): v must be callable")
    return _call_until(fn, sentinel)


def _call_until(fn: Callable[[], Any], sentinel: Any) -> Iterator[Any]:
    while True:
        try:
            value = fn()
        except StopIteration:
            return
        if sentinel == value:
            return
        yield value


def chain_from_iterable(iterables: Iterable[Iterable[Any]]) -> Iterator[Any]:
    """``itertools.chain.from_iterable``: the outer iterable is taken at once (``iter``), then each
    inner one is stepped as the chain reaches it (builtins._chain_from_iterable)."""
    return _chain_from(iter(iterables))


def _chain_from(outer: Iterator[Iterable[Any]]) -> Iterator[Any]:
    for it in outer:
        yield from it


def product(*iterables: Iterable[Any], repeat: int = 1) -> Iterator[tuple]:
    if _index(repeat, "repeat") < 0:
        raise ValueError("repeat argument cannot be negative")
    pools = [tuple(pool) for pool in iterables] * repeat
    result: list[tuple] = [()]
    for pool in pools:
        result = [prefix + (item,) for prefix in result for item in pool]
    return _yield_all(result)


def permutations(iterable: Iterable[Any], r: int | None = None) -> Iterator[tuple]:
    pool = tuple(iterable)
    n = len(pool)
    r = n if r is None else _index(r, "r")
    if r < 0:
        raise ValueError("r must be non-negative")
    return _permutations(pool, n, r)


def _permutations(pool: tuple, n: int, r: int) -> Iterator[tuple]:
    if r > n:
        return
    indices = list(range(n))
    cycles = list(range(n, n - r, -1))
    yield tuple(pool[i] for i in indices[:r])
    while n:
        for i in reversed(range(r)):
            cycles[i] -= 1
            if cycles[i] == 0:
                indices[i:] = indices[i + 1:] + indices[i:i + 1]
                cycles[i] = n - i
            else:
                j = cycles[i]
                indices[i], indices[-j] = indices[-j], indices[i]
                yield tuple(pool[i] for i in indices[:r])
                break
        else:
            return


def combinations(iterable: Iterable[Any], r: int) -> Iterator[tuple]:
    pool = tuple(iterable)
    if _index(r, "r") < 0:
        raise ValueError("r must be non-negative")
    return _combinations(pool, r, False)


def combinations_with_replacement(iterable: Iterable[Any], r: int) -> Iterator[tuple]:
    pool = tuple(iterable)
    if _index(r, "r") < 0:
        raise ValueError("r must be non-negative")
    return _combinations(pool, r, True)


def _combinations(pool: tuple, r: int, replace: bool) -> Iterator[tuple]:
    n = len(pool)
    if not replace and r > n or replace and not n and r:
        return
    indices = [0] * r if replace else list(range(r))
    yield tuple(pool[i] for i in indices)
    while True:
        for i in reversed(range(r)):
            if indices[i] != (n - 1 if replace else i + n - r):
                break
        else:
            return
        if replace:
            indices[i:] = [indices[i] + 1] * (r - i)
        else:
            indices[i] += 1
            for j in range(i + 1, r):
                indices[j] = indices[j - 1] + 1
        yield tuple(pool[i] for i in indices)


def accumulate(iterable: Iterable[Any], func: Callable[[Any, Any], Any] | None = None, *,
               initial: Any = None) -> Iterator[Any]:
    return _accumulate(iter(iterable), operator.add if func is None else func, initial)


def _accumulate(it: Iterator[Any], func: Callable[[Any, Any], Any], total: Any) -> Iterator[Any]:
    if total is None:
        try:
            total = next(it)
        except StopIteration:
            return
    yield total
    for element in it:
        total = func(total, element)
        yield total


def islice(iterable: Iterable[Any], *args: Any) -> Iterator[Any]:
    s = slice(*args)
    start = _slice_index(s.start, 0, "Indices for islice() must be None or an integer: 0 <= x <= sys.maxsize.")
    stop = _slice_index(s.stop, sys.maxsize,
                        "Stop argument for islice() must be None or an integer: 0 <= x <= sys.maxsize.")
    step = _slice_index(s.step, 1, "Step for islice() must be a positive integer or None.")
    if step == 0:
        raise ValueError("Step for islice() must be a positive integer or None.")
    return _islice(iter(iterable), start, stop, step)


def _slice_index(value: Any, default: int, message: str) -> int:
    if value is None:
        return default
    try:
        i = operator.index(value)
    except TypeError:
        raise ValueError(message) from None
    if i < 0:
        raise ValueError(message)
    return i


def _islice(it: Iterator[Any], start: int, stop: int, step: int) -> Iterator[Any]:
    wanted, i, limit = start, 0, max(start, stop)   # reads up to the larger of start and stop, as C does
    while i < limit:                                # (not a range: stop may be sys.maxsize)
        value = next(it, _MISSING)
        if value is _MISSING:
            return
        if i == wanted:
            yield value
            wanted += step
        i += 1


def count(start: Any = 0, step: Any = 1) -> Iterator[Any]:
    return _count(start, step)


def _count(n: Any, step: Any) -> Iterator[Any]:
    while True:
        yield n
        n = n + step           # (not +=: C's count adds, and a tensor's += would write the caller's start)


def repeat(obj: Any, times: int | None = None) -> Iterator[Any]:
    if times is None:
        return _repeat_forever(obj)
    return _yield_all([obj] * max(_index(times, "times"), 0))


def _repeat_forever(obj: Any) -> Iterator[Any]:
    while True:
        yield obj


def cycle(iterable: Iterable[Any]) -> Iterator[Any]:
    return _cycle(iter(iterable))


def _cycle(it: Iterator[Any]) -> Iterator[Any]:
    saved = []
    for element in it:
        yield element
        saved.append(element)
    while saved:
        yield from saved


def zip_longest(*iterables: Iterable[Any], fillvalue: Any = None) -> Iterator[tuple]:
    return _zip_longest([iter(it) for it in iterables], fillvalue)


def _zip_longest(iterators: list[Iterator[Any]], fillvalue: Any) -> Iterator[tuple]:
    active = len(iterators)
    if not active:
        return
    while True:
        values = []
        for i, it in enumerate(iterators):
            value = next(it, _MISSING) if it is not None else _MISSING
            if value is _MISSING:
                if it is not None:
                    active -= 1
                    if not active:
                        return
                    iterators[i] = None
                value = fillvalue
            values.append(value)
        yield tuple(values)


def starmap(function: Callable[..., Any], iterable: Iterable[Any]) -> Iterator[Any]:
    return _starmap(function, iter(iterable))


def _starmap(function: Callable[..., Any], it: Iterator[Any]) -> Iterator[Any]:
    for args in it:
        yield function(*args)


def pairwise(iterable: Iterable[Any]) -> Iterator[tuple]:
    return _pairwise(iter(iterable))


def _pairwise(it: Iterator[Any]) -> Iterator[tuple]:
    a = next(it, _MISSING)
    if a is _MISSING:
        return
    for b in it:
        yield a, b
        a = b


def takewhile(predicate: Callable[[Any], Any], iterable: Iterable[Any]) -> Iterator[Any]:
    return _takewhile(predicate, iter(iterable))


def _takewhile(predicate: Callable[[Any], Any], it: Iterator[Any]) -> Iterator[Any]:
    for element in it:
        if not predicate(element):
            return
        yield element


def dropwhile(predicate: Callable[[Any], Any], iterable: Iterable[Any]) -> Iterator[Any]:
    return _dropwhile(predicate, iter(iterable))


def _dropwhile(predicate: Callable[[Any], Any], it: Iterator[Any]) -> Iterator[Any]:
    for element in it:
        if not predicate(element):
            yield element
            break
    yield from it


def filterfalse(predicate: Callable[[Any], Any] | None, iterable: Iterable[Any]) -> Iterator[Any]:
    return _filterfalse(bool if predicate is None else predicate, iter(iterable))


def _filterfalse(predicate: Callable[[Any], Any], it: Iterator[Any]) -> Iterator[Any]:
    for element in it:
        if not predicate(element):
            yield element


def compress(data: Iterable[Any], selectors: Iterable[Any]) -> Iterator[Any]:
    return _compress(iter(data), iter(selectors))


def _compress(data: Iterator[Any], selectors: Iterator[Any]) -> Iterator[Any]:
    for d, s in zip(data, selectors):
        if s:
            yield d


def groupby(iterable: Iterable[Any], key: Callable[[Any], Any] | None = None) -> Iterator[tuple[Any, Iterator[Any]]]:
    """Each group is read whole before it is yielded (the C type shares one iterator between the
    groups; the items and their order are the same unless the program interleaves reading a
    group with advancing to the next one, which the C type answers with an empty group)."""
    return _groupby(iter(iterable), (lambda v: v) if key is None else key)


def _groupby(it: Iterator[Any], key: Callable[[Any], Any]) -> Iterator[tuple[Any, Iterator[Any]]]:
    value = next(it, _MISSING)
    if value is _MISSING:
        return
    k = key(value)
    while True:
        group = [value]
        for value in it:
            nk = key(value)
            if nk != k:
                yield k, _yield_all(group)
                k = nk
                break
            group.append(value)
        else:
            yield k, _yield_all(group)
            return


def tee(iterable: Iterable[Any], n: int = 2) -> tuple[Iterator[Any], ...]:
    if _index(n, "n") < 0:
        raise ValueError("n must be >= 0")
    it = iter(iterable)
    buffers: list[collections.deque] = [collections.deque() for _ in range(n)]
    return tuple(_tee(it, buffers, mine) for mine in buffers)


def _tee(it: Iterator[Any], buffers: list[collections.deque], mine: collections.deque) -> Iterator[Any]:
    while True:
        if not mine:            # this one is ahead of the others: read the next item for all
            value = next(it, _MISSING)
            if value is _MISSING:
                return
            for buffer in buffers:
                buffer.append(value)
        yield mine.popleft()


def batched(iterable: Iterable[Any], n: int, *, strict: bool = False) -> Iterator[tuple]:
    if _index(n, "n") < 1:
        raise ValueError("n must be at least one")
    return _batched(iter(iterable), n, strict)


def _batched(it: Iterator[Any], n: int, strict: bool) -> Iterator[tuple]:
    while True:
        batch = tuple(islice(it, n))
        if not batch:
            return
        if strict and len(batch) != n:
            raise ValueError("batched(): incomplete batch")
        yield batch


_NOT_FOUND = object()


# heapq: the C module's functions (_heapq) over a list, with its comparisons (only ``<``, between the
# same items, in the same order) and its errors. A heap of more than 2,500 items is heapified by C
# in another order of sift-ups (cache-friendly); the result is a valid heap either way.

def _heap_list(heap: Any, fn: str, single: bool) -> list:
    if not isinstance(heap, list):
        raise TypeError(f"{fn}() argument{'' if single else ' 1'} must be list, not {type(heap).__name__}")
    return heap


def _sift_toward_root(heap: list, start: int, pos: int, before: Callable[[Any, Any], bool]) -> None:
    """Move ``heap[pos]`` up while it goes ``before`` its parent (not past ``start``)."""
    item = heap[pos]
    while pos > start:
        parent = (pos - 1) >> 1
        if not before(item, heap[parent]):
            break
        heap[pos] = heap[parent]
        pos = parent
    heap[pos] = item


def _sift_from_root(heap: list, pos: int, before: Callable[[Any, Any], bool]) -> None:
    """Move the hole at ``pos`` down to a leaf along the children that go first, then put
    ``heap[pos]``'s item there and move it back up (CPython's bottom-up sift)."""
    end, start, item = len(heap), pos, heap[pos]
    child = 2 * pos + 1
    while child < end:
        if child + 1 < end and not before(heap[child], heap[child + 1]):
            child += 1
        heap[pos] = heap[child]
        pos, child = child, 2 * child + 1
    heap[pos] = item
    _sift_toward_root(heap, start, pos, before)


def _less(a: Any, b: Any) -> bool:
    return a < b


def _greater(a: Any, b: Any) -> bool:
    return b < a


def heappush(heap: list, item: Any) -> None:
    _heap_list(heap, "heappush", False).append(item)
    _sift_toward_root(heap, 0, len(heap) - 1, _less)


def _pop(heap: list, before: Callable[[Any, Any], bool], fn: str) -> Any:
    if not _heap_list(heap, fn, True):
        raise IndexError("index out of range")
    last = heap.pop()
    if not heap:
        return last
    top, heap[0] = heap[0], last
    _sift_from_root(heap, 0, before)
    return top


def _replace(heap: list, item: Any, before: Callable[[Any, Any], bool], fn: str) -> Any:
    if not _heap_list(heap, fn, False):
        raise IndexError("index out of range")
    top, heap[0] = heap[0], item
    _sift_from_root(heap, 0, before)
    return top


def _heapify(heap: list, before: Callable[[Any, Any], bool], fn: str) -> None:
    for i in reversed(range(len(_heap_list(heap, fn, True)) // 2)):
        _sift_from_root(heap, i, before)


def heappop(heap: list) -> Any:
    return _pop(heap, _less, "heappop")


def heapreplace(heap: list, item: Any) -> Any:
    return _replace(heap, item, _less, "heapreplace")


def heappushpop(heap: list, item: Any) -> Any:
    if _heap_list(heap, "heappushpop", False) and heap[0] < item:
        item, heap[0] = heap[0], item
        _sift_from_root(heap, 0, _less)
    return item


def heapify(heap: list) -> None:
    _heapify(heap, _less, "heapify")


def heappop_max(heap: list) -> Any:
    return _pop(heap, _greater, "_heappop_max")


def heapreplace_max(heap: list, item: Any) -> Any:
    return _replace(heap, item, _greater, "_heapreplace_max")


def heapify_max(heap: list) -> None:
    _heapify(heap, _greater, "_heapify_max")


def cached_property_get(self: functools.cached_property, instance: Any, owner: type | None = None) -> Any:
    """``functools.cached_property.__get__`` as Python 3.12 has it: CPython 3.11's takes an
    ``RLock`` around the first computation, which a trace cannot enter; one thread sees the same."""
    if instance is None:
        return self
    if self.attrname is None:
        raise TypeError("Cannot use cached_property instance without calling __set_name__ on it.")
    try:
        cache = instance.__dict__
    except AttributeError:
        raise TypeError(f"No '__dict__' attribute on {type(instance).__name__!r} instance to cache "
                        f"{self.attrname!r} property.") from None
    val = cache.get(self.attrname, _NOT_FOUND)
    if val is _NOT_FOUND:
        val = self.func(instance)
        cache[self.attrname] = val
    return val


# Python functions of the standard library traced as another Python function (stdlib.PY_FUNCTION_HANDLERS)
PY_EQUIVALENTS: dict[Any, Callable[..., Any]] = {
    **({functools.cached_property.__get__: cached_property_get}
       if "lock" in functools.cached_property.__get__.__code__.co_names else {}),
}

EQUIVALENTS: dict[Any, Callable[..., Any]] = {
    functools.reduce: reduce,
    math.prod: prod,
    itertools.product: product,
    itertools.permutations: permutations,
    itertools.combinations: combinations,
    itertools.combinations_with_replacement: combinations_with_replacement,
    itertools.accumulate: accumulate,
    itertools.islice: islice,
    itertools.count: count,
    itertools.repeat: repeat,
    itertools.cycle: cycle,
    itertools.zip_longest: zip_longest,
    itertools.starmap: starmap,
    itertools.pairwise: pairwise,
    itertools.takewhile: takewhile,
    itertools.dropwhile: dropwhile,
    itertools.filterfalse: filterfalse,
    itertools.compress: compress,
    itertools.groupby: groupby,
    itertools.tee: tee,
    **({itertools.batched: batched} if hasattr(itertools, "batched") else {}),     # Python 3.12+
    **({collections._count_elements: count_elements}                            # the C helper, where built
       if type(getattr(collections, "_count_elements", None)) is type(len) else {}),
    **{c_fn: py_fn for name, py_fn in [
        ("heappush", heappush), ("heappop", heappop), ("heapreplace", heapreplace), ("heappushpop", heappushpop),
        ("heapify", heapify), ("_heappop_max", heappop_max), ("_heapreplace_max", heapreplace_max),
        ("_heapify_max", heapify_max)]
       if type(c_fn := getattr(heapq, name, None)) is type(len)},                 # _heapq, where built
}
