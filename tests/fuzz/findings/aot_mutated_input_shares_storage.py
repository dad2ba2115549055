"""Fuzz finding (aot_eager): a graph input written in place shares storage with another input: stale read

status: fixed (aliasing; torch.compile(backend="aot_eager") raises BackendCompilerFailed instead)
backend: aot_eager
kind: mismatch
seed: 90061 (flags all; minimised by hand from the aotfuzz campaign: ARGS[1] = ARGS[0], then
  ARGS[1] = ARGS[1].detach()...: y shares x's storage as another tensor object)
expected (eager): m(y) reads y after x[..., :1] += 1 wrote through the shared storage
actual (bytegraph, aot_eager): call 1 returns the value from before the write. The graph compiled
  at call 0 (distinct x and y) is reused: the NO_TENSOR_ALIASING guard compares objects, not
  storages, and AOTAutograd applies an input mutation after the graph (functionalized), so y is read
  stale. The "eager" backend is right. torch.compile guards storage overlap of inputs, recompiles,
  and AOTAutograd then refuses the graph ("does not yet handle non-differentiable view input
  mutations": BackendCompilerFailed reaches the user).
fix: a graph that writes inputs in place is guarded by NO_STORAGE_OVERLAP (no written input
  shares storage with another tensor input, parameters included), so call 1 recompiles; a graph
  captured while they share storage runs its recorded ops natively, not through the backend
  (DESIGN 52; tests/capture/test_storage_aliasing.py).
Replay: python -m tests.fuzz --replay tests/fuzz/findings/aot_mutated_input_shares_storage.py
"""

PROGRAM = r'''
import torch
from torch import nn
torch.manual_seed(0)
m = nn.Linear(4, 4)
ARGS = [torch.randn(2, 4), torch.randn(2, 4)]

def f(x, y):
    with torch.no_grad():
        x[..., :1] += 1
    return torch.relu(m(y))
'''

CALLS = [
    '',
    'ARGS[1] = ARGS[0].detach()',
    'ARGS[1] = torch.randn(2, 4)',
]
