"""Fuzz finding (aot_eager): a random op whose result is unused is dropped, so later random ops draw other numbers

status: fixed
backend: aot_eager
kind: mismatch
seed: 110053 (flags all; minimised by the shrinker)
expected (eager): the first dropout draws its mask (its result is used only for `.shape`), the second
  dropout draws the next numbers of the stream.
actual (bytegraph, aot_eager): AOTAutograd removes the first dropout as dead code, so the second
  draws the numbers the first one drew in eager: a different mask. torch.compile(backend="aot_eager")
  does the same (checked, torch 2.13). The eager backend runs the recorded
  ops and matches eager.
fix: each random op whose result nothing uses is a trailing graph output the transformed code never
  reads (graph/output_graph.py set_outputs), so DCE keeps it and the RNG stream advances as in eager
  (tests/capture/test_rules_tensors.py::test_unused_random_ops_still_draw).
Replay: python -m tests.fuzz --replay tests/fuzz/findings/aot_dead_random_op_rng.py
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(110053)
N, D = 2, 3
class Box:
    def __init__(self, scale, tag):
        pass
ARGS = [torch.randn(N, D), torch.randn(N, D), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Sequential(nn.Linear(D, D), nn.ReLU()), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    acc = []
    t2 = torch.nn.functional.dropout(x, 0.5, m.training).shape
    acc.append(torch.nn.functional.dropout(max([x, y], key=lambda v: v.dim()), 0.5, m.training))
    return (acc, )
'''

CALLS = [
    '',
]
