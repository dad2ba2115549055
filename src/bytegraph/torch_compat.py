"""The one place bytegraph reaches into torch's private modules (issue 13).

bytegraph stands on torch internals that carry no stability promise between releases: the fake
tensor mode, the ShapeEnv, TracingContext, the C++ guard helpers, the backend registry, Inductor's
config, the Triton kernel HOP. Every such name is one row of ``_NAMES`` below: the name bytegraph
code imports from here, then where torch keeps it, as ``"module:attribute"`` candidates tried in
order (``"module"`` alone is the module itself). A name that moves between torch releases is one
more candidate on its row, never a version check in the code that uses it; a name missing from
every candidate raises an ImportError naming the installed torch and what was tried.

Names resolve on first use (PEP 562 ``__getattr__``), so heavy modules (Inductor, the Triton HOP,
torch._numpy) load only when a program needs them: ``from bytegraph.torch_compat import X`` inside
a function costs one dict lookup after the first time.

Tested on torch 2.13.0, 2.14.1 and 2.15.0 (the lock files in constraints/, ``make test TORCH=...``);
no row needs a second candidate today. tests/meta/test_torch_compat.py keeps this the only module
that imports a private torch module (``torch._*``, ``torch._C._*``, ``torch.utils._*``,
``torch.fx.experimental``) or reads one as an attribute (``torch._guards.X``); torch's private
*functions* in the public namespace (``torch._sym_sqrt``) are not modules and stay where they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch

# name -> where torch keeps it, newest location first.
_NAMES: dict[str, tuple[str, ...]] = {
    # Fake tensors and symbolic shapes (graph/output_graph.py, graph/shapes.py, variables/numpy.py)
    "FakeTensor": ("torch._subclasses.fake_tensor:FakeTensor",),
    "FakeTensorMode": ("torch._subclasses.fake_tensor:FakeTensorMode",),
    "DataDependentOutputException": ("torch._subclasses.fake_tensor:DataDependentOutputException",),
    "DynamicOutputShapeException": ("torch._subclasses.fake_tensor:DynamicOutputShapeException",),
    "UnsupportedOperatorException": ("torch._subclasses.fake_tensor:UnsupportedOperatorException",),
    "ShapeEnv": ("torch.fx.experimental.symbolic_shapes:ShapeEnv",),
    "DimDynamic": ("torch.fx.experimental.symbolic_shapes:DimDynamic",),
    "StatefulSymbolicContext": ("torch.fx.experimental.symbolic_shapes:StatefulSymbolicContext",),
    "GuardOnDataDependentSymNode": ("torch.fx.experimental.symbolic_shapes:GuardOnDataDependentSymNode",),
    "guard_scalar": ("torch.fx.experimental.symbolic_shapes:guard_scalar",),
    "free_unbacked_symbols": ("torch.fx.experimental.symbolic_shapes:free_unbacked_symbols",),
    "compute_unbacked_bindings": ("torch.fx.experimental.symbolic_shapes:compute_unbacked_bindings",),
    "PendingUnbackedSymbolNotFound": ("torch.fx.experimental.symbolic_shapes:PendingUnbackedSymbolNotFound",),
    "enable_python_dispatcher": ("torch._dispatch.python:enable_python_dispatcher",),
    # Tracing context and torch's Source protocol (what a ShapeEnv symbol is named after)
    "torch_guards": ("torch._guards",),
    "TracingContext": ("torch._guards:TracingContext",),
    "GuardSource": ("torch._guards:GuardSource",),
    "TorchSource": ("torch._guards:Source",),
    # Floats tensorified by the backend (graph/output_graph.py, issue 19)
    "TensorifyScalarRestartAnalysis": ("torch._dynamo.exc:TensorifyScalarRestartAnalysis",),
    "TensorifyState": ("torch._dynamo.symbolic_convert:TensorifyState",),
    # C++ guard helpers (guards/)
    "TensorGuards": ("torch._C._dynamo.guards:TensorGuards",),
    "GlobalStateGuard": ("torch._C._dynamo.guards:GlobalStateGuard",),
    "dict_version": ("torch._C._dynamo.guards:dict_version",),
    # a state snapshot's bulk check once it has proved stable (guards/snapshot.py)
    "RootGuardManager": ("torch._C._dynamo.guards:RootGuardManager",),
    "GuardManagerType": ("torch._dynamo.guards:GuardManagerType",),
    "dispatch_keys": ("torch._C:_dispatch_keys",),
    "set_is_in_mode_without_ignore_compile_internals": (
        "torch._C._dynamo.guards:set_is_in_mode_without_ignore_compile_internals",),
    # Process-wide torch state a trace sets aside (runtime/torch_state.py)
    "python_dispatch": ("torch.utils._python_dispatch",),
    "functorch_C": ("torch._C._functorch",),
    # The per-backend fp32 precision table (cuda/mkldnn x matmul/conv/rnn) behind
    # torch.set_float32_matmul_precision, which torch's GlobalStateGuard checks (2.15)
    "get_fp32_precision": ("torch._C:_get_fp32_precision_getter",),
    "set_fp32_precision": ("torch._C:_set_fp32_precision_setter",),
    "autograd_C": ("torch._C._autograd",),
    # torch.compile's own pieces bytegraph hands graphs to or recognises
    "torch_dynamo": ("torch._dynamo",),
    "list_backends": ("torch._dynamo.backends.registry:list_backends",),
    "lookup_backend": ("torch._dynamo.backends.registry:lookup_backend",),
    "inductor_config": ("torch._inductor.config",),
    "OpOverload": ("torch._ops:OpOverload",),
    "OpOverloadPacket": ("torch._ops:OpOverloadPacket",),
    "tnp": ("torch._numpy",),
    # Triton kernels as graph nodes (variables/triton.py, issue 17)
    "triton_kernel_wrapper_mutation": ("torch._higher_order_ops.triton_kernel_wrap:triton_kernel_wrapper_mutation",),
    "kernel_side_table": ("torch._higher_order_ops.triton_kernel_wrap:kernel_side_table",),
    "create_tma_stable_metadata": ("torch._higher_order_ops.triton_kernel_wrap:create_tma_stable_metadata",),
    # Higher-order ops as graph nodes (variables/higher_order.py and the builders it names, issue 20)
    "HigherOrderOperator": ("torch._ops:HigherOrderOperator",),
    "cond_op": ("torch._higher_order_ops.cond:cond_op",),
    "while_loop_op": ("torch._higher_order_ops.while_loop:while_loop_op",),
    "tag_activation_checkpoint": ("torch._higher_order_ops.wrap:tag_activation_checkpoint",),
    "flex_attention_op": ("torch._higher_order_ops.flex_attention:flex_attention",),
    "TransformGetItemToIndex": ("torch._dynamo._trace_wrapped_higher_order_op:TransformGetItemToIndex",),
    "autograd_function_apply": ("torch._functorch.autograd_function:autograd_function_apply",),
    "tree_flatten": ("torch.utils._pytree:tree_flatten",),
    "tree_unflatten": ("torch.utils._pytree:tree_unflatten",),
    # Compiled autograd: the backward captured at run time, compiled by bytegraph (runtime/autograd.py,
    # variables/autograd_runtime.py)
    "compiled_autograd": ("torch._dynamo.compiled_autograd",),
    "is_callable_allowed": ("torch._dynamo.trace_rules:is_callable_allowed",),     # torch.compiler.allow_in_graph
    "dynamo_C": ("torch._C:_dynamo",),     # .compiled_autograd.clear_cache(): its cache of captured backwards
    "external_utils": ("torch._dynamo.external_utils",),
    "broadcast_to_and_flatten": ("torch.utils._pytree:_broadcast_to_and_flatten",),
    # vmap's checks of its inputs against in_dims, with eager's wording (variables/functorch.py)
    "vmap_process_batched_inputs": ("torch._functorch.vmap:_process_batched_inputs",),
    "vmap_func_name": ("torch._functorch.vmap:_get_name",),
    # Hooks on intermediates in the graph: which backward pass is running (runtime/hooks.py)
    "current_graph_task_id": ("torch._C:_current_graph_task_id",),
    # Eager's memory-overlap check of in-place pointwise ops, made on fake tensors (graph/eager_checks.py)
    "non_overlapping_and_dense": ("torch._prims_common:is_non_overlapping_and_dense_or_false",),
}


def _resolve(name: str) -> Any:
    tried = []
    for where in _NAMES[name]:
        module, _, attr = where.partition(":")
        try:
            value = importlib.import_module(module)
            return getattr(value, attr) if attr else value
        except (ImportError, AttributeError) as e:
            tried.append(f"{where} ({type(e).__name__})")
    raise ImportError(f"bytegraph needs torch's {name!r}, which torch {torch.__version__} does not have "
                      f"(tried {', '.join(tried)}); bytegraph supports torch>=2.13,<2.16: add where this "
                      f"torch keeps it to bytegraph/torch_compat.py _NAMES")


def optional(name: str) -> Any:
    """The name's value, or None where this torch has none of its candidates (a feature that
    older or newer releases lack; the caller says what it does without it)."""
    try:
        return globals()[name] if name in globals() else __getattr__(name)
    except ImportError:
        return None


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = _resolve(name)
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_NAMES])
