"""Fuzz finding: log records are written after the graph, so code after a log call does not see them

status: fixed
backend: eager
kind: mismatch state
seed: 1164
expected (eager): RECORDS == [("INFO", "first"), ("INFO", "n=1")]
actual (bytegraph): the second message is "n=0" (the first record is not written yet when len(RECORDS) is read)
"""

PROGRAM = r'''
import logging
import torch
RECORDS = []
class ListHandler(logging.Handler):
    def emit(self, record):
        RECORDS.append((record.levelname, record.getMessage()))
LOG = logging.getLogger(__name__ + ".log")
LOG.handlers.clear()
LOG.addHandler(ListHandler())
LOG.setLevel(logging.DEBUG)
LOG.propagate = False
ARGS = [torch.ones(2)]

def f(x):
    LOG.info("first")
    LOG.info("n=%s", len(RECORDS))
    return x + 1
'''

CALLS = [
    '',
]
