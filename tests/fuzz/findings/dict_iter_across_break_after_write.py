"""Fuzz finding: a dict iterator handed on at a graph break saw the dict's own write-back as a change of size

status: fixed
backend: eager
kind: exception
seed: 60486 (flags all; minimised by hand)
expected (eager): the loop runs over "a", "k", "c"
actual (bytegraph, before the fix): RuntimeError: dictionary changed size during iteration
cause: the resume's iterator (variables/dicts.py DictIteratorVariable.reconstruct) was a real dict
  iterator made before the transformed code wrote back `d.setdefault("c", ...)`; it is now a
  DictIteratorAt that checks the size the dict has once written back.
"""

PROGRAM = r'''
import torch
ARGS = [torch.ones(2), {"a": 1, "k": 2}]

def f(x, d):
    d.setdefault("c", []).append(1)
    acc = []
    for k, v in d.items():
        print("step", k)              # a graph break inside the loop
        acc.append(v)
    return x + len(acc), acc
'''

CALLS = [
    '',
    'ARGS[1] = {"a": 1, "k": 2, "c": [0]}',
    'ARGS[1] = {"k": 2}',
]
