"""Fuzz finding: a dict with the same keys in another order is written back in the traced order

status: fixed (dicts.py: a mutated pre-existing dict guards its key set, in order)
backend: eager
kind: mismatch state
seed: 1072, 1166, 1219, 1238, 1282
expected (eager): list(d) == ["k1", "k", "a"] after the second call
actual (bytegraph, before the fix): ["a", "k", "k1"] (clear() + the first trace's contents); with an
  extra key added between calls (1282) that key was lost
"""

PROGRAM = r'''
import torch
ARGS = [torch.ones(2), {"a": torch.ones(2), "k": 2}]

def f(x, d):
    d["k1"] = x
    return x + 1
'''

CALLS = [
    '',
    'ARGS[1] = dict(reversed(list(ARGS[1].items())))',
    'ARGS[1]["n"] = 2',
]
