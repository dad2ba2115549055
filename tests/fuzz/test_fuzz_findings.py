"""Every minimised fuzz finding in ``tests/fuzz/findings/`` stays a regression test.

A finding file (written by ``python -m tests.fuzz --shrink``) holds the program, the
mutations before each call, and a docstring whose ``status:`` line says what to expect:

    status: fixed                       the program must run the same eager and compiled
    status: open (<who fixes it>)       bytegraph still gets it wrong: a strict xfail, so the
                                        test fails as soon as the fix lands; then change the
                                        line to ``status: fixed``

A finding whose ``kind:`` is ``internal`` (an internal fallback: right answer, but a warning)
must run without one; others may fall back internally, as long as the answer is eager's.

Replay one by hand: ``python -m tests.fuzz --replay tests/fuzz/findings/<file>.py``.
"""

from __future__ import annotations

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fuzz.program import load_finding  # noqa: E402
from tests.fuzz.run import quiet_torch  # noqa: E402
from tests.fuzz.runner import run_program  # noqa: E402

FINDINGS = sorted((pathlib.Path(__file__).parent / "findings").glob("*.py"))


@pytest.fixture(autouse=True)
def _quiet_torch_logs():
    """torch's noisy loggers quiet while a program runs, restored after (a module-level setting
    silenced the fake-tensor records that tests/capture/test_clean_output.py looks for)."""
    with quiet_torch():
        yield


def _param(path: pathlib.Path) -> object:
    finding = load_finding(path)
    status = finding.field("status") or ""
    assert status.startswith(("open", "fixed")), f"{path.name}: status must be 'open (...)' or 'fixed', got {status!r}"
    marks = [pytest.mark.xfail(strict=True, reason=f"{path.name}: {status}")] if status.startswith("open") else []
    return pytest.param(finding, id=path.stem, marks=marks)


@pytest.mark.parametrize("finding", [_param(p) for p in FINDINGS])
def test_finding(finding) -> None:
    outcome = run_program(finding.source, finding.calls, backend=finding.field("backend") or "eager",
                          timeout_s=120)
    allowed = ("ok",) if (finding.field("kind") or "").startswith("internal") else ("ok", "internal")
    assert outcome.status in allowed, f"{finding.path.name}: {outcome.status}: {outcome.detail}"


def test_findings_exist() -> None:
    assert FINDINGS, "tests/fuzz/findings/ holds the minimised failures the fuzzer found"
