"""Fuzz finding: a list iterator live across a graph break was two trackers (a local and a stack value)

status: fixed (builder rules: iterators and generator objects track identity)
backend: eager
kind: exception: StopIteration
seed: 41606
expected (eager): zip stops after one pair; the rest of the iterator is extended into acc
actual (bytegraph, before the fix): StopIteration: each tracker replayed its steps on the real iterator
"""

PROGRAM = r'''
import contextlib, functools, itertools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(41606)
N, D = 3, 4
class Box:
    def __init__(self, scale, tag):
        pass
G_T = torch.randn(D)
ARGS = [torch.randn(N, D), torch.randn(N, D).requires_grad_(), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Sequential(nn.Linear(D, D), nn.ReLU()), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    acc = []
    w3 = 0
    w3 += 1
    gen7 = iter([x, y, x])
    for u6, v5 in zip(gen7, [(m(y) if G_T.sum() > 0 else t4)], strict=False):
        pass
    acc.extend(gen7)
    return ()
'''

CALLS = [
    '',
]
