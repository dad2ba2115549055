"""Fuzz finding: a view made under no_grad and written in place reaches a resume function

status: fixed
backend: eager
kind: internal: RuntimeError: A view was created in no_grad mode and its base ... modified inplace
seed: 398 (and 5368, 5445, 5736, 10881, 13196, 18861, 19329 in the 20000-program campaign)
expected (eager): call 0 raises (an in-place op on a view of a leaf); call 1, under no_grad,
  returns v2, a view whose history autograd refuses to read (grad_fn and is_leaf raise)
actual (bytegraph): faking v2 as the input of the resume function after the logging break read
  its history and raised inside the compiler: an internal fallback with a warning
cause: builder/rules.py wrap_tensor faked every tensor; it now names such a tensor a GB005 break
  (unreadable_history) and the resume function runs eagerly without a warning. The harness's own
  observer (tests/fuzz/observe.py is_leaf) crashed on such a tensor too (seeds 6974, 8778).
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(398)
N, D = 3, 4
class Box:
    def __init__(self, scale, tag):
        pass
def make_logger(tag):
    log = logging.getLogger(f"{__name__}.{tag}")
    log.setLevel(logging.DEBUG)
    return log
LOG = make_logger("log")
ARGS = [torch.randn(N, D), torch.randn(N, D).requires_grad_(), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Sequential(nn.Linear(D, D), nn.ReLU()), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    v2 = y.t()
    v2.mul_(2)
    LOG.info("t %s", x)
    return (v2, )
'''

CALLS = [
    '',
    'CALL_GRAD = False',
]
