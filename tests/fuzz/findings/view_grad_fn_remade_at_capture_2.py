"""Fuzz finding: mismatch (seed 38200, backend eager, flags dict_iter_mutation,exitstack,functional_call,identity_to,lazy_iteration,logging,operator_callables,optimizer,rebuild_after_write,rebuilt_logger,shadow_builtins,size_tuple,torch_func)

status: open (the same cause as view_grad_fn_remade_at_capture.py)
backend: eager
kind: mismatch state#0
call: 0
detail: #2/state#0/ARGS/list#1.grad.values: values differ: eager [[1.1680772304534912, -0.23004072904586792, -1.0877466201782227, 0.45130491256713867], [1.1680772304534912, -0.23004072904586792, -1.0877466201782227, 0.45130491256713867], [1.1680772304534912, -0.230 vs compiled [[1.1680772304534912, -0.2300407886505127, -1.0877466201782227, 0.45130491256713867], [1.1680772304534912, -0.2300407886505127, -1.0877466201782227, 0.45130491256713867], [1.1680772304534912, -0.23004

Replay: python -m tests.fuzz --replay {this file}

The cause of view_grad_fn_remade_at_capture.py, on the first call: ``v4 = y.view_as(y)`` is
written in place under no_grad, ``y.tolist()`` breaks, and capturing the graph after the break
makes a fake tensor of ``v4`` (read ``is_leaf``: its grad_fn remade there). Eager remakes it
when the returned ``v4`` is summed for backward, after ``G_MOD(y) - y``: the engine adds ``y``'s
contributions in another order. Found at 015ea88 (seed 38200); 5acff2d fails it the same way.
"""

PROGRAM = r'''
import contextlib, functools, itertools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(38200)
N, D = 4, 4
class Box:
    def __init__(self, scale, tag):
        pass
G_T = torch.randn(D)
G_MOD = nn.Linear(D, D)
ARGS = [torch.randn(N, D), torch.randn(N, D).requires_grad_(), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Linear(D, D), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    v4 = y.view_as(y)
    with torch.no_grad():
        v4.add_(1)
    y.tolist()
    t5 = G_MOD(y) - y
    return (v4, t5, )
'''

CALLS = [
    '',
]
