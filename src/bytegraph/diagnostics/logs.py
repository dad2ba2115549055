"""Loggers under ``bytegraph.*``, switched on by ``BYTEGRAPH_LOGS=graphs,guards,breaks,recompiles,bytecode``.

Each topic is a standard ``logging`` logger (``bytegraph.graphs`` ...):

    graphs      the fx graph of each capture (its code)
    guards      the generated guard function of each cache entry
    breaks      each graph break, rendered from the catalog (what, where, why, fix)
    recompiles  each recompile: which guard failed, as a source expression, expected and actual
    bytecode    the transformed function's bytecode (``dis``)
    fallbacks   frames that run eagerly, and why

``BYTEGRAPH_LOGS=all`` (or ``set_logs("all")``) enables every topic. Nothing is logged
unless a topic is enabled, and a disabled topic costs one ``isEnabledFor`` call. Records
propagate to the root logger as usual (so ``caplog`` and the user's own handlers see
them); ``set_logs`` also adds one stderr handler to ``bytegraph`` unless it has one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from typing import Iterator

TOPICS = ("graphs", "guards", "breaks", "recompiles", "bytecode", "fallbacks")

_root = logging.getLogger("bytegraph")
_handler: logging.Handler | None = None


def get_logger(topic: str) -> logging.Logger:
    if topic not in TOPICS:
        raise ValueError(f"unknown log topic {topic!r}; topics are {', '.join(TOPICS)} (or 'all')")
    return logging.getLogger(f"bytegraph.{topic}")


def set_logs(*topics: str, level: int = logging.DEBUG) -> None:
    """Enable the given topics (``set_logs("recompiles", "breaks")``, ``set_logs("all")``)
    and disable the others; ``set_logs()`` turns all off. Also accepts one comma-separated
    string, as in the environment variable (``set_logs("graphs,guards")``)."""
    names = [t.strip() for spec in topics for t in spec.split(",") if t.strip()]
    if "all" in names:
        names = list(TOPICS)
    for name in names:
        get_logger(name)            # raises for an unknown topic, naming the known ones
    for t in TOPICS:
        get_logger(t).setLevel(level if t in names else logging.WARNING)
    global _handler
    if names and _handler is None and not _root.handlers:
        _handler = logging.StreamHandler()
        _handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
        _root.addHandler(_handler)


class _Rerouted(logging.Filter):
    """On a logger of torch's: while ``rerouted`` is active in this thread, a record is not
    shown to the user but passed to ``bytegraph.fallbacks`` at DEBUG (torch's fake-tensor logger
    prints ~30 lines of traceback at ERROR for a shape mismatch that is the program's own
    error, which bytegraph raises as eager would)."""

    def __init__(self) -> None:
        super().__init__()
        self.active = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(self.active, "depth", 0):
            return True
        get_logger("fallbacks").debug("(from %s) %s", record.name, record.getMessage(), exc_info=record.exc_info)
        return False


_REROUTED: dict[str, _Rerouted] = {}


@contextlib.contextmanager
def rerouted(logger_name: str) -> Iterator[None]:
    """Records of ``logger_name`` made inside the block go to ``bytegraph.fallbacks`` (DEBUG)."""
    f = _REROUTED.get(logger_name)
    if f is None:
        f = _REROUTED[logger_name] = _Rerouted()
        logging.getLogger(logger_name).addFilter(f)
    f.active.depth = getattr(f.active, "depth", 0) + 1
    try:
        yield
    finally:
        f.active.depth -= 1


def _from_env() -> None:
    spec = os.environ.get("BYTEGRAPH_LOGS", "")
    if not spec.strip():
        return
    try:
        set_logs(spec)
    except ValueError as e:     # a typo in an environment variable must not break `import bytegraph`
        warnings.warn(f"BYTEGRAPH_LOGS={spec!r} ignored: {e}", RuntimeWarning, stacklevel=2)


_from_env()
