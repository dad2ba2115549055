"""Compile a GuardSet into one generated Python function with the user function's signature.

The hit path of the cache is ``entry.check(*args, **kwargs)``: CPython binds the call
itself (defaults, keywords, ``*args``), and the body is straight-line Python:

    def ___guard(self, x):
        try:
            if not ___global_state(): return False
            if not type(self) is ___type0: return False
            ___t0 = self._modules['fc']                  # a base shared by several guards, read once
            if not type(___t0) is ___type1: return False
            return ___tensors(x, ___t0._parameters['weight'])   # all TENSOR_MATCHes in one C call
        except Exception:
            return False

Order: global state, then guards by source depth (shallow, cheap structure checks
first), then aliasing, then every TENSOR_MATCH batched into one call of torch's C++
``TensorGuards`` (about 0.1 µs per tensor; the same checks written in Python cost ~1 µs).
An exception while reading a source (an attribute that vanished) means "does not match".

``CompiledGuards.failure(frame_locals)`` re-checks guard by guard, off the hot path, and
says which one failed, with the expected and the actual value.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
from typing import Any, Callable

import torch

from ..config import config
from ..sources import Source, contextvar_value, guard_locals, ndarray_as_tensor
from ..torch_compat import TensorGuards, dict_version
from . import fastpath, snapshot
from .emit import Emitter, Namespace as _Namespace, signature_source
from .fastpath import referenced as _referenced
from .guard import Guard, GuardKind, GuardSet, payload_text, storages_disjoint

_K = GuardKind


def _equals_expr(e: str, v: Any, ns: _Namespace) -> str:
    """``type(x) is T and x == v``, reading ``x`` once (a walrus temp when it is an expression)."""
    t = type(v)
    if v is None or t is bool:
        return f"{e} is {v!r}"
    if isinstance(v, torch.dtype):
        return f"{e} is {ns.name(v, 'dtype')}"
    if t is frozenset:      # the contents of a set; its type has its own TYPE_MATCH
        return f"{e} == {ns.name(v, 'const')}"
    first, again = (e, e) if e.isidentifier() else (f"(___v := {e})", "___v")
    if t is float and math.isnan(v):
        return f"type({first}) is float and {again} != {again}"
    if t is float and v == 0.0:             # 0.0 == -0.0, but 1 / x tells them apart
        sign = ns.name(math.copysign, "copysign")
        return f"type({first}) is float and {again} == 0.0 and {sign}(1.0, {again}) == {math.copysign(1.0, v)!r}"
    if t in (int, str, bytes) or (t is float and not math.isinf(v)):
        return f"type({first}) is {t.__name__} and {again} == {v!r}"
    return f"type({first}) is {ns.name(t, 'type')} and {again} == {ns.name(v, 'const')}"


def _key_expr(key: Any, ns: _Namespace) -> str:
    return repr(key) if type(key) in (int, str, bytes, bool, type(None)) else ns.name(key, "key")


def _aliasing_expr(exprs: list[str]) -> str:
    if len(exprs) == 2:
        return f"{exprs[0]} is not {exprs[1]}"
    return f"len({{{', '.join(f'id({e})' for e in exprs)}}}) == {len(exprs)}"


def _tuple_expr(exprs: list[str]) -> str:
    return f"({', '.join(exprs)},)" if exprs else "()"


# kind -> (guard, expression of its source, other-source expression fn, namespace) -> Python condition
_CHECKS: dict[GuardKind, Callable[[Guard, str, Callable[[Source], str], _Namespace], str]] = {
    _K.TYPE_MATCH: lambda g, e, x, ns: f"type({e}) is {ns.name(g.payload, 'type')}",
    _K.ID_MATCH: lambda g, e, x, ns: f"id({e}) == {g.payload.id}",
    _K.CLOSURE_MATCH: lambda g, e, x, ns: f"{e}.__code__ is {ns.name(g.payload, 'code')}",
    _K.EQUALS_MATCH: lambda g, e, x, ns: _equals_expr(e, g.payload, ns),
    _K.SEQUENCE_LENGTH: lambda g, e, x, ns: f"len({e}) == {g.payload}",
    _K.DICT_KEYS: lambda g, e, x, ns: (f"not {e}" if not g.payload
                                      else f"list({e}) == {ns.name(list(g.payload), 'keys')}"),
    _K.DICT_VERSION: lambda g, e, x, ns: f"{ns.name(dict_version, 'dict_version')}({e}) == {g.payload}",
    _K.HASATTR: lambda g, e, x, ns: f"hasattr({e}, {g.payload!r})",
    _K.NOT_HASATTR: lambda g, e, x, ns: f"not hasattr({e}, {g.payload!r})",
    _K.NO_GENERIC_ATTR: lambda g, e, x, ns: f"{ns.name(no_generic_attr, 'no_generic_attr')}({e}, {g.payload!r})",
    _K.CELL_EMPTY: lambda g, e, x, ns: f"{ns.name(cell_is_empty, 'cell_is_empty')}({e})",
    _K.DICT_CONTAINS: lambda g, e, x, ns: f"{_key_expr(g.payload, ns)} in {e}",
    _K.DICT_NOT_CONTAINS: lambda g, e, x, ns: f"{_key_expr(g.payload, ns)} not in {e}",
    _K.DICT_CONTAINS_OBJECT: lambda g, e, x, ns: f"{x(g.payload)} in {e}",
    _K.DICT_NOT_CONTAINS_OBJECT: lambda g, e, x, ns: f"{x(g.payload)} not in {e}",
    _K.DUPLICATE_INPUT: lambda g, e, x, ns: f"{e} is {x(g.payload)}",
    _K.NO_TENSOR_ALIASING: lambda g, e, x, ns: _aliasing_expr([x(s) for s in g.payload]),
    _K.DISTINCT_OBJECTS: lambda g, e, x, ns: _aliasing_expr([x(s) for s in g.payload]),
    _K.NO_STORAGE_OVERLAP: lambda g, e, x, ns: (f"{ns.name(storages_disjoint, 'storages_disjoint')}("
                                                f"{_tuple_expr([x(s) for s in g.payload.written])}, "
                                                f"{_tuple_expr([x(s) for s in g.payload.others])})"),
    _K.GLOBAL_STATE: lambda g, e, x, ns: f"{ns.name(g.payload.guard.check, 'global_state')}()",
    _K.SHAPE_ENV: lambda g, e, x, ns: " and ".join(f"({c})" for c in g.payload.code),
    _K.NO_MODULE_HOOKS: lambda g, e, x, ns: (f"not ({e}._forward_hooks or {e}._forward_pre_hooks or {e}._backward_hooks "
                                             f"or {e}._backward_pre_hooks) and '_compiled_call_impl' not in "
                                             f"(___d := {e}.__dict__)"
                                             f" and 'forward' not in ___d"),
    _K.NO_GLOBAL_MODULE_HOOKS: lambda g, e, x, ns: "not (" + " or ".join(
        ns.name(d, "module_hooks") for d in _global_module_hook_dicts()) + ")",
}


def no_generic_attr(obj: Any, name: str) -> bool:
    """``object.__getattribute__(obj, name)`` would find nothing: ``name`` is in neither the
    instance dict nor a class of the MRO (a class attribute that is a descriptor counts as found:
    the guard fails, and the call recompiles)."""
    try:
        d = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        d = {}
    return name not in d and all(name not in vars(c) for c in type(obj).__mro__)


def cell_is_empty(cell: Any) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return True
    return False


def _global_module_hook_dicts() -> list[dict]:
    from torch.nn.modules import module as m

    return [m._global_forward_hooks, m._global_forward_pre_hooks, m._global_backward_hooks,
            m._global_backward_pre_hooks]

# kind -> what the failing value actually was, for failure reasons
_ACTUAL: dict[GuardKind, Callable[[Any], str]] = {
    _K.TYPE_MATCH: lambda v: f"type {type(v).__qualname__}",
    _K.ID_MATCH: lambda v: f"another object ({type(v).__name__})",
    _K.CLOSURE_MATCH: lambda v: f"code {getattr(getattr(v, '__code__', None), 'co_qualname', '?')}",
    _K.SEQUENCE_LENGTH: lambda v: f"length {len(v)}",
    _K.DICT_KEYS: lambda v: f"keys {list(v)!r}",
    _K.NO_MODULE_HOOKS: lambda v: "hooks registered (or the module was compiled with Module.compile())",
    _K.DICT_CONTAINS: lambda v: "a mapping without that key",
    _K.DICT_NOT_CONTAINS: lambda v: "a mapping with that key",
    _K.HASATTR: lambda v: "no such attribute",
    _K.NOT_HASATTR: lambda v: "an attribute of that name",
    _K.NO_GENERIC_ATTR: lambda v: "an attribute of that name (in its __dict__ or on its class)",
}


def _order(g: Guard) -> tuple[int, int]:
    rank = {_K.GLOBAL_STATE: 0, _K.NO_GLOBAL_MODULE_HOOKS: 0, _K.DUPLICATE_INPUT: 2,
            _K.NO_TENSOR_ALIASING: 2, _K.NO_STORAGE_OVERLAP: 2, _K.DISTINCT_OBJECTS: 2, _K.SHAPE_ENV: 3}.get(g.kind, 1)
    return rank, len(g.source.chain()) if g.source is not None else 0




@dataclasses.dataclass
class CompiledGuards:
    check: Callable[..., bool]
    source_code: str
    guards: list[Guard]
    namespace: dict[str, Any]
    _conditions: list[tuple[Guard, str]]
    _tensor_guards: list[Guard]
    fast: fastpath.FastPath | None = None     # set when a state snapshot checks the long-lived state in bulk

    @property
    def stable(self) -> int:
        """How many guards the snapshot checks in bulk (0 without one)."""
        return len(self.fast.plan.stable) if self.fast is not None else 0

    def failure(self, frame_locals: dict[str, Any]) -> str | None:
        """The first guard that fails for these frame locals, as 'source: expected ..., got ...'."""
        frame_locals = guard_locals(frame_locals)
        for g, cond in self._conditions:
            try:
                ok = eval(cond, self.namespace, frame_locals)
            except Exception as e:   # noqa: BLE001 - a source that cannot be read fails its guard
                return f"{_who(g)}: could not be read ({type(e).__name__}: {e})"
            if not ok:
                return _explain(g, self.namespace, frame_locals)
        if self._tensor_guards:
            found = _tensor_failure(self._tensor_guards, self.namespace, frame_locals)
            if found is not None:
                return found
        if self.fast is not None and self.fast.snapshot.refused:
            return self.fast.snapshot.refused
        if self._tensor_guards:
            return "a tensor's dispatch keys (e.g. inference mode, conj/neg bits) differ from capture"
        return None


def _global_state_change(captured: Any) -> str:
    """Which of torch's global flags differ from capture; grad mode and the default dtype with
    both values, the others (autocast, deterministic algorithms...) by torch's own names."""
    changes = []
    if torch.is_grad_enabled() != captured.grad_enabled:
        changes.append(f"grad mode: expected {_on_off(captured.grad_enabled)}, got {_on_off(torch.is_grad_enabled())}")
    if torch.get_default_dtype() != captured.default_dtype:
        changes.append(f"default dtype: expected {captured.default_dtype}, got {torch.get_default_dtype()}")
    changes += [f"{flag} differs" for flag in (captured.guard.reason() or "").split()
                if flag not in ("grad_mode", "default_dtype")]
    return "; ".join(changes) or "flags differ from capture"


