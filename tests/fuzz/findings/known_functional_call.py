"""Fuzz finding: torch.func.functional_call with replaced parameters computes with the module's own

status: fixed
backend: eager
kind: see the replay
flag: functional_call
"""

PROGRAM = r'''
import torch
from torch import nn
torch.manual_seed(0)
ARGS = [torch.randn(2, 3), nn.Linear(3, 3)]

def f(x, m):
    return torch.func.functional_call(m, {k: p * 2 for k, p in m.named_parameters()}, (x,))
'''

CALLS = [
    '',
]
