"""Eager's argument checks that torch's fake kernels leave out, run while an op is traced.

An op that raises in eager must raise while tracing: the graph of a frame whose op raised is
never built, the frame runs eagerly and raises the program's error (``_as_eager_raises`` in
output_graph.py words it as eager does). Where the fake kernel does not check what eager's kernel
checks, the trace goes through and the error is left to the compiled graph, which loses it when
a backend drops the op as dead code (AOTAutograd: an unused ``m(x.bfloat16())`` through a float
``nn.Linear`` returned). The table below holds those checks, by aten op: each raises when eager's
kernel would (the wording is then eager's own, from the rerun on real zeros).

Rows: the matrix ops whose fake kernels do not compare dtypes (torch 2.13); bmm, baddbmm, dot
and convolution do and need no row. And for every in-place pointwise op (aten's ``pointwise``
tag: TensorIterator kernels), eager's memory-overlap checks (ATen's MemoryOverlap.cpp), which
fake kernels skip: ``y.unsqueeze(0).add_(y)`` raises in eager; traced, it was recorded, failed
in the graph, and the input's restore after the failure moved its version counter (fuzz seed
46476: a later backward then failed where eager's ran).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch

from ..torch_compat import non_overlapping_and_dense, python_dispatch

_aten = torch.ops.aten


def _one_dtype(*positions: int) -> Callable[[tuple], None]:
    """Eager's check that the strided tensors at ``positions`` have one dtype."""
    def check(args: tuple) -> None:
        dtypes = {args[i].dtype for i in positions
                  if i < len(args) and isinstance(args[i], torch.Tensor) and args[i].layout is torch.strided}
        if len(dtypes) > 1:
            raise RuntimeError(f"input tensors must have the same dtype, but got {sorted(map(str, dtypes))}")
    return check


# aten overload -> check of its positional arguments (eager: at::native's mm/addmm/mv/addmv checks)
DTYPE_CHECKS: dict[Any, Callable[[tuple], None]] = {
    _aten.mm.default: _one_dtype(0, 1),
    _aten.addmm.default: _one_dtype(0, 1, 2),
    _aten.mv.default: _one_dtype(0, 1),
    _aten.addmv.default: _one_dtype(0, 1, 2),
}


_SHARED_WRITE = ("unsupported operation: more than one element of the written-to tensor refers to a single "
                 "memory location. Please clone() the tensor before performing the operation.")
_PARTIAL = ("unsupported operation: some elements of the input tensor and the written-to tensor refer to a "
            "single memory location. Please clone() the tensor before performing the operation.")


def _known(t: torch.Tensor) -> bool:
    """Strided, with every size, stride and offset a plain int (a symbolic one: left to the graph)."""
    return t.layout is torch.strided and all(
        type(v) is int for v in (*t.shape, *t.stride(), t.storage_offset()))


def _span(t: torch.Tensor) -> tuple[int, int]:
    start = t.storage_offset() * t.element_size()
    return start, start + t.numel() * t.element_size()


def _partial_overlap(out: torch.Tensor, other: torch.Tensor) -> bool:
    """ATen's ``get_overlap_status(out, other) == Partial``: one storage, the same bytes in another
    layout or some of them, both dense (otherwise too hard to tell: eager lets it through)."""
    if out is other or out.numel() == 0 or other.numel() == 0 or not all(map(non_overlapping_and_dense, (out, other))):
        return False
    if out.untyped_storage()._cdata != other.untyped_storage()._cdata:
        return False
    (a0, a1), (b0, b1) = _span(out), _span(other)
    if (a0, a1) == (b0, b1):
        return out.stride() != other.stride()
    return a0 < b1 and b0 < a1


def _no_overlap(args: tuple) -> None:
    """An in-place pointwise op: its output has no two elements at one address (a stride 0 over
    more than one element) and no input overlaps it partly."""
    out = args[0] if args else None
    if not isinstance(out, torch.Tensor) or not _known(out):
        return
    if not non_overlapping_and_dense(out) and any(size > 1 and stride == 0 for size, stride in zip(out.shape, out.stride())):
        raise RuntimeError(_SHARED_WRITE)
    for other in args[1:]:
        if isinstance(other, torch.Tensor) and _known(other) and _partial_overlap(out, other):
            raise RuntimeError(_PARTIAL)


@functools.cache
def _in_place_pointwise(func: Any) -> bool:
    schema = getattr(func, "_schema", None)
    if schema is None or torch.Tag.pointwise not in getattr(func, "tags", ()) or not schema.arguments:
        return False
    alias = schema.arguments[0].alias_info
    return alias is not None and alias.is_write and not any(a.is_out for a in schema.arguments)


class EagerChecks(python_dispatch.TorchDispatchMode):
    """Entered above the fake mode while one op is traced: the table's checks, then the op."""

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        check = DTYPE_CHECKS.get(func)
        if check is not None:
            check(args)
        elif _in_place_pointwise(func):
            _no_overlap(args)
        return func(*args, **(kwargs or {}))
