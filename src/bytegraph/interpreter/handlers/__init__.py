"""Opcode handlers, one family per module. Importing this package registers them all."""

from . import build, calls, control, intrinsics, load_store, match, ops, stack, unsupported  # noqa: F401
