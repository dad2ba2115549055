"""Fuzz finding: a returned no_grad view written in place made the graph's epilogue raise

status: fixed
backend: eager
kind: mismatch result
seed: 5576 (20000-program campaign at b4d7be7)
expected (eager): the loop's Adam steps run in the resume functions, traced (compiled formulas)
actual (bytegraph): the graph of f_resume_at_9 returns ``v14 = t9[0]``, made under no_grad and
  zeroed in place: autograd refuses to read its history, and ``_made_in_mode`` (which decides
  whether an output view is remade in its own grad mode) read ``v14.grad_fn``, raised, and the
  frame was rerun eagerly as if the program had raised (GraphRaised): silently, with eager's Adam
  formulas, last bits apart from the eager world's compiled ones
cause: graph/output_graph.py _made_in_mode; such a view was made under no_grad, as eager's is
"""

PROGRAM = r'''
import contextlib, functools, logging, operator, warnings, zlib
import torch
from torch import nn
torch.manual_seed(5576)
N, D = 2, 4
class Box:
    def __init__(self, scale, tag):
        pass
G_T = torch.randn(D)
OPT_MOD = nn.Linear(D, 1)
OPT = torch.optim.Adam(OPT_MOD.parameters(), lr=0.1)
ARGS = [torch.randn(N, D), torch.randn(N, D), 2, False, [torch.randn(D), 1], {"a": torch.randn(D), "k": 2}, nn.Sequential(nn.Linear(D, D), nn.ReLU()), Box(0.5, "b")]


def f(x, y, n, flag, lst, d, m, obj):
    acc = []
    t9 = sum([x, x.requires_grad_()])
    with contextlib.ExitStack() as stack10:
        stack10.enter_context(torch.no_grad())
        v14 = t9[0]
        v14.zero_()
    for i16, v17 in enumerate(lst[:3]):
        loss19 = OPT_MOD(G_T)
        loss19.backward()
        OPT.step()
        acc.append(loss19)
    return (acc, )
'''

CALLS = [
    '',
]
