"""The generated functions of an entry whose guards use a state snapshot (``snapshot.py``).

    def ___guard(module, *args, **kwargs):             # entry.check
        try:
            if not (___global_state0()): return False
            if not (len(args) == 0): return False     # guards on what varies: checked as before
            if not ___tensors_in(kwargs['input_ids']): return False
            ___s = ___holder.state                        # the snapshot: one bulk check in C
            if not (module is ___s[0][0]() and type(module) is ___type0 and ___s[3]()   # dict tags, f.__code__...,
                    and not any(___s[4])):                                         # objects' types; hooks
                if not ___rearm(module, *args, **kwargs): return False    # full guards, new snapshot
                ___s = ___holder.state
            ___V = ___s[5]                             # values the snapshot keeps
            if not (___type3.forward.__code__ is ___code0): return False  # class-level, once per class
            if not (___V[0].__code__ is ___code1): return False           # a function from a watched dict
            return ___s[8]()                           # parameters: metadata still checked every call
        except Exception:
            return False

``___s[3]`` and ``___s[8]`` (the kept tensors' TENSOR_MATCH) are ``map`` and the capture's
``TensorGuards`` at first and torch's C++ guard manager once the snapshot has held
``snapshot.UPGRADE_AFTER`` times (``snapshot._Upgrading``).

With ``config.assume_hooks_registered_via_api`` the hook dicts' check is
``___RemovableHandle.next_id == ___s[4]``; with ``config.assume_static_tensor_metadata`` the
final ``___s[8]()`` is left out (DESIGN.md decision 61).

``___rearm`` is the full guard function (every guard, read through its source) that, when all
pass, takes the snapshot again. ``___values(module)`` gives the transformed code the values it
passes to the graph (parameters and buffers) without walking their source chains: the current
snapshot's when it was taken from this very model, else read through their sources
(``___collect``), so a thread that just rearmed for another model cannot hand over its values.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Callable

from torch.utils.hooks import RemovableHandle

from ..sources import DerivedSource, Source
from .emit import Emitter, Namespace, call_source, signature_source
from .guard import Guard, GuardKind
from .snapshot import KeptTensors, Plan, Snapshot, class_dict

_K = GuardKind
Check = Callable[[Guard, str, Callable[[Source], str], Namespace], str]
LATE_RANK = 2          # aliasing and shape guards: after the snapshot (they may read watched values)


@dataclasses.dataclass
class FastPath:
    check: Callable[..., bool]
    source_code: str
    snapshot: Snapshot
    plan: Plan
    kept_inputs: list[int]                 # positions of the graph inputs the snapshot keeps
    anchors: list[Source]
    values: Callable[..., list]            # ___values(*anchors): the graph's arguments, kept ones filled in


def referenced(g: Guard) -> list[Source]:
    out = [g.source] if g.source is not None else []
    if g.kind in (_K.DUPLICATE_INPUT, _K.DICT_CONTAINS_OBJECT, _K.DICT_NOT_CONTAINS_OBJECT):
        out.append(g.payload)
    elif g.kind in (_K.NO_TENSOR_ALIASING, _K.DISTINCT_OBJECTS, _K.NO_STORAGE_OVERLAP):
        out.extend(g.payload)
    return out


def build(ordered: list[Guard], rank: Callable[[Guard], int], p: Plan, ns: Namespace, code: types.CodeType,
          checks: dict[GuardKind, Check], tensor_check: Callable[[list[Guard]], str], full_tensors: str | None,
          graph_inputs: list[Source], filename: str) -> FastPath:
    """The fast guard, its rearm, and the values function, for guards ``ordered`` as the full
    function checks them. ``tensor_check(guards)`` names a C++ check of those TENSOR_MATCHes
    (called with their values in that order); ``full_tensors`` is the full function's."""
    anchors = set(p.anchors)
    exports: dict[Source, int] = {}

    def watched(g: Guard) -> bool:
        return any(c in p.covered for s in referenced(g) for c in s.chain())

    def render(s: Source) -> str | None:
        if s in p.types:
            return ns.name(p.types[s], "type")
        if s in p.covered and s not in anchors and isinstance(s, DerivedSource):
            return f"___V[{exports.setdefault(s, len(exports))}]"
        return None

    tensors = [g for g in ordered if g.kind is _K.TENSOR_MATCH]
    others = [g for g in ordered if g.kind is not _K.TENSOR_MATCH and g not in p.stable]
    early = [g for g in others if not watched(g) and rank(g) < LATE_RANK]
    late = [g for g in others if g not in early]
    early_tensors = [g for g in tensors if not watched(g)]
    kept_tensors = [g for g in tensors if g.source in p.covered]
    late_tensors = [g for g in tensors if watched(g) and g.source not in p.covered]
    kept = KeptTensors(ns.values[tensor_check(kept_tensors)], [g.payload for g in kept_tensors]) if kept_tensors else None
    snap = Snapshot(p, kept)

    ns.values.update({"___holder": snap.holder, "___EMPTY": snap.empty, "___class_dict": class_dict,
                      "___RemovableHandle": RemovableHandle})
    em = Emitter(ns)
    em.share([referenced(g) for g in early] + [[g.source] for g in early_tensors] + [p.anchors])
    for g in early:
        em.materialize(referenced(g))
        em.check(checks[g.kind](g, em.expr(g.source) if g.source is not None else "", em.expr, ns))
    if early_tensors:
        em.materialize(g.source for g in early_tensors)
        em.check(f"{tensor_check(early_tensors)}({', '.join(em.expr(g.source) for g in early_tensors)})")
    em.materialize(p.anchors)
    anchor_checks = [(em.expr(a), ns.name(p.anchor_types[a], "type") if a in p.anchor_types else None)
                     for a in p.anchors]
    em.lines += ["___s = ___holder.state", f"if not ({_proof(p, anchor_checks)}):",
                 f"    if not ___rearm({call_source(code)}): return False", "    ___s = ___holder.state",
                 "___V = ___s[5]"]
    em.set_render(render)
    em.share([referenced(g) for g in late] + [[g.source] for g in late_tensors])
    for g in late:
        em.materialize(referenced(g))
        em.check(checks[g.kind](g, em.expr(g.source) if g.source is not None else "", em.expr, ns))
    tails = ["___s[8]()"] if kept_tensors and not p.trust_tensors else []   # kept tensors' metadata (KeptTensors)
    if late_tensors:
        em.materialize(g.source for g in late_tensors)
        tails.append(f"{tensor_check(late_tensors)}({', '.join(em.expr(g.source) for g in late_tensors)})")
    last = f"return {' and '.join(tails) or 'True'}"
    kept_inputs = [i for i, s in enumerate(graph_inputs)
                   if s in p.covered and s not in anchors and isinstance(s, DerivedSource)]
    args = [graph_inputs[i] if i in kept_inputs else None for i in range(len(graph_inputs))]
    rearm, rearm_src = _rearm(ordered, p, ns, code, checks, full_tensors, list(exports), kept_tensors, args, snap,
                              filename)
    ns.values["___rearm"] = rearm
    fn, src = em.function("___guard", signature_source(code), last, filename, ns.values)
    values, values_src = _values_function(p, ns, args, snap, filename)
    return FastPath(fn, src + "\n" + rearm_src + "\n" + values_src, snap, p, kept_inputs, list(p.anchors), values)


