"""Builtins that consume an iterator take its items one at a time, as CPython does.

``sum(gen, start)``, ``any(gen)``, ``all(gen)`` over a generator: eager runs the generator's
body between the consumer's steps. Unpacked first, ``sum(y * i for i in range(n))`` recorded all
the products before the additions, so autograd accumulated ``y``'s gradient in another order and
it came out one ulp apart (fuzz seed 5009); ``any``/``all`` consumed the whole generator where
CPython stops at the first decisive item (its later side effects happened, a later ``next`` ran
out).
"""

from __future__ import annotations

import pytest
import torch

import bytegraph


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
