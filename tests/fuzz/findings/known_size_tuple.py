"""Fuzz finding: shapes as values: torch.Size vs tuple

status: fixed
backend: eager
kind: see the replay
flag: size_tuple
"""

PROGRAM = r'''
import torch
ARGS = [torch.ones(2, 3)]

def f(x):
    return x.shape, x.shape[1:], x.shape[:1], type(x.shape[1:]).__name__
'''

CALLS = [
    '',
    'ARGS[0] = torch.ones(4, 3)',          # the batch size changes: dynamic from here on
    'ARGS[0] = torch.ones(5, 3)',
]