def _proof(p: Plan, anchors: list[tuple[str, str | None]]) -> str:
    parts = [f"{e} is ___s[0][{i}]()" for i, (e, _) in enumerate(anchors)] or ["___s is not ___EMPTY"]
    parts += [f"type({e}) is {t}" for e, t in anchors if t is not None]
    if p.dicts or p.attrs or p.objects:
        parts.append("___s[3]()")              # dict tags, attributes, objects' types: one C++ call
    if p.hooks:
        parts.append("___RemovableHandle.next_id == ___s[4]" if p.hook_count else "not any(___s[4])")
    return " and ".join(parts)


def _rearm(ordered: list[Guard], p: Plan, ns: Namespace, code: types.CodeType, checks: dict[GuardKind, Check],
           full_tensors: str | None, exports: list[Source], kept: list[Guard], args: list[Source | None],
           snap: Snapshot, filename: str) -> tuple[Any, str]:
    """Every guard as the full function checks it; then, if all pass, the snapshot is taken."""
    tensors = [g for g in ordered if g.kind is _K.TENSOR_MATCH]
    kept_args = [s for s in args if s is not None]
    attr_objects = [s for s, _ in p.attrs]
    collected = [p.anchors, p.objects, p.dicts, p.hooks, exports, [g.source for g in kept], kept_args, attr_objects]
    em = Emitter(ns)
    em.share([referenced(g) for g in ordered if g.kind is not _K.TENSOR_MATCH] + [[g.source] for g in tensors]
             + [[s] for group in collected for s in group])
    for g in ordered:
        if g.kind is not _K.TENSOR_MATCH:
            em.materialize(referenced(g))
            em.check(checks[g.kind](g, em.expr(g.source) if g.source is not None else "", em.expr, ns))
    if full_tensors is not None:
        em.materialize(g.source for g in tensors)
        em.check(f"{full_tensors}({', '.join(em.expr(g.source) for g in tensors)})")
    for group in collected:
        em.materialize(group)
    anchors, *lists = [[em.expr(s) for s in group] for group in collected[:-2]]
    lists.append([em.expr(s) if s is not None else "None" for s in args])
    lists.append([em.expr(s) for s in attr_objects])
    last = (f"return ___arm(({''.join(a + ', ' for a in anchors)}), "
            + ", ".join(f"[{', '.join(items)}]" for items in lists) + ")")
    own = dict(ns.values, ___arm=snap.arm)      # its own globals: no cycle through the guard's namespace
    return em.function("___rearm", signature_source(code), last, filename, own)


