"""Fuzz finding (aot_eager): the .grad a backward that raised left behind differs

status: fixed
backend: aot_eager
kind: mismatch (harness)
seed: 70092 (flags all; minimised by the shrinker); 70085 and 70202 are the same class (their
  minimised programs pass with the harness fix; 70202's backward fails on "modified by an inplace
  operation" after x[1] = G_T, and eager had accumulated m.weight's grad first)
expected (eager): after the harness's backward through the returned [loss11, t12] raised ("Trying to
  backward through the graph a second time": loss11.backward() ran in the program), y.grad is set
actual (before): y.grad None. Which leaves a backward reaches before it raises is the autograd
  engine's scheduling order, which autograd does not specify; an AOTAutograd backend (one node per
  graph) reaches them in another order. torch.compile(backend="aot_eager") leaves y.grad None too
  (checked on torch 2.13). Not a bytegraph bug: the harness (runner._backward) now puts every leaf's
  .grad back as it was when its backward raises, in both worlds, and compares the error.
Replay: python -m tests.fuzz --replay tests/fuzz/findings/aot_grads_after_failed_backward.py
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(70092)
N, D = 4, 3
class Box:
    def __init__(self, scale, tag):
        pass
G_MOD = nn.Linear(D, D)
OPT_MOD = nn.Linear(D, 1)
ARGS = [torch.randn(N, D), torch.randn(N, D).requires_grad_(), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Linear(D, D), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    acc = []
    loss11 = OPT_MOD(y.detach()).sum()
    loss11.backward()
    acc.append(loss11)
    t12 = (y @ G_MOD.weight.t())
    return (acc, t12, )
'''

CALLS = [
    '',
]
