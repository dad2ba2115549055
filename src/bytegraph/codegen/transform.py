"""Build the transformed function of a captured frame.

    <prologue of the original: MAKE_CELL / COPY_FREE_VARS / RESUME>
    ___graph_out = <compiled graph>(<input 0 from its source>, <input 1>, ...)
    return <the return value rebuilt from ___graph_out[i], constants and sources>

Inputs a state snapshot keeps (parameters, buffers: ``guards/snapshot.py``) are not read
through their source chains: ``___values(<anchors>)`` returns the argument list with them
filled in, which the code copies, fills in with the other inputs and calls the graph with.

The new code object keeps the original's signature, cells and free variables, so the
result is a plain ``types.FunctionType`` over the user's globals, closure and defaults:
CPython binds the call itself and nothing else runs between the cache hit and the graph.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Callable, Sequence

import bytecode
from ..sources import Source
from .pycodegen import GRAPH_OUT, PyCodegen

ARGS = "___graph_args"     # the local holding the graph's arguments when a snapshot keeps some


@dataclasses.dataclass(frozen=True)
class Preloaded:
    """Graph inputs a snapshot keeps: ``values(*anchors)`` is the graph's argument list with
    those (at ``kept``) filled in."""

    values: Callable[..., list]
    anchors: Sequence[Source]
    kept: Sequence[int]


def graph_call(cg: PyCodegen, compiled: Callable[..., Any], inputs: Sequence[Source], has_outputs: bool,
               preloaded: Preloaded | None = None) -> list[Any]:
    """Instructions that call the compiled graph on its inputs and keep the result."""
    call = PyCodegen(cg.code, cg.lineno)
    if preloaded is not None and preloaded.kept:
        _call_with_kept(call, compiled, inputs, preloaded)
    else:
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


def _call_with_kept(call: PyCodegen, compiled: Callable[..., Any], inputs: Sequence[Source],
                    preloaded: Preloaded) -> None:
    """``compiled(*args)`` where ``args`` is a copy of the snapshot's argument list with the other
    inputs stored into it: one C-level copy for all parameters, one store per input."""
    call.push_callable(preloaded.values)
    for anchor in preloaded.anchors:
        call.load_source(anchor)
    call.call(len(preloaded.anchors))
    call.load_method_call("copy", 0)
    call.store_local(ARGS)
    others = [(i, s) for i, s in enumerate(inputs) if i not in set(preloaded.kept)]
    call.hoist_sources([s for _, s in others])
    for i, source in others:
        call.load_source(source)
        call.emit("LOAD_FAST", ARGS)
        call.load_const(i)
        call.emit("STORE_SUBSCR")
    call.push_callable(compiled)
    call.emit("LOAD_FAST", ARGS)
    call.emit("CALL_FUNCTION_EX", 0)


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
