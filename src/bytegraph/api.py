"""The public entry points: ``compile``, ``reset``."""

from __future__ import annotations

import types
from typing import Any, Callable

import torch

from .backends import lookup_backend
from .runtime.compiled import CompiledDDP, CompiledFunction, CompiledModule, reset_all
from .runtime.ddp import is_ddp


_DECORATOR = object()   # `@bytegraph.compile(backend=...)`: no model given yet


def compile(model: Any = _DECORATOR, *, backend: str | Callable = "eager", fullgraph: bool = False,
            dynamic: bool | None = None, mode: str | None = None, options: dict[str, Any] | None = None) -> Any:
    """Compile a function or an ``nn.Module``; usable as ``@bytegraph.compile`` or
    ``@bytegraph.compile(backend=...)``.

    * ``backend``: "eager", a torch.compile backend name, or a callable
      ``backend(gm, example_inputs) -> callable``.
    * ``fullgraph``: raise ``CompileError`` instead of falling back when a frame cannot be
      captured as one graph.
    * ``dynamic``: None (default) compiles static shapes first and makes what varies symbolic
      on the recompile; True makes every dimension and int argument symbolic from the start;
      False never does (every new size recompiles).
    * ``mode``/``options``: passed to a backend given by name, as torch.compile does
      (``mode="max-autotune"``, ``options={"epilogue_fusion": True}`` for Inductor).
    """
    if model is _DECORATOR:
        return lambda m: compile(m, backend=backend, fullgraph=fullgraph, dynamic=dynamic, mode=mode, options=options)
    compiler = lookup_backend(backend, mode, options, dynamic)
    if is_ddp(model):
        return CompiledDDP(model, compiler, fullgraph, dynamic)
    if isinstance(model, torch.nn.Module):
        return CompiledModule(model, compiler, fullgraph, dynamic)
    if isinstance(model, types.FunctionType):
        return CompiledFunction(model, compiler, fullgraph, dynamic)
    if isinstance(model, types.MethodType) and isinstance(model.__func__, types.FunctionType):
        return types.MethodType(CompiledFunction(model.__func__, compiler, fullgraph, dynamic), model.__self__)
    if isinstance(model, CompiledFunction):
        return model
    call = getattr(type(model), "__call__", None)
    if callable(model) and isinstance(call, types.FunctionType):
        return types.MethodType(CompiledFunction(call, compiler, fullgraph, dynamic), model)
    what = f"{type(model).__qualname__} {model!r}"[:200]
    if callable(model):
        raise TypeError(f"bytegraph.compile needs a Python function, method, callable object or nn.Module; "
                        f"got {what}, which has no Python bytecode to capture")
    raise TypeError(f"bytegraph.compile expects a callable (function, method or nn.Module), got {what}")


def reset() -> None:
    """Forget every compiled entry of every compiled function (the next call recompiles)."""
    reset_all()
