"""Loggers under ``bytegraph.*``, switched on by ``BYTEGRAPH_LOGS=graphs,guards,breaks,recompiles,bytecode``.

Each topic is a standard ``logging`` logger (``bytegraph.graphs`` ...). Nothing is logged
unless a topic is enabled, and a disabled topic costs one ``isEnabledFor`` call.
"""

from __future__ import annotations

import logging
import os

TOPICS = ("graphs", "guards", "breaks", "recompiles", "bytecode", "fallbacks")

_root = logging.getLogger("bytegraph")


def get_logger(topic: str) -> logging.Logger:
    if topic not in TOPICS:
        raise ValueError(f"unknown log topic {topic!r}; topics are {', '.join(TOPICS)}")
    return logging.getLogger(f"bytegraph.{topic}")


def set_logs(*topics: str, level: int = logging.DEBUG) -> None:
    """Enable the given topics (``set_logs("recompiles", "breaks")``); ``set_logs()`` turns all off."""
    for t in TOPICS:
        get_logger(t).setLevel(level if t in topics else logging.WARNING)
    if topics and not _root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[bytegraph.%(name)s] %(message)s".replace("bytegraph.%(name)s", "%(name)s")))
        _root.addHandler(handler)


def _from_env() -> None:
    spec = os.environ.get("BYTEGRAPH_LOGS", "")
    topics = [t.strip() for t in spec.split(",") if t.strip()]
    if "all" in topics:
        topics = list(TOPICS)
    if topics:
        set_logs(*topics)


_from_env()
