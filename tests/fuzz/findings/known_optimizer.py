"""Fuzz finding: an optimizer step inside compiled code

status: fixed
backend: eager
kind: see the replay
flag: optimizer
SGD with momentum is bitwise equal to eager on every call (sound-b). Adam: torch's optimizers take
other formulas when compiled (``torch.compiler.is_compiling()``: Adam's bias corrections from the
step *tensor* in float32 instead of ``step.item()`` Python floats), and a compiled step differs
from an eager one in the last bits, for torch.compile(backend="eager") as for bytegraph. Over a
few calls Adam's near-sign updates let that grow: fuzz campaign C found 4 of 2000 programs 0.2-1.5%
apart (seeds 62004, 62833, 62778, 62061 with bf16 autocast), beyond any fixed tolerance.
Evidence (aotfuzz, the three worlds on those seeds' programs, optimizer parameters and state,
largest difference relative to the tensor's largest value):
  eager vs torch.compile   up to 1.5e-2        eager vs bytegraph   the same (to 3 digits)
  torch.compile vs bytegraph   <= 2.4e-5
  eager *run on the compiled formulas* vs bytegraph   0 (bitwise, every call of every seed)
So bytegraph computes exactly what torch's compiled path defines; the fuzz runner's eager world
now runs ``OPT.step`` with ``is_compiling()`` true (runner.compiled_formulas) and Adam programs
are compared bitwise, with no INEXACT tolerance. This program once set INEXACT; it no longer does.
"""

PROGRAM = r'''
import torch
from torch import nn
torch.manual_seed(0)
OPT_MOD = nn.Linear(3, 1)
OPT = torch.optim.Adam(OPT_MOD.parameters(), lr=0.1)
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
    '',
    '',
]
