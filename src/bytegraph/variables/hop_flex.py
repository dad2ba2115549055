"""flex_attention: ``score_mod`` and the block mask's ``mask_mod`` as subgraphs of one node.

``torch.nn.attention.flex_attention.flex_attention`` is traced (it validates its arguments, fills
in the kernel options, and, under a compiler, calls the higher-order op
``torch.ops.higher_order.flex_attention``); that call is built here, as torch.compile records it:

    flex_attention(q, k, v, score_mod_gm, (*block_mask[:-1], mask_mod_gm), scale, kernel_options,
                   score_mod_lifted, mask_mod_lifted)

``score_mod(score, b, h, q_idx, kv_idx)`` is traced on 0-d tensors (the score in the query's dtype,
requiring grad when the query does; the indices int32), ``mask_mod(b, h, q_idx, kv_idx)`` on the
indices alone. Tensors they capture (a bias table, a document-id vector) are lifted to the lifted
lists. The block mask is whatever ``BlockMask.as_tuple()`` gave: its tensors are graph inputs (or
values of the graph, when ``create_block_mask`` ran inside the compiled function), its sizes
constants. Backward is the op's own (AOTAutograd builds ``flex_attention_backward``).

``mark_static`` is ``torch._dynamo.mark_static`` as flex_attention calls it on q/k/v (heads and
head dim must be static for its kernels): the dimension is specialized in this capture.
"""

from __future__ import annotations

from typing import Any

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from ..torch_compat import guard_scalar
from .base import NotConstant, Tx, VariableTracker, pymethod
from .lists import TupleVariable
from .subgraphs import BodyInput, bind_args, install, trace_body


def _flex_signature(query: Any, key: Any, value: Any, score_mod: Any, block_mask: Any, scale: Any,
                    kernel_options: Any, score_mod_other_buffers: Any = (),
                    mask_mod_other_buffers: Any = ()) -> None: ...


def _scalar(tx: Tx, like: torch.Tensor, dtype: torch.dtype, requires_grad: bool = False) -> BodyInput:
    with tx.graph.fake_mode:
        t = torch.empty((), dtype=dtype, device=like.device)
    return BodyInput(t.requires_grad_(requires_grad) if requires_grad else t)


def _body_module(tx: Tx, body: Any) -> torch.fx.GraphModule:
    if len(body.leaves) != 1 or not body.leaves[0].is_tensor or body.skeleton != 0:
        raise Unsupported(breaks.HOP_BODY, f"{body.what} must return one tensor (it returns {body.skeleton!r})")
    return body.module(body.output_nodes(clone_aliases=False)[0])


