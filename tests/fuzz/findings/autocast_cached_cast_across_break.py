"""Fuzz finding: mismatch (seed 2127, backend eager, flags dict_iter_mutation,exitstack,functional_call,identity_to,logging,operator_callables,optimizer,rebuild_after_write,rebuilt_logger,shadow_builtins,size_tuple,torch_func)

status: fixed

Eager's autocast caches the lower-precision cast of a leaf fp32 tensor that requires grad for the
whole outermost autocast region (aten autocast_mode.cpp cached_cast), keyed by the tensor, not its
version: after OPT.step() writes the weight in place inside the region, the second forward still uses
the old bf16 weight (both losses equal). bytegraph breaks at loss.backward(); the graph's exit of the
region clears the cache (and an AOTAutograd graph's casts are explicit, never cached), so the resumed
forward casts the new weight. torch.compile gets eager's answer here only because it runs the loop
eagerly after its break.
fix: a break leaves the block with variables/ctx.py suspend_autocast (the cache stays); the compiler's
fake runs and backend traces run under autocast_cache_kept; a graph whose only node is the block's
real exit is still called (it clears). Tests: tests/capture/test_autocast_cache.py.
still open for AOTAutograd backends: their casts are explicit graph ops, never cached (replay with
--backend aot_eager: a mismatch). Needs the cast made once per block as a graph value handed across breaks.
backend: eager
kind: mismatch result
call: 0
detail: #0/result/returned/tuple#0/list#1.values: values differ: eager 1.0859375 vs compiled -0.072265625

Replay: python -m tests.fuzz --replay {this file}
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(2127)
N, D = 2, 4
class Box:
    def __init__(self, scale, tag):
        pass
OPT_MOD = nn.Linear(D, 1)
OPT = torch.optim.SGD(OPT_MOD.parameters(), lr=0.1, momentum=0.9)
ARGS = [torch.randn(N, D), torch.randn(N, D), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Linear(D, D), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    acc = []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for v16 in lst:
            loss18 = OPT_MOD(y).sum()
            loss18.backward()
            OPT.step()
            acc.append(loss18)
    return (acc, )
'''

CALLS = [
    '',
]
