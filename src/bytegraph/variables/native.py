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

# (module prefix, runs natively?, why): first match wins; read top to bottom. The callables these
# families are used through (torch.cond, torch.func.vmap, checkpoint...) are captured as higher-order
# ops before this table is consulted (variables/higher_order.py); what is left runs natively.
NATIVE_MODULES: tuple[tuple[str, bool, str], ...] = (
    ("torch._functorch.functional_call", False, "functional_call and stack_module_state: traced"),
    ("torch.nn.attention.flex_attention", False, "flex_attention's front-end and create_block_mask: traced "
     "(they reach the flex_attention op and torch.vmap, captured as higher-order ops)"),
    ("torch._functorch", True, "a functorch transform (torch.func.grad, vmap, jacrev, jvp...)"),
    ("torch._C._functorch", True, "functorch's transform machinery"),
    ("torch.func", True, "a functorch transform (torch.func.grad, vmap, jacrev, jvp...)"),
    ("torch._higher_order_ops", True, "a higher-order op (torch.cond, while_loop, scan, map...)"),
    ("torch.utils.checkpoint", True, "activation checkpointing (saved-tensor hooks, a rerun in backward)"),
    ("torch.autograd.functional", True, "a nested autograd pass (torch.autograd.functional)"),
    ("torch.autograd.forward_ad", True, "forward-mode AD (dual levels)"),
)


# Front-ends of higher-order ops that are traced and, as under torch.compile, see
# ``torch.compiler.is_dynamo_compiling()`` True: they then call the op itself (a higher-order op row)
# instead of compiling it themselves.
COMPILING_FRONTENDS = frozenset({"torch.nn.attention.flex_attention"})


def compiling_frontend(module: str | None) -> bool:
    return module in COMPILING_FRONTENDS


def native_module_reason(module: str | None) -> str | None:
    """What code of ``module`` is, if it must run natively (None if it may be traced)."""
    if not module:
        return None
    for prefix, native, why in NATIVE_MODULES:
        if module == prefix or module.startswith(prefix + "."):
            return why if native else None
    return None


def native_reason(fn: Any) -> str | None:
    """Why calling ``fn`` (a Python function or a builtin) must run natively, or None."""
    if isinstance(fn, types.FunctionType):
        return native_module_reason(fn.__globals__.get("__name__"))
    if isinstance(fn, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        owner = getattr(fn, "__self__", None)
        module = fn.__module__ or (owner.__name__ if isinstance(owner, types.ModuleType) else None)
        return native_module_reason(module)
    return None