def build_flex_attention(tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    a = bind_args(tx, _flex_signature, args, kwargs)
    query = a["query"]
    if not query.is_tensor or a["score_mod_other_buffers"].unpack(tx) or a["mask_mod_other_buffers"].unpack(tx):
        raise Unsupported(breaks.RUNS_NATIVELY, "flex_attention op called with explicit buffers or a non-tensor query")
    q = query.fake
    indices = [_scalar(tx, q, torch.int32) for _ in range(4)]
    score = _scalar(tx, q, q.dtype, requires_grad=q.requires_grad and tx.graph.grad_enabled)
    block_mask = a["block_mask"].unpack(tx)
    mask_mod = block_mask[-1]
    if mask_mod.is_constant() and mask_mod.as_constant() is None:
        from torch.nn.attention.flex_attention import noop_mask

        mask_mod = tx.wrap_const(noop_mask)
    # flex_attention runs both under TransformGetItemToIndex: ``bias[h]`` with a 0-d index tensor is
    # aten.index, not a data-dependent int (OutputGraph.getitem_as_index)
    with tx.graph.getitem_as_index():
        score_body = trace_body(tx, a["score_mod"], [score, *indices], {}, what="the score_mod of flex_attention",
                                name="score_mod")
        score_gm = _body_module(tx, score_body)
        mask_body = trace_body(tx, mask_mod, list(indices), {}, what="the mask_mod of flex_attention", name="mask_mod")
        mask_gm = _body_module(tx, mask_body)
    from ..torch_compat import flex_attention_op

    return tx.graph.call_function(flex_attention_op, [
        query, a["key"], a["value"], install(tx, "score_mod", score_gm),
        TupleVariable([*block_mask[:-1], install(tx, "mask_mod", mask_gm)]),
        a["scale"], a["kernel_options"],
        TupleVariable(score_body.lifted_args()), TupleVariable(mask_body.lifted_args())], {})


def _mark_static_signature(t: Any, index: Any = None, *, strict: Any = False) -> None: ...


def mark_static(tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    """``torch._dynamo.mark_static(t, index)`` inside a trace: each (or that) dimension of ``t`` is
    specialized now (a guard on its size), so this graph treats it as static."""
    a = bind_args(tx, _mark_static_signature, args, kwargs)
    t, index = a["t"], a["index"]
    if not t.is_tensor:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"mark_static of {t.describe()}")
    try:
        dims = range(t.fake.dim()) if index.as_constant() is None else [index.as_constant()]
    except NotConstant:
        raise Unsupported(breaks.UNSUPPORTED_CALL, "mark_static with a dimension unknown at trace time") from None
    for d in dims:
        size = t.fake.shape[d]
        if isinstance(size, torch.SymInt):
            guard_scalar(size)
    return tx.wrap_const(None)


class GetItemToIndexVariable(VariableTracker):
    """``with TransformGetItemToIndex():`` (torch's mode that ``create_mask`` runs the vmapped mask_mod
    under): inside, tensor-indexed getitem is recorded as ``aten.index`` (OutputGraph.getitem_as_index)."""
    models_type = True

    def __init__(self) -> None:
        super().__init__(None)
        self._open: list[Any] = []

    def python_type(self) -> type:
        from ..torch_compat import TransformGetItemToIndex

        return TransformGetItemToIndex

    @pymethod("__enter__")
    def _enter(self, tx: Tx) -> VariableTracker:
        block = tx.graph.getitem_as_index()
        block.__enter__()
        self._open.append(block)
        return self

    @pymethod("__exit__")
    def _exit(self, tx: Tx, *exc_info: VariableTracker) -> VariableTracker:
        self._open.pop().__exit__(None, None, None)
        return tx.wrap_const(False)


def getitem_to_index(tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    if args or kwargs:
        raise Unsupported(breaks.UNSUPPORTED_CALL, "TransformGetItemToIndex() with arguments")
    return GetItemToIndexVariable()


class AnnotateVariable(VariableTracker):
    """``with torch.fx.traceback.annotate({...}):`` (create_block_mask marks its argsort this way): the
    nodes recorded inside carry the dict in ``node.meta["custom"]``, as under torch.compile."""
    models_type = True

    def __init__(self, annotation: dict[str, Any]) -> None:
        super().__init__(None)
        self.annotation = annotation

    def python_type(self) -> type:
        return type(torch.fx.traceback.annotate({}))

    @pymethod("__enter__")
    def _enter(self, tx: Tx) -> VariableTracker:
        tx.graph.custom_meta.append(self.annotation)
        return tx.wrap_const(None)

    @pymethod("__exit__")
    def _exit(self, tx: Tx, *exc_info: VariableTracker) -> VariableTracker:
        tx.graph.custom_meta.pop()
        return tx.wrap_const(False)


def annotate(tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    try:
        (annotation,) = [a.as_constant() for a in args] + [v.as_constant() for v in kwargs.values()]
    except (NotConstant, ValueError):
        raise Unsupported(breaks.UNSUPPORTED_CALL, "torch.fx.traceback.annotate() of a value unknown at trace "
                          "time") from None
    return AnnotateVariable(dict(annotation))
