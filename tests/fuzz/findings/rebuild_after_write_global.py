"""Fuzz finding: a local that held a global's old tensor is rebuilt from the global after the break rebound it

status: fixed
backend: eager
kind: mismatch result
seed: 5054 (found with aot_eager; the eager backend fails the same way)
expected (eager): t1 is the old G_T: the in-place mul_ doubles it, t13 (the new G_T) stays 2
actual (bytegraph): t1 is rebuilt from G['G_T'] after the write-back of `G_T = G_T * 2`, so it *is*
  the new tensor: mul_ doubles the new G_T (4) and the old tensor is left alone. Silent data corruption.
cause: runtime/graph_break.py emit_break: the write-back (here the global store) runs before
  _emit_resume rebuilds the locals from their sources.
"""

PROGRAM = r'''
import torch
G_T = torch.ones(3)
ARGS = [torch.ones(1)]

def f(x):
    global G_T
    t1 = G_T
    G_T = G_T * 2
    k = int(G_T.sum() > 0)          # a graph break
    t13 = G_T
    t1.mul_(2)
    return t13, t1, k
'''

CALLS = [
    '',
]
