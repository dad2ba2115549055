"""diagnostics/logs.py: one standard logger per topic, switched on by set_logs / BYTEGRAPH_LOGS."""

from __future__ import annotations

import logging

import pytest
import torch

import bytegraph
from bytegraph.diagnostics import logs


@pytest.fixture
def restore_logs():
    yield
    bytegraph.set_logs()
    if logs._handler is not None:
        logs._root.removeHandler(logs._handler)
        logs._handler = None


def f(x, n):
    y = torch.sin(x) + n
    print("between graphs")
    return y.cos()


def messages(caplog, topic):
    return [r.getMessage() for r in caplog.records if r.name == f"bytegraph.{topic}"]


def run_f_twice():
    fn = bytegraph.compile(f)
    fn(torch.ones(3), 1)
    fn(torch.ones(3), 2)


def test_topics_are_silent_by_default(caplog):
    """Nothing reaches a default logging set-up (root at WARNING) unless a topic is enabled."""
    assert logging.getLogger().getEffectiveLevel() == logging.WARNING
    run_f_twice()
    assert not [r for r in caplog.records if r.name.startswith("bytegraph.")]


def test_each_topic(caplog, restore_logs):
    bytegraph.set_logs("all")
    with caplog.at_level(logging.DEBUG, logger="bytegraph"):
        run_f_twice()
    graphs = messages(caplog, "graphs")
    assert len(graphs) == 3 and "sin = torch.sin(l_x_)" in graphs[0] and "cos = l_y_.cos()" in graphs[1]
    guards = messages(caplog, "guards")
    assert len(guards) == 3 and guards[0].startswith("guards of f:\ndef ___guard(x, n):")
    breaks = messages(caplog, "breaks")
    assert len(breaks) == 2 and breaks[0].startswith("graph break GB009: print, logging or I/O\n  what: print()")
    assert messages(caplog, "recompiles") == [
        "recompiling f: L['n']: expected EQUALS_MATCH 1, got 2 (guard from builder rule 'literal')"]
    bytecode = messages(caplog, "bytecode")
    assert len(bytecode) == 3 and bytecode[0].startswith("transformed bytecode of f:\n")
    assert "RETURN_VALUE" in bytecode[0] and "f_resume_at_" in bytecode[0]


def test_fallbacks_topic(caplog, restore_logs):
    def g(x):
        raise ValueError("no")
    bytegraph.set_logs("fallbacks")
    with caplog.at_level(logging.DEBUG, logger="bytegraph"), pytest.raises(ValueError):
        bytegraph.compile(g)(torch.ones(2))
    line = g.__code__.co_firstlineno + 1
    assert messages(caplog, "fallbacks") == [f"test_fallbacks_topic.<locals>.g runs eagerly: the program raises "
                                             f"ValueError at test_logs.py:{line} in test_fallbacks_topic.<locals>.g"]


def test_set_logs_levels(restore_logs):
    bytegraph.set_logs("recompiles,breaks")
    assert logging.getLogger("bytegraph.recompiles").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("bytegraph.breaks").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("bytegraph.graphs").isEnabledFor(logging.DEBUG)
    assert logs._root.handlers, "set_logs installs a stderr handler when bytegraph has none"
    bytegraph.set_logs()
    assert not logging.getLogger("bytegraph.recompiles").isEnabledFor(logging.DEBUG)


def test_unknown_topic_is_an_error(restore_logs):
    with pytest.raises(ValueError, match="unknown log topic 'recompile'; topics are graphs, guards, breaks, "
                                         "recompiles, bytecode, fallbacks"):
        bytegraph.set_logs("recompile")


def test_environment_variable(monkeypatch, restore_logs):
    monkeypatch.setenv("BYTEGRAPH_LOGS", "graphs, recompiles")
    logs._from_env()
    assert logging.getLogger("bytegraph.graphs").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("bytegraph.recompiles").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("bytegraph.guards").isEnabledFor(logging.DEBUG)
    monkeypatch.setenv("BYTEGRAPH_LOGS", "graphs,typo")
    with pytest.warns(RuntimeWarning, match="BYTEGRAPH_LOGS='graphs,typo' ignored: unknown log topic 'typo'"):
        logs._from_env()
