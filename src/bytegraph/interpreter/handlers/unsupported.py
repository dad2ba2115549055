"""Opcodes bytegraph does not handle yet, each with the reason (a graph break when met)."""

from __future__ import annotations

from ..registry import unsupported

unsupported("exception groups (`except*`) are not traced yet", "CHECK_EG_MATCH", "PREP_RERAISE_STAR")
unsupported("async context managers are not traced", "BEFORE_ASYNC_WITH")
unsupported("coroutines and async generators are not traced",
            "GET_AWAITABLE", "GET_AITER", "GET_ANEXT", "END_ASYNC_FOR", "ASYNC_GEN_WRAP")
unsupported("class bodies and module-level code are never compiled frames",
            "SETUP_ANNOTATIONS", "LOAD_NAME", "STORE_NAME", "DELETE_NAME", "IMPORT_STAR",
            "LOAD_CLASSDEREF")
unsupported("printing an expression at the interactive prompt", "PRINT_EXPR")
