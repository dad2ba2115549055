"""Helpers for testing capture (and for users checking their own models).

``CompileCounter`` is a backend that counts graphs and operations and runs each graph
as Python; ``CountingBackend`` wraps a backend by name and counts the graphs it compiles and
their calls; ``same`` compares outputs structurally (tensors with ``allclose``, same dtype
and shape; containers by type and items; everything else with ``==``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch


class CompileCounter:
    """Backend that records every graph it is given and runs it eagerly."""

    symbolic_floats = True        # it runs the graph as Python (see backends/registry.py)
    autograd_per_op = True        # ... op by op, with eager's autograd (runtime/split.py)

    def __init__(self) -> None:
        self.frame_count = 0
        self.op_count = 0
        self.graphs: list[torch.fx.GraphModule] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self.frame_count += 1
        self.op_count += sum(1 for n in gm.graph.nodes if n.op in ("call_function", "call_method", "call_module"))
        self.graphs.append(gm)
        from .backends.registry import runnable_as_python

        return runnable_as_python(gm).forward

    def clear(self) -> None:
        self.frame_count = 0
        self.op_count = 0
        self.graphs.clear()


class CountingBackend:
    """A backend by name (torch's registry) that counts the graphs it compiles (``compiled``) and
    the calls of what it returned (``calls``), and passes both on."""

    def __init__(self, inner: str = "eager") -> None:
        from .torch_compat import lookup_backend

        self.inner = lookup_backend(inner)
        self.__wrapped__ = self.inner         # (what it compiles with: runtime/split.py)
        self.compiled = 0
        self.calls = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self.compiled += 1
        fn = self.inner(gm, example_inputs)

        def run(*args: Any) -> Any:
            self.calls += 1
            return fn(*args)
        return run

    def snapshot(self) -> tuple[int, int]:
        return self.compiled, self.calls


def same(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and a.requires_grad == b.requires_grad
                and bool(torch.allclose(a.detach(), b.detach(), rtol=rtol, atol=atol, equal_nan=True)))
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k], rtol, atol) for k in a)
    return bool(a == b)
