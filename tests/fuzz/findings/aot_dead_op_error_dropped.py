"""Fuzz finding (aot_eager): an op whose result is unused and which raises in eager is dropped: no error

status: fixed (aliasing; torch.compile(backend="aot_eager") still returns)
backend: aot_eager
kind: mismatch
seed: 70091 (flags all; minimised by the shrinker)
expected (eager): call 2 (x made bfloat16, m a float nn.Linear) raises RuntimeError "mat1 and mat2 must
  have the same dtype, but got BFloat16 and Float" at t4 = m(x)
actual (bytegraph, aot_eager): returns. t4 is used only for type(t4).__name__, so the graph's linear
  has no user: AOTAutograd removes it as dead code, and the fake kernels of aten.mm / addmm / mv do
  not check that their operands have one dtype (bmm, baddbmm, dot and conv do), so the trace did not
  see the error either. The "eager" backend runs the recorded op and raises like eager.
  torch.compile(backend="aot_eager") returns ('Tensor', 0) the same way (checked, torch 2.13).
  (Before: the seed also hit an internal fallback, PendingUnbackedSymbolNotFound on
  ``def g8(a, k=len(t4.nonzero()))``: fixed, unbacked symbols are bound to their node;
  tests/capture/test_unbacked_concrete.py.)
fix: eager's dtype checks for aten mm/addmm/mv/addmv run while each op is traced
  (graph/eager_checks.py), so the trace raises the program's error and the frame runs eagerly
  (tests/capture/test_caught_op_errors.py::test_dead_matrix_op_with_mixed_dtypes_raises_eagers_error).
Replay: python -m tests.fuzz --replay tests/fuzz/findings/aot_dead_op_error_dropped.py
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(70091)
N, D = 4, 4
class Box:
    def __init__(self, scale, tag):
        self.scale = scale
        self.items = []
ARGS = [torch.randn(N, D), torch.randn(N, D), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Sequential(nn.Linear(D, D), nn.ReLU()), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    acc = []
    t4 = m(x)
    t5 = t4
    acc.append(obj.scale)
    acc.append(type(t5).__name__)
    return (acc, y, n, m.training, obj.items, )
'''

CALLS = [
    '',
    'ARGS[2] = 0',
    'ARGS[0] = ARGS[0].bfloat16()',
]
