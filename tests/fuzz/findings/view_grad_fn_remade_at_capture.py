"""Fuzz finding: mismatch (seed 34701, backend eager, flags dict_iter_mutation,exitstack,functional_call,identity_to,lazy_iteration,logging,operator_callables,optimizer,rebuild_after_write,rebuilt_logger,shadow_builtins,size_tuple,torch_func)

status: open (a capture-time side effect of torch's fakification; torch.compile shares it)
backend: eager
kind: mismatch state#0
call: 1
detail: #2/state#0/ARGS/list#1.grad.values: values differ: eager [[3.17977237701416, 3.1914546489715576, 3.2444839477539062, 3.046766519546509], [-0.7602813243865967, -0.7507868409156799, -0.824015736579895, -0.7613390684127808], [-0.8449987769126892, -0.9268991351 vs compiled [[3.17977237701416, 3.1914544105529785, 3.2444839477539062, 3.0467662811279297], [-0.7602813243865967, -0.7507868409156799, -0.824015736579895, -0.7613390684127808], [-0.8449987769126892, -0.926899135

Replay: python -m tests.fuzz --replay {this file}

Why (found with the lazy_iteration flag on, but older than it: 5acff2d fails the same way).
``v4 = y.narrow(...)`` is written in place under no_grad; autograd remakes a view's ``grad_fn``
(an AsStridedBackward0) the first time anything reads it after such a write. Eager reads it at
``v4 - y``, after ``y.sigmoid()``: the remade node's sequence number is higher than sigmoid's,
so the engine runs it first and adds ``y``'s three gradient contributions in the order
(-1 + narrow) + sigmoid'. Capturing the call after the break (a recompile: ``y`` now requires
grad) makes a fake tensor of ``v4``, and torch's meta_utils.describe_tensor reads ``v4.is_leaf``,
which remakes the node then, before the graph's ops: its number is lower, the engine runs
sigmoid's first, and the sum is (-1 + sigmoid') + narrow, 1 ulp apart in 2 of 16 values. Only
the call that captures differs (a cache hit reads no grad_fn). Fixing it needs a fake tensor
made without reading the view's history, or the graph to remake the view's node itself.
"""

PROGRAM = r'''
import contextlib, functools, itertools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(34701)
N, D = 4, 4
class Box:
    def __init__(self, scale, tag):
        pass
G_T = torch.randn(D)
ARGS = [torch.randn(N, D), torch.randn(N, D), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Sequential(nn.Linear(D, D), nn.ReLU()), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    v4 = y.narrow(0, 0, 1)
    with torch.no_grad():
        v4.mul_(2)
    print('p', x.shape, G_T.shape)
    t8 = operator.add(y.sigmoid(), v4 - y)
    return (t8, )
'''

CALLS = [
    '',
    'ARGS[1] = ARGS[1].detach().requires_grad_(not ARGS[1].requires_grad)',
]
