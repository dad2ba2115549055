"""``bytegraph.explain``: what was captured, where it broke, why it recompiled, as text.

    print(bytegraph.explain(fn, *args, **kwargs))     # compile fn (eager backend), call it once
    with explain.recording() as captures: ...         # any compiled code run in the block
    python -m bytegraph explain SCRIPT.py [args]      # a whole script (runtime/report.py runs it)

A ``Capture`` is one cache entry as text and numbers (no reference to user objects): the
function (a resume function says which function it continues), the outcome, the recompile
reason, the graph code, the rendered graph break from the catalog with the user's file:line
and source text, and every guard as readable Python with the reason it exists.
``ExplainOutput`` prints the captures in the order they happened, after a summary line.

The text is deterministic, so golden tests compare it exactly: files are shown by basename,
objects guarded by identity by their description (never their id), dict versions and
timings are left out. ``Capture.seconds``/``started`` keep the timings for the HTML report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import dis
import itertools
import linecache
import os
import re
import sys
import time
import types
from typing import Any, Iterator

import torch

from ..codegen.resume import origin_of
from ..guards import Guard, GuardKind
from . import events
from .cache import CacheEntry
from .compiled import call_module       # the synthetic root frame of a compiled nn.Module

_K = GuardKind


# -- guards as readable Python -------------------------------------------------------------
def type_name(t: type) -> str:
    """``int``, ``torch.Tensor``, ``torch.nn.Linear``, ``mymodule.Net``: the name a user would write."""
    if t.__module__ == "builtins":
        return t.__qualname__
    for public in (torch, torch.nn):
        if getattr(public, t.__name__, None) is t:
            return f"{public.__name__}.{t.__name__}"
    return f"{t.__module__}.{t.__qualname__}"


def _value(v: Any) -> str:
    if isinstance(v, torch.dtype):
        return str(v)
    if isinstance(v, type):
        return type_name(v)
    return repr(v)


def _tensor(e: str, spec: Any) -> str:
    dims = lambda vs: "[" + ", ".join("None" if v is None else str(v) for v in vs) + "]"   # noqa: E731
    return (f"check_tensor({e}, {type_name(spec.type)}, {spec.dtype}, device={str(spec.device)!r}, "
            f"requires_grad={spec.requires_grad}, size={dims(spec.size)}, stride={dims(spec.stride)})")


def _aliasing(names: list[str]) -> str:
    if len(names) == 2:
        return f"{names[0]} is not {names[1]}"
    return f"len({{{', '.join(f'id({n})' for n in names)}}}) == {len(names)}"


def _equals(e: str, v: Any) -> str:
    return f"{e} is {v!r}" if v is None or type(v) is bool else f"{e} == {_value(v)}"


# kind -> (guard, its source's name) -> a Python condition over the frame (L[...], G[...])
_PYTHON: dict[GuardKind, Any] = {
    _K.GLOBAL_STATE: lambda g, e: (f"torch.is_grad_enabled() is {g.payload.grad_enabled} and "
                                   f"torch.get_default_dtype() is {g.payload.default_dtype}"),
    _K.TYPE_MATCH: lambda g, e: f"type({e}) is {type_name(g.payload)}",
    _K.ID_MATCH: lambda g, e: f"{e} is <{g.payload.description}>",
    _K.CLOSURE_MATCH: lambda g, e: (f"{e}.__code__ is <code {g.payload.co_qualname} at "
                                    f"{os.path.basename(g.payload.co_filename)}:{g.payload.co_firstlineno}>"),
    _K.EQUALS_MATCH: lambda g, e: _equals(e, g.payload),
    _K.SEQUENCE_LENGTH: lambda g, e: f"len({e}) == {g.payload}",
    _K.DICT_KEYS: lambda g, e: f"list({e}) == {list(g.payload)!r}" if g.payload else f"not {e}",
    _K.DICT_VERSION: lambda g, e: f"dict_version({e}) == <its version at capture>",
    _K.HASATTR: lambda g, e: f"hasattr({e}, {g.payload!r})",
    _K.NOT_HASATTR: lambda g, e: f"not hasattr({e}, {g.payload!r})",
    _K.NO_GENERIC_ATTR: lambda g, e: f"{g.payload!r} not in vars({e}) nor on type({e})  # object.__getattribute__",
    _K.CELL_EMPTY: lambda g, e: f"{e} holds no value",
    _K.DICT_CONTAINS: lambda g, e: f"{g.payload!r} in {e}",
    _K.DICT_NOT_CONTAINS: lambda g, e: f"{g.payload!r} not in {e}",
    _K.DICT_CONTAINS_OBJECT: lambda g, e: f"{g.payload.name()} in {e}",
    _K.DICT_NOT_CONTAINS_OBJECT: lambda g, e: f"{g.payload.name()} not in {e}",
    _K.TENSOR_MATCH: lambda g, e: _tensor(e, g.payload),
    _K.DUPLICATE_INPUT: lambda g, e: f"{e} is {g.payload.name()}",
    _K.NO_TENSOR_ALIASING: lambda g, e: _aliasing([s.name() for s in g.payload]),
    _K.DISTINCT_OBJECTS: lambda g, e: _aliasing([s.name() for s in g.payload]),
    _K.NO_STORAGE_OVERLAP: lambda g, e: (f"storages_disjoint(written=({', '.join(s.name() for s in g.payload.written)}), "
                                         f"others=({', '.join(s.name() for s in g.payload.others)}))"),
    _K.SHAPE_ENV: lambda g, e: " and ".join(g.payload.shown),
    _K.NO_MODULE_HOOKS: lambda g, e: f"has_no_hooks({e})",
    _K.NO_GLOBAL_MODULE_HOOKS: lambda g, e: "no_global_module_hooks()",
}

_EXTRA_REASON = {      # what the Python above does not spell out
    _K.GLOBAL_STATE: "autocast, deterministic... too",
    _K.NO_MODULE_HOOKS: "no (pre-)hooks, not Module.compile()d",
}


def guard_python(g: Guard) -> str:
    """One guard as a Python condition over the frame (``L['x']``, ``G['n']``); objects that
    cannot be spelled are shown as ``<description>``."""
    rule = _PYTHON.get(g.kind)
    name = g.source.name() if g.source is not None else ""
    return rule(g, name) if rule is not None else g.describe()


def guard_lines(guards: list[Guard]) -> list[tuple[str, str]]:
    """(readable Python, why the guard exists) for each guard, in the order they are checked."""
    out = []
    for g in guards:
        why = g.reason or "(no reason recorded)"
        extra = _EXTRA_REASON.get(g.kind)
        out.append((guard_python(g), f"{why} ({extra})" if extra else why))
    return out


# -- one capture ------------------------------------------------------------------------------
_AT = re.compile(r"\bat (\S+?):(\d+) in ")


@dataclasses.dataclass
class Capture:
    """One cache entry of one compiled (or resume) function, as text and numbers."""

    function: str                   # qualified name
    filename: str                   # of its code (a resume function: the original's)
    lineno: int                     # first line of the function
    index: int                      # 0: first capture of this function; then its recompiles
    outcome: str                    # one of OUTCOMES
    started: float                  # seconds since recording began
    seconds: float                  # capture + backend compile time
    recompile_reason: str | None
    break_message: str | None       # the rendered catalog entry, for a break that resumes
    eager_reason: str | None        # why the frame runs eagerly (may itself be a rendered break)
    graph_code: str | None
    op_count: int
    guards: list[tuple[str, str]]   # (readable Python, reason)
    guard_source: str               # the generated guard function
    resumes: str | None = None      # a resume function: the function it continues
    resume_line: int | None = None  # ... from this line
    break_file: str | None = None   # full path of the break (or user exception) location
    break_line: int | None = None
    module_root: bool = False       # bytegraph's ``call_module`` (or a resume function of it)
    ddp_buckets: list[int] | None = None    # bytes per gradient bucket, when split for DDP (runtime/ddp.py)

    @property
    def break_id(self) -> str | None:
        m = re.match(r"graph break (GB\d+)", self.break_message or self.eager_reason or "")
        return m.group(1) if m else None

    @property
    def where(self) -> str:
        return f"{os.path.basename(self.filename)}:{self.lineno}"

    @property
    def title(self) -> str:
        """``f (prog.py:3)``, ``f_resume_at_13 (resumes f at prog.py:5)``."""
        if self.module_root:
            of = f"resumes {self.resumes}, " if self.resumes else ""
            return f"{self.function} ({of}the root frame of a compiled nn.Module)"
        if self.resumes is not None:
            return f"{self.function} (resumes {self.resumes} at {os.path.basename(self.filename)}:{self.resume_line})"
        return f"{self.function} ({self.where})"

    @classmethod
    def of(cls, compiled: Any, entry: CacheEntry, recompile_reason: str | None, started: float) -> "Capture":
        fn = compiled.fn
        code = fn.__code__
        origin = origin_of(code).code
        gm = entry.graph
        outcome = _outcome(entry)
        where = _location(entry.break_reason or entry.eager_reason or "", [code.co_filename, origin.co_filename])
        return cls(
            function=code.co_qualname, filename=origin.co_filename, lineno=origin.co_firstlineno,
            index=compiled.stats.captures - 1, outcome=outcome, started=started, seconds=entry.capture_seconds,
            recompile_reason=recompile_reason, break_message=entry.break_reason, eager_reason=entry.eager_reason,
            graph_code=gm.code.strip() if gm is not None else None, op_count=op_count(gm),
            guards=guard_lines(list(entry.guards.guards)), guard_source=entry.guards.source_code,
            resumes=origin.co_qualname if origin is not code else None,
            resume_line=_resume_line(code) if origin is not code else None,
            break_file=where[0] if where else None, break_line=where[1] if where else None,
            module_root=origin is call_module.__code__,
            ddp_buckets=gm.meta.get("bytegraph_ddp_buckets") if gm is not None else None)


OUTCOMES = ("graph", "graph + break", "break", "eager", "no graph")


def _outcome(entry: CacheEntry) -> str:
    """graph / graph + break / break (nothing to put in a graph before it; resumes) /
    eager (the frame runs eagerly) / no graph (the frame had no tensor work)."""
    if entry.eager_reason is not None:
        return "eager"
    if entry.break_reason is not None:
        return "graph + break" if entry.graph is not None else "break"
    return "graph" if entry.graph is not None else "no graph"


def op_count(gm: torch.fx.GraphModule | None) -> int:
    if gm is None:
        return 0
    return sum(1 for n in gm.graph.nodes if n.op in ("call_function", "call_method", "call_module"))


def _resume_line(code: types.CodeType) -> int | None:
    """The line a resume function continues at: where its prefix's jump lands."""
    insts = list(dis.get_instructions(code))
    jump = next((i for i in insts if i.opname == "JUMP_FORWARD"), None)
    target = next((i for i in insts if jump is not None and i.offset == jump.argval), None)
    return target.positions.lineno if target is not None and target.positions else None


