"""Fuzz finding: torch.func transforms inside compiled code

status: fixed
backend: eager
kind: see the replay
flag: torch_func
"""

PROGRAM = r'''
import torch
ARGS = [torch.randn(3)]

def f(x):
    g = torch.func.grad(lambda v: (v * v).sum())(x)
    w = torch.func.vmap(torch.sin)(x)
    return g, w, torch.is_grad_enabled()
'''

CALLS = [
    '',
    '',
]
