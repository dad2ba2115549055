"""torch.func transforms (vmap, grad, grad_and_value, jacrev, jacfwd, hessian, jvp) as one node each.

``torch.func.vmap(f, in_dims)`` in traced code makes a ``TransformedFunctionVariable``; calling it
traces ``f`` into a body (``subgraphs.trace_body``), on what ``f`` sees under the transform: for
vmap, each argument without its batch dimension (``in_dims`` broadcast over the arguments as
torch's pytree does); for the others, arguments of the same metadata. The call becomes

    func_transform("vmap", body_gm, {in_dims, out_dims, ...}, out_skeleton, n_args, *args, *lifted)

``func_transform`` (below) runs at graph run time: it applies torch's own transform to the body,
with the lifted values closed over (so they are not transformed, as free variables are not), and
puts the body's flat outputs back into the structure ``f`` returned. Every backend runs it as it is:
``eager`` calls torch.func, AOTAutograd traces through the transform into plain aten ops (so
Inductor compiles them). A transform applied to a transformed function (``vmap(grad(f))``, nested
``vmap``) is a node inside the outer body.

``functional_call`` inside a transformed function is traced like any call (variables/native.py).
What is not covered (``vjp``, whose result is a function holding an autograd graph; ``linearize``;
keyword arguments to the transformed function; symbolic numbers among its arguments) runs natively.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Callable

import torch
import torch.func
from torch.fx.immutable_collections import immutable_dict, immutable_list

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..torch_compat import (broadcast_to_and_flatten, tree_flatten, tree_unflatten, vmap_func_name,
                            vmap_process_batched_inputs)
from .base import NotConstant, Tx, VariableTracker
from .dicts import DictVariable
from .lists import ListVariable, TupleVariable
from .subgraphs import BodyInput, bind_args, install, trace_body


def _vmap(func: Any, in_dims: Any = 0, out_dims: Any = 0, randomness: str = "error", *,
          chunk_size: Any = None) -> None: ...
def _grad(func: Any, argnums: Any = 0, has_aux: bool = False) -> None: ...
def _jacrev(func: Any, argnums: Any = 0, *, has_aux: bool = False, chunk_size: Any = None,
            _preallocate_and_copy: bool = False) -> None: ...
def _jacfwd(func: Any, argnums: Any = 0, has_aux: bool = False, *, randomness: str = "error") -> None: ...
def _hessian(func: Any, argnums: Any = 0) -> None: ...
def _jvp(func: Any, primals: Any, tangents: Any, *, strict: bool = False, has_aux: bool = False) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class TransformSpec:
    signature: Callable[..., None]     # the torch.func function's parameters
    applied: bool                      # jvp(f, primals, tangents): applied at once, not a function maker
    grad_mode: bool | None             # the grad mode the function runs under (None: the caller's)
    node: str                          # (docs)


_NODE = "bytegraph func_transform({!r}, body_gm, options, out_skeleton, n_args, *args, *lifted)"

TRANSFORMS: dict[str, TransformSpec] = {
    "vmap": TransformSpec(_vmap, False, None, _NODE.format("vmap") + ": the body is traced per example"),
    "grad": TransformSpec(_grad, False, True, _NODE.format("grad")),
    "grad_and_value": TransformSpec(_grad, False, True, _NODE.format("grad_and_value")),
    "jacrev": TransformSpec(_jacrev, False, True, _NODE.format("jacrev")),
    "jacfwd": TransformSpec(_jacfwd, False, None, _NODE.format("jacfwd")),
    "hessian": TransformSpec(_hessian, False, True, _NODE.format("hessian")),
    "jvp": TransformSpec(_jvp, True, None, _NODE.format("jvp") + ": applied at once to (primals, tangents)"),
}


def transform_builder(name: str) -> Callable[[Tx, list[VariableTracker], dict[str, VariableTracker]], VariableTracker]:
    spec = TRANSFORMS[name]

    def build(tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        a = bind_args(tx, spec.signature, args, kwargs)
        func = a.pop("func")
        if spec.applied:
            primals, tangents = a.pop("primals"), a.pop("tangents")
            options = _constants(a, name)
            return apply_transform(tx, name, func, options, [primals, tangents], primals.unpack(tx))
        return TransformedFunctionVariable(name, func, _constants(a, name))
    return build


# The functions torch.func's makers return, by (module of their globals, code qualname): a program
# may make them outside the compiled function (``per_sample_grads = vmap(grad(loss))`` at module level).
TRANSFORMED_CODE: dict[tuple[str, str], str] = {
    ("torch._functorch.apis", "vmap.<locals>.wrapped"): "vmap",
    ("torch._functorch.apis", "grad.<locals>.wrapper"): "grad",
    ("torch._functorch.apis", "grad_and_value.<locals>.wrapper"): "grad_and_value",
    ("torch._functorch.eager_transforms", "jacrev.<locals>.wrapper_fn"): "jacrev",
    ("torch._functorch.eager_transforms", "jacfwd.<locals>.wrapper_fn"): "jacfwd",
}
_NOT_OPTIONS = frozenset({"func", "eager_transforms"})     # closure cells that are not the maker's options


def transformed_name(fn: Any) -> str | None:
    """The transform that made ``fn`` (a function torch.func returned), or None."""
    return TRANSFORMED_CODE.get((fn.__globals__.get("__name__"), fn.__code__.co_qualname))


def transformed_function(name: str, cells: dict[str, VariableTracker]) -> VariableTracker:
    """A function torch.func made before the trace, from its closure cells (func and options)."""
    return TransformedFunctionVariable(name, cells["func"], _constants(
        {k: v for k, v in cells.items() if k not in _NOT_OPTIONS}, name))


def _constants(options: dict[str, VariableTracker], name: str) -> dict[str, Any]:
    try:
        return {k: v.as_constant() for k, v in options.items()}
    except NotConstant:
        raise Unsupported(breaks.RUNS_NATIVELY, f"torch.func.{name} with options unknown at trace time") from None


class TransformedFunctionVariable(VariableTracker):
    """``torch.func.<name>(func, **options)``: calling it is one graph node."""

    def __init__(self, name: str, func: VariableTracker, options: dict[str, Any]) -> None:
        super().__init__(None)
        self.name = name
        self.func = func
        self.options = options

    def python_type(self) -> type:
        return type(lambda: None)

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if kwargs:
            raise Unsupported(breaks.RUNS_NATIVELY, f"a function transformed by torch.func.{self.name} called "
                              f"with keyword arguments")
        return apply_transform(tx, self.name, self.func, self.options, list(args), list(args))

    def reconstruct(self, cg: Any) -> None:
        """An escaping transformed function is made again at run time: ``torch.func.<name>(func, **options)``."""
        cg.push_callable(getattr(torch.func, self.name))
        cg.reconstruct(self.func)
        for value in self.options.values():
            cg.load_const(value)
        cg.call_kw(1 + len(self.options), tuple(self.options))

    def describe(self) -> str:
        return f"torch.func.{self.name}({self.func.describe()})"


def apply_transform(tx: Tx, name: str, func: VariableTracker, options: dict[str, Any],
                    node_args: list[VariableTracker], fn_args: list[VariableTracker]) -> VariableTracker:
    """Trace ``func(*fn_args)`` as the transform runs it, and record the transform's node over
    ``node_args`` (what the transformed function, or jvp, is called with)."""
    for vt in fn_args:
        _check_arg(tx, vt, name)
    shown = func_name(tx, func)         # what torch.func's errors call the function
    body_args = _per_example(tx, shown, options.get("in_dims", 0), fn_args) if name == "vmap" else fn_args
    body = trace_body(tx, func, body_args, {}, what=f"the function transformed by torch.func.{name}",
                      name=f"{name}_body", grad_enabled=TRANSFORMS[name].grad_mode)
    leaves, _ = tree_flatten(body.skeleton)
    if len(leaves) != len(body.leaves) or not all(vt.is_tensor for vt in body.leaves):
        raise Unsupported(breaks.HOP_BODY, f"the function transformed by torch.func.{name} must return tensors "
                          f"(in tuples, lists or dicts); it returns {body.skeleton!r}")
    gm = body.module(tuple(body.output_nodes(clone_aliases=False)))
    gm.meta[FUNC_NAME] = shown                    # (for its run-time errors: func_transform)
    const = tx.wrap_const
    return tx.graph.call_function(func_transform, [
        const(name), install(tx, f"{name}_body", gm), const(options), const(body.skeleton), const(len(node_args)),
        *[_node_arg(vt) for vt in node_args], *body.lifted_args()], {})


def _node_arg(vt: VariableTracker) -> Any:
    """An argument of the transformed function as an fx argument (dicts of tensors included)."""
    vt = vt.realize()
    if isinstance(vt, DictVariable) and vt.py_type is dict:
        return {k: _node_arg(vt.value(k)) for k in vt.keys()}
    if isinstance(vt, TupleVariable) and vt.py_type is tuple or type(vt) is ListVariable:
        return vt.py_type(_node_arg(i) for i in vt.realized())
    return vt


def _check_arg(tx: Tx, vt: VariableTracker, name: str) -> None:
    vt = vt.realize()
    if vt.is_symbolic:
        raise Unsupported(breaks.RUNS_NATIVELY, f"torch.func.{name} of a symbolic number ({vt.describe()})")
    if isinstance(vt, (TupleVariable, ListVariable)):
        for item in vt.realized():
            _check_arg(tx, item, name)
    elif isinstance(vt, DictVariable):
        for k in vt.keys():
            _check_arg(tx, vt.value(k), name)


class _Tensor:
    """A tensor's place in the arguments' pytree (broadcasting ``in_dims`` over it)."""

    def __init__(self, vt: VariableTracker) -> None:
        self.vt = vt


def _skeleton(vt: VariableTracker) -> Any:
    vt = vt.realize()
    if vt.is_tensor:
        return _Tensor(vt)
    if isinstance(vt, TupleVariable) and vt.py_type is tuple or type(vt) is ListVariable:
        return vt.py_type(_skeleton(i) for i in vt.realized())
    if isinstance(vt, DictVariable) and vt.py_type is dict:
        return {k: _skeleton(vt.value(k)) for k in vt.keys()}
    return vt


def func_name(tx: Tx, func: VariableTracker) -> str:
    """The function's name as torch.func's errors print it (``vmap(f, ...)``): a real function's
    as torch names it; one made by the trace, its ``__name__`` as the trace sees it."""
    try:
        return vmap_func_name(func.as_constant())
    except NotConstant:
        pass
    try:
        return func.var_getattr(tx, "__name__").as_constant()
    except Exception:   # noqa: BLE001 - no name to read: how bytegraph names it
        return func.describe()


def _leaf_value(leaf: Any) -> Any:
    """A leaf of the arguments' skeleton as vmap's checks read it: a tensor's fake, a constant, or
    the tracker itself (vmap reads only whether it is a tensor)."""
    if isinstance(leaf, _Tensor):
        return leaf.vt.fake
    try:
        return leaf.as_constant()
    except NotConstant:
        return leaf


def _per_example(tx: Tx, shown: str, in_dims: Any, args: list[VariableTracker]) -> list[VariableTracker]:
    """What vmap's function sees: each batched tensor without its batch dimension. First vmap's
    own checks of the inputs against ``in_dims`` (an in_dim out of a tensor's range, a non-tensor
    mapped, batch sizes that differ, nothing to map over), on the fake tensors: eager's error,
    naming the function ``shown`` as eager names it."""
    skeleton = tuple(_skeleton(a) for a in args)
    leaves, spec = tree_flatten(skeleton)
    try:
        vmap_process_batched_inputs(in_dims, tree_unflatten([_leaf_value(leaf) for leaf in leaves], spec),
                                    types.SimpleNamespace(__name__=shown))
    except ValueError as e:
        raise UserCodeError(e) from None
    dims = broadcast_to_and_flatten(in_dims, spec)
    sliced: dict[int, VariableTracker] = {}
    for leaf, dim in zip(leaves, dims):
        if isinstance(leaf, _Tensor) and dim is not None:
            fake = leaf.vt.fake
            shape = [s for i, s in enumerate(fake.shape) if i != dim % max(fake.dim(), 1)]
            with tx.graph.fake_mode:
                t = torch.empty(shape, dtype=fake.dtype, device=fake.device)
            sliced[id(leaf)] = BodyInput(t.requires_grad_(fake.requires_grad) if fake.requires_grad else t)

    def rebuild(node: Any) -> VariableTracker:
        if isinstance(node, _Tensor):
            return sliced.get(id(node), node.vt)
        if isinstance(node, (tuple, list)):
            items = [rebuild(i) for i in node]
            return TupleVariable(items) if isinstance(node, tuple) else ListVariable(items)
        if isinstance(node, dict):
            return DictVariable({k: rebuild(v) for k, v in node.items()})
        return node
    return [rebuild(s) for s in skeleton]


# -- run time ----------------------------------------------------------------------------------

FUNC_NAME = "bytegraph_func_name"        # body_gm.meta key: the transformed function's name

# fx hands node arguments over as its immutable containers (an fx.Interpreter, AOTAutograd)
_LISTS = (tuple, list, immutable_list)
_DICTS = (dict, immutable_dict)


def _tensor_leaves(value: Any) -> list[torch.Tensor]:
    """The tensors ``subgraphs._as_inputs`` made placeholders of, in the same order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if type(value) in _LISTS:
        return [t for v in value for t in _tensor_leaves(v)]
    if type(value) in _DICTS:
        return [t for v in value.values() for t in _tensor_leaves(v)]
    return []


