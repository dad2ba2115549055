"""runtime/report.py and the ``explain`` / ``report`` commands, in-process (the browser test of
the page is tests/golden/test_report_browser.py)."""

from __future__ import annotations

import re
import textwrap

import pytest

from bytegraph.__main__ import main
from bytegraph.runtime import report

def _resume_names(name: str) -> str:
    return re.sub(r"_resume_at_\d+", "_resume_at_<i>", name)


SCRIPT = '''
    import sys
    import torch
    import bytegraph


    @bytegraph.compile
    def step(x, n):
        y = torch.relu(x) * n
        print("step", n, "<tag>")
        return y.sum()


    x = torch.ones(4)
    for n in [1, 1, int(sys.argv[1])]:
        step(x, n)
    if len(sys.argv) > 2:
        raise RuntimeError(sys.argv[2])
'''


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "train_step.py"
    path.write_text(textwrap.dedent(SCRIPT).lstrip())
    return path


def test_run_script_records_every_capture(script):
    run = report.run_script(script, ["2"])
    assert (run.exit_status, run.error, run.argv) == (0, None, [str(script), "2"])
    # (a resume function is named after the instruction it starts at: CPython's numbering, per version)
    assert [(_resume_names(c.function), c.index, c.outcome) for c in run.captures] == [
        ("step", 0, "graph + break"), ("step_resume_at_<i>", 0, "graph"), ("step", 1, "graph + break")]
    first, _, again = run.captures
    assert again.recompile_reason == "L['n']: expected EQUALS_MATCH 1, got 2 (guard from builder rule 'literal')"
    assert (first.break_id, first.break_file, first.break_line) == ("GB009", str(script), 9)
    assert all(c.seconds > 0 and c.started >= 0 for c in run.captures)


def test_html_is_self_contained(script):
    page = report.render_html(report.run_script(script, ["2"]))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"<script|<link|<img|src=|url\(|https?://", page), "no external resources, no JS"
    assert "&lt;tag&gt;" in page and "<tag>" not in page, "user text is escaped"
    # the break line is highlighted in its source context
    assert '<tr class="hit"><td class="n">9</td><td>    print(&quot;step&quot;, n, &quot;&lt;tag&gt;&quot;)</td></tr>' in page
    assert page.count('class="bar ') == 3 and page.count("bar break recompile") == 1


def test_script_errors_are_reported(script, tmp_path):
    run = report.run_script(script, ["1", "boom"])
    assert run.exit_status == 1 and "RuntimeError: boom" in run.error
    assert "RuntimeError: boom" in report.render_html(run)
    assert report.explain_text(run).endswith("RuntimeError: boom")
    with pytest.raises(FileNotFoundError, match="no such script"):
        report.run_script(tmp_path / "missing.py")


def test_explain_command(script, capsys):
    assert main(["explain", str(script), "1"]) == 0
    out = capsys.readouterr().out
    assert f"bytegraph explain: python {script} 1\n" in out
    assert "2 captures of 2 functions: 2 graphs (3 ops), 1 graph break (GB009), 0 frames run eagerly, " \
           "0 recompiles" in out
    assert "  graph break GB009: print, logging or I/O\n    what: print()\n    at train_step.py:9 in step\n" in out


def test_report_command(script, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "-o", str(out), str(script), "2"]) == 0
    assert "report written to" in capsys.readouterr().err
    assert "recompiled because L[&#x27;n&#x27;]: expected EQUALS_MATCH 1, got 2" in out.read_text()


def test_capture_outcomes_say_whether_there_was_a_graph():
    """A break before any tensor op is a "break" (no graph), not "graph + break"."""
    import torch

    import bytegraph
    from bytegraph.runtime import events

    def fn(x):
        print(end="")
        return x + 1

    def quiet(x):
        return x

    cf, cq = bytegraph.compile(fn), bytegraph.compile(quiet)
    with events.recording() as captured:
        cf(torch.ones(2))
        cq(torch.ones(2))
    assert [(_resume_names(c.function), c.outcome) for c in captured] == [
        ("test_capture_outcomes_say_whether_there_was_a_graph.<locals>.fn", "break"),
        ("test_capture_outcomes_say_whether_there_was_a_graph.<locals>.fn_resume_at_<i>", "graph"),
        ("test_capture_outcomes_say_whether_there_was_a_graph.<locals>.quiet", "no graph")]
