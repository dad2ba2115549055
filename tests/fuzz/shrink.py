"""Minimise a failing program: cut it down while it still fails the same way.

Edits, tried in this order on every pass until none applies (each accepted edit is kept and
the pass goes on from where it was):

    1. drop a call (from the last), or one statement of a call's mutation
    2. delete a statement of ``f`` (top level first, from the end), or of the prelude
    3. replace a compound statement (if/for/while/try/with/def) by one of its bodies
    4. replace a simple statement by its simpler alternative (``t3 = x`` for ``t3 = m(x) * 2``)
    5. drop a returned expression
    6. replace a sub-expression by one of its operands (a call by an argument or by the object
       a method is called on, ``a + b`` by ``a`` or ``b``, ``a if c else b`` by ``a`` or ``b``)

A candidate that does not compile is skipped; "the same way" is ``Outcome.signature()`` plus,
for a mismatch, the part of the observation that differs (result, state, stdout...).
Statements tagged ``keep`` (a loop counter's increment) are never deleted: without them a
loop would not end.
"""

from __future__ import annotations

import ast
import time
from typing import Callable, Iterator

from .program import Node, Program, is_valid
from .runner import Outcome, run_program

Path = tuple  # ("body"|"prelude", i, (block, i), (block, i), ...)


def failure_key(outcome: Outcome) -> str:
    if outcome.status == "mismatch":
        return "mismatch " + outcome.detail.split("/", 2)[1] if "/" in outcome.detail else "mismatch"
    return outcome.signature()


def _container(prog: Program, path: Path) -> list[Node]:
    """The list of statements that holds the statement at ``path``."""
    cur = prog.body if path[0] == "body" else prog.prelude
    idx = path[1]
    for block, i in path[2:]:
        cur, idx = cur[idx].blocks[block].body, i
    return cur


def _all_paths(prog: Program, section: str) -> list[Path]:
    out: list[Path] = []

    def walk(nodes: list[Node], make: Callable[[int], Path]) -> None:
        for i in reversed(range(len(nodes))):
            path = make(i)
            out.append(path)
            for b, block in enumerate(nodes[i].blocks):
                walk(block.body, lambda j, path=path, b=b: (*path, (b, j)))

    walk(prog.body if section == "body" else prog.prelude, lambda i: (section, i))
    return out


def _node(prog: Program, path: Path) -> Node:
    return _container(prog, path)[path[-1] if len(path) == 2 else path[-1][1]]


def _index(path: Path) -> int:
    return path[1] if len(path) == 2 else path[-1][1]


def _edits(prog: Program) -> Iterator[tuple[str, Callable[[Program], None]]]:
    for c in reversed(range(1, len(prog.calls))):
        yield f"drop call {c}", lambda p, c=c: p.calls.pop(c)
    for c, call in enumerate(prog.calls):
        for s in reversed(range(len(call))):
            yield f"drop mutation {c}.{s}", lambda p, c=c, s=s: p.calls[c].pop(s)
    for section in ("body", "prelude"):
        for path in _all_paths(prog, section):
            node = _node(prog, path)
            if "keep" not in node.tags:
                yield f"delete {path}", lambda p, path=path: _container(p, path).pop(_index(path))
    for path in _all_paths(prog, "body"):
        node = _node(prog, path)
        for b in range(len(node.blocks)):
            yield f"flatten {path} block {b}", lambda p, path=path, b=b: _flatten(p, path, b)
        for alt in node.alts:
            yield f"simplify {path}", lambda p, path=path, alt=alt: _replace(p, path, alt)
    for r in reversed(range(len(prog.ret))):
        yield f"drop return {r}", lambda p, r=r: p.ret.pop(r)
    for path in _all_paths(prog, "body"):
        node = _node(prog, path)
        if not node.blocks:
            for text in smaller_expressions(node.head):
                yield f"reduce {path}", lambda p, path=path, text=text: _replace(p, path, text)
    for r, ret in enumerate(prog.ret):
        for text in smaller_expressions(ret):
            yield f"reduce return {r}", lambda p, r=r, text=text: p.ret.__setitem__(r, text)


_MODULES = {"torch", "nn", "operator", "functools", "contextlib", "logging", "warnings", "zlib"}


def _operands(node: ast.expr) -> list[ast.expr]:
    """Smaller expressions that could stand for ``node``."""
    match node:
        case ast.Call(func=ast.Attribute(value=obj), args=args):
            is_module = isinstance(obj, ast.Name) and obj.id in _MODULES or isinstance(obj, ast.Attribute)
            return list(args) if is_module else [*args, obj]
        case ast.Call(args=args):
            return list(args)
        case ast.BinOp(left=left, right=right):
            return [left, right]
        case ast.IfExp(body=body, orelse=orelse):
            return [body, orelse]
        case ast.UnaryOp(operand=operand):
            return [operand]
        case ast.BoolOp(values=values):
            return list(values)
        case ast.Subscript(value=value):
            return [value]
    return []


def smaller_expressions(text: str) -> list[str]:
    """``text`` with one sub-expression replaced by one of its operands, each way it can be."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    out: list[str] = []
    count = sum(1 for n in ast.walk(tree) if isinstance(n, ast.expr))
    for i in range(count):
        original = [n for n in ast.walk(tree) if isinstance(n, ast.expr)][i]
        for j in range(len(_operands(original))):
            copy = ast.parse(text)
            target = [n for n in ast.walk(copy) if isinstance(n, ast.expr)][i]
            replacement = _operands(target)[j]
            for parent in ast.walk(copy):
                for field, value in ast.iter_fields(parent):
                    if value is target:
                        setattr(parent, field, replacement)
                    elif isinstance(value, list) and any(v is target for v in value):
                        value[[k for k, v in enumerate(value) if v is target][0]] = replacement
            new = ast.unparse(copy)
            if new != text and new not in out:
                out.append(new)
    return out


def _flatten(prog: Program, path: Path, block: int) -> None:
    nodes = _container(prog, path)
    i = _index(path)
    nodes[i:i + 1] = nodes[i].blocks[block].body


def _replace(prog: Program, path: Path, text: str) -> None:
    node = _node(prog, path)
    node.head, node.alts = text, ()


def shrink(prog: Program, run: Callable[[Program], Outcome], budget_s: float = 600,
           log: Callable[[str], None] = lambda s: None) -> tuple[Program, Outcome]:
    """The smallest program found within ``budget_s`` that fails like ``prog`` does."""
    first = run(prog)
    key = failure_key(first)
    best, best_outcome = prog, first
    deadline = time.monotonic() + budget_s
    progress = True
    while progress and time.monotonic() < deadline:
        progress, start = False, 0
        while time.monotonic() < deadline:
            edits = list(_edits(best))[start:]
            for offset, (name, edit) in enumerate(edits):
                if time.monotonic() > deadline:
                    break
                candidate = best.copy()
                edit(candidate)
                if not is_valid(candidate.source()):
                    continue
                outcome = run(candidate)
                if failure_key(outcome) == key:
                    best, best_outcome, progress = candidate, outcome, True
                    log(f"  {name}: size {best.size()}")
                    start += offset          # the edits before this one failed; go on from here
                    break
            else:
                break
    return best, best_outcome


def runner_for(backend: str, seed: int, strides: bool = True, timeout_s: float = 60) -> Callable[[Program], Outcome]:
    return lambda p: run_program(p.source(), p.call_sources(), backend=backend, seed=seed, strides=strides,
                                 timeout_s=timeout_s)
