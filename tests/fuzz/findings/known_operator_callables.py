"""Fuzz finding: operator.itemgetter/attrgetter/methodcaller objects made in compiled code raise TypeError

status: fixed
backend: eager
kind: see the replay
flag: operator_callables
"""

PROGRAM = r'''
import operator
import torch
class Box:
    scale = 2.0
ARGS = [torch.ones(2), [torch.ones(2)], Box()]

def f(x, lst, obj):
    a = operator.itemgetter(0)(lst)
    b = operator.attrgetter('scale')(obj)
    c = operator.methodcaller('mul', 3)(x)
    return a * b + c
'''

CALLS = [
    '',
]
