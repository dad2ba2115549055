"""VariableBuilder (values with a source) and SourcelessBuilder (values made while tracing).

``VariableBuilder(tx, source)(value)``, in order:

1. identity map — the same object always wraps to the same tracker; reached from a
   second source, it also gets a DUPLICATE_INPUT guard (``a is b``), because the graph
   was traced assuming the alias;
2. source cache — reading the same path twice returns the same tracker;
3. the first matching rule of ``rules.RULES`` builds the tracker and installs guards;
4. record: identity (for rules that track it), source cache, and which rule wrapped
   what (for ``explain``).

``SourcelessBuilder(tx)(value)`` wraps a real value reached by a path the guards do not
follow (a global of a trusted torch module, a constant of the code). An object with state of
its own (a mutable container, a module, a tensor, any other object: ``holds_state``) existed
before the trace, so it becomes its own source (``ObjectRefSource``): it is passed as the real
object, its mutations are written back to it, what is read from it is guarded. Anything else
(constants, functions, classes, tuples) is wrapped with no source and no guards.

``SourcelessBuilder(tx, fresh=True)(value)`` wraps a value a call made at trace time
(``fold``): it is the trace's own, so it keeps no source and is rebuilt (a copy) when it
escapes; a real tensor made that way is an error (it could not be re-fetched at run time).
"""

from __future__ import annotations

from typing import Any

from ..guards import GuardKind, IdRef
from ..sources import AttrSource, ItemSource, ObjectRefSource, Source
from ..variables.base import LazyVariableTracker, VariableTracker
from .rules import WrapRule, select_rule


class VariableBuilder:
    fresh = False           # SourcelessBuilder(fresh=True): the value was made by the trace

    def __init__(self, tx: Any, source: Source | None) -> None:
        self.tx = tx
        self.source = source
        self.rule: WrapRule | None = None

    def __call__(self, value: Any) -> VariableTracker:
        state = self.tx.capture
        source = self.source
        vt = state.identity.get(id(value))
        if vt is not None:
            if source is not None and vt.source is not None and vt.source != source:
                self.tx.guard(source, GuardKind.DUPLICATE_INPUT, vt.source,
                              "identity map: one object reached from two sources")
            return vt
        if source is not None and source in state.by_source:
            return state.by_source[source]
        self.rule = select_rule(value)
        if source is None and not self.fresh and self.rule.holds_state(value):
            source = self.source = ObjectRefSource.of(value)
            state.guards.hold(source)
        vt = self.rule.wrap(self, value)
        if vt.source is None:
            vt.source = source
        if self.rule.tracks_identity:
            # also for values reached without a source (a module-level sentinel read through a
            # trusted path): ``x is SENTINEL`` must see one object, however it was reached
            state.identity[id(value)] = vt
            state.keepalive.append(value)
        if source is not None:
            state.by_source[source] = vt
            state.objects[source] = value
            state.wrapped.append((source, self.rule.name))
        return vt

    # -- what rules use --------------------------------------------------------------------
    def guard(self, kind: GuardKind, payload: Any) -> None:
        if kind is GuardKind.TYPE_MATCH and isinstance(self.source, ObjectRefSource):
            return          # the object itself is held: its type is what it was
        if self.source is not None:
            self.tx.guard(self.source, kind, payload, f"builder rule '{self.rule.name}'")

    def guard_id(self, value: Any) -> None:
        if self.source is not None and not isinstance(self.source, ObjectRefSource):
            self.tx.guard(self.source, GuardKind.ID_MATCH, IdRef.of(value), f"builder rule '{self.rule.name}'")
            self.tx.capture.guards.watch(value)

    def key_guards(self) -> Any:
        """Where a container installs the guards it decides on later (None without a source)."""
        return self.tx.capture.guards if self.source is not None else None

    def sourceless(self, value: Any) -> VariableTracker:
        """A value inside this sourceless one: pre-existing, or made by the trace, as this one."""
        return SourcelessBuilder(self.tx, self.fresh)(value)

    def child(self, value: Any, key: Any, attr: bool = False) -> VariableTracker:
        """An item (``source[key]``) or attribute (``source.key``), built only when used."""
        if self.source is None:
            return self.sourceless(value)
        src = AttrSource(self.source, key) if attr else ItemSource(self.source, key)
        return LazyVariableTracker(value, src, self.tx.capture.build)


class SourcelessBuilder(VariableBuilder):
    def __init__(self, tx: Any, fresh: bool = False) -> None:
        super().__init__(tx, None)
        self.fresh = fresh
