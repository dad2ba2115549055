"""Fuzz finding: exception (seed 1, backend eager, flags exitstack,rebuilt_logger)

status: fixed (codegen/resume.relocated splits 3.13 pairs of local accesses)
backend: eager
kind: exception: AttributeError
call: 0
detail: AttributeError: 'list_iterator' object has no attribute 'grad'

3.13 only: the resume function of the break at print(t2) numbers the comprehension's `p` 16,
and STORE_FAST_LOAD_FAST (p, p) packed in 4 bits read other locals (the loop's iterator); fixed
by splitting 3.13's pairs of local accesses in resume code (codegen/resume.relocated).

Replay: python -m tests.fuzz --replay {this file}
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(1)
N, D = 2, 3
class Box:
    def __init__(self, scale, tag):
        pass
G_T = torch.randn(D)
ARGS = [torch.randn(N, D), torch.randn(N, D).requires_grad_(), 2, False, [torch.randn(D), 1],
        {"a": torch.randn(D), "k": 2}, nn.Sequential(nn.Linear(D, D), nn.ReLU()), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    acc = []
    t2 = x
    i3 = n
    for v5 in lst:
        tp9 = (t2, lst)
        print(t2)
        t11 = G_T
    [p.grad is None for p in m.parameters()]
    return ()
'''

CALLS = [
    '',
]
