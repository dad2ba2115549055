"""Golden text of graph-break messages: catalog id and title, what, the user's file:line and
source line (and the call chain for a break inside a callee), why, and how to fix.

The same message reaches the user through ``explain``, ``stats.break_reasons`` /
``stats.eager_reasons``, the ``bytegraph.breaks`` log and, under ``fullgraph=True``,
``CompileError``. The programs are one snippet loaded as ``prog.py``.
"""

from __future__ import annotations

import logging
import textwrap

import pytest
import torch

import bytegraph

PROGRAM = """
    import torch, zlib

    def printing(x):
        print("x is", x.shape)
        return x + 1

    def branch(x):
        if x.sum() > 0:
            return x + 1
        return x - 1

    def item(x):
        return x * x.max().item()

    def c_call(x):
        return x + zlib.adler32(b"x")

    def raises(x):
        y = x * 2
        return y[None, None, None, None, 0, 0, 0, 0, 0]

    def helper(x):
        return x.tolist()

    def calls_helper(x):
        y = x + 1
        return helper(y)

    def nested_except(x):
        try:
            raise KeyError("a")
        except KeyError:
            try:
                raise ValueError("b")
            except ValueError:
                print("inner")
        return x + 1

    import threading
    LOCK = threading.Lock()

    def locked(x):
        with LOCK:
            return x + 1
"""


def expected(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


BREAKS = {
    "printing": """
        graph break GB009: print, logging or I/O
          what: print()
          at prog.py:4 in printing
              print("x is", x.shape)
          why: the call has effects outside the program (it writes somewhere) and cannot be part of a graph
          fix: remove it from the compiled function, or accept the graph break
    """,
    "branch": """
        graph break GB002: branch on a tensor value
          what: bool() of tensor (bool[])
          at prog.py:8 in branch
              if x.sum() > 0:
          why: the condition depends on tensor data, which is unknown while tracing
          fix: use torch.where(...), or move the check outside the compiled function
    """,
    "item": """
        graph break GB003: operation needs tensor data
          what: Tensor.item() on tensor (float32[])
          at prog.py:13 in item
              return x * x.max().item()
          why: the result depends on the values inside a tensor (e.g. .item(), .tolist(), nonzero), which are unknown while tracing
          fix: keep the value as a tensor, or move this use outside the compiled function
    """,
    "c_call": """
        graph break GB004: call to a function bytegraph cannot trace
          what: calling builtin_function_or_method object G['zlib'].adler32
          at prog.py:16 in c_call
              return x + zlib.adler32(b"x")
          why: the callee is implemented in C (or is otherwise opaque) and is not known to be safe to put in the graph or to evaluate at trace time
          fix: call it outside the compiled function, or replace it with a torch operation
    """,
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_break_message(program, name):
    fn = bytegraph.compile(program(PROGRAM)[name])
    fn(torch.ones(3))
    assert fn.stats.break_reasons == [expected(BREAKS[name])]
    assert fn.stats.eager_reasons == []


def test_break_inside_callee(program):
    """The break is reported where it happened (helper) and through which call (calls_helper);
    helper is then captured as a frame of its own, which breaks at the same line."""
    out = bytegraph.explain(program(PROGRAM)["calls_helper"], torch.ones(3))
    assert out.breaks == [expected("""
        graph break GB003: operation needs tensor data
          what: Tensor.tolist() on tensor (float32[3])
          at prog.py:23 in helper
              return x.tolist()
          called from prog.py:27 in calls_helper
          why: the result depends on the values inside a tensor (e.g. .item(), .tolist(), nonzero), which are unknown while tracing
          fix: keep the value as a tensor, or move this use outside the compiled function
    """), expected("""
        graph break GB003: operation needs tensor data
          what: Tensor.tolist() on tensor L['x'] (float32[3])
          at prog.py:23 in helper
              return x.tolist()
          why: the result depends on the values inside a tensor (e.g. .item(), .tolist(), nonzero), which are unknown while tracing
          fix: keep the value as a tensor, or move this use outside the compiled function
    """)]


def test_program_error_runs_eagerly(program):
    """An exception of the program itself (seen while tracing) is not a break: the frame runs
    eagerly and the user gets CPython's own exception."""
    fn = bytegraph.compile(program(PROGRAM)["raises"])
    with pytest.raises(IndexError, match="too many indices"):
        fn(torch.ones(3))
    assert fn.stats.eager_reasons == ["the program raises IndexError at prog.py:20 in raises"]
    assert fn.stats.break_reasons == []


def test_unresumable_break_runs_eagerly(program):
    """A break at BEFORE_WITH (a lock's C ``__exit__``) cannot resume: the frame runs eagerly,
    with the break and why it could not resume as the reason."""
    fn = bytegraph.compile(program(PROGRAM)["locked"])
    fn(torch.ones(3))
    assert fn.stats.eager_reasons == [expected("""
        graph break GB006: attribute bytegraph cannot read
          what: lock.__exit__ (method_descriptor)
          at prog.py:43 in locked
              with LOCK:
          why: the attribute lookup runs code bytegraph cannot trace (a C descriptor or a dynamic lookup)
          fix: read the attribute outside the compiled function and pass it in
          not resumable: a break at BEFORE_WITH cannot resume (only calls, operators and simple stores can)
    """)]


def test_break_in_nested_except_resumes(program):
    """A break in an `except` block inside another one resumes (both exceptions are handled
    again in the resume function): a break reason, no eager frame."""
    fn = bytegraph.compile(program(PROGRAM)["nested_except"])
    fn(torch.ones(3))
    assert fn.stats.eager_reasons == []
    assert fn.stats.break_reasons == [expected("""
        graph break GB009: print, logging or I/O
          what: print()
          at prog.py:36 in nested_except
              print("inner")
          why: the call has effects outside the program (it writes somewhere) and cannot be part of a graph
          fix: remove it from the compiled function, or accept the graph break
    """)]


def test_fullgraph_error(program):
    fn = bytegraph.compile(program(PROGRAM)["branch"], fullgraph=True)
    with pytest.raises(bytegraph.CompileError) as info:
        fn(torch.ones(3))
    assert str(info.value) == "bytegraph could not capture branch as one graph (fullgraph=True):\n" + expected(
        BREAKS["branch"])


def test_breaks_log(program, caplog):
    """BYTEGRAPH_LOGS=breaks: the same message, once per break met while tracing."""
    fn = bytegraph.compile(program(PROGRAM)["printing"])
    with caplog.at_level(logging.DEBUG, logger="bytegraph.breaks"):
        fn(torch.ones(3))
    assert [r.getMessage() for r in caplog.records if r.name == "bytegraph.breaks"] == [expected(BREAKS["printing"])]
