"""Fuzz finding: x.float() / x.to(x.dtype) of a float32 tensor is x itself in eager

status: fixed
backend: eager
kind: see the replay
flag: identity_to
"""

PROGRAM = r'''
import torch
ARGS = [torch.ones(2)]

def f(x):
    return x.float() is x, x.to(x.dtype) is x, x.contiguous() is x
'''

CALLS = [
    '',
]
