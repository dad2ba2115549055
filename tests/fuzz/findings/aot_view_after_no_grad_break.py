"""Fuzz finding (aot_eager): a returned view came back with no grad_fn after a break inside no_grad

status: fixed
backend: aot_eager
kind: mismatch
seed: 70019 (flags all; minimised by the shrinker)
expected (eager): t2.flatten() of a module's output (requires grad) is a view with ViewBackward0, is_leaf False
actual (before): is_leaf True, grad_fn None. The resume function of the break (``G_T.sum().item()``
  inside ``with torch.no_grad()``) is entered with grad off; its graph started with the block's
  exit (``_set_grad_enabled(True)``). AOTAutograd makes an output that is a view of an input again
  after the graph, in the mode the graph was called in, before it applies the graph's own switch.
fix: OutputGraph.hoist_leading_grad_mode (switches before the first op are set before the call;
  the backend compiles in that mode: Dynamo's graphs start that way, and torch.compile gets this
  program right). Views made in another mode *inside* a graph (torch.compile gets those wrong too)
  are made again from their base in their own mode (output_graph._replaying_views);
  tests/capture/test_grad_mode_views.py.
Replay: python -m tests.fuzz --replay tests/fuzz/findings/aot_view_after_no_grad_break.py
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(70019)
N, D = 4, 4
class Box:
    def __init__(self, scale, tag):
        pass
G_T = torch.randn(D)
ARGS = [torch.randn(N, D), torch.randn(N, D), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Sequential(nn.Linear(D, D), nn.ReLU()), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    t2 = m(y)
    with torch.no_grad():
        G_T.sum().item()
    t22 = t2.flatten()
    return (t22, )
'''

CALLS = [
    '',
]
