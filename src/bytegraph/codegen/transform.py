"""Build the transformed function of a captured frame.

    <prologue of the original: MAKE_CELL / COPY_FREE_VARS / RESUME>
    ___graph_out = <compiled graph>(<input 0 from its source>, <input 1>, ...)
    return <the return value rebuilt from ___graph_out[i], constants and sources>

The new code object keeps the original's signature, cells and free variables, so the
result is a plain ``types.FunctionType`` over the user's globals, closure and defaults:
CPython binds the call itself and nothing else runs between the cache hit and the graph.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Sequence

import bytecode
from ..sources import Source
from .pycodegen import GRAPH_OUT, PyCodegen


def graph_call(cg: PyCodegen, compiled: Callable[..., Any], inputs: Sequence[Source], has_outputs: bool) -> list[Any]:
    """Instructions that call the compiled graph on its inputs and keep the result."""
    call = PyCodegen(cg.code, cg.lineno)
    call.hoist_sources(list(inputs))
    call.push_callable(compiled)
    for source in inputs:
        call.load_source(source)
    call.call(len(inputs))
    if has_outputs:
        call.store_local(GRAPH_OUT)
    else:
        call.emit("POP_TOP")
    return call.instrs


def make_function(fn: types.FunctionType, prologue: Sequence[Any], body: list[Any]) -> types.FunctionType:
    """A function with ``fn``'s signature, globals, defaults and closure whose code is
    ``prologue + body``."""
    code = fn.__code__
    bc = bytecode.Bytecode.from_code(code)
    bc.clear()
    bc.extend(prologue)
    bc.extend(body)
    bc.flags = code.co_flags
    new_code = bc.to_code()
    new_fn = types.FunctionType(new_code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)
    new_fn.__kwdefaults__ = fn.__kwdefaults__
    new_fn.__qualname__ = f"{fn.__qualname__} (bytegraph)"
    return new_fn
