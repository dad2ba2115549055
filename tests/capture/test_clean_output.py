"""A user error inside the graph (issue 12): the user sees eager's exception and nothing else.

torch's fake-tensor logger logs a shape mismatch met while propagating fake tensors at ERROR,
with its internal traceback (~30 lines), before bytegraph re-raises the program's own error.
Those records go to ``bytegraph.fallbacks`` at DEBUG instead (``diagnostics.logs.rerouted``).
"""

import logging

import pytest
import torch

import bytegraph
from bytegraph.diagnostics.logs import rerouted
from bytegraph.graph.output_graph import FAKE_TENSOR_LOGGER


def _mismatch(a, b):
    return a + b


def test_shape_error_prints_nothing_but_the_error(counter, capsys, caplog):
    cf = bytegraph.compile(_mismatch, backend=counter)
    with caplog.at_level(logging.WARNING, logger="torch"):  # torch's own level; its handler prints INFO when asked (2.14)
        for _ in range(2):
            with pytest.raises(RuntimeError) as eager:
                _mismatch(torch.ones(2), torch.ones(3))
            with pytest.raises(RuntimeError) as compiled:
                cf(torch.ones(2), torch.ones(3))
            assert str(compiled.value) == str(eager.value)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_rerouted_records_reach_the_fallbacks_log(counter, caplog):
    """What torch logs while bytegraph propagates fake tensors goes to ``bytegraph.fallbacks``
    (torch 2.13 logs a shape mismatch at ERROR there; 2.14 does not log it at all, so the record
    is made here, inside the very block that the capture enters)."""
    fake_log = logging.getLogger(FAKE_TENSOR_LOGGER)
    with caplog.at_level(logging.DEBUG, logger="bytegraph.fallbacks"):
        with rerouted(FAKE_TENSOR_LOGGER):
            fake_log.error("shape mismatch while propagating")
        cf = bytegraph.compile(_mismatch, backend=counter)
        with pytest.raises(RuntimeError):
            cf(torch.ones(2), torch.ones(4))
    assert [(r.name, r.levelno) for r in caplog.records if "shape mismatch while propagating" in r.getMessage()] \
        == [("bytegraph.fallbacks", logging.DEBUG)]
    assert all(r.name == "bytegraph.fallbacks" for r in caplog.records if FAKE_TENSOR_LOGGER in r.getMessage()
               or r.name == FAKE_TENSOR_LOGGER)


def test_records_outside_bytegraph_are_untouched(caplog):
    log = logging.getLogger("torch._subclasses.fake_tensor")
    with caplog.at_level(logging.ERROR, logger="torch._subclasses.fake_tensor"):
        log.error("from torch itself")
    assert [r.getMessage() for r in caplog.records] == ["from torch itself"]
