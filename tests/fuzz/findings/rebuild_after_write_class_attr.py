"""Fuzz finding: a local read from a class attribute is rebuilt after the break that writes it

status: fixed
backend: eager
kind: mismatch result
seed: 1149 (minimised by hand from the shrinker's output)
expected (eager): f returns (x + 2, 2)
actual (bytegraph): (x + 3, 3): everything after the break sees i == 3
cause: `Box.k += 1` is a graph break (STORE_ATTR on a class, GB006); the transformed code runs it
  natively and then rebuilds the resume function's locals from their sources, so `i` (read
  from `Box.k` before the write) is read again after it (runtime/graph_break.py _emit_resume).
"""

PROGRAM = r'''
import torch
class Box:
    k = 2
ARGS = [torch.ones(2)]

def f(x):
    i = Box.k
    Box.k += 1
    return (x + i, i)
'''

CALLS = [
    '',
    'Box.k = 2',
]
