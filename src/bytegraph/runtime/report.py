"""``python -m bytegraph report SCRIPT.py [args]``: run a script with every capture recorded,
and write one self-contained HTML page about it (``explain SCRIPT.py`` prints it as text).

The page has no external resources and no script: inline CSS, ``<details>`` for the long
parts. It shows the totals, a timeline (one lane per compiled function, a bar per capture
placed by its start and sized by its duration, coloured by outcome, recompiles outlined
and their reasons listed), then each capture: function, file:line, outcome, capture time,
recompile reason, the graph break with the user's source around the break line, the graph
code with its op count, the guards (readable Python and the reason each exists) and the
generated guard function.

Running the script is ``runpy.run_path(..., run_name="__main__")`` with ``sys.argv`` and
``sys.path[0]`` set as ``python SCRIPT.py args`` would; an exception or ``sys.exit`` in the
script is recorded and the report is still written.
"""

from __future__ import annotations

import dataclasses
import html
import linecache
import os
import pathlib
import runpy
import sys
import time
import traceback
from typing import Sequence

from .explain import Capture, recording, render_text, summary

OUTCOME_CLASS = {"graph": "graph", "graph + break": "break", "break": "breaknograph", "eager": "eager",
                 "no graph": "nograph"}
COLOURS = {"graph": "#2e7d32", "break": "#ef6c00", "breaknograph": "#f9a825", "eager": "#c62828", "nograph": "#78909c"}


@dataclasses.dataclass
class ScriptRun:
    script: str
    argv: list[str]
    captures: list[Capture]
    seconds: float                  # the script's wall time
    exit_status: int
    error: str | None               # the traceback, if the script raised

    @property
    def command(self) -> str:
        return " ".join(["python", *self.argv])


def run_script(script: str | os.PathLike, args: Sequence[str] = ()) -> ScriptRun:
    """Run ``script`` as ``__main__`` (as ``python script args`` would) with captures recorded."""
    path = os.path.abspath(script)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such script: {script}")
    argv = [str(script), *args]
    saved_argv, saved_path0 = sys.argv, sys.path[0] if sys.path else None
    sys.argv = argv
    if sys.path:
        sys.path[0] = os.path.dirname(path)
    else:
        sys.path.append(os.path.dirname(path))
    status, error = 0, None
    t0 = time.perf_counter()
    try:
        with recording() as captures:
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as e:
                status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except Exception:   # noqa: BLE001 - the report says how the script ended
                status, error = 1, traceback.format_exc()
    finally:
        sys.argv = saved_argv
        if saved_path0 is not None:
            sys.path[0] = saved_path0
    return ScriptRun(str(script), argv, captures, time.perf_counter() - t0, status, error)


def explain_text(run: ScriptRun) -> str:
    text = render_text(f"bytegraph explain: {run.command}", run.captures)
    ending = f"\n\nthe script exited with status {run.exit_status}" if run.exit_status else ""
    if run.error:
        ending += "\n" + run.error.rstrip()
    return text + ending


