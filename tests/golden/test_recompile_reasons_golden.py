"""Golden text of recompile reasons: which guard failed, as a source expression over the
frame, with the value it expected and the value it got (and the rule that installed it).

Each test captures once, changes one thing, calls again and checks the reason recorded in
``stats.recompile_reasons``; the ``bytegraph.recompiles`` log and ``explain`` text say the same.
"""

from __future__ import annotations

import logging

import pytest
import torch

import bytegraph
from bytegraph.runtime import explain

PROGRAM = """
    import torch

    SCALE = 2

    def plain(x):
        return torch.relu(x) + 1

    def scaled(x):
        return x * SCALE

    def make_adder(k):
        def add(x):
            return x + k
        return add

    def weighted(x, d):
        return x * len(d) + sum(d.values())

    def summed(x, xs):
        for v in xs:
            x = x + v
        return x
"""


def reasons(fn, *calls):
    for args in calls:
        fn(*args)
    return fn.stats.recompile_reasons


@pytest.fixture
def ns(program):
    return program(PROGRAM)


X = torch.ones(3)


def test_dtype(ns):
    assert reasons(bytegraph.compile(ns["plain"]), (X,), (X.double(),)) == [
        "L['x']: dtype mismatch: expected torch.float32, got torch.float64 (guard from builder rule 'tensor')"]


def test_shape(ns):
    assert reasons(bytegraph.compile(ns["plain"], dynamic=False), (X,), (torch.ones(2, 2),)) == [
        "L['x']: size mismatch: expected (3,), got (2, 2) (guard from builder rule 'tensor')"]


def test_requires_grad(ns):
    assert reasons(bytegraph.compile(ns["plain"]), (X,), (torch.ones(3, requires_grad=True),)) == [
        "L['x']: requires_grad mismatch: expected False, got True (guard from builder rule 'tensor')"]


def test_global_int(ns):
    fn = bytegraph.compile(ns["scaled"])
    fn(X)
    ns["SCALE"] = 3
    fn(X)
    assert fn.stats.recompile_reasons == [
        "G['SCALE']: expected EQUALS_MATCH 2, got 3 (guard from builder rule 'literal')"]


def test_closure_cell(ns):
    add = ns["make_adder"](1)
    fn = bytegraph.compile(add)
    fn(X)
    add.__closure__[0].cell_contents = 5
    fn(X)
    assert fn.stats.recompile_reasons == [
        "L['k']: expected EQUALS_MATCH 1, got 5 (guard from builder rule 'literal')"]


def test_dict_keys(ns):
    assert reasons(bytegraph.compile(ns["weighted"]), (X, {"a": 1}), (X, {"a": 1, "b": 2})) == [
        "L['d']: expected DICT_KEYS ('a',), got keys ['a', 'b'] (guard from the dict's key set was used)"]


def test_list_length(ns):
    assert reasons(bytegraph.compile(ns["summed"]), (X, [1, 2]), (X, [1, 2, 3])) == [
        "L['xs']: expected SEQUENCE_LENGTH 2, got length 3 (guard from builder rule 'list or tuple')"]


def test_grad_mode(ns):
    fn = bytegraph.compile(ns["plain"])
    fn(X)
    with torch.no_grad():
        fn(X)
    assert fn.stats.recompile_reasons == [
        "global state changed: grad mode: expected enabled, got disabled (guard from torch global state at capture)"]


def test_module_training_flag():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5))
    fn = bytegraph.compile(model)
    fn(X)
    model.eval()
    fn(X)
    assert fn.stats.recompile_reasons == [
        "L['module']._modules['1'].training: expected EQUALS_MATCH True, got False (guard from builder rule 'literal')"]


def test_recompiles_log(ns, caplog):
    """BYTEGRAPH_LOGS=recompiles: one record per recompile, naming the function."""
    fn = bytegraph.compile(ns["plain"])
    with caplog.at_level(logging.DEBUG, logger="bytegraph.recompiles"):
        reasons(fn, (X,), (X.double(),), (X.double(),))
    assert [r.getMessage() for r in caplog.records if r.name == "bytegraph.recompiles"] == [
        "recompiling plain: L['x']: dtype mismatch: expected torch.float32, got torch.float64 "
        "(guard from builder rule 'tensor')"]


def test_explain_text_of_a_recompile(ns):
    """What ``python -m bytegraph explain`` prints for a recompile: its number, its reason and the new
    guards (the global int that varied is a graph input from then on, DESIGN 46)."""
    fn = bytegraph.compile(ns["scaled"])
    with explain.recording() as captures:
        fn(X)
        ns["SCALE"] = 3
        fn(X)
    assert explain.render_text("scaled", captures) == """\
scaled
2 captures of 1 function: 2 graphs (2 ops), 0 graph breaks, 0 frames run eagerly, 1 recompile

capture 1: scaled (prog.py:8): graph
  graph (1 op):
    def forward(self, L_x_):
        l_x_ = L_x_
        mul = l_x_ * 2;  l_x_ = None
        return (mul,)
  guards (3):
    torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
    check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'
    G['SCALE'] == 2                                                   # builder rule 'literal'

capture 2: scaled (prog.py:8), recompile 1: graph
  recompiled because G['SCALE']: expected EQUALS_MATCH 2, got 3 (guard from builder rule 'literal')
  graph (1 op):
    def forward(self, L_x_, G_SCALE_):
        l_x_ = L_x_
        g_scale_ = G_SCALE_
        mul = l_x_ * g_scale_;  l_x_ = g_scale_ = None
        return (mul,)
  guards (3):
    torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
    check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'
    type(G['SCALE']) is int                                           # builder rule 'literal'"""
