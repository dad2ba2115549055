"""The bytecode dialect of each supported CPython version: everything codegen emits or reads
differently on 3.11, 3.12 and 3.13, as one table row per version.

``DIALECT`` is the running interpreter's row. Codegen (``pycodegen``, ``resume``,
``instructions``) and the break emitter (``runtime/graph_break.py``) read it; nothing else
in the code base looks at the Python version (the interpreter keeps its differences in its
per-version handler tables, ``interpreter/registry.py``).

What differs (CPython's ``Doc/library/dis.rst`` "Changed in version" notes):

- calls: 3.11 emits ``PRECALL n`` before ``CALL n``; keyword names come from ``KW_NAMES``
  (3.11, 3.12) or, from 3.13, as a tuple on the stack for ``CALL_KW``; the NULL beside a
  callable is pushed before it up to 3.12 (``NULL, callable, args``) and after it from 3.13
  (``callable, NULL, args``), so ``PUSH_NULL`` follows the callable there;
- attributes: ``LOAD_ATTR`` takes ``(is_method, name)`` from 3.12 (``LOAD_METHOD`` is gone);
- conditional jumps: 3.11 names the direction (``POP_JUMP_FORWARD_IF_TRUE``); 3.12 has only
  forward ``POP_JUMP_IF_TRUE``; 3.13's ``POP_JUMP_IF_TRUE/FALSE`` and ``UNARY_NOT`` take an
  exact bool, made by ``TO_BOOL``;
- loops: from 3.12 an exhausted ``FOR_ITER`` jumps to an ``END_FOR`` (3.13: ``END_FOR,
  POP_TOP``) that CPython skips: execution continues after it;
- closures: 3.13 loads a cell for a closure with ``LOAD_FAST`` (``LOAD_CLOSURE`` is a
  pseudo-instruction there);
- locals: 3.13 pairs two local accesses in one instruction (``LOAD_FAST_LOAD_FAST``,
  ``STORE_FAST_LOAD_FAST``, ``STORE_FAST_STORE_FAST``) whose argument packs both local numbers
  in 4 bits each: code that renumbers the locals (a resume function) splits them into the
  single instructions (``pairs``), which hold any number.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class Dialect:
    version: tuple[int, int]
    precall: bool                   # PRECALL n before every CALL n
    null_after_callable: bool       # a call's NULL is pushed after the callable
    kw_call: str                    # "KW_NAMES" (KW_NAMES names; CALL n) or "CALL_KW" (LOAD_CONST names; CALL_KW n)
    method_bit: bool                # LOAD_ATTR's argument is (is_method, name); else LOAD_METHOD name
    cond_jumps: dict[str, str]      # condition ("TRUE", "NONE", ...) -> the forward conditional jump
    bool_operand: frozenset[str]    # opcodes whose operand must be an exact bool (TO_BOOL first)
    for_iter_exit: tuple[str, ...]  # what an exhausted FOR_ITER jumps to, and CPython skips
    closure_load: str               # the opcode that pushes a cell for a closure
    pairs: dict[str, tuple[str, str]]   # an instruction on two locals -> its two single instructions

    def forward_jump(self, opname: str) -> str:
        """The forward form of a conditional jump of this version (any direction given)."""
        return self.cond_jumps[opname.rsplit("_IF_", 1)[1]]

    def attr_arg(self, name: str, method: bool = False) -> Any:
        """LOAD_ATTR's argument for attribute ``name`` (``method``: push it as a method pair)."""
        return (method, name) if self.method_bit else name

    def split_pair(self, instr: Any) -> list[Any] | None:
        """The two single instructions (``bytecode.Instr``) that ``instr`` stands for, if it is a
        pair of local accesses; else None."""
        singles = self.pairs.get(instr.name)
        if singles is None:
            return None
        return [type(instr)(op, name, location=instr.location) for op, name in zip(singles, instr.arg)]

    def jump_skip(self, opname: str) -> int:
        """How many instructions at a jump's target CPython skips when ``opname`` jumps there."""
        return len(self.for_iter_exit) if opname == "FOR_ITER" else 0


_CONDITIONS = ("TRUE", "FALSE", "NONE", "NOT_NONE")

DIALECTS: dict[tuple[int, int], Dialect] = {
    (3, 11): Dialect((3, 11), precall=True, null_after_callable=False, kw_call="KW_NAMES", method_bit=False,
                     cond_jumps={c: f"POP_JUMP_FORWARD_IF_{c}" for c in _CONDITIONS},
                     bool_operand=frozenset(), for_iter_exit=(), closure_load="LOAD_CLOSURE", pairs={}),
    (3, 12): Dialect((3, 12), precall=False, null_after_callable=False, kw_call="KW_NAMES", method_bit=True,
                     cond_jumps={c: f"POP_JUMP_IF_{c}" for c in _CONDITIONS},
                     bool_operand=frozenset(), for_iter_exit=("END_FOR",), closure_load="LOAD_CLOSURE", pairs={}),
    (3, 13): Dialect((3, 13), precall=False, null_after_callable=True, kw_call="CALL_KW", method_bit=True,
                     cond_jumps={c: f"POP_JUMP_IF_{c}" for c in _CONDITIONS},
                     bool_operand=frozenset({"POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE", "UNARY_NOT"}),
                     for_iter_exit=("END_FOR", "POP_TOP"), closure_load="LOAD_FAST",
                     pairs={"LOAD_FAST_LOAD_FAST": ("LOAD_FAST", "LOAD_FAST"),
                            "STORE_FAST_LOAD_FAST": ("STORE_FAST", "LOAD_FAST"),
                            "STORE_FAST_STORE_FAST": ("STORE_FAST", "STORE_FAST")}),
}

# The running interpreter's row (bytegraph/__init__.py refuses other versions before this runs).
DIALECT: Dialect = DIALECTS[sys.version_info[:2]]

CONDITIONAL_JUMPS = frozenset(op for d in DIALECTS.values() for op in d.cond_jumps.values()) \
    | frozenset(f"POP_JUMP_BACKWARD_IF_{c}" for c in _CONDITIONS)
