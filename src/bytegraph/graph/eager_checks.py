"""Eager's argument checks that torch's fake kernels leave out, run while an op is traced.

An op that raises in eager must raise while tracing: the graph of a frame whose op raised is
never built, the frame runs eagerly and raises the program's error (``_as_eager_raises`` in
output_graph.py words it as eager does). Where the fake kernel does not check what eager's kernel
checks, the trace goes through and the error is left to the compiled graph, which loses it when
a backend drops the op as dead code (AOTAutograd: an unused ``m(x.bfloat16())`` through a float
``nn.Linear`` returned). The table below holds those checks, by aten op: each raises when eager's
kernel would (the wording is then eager's own, from the rerun on real zeros).

Rows: the matrix ops whose fake kernels do not compare dtypes (torch 2.13); bmm, baddbmm, dot
and convolution do and need no row.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..torch_compat import python_dispatch

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


class EagerChecks(python_dispatch.TorchDispatchMode):
    """Entered above the fake mode while one op is traced: the table's checks, then the op."""

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        check = DTYPE_CHECKS.get(func)
        if check is not None:
            check(args)
        return func(*args, **(kwargs or {}))
