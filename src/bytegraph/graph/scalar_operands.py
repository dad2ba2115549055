"""0-d tensors passed where an op takes a Python number (a ``Scalar`` parameter).

Eager's argument parser reads such a tensor with ``.item()``: ``p.addcdiv_(a, b, value=-step_size)``
with a tensor ``step_size`` is what every optimizer runs on torch.compile's ``is_compiling()``
path (its step count is a tensor there). Faked, that read is an unbacked symbol the op makes inside
itself; the op's output does not carry it, so AOTAutograd refuses the graph ("pending unbacked
symbols not in returned outputs"). Two rewrites, first match wins:

1. ``DECOMPOSED``: ``addcdiv`` (and ``addcdiv_``) with a tensor ``value`` on a float32/float64
   tensor becomes the tensor ops eager's CPU kernel computes, ``self + value * t1 / t2`` (each
   rounded in the tensor's dtype, as the kernel rounds), so no number is read at all (no device
   sync on a GPU). torch.compile decomposes it too. (``addcmul`` is not listed: its kernel fuses
   a multiply-add, which no sequence of tensor ops rounds alike.)
2. ``explicit_items``: any other op whose fake run made such a symbol: each 0-d tensor passed to a
   parameter that every tensor overload of the op types as a number (``alpha``, ``value``...) is
   read by an explicit ``.item()`` node before the op, an unbacked float the graph owns.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import torch

from ..variables.base import VariableTracker
from ..variables.tensor import TensorVariable

if TYPE_CHECKING:
    from .output_graph import OutputGraph

_EXACT_DTYPES = (torch.float32, torch.float64)


def _op_name(kind: str, target: Any) -> str:
    return target if kind == "call_method" else getattr(target, "__name__", "")


def _is_scalar_tensor(vt: Any) -> bool:
    return isinstance(vt, TensorVariable) and vt.fake.dim() == 0


def _addcdiv(graph: "OutputGraph", name: str, args: list[Any], kwargs: dict[str, Any]) -> VariableTracker | None:
    """``self.addcdiv(t1, t2, value=v)`` as ``self + v * t1 / t2`` (CPython-order ops, eager's
    ``self_val + scalar_val * t1_val / t2_val``)."""
    if len(args) != 3 or set(kwargs) != {"value"} or not _is_scalar_tensor(kwargs["value"]):
        return None
    self_, t1, t2 = args
    if not all(isinstance(t, TensorVariable) and t.fake.dtype in _EXACT_DTYPES and t.fake.device.type == "cpu"
               for t in (self_, t1, t2)):
        return None         # (another device's kernel may round otherwise: rule 2 reads the number)
    scaled = graph.call_function(torch.mul, [kwargs["value"], t1], {})
    combined = graph.call_function(torch.div, [scaled, t2], {})
    if name.endswith("_"):
        return graph.call_method("add_", [self_, combined], {})
    return graph.call_function(torch.add, [self_, combined], {})


DECOMPOSED = {"addcdiv": _addcdiv, "addcdiv_": _addcdiv}


def decompose(graph: "OutputGraph", kind: str, target: Any, args: list[Any],
              kwargs: dict[str, Any]) -> VariableTracker | None:
    """The op as tensor ops (rule 1), or None when it is not one of ``DECOMPOSED``."""
    if kind == "call_function" and getattr(target, "__module__", None) not in ("torch", "torch._C._VariableFunctions"):
        return None
    rewrite = DECOMPOSED.get(_op_name(kind, target))
    return rewrite(graph, _op_name(kind, target), list(args), dict(kwargs)) if rewrite is not None else None


@functools.lru_cache(maxsize=None)
def number_parameters(name: str) -> tuple[frozenset[str], frozenset[int]]:
    """Names and positions of the parameters of ``aten::name`` that no tensor overload types as a
    Tensor: where a 0-d tensor can only be read as a number."""
    typed: dict[tuple[str, int | None], set[str]] = {}
    for schema in torch._C._jit_get_schemas_for_operator(f"aten::{name}"):
        if not schema.arguments or str(schema.arguments[0].type) != "Tensor":
            continue
        for i, arg in enumerate(schema.arguments):
            kind = "Tensor" if "Tensor" in str(arg.type) else str(arg.type)
            typed.setdefault((arg.name, None), set()).add(kind)
            if not arg.kwarg_only:
                typed.setdefault(("", i), set()).add(kind)
    numbers = {"number", "float", "int", "Scalar"}
    names = frozenset(n for (n, i), kinds in typed.items() if i is None and kinds <= numbers)
    positions = frozenset(i for (n, i), kinds in typed.items() if i is not None and kinds <= numbers)
    return names, positions


def explicit_items(graph: "OutputGraph", kind: str, target: Any, args: list[Any],
                   kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]] | None:
    """Rule 2: the arguments with each 0-d tensor in a number parameter read by ``.item()``; None
    when there is none (the op made its symbol some other way)."""
    name = _op_name(kind, target).removeprefix("__").removesuffix("__")
    try:
        names, positions = number_parameters(name)
    except RuntimeError:
        return None
    # (a method's self is argument 0 of its schema, as in ``args``)
    new_args = [graph.tensor_item(a) if i in positions and _is_scalar_tensor(a) else a for i, a in enumerate(args)]
    new_kwargs = {k: graph.tensor_item(v) if k in names and _is_scalar_tensor(v) else v for k, v in kwargs.items()}
    changed = any(a is not b for a, b in zip(new_args, args)) or any(new_kwargs[k] is not kwargs[k] for k in kwargs)
    return (new_args, new_kwargs) if changed else None
