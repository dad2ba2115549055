"""Fuzz finding (eager): vmap's error for an input it refuses names bytegraph's wrapper ("vmap(fn, ...)"), not the program's function ("vmap(sin, ...)")

status: fixed (variables/functorch.py _check_batched: vmap's own input checks run at trace time on the fake
  tensors, with the function's name; the graph is not built and the program's handler sees eager's error;
  the wrapper run at run time is named after the function too, for errors about the outputs)
backend: eager
kind: mismatch result#2: eager 'vmap(sin, in_dims=0, ...)(<inputs>): Got in_dim=0 for some input, but that input is a Tensor of dimensionality 0 so expected in_dim to satisfy -0 <= in_dim < 0.' vs compiled 'vmap(fn, in_dims=0, ...)(<inputs>): Got in_dim=0 for some input, but that input is a Tensor of dimensionality 0 so expected in_dim to satisfy -0 <= in_dim < 0.'
call: 1
detail: #0/result#2: eager 'vmap(sin, in_dims=0, ...)(<inputs>): Got in_dim=0 for some input, but that input is a Tensor of dimensionality 0 so expected in_dim to satisfy -0 <= in_dim < 0.' vs compiled 'vmap(fn, in_dims=0, ...)(<inputs>): Got in_dim=0 for some input, but that input is a Tensor of dimensionality 0 so expected in_dim to satisfy -0 <= in_dim < 0.'

Replay: python -m tests.fuzz --replay {this file}
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(20496)
N, D = 3, 4
class Box:
    def __init__(self, scale, tag):
        pass
G_T = torch.randn(D)
ARGS = [torch.randn(N, D), torch.randn(N, D), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Linear(D, D), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    global G_T
    try:
        G_T[0]
    except (RuntimeError, ValueError, KeyError, IndexError, AttributeError, TypeError, ZeroDivisionError) as e7:
        t13 = torch.func.vmap(torch.sin)(G_T)
    finally:
        y.sum().item()
    G_T = G_T.norm()
    return ()
'''

CALLS = [
    '',
    '',
]
