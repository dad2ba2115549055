"""Calls that only report (issue 12, item 6): logger calls and ``warnings.warn`` are never
deferred past code that could observe them.

* At a level the logger handles, a logger call is a graph break: it runs where the program makes
  it, so a handler's effect is visible to the code after it, in the same call.
* At a level it ignores, the call is a no-op inside the graph, under a guard on
  ``logger.isEnabledFor(level)``: enabling the level recompiles and the record appears.
* ``warnings.warn`` is a graph break: an "error" filter raises eager's exception at eager's
  place, ``catch_warnings(record=True)`` records it, "ignore" shows nothing.
"""

import logging
import warnings

import pytest
import torch

import bytegraph
from bytegraph.testing import same

LOG = logging.getLogger("bytegraph.tests.log_calls")


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


@pytest.fixture
def handler():
    h = ListHandler()
    LOG.addHandler(h)
    LOG.propagate = False
    level = LOG.level
    yield h
    LOG.removeHandler(h)
    LOG.propagate = True
    LOG.setLevel(level)


def _shape(cf):
    return [(s.captures, s.graphs, s.eager) for s in cf.stats_all]


def _observe(x, handler):
    y = x + 1
    LOG.info("batch %d", 3)
    LOG.info("done")
    seen = list(handler.records)           # eager: ['batch 3', 'done']
    return y * len(seen), seen


def test_handler_effect_is_visible_later_in_the_call(handler, counter):
    LOG.setLevel(logging.INFO)
    cf = bytegraph.compile(_observe, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        handler.records.clear()
        expected = _observe(x, handler)
        handler.records.clear()
        got = cf(x, handler)
        assert same(got, expected) and got[1] == ["batch 3", "done"]
    # each enabled call breaks: graph, call, (resume: call), resume: graph
    assert [s.captures for s in cf.stats_all] == [1, 1, 1]
    assert all("GB009" in r for r in cf.stats.break_reasons)


def _quiet(x):
    y = x * 2
    LOG.debug("value %s", "v")
    LOG.log(logging.DEBUG, "again")
    return y + 1


def test_disabled_level_is_a_guarded_no_op(handler, counter):
    LOG.setLevel(logging.INFO)
    cf = bytegraph.compile(_quiet, backend=counter)
    for _ in range(3):
        x = torch.randn(3)
        assert same(cf(x), _quiet(x))
    assert handler.records == []
    assert _shape(cf) == [(1, 1, 0)] and cf.stats.break_reasons == []     # one graph, no break
    LOG.setLevel(logging.DEBUG)                 # the no-op's guard fails: recompile, records appear
    x = torch.randn(3)
    assert same(cf(x), _quiet(x))
    assert handler.records == ["value v", "again", "value v", "again"]
    assert cf.stats.recompiles == 1 and "isEnabledFor(10)" in cf.stats.recompile_reasons[0]


def test_logging_disable_and_disabled_flag_are_guarded(handler, counter):
    LOG.setLevel(logging.INFO)

    def fn(x):
        LOG.warning("warned")
        return x + 1

    cf = bytegraph.compile(fn, backend=counter)
    logging.disable(logging.CRITICAL)
    try:
        cf(torch.ones(1))
        assert handler.records == []
        assert cf.stats.break_reasons == []
    finally:
        logging.disable(logging.NOTSET)
    cf(torch.ones(1))
    assert handler.records == ["warned"]
    assert cf.stats.recompiles == 1 and cf.stats.break_reasons


def _warn(x):
    y = x + 1
    warnings.warn("careful", UserWarning)
    return y * 2


def test_warning_filter_error_raises_like_eager(counter):
    cf = bytegraph.compile(_warn, backend=counter)
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(UserWarning, match="careful"):
                _warn(torch.ones(2))
            with pytest.raises(UserWarning, match="careful"):
                cf(torch.ones(2))


def test_warning_recorded_in_program_order(counter):
    def fn(x, log):
        log.append("before")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = x + 1
            warnings.warn("w1")
            log.append(len(caught))            # eager: 1, the warning is recorded already
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        mine, theirs = [], []
        assert same(cf(torch.ones(2), mine), fn(torch.ones(2), theirs))
        assert mine == theirs == ["before", 1]


def test_warning_ignored_shows_nothing(counter, recwarn):
    cf = bytegraph.compile(_warn, backend=counter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            assert same(cf(torch.ones(2)), _warn(torch.ones(2)))
    assert len(recwarn) == 0
    assert any("warnings.warn" in r for r in cf.stats.break_reasons)
