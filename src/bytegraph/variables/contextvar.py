"""``contextvars``: a ContextVar's value as the trace sees it, its Tokens, and ``Context.run``.

A ``ContextVar`` reached from a source is guarded by identity; the value it has when the
call starts is read through ``ContextVarValueSource`` (``var.get()``, or ``UNSET``) and
guarded by the rule that wraps it, so a different value recompiles. ``set`` and ``reset``
change only the tracker's view (``current``); the transformed code then writes the final
value back with ``var.set(value)``, unless the trace left the variable as it found it (a
``set`` undone by its ``reset``: the usual ``token = v.set(x); try: ... finally: v.reset(token)``),
in which case nothing is written, exactly as eager leaves the context.

A ContextVar created while tracing starts unset (no context has it); if it escapes it is
made again at run time, with the value the trace left in it. ``copy_context().run(fn, ...)``
runs ``fn`` traced and then restores every variable's view, as running in a copy of the
context does. Not modelled (a graph break says so): a ContextVar reached without a source
(its value could not be guarded), and a Token that outlives the frame (returned, or alive at
a graph break: the frame runs eagerly).
"""

from __future__ import annotations

import contextvars
from typing import Any

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..sources import ContextVarState, ContextVarValueSource, contextvar_value
from .base import Tx, VariableTracker, pymethod

ORIGINAL = None          # ``current``: the value the variable had when the call started


class ContextVarVariable(VariableTracker):
    identity_matters = True

    def __init__(self, var: contextvars.ContextVar, source: Any = None,
                 created: tuple[VariableTracker, VariableTracker | None] | None = None) -> None:
        super().__init__(source)
        self.var = var
        self.current: VariableTracker | None = ORIGINAL     # or the tracker of the value set last
        self._original: VariableTracker | None = None     # read (and guarded) on first use
        self.created = created             # made while tracing: (name, default or None)

    def python_type(self) -> type:
        return contextvars.ContextVar

    def _view(self, tx: Tx) -> VariableTracker:
        if self.current is not ORIGINAL:
            return self.current
        if self._original is None and self.created is not None:   # a new variable: unset everywhere
            default = self.created[1]
            self._original = default if default is not None else tx.wrap_const(ContextVarState.UNSET)
        if self._original is None:
            if self.source is None:
                raise Unsupported(breaks.UNSUPPORTED_VALUE, f"the value of ContextVar {self.var.name!r}, reached "
                                  "without a source (it could not be guarded)")
            self._original = tx.wrap(contextvar_value(self.var), ContextVarValueSource(self.source)).realize()
        return self._original

    @pymethod("get")
    def _get(self, tx: Tx, default: VariableTracker | None = None) -> VariableTracker:
        """``var.get([default])``: the trace's view; unset (and no default of its own): ``default``
        or CPython's LookupError."""
        view = self._view(tx)
        if view.is_constant() and view.as_constant() is ContextVarState.UNSET:
            if default is None:
                raise UserCodeError(LookupError(self.var))
            return default
        return view

    @pymethod("set")
    def _set(self, tx: Tx, value: VariableTracker) -> VariableTracker:
        self._changed(tx, "set")
        token = ContextVarTokenVariable(self, self.current)
        self.current = value
        return token

    @pymethod("reset")
    def _reset(self, tx: Tx, token: VariableTracker) -> VariableTracker:
        if not isinstance(token, ContextVarTokenVariable):
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"ContextVar.reset() with {token.describe()}, a Token made "
                              "outside the traced code")
        if token.var is not self:
            raise UserCodeError(ValueError(f"{token.describe()} was created by a different ContextVar"))
        if token.used:
            raise UserCodeError(RuntimeError(f"{token.describe()} has already been used once"))
        token.used = True
        self._changed(tx, "reset")
        self.current = token.previous
        return tx.wrap_const(None)

    def _changed(self, tx: Tx, how: str) -> None:
        if self.created is None:
            tx.mutation(self, f"ContextVar {self.var.name!r}.{how}()")

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name == "name":
            return tx.wrap_const(self.var.name)
        return super().var_getattr(tx, name)

    def reconstruct(self, cg: Any) -> None:
        """A variable made while tracing: made again, holding the value the trace left in it."""
        if self.created is None:
            return super().reconstruct(cg)
        name, default = self.created
        cg.push_callable(rebuild_context_var)
        cg.reconstruct(name)
        for vt in (default, self.current):
            if vt is None:
                cg.load_const(ContextVarState.UNSET)
            else:
                cg.reconstruct(vt)
        cg.call(3)

    def replay(self, cg: Any) -> None:
        """``var.set(final value)``; nothing when the trace put the variable back as it was."""
        if self.current is ORIGINAL:
            return
        cg.push_callable(contextvars.ContextVar.set)
        cg.load_source(self.source)
        cg.reconstruct(self.current)
        cg.call(2)
        cg.emit("POP_TOP")

    def describe(self) -> str:
        where = f" {self.source.name()}" if self.source is not None else ""
        return f"ContextVar {self.var.name!r}{where}"


def rebuild_context_var(name: str, default: Any, value: Any) -> contextvars.ContextVar:
    """Run time: the ContextVar a trace made, set to ``value`` unless that is ``UNSET``."""
    if default is ContextVarState.UNSET:
        var = contextvars.ContextVar(name)
    else:
        var = contextvars.ContextVar(name, default=default)
    if value is not ContextVarState.UNSET:
        var.set(value)
    return var


def new_context_var(tx: Tx, name: VariableTracker, *, default: VariableTracker | None = None) -> VariableTracker:
    """``ContextVar(name, default=...)`` while tracing (the real one only stands in for its name)."""
    return ContextVarVariable(contextvars.ContextVar(name.as_constant()), created=(name, default))


class ContextVarTokenVariable(VariableTracker):
    """The Token ``var.set(value)`` returns: which variable, and its view before the ``set``."""

    def __init__(self, var: ContextVarVariable, previous: VariableTracker | None) -> None:
        super().__init__(None)
        self.var = var
        self.previous = previous
        self.used = False

    def python_type(self) -> type:
        return contextvars.Token

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name == "var":
            return self.var
        return super().var_getattr(tx, name)

    def reconstruct(self, cg: Any) -> None:
        raise Unsupported(breaks.NON_TENSOR_OUTPUT, f"{self.describe()} made while tracing outlives the frame "
                          "(a Token cannot be rebuilt)")

    def describe(self) -> str:
        return f"<Token of ContextVar {self.var.var.name!r}>"


class ContextVariable(VariableTracker):
    """``contextvars.copy_context()``: only ``run`` is modelled."""

    def python_type(self) -> type:
        return contextvars.Context

    @pymethod("run")
    def _run(self, tx: Tx, fn: VariableTracker, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
        """``ctx.run(fn, *args)``: ``fn`` is traced; the variables it sets are set in the copy,
        so afterwards every variable shows what it showed before."""
        before = {id(vt): vt.current for vt in _context_vars(tx)}
        try:
            return tx.call(fn, list(args), kwargs)
        finally:
            for vt in _context_vars(tx):      # (a variable first met inside ``fn`` was as it started)
                vt.current = before.get(id(vt), ORIGINAL)

    def reconstruct(self, cg: Any) -> None:
        raise Unsupported(breaks.NON_TENSOR_OUTPUT, "a contextvars.Context made while tracing outlives the frame")


def _context_vars(tx: Tx) -> list[ContextVarVariable]:
    return [vt for vt in tx.capture.identity.values() if isinstance(vt, ContextVarVariable)]


def copy_context(tx: Tx) -> VariableTracker:
    return ContextVariable()
