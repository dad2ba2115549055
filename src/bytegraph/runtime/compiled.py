"""CompiledFunction and CompiledModule: what ``bytegraph.compile`` returns.

The hit path is lock-free: ``entries`` is a tuple replaced as a whole, most recent entry
first, and a call is ``for e in entries: if e.check(*args, **kwargs): return e.fn(...)``.
Misses capture under a lock (two threads missing together compile once).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
import types
import warnings
import weakref
from typing import Any, Callable

import torch

from ..config import config
from ..diagnostics.logs import get_logger
from ..codegen.resume import make_resume_code, make_resume_function, origin_of
from ..backends.registry import float_inputs
from ..graph.shapes import FrameState
from . import events
from .cache import CacheEntry
from .convert import bind_frame, compile_call

log_recompiles = get_logger("recompiles")
_ALL: "weakref.WeakSet[CompiledFunction]" = weakref.WeakSet()


@dataclasses.dataclass
class CompileStats:
    """Counters a test or a user can read: how often this function was captured, and why."""

    captures: int = 0           # cache misses that traced the frame
    graphs: int = 0             # entries that run a captured graph
    eager: int = 0              # entries that run the frame eagerly (unresumable break / user error / internal error)
    recompile_reasons: list[str] = dataclasses.field(default_factory=list)
    eager_reasons: list[str] = dataclasses.field(default_factory=list)
    break_reasons: list[str] = dataclasses.field(default_factory=list)   # graph breaks that resume

    @property
    def recompiles(self) -> int:
        return max(self.captures - 1, 0)


class CompiledFunction:
    # Traced code that calls a compiled function traces the original instead (builder rule
    # "compiled by bytegraph"): one graph, not a frame inside a frame.
    __bytegraph_unwrap__ = "fn"

    def __init__(self, fn: types.FunctionType, backend: Callable, fullgraph: bool = False,
                 dynamic: bool | None = None) -> None:
        self.fn = fn
        self.backend = backend
        self.fullgraph = fullgraph
        self.frame_state = FrameState(dynamic, floats=float_inputs(backend))
        self.origin = origin_of(fn.__code__)
        self.root_fn = fn                               # the user's function (globals, closure)
        self.resumes: dict[Any, CompiledFunction] = {}   # shared by this function and its resume functions
        self.entries: tuple[CacheEntry, ...] = ()
        self.stats = CompileStats()
        self._lock = threading.RLock()
        self._limit_warned = False
        self._defaults, self._kwdefaults = fn.__defaults__, fn.__kwdefaults__     # as the entries have them
        functools.update_wrapper(self, fn)
        _ALL.add(self)
        names = _plain_parameters(fn)
        if names is not None:
            self.__class__ = _positional_dispatcher(names)

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        fn = self.fn
        if fn.__defaults__ is not self._defaults or fn.__kwdefaults__ is not self._kwdefaults:
            self._adopt_defaults()
        for entry in self.entries:
            if entry.check(*args, **kwargs):
                return entry.fn(*args, **kwargs)
        return self._miss(args, kwargs)

    def _step(self, *args: Any) -> Any:
        """One hop of a broken frame (``cache.trampoline``): this resume function's entry, whose
        result may be the next hop; resume functions take positional arguments only."""
        for entry in self.entries:
            if entry.check(*args):
                return entry.step(*args)
        return self._miss(args, {}, step=True)

    def _adopt_defaults(self) -> None:
        """The program reassigned ``fn.__defaults__``: the guard functions and transformed
        functions, which bind the call as ``fn`` does, take the new defaults, so the values are
        guarded (and may become symbolic) like passed arguments, as torch.compile treats them."""
        with self._lock:
            self._defaults, self._kwdefaults = self.fn.__defaults__, self.fn.__kwdefaults__
            for entry in self.entries:
                for f in (entry.check, getattr(entry.fn, "__wrapped__", entry.fn)):
                    if isinstance(f, types.FunctionType) and f is not self.fn:
                        f.__defaults__, f.__kwdefaults__ = self._defaults, self._kwdefaults

    def _miss(self, args: tuple, kwargs: dict[str, Any], step: bool = False) -> Any:
        with self._lock:
            for entry in self.entries:                  # another thread may have just compiled it
                if entry.check(*args, **kwargs):
                    break
            else:
                entry = self._compile(args, kwargs)
        return (entry.step if step else entry.fn)(*args, **kwargs)

    def _compile(self, args: tuple, kwargs: dict[str, Any]) -> CacheEntry:
        if len(self.entries) >= config.recompile_limit:
            if not self._limit_warned:
                self._limit_warned = True
                warnings.warn(f"bytegraph: {self.fn.__qualname__} hit the recompile limit "
                              f"({config.recompile_limit} entries); further new inputs run eagerly. "
                              f"Last reason: {self._why_miss(args, kwargs)}", RuntimeWarning, stacklevel=4)
            return _EagerFallback(self.fn)
        reason = None
        if self.entries:
            reason = self._why_miss(args, kwargs)
            self.stats.recompile_reasons.append(reason)
            log_recompiles.info("recompiling %s: %s", self.fn.__qualname__, reason)
        entry = compile_call(self, args, kwargs)       # (the frame boundary: never raises a bytegraph error)
        self.stats.captures += 1
        if entry.graph is not None:
            self.stats.graphs += 1
        if entry.eager_reason is not None:
            self.stats.eager += 1
            self.stats.eager_reasons.append(entry.eager_reason)
        if entry.break_reason is not None:
            self.stats.break_reasons.append(entry.break_reason)
        self._watch(entry)
        # most recent first; an entry that takes every call goes last, behind those compiled before
        self.entries = (*self.entries, entry) if entry.accepts_all else (entry, *self.entries)
        events.LOG.record(self, entry, reason)
        return entry

    def _why_miss(self, args: tuple, kwargs: dict[str, Any]) -> str:
        try:
            frame_locals = bind_frame(self.fn, args, kwargs)
            return self.entries[0].guards.failure(frame_locals) or "no guard failed (a concurrent compile?)"
        except Exception as e:   # noqa: BLE001 - (a bad call raises again, as CPython's TypeError, in compile_call)
            return f"unknown (explaining the miss failed: {type(e).__name__}: {e})"

    def _watch(self, entry: CacheEntry) -> None:
        """Drop ``entry`` when an object it guards by identity dies (its id may be reused)."""
        me = weakref.ref(self)

        def invalidate(_: Any, entry: CacheEntry = entry) -> None:
            owner = me()
            if owner is not None:
                owner.entries = tuple(e for e in owner.entries if e is not entry)

        live = []
        for ref in entry.watchers:
            obj = ref()
            if obj is not None:
                live.append(weakref.ref(obj, invalidate))
        entry.watchers = live

    def resume_function(self, orig: types.CodeType, target: int, nulls: tuple[bool, ...], nouts: int,
                        local_names: tuple[str, ...], exc_slots: tuple[int, ...] = (),
                        reenter: tuple[int, ...] = ()) -> "CompiledFunction":
        """The compiled resume function that continues ``orig`` at instruction ``target`` with this
        stack layout and these live locals; shared with (and reused by) the resume functions
        themselves, so a break inside a loop re-enters the same one."""
        key = (orig, target, nulls, nouts, local_names, exc_slots, reenter)
        resume = self.resumes.get(key)
        if resume is None:
            code = make_resume_code(orig, target, nulls, nouts, local_names, exc_slots, reenter)
            root = self.root_fn
            resume = CompiledFunction(make_resume_function(root, code), self.backend, False, self.frame_state.dynamic)
            resume.resumes = self.resumes
            resume.root_fn = root
            self.resumes[key] = resume
        return resume

    @property
    def stats_all(self) -> list["CompileStats"]:
        """This function's stats, then each resume function's that has run (a handler's resume
        function exists from the break on, but runs only if the native instruction raises)."""
        return [self.stats, *(r.stats for r in self.resumes.values() if r.stats.captures)]

    def reset(self) -> None:
        """Forget every capture, this function's and its resume functions'."""
        with self._lock:
            self.resumes.clear()
            self.entries = ()
            self.stats = CompileStats()
            self.frame_state = FrameState(self.frame_state.dynamic, floats=self.frame_state.floats)
            self._limit_warned = False

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        """A compiled function stored on a class binds like a function."""
        return self if obj is None else types.MethodType(self, obj)

    def __repr__(self) -> str:
        return f"<bytegraph compiled {self.fn.__qualname__}: {len(self.entries)} cache entries>"


def _plain_parameters(fn: types.FunctionType) -> tuple[str, ...] | None:
    """The parameter names if they are all plain: no defaults, ``*`` or ``**``, keyword-only
    or non-identifier names."""
    code = fn.__code__
    names = code.co_varnames[:code.co_argcount]
    plain = not (code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)) and not code.co_kwonlyargcount \
        and not fn.__defaults__ and all(n.isidentifier() and not n.startswith("___bg") for n in names)
    return names if plain and code.co_argcount <= 16 else None


_MISSING = object()


@functools.lru_cache(maxsize=None)
def _positional_dispatcher(names: tuple[str, ...]) -> type:
    """A CompiledFunction subclass whose ``__call__`` takes the arguments by position and
    passes them on by name: no ``*args`` tuple is built or unpacked on the hit path (about
    1 µs saved on an 8-argument call). Any other call (keywords, too few or too many
    arguments, defaults set later) takes the generic ``CompiledFunction.__call__``, which binds
    as CPython does and raises its TypeError with its message."""
    args = ", ".join(names)
    params = ", ".join([*(f"{n}=___bg_missing" for n in names), *(["/"] if names else []),
                        "*___bg_more", "**___bg_kw"])
    unusual = " or ".join(["___bg_more", "___bg_kw", *([f"{names[-1]} is ___bg_missing"] if names else [])])
    src = (f"def __call__(___bg_self, {params}):\n"
           f"    if {unusual}:\n"
           f"        return ___bg_generic(___bg_self, *[a for a in ({args}{',' if len(names) == 1 else ''}) "
           f"if a is not ___bg_missing], *___bg_more, **___bg_kw)\n"
           f"    for ___bg_entry in ___bg_self.entries:\n"
           f"        if ___bg_entry.check({args}):\n"
           f"            return ___bg_entry.fn({args})\n"
           f"    return ___bg_self._miss(({args}{',' if len(names) == 1 else ''}), {{}})\n")
    namespace: dict[str, Any] = {"___bg_missing": _MISSING, "___bg_generic": CompiledFunction.__call__}
    exec(compile(src, f"<bytegraph dispatch/{len(names)}>", "exec"), namespace)
    return type(f"CompiledFunction{len(names)}", (CompiledFunction,), {"__call__": namespace["__call__"]})


class _EagerFallback:
    """Not cached: past the recompile limit a call simply runs the original function."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.step = fn            # (a resume function past the limit: one hop that returns the result)