def _values_function(p: Plan, ns: Namespace, args: list[Source | None], snap: Snapshot,
                     filename: str) -> tuple[Callable[..., list], str]:
    """``___values(*anchors)``: the graph's argument list with the kept inputs filled in (the
    transformed code copies it and fills in the others): the snapshot's, when it was taken from
    these anchors, else read through the sources."""
    params = [f"___a{i}" for i in range(len(p.anchors))]
    by_anchor = dict(zip(p.anchors, params))
    kept = [s for s in args if s is not None]
    em = Emitter(ns, render=by_anchor.get)
    em.share([[s] for s in kept])
    em.materialize(kept)
    collect, collect_src = _plain_function(
        "___collect", ", ".join(params), em.lines,
        f"return [{', '.join(em.expr(s) if s is not None else 'None' for s in args)}]", filename, dict(ns.values))
    same = " and ".join(f"{a} is ___s[0][{i}]()" for i, a in enumerate(params)) or "___s is not ___EMPTY"
    lines = ["___s = ___holder.state", f"if {same}:", "    return ___s[7]"]
    values, src = _plain_function("___values", ", ".join(params), lines, f"return ___collect({', '.join(params)})",
                                  filename, {"___holder": snap.holder, "___EMPTY": snap.empty, "___collect": collect})
    return values, collect_src + "\n" + src


def _plain_function(name: str, params: str, lines: list[str], last: str, filename: str,
                    globals_: dict[str, Any]) -> tuple[Any, str]:
    body = "\n".join("    " + ln for ln in [*lines, last])
    src = f"def {name}({params}):\n{body}\n"
    exec(compile(src, filename, "exec"), globals_)
    return globals_.pop(name), src
