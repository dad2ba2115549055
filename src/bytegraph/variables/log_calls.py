"""Calls that only report: ``logger.info(...)`` and friends, ``warnings.warn(...)``.

Such a call is never deferred past the code that follows it: a handler may append the record
to a list the program reads next, a ``warnings`` filter set to "error" turns the warning into
an exception, a ``catch_warnings(record=True)`` block collects it. What is sound:

* a logger call at a level the logger does not handle is a no-op, under a guard that the
  logger still does not handle it (``logger.isEnabledFor(level)``, which accounts for the
  logger's and its ancestors' levels, ``disabled`` and ``logging.disable``);
* at a level it handles, the call is a graph break (GB009): it runs natively where the
  program makes it, between the graph before it and the one after it;
* ``warnings.warn`` is always a graph break: what it does depends on the filters, the
  caller's warning registry and ``showwarning``, which the trace does not model.

``LOGGER_LEVELS`` says, per method, at which level it logs.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from ..guards import GuardKind
from ..sources import LoggerEnabledSource
from .base import NotConstant, Tx, VariableTracker


def _fixed(level: int) -> Callable[[list[VariableTracker]], int]:
    return lambda args: level


def _first_argument(args: list[VariableTracker]) -> int:
    if not args:
        raise NotConstant("Logger.log() without a level")
    level = args[0].as_constant()
    if not isinstance(level, int):
        raise NotConstant("Logger.log() with a level that is not an int")
    return level


# Logger method -> the level it logs at (``warning_once``/``info_once``/``warning_advice`` are
# transformers' additions to logging.Logger; each ends in a call at that level, or nothing)
LOGGER_LEVELS: dict[str, Callable[[list[VariableTracker]], int]] = {
    "debug": _fixed(logging.DEBUG),
    "info": _fixed(logging.INFO),
    "info_once": _fixed(logging.INFO),
    "warning": _fixed(logging.WARNING),
    "warn": _fixed(logging.WARNING),
    "warning_once": _fixed(logging.WARNING),
    "warning_advice": _fixed(logging.WARNING),
    "error": _fixed(logging.ERROR),
    "exception": _fixed(logging.ERROR),
    "critical": _fixed(logging.CRITICAL),
    "fatal": _fixed(logging.CRITICAL),
    "log": _first_argument,
}


class LoggerMethodVariable(VariableTracker):
    """``logger.<method>`` for a method of ``LOGGER_LEVELS`` on a logger from outside the trace."""

    def __init__(self, logger: VariableTracker, name: str) -> None:
        super().__init__(None)
        self.logger = logger
        self.name = name

    def python_type(self) -> type:
        return type(getattr(self.logger.value, self.name))

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        where = f"{self.logger.value.name!r} logger's {self.name}()"
        try:
            level = LOGGER_LEVELS[self.name](args)
        except NotConstant:
            raise Unsupported(breaks.PRINT_OR_IO, f"the {where} at a level unknown at trace time") from None
        if self.logger.source is None:
            raise Unsupported(breaks.PRINT_OR_IO, f"the {where} on a logger made while tracing")
        enabled = self.logger.value.isEnabledFor(level)
        tx.guard(LoggerEnabledSource(self.logger.source, level), GuardKind.EQUALS_MATCH, enabled,
                 f"{self.name}() is a no-op only while the logger ignores level {logging.getLevelName(level)}")
        if enabled:
            raise Unsupported(breaks.PRINT_OR_IO, f"the {where} at level {logging.getLevelName(level)}, which "
                              "the logger handles: it runs where the program makes it (a handler may be observed)")
        return tx.wrap_const(None)

    def reconstruct(self, cg: Any) -> None:
        cg.reconstruct(self.logger)
        cg.load_attr(self.name)

    def describe(self) -> str:
        return f"method {self.name}() of logger {self.logger.value.name!r}"


def warn(tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    """``warnings.warn(...)``: a graph break (see the module docstring)."""
    raise Unsupported(breaks.PRINT_OR_IO, "warnings.warn() runs where the program calls it (a filter may make it "
                      "raise, catch_warnings may record it)")
