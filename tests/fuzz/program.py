"""The program model of the fuzzer: a tree of statements that renders to Python source.

A ``Program`` is what the generator makes, the runner runs and the shrinker cuts down:

    prelude   module-level statements (imports, globals, the Box class, the logger, ``ARGS``)
    body      the statements of ``def f(x, y, n, flag, lst, d, m, obj)``
    ret       the expressions ``f`` returns (as one tuple)
    calls     one list of mutation statements per call of ``f``, run in the module's
              namespace before that call (the first call's list is usually empty)

A ``Node`` is a simple statement (``head`` only) or a compound one (``head`` ends in ``:``
and ``blocks`` hold the bodies, each after an optional clause line such as ``else:``).
``alts`` are simpler statements that may replace a simple one while shrinking. A node's
``tags`` name the constructs it uses (``global:NAME`` makes ``f`` declare ``NAME`` global).

Programs are stored as *finding files* (``tests/fuzz/findings/*.py``): a docstring with
what went wrong, ``PROGRAM`` (the module source) and ``CALLS`` (mutation code per call);
``to_finding``/``load_finding`` write and read them.
"""

from __future__ import annotations

import ast
import dataclasses
import pathlib
from typing import Iterator

INDENT = "    "
PARAMS = "x, y, n, flag, lst, d, m, obj"


@dataclasses.dataclass
class Block:
    clause: str | None                      # None: the body right under the head; else "else:", "finally:", ...
    body: list["Node"]


@dataclasses.dataclass
class Node:
    head: str                               # a simple statement, or a compound header ending in ":"
    blocks: list[Block] = dataclasses.field(default_factory=list)
    alts: tuple[str, ...] = ()              # simpler replacements (shrinking)
    tags: frozenset[str] = frozenset()      # constructs used ("global:G_COUNT", "break", flag names)

    def render(self, depth: int) -> list[str]:
        pad = INDENT * depth
        lines = [pad + line for line in self.head.split("\n")]
        for block in self.blocks:
            if block.clause is not None:
                lines.append(pad + block.clause)
            body = [line for node in block.body for line in node.render(depth + 1)]
            lines.extend(body or [pad + INDENT + "pass"])
        return lines

    def walk(self) -> Iterator["Node"]:
        yield self
        for block in self.blocks:
            for node in block.body:
                yield from node.walk()

    def copy(self) -> "Node":
        return Node(self.head, [Block(b.clause, [n.copy() for n in b.body]) for b in self.blocks], self.alts, self.tags)


@dataclasses.dataclass
class Program:
    seed: int
    prelude: list[Node]
    body: list[Node]
    ret: list[str]
    calls: list[list[str]]
    flags: frozenset[str] = frozenset()

    def source(self) -> str:
        lines = [line for node in self.prelude for line in node.render(0)]
        lines += ["", "", f"def f({PARAMS}):"]
        tags = {t for node in self.body for t in _own_tags(node)}
        declared = sorted(t.split(":", 1)[1] for t in tags if t.startswith("global:"))
        if declared:
            lines.append(INDENT + "global " + ", ".join(declared))
        lines += [line for node in self.body for line in node.render(1)]
        lines.append(INDENT + "return (" + "".join(r + ", " for r in self.ret) + ")")
        return "\n".join(lines) + "\n"

    def call_sources(self) -> list[str]:
        return ["\n".join(call) for call in self.calls]

    def copy(self) -> "Program":
        return Program(self.seed, [n.copy() for n in self.prelude], [n.copy() for n in self.body], list(self.ret),
                       [list(c) for c in self.calls], self.flags)

    def size(self) -> int:
        return sum(1 for top in (*self.prelude, *self.body) for _ in top.walk()) + len(self.ret) + \
            sum(len(c) for c in self.calls)

    def tags(self) -> set[str]:
        return {t for top in (*self.prelude, *self.body) for node in top.walk() for t in node.tags}


def _own_tags(node: Node) -> Iterator[str]:
    """Tags of ``node`` and the nodes under it, but not inside nested ``def``s (their own scope)."""
    yield from node.tags
    if node.head.startswith(("def ", "lambda")):
        return
    for block in node.blocks:
        for child in block.body:
            yield from _own_tags(child)


def is_valid(source: str) -> bool:
    try:
        compile(source, "<fuzz>", "exec")
        return True
    except SyntaxError:
        return False


# -- finding files -------------------------------------------------------------------------

def to_finding(source: str, calls: list[str], header: str) -> str:
    """The text of a finding file: a docstring (``header``), ``PROGRAM`` and ``CALLS``; run it
    with ``python -m tests.fuzz --replay FILE``."""
    assert "'''" not in source and all("'''" not in c for c in calls)
    call_lines = "".join(f"    {c!r},\n" for c in calls)
    return (f'"""{header.strip()}\n\nReplay: python -m tests.fuzz --replay {{this file}}\n"""\n\n'
            f"PROGRAM = r'''\n{source}'''\n\nCALLS = [\n{call_lines}]\n")


@dataclasses.dataclass
class Finding:
    path: pathlib.Path
    doc: str
    source: str
    calls: list[str]

    def field(self, name: str) -> str | None:
        """A ``name: value`` line of the docstring."""
        for line in self.doc.splitlines():
            if line.strip().startswith(name + ":"):
                return line.split(":", 1)[1].strip()
        return None


def load_finding(path: pathlib.Path) -> Finding:
    tree = ast.parse(path.read_text())
    values = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            values[stmt.targets[0].id] = ast.literal_eval(stmt.value)
    source = values["PROGRAM"].lstrip("\n")
    return Finding(path, ast.get_docstring(tree) or "", source, list(values["CALLS"]))
