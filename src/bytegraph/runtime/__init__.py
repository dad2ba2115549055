"""Caches, compiled callables and the per-frame compile pipeline (layer 6)."""
