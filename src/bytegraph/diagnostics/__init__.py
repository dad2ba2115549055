"""Errors, the graph-break catalog, user-code locations and loggers (layer 1: imports nothing of bytegraph)."""
