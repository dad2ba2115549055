"""Fuzz finding: with aot_eager/inductor, an int argument that became dynamic while it was 0 or 1 is baked into the graph

status: fixed
backend: aot_eager
kind: mismatch result
seed: 5065 (found through `def g(a, k=int(x.sum() > 0))` after a graph break; minimised by hand)
expected (eager): f(x, k) == x * k for k = 1, 0, 1, 2
actual (bytegraph, aot_eager and inductor): 1, 0, 0, 0: after k == 0 made k dynamic, every call
  returns x * 0 (the "eager" backend is right; torch.compile(backend="aot_eager") is right)
cause: graph/output_graph.py compile_with hands the backend the *real* int as the example input of
  a symbolic int graph input; AOTAutograd re-symbolizes a plain int example with
  ShapeEnv.create_symbol(x), which specializes 0 and 1 (functorch/_aot_autograd/frontend_utils.py
  process_inputs), so the compiled graph holds the constant 0, and bytegraph's guard only checks
  type(k) is int. torch.compile passes the SymInt itself as the example (Dynamo's GraphArg.example),
  which AOTAutograd keeps symbolic. Fix: pass the SymInt for number inputs, or specialize and guard
  0/1 as constants.
"""

PROGRAM = r'''
import torch
ARGS = [torch.ones(2), 1]

def f(x, k):
    return x * k
'''

CALLS = [
    '',
    'ARGS[1] = 0',
    'ARGS[1] = 1',
    'ARGS[1] = 2',
]
