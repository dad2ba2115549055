"""Helpers for golden tests: programs defined from inline source under a stable file name,
and the masking that keeps expected text independent of the machine and of bytegraph's
own line numbers."""

from __future__ import annotations

import linecache
import re
import textwrap
from typing import Any, Callable

import pytest


def load_program(src: str, filename: str = "prog.py") -> dict[str, Any]:
    """Run ``src`` (dedented) as a module named after ``filename``; its source lines are
    registered in linecache, so break messages quote them and line numbers count from the
    snippet's first line."""
    src = textwrap.dedent(src).lstrip("\n")
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": filename.removesuffix(".py")}
    exec(compile(src, filename, "exec"), namespace)
    return namespace


def normalize(text: str) -> str:
    """Mask what may differ between runs, Python versions or edits elsewhere: object ids and
    addresses, line numbers inside bytegraph's own compiled.py (the root frame of a module),
    and the instruction index in a resume function's name (``f_resume_at_13``: CPython's
    instruction numbering differs between 3.11, 3.12 and 3.13; the line a resume function
    continues at, ``resumes f at prog.py:5``, stays in the text)."""
    text = resume_names(text)
    text = re.sub(r"\b0x[0-9a-f]{6,}\b", "<address>", text)
    text = re.sub(r"\b\d{12,}\b", "<id>", text)
    return re.sub(r"compiled\.py:\d+", "compiled.py:<line>", text)


def resume_names(text: str) -> str:
    """``f_resume_at_13`` -> ``f_resume_at_<i>``."""
    return re.sub(r"_resume_at_\d+", "_resume_at_<i>", text)


@pytest.fixture
def program() -> Callable[..., dict[str, Any]]:
    return load_program


@pytest.fixture(name="normalize")
def normalize_fixture() -> Callable[[str], str]:
    return normalize
