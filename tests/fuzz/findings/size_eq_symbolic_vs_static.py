"""Fuzz finding: `x.shape == y.shape` False when x's sizes are symbolic and y's static

status: fixed
backend: eager
kind: mismatch result
seed: 95030
expected (eager): x and y are both (4, 3): the `pass` branch, `acc` stays empty
actual (bytegraph): the resume function after the `.item()` break had x dynamic (x is the base of
  the view t1, also an input) and y static; `torch.Size` of SymInts == a constant torch.Size fell
  through every tracker's comparison to the identity fallback, False, with no guard: the else
  branch ran. Silent wrong branch.
cause: variables/ops.py `binary` answered `==` by identity for any two values no tracker compared
  (only right for types that keep object.__eq__); lists.py compared a sequence only with another
  tracked sequence, not with a constant one. Both fixed: sequences compare with constant
  sequences item by item (specializing symbolic items under a guard), and the identity fallback
  is taken only for types that compare by identity (else a break).
"""

PROGRAM = r'''
import torch
ARGS = [torch.randn(4, 3), torch.randn(4, 3)]

def f(x, y):
    acc = []
    t1 = x.reshape(x.shape)
    x.sum().item()                  # a graph break
    t13 = t1
    if x.shape == y.shape:
        pass
    else:
        acc.append(b'fuzz')
    return (acc, )
'''

CALLS = [
    '',
]
