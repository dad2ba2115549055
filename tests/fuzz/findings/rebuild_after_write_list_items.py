"""Fuzz finding: items of a list are rebuilt from another list's positions after that list was written back

status: fixed
backend: eager
kind: mismatch result
seed: 1296 (minimised by hand from the shrinker's output)
expected (eager): acc == [G_T, <the old lst[0]>, 1] (the old first item, by identity)
actual (bytegraph): acc == [G_T, G_T, 1]
cause: after the break, the resume function's write-back writes `lst` (insert) first, then `acc`,
  whose items are rebuilt from their sources `L['lst'][0]`, which now holds G_T
  (side_effects.py: write-backs read their values from sources after earlier write-backs).
"""

PROGRAM = r'''
import torch
G_T = torch.zeros(2)
ARGS = [torch.ones(1), [torch.ones(2), 1]]

def f(y, lst):
    acc = []
    y.tolist()                      # a graph break: the rest runs in a resume function
    lst.insert(0, G_T)
    acc.extend(lst)
    return acc
'''

CALLS = [
    '',
]
