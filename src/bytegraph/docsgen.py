"""Reference pages generated from the code (layer 6): graph breaks, builder rules, opcodes.

Owns the rendering of three Markdown pages and writing them to a folder:

* ``breaks.md``  — every entry of ``diagnostics.breaks.CATALOG`` (id, title, why, fix);
* ``builder.md`` — ``builder.rules.RULES`` in order (what each rule matches, the guards it
  installs, whether it tracks identity, its docstring), and the rows not supported yet;
* ``opcodes.md`` — every opcode of each supported Python version (3.11, 3.12, 3.13): its
  handler, or the reason it is unsupported (the same page from whichever version renders it).

Does not own the data: the catalog, the rule list and the handler registry are the
specification, these pages only print them. ``python -m bytegraph docs`` (``make docs``)
regenerates ``docs/``.

Invariants: the output depends only on the code (no dates, paths, object addresses or
environment), so ``tests/meta/test_break_catalog.py`` can compare the committed pages
with a fresh render and the docs cannot drift from the code.
"""

from __future__ import annotations

import ast
import functools
import inspect
import pathlib
from typing import Any, Callable

from .builder.rules import RULES, WrapRule
from .diagnostics import breaks
from .diagnostics.breaks import CATALOG, BreakKind
from .interpreter import registry
from .interpreter.opcodes import OPCODES
from .sources import BackwardStateSource, FloatTensorSource
from .variables.functorch import TRANSFORMED_CODE
from .variables.higher_order import ATTRIBUTE_ROWS, HIGHER_ORDER
from .variables.native import NATIVE_MODULES

REGENERATE = "python -m bytegraph docs"

# Rows of the builder feature table that have no rule yet, with why.
NOT_YET_SUPPORTED: tuple[tuple[str, str, str], ...] = (
    ("CUDA streams and events",
     "`torch.cuda.Stream`, `torch.cuda.Event`, `torch.cuda.stream(...)`, `current_stream()`",
     "GPU only, and not yet verified on a GPU: the calls are graph breaks, so the work around them runs "
     "natively in program order (never reordered); recording them as graph nodes is not done."),
    ("Higher-order ops not captured yet",
     "`torch.func.vjp`, `torch.func.linearize`, `torch.autograd.functional.*`, forward AD, `scan`, `map`, "
     "`associative_scan`, selective checkpointing (`context_fn`), reentrant checkpoint of inputs without grad, "
     "autograd.Function `ctx.mark_dirty` / `save_for_forward`",
     "They run natively (GB019) between two graphs: vjp and linearize return functions holding an autograd "
     "graph, the others have no rule yet."),
    ("Triton's experimental TMA descriptors",
     "`triton.tools.experimental_descriptor.create_1d_tma_descriptor` / `create_2d_tma_descriptor`",
     "Removed from Triton (3.9 has only `TensorDescriptor`, which the rule \"triton tensor descriptor\" "
     "takes); a kernel launched with one breaks."),
)


def _header(title: str, what: str) -> list[str]:
    return [f"# {title}", "",
            f"> Generated from {what} by `bytegraph.docsgen`; do not edit by hand.",
            f"> Regenerate with `{REGENERATE}`.", ""]


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _join(lines: list[str]) -> str:
    return "\n".join(lines).rstrip("\n") + "\n"


# -- breaks.md -----------------------------------------------------------------------------

def _break_names() -> dict[str, str]:
    """Catalog id -> the constant that names it in ``diagnostics.breaks`` (``UNSUPPORTED_OPCODE``)."""
    return {v.id: k for k, v in vars(breaks).items() if isinstance(v, BreakKind) and CATALOG.get(v.id) is v}


def render_breaks() -> str:
    names = _break_names()
    kinds = sorted(CATALOG.values(), key=lambda k: k.id)
    lines = _header("Graph breaks", "`bytegraph.diagnostics.breaks.CATALOG`")
    lines += ["Every reason capture can stop, with a stable id. A break message names the id, where in your "
              "code it happened, why, and how to fix it. Ids are never renumbered.", "",
              "| id | title |", "|---|---|"]
    lines += [f"| [{k.id}](#{k.id.lower()}) | {_cell(k.title)} |" for k in kinds]
    lines.append("")
    for k in kinds:
        lines += [f"## {k.id}", "", f"**{k.title}**", ""]
        if k.id in names:
            lines += [f"Raised as `breaks.{names[k.id]}`.", ""]
        lines += [f"- why: {k.why}", f"- fix: {k.fix}", ""]
        lines += BREAK_DETAILS.get(k.id, lambda: [])()
    return _join(lines)


