"""The public entry points: ``compile``, ``reset``."""

from __future__ import annotations

import types
from typing import Any, Callable

import torch

from .backends import lookup_backend
from .runtime.autograd import CompiledAutograd, with_compiled_autograd
from .runtime.compiled import CompiledDDP, CompiledFunction, CompiledModule, reset_all
from .runtime.ddp import is_ddp


_DECORATOR = object()   # `@bytegraph.compile(backend=...)`: no model given yet


def compile(model: Any = _DECORATOR, *, backend: str | Callable = "eager", fullgraph: bool = False,
            dynamic: bool | None = None, mode: str | None = None, options: dict[str, Any] | None = None,
            compiled_autograd: bool = False) -> Any:
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
    * ``compiled_autograd``: a ``backward()`` run during a call (a graph break inside it) is
      captured by compiled autograd and compiled by bytegraph with the same backend
      (``bytegraph.compiled_autograd`` for a backward outside compiled code).
    """
    if model is _DECORATOR:
        return lambda m: compile(m, backend=backend, fullgraph=fullgraph, dynamic=dynamic, mode=mode, options=options,
                                 compiled_autograd=compiled_autograd)
    compiled = _compile(model, backend, fullgraph, dynamic, mode, options)
    if compiled_autograd:
        autograd = CompiledAutograd(compile, backend, fullgraph=fullgraph, dynamic=dynamic, mode=mode, options=options)
        return with_compiled_autograd(compiled, autograd)
    return compiled


def compiled_autograd(backend: str | Callable = "eager", *, fullgraph: bool = False, dynamic: bool | None = None,
                      mode: str | None = None, options: dict[str, Any] | None = None) -> CompiledAutograd:
    """``with bytegraph.compiled_autograd(backend="inductor") as ca:``: every ``backward()`` run
    inside, in compiled code or not, is captured at run time by torch's compiled autograd (the
    backward graph with its hooks and gradient accumulation) and compiled by bytegraph with
    ``backend``; ``ca.compiled`` / ``ca.stats_all`` show the backward graphs. Outside the block
    backward is eager autograd again."""
    return CompiledAutograd(compile, backend, fullgraph=fullgraph, dynamic=dynamic, mode=mode, options=options)


def _compile(model: Any, backend: str | Callable, fullgraph: bool, dynamic: bool | None, mode: str | None,
             options: dict[str, Any] | None) -> Any:
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
