"""Opcodes bytegraph does not handle, each with the reason (a graph break when met)."""

from __future__ import annotations

from ..opcodes import OPCODES
from ..registry import V311, V312, V313, since, unsupported, until

unsupported("exception groups (`except*`) are not traced yet", "CHECK_EG_MATCH")
unsupported("exception groups (`except*`) are not traced yet", "PREP_RERAISE_STAR", versions=until(V311))
unsupported("async context managers are not traced", "BEFORE_ASYNC_WITH")
unsupported("coroutines and async generators are not traced",
            "GET_AWAITABLE", "GET_AITER", "GET_ANEXT", "END_ASYNC_FOR")
unsupported("coroutines and async generators are not traced", "ASYNC_GEN_WRAP", versions=until(V311))
unsupported("class bodies and module-level code are never compiled frames",
            "SETUP_ANNOTATIONS", "LOAD_NAME", "STORE_NAME", "DELETE_NAME")
unsupported("class bodies and module-level code are never compiled frames",
            "IMPORT_STAR", "LOAD_CLASSDEREF", versions=until(V311))
unsupported("class bodies and annotation scopes (PEP 695) are never compiled frames",
            "LOAD_LOCALS", "LOAD_FROM_DICT_OR_GLOBALS", "LOAD_FROM_DICT_OR_DEREF", versions=since(V312))
unsupported("printing an expression at the interactive prompt", "PRINT_EXPR", versions=until(V311))

# Opcodes that no code object bytegraph reads contains.
unsupported("a pseudo-instruction of the compiler: the assembler replaces it, so no code object holds it",
            "JUMP", "JUMP_NO_INTERRUPT", "LOAD_METHOD", "LOAD_SUPER_METHOD", "LOAD_ZERO_SUPER_ATTR",
            "LOAD_ZERO_SUPER_METHOD", "POP_BLOCK", "SETUP_CLEANUP", "SETUP_FINALLY", "SETUP_WITH",
            "STORE_FAST_MAYBE_NULL", versions=since(V312))
unsupported("a pseudo-instruction of the compiler from 3.13 (it assembles to LOAD_FAST)", "LOAD_CLOSURE",
            versions=since(V313))
for _v in since(V312):
    unsupported("sys.monitoring's instrumented form of an opcode: it exists only in the running copy of a "
                "code object, never in co_code, which bytegraph reads",
                *[op for op in OPCODES[_v] if op.startswith("INSTRUMENTED_")], versions=(_v,))
unsupported("the interpreter's own exit from a C call into Python, never in a function's code",
            "INTERPRETER_EXIT", versions=since(V312))
unsupported("a reserved opcode number, never emitted", "RESERVED", versions=since(V312))
unsupported("an optimizer's executor entry (tier 2): co_code shows the instruction it replaced",
            "ENTER_EXECUTOR", versions=since(V313))
unsupported("part of CPython's own __init__ call shim, never in a function's code", "EXIT_INIT_CHECK",
            versions=since(V313))