def _native_rows() -> list[str]:
    lines = ["Code of these modules is never inlined (`variables/native.py`, first match wins); what the "
             "higher-order op rules of [builder.md](builder.md#higher-order-ops) capture never reaches this "
             "table:", "", "| module | inlined? | what |", "|---|---|---|"]
    lines += [f"| `{m}` | {f'no: runs natively ({kind.id})' if kind else 'yes: traced'} | {_cell(why)} |"
              for m, kind, why in NATIVE_MODULES]
    return [*lines, ""]


def _hop_pointer() -> list[str]:
    return ["The ops whose bodies are traced this way are listed in "
            "[builder.md, \"Higher-order ops\"](builder.md#higher-order-ops).", ""]


# break id -> more about it, printed after its why/fix
BREAK_DETAILS: dict[str, Callable[[], list[str]]] = {
    breaks.RUNS_NATIVELY.id: _native_rows,
    breaks.HOP_BODY.id: _hop_pointer,
}


# -- builder.md ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _parsed(filename: str) -> tuple[str, ast.Module] | None:
    try:
        text = pathlib.Path(filename).read_text()
    except OSError:
        return None
    return text, ast.parse(text)


def _lambda_text(fn: Callable[..., Any]) -> str | None:
    """The body of a lambda as written in its source (``isinstance(v, type)``), or None."""
    code = fn.__code__
    parsed = _parsed(code.co_filename)
    if parsed is None:
        return None
    text, tree = parsed
    # Columns of the body's instructions (RESUME and the implicit return sit at 0:0), to tell
    # apart two lambdas on one line.
    spans = [(c, e) for (line, _, c, e) in code.co_positions()
             if line == code.co_firstlineno and c is not None and e is not None and (c, e) != (0, 0)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno and all(
                node.col_offset <= c and e <= (node.end_col_offset or e) for c, e in spans):
            return ast.get_source_segment(text, node.body)
    return None


def describe_match(match: Callable[[Any], bool]) -> str:
    """What a rule's predicate matches, for people: its name and first doc line, or a lambda's body."""
    name = getattr(match, "__name__", repr(match))
    if name == "<lambda>":
        body = _lambda_text(match)
        return f"`{body}`" if body else "a lambda"
    doc = inspect.getdoc(match)
    if doc:
        first_paragraph = doc.split("\n\n")[0]
        return f"`{name}`: {' '.join(first_paragraph.split())}"
    body = _return_text(match)
    return f"`{name}`" + (f": `{body}`" if body else "")


def _return_text(fn: Callable[..., Any]) -> str | None:
    """The expression of a one-line predicate (``def f(v): return <expr>``), as written."""
    code = getattr(fn, "__code__", None)
    parsed = _parsed(code.co_filename) if code is not None else None
    if parsed is None:
        return None
    text, tree = parsed
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == fn.__name__ and node.lineno == code.co_firstlineno:
            if len(node.body) == 1 and isinstance(node.body[0], ast.Return) and node.body[0].value is not None:
                return ast.get_source_segment(text, node.body[0].value)
    return None


def _higher_order_rows() -> list[str]:
    lines = ["## Higher-order ops", "",
             "Callables that take functions, matched by the rule \"higher-order op\" (the table "
             "`variables/higher_order.py` `HIGHER_ORDER`): the functions are traced in a nested scope into "
             "subgraphs (values they use from outside lifted to inputs, guards installed on the frame) and the "
             "call is one node, as torch.compile records it. A body that cannot be one subgraph is a break "
             f"({breaks.HOP_BODY.id}); anything of these families not listed runs natively "
             f"({breaks.RUNS_NATIVELY.id}).",
             "", "| call | node |", "|---|---|"]
    lines += [f"| `{_cell(rule.op)}` | {_cell(rule.node)} |" for rule in HIGHER_ORDER.values()]
    lines += [f"| `{_cell(call)}` | {_cell(node)} |" for call, node in ATTRIBUTE_ROWS]
    lines += ["", "Functions torch.func returned before the call (rule \"torch.func transformed function\"), by "
              "the code of the wrapper torch made:", "", "| wrapper code | transform |", "|---|---|"]
    lines += [f"| `{module}.{qualname}` | `torch.func.{name}` |"
              for (module, qualname), name in TRANSFORMED_CODE.items()]
    return [*lines, ""]


# Graph inputs no rule makes: the transformed code makes them on every call (``Source.new_each_call``).
MADE_INPUTS: tuple[tuple[str, type], ...] = (
    ("a Python float that varies, as a 0-d float64 tensor", FloatTensorSource),
    ("backward state: the hooks a call registered on intermediates (torch.compile's BackwardStateGraphArg)",
     BackwardStateSource),
)


def _made_input_rows() -> list[str]:
    lines = ["## Graph inputs made on every call", "",
             "Inputs no rule above wraps: the transformed code makes them before each graph call (never guarded).",
             "", "| input | source | what it is |", "|---|---|---|"]
    lines += [f"| {_cell(what)} | `{cls.__name__}` | {_cell(inspect.getdoc(cls) or '')} |" for what, cls in MADE_INPUTS]
    return [*lines, ""]


def _guards(rule: WrapRule) -> str:
    return ", ".join(k.name for k in rule.guards) or "none"


def render_builder() -> str:
    lines = _header("VariableBuilder rules", "`bytegraph.builder.rules.RULES`")
    lines += ["`VariableBuilder(tx, source)(value)` wraps a Python value into a tracker with the **first** rule "
              "below that matches it; the order is the specification. Guards are installed on the value's "
              "source (none for values created during tracing). A rule that tracks identity maps one object "
              "to one tracker, so a second source reaching the same object adds a DUPLICATE_INPUT guard.", "",
              "| # | rule | matches | guards | tracks identity |", "|---|---|---|---|---|"]
    for i, rule in enumerate(RULES, 1):
        lines.append(f"| {i} | {_cell(rule.name)} | {_cell(describe_match(rule.match))} | {_guards(rule)} | "
                     f"{'yes' if rule.tracks_identity else 'no'} |")
    lines.append("")
    lines += ["## The rules", ""]
    for i, rule in enumerate(RULES, 1):
        lines += [f"### {i}. {rule.name}", "", f"Built by `{rule.wrap.__name__}`; guards: {_guards(rule)}.", ""]
        doc = inspect.cleandoc(rule.wrap.__doc__ or "")
        lines += [doc or "(no docstring)", ""]
    lines += _higher_order_rows()
    lines += _made_input_rows()
    lines += ["## Not yet supported", "",
              "These have no rule of their own yet; each keeps a row here until it comes.", "",
              "| what | values | why not yet |", "|---|---|---|"]
    lines += [f"| {_cell(a)} | {_cell(b)} | {_cell(c)} |" for a, b, c in NOT_YET_SUPPORTED]
    return _join(lines)


# -- opcodes.md ----------------------------------------------------------------------------

def _handler_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"


def render_opcodes() -> str:
    registry.load_all()
    lines = _header("Opcodes (Python " + ", ".join("%d.%d" % v for v in registry.SUPPORTED_VERSIONS) + ")",
                    "`bytegraph.interpreter.registry` (`HANDLERS`, `UNSUPPORTED`) and "
                    "`bytegraph.interpreter.opcodes`")
    lines += ["Handlers live in `bytegraph/interpreter/handlers/`, named after the opcode; the stack effect "
              "is written `(before -- after)`. A handler that differs between versions is a second handler "
              "registered for the versions it serves (`load_store.load_attr_313`); one that is the same on "
              "every version is registered once. Each version has its own table below.", ""]
    for version in registry.SUPPORTED_VERSIONS:
        lines += _opcode_table(version)
    return _join(lines)


def _opcode_table(version: tuple[int, int]) -> list[str]:
    handlers = registry.HANDLERS[version]
    unsupported = registry.UNSUPPORTED[version]
    ops = sorted(OPCODES[version].items(), key=lambda kv: kv[1])
    n_handled = sum(op in handlers for op, _ in ops)
    n_unsupported = sum(op in unsupported and op not in handlers for op, _ in ops)
    missing = len(ops) - n_handled - n_unsupported
    neither = f", {missing} in neither table" if missing else ""
    lines = [f"## Python {version[0]}.{version[1]}", "",
             f"{len(ops)} opcodes: {n_handled} handled, {n_unsupported} unsupported (a graph break, "
             f"{breaks.UNSUPPORTED_OPCODE.id}, with the reason below){neither}.", "",
             "| opcode | name | status | handler or reason | stack effect |", "|---|---|---|---|---|"]
    for op, num in ops:
        if op in handlers:
            fn = handlers[op]
            effect = (inspect.getdoc(fn) or "").split("\n")[0]
            lines.append(f"| {num} | `{op}` | handled | `{_handler_name(fn)}` | {_cell(effect)} |")
        elif op in unsupported:
            lines.append(f"| {num} | `{op}` | unsupported | {_cell(unsupported[op])} | |")
        else:
            lines.append(f"| {num} | `{op}` | **missing** | in neither table | |")
    return lines + [""]


# -- writing -------------------------------------------------------------------------------

PAGES: dict[str, Callable[[], str]] = {
    "breaks.md": render_breaks,
    "builder.md": render_builder,
    "opcodes.md": render_opcodes,
}


def write_docs(root: pathlib.Path) -> list[pathlib.Path]:
    """Write every page into the folder ``root`` (``docs/`` of the repository, as
    ``python -m bytegraph docs`` passes it) and return the paths written."""
    root = pathlib.Path(root)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, render in PAGES.items():
        path = root / name
        path.write_text(render(), encoding="utf-8", newline="\n")
        paths.append(path)
    return paths
