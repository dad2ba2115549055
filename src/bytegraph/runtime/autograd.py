"""Compiled autograd, opt-in: the backward pass captured at run time and compiled by bytegraph.

Inside ``with bytegraph.compiled_autograd(backend=...)`` (or on every call of a function compiled
with ``compiled_autograd=True``), a ``backward()`` walks the autograd graph through torch's
compiled autograd (``torch._dynamo.compiled_autograd``): torch's C++ engine records the backward,
hooks included, as one fx graph per autograd-graph structure and hands it to a compiler function,
then calls the result on every later backward of the same structure (its own cache, keyed by the
nodes and hooks). Under torch.compile that compiler function is ``torch.compile`` (Dynamo traces
the graph's code); here it is ``bytegraph.compile``: the graph's ``forward`` is traced by
bytegraph's interpreter like any program (variables/autograd_runtime.py says what its calls
become), so a tensor hook's Python state and ``param.grad = ...`` are side effects of one graph,
and its guards decide when a hook or a shape recompiles. The backend is the one the user chose.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

from .compiled import CompiledFunction, CompiledModule, CompileStats


_LAST: tuple | None = None      # the configuration whose compiler filled torch's cache last


class CompiledAutograd:
    """``with bytegraph.compiled_autograd(backend="inductor") as ca:`` a backward run inside is
    captured as a graph and compiled by bytegraph with ``backend``. Reusable and re-entrant (one
    cache of torch's per process; nested contexts restore the outer compiler on exit).

    ``ca.compiled``: one CompiledModule per backward graph compiled autograd captured (a new
    autograd-graph structure, a new set of hooks, ``.grad`` now existing); ``ca.stats_all``:
    their CompileStats, for counting graphs, breaks and recompiles. torch's cache of captured
    backwards is per process: a context entered with the same configuration (backend, fullgraph,
    dynamic, mode, options) as the last one reuses what that one compiled (a context per step
    compiles once; the graphs are listed in the context that compiled them); another
    configuration, or torch.compile's compiled autograd, clears it first."""

    def __init__(self, compile: Callable[..., Any], backend: Any = "eager", *, fullgraph: bool = False,
                 dynamic: bool | None = None, mode: str | None = None, options: dict[str, Any] | None = None) -> None:
        self.key = (backend, fullgraph, dynamic, mode, repr(options))
        self._compile = functools.partial(compile, backend=backend, fullgraph=fullgraph, dynamic=dynamic,
                                          mode=mode, options=options)
        self.dynamic = dynamic is not False         # compiled autograd's own sizes: symbolic unless asked not
        self.compiled: list[CompiledModule] = []
        self._contexts: list[Any] = []

    def compiler(self, gm: Any) -> CompiledModule:
        """What compiled autograd calls with each backward graph it captures."""
        compiled = self._compile(gm)
        self.compiled.append(compiled)
        return compiled

    def __enter__(self) -> "CompiledAutograd":
        from ..torch_compat import compiled_autograd as torch_compiled_autograd   # (loads torch._dynamo)
        from ..torch_compat import dynamo_C

        global _LAST
        if _LAST != self.key:
            # torch keeps one cache of captured backwards per process, whoever compiled them: a
            # context with another compiler (another backend, torch.compile's) must not reuse them
            dynamo_C.compiled_autograd.clear_cache()
        _LAST = self.key
        ctx = torch_compiled_autograd._enable(self.compiler, dynamic=self.dynamic)
        ctx.__enter__()
        self._contexts.append(ctx)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._contexts.pop().__exit__(*exc)

    @property
    def stats_all(self) -> list[CompileStats]:
        return [s for c in self.compiled for s in c.stats_all]

    @property
    def graphs(self) -> int:
        """Backward graphs compiled so far (all captured backwards, recompiles included)."""
        return sum(s.graphs for s in self.stats_all)


def is_enabled() -> bool:
    """Whether a backward run now would be captured by compiled autograd (ours or torch.compile's)."""
    module = sys.modules.get("torch._dynamo.compiled_autograd")
    return bool(getattr(module, "compiled_autograd_enabled", False))


@functools.lru_cache(maxsize=None)
def _under_autograd(cls: type) -> type:
    """A subclass of a compiled callable's class whose call runs inside its CompiledAutograd."""
    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.__dict__["_bytegraph_autograd"]:
            return cls.__call__(self, *args, **kwargs)

    return type(cls.__name__, (cls,), {"__call__": __call__, "__doc__": cls.__doc__})


def with_compiled_autograd(compiled: Any, autograd: CompiledAutograd) -> Any:
    """``compile(..., compiled_autograd=True)``: every call of ``compiled`` (a CompiledFunction,
    a CompiledModule or a method bound to one) runs with ``autograd`` entered, as torch.compile
    enters its compiled autograd around a compiled frame when ``compiled_autograd`` is set in its
    config: a ``backward()`` inside the call (in a graph break) is captured; one after it is not."""
    target = getattr(compiled, "__func__", compiled)
    if not isinstance(target, (CompiledFunction, CompiledModule)):
        raise TypeError(f"compiled_autograd=True needs a compiled function or module, got {type(compiled).__name__}")
    target.__dict__["_bytegraph_autograd"] = autograd
    target.__class__ = _under_autograd(type(target))
    return compiled
