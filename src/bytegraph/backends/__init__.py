"""Backends: what compiles a captured fx graph (layer 6)."""

from .registry import lookup_backend

__all__ = ["lookup_backend"]