def _location(message: str, known_files: list[str]) -> tuple[str, int] | None:
    """(full path, line) of the first ``at FILE:LINE in`` of a rendered message (messages
    show basenames: resolve against the function's files, then loaded modules, then linecache)."""
    m = _AT.search(message)
    if m is None:
        return None
    base, line = m.group(1), int(m.group(2))
    for path in itertools.chain(known_files, _module_files(), list(linecache.cache)):
        if isinstance(path, str) and os.path.basename(path) == base:
            return path, line
    return base, line


def _module_files() -> Iterator[str]:
    for mod in list(sys.modules.values()):
        try:
            path = getattr(mod, "__file__", None)
        except Exception:   # noqa: BLE001 - lazy modules may compute attributes and fail
            continue
        if isinstance(path, str):
            yield path


# -- recording --------------------------------------------------------------------------------
@contextlib.contextmanager
def recording(entries: list[CacheEntry] | None = None) -> Iterator[list[Capture]]:
    """Record every capture made inside the block (any compiled function, resume functions
    and callees included), as ``Capture``s in the order they happened; ``entries``, if
    given, also receives the cache entries themselves. The plain event log
    (``events.recording()``) is recorded for the block too.

    The hook: every capture ends in ``events.LOG.record(compiled, entry, reason)``; while a
    block is active that call is wrapped on the log instance. Nested blocks chain; blocks
    that overlap without nesting (two threads) are not supported, like ``events.recording``."""
    captures: list[Capture] = []
    t0 = time.perf_counter()
    log = events.LOG
    inner = log.record                      # the class's method, or an enclosing block's hook
    had_hook = "record" in vars(log)

    def record(compiled: Any, entry: Any, reason: str | None) -> None:
        inner(compiled, entry, reason)
        if isinstance(entry, CacheEntry):
            started = max(time.perf_counter() - t0 - entry.capture_seconds, 0.0)
            captures.append(Capture.of(compiled, entry, reason, started))
            if entries is not None:
                entries.append(entry)

    log.record = record                     # type: ignore[method-assign]
    try:
        with events.recording():
            yield captures
    finally:
        if had_hook:
            log.record = inner              # type: ignore[method-assign]
        else:
            del log.record


