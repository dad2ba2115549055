"""Fuzz finding: a builtin shadowed by a module global after the first call is not seen

status: fixed
backend: eager
kind: see the replay
flag: shadow_builtins
"""

PROGRAM = r'''
import torch
ARGS = [torch.ones(2), [1, 2]]

def f(x, lst):
    return x * len(lst)
'''

CALLS = [
    '',
    'len = lambda s: 7',
]
