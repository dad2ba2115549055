"""Fuzz finding: a value read from a module attribute is rebuilt after the write-back that changed it

status: fixed
backend: eager
kind: mismatch result
seed: 2205 (also 2096 with obj.scale, 2183 with dict(d) then d.pop: KeyError reaching the user)
expected (eager): acc == [True] (m.training as read, before m.eval())
actual (bytegraph): acc == [False]
cause: at the graph break (`if y.sum() > 0`), the transformed code writes back `m.training = False`
  and then rebuilds `acc` for the resume function; its item is rebuilt from its source
  `L['m'].training` (runtime/graph_break.py emit_break: side_effects.codegen runs before
  _emit_resume reconstructs the stack and locals).
"""

PROGRAM = r'''
import torch
from torch import nn
ARGS = [torch.ones(2), nn.Linear(2, 2)]

def f(y, m):
    acc = []
    acc.append(m.training)
    m.eval()
    if y.sum() > 0:                 # a graph break
        pass
    return acc
'''

CALLS = [
    '',
]
