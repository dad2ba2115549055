"""Which globals of a module its own code rebinds (``global x; x = ...``).

torch's own modules are trusted (DESIGN decision 6): a function, class or constant they bind
is not guarded, because torch does not monkey-patch itself. It does rebind some of its own
globals at run time, though: lazily computed flags and caches (``_cupti_monitor_checked``,
``_IS_MONKEYPATCHED``...). A value read from such a global while tracing is only valid while
the global keeps it, so these names are guarded like any global.

The answer comes from the module's code, not from a list: every code object reachable from
the module's functions and classes (nested functions and methods included) is scanned once
for STORE_GLOBAL / DELETE_GLOBAL, and the result is cached per globals dict.
"""

from __future__ import annotations

import dis
import types
from typing import Any

_REBINDING_OPS = frozenset({dis.opmap["STORE_GLOBAL"], dis.opmap["DELETE_GLOBAL"]})
_EXTENDED_ARG = dis.opmap["EXTENDED_ARG"]
_CACHE: dict[int, tuple[dict[str, Any], frozenset[str]]] = {}     # id(globals) -> (globals, names)


def rebound_globals(fn_globals: dict[str, Any]) -> frozenset[str]:
    """The names the code defined with ``fn_globals`` as its globals assigns or deletes."""
    cached = _CACHE.get(id(fn_globals))
    if cached is not None and cached[0] is fn_globals:
        return cached[1]
    names = frozenset(_scan(fn_globals))
    _CACHE[id(fn_globals)] = (fn_globals, names)      # (asked for torch's modules: they live as long as the process)
    return names


def _scan(fn_globals: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    seen: set[int] = set()
    for value in list(fn_globals.values()):
        for code in _codes_of(value, fn_globals, seen):
            names.update(_stored_globals(code))
    return names


def _codes_of(value: Any, fn_globals: dict[str, Any], seen: set[int], depth: int = 0) -> list[types.CodeType]:
    """Code objects of a function (or of a class's functions) whose globals are ``fn_globals``."""
    if id(value) in seen or depth > 2:
        return []
    seen.add(id(value))
    value = getattr(value, "__wrapped__", value) if not isinstance(value, type) else value
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [c for f in (value.fget, value.fset, value.fdel) if f is not None
                for c in _codes_of(f, fn_globals, seen, depth + 1)]
    if isinstance(value, types.FunctionType):
        return list(_nested(value.__code__)) if value.__globals__ is fn_globals else []
    if isinstance(value, type) and vars(value).get("__module__") == fn_globals.get("__name__"):
        return [c for attr in list(vars(value).values()) for c in _codes_of(attr, fn_globals, seen, depth + 1)]
    return []


def _nested(code: types.CodeType) -> list[types.CodeType]:
    out = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out.extend(_nested(const))
    return out


def _stored_globals(code: types.CodeType) -> set[str]:
    """Names of STORE_GLOBAL/DELETE_GLOBAL in ``code`` (read from the raw bytes: fast, and cached)."""
    raw = code.co_code
    names: set[str] = set()
    ext = 0
    for i in range(0, len(raw), 2):
        op, arg = raw[i], raw[i + 1] | ext
        if op == _EXTENDED_ARG:
            ext = arg << 8
            continue
        ext = 0
        if op in _REBINDING_OPS:
            names.add(code.co_names[arg])
    return names
