"""Graph floats as tensor operands: where an op may take a graph float (variables/floats.py) as
its 0-d float64 tensor instead of as a Python number, with eager's result bit for bit.

Eager passes a Python float operand of a tensor op as a *wrapped number*: a 0-d double tensor
that type promotion treats as a scalar (``int_tensor * 0.5`` is float32, not float64) and whose
double value the kernel reads (cast to the dtype it computes in). A plain 0-d float64 CPU
tensor operand behaves the same way when the other operand is a floating point or complex
tensor with dimensions: same category, so that tensor's dtype wins, and the kernel reads the
very same double (TensorIterator treats any 0-d CPU operand as a CPU scalar). Beside an integer
or bool tensor it would promote the result to float64, so it is first cast to the dtype eager
computes in (the default dtype). Beside a 0-d tensor, both would promote as equals: not listed.

Only ops whose tensor-tensor form computes what their tensor-scalar form does are listed
(elementwise ``+ - * /`` and comparisons, as operators, torch functions and Tensor methods),
without keyword arguments. A float on the left of an operator is swapped to the right, as
CPython's reflected call does it (``t - x`` is ``x.__rsub__(t)``); ``t / x`` is not listed
(eager computes ``x.reciprocal() * t``). Each rewrite is checked against the op run with the
Python value (same dtype, shape and device), else it is not used.
Anything else takes the float as ``.item()``: a Python number at run time.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import torch

from ..variables.base import VariableTracker
from ..variables.constant import ConstantVariable
from ..variables.floats import GraphFloatVariable
from ..variables.tensor import TensorVariable

if TYPE_CHECKING:
    from .output_graph import OutputGraph

_COMPARISONS = ("lt", "le", "gt", "ge", "eq", "ne")

# Ops that may take a float as their second argument (args[1]; for a method, after self).
TAKES_OPERAND: frozenset[tuple[str, Any]] = frozenset({
    *(("call_function", getattr(operator, n)) for n in ("add", "sub", "mul", "truediv", "iadd", "isub", "imul",
                                                       "itruediv", *_COMPARISONS)),
    *(("call_function", getattr(torch, n))
      for n in ("add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide", *_COMPARISONS,
                "greater", "greater_equal", "less", "less_equal", "not_equal")),
    *(("call_method", n)
      for n in ("add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "add_", "sub_",
                "mul_", "div_", *_COMPARISONS, "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                "__truediv__", "__iadd__", "__isub__", "__imul__", "__itruediv__",
                *(f"__{n}__" for n in _COMPARISONS))),
})

# ``float <op> tensor``: CPython calls the tensor's reflected method, so eager runs the op with the
# tensor first (``t * x`` is ``x.mul(t)``; for half tensors the order matters: only a scalar in
# second place is read as a double). The op eager runs, with the operands swapped:
REFLECTED: dict[Any, Any] = {operator.add: operator.add, operator.mul: operator.mul, operator.sub: torch.rsub,
                             operator.lt: operator.gt, operator.le: operator.ge, operator.gt: operator.lt,
                             operator.ge: operator.le, operator.eq: operator.eq, operator.ne: operator.ne}

_REDUCED = (torch.float16, torch.bfloat16)


def tensor_operands(graph: "OutputGraph", kind: str, target: Any, args: list[VariableTracker],
                    kwargs: dict[str, VariableTracker]) -> tuple[Any, list[VariableTracker]] | None:
    """(target, args) with the graph float as its tensor operand, or None where that would not
    compute what eager computes."""
    if kwargs or len(args) != 2:
        return None
    if kind == "call_function" and target in REFLECTED and isinstance(args[0], GraphFloatVariable):
        target, args = REFLECTED[target], [args[1], args[0]]
    vt, other = args[1], args[0]
    if (kind, target) not in TAKES_OPERAND or not isinstance(vt, GraphFloatVariable) \
            or not isinstance(other, TensorVariable) or other.fake.dim() == 0:
        return None
    dtype = other.fake.dtype
    cast = None if dtype.is_floating_point or dtype.is_complex else torch.get_default_dtype()
    if cast in _REDUCED:            # a kernel would read the cast value, not the double
        return None
    fake = vt.fake if cast is None else graph.run_fake("call_method", "to", [vt.fake, cast], {})
    if not _same_result(graph, kind, target, [other.fake, vt.value], [other.fake, fake]):
        return None
    operand = vt.as_tensor() if cast is None else graph.call_method("to", [vt.as_tensor(), ConstantVariable(cast)], {})
    return target, [other, operand]


def _same_result(graph: "OutputGraph", kind: str, target: Any, scalar_args: list[Any], tensor_args: list[Any]) -> bool:
    """The op on the tensor operand gives the metadata it gives on the Python value."""
    try:
        want = graph.run_fake(kind, target, scalar_args, {})
        got = graph.run_fake(kind, target, tensor_args, {})
    except Exception:   # noqa: BLE001 - the op itself fails: the Python-number route reports it
        return False
    return isinstance(want, torch.Tensor) and isinstance(got, torch.Tensor) and \
        (want.dtype, want.shape, want.device) == (got.dtype, got.shape, got.device)
