"""Control-flow and wrapper higher-order ops: ``torch.cond``, ``torch.while_loop``, ``checkpoint``.

Each builder takes the call's trackers, traces the functions it was given into bodies
(``subgraphs.trace_body``) and records one node of torch's own higher-order op, in the form
torch.compile gives backends:

* ``torch.cond(pred, true_fn, false_fn, operands)`` -> ``cond(pred, true_gm, false_gm, (*operands, *lifted))``;
  a constant ``pred`` runs its branch, as eager does;
* ``while_loop(cond_fn, body_fn, carried)`` -> ``while_loop(cond_gm, body_gm, carried, lifted)``;
* ``checkpoint(fn, *args, use_reentrant=False, **kwargs)`` -> ``tag_activation_checkpoint(gm, *tensors, *lifted)``:
  AOTAutograd marks the body's ops for recomputation, so the backward recomputes them (the
  ``eager`` backend runs torch's non-reentrant checkpoint itself).

The bodies of one op share their lifted values (``union_lifted``). Anything a body cannot be
(see subgraphs.py) is a GB021 break, and the call runs natively.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from .base import NotConstant, Tx, VariableTracker
from .lists import TupleVariable
from .subgraphs import bind_args, install, leaf_trackers, trace_body, union_lifted


def _cond_signature(pred: Any, true_fn: Any, false_fn: Any, operands: Any = ()) -> None: ...


def _operands(tx: Tx, vt: VariableTracker, what: str) -> list[VariableTracker]:
    if vt.python_type() not in (tuple, list):
        raise Unsupported(breaks.HOP_BODY, f"the operands of {what} are {vt.describe()}, not a tuple or list")
    return vt.unpack(tx)


def _all_tensors(body: Any) -> None:
    if not all(vt.is_tensor for vt in body.leaves) or not body.leaves:
        raise Unsupported(breaks.HOP_BODY, f"{body.what} must return tensors only (it returns {body.skeleton!r} "
                          f"with {len(body.leaves)} tensors)")


def build_cond(tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    a = bind_args(tx, _cond_signature, args, kwargs)
    pred = a["pred"]
    operands = _operands(tx, a["operands"], "torch.cond")
    if pred.is_constant():                            # (never specializes a symbolic predicate)
        taken = a["true_fn"] if pred.as_constant() else a["false_fn"]
        return tx.call(taken, operands, {})          # a Python bool: the branch runs (eager does the same)
    if not (pred.is_tensor or pred.is_symbolic):
        raise Unsupported(breaks.HOP_BODY, f"torch.cond with a predicate that is {pred.describe()}")
    true = trace_body(tx, a["true_fn"], operands, {}, what="the true branch of torch.cond", name="cond_true")
    false = trace_body(tx, a["false_fn"], operands, {}, what="the false branch of torch.cond", name="cond_false")
    _all_tensors(true)
    _all_tensors(false)
    if true.skeleton != false.skeleton:
        raise Unsupported(breaks.HOP_BODY, f"the branches of torch.cond return different structures "
                          f"({true.skeleton!r} and {false.skeleton!r})")
    union_lifted(true, false)
    true_gm = true.module(tuple(true.output_nodes()))
    false_gm = false.module(tuple(false.output_nodes()))
    from ..torch_compat import cond_op

    out = tx.graph.call_function(cond_op, [pred, install(tx, "cond_true", true_gm), install(tx, "cond_false", false_gm),
                                           TupleVariable([*true.inputs, *true.lifted_args()])], {})
    return true.rebuild(leaf_trackers(tx.graph, out, len(true.leaves)))


def _while_loop_signature(cond_fn: Any, body_fn: Any, carried_inputs: Any) -> None: ...


def build_while_loop(tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    a = bind_args(tx, _while_loop_signature, args, kwargs)
    carried = _operands(tx, a["carried_inputs"], "torch.while_loop")
    cond = trace_body(tx, a["cond_fn"], carried, {}, what="the cond_fn of torch.while_loop", name="while_loop_cond")
    body = trace_body(tx, a["body_fn"], carried, {}, what="the body_fn of torch.while_loop", name="while_loop_body")
    if len(cond.leaves) != 1 or not cond.leaves[0].is_tensor or cond.skeleton != 0:
        raise Unsupported(breaks.HOP_BODY, f"the cond_fn of torch.while_loop must return one boolean tensor "
                          f"(it returns {cond.skeleton!r})")
    _all_tensors(body)
    if len(body.leaves) != len(body.inputs) or not all(i.is_tensor for i in body.inputs):
        raise Unsupported(breaks.HOP_BODY, f"the body_fn of torch.while_loop must return as many tensors as it is "
                          f"given ({len(body.leaves)} for {len(body.inputs)} carried values)")
    union_lifted(cond, body)
    cond_gm = cond.module(cond.output_nodes(clone_aliases=False)[0])
    body_gm = body.module(tuple(body.output_nodes()))
    from ..torch_compat import while_loop_op

    out = tx.graph.call_function(while_loop_op, [install(tx, "while_loop_cond", cond_gm),
                                                 install(tx, "while_loop_body", body_gm),
                                                 TupleVariable(list(body.inputs)),
                                                 TupleVariable(body.lifted_args())], {})
    return body.rebuild(leaf_trackers(tx.graph, out, len(body.leaves)))


# checkpoint()'s own keyword arguments; the others go to the checkpointed function
_CHECKPOINT_KWARGS = frozenset({"use_reentrant", "context_fn", "determinism_check", "debug", "early_stop",
                                "preserve_rng_state"})


def build_checkpoint(tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    from torch.utils.checkpoint import noop_context_fn

    if not args:
        raise Unsupported(breaks.RUNS_NATIVELY, "torch.utils.checkpoint.checkpoint() without a function")
    fn, fn_args = args[0], args[1:]
    options = {k: v for k, v in kwargs.items() if k in _CHECKPOINT_KWARGS}
    fn_kwargs = {k: v for k, v in kwargs.items() if k not in _CHECKPOINT_KWARGS}
    try:
        constants = {k: v.as_constant() for k, v in options.items()}
    except NotConstant:
        raise Unsupported(breaks.RUNS_NATIVELY, "checkpoint() with options unknown at trace time") from None
    if constants.get("context_fn", noop_context_fn) is not noop_context_fn:
        raise Unsupported(breaks.RUNS_NATIVELY, "checkpoint() with a context_fn (selective checkpointing)")
    if constants.get("use_reentrant") is not False and (fn_kwargs or not _some_input_requires_grad(tx, fn_args)):
        # reentrant checkpointing gives no gradients at all when no input requires grad, and refuses keyword
        # arguments: not what the op does
        raise Unsupported(breaks.RUNS_NATIVELY, "reentrant checkpoint() (use_reentrant=True or unset) with keyword "
                          "arguments or of inputs that do not require grad")
    body = trace_body(tx, fn, fn_args, fn_kwargs, what="the function given to torch.utils.checkpoint",
                      name="checkpoint_body")
    gm = body.module(tuple(body.output_nodes()))
    from ..torch_compat import tag_activation_checkpoint

    node_kwargs = {k: tx.wrap_const(v) for k, v in constants.items() if k != "context_fn"}
    node_kwargs["use_reentrant"] = tx.wrap_const(False)
    out = tx.graph.call_function(tag_activation_checkpoint, [install(tx, "checkpoint_body", gm), *body.inputs,
                                                             *body.lifted_args()], node_kwargs)
    return body.rebuild(leaf_trackers(tx.graph, out, len(body.leaves)))


def _some_input_requires_grad(tx: Tx, args: list[VariableTracker]) -> bool:
    def walk(vt: VariableTracker) -> bool:
        vt = vt.realize()
        if vt.is_tensor:
            return bool(vt.fake.requires_grad)
        if isinstance(vt, TupleVariable) or vt.python_type() is list:
            return any(walk(i) for i in vt.unpack(tx))
        return False
    return tx.graph.grad_enabled and any(walk(a) for a in args)


def run_checkpoint_eagerly(gm: Any, *args: Any, **kwargs: Any) -> Any:
    """How a graph run as Python (the ``eager`` backend) runs a checkpoint node: torch's own
    non-reentrant ``checkpoint``, which saves and restores the RNG state, so a recomputed dropout
    draws the forward's mask. (torch's op turns RNG preservation off and leaves it to Inductor's
    RNG functionalization; run eagerly, it recomputes with new random numbers.)"""
    from torch.utils.checkpoint import checkpoint

    return checkpoint(gm, *args, use_reentrant=False)


def eager_targets() -> dict[Any, Any]:
    """Op -> what a graph run as Python calls instead (backends/registry.py ``runnable_as_python``)."""
    from ..torch_compat import tag_activation_checkpoint

    return {tag_activation_checkpoint: run_checkpoint_eagerly}
