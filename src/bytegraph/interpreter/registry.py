"""Opcode handler registry, keyed by Python version.

Handlers are module-level functions named after the opcode, registered with
``@handles("STORE_FAST")`` for every supported version, or ``versions=`` the ones whose
opcode means what the handler does (``until(V312)``, ``since(V313)``): a handler that is the
same on every version is registered once, and a version difference is a second handler
registered for the other versions, never a version check inside a handler. Opcodes
bytegraph deliberately does not handle are listed in ``UNSUPPORTED`` with the reason; a meta
test checks that every opcode of each supported version (``opcodes.OPCODES``) is in one
table or the other.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..codegen.instructions import Inst
    from .translator import InstructionTranslator

Handler = Callable[["InstructionTranslator", "Inst"], None]
Version = tuple[int, int]

V311, V312, V313 = (3, 11), (3, 12), (3, 13)
SUPPORTED_VERSIONS: tuple[Version, ...] = (V311, V312, V313)
HANDLERS: dict[Version, dict[str, Handler]] = {v: {} for v in SUPPORTED_VERSIONS}
UNSUPPORTED: dict[Version, dict[str, str]] = {v: {} for v in SUPPORTED_VERSIONS}
CURRENT = sys.version_info[:2]

# Frame semantics that are not an opcode's, per version. PEP 667 (3.13): ``locals()`` in a
# function returns a new snapshot on each call; before, the frame's own dict, refreshed by each call.
LOCALS_IS_SNAPSHOT: dict[Version, bool] = {V311: False, V312: False, V313: True}


def since(first: Version) -> tuple[Version, ...]:
    """The supported versions from ``first`` on."""
    return tuple(v for v in SUPPORTED_VERSIONS if v >= first)


def until(last: Version) -> tuple[Version, ...]:
    """The supported versions up to ``last``."""
    return tuple(v for v in SUPPORTED_VERSIONS if v <= last)


def handles(*opnames: str, versions: tuple[Version, ...] = SUPPORTED_VERSIONS) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for v in versions:
            for op in opnames:
                assert op not in HANDLERS[v], f"two handlers for {op} on {v}"
                HANDLERS[v][op] = fn
        return fn
    return deco


def unsupported(reason: str, *opnames: str, versions: tuple[Version, ...] = SUPPORTED_VERSIONS) -> None:
    for v in versions:
        for op in opnames:
            UNSUPPORTED[v][op] = reason


def load_all() -> None:
    """Import every handler module (importing one registers its handlers)."""
    from . import handlers  # noqa: F401


def handlers_for_current() -> dict[str, Handler]:
    load_all()
    return HANDLERS.get(CURRENT, {})