# -- the text ------------------------------------------------------------------------------
def _plural(n: int, word: str) -> str:
    return f"{n} {word if n == 1 else word + 's'}"


def summary(captures: list[Capture]) -> str:
    functions = len({(c.function, c.filename) for c in captures})
    graphs = sum(c.graph_code is not None for c in captures)
    ids = [c.break_id for c in captures if c.break_id is not None]
    kinds = f" ({', '.join(sorted(set(ids)))})" if ids else ""
    eager = sum(c.outcome == "eager" for c in captures)
    recompiles = sum(c.index > 0 for c in captures)
    return (f"{_plural(len(captures), 'capture')} of {_plural(functions, 'function')}: "
            f"{_plural(graphs, 'graph')} ({_plural(sum(c.op_count for c in captures), 'op')}), "
            f"{_plural(len(ids), 'graph break')}{kinds}, "
            f"{_plural(eager, 'frame')} run eagerly, "
            f"{_plural(recompiles, 'recompile')}")


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + ln if ln.strip() else ln.rstrip() for ln in text.splitlines()]


def render_capture(n: int, c: Capture) -> list[str]:
    head = f"capture {n}: {c.title}"
    head += f", recompile {c.index}: {c.outcome}" if c.index else f": {c.outcome}"
    lines = [head]
    if c.recompile_reason:
        lines.append(f"  recompiled because {c.recompile_reason}")
    if c.graph_code is not None:
        lines.append(f"  graph ({_plural(c.op_count, 'op')}):")
        lines.extend(_indent(c.graph_code, "    "))
    if c.ddp_buckets and len(c.ddp_buckets) > 1:
        sizes = ", ".join(f"{b / 1024:.1f} KiB" for b in c.ddp_buckets)
        lines.append(f"  split for DDP into {len(c.ddp_buckets)} graphs, one per gradient bucket "
                     f"(parameters per bucket: {sizes}); each bucket's all-reduce overlaps the rest of backward")
    if c.break_message:
        lines.extend(_indent(c.break_message, "  "))
    if c.eager_reason:
        lines.append("  runs eagerly because:" if c.eager_reason.startswith("graph break") else
                     f"  runs eagerly because {c.eager_reason.splitlines()[0]}")
        if c.eager_reason.startswith("graph break"):
            lines.extend(_indent(c.eager_reason, "    "))
        else:
            lines.extend(_indent("\n".join(c.eager_reason.splitlines()[1:]), "    "))
            text = linecache.getline(c.break_file, c.break_line).strip() if c.break_file and c.break_line else ""
            if text:
                lines.append(f"      {text}")
    lines.append(f"  guards ({len(c.guards)}):")
    width = min(max((len(expr) for expr, _ in c.guards), default=0), 64)
    lines.extend(f"    {expr.ljust(width)}  # {why}" for expr, why in c.guards)
    return lines