def _on_off(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


def _who(g: Guard) -> str:
    return g.source.name() if g.source is not None else "global state"


def _explain(g: Guard, ns: dict[str, Any], frame_locals: dict[str, Any]) -> str:
    why = f" (guard from {g.reason})" if g.reason else ""
    if g.kind is _K.GLOBAL_STATE:
        return f"global state changed: {_global_state_change(g.payload)}{why}"
    if g.kind is _K.NO_GLOBAL_MODULE_HOOKS:
        return f"a global nn.Module hook was registered (guard from {g.reason})"
    if g.kind is _K.SHAPE_ENV:
        failed = [shown for code, shown in zip(g.payload.code, g.payload.shown) if not eval(code, ns, frame_locals)]
        return f"symbolic shape guard failed: {' and '.join(failed) or str(g.payload)}"
    if g.kind in (_K.DUPLICATE_INPUT, _K.NO_TENSOR_ALIASING, _K.NO_STORAGE_OVERLAP, _K.DISTINCT_OBJECTS):
        return f"{g.kind.value}: aliasing between inputs changed ({payload_text(g)}){why}"
    value = eval(g.source.guard_expr(), ns, frame_locals)
    actual = _ACTUAL.get(g.kind, repr)(value)
    return f"{g.source.name()}: expected {g.kind.value} {payload_text(g)}, got {actual}{why}"


def _tensor_failure(tensor_guards: list[Guard], ns: dict[str, Any], frame_locals: dict[str, Any]) -> str | None:
    for g in tensor_guards:
        try:
            value = eval(g.source.guard_expr(), ns, frame_locals)
        except Exception as e:   # noqa: BLE001
            return f"{g.source.name()}: could not be read ({type(e).__name__}: {e})"
        if not isinstance(value, torch.Tensor):
            return f"{g.source.name()}: expected a tensor, got {type(value).__qualname__}"
        spec = g.payload
        for field in ("type", "dtype", "device", "requires_grad", "size", "stride"):
            want = getattr(spec, field)
            got = {"type": type(value), "size": tuple(value.size()), "stride": tuple(value.stride())}.get(
                field, getattr(value, field, None))
            if field in ("size", "stride") and len(got) == len(want):
                got = tuple(None if w is None else v for v, w in zip(got, want))
            if got != want:
                name = want.__qualname__ if field == "type" else want
                got = got.__qualname__ if field == "type" else got
                return f"{g.source.name()}: {field} mismatch: expected {name}, got {got} (guard from {g.reason})"
    return None


def _full_function(ordered: list[Guard], ns: _Namespace, code: types.CodeType, full_tensors: str | None,
                   filename: str) -> tuple[Callable[..., bool], str]:
    """Every guard, each read through its source, cheapest and most discriminating first."""
    tensors = [g for g in ordered if g.kind is _K.TENSOR_MATCH]
    others = [g for g in ordered if g.kind is not _K.TENSOR_MATCH]
    em = Emitter(ns)
    em.share([_referenced(g) for g in others] + [[g.source] for g in tensors])
    for g in others:
        em.materialize(_referenced(g))
        em.check(_CHECKS[g.kind](g, em.expr(g.source) if g.source is not None else "", em.expr, ns))
    last = "return True"
    if tensors:
        em.materialize([g.source for g in tensors])
        last = f"return {full_tensors}({', '.join(em.expr(g.source) for g in tensors)})"
    return em.function("___guard", signature_source(code), last, filename, ns.values)


def compile_guards(
    guards: GuardSet,
    code: types.CodeType,
    *,
    fn_globals: dict[str, Any],
    cells: dict[str, Any],
    function: Any,
    defaults: tuple | None,
    kwdefaults: dict | None,
    frame_locals: dict[str, Any],
    graph_inputs: list[Source] = (),
) -> CompiledGuards:
    """Generate the check function. ``frame_locals`` (this call's arguments by name) are read
    to build the C++ tensor checks and to decide what a state snapshot watches (snapshot.py);
    ``graph_inputs`` are the sources the transformed code passes to the graph, so watched ones
    can come from the snapshot. Nothing read is kept."""
    frame_locals = guard_locals(frame_locals)
    ns = _Namespace({"___G": fn_globals, "___modules": sys.modules, "___fn": function, "math": math, "torch": torch,
                     "___from_numpy": ndarray_as_tensor, "___cv_get": contextvar_value,
                     **{f"___cell_{n}": c for n, c in cells.items()}, **guards.held})
    ordered = sorted(guards, key=_order)
    tensors = [g for g in ordered if g.kind is _K.TENSOR_MATCH]
    others = [g for g in ordered if g.kind is not _K.TENSOR_MATCH]
    filename = f"<bytegraph guards for {code.co_qualname}>"

    def tensor_check(group: list[Guard]) -> str:
        examples = [eval(g.source.guard_expr(), ns.values, frame_locals) for g in group]
        sizes = [list(g.payload.size) for g in group]          # None: symbolic, left to SHAPE_ENV
        strides = [list(g.payload.stride) for g in group]
        return ns.name(TensorGuards(*examples, dynamic_dims_sizes=sizes, dynamic_dims_strides=strides).check, "tensors")

    conditions = [(g, _CHECKS[g.kind](g, g.source.guard_expr() if g.source else "", lambda s: s.guard_expr(), ns))
                  for g in others]
    full_tensors = tensor_check(tensors) if tensors else None
    fast = None
    watch = snapshot.plan(ordered, snapshot.Values(frame_locals, fn_globals, cells), config.snapshot_min_guards,
                          list(graph_inputs), hook_count=config.assume_hooks_registered_via_api,
                          trust_tensors=config.assume_static_tensor_metadata)
    if watch is not None:
        fast = fastpath.build(ordered, lambda g: _order(g)[0], watch, ns, code, _CHECKS, tensor_check, full_tensors,
                              list(graph_inputs), filename)
        fn, src = fast.check, fast.source_code
    else:
        fn, src = _full_function(ordered, ns, code, full_tensors, filename)
    fn.__name__, fn.__qualname__ = code.co_name, code.co_qualname   # a bad call raises f()'s own TypeError
    fn.__defaults__ = defaults
    fn.__kwdefaults__ = kwdefaults
    return CompiledGuards(fn, src, ordered, ns.values, conditions, tensors, fast)
