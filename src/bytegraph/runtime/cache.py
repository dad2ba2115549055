"""Cache entries: one guard function and one transformed function per compiled variant.

``CacheEntry.check(*args, **kwargs)`` is the generated guard; ``CacheEntry.fn`` the
transformed function (or the original, for a frame that runs eagerly). Entries hold no
strong reference to user objects: objects guarded by identity are watched through weak
references, and an entry whose watched object dies is dropped (its id could be reused).
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any, Callable

import torch

from ..guards.codegen import CompiledGuards


@dataclasses.dataclass(eq=False)
class CacheEntry:
    check: Callable[..., bool]
    fn: Callable[..., Any]
    guards: CompiledGuards
    graph: torch.fx.GraphModule | None     # None: the frame runs eagerly under these guards
    eager_reason: str | None = None
    break_reason: str | None = None         # the graph ends at a graph break (a resume function follows)
    capture_seconds: float = 0.0
    watchers: list[weakref.ref] = dataclasses.field(default_factory=list)
    rules: list[tuple[str, str]] = dataclasses.field(default_factory=list)   # (source name, builder rule)

    @property
    def is_eager(self) -> bool:
        return self.graph is None and self.eager_reason is not None