def render_text(title: str, captures: list[Capture]) -> str:
    lines = [title, summary(captures)]
    for n, c in enumerate(captures, 1):
        lines.append("")
        lines.extend(render_capture(n, c))
    return "\n".join(lines)


@dataclasses.dataclass
class ExplainOutput:
    """What ``bytegraph.explain`` returns; ``str()`` of it is the report."""

    name: str
    captures: list[Capture]
    entries: list[CacheEntry] = dataclasses.field(default_factory=list, repr=False)   # of the explained call
    exception: BaseException | None = None      # what the explained call raised (the program's own error)

    @property
    def graphs(self) -> list[torch.fx.GraphModule]:
        return [e.graph for e in self.entries if e.graph is not None]

    @property
    def graph_count(self) -> int:
        return sum(c.graph_code is not None for c in self.captures)

    @property
    def breaks(self) -> list[str]:
        """Every graph break, rendered from the catalog (resumed or run eagerly)."""
        return [c.break_message or c.eager_reason or "" for c in self.captures if c.break_id is not None]

    @property
    def eager_reasons(self) -> list[str]:
        return [c.eager_reason for c in self.captures if c.eager_reason is not None]

    @property
    def recompile_reasons(self) -> list[str]:
        return [f"{c.function}: {c.recompile_reason}" for c in self.captures if c.recompile_reason]

    def op_count(self) -> int:
        return sum(c.op_count for c in self.captures)

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
        text = render_text(f"bytegraph explain: {self.name}", self.captures)
        if self.exception is not None:
            text += f"\n\nthe call raised {type(self.exception).__name__}: {self.exception}"
        return text


def explain(fn: Any, *args: Any, **kwargs: Any) -> ExplainOutput:
    """Compile ``fn`` (a function, method, callable object or ``nn.Module``) with the eager
    backend, call it once with these arguments, and explain every capture that call made:
    the function's own, its resume functions' and those of callees that broke inside.

    An exception raised by the program itself does not propagate: the output says so (last
    line) and keeps it in ``.exception``, since explaining such a call is the point."""
    from ..api import compile

    compiled = compile(fn, backend="eager")
    entries: list[CacheEntry] = []
    raised = None
    with recording(entries) as captures:
        try:
            compiled(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the program's own error: explained, kept in .exception
            raised = e
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return ExplainOutput(name, captures, entries, raised)