# -- HTML ------------------------------------------------------------------------------------
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2433; background: #f4f6f9; }
header { background: #1d2433; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .cmd { font-family: ui-monospace, Menlo, Consolas, monospace; color: #c8d0e0; }
main { padding: 12px 28px 40px; }
.totals { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.total { background: #fff; border-radius: 8px; padding: 10px 16px; box-shadow: 0 1px 2px #0002; min-width: 90px; }
.total b { display: block; font-size: 22px; }
.total span { color: #5a6478; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card { background: #fff; border-radius: 8px; padding: 14px 18px; margin: 14px 0; box-shadow: 0 1px 2px #0002; }
h2 { font-size: 17px; margin: 22px 0 6px; }
.summary { color: #3a4458; }
.timeline { position: relative; }
.lane { display: grid; grid-template-columns: 220px 1fr; align-items: center; border-bottom: 1px solid #e6e9ef; }
.lane .name { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; padding: 6px 8px 6px 0;
              overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.track { position: relative; height: 28px; background: repeating-linear-gradient(90deg, #fafbfc 0 10%, #f1f3f6 10% 20%); }
.bar { position: absolute; top: 5px; height: 18px; border-radius: 3px; min-width: 6px; color: #fff; font-size: 11px;
       text-decoration: none; text-align: center; overflow: hidden; line-height: 18px; }
.bar.recompile { outline: 2px dashed #1d2433; outline-offset: 1px; }
.axis { display: grid; grid-template-columns: 220px 1fr; font-size: 11px; color: #5a6478; }
.axis div:last-child { display: flex; justify-content: space-between; }
.legend { font-size: 12px; color: #3a4458; margin-top: 8px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -2px; margin: 0 4px 0 12px; }
.legend i.recompile { background: #fff; outline: 2px dashed #1d2433; }
.badge { color: #fff; border-radius: 10px; padding: 1px 9px; font-size: 12px; margin-left: 8px; vertical-align: 2px; }
.badge.recompile { background: #1d2433; }
.capture h3 { margin: 0 0 8px; font-size: 16px; font-family: ui-monospace, Menlo, Consolas, monospace; }
table.facts td { padding: 2px 14px 2px 0; vertical-align: top; }
table.facts td:first-child { color: #5a6478; white-space: nowrap; }
pre { background: #f6f8fa; border: 1px solid #e3e7ee; border-radius: 6px; padding: 10px 12px; overflow-x: auto;
      font: 12.5px/1.45 ui-monospace, Menlo, Consolas, monospace; margin: 6px 0; }
pre.message { background: #fff8f0; border-color: #f3c99b; }
pre.message.eager { background: #fff3f3; border-color: #f0b4b4; }
.reason { background: #eef2ff; border-left: 4px solid #3949ab; padding: 6px 10px; margin: 8px 0;
          font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
table.src { border-collapse: collapse; font: 12.5px/1.5 ui-monospace, Menlo, Consolas, monospace; margin: 4px 0 8px;
            width: 100%; background: #f6f8fa; border: 1px solid #e3e7ee; }
table.src td { padding: 0 10px; white-space: pre; }
table.src td.n { color: #8a93a6; text-align: right; width: 1%; border-right: 1px solid #e3e7ee; }
table.src tr.hit { background: #ffe2c2; font-weight: 600; }
table.guards { border-collapse: collapse; width: 100%; font-size: 12.5px; }
table.guards td { border-top: 1px solid #eef0f4; padding: 4px 8px; vertical-align: top; }
table.guards td:first-child { font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
table.guards td:last-child { color: #5a6478; width: 34%; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; }
ol.recompiles li { margin: 4px 0; }
ol.recompiles code { background: #eef2ff; padding: 1px 4px; border-radius: 3px; }
.error { background: #fff3f3; border-left: 4px solid #c62828; }
"""


def _css() -> str:
    outcomes = "".join(f".bar.{cls}, .badge.{cls}, .legend i.{cls} {{ background: {colour}; }}\n"
                       for cls, colour in COLOURS.items())
    return CSS + outcomes


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _anchor(n: int) -> str:
    return f"capture-{n}"


def _totals(run: ScriptRun) -> str:
    cs = run.captures
    items = [
        (len(cs), "captures"), (len({(c.function, c.filename) for c in cs}), "functions"),
        (sum(c.graph_code is not None for c in cs), "graphs"), (sum(c.op_count for c in cs), "ops"),
        (sum(c.break_id is not None for c in cs), "graph breaks"),
        (sum(c.outcome == "eager" for c in cs), "run eagerly"),
        (sum(c.index > 0 for c in cs), "recompiles"), (_ms(sum(c.seconds for c in cs)), "capture time"),
        (_ms(run.seconds), "script time"), (run.exit_status, "exit status"),
    ]
    return '<div class="totals">' + "".join(f'<div class="total"><b>{_e(v)}</b><span>{_e(k)}</span></div>'
                                             for v, k in items) + "</div>"


def _timeline(run: ScriptRun) -> str:
    cs = run.captures
    if not cs:
        return '<p class="card">No compiled function ran: nothing was captured.</p>'
    span = max(c.started + c.seconds for c in cs) or 1e-9
    lanes: dict[tuple[str, str], list[tuple[int, Capture]]] = {}
    for n, c in enumerate(cs, 1):
        lanes.setdefault((c.function, c.filename), []).append((n, c))
    rows = []
    for (function, _), items in lanes.items():
        bars = []
        for n, c in items:
            left, width = 100 * c.started / span, 100 * c.seconds / span
            cls = OUTCOME_CLASS[c.outcome] + (" recompile" if c.index else "")
            tip = f"#{n} {c.function}: {c.outcome}, {_ms(c.seconds)}"
            if c.recompile_reason:
                tip += f"\nrecompiled because {c.recompile_reason}"
            label = f"#{n}" + (" &#8635;" if c.index else "")
            bars.append(f'<a class="bar {cls}" href="#{_anchor(n)}" title="{_e(tip)}" '
                        f'style="left:{min(left, 99.4):.3f}%;width:{width:.3f}%">{label}</a>')
        rows.append(f'<div class="lane"><div class="name" title="{_e(function)}">{_e(function)}</div>'
                    f'<div class="track">{"".join(bars)}</div></div>')
    axis = (f'<div class="axis"><div></div><div><span>0 ms</span><span>{_e(_ms(span / 2))}</span>'
            f'<span>{_e(_ms(span))}</span></div></div>')
    keys = "".join(f'<i class="{cls}"></i>{_e(outcome)}' for outcome, cls in OUTCOME_CLASS.items())
    legend = (f'<div class="legend">one bar per capture, placed by start and sized by duration: {keys}'
              '<i class="recompile"></i>recompile &#8635;</div>')
    return f'<div class="card timeline">{"".join(rows)}{axis}{legend}</div>'


def _recompiles(run: ScriptRun) -> str:
    items = [(n, c) for n, c in enumerate(run.captures, 1) if c.recompile_reason]
    if not items:
        return "<p>No recompiles.</p>"
    return '<ol class="recompiles">' + "".join(
        f'<li><a href="#{_anchor(n)}">#{n} {_e(c.function)}</a> recompiled because '
        f'<code>{_e(c.recompile_reason)}</code></li>' for n, c in items) + "</ol>"


def source_context(filename: str, line: int, around: int = 3) -> list[tuple[int, str, bool]]:
    """(line number, text, is the given line) for the lines around ``line`` (linecache)."""
    out = []
    for n in range(max(1, line - around), line + around + 1):
        text = linecache.getline(filename, n)
        if not text and n > line:
            break
        out.append((n, text.rstrip("\n"), n == line))
    while out and not out[-1][1].strip() and not out[-1][2]:
        out.pop()
    return out


def _source_table(c: Capture) -> str:
    if c.break_file is None or c.break_line is None:
        return ""
    rows = source_context(c.break_file, c.break_line)
    if not any(text for _, text, _ in rows):
        return ""
    body = "".join(f'<tr class="{"hit" if hit else ""}"><td class="n">{n}</td><td>{_e(text) or " "}</td></tr>'
                   for n, text, hit in rows)
    return (f'<div>source: <code>{_e(c.break_file)}:{c.break_line}</code></div>'
            f'<table class="src">{body}</table>')


def _capture(n: int, c: Capture) -> str:
    cls = OUTCOME_CLASS[c.outcome]
    badges = f'<span class="badge {cls}">{_e(c.outcome)}</span>'
    if c.index:
        badges += f'<span class="badge recompile">recompile {c.index}</span>'
    if c.break_id:
        badges += f'<span class="badge {cls}">{_e(c.break_id)}</span>'
    defined = "bytegraph: the root frame of a compiled nn.Module" if c.module_root else f"{c.filename}:{c.lineno}"
    facts = [("function", c.function), ("defined at", defined)]
    if c.resumes:
        facts.append(("resume function of", f"{c.resumes}, continuing at line {c.resume_line}"))
    facts += [("outcome", c.outcome), ("capture time", _ms(c.seconds)), ("started at", _ms(c.started))]
    parts = [f'<section class="card capture {cls}" id="{_anchor(n)}">',
             f"<h3>#{n} {_e(c.function)}{badges}</h3>",
             '<table class="facts">' + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in facts)
             + "</table>"]
    if c.recompile_reason:
        parts.append(f'<div class="reason">recompiled because {_e(c.recompile_reason)}</div>')
    if c.break_message:
        parts.append(f'<pre class="message">{_e(c.break_message)}</pre>{_source_table(c)}')
    if c.eager_reason:
        parts.append(f'<div>runs eagerly because:</div><pre class="message eager">{_e(c.eager_reason)}</pre>'
                     f"{_source_table(c)}")
    if c.graph_code is not None:
        ops = f"{c.op_count} op" + ("" if c.op_count == 1 else "s")
        parts.append(f"<details open><summary>graph code ({ops})</summary>"
                     f'<pre class="code">{_e(c.graph_code)}</pre></details>')
    rows = "".join(f"<tr><td>{_e(expr)}</td><td>{_e(why)}</td></tr>" for expr, why in c.guards)
    parts.append(f'<details open><summary>guards ({len(c.guards)})</summary>'
                 f'<table class="guards">{rows}</table></details>')
    parts.append(f"<details><summary>generated guard function</summary>"
                 f"<pre>{_e(c.guard_source.rstrip())}</pre></details>")
    parts.append("</section>")
    return "".join(parts)


def render_html(run: ScriptRun) -> str:
    title = f"bytegraph report: {os.path.basename(run.script)}"
    error = (f'<h2>The script raised</h2><pre class="card error">{_e(run.error)}</pre>' if run.error else "")
    body = [
        f"<header><h1>{_e(title)}</h1><div class=\"cmd\">{_e(run.command)}</div></header><main>",
        _totals(run),
        f'<p class="summary">{_e(summary(run.captures))}</p>',
        error,
        "<h2>Timeline</h2>", _timeline(run),
        "<h2>Recompiles</h2>", _recompiles(run),
        "<h2>Captures</h2>",
        *(_capture(n, c) for n, c in enumerate(run.captures, 1)),
        "</main>",
    ]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_css()}</style></head>\n<body>{''.join(body)}</body></html>\n")


def write_report(run: ScriptRun, out: str | os.PathLike | None = None) -> pathlib.Path:
    """Write the page (default: ``<script name>.bytegraph.html`` in the current directory)."""
    path = pathlib.Path(out) if out else pathlib.Path(pathlib.Path(run.script).stem + ".bytegraph.html")
    path.write_text(render_html(run), encoding="utf-8")
    return path
