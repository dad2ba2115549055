"""Fuzz finding (aot_eager): a backward through compiled graphs raises "modified by an inplace operation" where eager's does not

status: fixed (DESIGN 56: a graph whose outputs' backward passes share no op is compiled in parts, each its own
  autograd node; torch.compile(backend="aot_eager") still fails the same way)
backend: aot_eager
kind: mismatch
seed: 70001 (flags all; minimised by the shrinker); 70037 fails the same way, and 70019 once its
  is_leaf difference was fixed (aotfuzz: t2 = m(y); m(G_T).sum().backward() in one graph; the
  harness's backward through t2 then raises "Trying to backward through the graph a second time";
  torch.compile(backend="aot_eager") raises the same, checked)
expected (eager): the backward of the returned t9 runs ('ok')
actual (bytegraph, aot_eager): RuntimeError: one of the variables needed for gradient computation has
  been modified by an inplace operation: [torch.FloatTensor [N]], which is output N of Relu ... (after
  ARGS[6], the module m, is replaced by a new nn.Linear between calls); the compile also records the
  same RuntimeError as an internal fallback. The "eager" backend is right.
cause (partly checked): AOTAutograd makes one autograd node for all of a graph's outputs; the
  backward of one output (t9) runs that node, which also needs the history of the other inputs
  that require grad (the G_T a previous call computed and whose graph its backward freed). A smaller
  program (G_T = m(G_T) twice, t9 = m(x), two calls) gives "Trying to backward through the graph a
  second time" with bytegraph and with torch.compile alike. So this is torch's AOT behaviour, not
  a bytegraph bug: the fix is probably in the fuzzer (compare such backwards by "both raise or
  neither"), or in bytegraph if it should split the graph's autograd node as eager has it.
Replay: python -m tests.fuzz --replay tests/fuzz/findings/aot_backward_inplace_after_module_swap.py
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(70001)
N, D = 2, 4
class Box:
    k = 2
    def __init__(self, scale, tag):
        self.scale = scale
        self.tag = tag
        self.items = []
    def bump(self, t):
        self.items.append(len(self.items))
        return t * self.scale
def helper(t, k=1):
    return t * k + 1
def opaque(t):
    return t * (zlib.crc32(b'fuzz') % 3 + 1)  # a C call: a graph break inside a callee
RECORDS = []
class ListHandler(logging.Handler):
    def emit(self, record):
        RECORDS.append((record.levelname, record.getMessage()))
G_T = torch.randn(D)
ARGS = [torch.randn(N, D), torch.randn(N, D).requires_grad_(), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Sequential(nn.Linear(D, D), nn.ReLU()), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    global G_T
    acc = []
    for i1 in range(min(len(lst), 4)):
        G_T = m(G_T)
    t9 = m(x)
    return (acc, t9, tuple(x.shape), )
'''

CALLS = [
    '',
    'ARGS[6] = nn.Linear(D, D)',
]
