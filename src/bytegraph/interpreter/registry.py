"""Opcode handler registry, keyed by Python version.

Handlers are module-level functions named after the opcode, registered with
``@handles("STORE_FAST")`` (for the versions that have the opcode). Opcodes bytegraph
deliberately does not handle yet are listed in ``UNSUPPORTED`` with the reason; a meta
test checks that every opcode of each supported version is in one table or the other.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..codegen.instructions import Inst
    from .translator import InstructionTranslator

Handler = Callable[["InstructionTranslator", "Inst"], None]

SUPPORTED_VERSIONS: tuple[tuple[int, int], ...] = ((3, 11),)
HANDLERS: dict[tuple[int, int], dict[str, Handler]] = {v: {} for v in SUPPORTED_VERSIONS}
UNSUPPORTED: dict[tuple[int, int], dict[str, str]] = {v: {} for v in SUPPORTED_VERSIONS}
CURRENT = sys.version_info[:2]


def handles(*opnames: str, versions: tuple[tuple[int, int], ...] = SUPPORTED_VERSIONS) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for v in versions:
            for op in opnames:
                assert op not in HANDLERS[v], f"two handlers for {op} on {v}"
                HANDLERS[v][op] = fn
        return fn
    return deco


def unsupported(reason: str, *opnames: str, versions: tuple[tuple[int, int], ...] = SUPPORTED_VERSIONS) -> None:
    for v in versions:
        for op in opnames:
            UNSUPPORTED[v][op] = reason


def handlers_for_current() -> dict[str, Handler]:
    from . import handlers  # noqa: F401 - registers every handler module

    return HANDLERS.get(CURRENT, {})
