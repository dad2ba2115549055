"""Fuzz finding: an optimizer step inside compiled code

status: fixed
backend: eager
kind: see the replay
flag: optimizer
SGD with momentum is bitwise equal to eager on every call (sound-b). Adam differs from eager by
~1e-6 from the first call, exactly as torch.compile(backend="eager") does: torch's Adam, when
compiled (torch.compiler.is_compiling()), computes its bias corrections from the step tensor in
float32 instead of a Python float. The program says so (INEXACT) and is compared with a tolerance.
"""

PROGRAM = r'''
import torch
from torch import nn
torch.manual_seed(0)
OPT_MOD = nn.Linear(3, 1)
OPT = torch.optim.Adam(OPT_MOD.parameters(), lr=0.1)
INEXACT = "Adam compiled: bias corrections from the step tensor, as under torch.compile"
ARGS = [torch.randn(2, 3)]

def f(x):
    loss = OPT_MOD(x).pow(2).sum()
    loss.backward()
    OPT.step()
    OPT.zero_grad()
    return loss
'''

CALLS = [
    '',
    '',
    '',
]
