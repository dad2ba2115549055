"""Fuzz finding: a dict changed during iteration does not raise CPython's RuntimeError

status: fixed
backend: eager
kind: mismatch result
seed: 1193 (minimised by hand from the shrinker's output)
expected (eager): RuntimeError: dictionary changed size during iteration
actual (bytegraph): returns normally (in the fuzzed program the next step then raised KeyError: 'a')
cause: iterating `d.items()` walks the tracker's key list taken when the iterator was made
  (variables/dicts.py, the dict views' __iter__); CPython checks the dict's size on every step
  (Objects/dictobject.c dictiter_iternextitem) and raises.
"""

PROGRAM = r'''
import torch
ARGS = [torch.ones(2), {"a": 1, "k": 2}]

def f(x, d):
    for k, v in d.items():
        d.pop("a", None)
    return x + 1
'''

CALLS = [
    '',
]