def _fill(skeleton: Any, flat: Any) -> Any:
    if isinstance(skeleton, tuple) and hasattr(skeleton, "_fields"):
        return type(skeleton)(*(_fill(s, flat) for s in skeleton))
    if isinstance(skeleton, (tuple, list)):
        return (tuple if isinstance(skeleton, tuple) else list)(_fill(s, flat) for s in skeleton)
    if isinstance(skeleton, dict):      # (an immutable_dict once fx has it: a dict again for the transform)
        return {k: _fill(v, flat) for k, v in skeleton.items()}
    return next(flat) if skeleton == 0 and skeleton is not False else skeleton


def func_transform(name: str, body: Callable[..., Any], options: dict[str, Any], skeleton: Any, n_args: int,
                   *args: Any) -> Any:
    """Graph node target: ``torch.func.<name>`` applied to a traced body, the lifted values
    (``args[n_args:]``) closed over."""
    user, lifted = args[:n_args], args[n_args:]

    def fn(*a: Any) -> Any:
        return _fill(skeleton, iter(body(*_tensor_leaves(a), *lifted)))
    fn.__name__ = getattr(body, "meta", {}).get(FUNC_NAME, fn.__name__)

    transform = getattr(torch.func, name)
    if TRANSFORMS[name].applied:
        return transform(fn, *user, **dict(options))
    return transform(fn, **dict(options))(*user)

