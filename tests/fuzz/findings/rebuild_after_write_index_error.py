"""Fuzz finding: IndexError reaches the user: a list copied before a write-back is rebuilt from the old positions

status: fixed
backend: eager
kind: exception
seed: 1226 (minimised by hand from the shrinker's output)
expected (eager): f returns normally
actual (bytegraph): IndexError: list index out of range
cause: `lst[:3]` is a new list whose items have the sources `L['lst'][i]` of the list before
  `del lst[:1]`; at the break inside the loop the write-back of `lst` runs first, then the
  iterator's list is rebuilt from those positions, one of which no longer exists.
"""

PROGRAM = r'''
import torch, zlib
def opaque(t):
    return t * (zlib.crc32(b'fuzz') % 3 + 1)   # a C call: a graph break inside a callee
G_T = torch.ones(2)
ARGS = [[torch.ones(2), 1]]

def f(lst):
    del lst[:1]
    for i, v in enumerate(lst[:3]):
        opaque(G_T)
    return lst
'''

CALLS = [
    '',
]
