"""The backends that test_backends.py and test_training.py run every program with.

``backend`` (parametrized indirectly, default: all four) is a ``BackendUnderTest``:

* ``"eager"``, ``"aot_eager"``, ``"inductor"`` — by name, as a user passes them; and
* ``"recorder"`` — a ``Recorder``, a callable backend written for torch.compile that keeps
  what it was given (graph, example inputs, tracing context, grad mode) and runs the graph
  as Python.

Eager and aot_eager run the very same kernels as eager PyTorch, so their results must be
bitwise equal; Inductor generates its own kernels and is compared with a tolerance.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import pytest
import torch
from torch._guards import TracingContext, detect_fake_mode

BACKEND_NAMES = ("eager", "aot_eager", "inductor", "recorder")


@dataclasses.dataclass
class Received:
    """One call of a Recorder: what torch.compile's protocol hands a backend."""

    gm: torch.fx.GraphModule
    example_inputs: list[Any]
    tracing: TracingContext | None
    detected_fake_mode: Any        # what a backend finds with torch._guards.detect_fake_mode(example_inputs)
    grad_enabled: bool

    def placeholder_values(self) -> list[Any]:
        return [n.meta["example_value"] for n in self.gm.graph.nodes if n.op == "placeholder"]

    def op_count(self) -> int:
        return sum(1 for n in self.gm.graph.nodes if n.op in ("call_function", "call_method", "call_module"))


class Recorder:
    """A user's backend(gm, example_inputs): records each call, runs the graph eagerly."""

    def __init__(self) -> None:
        self.calls: list[Received] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self.calls.append(Received(gm, list(example_inputs), TracingContext.try_get(),
                                   detect_fake_mode(example_inputs), torch.is_grad_enabled()))
        return gm.forward


@dataclasses.dataclass
class BackendUnderTest:
    name: str
    arg: Any                       # what is passed as compile(..., backend=arg)
    recorder: Recorder | None

    @property
    def exact(self) -> bool:
        return self.name != "inductor"

    def close(self, a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
        """Equal to eager: bitwise for backends that run eager's kernels, else allclose."""
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if self.exact:
            return torch.equal(a, b)
        return torch.allclose(a, b, rtol=rtol, atol=atol)

    def assert_graphs(self, compiled: Any, graphs: int, recompiles: int = 0) -> None:
        """Exactly ``graphs`` captures, each a graph (no eager fallback, no break); the
        recorder must have been handed each one."""
        stats = compiled.stats
        assert (stats.captures, stats.graphs, stats.recompiles) == (graphs, graphs, recompiles), stats
        assert stats.eager_reasons == [] and stats.break_reasons == [], stats
        if self.recorder is not None:
            assert len(self.recorder.calls) == graphs


def make_backend(name: str) -> BackendUnderTest:
    if name == "recorder":
        rec = Recorder()
        return BackendUnderTest(name, rec, rec)
    return BackendUnderTest(name, name, None)


@pytest.fixture(params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest) -> BackendUnderTest:
    return make_backend(request.param)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
