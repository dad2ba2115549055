"""Fuzz finding: an in-place op eager refuses for memory overlap was recorded in the graph

status: fixed (graph/eager_checks.py: eager's overlap checks of in-place pointwise ops run while traced)
backend: eager
kind: mismatch
seed: 46476
expected (eager): y.unsqueeze(0).add_(y) raises (partial overlap), is caught, y's version stays 0
actual (bytegraph, before the fix): the op failed in the graph, y was restored with a copy that moved
its version, and the backward of G_MOD(y) then failed
"""

PROGRAM = r'''
import contextlib, functools, itertools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(46476)
N, D = 4, 3
class Box:
    def __init__(self, scale, tag):
        pass
G_T = torch.randn(D)
G_MOD = nn.Linear(D, D)
ARGS = [torch.randn(N, D), torch.randn(N, D), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Linear(D, D), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    acc = []
    v3 = y
    acc.append(G_MOD(y))
    print('p', lst, G_T.shape)
    try:
        y.unsqueeze(0).add_(v3)
    except (RuntimeError, ValueError, KeyError, IndexError, AttributeError, TypeError, ZeroDivisionError) as e10:
        pass
    return (acc, )
'''

CALLS = [
    '',
]
