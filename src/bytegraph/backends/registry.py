"""Resolve ``backend=`` to a callable with torch.compile's protocol ``backend(gm, example_inputs)``.

* ``"eager"`` — run the captured graph as Python (``gm.forward``): the reference backend.
* ``"inductor"`` — torch's Inductor, configured from ``mode``/``options`` exactly as
  ``torch.compile(backend="inductor", mode=..., options=...)`` does (same wrapper class).
* any other string — a torch.compile backend by name (``"aot_eager"``, ...), from torch's
  registry.
* a callable — used as is: anything written for torch.compile plugs in unchanged.

Backends get the graph the way torch.compile gives it: real example inputs, inside a
TracingContext whose fake mode shares the capture's ShapeEnv (``OutputGraph.compile_with``).

Floats (``float_inputs``): a Python float that varies between calls becomes a graph input.
A backend that says it takes symbolic floats (``backend.symbolic_floats = True``: ``"eager"``,
``bytegraph.testing.CompileCounter``, anything that runs the graph as Python) gets a SymFloat.
Every other backend gets it as torch.compile gives it to AOTAutograd and Inductor: a 0-d
float64 tensor (variables/floats.py). Inductor with CUDA graphs (``mode="reduce-overhead"``)
and torch's ``cudagraphs`` backend keep floats constants of the graph, guarded by value, as
torch.compile does: a CPU scalar input would keep the graph out of CUDA graphs.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

Backend = Callable[[torch.fx.GraphModule, list[Any]], Callable[..., Any]]


def runnable_as_python(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """``gm`` to run as Python: a copy in which the higher-order ops whose torch implementation expects
    a compiler after it are replaced by their eager equivalent (``hop_control.eager_targets``: a
    checkpoint recomputed with the forward's RNG state), in every body it calls; ``gm`` itself when
    it has none."""
    from ..variables.hop_control import eager_targets

    return _replace_targets(gm, eager_targets())


def _replace_targets(gm: torch.fx.GraphModule, targets: dict[Any, Any]) -> torch.fx.GraphModule:
    bodies = {name: _replace_targets(child, targets) for name, child in gm.named_children()
              if isinstance(child, torch.fx.GraphModule)}
    hits = any(n.op == "call_function" and n.target in targets for n in gm.graph.nodes)
    if not hits and all(body is getattr(gm, name) for name, body in bodies.items()):
        return gm
    graph = torch.fx.Graph()
    graph.output(graph.graph_copy(gm.graph, {}))
    for n in graph.nodes:
        if n.op == "call_function" and n.target in targets:
            n.target = targets[n.target]
    root = torch.nn.Module()
    for name, child in gm.named_children():
        setattr(root, name, bodies.get(name, child))
    return torch.fx.GraphModule(root, graph, class_name=type(gm).__name__)


def eager(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    return runnable_as_python(gm).forward


eager.symbolic_floats = True          # type: ignore[attr-defined]
eager.autograd_per_op = True          # type: ignore[attr-defined]  (runtime/split.py)


def float_inputs(backend: Backend) -> str:
    """How a float that varies between calls reaches ``backend``'s graphs: ``"symbolic"`` (a
    SymFloat input), ``"tensor"`` (a 0-d float64 tensor input) or ``"constant"`` (guarded by value)."""
    if getattr(backend, "symbolic_floats", False) is True:
        return "symbolic"
    if type(backend).__module__ == "torch._dynamo.backends.cudagraphs":
        return "constant"
    if isinstance(backend, torch._TorchCompileInductorWrapper):
        from ..torch_compat import inductor_config

        if backend.config.get("triton.cudagraphs", inductor_config.triton.cudagraphs):
            return "constant"
    return "tensor"


def lookup_backend(backend: str | Backend, mode: str | None = None, options: dict[str, Any] | None = None,
                   dynamic: bool | None = None) -> Backend:
    if callable(backend):
        if mode is not None or options:
            raise ValueError("mode= and options= configure a backend given by name; a callable backend "
                             "takes its own configuration")
        return backend
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name or a callable backend(gm, example_inputs), not {type(backend).__name__}")
    if mode is not None and options is not None:     # torch.compile's own rule and message
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if backend == "eager" and mode is None and not options:
        return eager
    if backend == "inductor":
        return torch._TorchCompileInductorWrapper(mode, options, dynamic)
    from ..torch_compat import list_backends, lookup_backend as torch_lookup

    known = list_backends(exclude_tags=())
    if backend not in known and backend != "eager":
        raise ValueError(f"unknown backend {backend!r}; use 'eager', one of {known}, "
                         "or a callable backend(gm, example_inputs)")
    if mode is not None or options:
        return torch._TorchCompileWrapper(backend, mode, options, dynamic)
    return torch_lookup(backend)
