"""Fuzz finding (aot_eager): grads a failed backward accumulated in place (the grad tensor the program holds)

status: fixed
backend: aot_eager
kind: mismatch (harness)
seed: 70202 (flags all; minimised by the shrinker)
expected (eager): the harness's backward through t20 raises "modified by an inplace operation" (x[1] = G_T
  after t12 = y * x); before raising, eager's engine had added into m.weight.grad in place
actual (before): compiled had not reached m.weight (AOTAutograd's one node per graph: another order).
  Same class as aot_grads_after_failed_backward.py; this one checks that the harness puts back the
  *values of the same* grad tensor (the old object stays observable), not only ``leaf.grad``.
Replay: python -m tests.fuzz --replay tests/fuzz/findings/aot_grads_after_failed_backward_inplace.py
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(70202)
N, D = 3, 3
class Box:
    def __init__(self, scale, tag):
        self.items = []
def make_logger(tag):
    log = logging.getLogger(f"{__name__}.{tag}")
    log.setLevel(logging.DEBUG)
    return log
LOG = make_logger("log")
G_T = torch.randn(D)
ARGS = [torch.randn(N, D), torch.randn(N, D), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Linear(D, D), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    t12 = y * x
    m.train(m.training)
    LOG.info("obj %s", obj.items)
    t20 = m(t12)
    x[1] = G_T
    return (t20, )
'''

CALLS = [
    '',
    'ARGS[1] = ARGS[1].detach().requires_grad_(not ARGS[1].requires_grad)',
]
