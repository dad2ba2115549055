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

from ..codegen.resume import Continue
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
    # what one hop of a broken frame calls (the transformed function, which returns the resume
    # call as ``Continue``); ``fn`` is then that function wrapped by ``trampolined``
    step: Callable[..., Any] | None = None
    # takes every call (an eager fallback whose guards could not be built): kept last in the cache
    accepts_all: bool = False

    def __post_init__(self) -> None:
        if self.step is None:
            self.step = self.fn

    def make_resume_calls(self) -> None:
        """This entry ends at a graph break: calling it makes the resume calls its transformed
        function returns (only such entries pay for it; the hit path of others is unchanged)."""
        self.step = self.fn
        self.fn = trampolined(self.fn)

    @property
    def is_eager(self) -> bool:
        return self.graph is None and self.eager_reason is not None


def trampoline(result: Any) -> Any:
    """Make the resume calls a broken frame returned instead of making them (``Continue``),
    one after the other in this one Python frame: a break inside a loop of any length runs
    at constant stack depth."""
    while type(result) is Continue:
        resume, args = result
        result = resume._step(*args)
    return result


def trampolined(transformed: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        return trampoline(transformed(*args, **kwargs))

    run.__wrapped__ = getattr(transformed, "__wrapped__", transformed)     # (CompiledFunction._adopt_defaults)
    return run
