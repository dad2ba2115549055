"""Fuzz finding: setdefault on a key that a later call has replaced the existing value by a new one

status: fixed (dicts.py: _setdefault guards the key's presence; a mutated dict guards its keys)
backend: eager
kind: mismatch state
seed: 1106, 1160, 1210
expected (eager): the second call appends to the list the first call stored
actual (bytegraph, before the fix): d["c"] is a new list [1] (the first one and its contents lost)
"""

PROGRAM = r'''
import torch
ARGS = [torch.ones(2), {"a": 1}]

def f(x, d):
    d.setdefault("c", []).append(1)
    return x + 1
'''

CALLS = [
    '',
    '',
]
