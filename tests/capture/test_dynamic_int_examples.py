"""An int argument that turned dynamic (automatic dynamic: it changed between calls) is a SymInt
graph input, and the backend is handed its SymInt as the example input, as torch.compile does.
Before, it got the real int: AOTAutograd (aot_eager, inductor) re-symbolizes a plain int with
``ShapeEnv.create_symbol``, which specializes 0 and 1 to constants with no guard bytegraph could
see, so an int that went dynamic while it was 0 or 1 was baked into the compiled graph: ``x * k``
returned ``x * 0`` for every later k (fuzz finding F4, tests/fuzz/findings/aot_int_zero_one_baked.py).
"""

import pytest
import torch

import bytegraph


def scale(x, k):
    return x * k


def shape_from_int(x, k):
    return x.new_zeros(k + 1) + x.sum() * k


def int_in_arithmetic(x, k, j):
    return x * (k + j) - j


@pytest.mark.parametrize("values", [(1, 0, 1, 2), (2, 0, 1, 2), (0, 1, 0, 3), (5, 1, 7, 0)])
def test_int_that_went_dynamic_at_zero_or_one(backend, values):
    compiled = bytegraph.compile(scale, backend=backend.arg)
    for k in values:
        x = torch.ones(3)
        assert backend.close(compiled(x, k), scale(x, k)), (k, compiled(x, k))
    backend.assert_graphs(compiled, 2, 1)        # static for the first value, then one dynamic graph for all


@pytest.mark.parametrize("backend_name", ["aot_eager", "recorder"])
def test_two_ints_and_a_size_from_an_int(backend_name):
    from tests.capture.conftest import make_backend

    backend = make_backend(backend_name)
    compiled = bytegraph.compile(int_in_arithmetic, backend=backend.arg)
    for k, j in ((1, 1), (0, 1), (1, 0), (3, 2), (0, 0)):
        x = torch.arange(3.0)
        assert backend.close(compiled(x, k, j), int_in_arithmetic(x, k, j)), (k, j)
    assert compiled.stats.eager_reasons == [] and compiled.stats.break_reasons == []
    assert compiled.stats.graphs == compiled.stats.captures <= 3
    if backend.recorder is not None:        # the dynamic graph's examples: the SymInts, as torch.compile's
        last = backend.recorder.calls[-1]
        assert [type(e) for e in last.example_inputs if not isinstance(e, torch.Tensor)] == [torch.SymInt] * 2
    sized = bytegraph.compile(shape_from_int, backend=backend.arg)
    for k in (1, 0, 1, 4, 0):
        x = torch.ones(2)
        assert backend.close(sized(x, k), shape_from_int(x, k)), k
