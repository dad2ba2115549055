"""Fuzz finding: an optimizer step inside compiled code

status: open (known: optimizer steps wrong from the 2nd call, sound-b)
backend: eager
kind: see the replay
flag: optimizer
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
]
