"""Fuzz finding: itertools.count(t) over a tensor start added its step to t in place

status: fixed (polyfills._count adds, as C's count does, instead of +=)
backend: eager
kind: mismatch result
seed: 43294
expected (eager): the start tensor G_T unchanged; count yields G_T, G_T + 1, ...
actual (bytegraph, before the fix): G_T grew by one per step the zip took (+= on a tensor is in place)
"""

PROGRAM = r'''
import contextlib, functools, itertools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(43294)
N, D = 3, 4
class Box:
    def __init__(self, scale, tag):
        pass
def opaque(t):
    return t * (zlib.crc32(b'fuzz') % 3 + 1)  # a C call: a graph break inside a callee
G_T = torch.randn(D)
ARGS = [torch.randn(N, D), torch.randn(N, D).requires_grad_(), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Linear(D, D), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    acc = []
    t1 = x
    obj.extra = G_T
    for u6, v5 in zip(itertools.count(getattr(obj, "extra", 0)), itertools.islice([((y * x) * G_T), t1, ((y * x) * G_T)], 1, None)):
        pass
    acc.append(opaque(G_T))
    return (acc, G_T)
    return ()
'''

CALLS = [
    '',
]
