"""``bytegraph.explain(fn, *args, **kwargs)``: what one call captured, and why.

It compiles ``fn`` (a function or module) with the eager backend, calls it once with the
given arguments, and reports each cache entry: the graph (ops and code), the reason the
frame ran eagerly if it did, every value the builder wrapped with the rule that wrapped it
and the guards that rule installed, and the guard function itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..guards import Guard
from .cache import CacheEntry


@dataclasses.dataclass
class ExplainOutput:
    name: str
    entries: list[CacheEntry]

    @property
    def graphs(self) -> list[torch.fx.GraphModule]:
        return [e.graph for e in self.entries if e.graph is not None]

    @property
    def breaks(self) -> list[str]:
        return [e.eager_reason for e in self.entries if e.eager_reason is not None]

    def op_count(self) -> int:
        return sum(1 for gm in self.graphs for n in gm.graph.nodes
                   if n.op in ("call_function", "call_method", "call_module"))

    def wrapped(self) -> list[tuple[str, str, list[Guard]]]:
        """(source, builder rule, guards on that source) for every value the builder wrapped."""
        out = []
        for entry in self.entries:
            by_source: dict[str, list[Guard]] = {}
            for g in entry.guards.guards:
                if g.source is not None:
                    by_source.setdefault(g.source.name(), []).append(g)
            out.extend((name, rule, by_source.get(name, [])) for name, rule in entry.rules)
        return out

    def __str__(self) -> str:
        lines = [f"bytegraph explain: {self.name}",
                 f"{len(self.graphs)} graph(s), {len(self.breaks)} frame(s) run eagerly, {self.op_count()} op(s)"]
        for i, entry in enumerate(self.entries, 1):
            lines.append(f"\n-- cache entry {i}: " + ("runs eagerly" if entry.graph is None else "graph"))
            if entry.eager_reason:
                lines.extend("   " + ln for ln in entry.eager_reason.splitlines())
            if entry.graph is not None:
                lines.extend("   " + ln for ln in entry.graph.code.strip().splitlines())
            lines.append("   values wrapped (source -> builder rule: guards):")
            for name, rule, guards in self.wrapped():
                kinds = ", ".join(g.kind.value for g in guards) or "no guard of its own"
                lines.append(f"     {name} -> {rule}: {kinds}")
            lines.append(f"   guards ({len(entry.guards.guards)}):")
            for g in entry.guards.guards:
                lines.append(f"     {g.describe()}    # {g.reason}")
        return "\n".join(lines)


def explain(fn: Any, *args: Any, **kwargs: Any) -> ExplainOutput:
    from ..api import compile

    compiled = compile(fn, backend="eager")
    compiled(*args, **kwargs)
    name = getattr(fn, "__qualname__", type(fn).__qualname__)
    return ExplainOutput(name, list(reversed(compiled.entries)))
