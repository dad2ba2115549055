"""torch callables that run natively: never inlined, never evaluated at trace time.

Some of torch's Python entry points work by changing torch's global state while they run:
a functorch transform (``torch.func.grad``, ``vmap``, ``jacrev``...) pushes a transform level
that wraps every tensor it sees, ``torch.cond`` dispatches through a higher-order operator,
``checkpoint`` installs saved-tensor hooks, forward AD opens dual levels. Inlining their Python
implementation records the state changes as if they were ordinary calls (and used to leave
torch's functorch stack pushed when the trace failed midway). The ones bytegraph captures as
higher-order ops (``variables/higher_order.py``) are taken by the builder before this table is
read; a call to any other function defined in one of these modules is a graph break (GB019):
the graph so far is compiled, the call runs natively, capture resumes after it.

``NATIVE_MODULES`` is an ordered list of module prefixes, first match wins; a row can also
exempt a module (``torch.func.functional_call`` only swaps a module's tensors and is traced).
A Python function is matched by the module whose globals it runs in (``torch.func.grad`` says
``__module__ == "torch.func"`` but lives in ``torch._functorch.apis``; the wrapper it returns
copies the user function's ``__module__`` but runs in the same globals); a builtin by the
module it belongs to.
"""

from __future__ import annotations

import types
from typing import Any

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from .base import Tx, VariableTracker

# (module prefix, break kind or None (traced), why): first match wins; read top to bottom. The
# callables these families are used through (torch.cond, torch.func.vmap, checkpoint...) are captured
# as higher-order ops before this table is consulted (variables/higher_order.py); what is left runs natively.
NATIVE_MODULES: tuple[tuple[str, breaks.BreakKind | None, str], ...] = (
    ("torch._functorch.functional_call", None, "functional_call and stack_module_state: traced"),
    ("torch.nn.attention.flex_attention", None, "flex_attention's front-end and create_block_mask: traced "
     "(they reach the flex_attention op and torch.vmap, captured as higher-order ops)"),
    ("torch._functorch", breaks.RUNS_NATIVELY, "a functorch transform (torch.func.grad, vmap, jacrev, jvp...)"),
    ("torch._C._functorch", breaks.RUNS_NATIVELY, "functorch's transform machinery"),
    ("torch.func", breaks.RUNS_NATIVELY, "a functorch transform (torch.func.grad, vmap, jacrev, jvp...)"),
    ("torch._higher_order_ops", breaks.RUNS_NATIVELY, "a higher-order op (torch.cond, while_loop, scan, map...)"),
    ("torch.utils.checkpoint", breaks.RUNS_NATIVELY,
     "activation checkpointing (saved-tensor hooks, a rerun in backward)"),
    ("torch.autograd.functional", breaks.RUNS_NATIVELY, "a nested autograd pass (torch.autograd.functional)"),
    ("torch.autograd.forward_ad", breaks.RUNS_NATIVELY, "forward-mode AD (dual levels)"),
    ("torch._dynamo.mutation_guard", None,
     "nn.Module.__init__ as torch.compile patches it once it has run (its tag is skipped: variables/stdlib.py)"),
    ("torch._dynamo.external_utils", None, "compiled autograd's runtime helpers (call_hook, call_backward, "
     "call_accumulate_grad, unwrap_maybe_dynamic_int) that a captured backward graph calls: traced, as torch.compile does"),
    ("torch._dynamo", breaks.DISABLED, "marked torch.compiler.disable (or part of torch.compile's own machinery)"),
)


# Front-ends of higher-order ops that are traced and, as under torch.compile, see
# ``torch.compiler.is_dynamo_compiling()`` True: they then call the op itself (a higher-order op row)
# instead of compiling it themselves.
COMPILING_FRONTENDS = frozenset({"torch.nn.attention.flex_attention"})


def compiling_frontend(module: str | None) -> bool:
    return module in COMPILING_FRONTENDS


def native_module_reason(module: str | None) -> tuple[breaks.BreakKind, str] | None:
    """The break kind and what code of ``module`` is, if it must run natively (None if it may be traced)."""
    if not module:
        return None
    for prefix, kind, why in NATIVE_MODULES:
        if module == prefix or module.startswith(prefix + "."):
            return (kind, why) if kind is not None else None
    return None


def native_reason(fn: Any) -> tuple[breaks.BreakKind, str] | None:
    """The break kind and why calling ``fn`` (a Python function or a builtin) must run natively, or None."""
    if isinstance(fn, types.FunctionType):
        return native_module_reason(fn.__globals__.get("__name__"))
    if isinstance(fn, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        owner = getattr(fn, "__self__", None)
        module = fn.__module__ or (owner.__name__ if isinstance(owner, types.ModuleType) else None)
        return native_module_reason(module)
    return None


def disable_decorators() -> frozenset[Any]:
    """``torch.compiler.disable`` and ``torch._dynamo.disable``: called while tracing (FSDP wraps
    its hooks so, lazily), they make a NativeCallVariable instead of running Dynamo's machinery."""
    import torch
    from ..torch_compat import torch_dynamo

    return frozenset({torch.compiler.disable, torch_dynamo.disable})


class NativeCallVariable(VariableTracker):
    """``torch.compiler.disable(fn)`` made while tracing: calling it is a graph break that runs
    ``fn`` natively (bytegraph has no frame hook, so everything ``fn`` calls runs natively too,
    as ``recursive=True`` asks)."""

    def __init__(self, decorator: Any, fn: VariableTracker) -> None:
        super().__init__(None)
        self.decorator = decorator
        self.fn = fn

    def python_type(self) -> type:
        return types.FunctionType

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        raise Unsupported(breaks.DISABLED, f"{self.fn.describe()} is marked torch.compiler.disable")

    def reconstruct(self, cg: Any) -> None:
        cg.push_callable(self.decorator)
        cg.reconstruct(self.fn)
        cg.call(1)

    def describe(self) -> str:
        return f"torch.compiler.disable({self.fn.describe()})"
