"""Building blocks of generated guard functions: the namespace, expressions with shared bases,
and the parameter list.

An ``Emitter`` collects the body lines of one generated function. Every source is written as
a Python expression over the function's parameters and namespace; a base shared by two or
more of the sources the function reads is read once into a temporary (``___t3 = x._modules``)
the first time a line needs it. ``render`` may replace a source by an expression of its own
(a value kept by a state snapshot, a class), which then also stops the walk down its chain.
A condition already emitted is not emitted twice.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any, Callable, Iterable

from ..sources import DerivedSource, LocalSource, ModuleGlobalsSource, RootBuiltinsSource, Source, guard_name


BOUND_ONCE = (ModuleGlobalsSource, RootBuiltinsSource)     # roots bound in the namespace, not read per call


class Namespace:
    """A generated function's globals: helper objects under stable ``___`` names."""

    def __init__(self, initial: dict[str, Any]) -> None:
        self.values: dict[str, Any] = dict(initial)
        self._by_id: dict[int, str] = {}
        self._counts: dict[str, int] = {}

    def name(self, obj: Any, hint: str) -> str:
        if id(obj) in self._by_id:
            return self._by_id[id(obj)]
        n = self._counts.get(hint, 0)
        self._counts[hint] = n + 1
        name = f"___{hint}{n}"
        self.values[name] = obj
        self._by_id[id(obj)] = name
        return name


class Emitter:
    def __init__(self, ns: Namespace, render: Callable[[Source], str | None] | None = None,
                 temp_prefix: str = "___t") -> None:
        self.ns = ns
        self.temp_prefix = temp_prefix
        self.lines: list[str] = []
        self.temps: dict[str, str] = {}          # by the expression a temporary holds
        self._emitted: set[str] = set()
        self.set_render(render)

    def set_render(self, render: Callable[[Source], str | None] | None) -> None:
        """Replace sources by ``render``'s expressions from here on (temporaries made so far stay)."""
        self.render = render or (lambda s: None)
        self.hoist: set[str] = set()
        self._keys: dict[Source, str] = {}

    def key(self, s: Source) -> str:
        """``s`` as an expression without temporaries: two sources written the same way (the same
        class reached from two instances) are one value, read once and checked once."""
        k = self._keys.get(s)
        if k is None:
            special = self.render(s)
            if special is not None:
                k = special
            elif isinstance(s, ModuleGlobalsSource):          # a module's globals dict: bound once, here
                k = self.ns.name(sys.modules[s.module].__dict__, "module_globals")
            elif isinstance(s, RootBuiltinsSource):           # read-only on the function: bound once too
                k = self.ns.name(self.ns.values["___fn"].__builtins__, "builtins")
            else:
                k = s.wrap(self.key(s.of)) if isinstance(s, DerivedSource) else s.guard_expr()
            self._keys[s] = k
        return k

    def chain(self, s: Source) -> list[Source]:
        """``s`` and its bases, root first, down to the first one ``render`` replaces."""
        out = [s]
        while isinstance(s, DerivedSource) and self.render(s) is None:
            s = s.of
            out.append(s)
        return out[::-1]

    def share(self, groups: Iterable[Iterable[Source]]) -> None:
        """Decide the temporaries: a base read by two or more groups (a group: the sources of
        one line) is hoisted; roots that are parameters are read in place."""
        uses: dict[str, int] = {}
        for group in groups:
            for k in {self.key(c) for src in group for c in self.chain(src) if not isinstance(c, LocalSource)}:
                uses[k] = uses.get(k, 0) + 1
        self.hoist = {k for k, n in uses.items() if n >= 2}

    def expr(self, s: Source) -> str:
        k = self.key(s)
        if k in self.temps:
            return self.temps[k]
        if self.render(s) is not None or isinstance(s, BOUND_ONCE) or not isinstance(s, DerivedSource):
            return k
        return s.wrap(self.expr(s.of))

    def materialize(self, srcs: Iterable[Source]) -> None:
        for src in srcs:
            for s in self.chain(src):
                k = self.key(s) if not isinstance(s, LocalSource) else None
                if k in self.hoist and k not in self.temps:
                    value = self.expr(s)
                    self.temps[k] = f"{self.temp_prefix}{len(self.temps)}"
                    self.lines.append(f"{self.temps[k]} = {value}")

    def check(self, cond: str) -> None:
        if cond not in self._emitted:
            self._emitted.add(cond)
            self.lines.append(f"if not ({cond}): return False")

    def function(self, name: str, params: str, last: str, filename: str, globals_: dict[str, Any]) -> tuple[Any, str]:
        """``def name(params)``: the lines then ``last`` in one try block; any exception -> False."""
        body = "\n".join("        " + ln for ln in [*self.lines, last])
        src = f"def {name}({params}):\n    try:\n{body}\n    except Exception:\n        return False\n"
        exec(compile(src, filename, "exec"), globals_)
        return globals_.pop(name), src


def signature_source(code: types.CodeType) -> str:
    """The parameter list of ``code`` as source text (names and kinds; defaults are set after)."""
    names = [guard_name(v) for v in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount + 2]]
    n, k, po = code.co_argcount, code.co_kwonlyargcount, code.co_posonlyargcount
    parts = list(names[:n])
    if po:
        parts.insert(po, "/")
    i = n + k
    if code.co_flags & inspect.CO_VARARGS:
        parts.append("*" + names[i])
        i += 1
    elif k:
        parts.append("*")
    parts.extend(names[n:n + k])
    if code.co_flags & inspect.CO_VARKEYWORDS:
        parts.append("**" + names[i])
    return ", ".join(parts)


def call_source(code: types.CodeType) -> str:
    """Arguments that pass a function's parameters on, bound as they are, to another function
    with the same signature (``a, b, *args, k=k, **kwargs``)."""
    names = [guard_name(v) for v in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount + 2]]
    n, k = code.co_argcount, code.co_kwonlyargcount
    parts = list(names[:n])
    i = n + k
    if code.co_flags & inspect.CO_VARARGS:
        parts.append("*" + names[i])
        i += 1
    parts.extend(f"{name}={name}" for name in names[n:n + k])
    if code.co_flags & inspect.CO_VARKEYWORDS:
        parts.append("**" + names[i])
    return ", ".join(parts)