class CompiledModule(torch.nn.Module):
    """An nn.Module whose call is compiled; parameters and buffers are the original's.

    Like torch.compile's OptimizedModule, the original is registered as ``_orig_mod`` (so
    ``parameters()`` and ``state_dict()`` see it) and unknown attributes are forwarded to it.
    The compiled frame is ``call_module(mod, *args, **kwargs)``, whose one line calls the
    module: so the root module is called exactly like a submodule (hooks guarded, or traced
    when present)."""

    __bytegraph_unwrap__ = "_bytegraph_orig"

    def __init__(self, mod: torch.nn.Module, backend: Callable, fullgraph: bool = False,
                 dynamic: bool | None = None) -> None:
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_bytegraph_orig", mod)
        object.__setattr__(self, "_bytegraph", CompiledFunction(call_module, backend, fullgraph, dynamic))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks or self._backward_pre_hooks:
            # hooks on the compiled module itself (FSDP's, when a compiled block is sharded; a
            # user's): Module.__call__ runs them around forward, as for any module
            return torch.nn.Module.__call__(self, *args, **kwargs)
        # CompiledFunction.__call__ inlined with the module prepended: one argument
        # repacking fewer on every call of a compiled model.
        mod = self._bytegraph_orig
        for entry in self._bytegraph.entries:
            if entry.check(mod, *args, **kwargs):
                return entry.fn(mod, *args, **kwargs)
        return self._bytegraph._miss((mod, *args), kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._bytegraph(self._bytegraph_orig, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._bytegraph_orig, name)

    @property
    def stats(self) -> CompileStats:
        return self._bytegraph.stats

    @property
    def stats_all(self) -> list[CompileStats]:
        return self._bytegraph.stats_all

    @property
    def entries(self) -> tuple[CacheEntry, ...]:
        return self._bytegraph.entries

    def reset(self) -> None:
        self._bytegraph.reset()


class CompiledDDP(CompiledModule):
    """``bytegraph.compile(DDP(model))``: DDP's own forward runs natively (bucket rebuilding, the
    reducer's hooks, its logging) and its call of the wrapped module is compiled; the graph is
    split at DDP's gradient buckets (runtime/ddp.py). ``entries``/``stats`` are the wrapped
    module's captures."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks or self._backward_pre_hooks:
            return torch.nn.Module.__call__(self, *args, **kwargs)
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        ddp = self._bytegraph_orig
        state = ddp.__dict__
        state["_run_ddp_forward"] = self._run_ddp_forward       # for this call only: DDP calls us
        try:
            return ddp(*args, **kwargs)
        finally:
            del state["_run_ddp_forward"]

    def _run_ddp_forward(self, *inputs: Any, **kwargs: Any) -> Any:
        ddp = self._bytegraph_orig
        if getattr(ddp, "_use_python_reducer", False):
            return self._bytegraph(ddp.module, *inputs, **kwargs)
        with ddp._inside_ddp_forward():                            # (what DDP's own method does)
            return self._bytegraph(ddp.module, *inputs, **kwargs)


def call_module(module, *args, **kwargs):  # type: ignore[no-untyped-def]
    """The root frame of a compiled module."""
    return module(*args, **kwargs)


def reset_all() -> None:
    for cf in list(_ALL):
        cf.reset()
