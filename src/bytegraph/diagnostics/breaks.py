"""The graph-break catalog: every reason capture can stop, with a stable id, why, and how to fix.

A break is raised as ``Unsupported(KIND, detail)``; the translator fills in where in the
user's code it happened. docs/breaks.md is generated from ``CATALOG`` (``python -m bytegraph docs``),
so the documentation cannot drift from the code. Ids are stable: never renumber, only add.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class BreakKind:
    id: str
    title: str
    why: str
    fix: str


CATALOG: dict[str, BreakKind] = {}


def _kind(id: str, title: str, why: str, fix: str) -> BreakKind:
    assert id not in CATALOG, id
    kind = BreakKind(id, title, why, fix)
    CATALOG[id] = kind
    return kind


UNSUPPORTED_OPCODE = _kind(
    "GB001", "unsupported bytecode instruction",
    "bytegraph has no handler for this CPython instruction yet",
    "move this code out of the compiled function, or file an issue with the snippet")
DATA_DEPENDENT_BRANCH = _kind(
    "GB002", "branch on a tensor value",
    "the condition depends on tensor data, which is unknown while tracing",
    "use torch.where(...), or move the check outside the compiled function")
DATA_DEPENDENT_OP = _kind(
    "GB003", "operation needs tensor data",
    "the result depends on the values inside a tensor (e.g. .item(), .tolist(), nonzero), "
    "which are unknown while tracing",
    "keep the value as a tensor, or move this use outside the compiled function")
UNSUPPORTED_CALL = _kind(
    "GB004", "call to a function bytegraph cannot trace",
    "the callee is implemented in C (or is otherwise opaque) and is not known to be safe to "
    "put in the graph or to evaluate at trace time",
    "call it outside the compiled function, or replace it with a torch operation")
UNSUPPORTED_VALUE = _kind(
    "GB005", "value of an unsupported type",
    "bytegraph does not know how to track this kind of Python object",
    "pass tensors or plain Python values instead, or move this code outside the compiled function")
UNSUPPORTED_ATTRIBUTE = _kind(
    "GB006", "attribute bytegraph cannot read",
    "the attribute lookup runs code bytegraph cannot trace (a C descriptor or a dynamic lookup)",
    "read the attribute outside the compiled function and pass it in")
SIDE_EFFECT = _kind(
    "GB007", "mutation of state that exists outside the compiled function",
    "bytegraph does not yet replay mutations of pre-existing objects (lists, dicts, attributes, "
    "globals, closure cells) after the graph runs",
    "return the new value instead of mutating, or mutate outside the compiled function")
UNSUPPORTED_TENSOR_OP = _kind(
    "GB008", "tensor operation bytegraph cannot put in a graph",
    "the operation has no fake-tensor implementation, or its output shape depends on data",
    "move it outside the compiled function")
PRINT_OR_IO = _kind(
    "GB009", "print, logging or I/O",
    "the call has effects outside the program (it writes somewhere) and cannot be part of a graph",
    "remove it from the compiled function, or accept the graph break")
INLINE_FAILED = _kind(
    "GB010", "function cannot be inlined",
    "the called function uses a feature bytegraph cannot interpret (generator, recursion too deep, "
    "a C-level frame)",
    "call it outside the compiled function, or simplify it")
GENERATOR = _kind(
    "GB011", "generator or coroutine",
    "a generator made while tracing is traced, but one made outside the trace (an argument, or a "
    "generator rebuilt at an earlier graph break) runs its own code when advanced, natively; "
    "coroutines, async code and generator functions compiled themselves are not traced",
    "build a list instead of a generator, or create the generator inside the compiled function")
EXCEPTION_HANDLING = _kind(
    "GB012", "exception handling while tracing",
    "the traced code raises or catches an exception; bytegraph runs such frames eagerly for now",
    "avoid try/except around tensor code inside the compiled function")
CONTEXT_MANAGER = _kind(
    "GB013", "unsupported context manager",
    "bytegraph cannot enter this `with` block while tracing",
    "move the `with` block outside the compiled function")
TOO_LONG = _kind(
    "GB014", "trace too long",
    "the frame ran more instructions (or nested deeper) than the configured limit, usually a "
    "long Python loop being unrolled",
    "raise bytegraph.config.max_instructions / max_inline_depth, or move the loop outside")
NON_TENSOR_OUTPUT = _kind(
    "GB015", "return value bytegraph cannot rebuild",
    "the function returns an object that was created during tracing and cannot be rebuilt "
    "after the graph runs",
    "return tensors, numbers, strings or containers of them")
DYNAMIC_CONTROL = _kind(
    "GB016", "control flow on an unknown Python value",
    "the condition is a value bytegraph only knows symbolically",
    "make the value a constant, or move the branch outside the compiled function")
LOOP_AFTER_BREAK = _kind(
    "GB018", "next iteration of a loop that a graph break split",
    "the loop's iterator crossed a graph break into a resume function; its next step (FOR_ITER) "
    "runs natively, so that every iteration reuses the same resume functions instead of "
    "unrolling (and recompiling for) each one",
    "move the graph break (print, .item(), ...) out of the loop to capture the loop whole")
CLASS_STATEMENT = _kind(
    "GB017", "class statement inside compiled code",
    "the class body runs natively (CPython's __build_class__); each call makes a new class, so "
    "the code after the statement is guarded on that class and captured again on every call",
    "define the class at module level (or once, outside the compiled function)")
RUNS_NATIVELY = _kind(
    "GB019", "torch transform or higher-order function, run natively",
    "functorch transforms, higher-order ops, activation checkpointing and forward AD change torch's dispatch "
    "state while they run; the ones bytegraph captures as one graph node (docs/builder.md, \"higher-order "
    "ops\") are traced into subgraphs, the others (vjp, linearize, torch.autograd.functional, forward AD, "
    "scan, map, reentrant checkpoint...) are never inlined: the call runs natively between two graphs",
    "accept the graph break (the result is eager's), or call the transform outside the compiled function and "
    "compile the function it transforms")
DISABLED = _kind(
    "GB020", "function marked torch.compiler.disable",
    "the function (or the library that wraps it: FSDP2 wraps its hooks so) asks not to be compiled; it "
    "runs natively between two graphs, and so does everything it calls",
    "accept the graph break, or remove torch.compiler.disable where the function can be compiled; for "
    "FSDP2, compile each block and shard it (the hooks then run outside the compiled code)")
HOP_BODY = _kind(
    "GB021", "body of a higher-order op that cannot be one subgraph",
    "the function given to a higher-order op (torch.cond/while_loop branches, flex_attention's score_mod and "
    "mask_mod, the function of vmap/grad/jacrev/jvp, a checkpointed block, an autograd.Function's forward or "
    "backward) is traced into a subgraph of one graph node; it cannot contain a graph break (data-dependent "
    "Python control flow, print, a call bytegraph cannot trace), change state outside itself (append to an "
    "outer list, assign an attribute, a global or a closure variable, write into its inputs in place), or "
    "return what the op does not take (non-tensor values where tensors are required, an input unchanged)",
    "make the body a function of its inputs that returns tensors (torch.where or torch.cond instead of `if` "
    "on data; return values instead of mutating outer state); otherwise accept the break: the op runs "
    "natively (eagerly) between two graphs")
CAUGHT_OP_ERROR = _kind(
    "GB022", "tensor operation that raises, inside the program's try/with",
    "the operation raises on the fake tensors it is traced with, and the program handles the exception; "
    "torch's kernel words the error as the program must see it (type and message) only when it runs: "
    "a rerun on zeros with the same metadata did not reproduce it, so the operation runs natively",
    "nothing to fix: the program catches eager's own exception; to avoid the break, keep operations that "
    "fail (a .view of a non-contiguous tensor, mismatched shapes) out of try blocks in compiled code")
