"""Graph breaks that resume: compile the graph so far, run the one unsupported instruction
natively, and continue in a resume function that bytegraph compiles in turn.

The transformed code of a frame that breaks at instruction ``i``:

    ___graph_out = <graph>(<inputs>)          # everything traced before i
    <side effects written back>               # so the native instruction sees eager's state
    <i's operands rebuilt on the stack>       # (a callee that broke inside: its bytegraph wrapper)
    <instruction i, run by CPython>
    ___out0 = ...                             # what i pushed
    return Continue((<resume_at_i+1>, (<stack below i's operands>, ___out0, <live locals>)))

The resume call is a tail call: the transformed code returns it (``Continue``) and the
compiled function's dispatcher makes it, so a break inside a loop does not nest frames.

A data-dependent branch (``if x.sum() > 0``) runs the jump natively and calls one of two
resume functions, one per side. Resume functions are ``CompiledFunction``s over code built
by ``codegen.resume`` from the *original* code; they are cached per compiled function and
layout, so a break inside a loop re-enters the same resume function.

Which instructions can be split this way is a table (``OPERANDS``): how many stack items an
instruction consumes and produces. Anything else (returns, loops' FOR_ITER, instructions
that push a NULL) is not resumable: the frame runs eagerly, with the reason recorded.
"""

from __future__ import annotations

import inspect
import types
from typing import Any, Callable

import torch
from bytecode import Instr, Label, TryBegin, TryEnd

from ..codegen.pycodegen import PyCodegen
from ..codegen.resume import CELL_PREFIX, EXC_ARG, STACK_PREFIX, Continue, origin_of
from ..diagnostics.errors import Unsupported
from ..interpreter.translator import InstructionTranslator
from ..variables.base import BoundMethodVariable, NullVariable, VariableTracker
from ..variables.ctx import ExceptionVariable, GraphContextVariable
from ..variables.functions import NestedFunctionVariable, UserFunctionVariable, UserMethodVariable
from ..variables.nn_module import NNModuleVariable, has_hooks

_CALLS = frozenset({"CALL", "CALL_FUNCTION_EX"})
_COND_JUMPS = frozenset({f"POP_JUMP_{d}_IF_{c}" for d in ("FORWARD", "BACKWARD")
                         for c in ("TRUE", "FALSE", "NONE", "NOT_NONE")})

# opname -> (arg -> (stack items consumed, stack items produced)) for instructions a break can split
OPERANDS: dict[str, Callable[[Any], tuple[int, int]]] = {
    "CALL": lambda n: (n + 2, 1),
    "CALL_FUNCTION_EX": lambda flags: (3 + (flags & 1), 1),
    **{op: (lambda a: (2, 1)) for op in ("BINARY_OP", "BINARY_SUBSCR", "COMPARE_OP", "IS_OP", "CONTAINS_OP")},
    **{op: (lambda a: (1, 1)) for op in ("UNARY_NEGATIVE", "UNARY_POSITIVE", "UNARY_INVERT", "UNARY_NOT",
                                         "LOAD_ATTR", "GET_ITER")},
    "STORE_ATTR": lambda a: (2, 0),
    "DELETE_ATTR": lambda a: (1, 0),
    "STORE_SUBSCR": lambda a: (3, 0),
    "DELETE_SUBSCR": lambda a: (2, 0),
    "STORE_GLOBAL": lambda a: (1, 0),
    "FORMAT_VALUE": lambda flags: (1 + bool(flags & 0x04), 1),
    "BUILD_STRING": lambda n: (n, 1),
    "UNPACK_SEQUENCE": lambda n: (1, n),
    **{op: (lambda n: (n, 1)) for op in ("BUILD_TUPLE", "BUILD_LIST", "BUILD_SET")},
    "BUILD_MAP": lambda n: (2 * n, 1),
    "BUILD_CONST_KEY_MAP": lambda n: (n + 1, 1),
    "IMPORT_NAME": lambda a: (2, 1),
    "FOR_ITER": lambda a: (1, 2),          # when it produces an item; exhausted, it jumps with none
    **{op: (lambda a: (1, 0)) for op in _COND_JUMPS},
}


def why_not_resumable(tx: InstructionTranslator, inst: Any) -> str | None:
    """None if a break at ``inst`` can resume; else the reason the frame runs eagerly."""
    if inst.opname not in OPERANDS:
        return f"a break at {inst.opname} cannot resume (only calls, operators and simple stores can)"
    if origin_of(tx.code).original(inst.index) is None:
        return "the break is inside a resume function's access to a closure cell"
    pops, _ = OPERANDS[inst.opname](inst.arg if not isinstance(inst.arg, Label) else 0)
    if pops > len(tx.stack):
        return "the stack is shallower than the instruction's operands"
    below = tx.stack[:len(tx.stack) - pops]
    if _reentered(below) and inst.opname not in _COND_JUMPS \
            and (inst.handler is None or inst.handler.stack_depth > len(below)):
        return "the break is inside a torch.autocast or inference_mode block it cannot close on an error"
    if tx.current_exc is not None:
        if len(tx.exc_slots) != 1 or not isinstance(tx.current_exc, ExceptionVariable):
            return "the break is inside an `except` block inside another one"
        if tx.exc_slots[0] >= len(tx.stack) - pops:
            return "the break's operands include the exception being handled"
        if inst.opname not in _COND_JUMPS and (inst.handler is None or inst.handler.stack_depth <= tx.exc_slots[0]):
            return "the break is inside an `except` block that has no cleanup handler"
    return None


# -- callees that broke inside: called through their own bytegraph wrapper -------------------
# The wrappers are kept on the function object itself (``__bytegraph_callees__``): a global
# table keyed by the function would keep it alive through its own wrapper.
_CALLEES_ATTR = "__bytegraph_callees__"


_NOT_A_FRAME_OF_ITS_OWN = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _capturable_frame(code: types.CodeType) -> bool:
    """A comprehension's hidden function (``<listcomp>``) runs natively, as part of the
    caller's break; a generator function's call only makes a generator."""
    return not code.co_name.startswith("<") and not code.co_flags & _NOT_A_FRAME_OF_ITS_OWN


def compiled_callee(obj: Any, backend: Any, dynamic: Any) -> Any:
    """The callable to call instead of ``obj`` (a function, method or module whose body broke):
    the same call, captured by bytegraph as a frame of its own. Cached per object and settings."""
    from .compiled import CompiledFunction

    if isinstance(obj, types.MethodType):
        return types.MethodType(compiled_callee(obj.__func__, backend, dynamic), obj.__self__)
    if isinstance(obj, torch.nn.Module):
        # The wrapper must be the function that was inlined when the break happened, so that
        # capturing it makes progress: ``forward`` for a module without hooks, else ``__call__``.
        call = type(obj).forward if not has_hooks(obj) and type(obj).__call__ is torch.nn.Module.__call__ \
            else type(obj).__call__
        return types.MethodType(compiled_callee(call, backend, dynamic), obj)
    if not isinstance(obj, types.FunctionType) or not _capturable_frame(obj.__code__):
        return obj
    per_settings = obj.__dict__.get(_CALLEES_ATTR)
    if per_settings is None:
        per_settings = obj.__dict__[_CALLEES_ATTR] = {}
    key = (id(backend), dynamic)
    compiled = per_settings.get(key)
    if compiled is None:
        compiled = per_settings[key] = CompiledFunction(obj, backend, False, dynamic)
    return compiled


def _wrap_callee(cg: PyCodegen, vt: VariableTracker, backend: Any, dynamic: Any) -> None:
    if isinstance(vt, (UserFunctionVariable, NestedFunctionVariable, UserMethodVariable, NNModuleVariable)):
        cg.push_callable(compiled_callee)
        cg.reconstruct(vt)
        cg.load_const(backend)
        cg.load_const(dynamic)
        cg.call(3)
    else:
        cg.reconstruct(vt)


def _callable_position(inst: Any, operands: list[VariableTracker]) -> int:
    if inst.opname == "CALL":
        return 1 if isinstance(operands[0], NullVariable) else 0
    return 1        # CALL_FUNCTION_EX: NULL, callable, args[, kwargs]


def _reentered(below: list[VariableTracker]) -> tuple[int, ...]:
    """Stack items that are the ``__exit__`` of a torch.autocast / inference_mode block open in
    the frame: the resume function gets the manager and enters it again (codegen/resume.py)."""
    return tuple(i for i, vt in enumerate(below)
                 if isinstance(vt, BoundMethodVariable) and vt.name == "__exit__"
                 and isinstance(vt.obj, GraphContextVariable))


# -- the transformed code --------------------------------------------------------------------
def emit_break(cg: PyCodegen, tx: InstructionTranslator, inst: Any, why: Unsupported, owner: Any) -> None:
    """Emit everything after the graph call: side effects, the native instruction, and the
    call(s) of the resume function(s)."""
    pops, pushes = OPERANDS[inst.opname](inst.arg if not isinstance(inst.arg, Label) else 0)
    below, operands = tx.stack[:len(tx.stack) - pops], tx.stack[len(tx.stack) - pops:]
    locals_ = {name: vt for name, vt in tx.locals.items()          # (a resume function's own arguments
               if not name.startswith((STACK_PREFIX, CELL_PREFIX)) and name != EXC_ARG}     # are passed again apart)
    # Everything live is built before the write-back (as the return value is: see convert._finish)
    skipped = {*_reentered(below), *(tx.exc_slots if tx.current_exc is not None else ())}   # passed apart
    cg.pin([*(vt for i, vt in enumerate(below) if i not in skipped), *operands,
            *([tx.current_exc] if tx.current_exc is not None else []),
            *(tx.cells[name] if name in tx.cells else tx.locals[f"{CELL_PREFIX}{name}"]
              for name in owner.origin.code.co_cellvars),
            *(locals_[name] for name in sorted(locals_))])
    tx.capture.side_effects.codegen(cg)
    broke_inside = len(why.stack) > 1 and inst.opname in _CALLS
    callee = _callable_position(inst, operands) if broke_inside else -1
    origin = owner.origin
    at = origin.original(inst.index)
    handling = tx.current_exc is not None      # inside an `except` block (why_not_resumable checked it)
    # torch.autocast / inference_mode blocks open here: the graph leaves them at its end, the
    # native instruction runs inside them, and the resume function enters them again
    contexts = [below[i].obj for i in _reentered(below)]
    for ctx in reversed(contexts):
        ctx.close_in_graph(tx)
    if handling:
        # the native instruction sees the exception being handled (sys.exc_info(), a bare
        # `raise` in a callee), as in the original frame: stack [caller's exception]
        cg.reconstruct(tx.current_exc)
        cg.emit("PUSH_EXC_INFO")
        cg.emit("POP_TOP")
    if inst.opname in _COND_JUMPS:
        contexts = []                          # a jump runs no code that autocast could change
    for i, ctx in enumerate(contexts):
        cg.push_callable(ctx.enter_fn)
        for arg in ctx.native_args:
            cg.load_const(arg)
        cg.call(len(ctx.native_args))
        cg.store_local(f"___ctx{i}")
    before_try = cg.built_so_far()          # what the handler's path may use (see PyCodegen.reconstruct)
    guarded = _open_user_handler(cg, inst, below, depth=int(handling))
    for i, vt in enumerate(operands):
        if i == callee:
            _wrap_callee(cg, vt, owner.backend, owner.frame_state.dynamic)
        else:
            cg.reconstruct(vt)
    if inst.opname in _COND_JUMPS:
        taken = Label()           # after the not-taken side's resume call: always a forward jump
        cg.instrs.append(Instr(inst.opname.replace("BACKWARD", "FORWARD"), taken, lineno=cg.lineno))
        at_split = cg.built_so_far()
        for target in (at + 1, None):
            if target is None:
                cg.instrs.append(taken)
                cg.rebuild_from(at_split)
                target = origin.original(inst.target)
            if handling:
                cg.emit("POP_EXCEPT")
            _emit_resume(cg, tx, owner, target, below, [], locals_)
        return
    if inst.opname == "CALL" and tx.kw_names:
        cg.emit("KW_NAMES", tuple(tx.kw_names))
    if inst.opname == "CALL":
        cg.emit("PRECALL", inst.arg)
    exhausted = Label() if inst.opname == "FOR_ITER" else None
    if exhausted is not None:
        cg.instrs.append(Instr("FOR_ITER", exhausted, lineno=cg.lineno))
    else:
        cg.instrs.append(Instr(inst.opname, inst.instr.arg, lineno=cg.lineno) if inst.instr.require_arg()
                         else Instr(inst.opname, lineno=cg.lineno))
    outs = [f"___break_out{i}" for i in range(pushes)]
    for name in reversed(outs):
        cg.store_local(name)
    if guarded is not None:
        cg.instrs.append(TryEnd(guarded))
    at_split = cg.built_so_far()
    _leave(cg, contexts, handling)
    _emit_resume(cg, tx, owner, at + 1, below, outs, locals_)
    if exhausted is not None:         # the loop is over: continue after it, the iterator popped
        cg.instrs.append(exhausted)
        cg.rebuild_from(at_split)
        _leave(cg, contexts, handling)
        _emit_resume(cg, tx, owner, origin.original(inst.target), below, [], locals_)
    if guarded is not None:
        cg.rebuild_from(before_try)
        _emit_user_handler(cg, tx, owner, inst, guarded, below, locals_, handling, contexts)


def _leave(cg: PyCodegen, contexts: list[Any], handling: bool) -> None:
    """After the native instruction: leave the contexts entered for it, and the handled exception."""
    _exit_contexts(cg, contexts)
    if handling:
        cg.emit("POP_EXCEPT")


def _exit_contexts(cg: PyCodegen, contexts: list[Any]) -> None:
    for i in reversed(range(len(contexts))):
        cg.push_callable(contexts[i].exit_fn)
        cg.emit("LOAD_FAST", f"___ctx{i}")
        cg.call(1)
        cg.emit("POP_TOP")


def _open_user_handler(cg: PyCodegen, inst: Any, below: list[VariableTracker], depth: int) -> TryBegin | None:
    """The native instruction of a break inside the program's own try/with block must raise
    into that block's handler, as it would in the original code: it runs under a handler of
    the transformed code that resumes at the original handler (``_emit_user_handler``).
    ``depth``: stack items of the transformed code under the instruction's operands."""
    handler = inst.handler
    if handler is None or handler.stack_depth > len(below) or inst.opname in _COND_JUMPS:
        return None
    begin = TryBegin(Label(), push_lasti=False, stack_depth=depth)
    cg.instrs.append(begin)
    return begin


def _emit_user_handler(cg: PyCodegen, tx: InstructionTranslator, owner: Any, inst: Any, begin: TryBegin,
                       below: list[VariableTracker], locals_: dict[str, VariableTracker], handling: bool,
                       contexts: list[Any]) -> None:
    """The transformed code's handler: the exception, with the stack the original handler
    expects (its depth, then lasti where asked, then the exception), handed to the resume
    function that starts at the original handler."""
    handler = inst.handler
    cg.instrs.append(begin.target)
    cg.store_local("___break_exc")
    _exit_contexts(cg, contexts)
    if handling:
        cg.emit("POP_EXCEPT")         # the caller's exception is current again
    outs = ["___break_exc"]
    if handler.push_lasti:
        cg.load_const(inst.index)
        cg.store_local("___break_lasti")
        outs.insert(0, "___break_lasti")
    _emit_resume(cg, tx, owner, owner.origin.original(handler.target), below[:handler.stack_depth], outs,
                 locals_)


def _emit_resume(cg: PyCodegen, tx: InstructionTranslator, owner: Any, target: int, below: list[VariableTracker],
                 outs: list[str], locals_: dict[str, VariableTracker]) -> None:
    orig = owner.origin.code
    nulls = tuple(isinstance(vt, NullVariable) for vt in below)
    names = tuple(sorted(locals_))
    # inside an `except` block: the resume function makes the exception current again, and
    # the slot where the previous one was saved is filled by that (codegen/resume.py)
    exc_slot = next((i for i in tx.exc_slots if i < len(below)), None) if tx.current_exc is not None else None
    reenter = _reentered(below)
    resume = owner.resume_function(orig, target, nulls, len(outs), names, exc_slot, reenter)
    # return Continue((resume, (args...))): the dispatcher makes the tail call (no nesting)
    cg.push_callable(Continue)
    cg.load_const(resume)
    nargs = 0
    for i, vt in enumerate(below):
        if i in reenter:
            vt.obj.reconstruct_manager(cg)
            nargs += 1
        elif not isinstance(vt, NullVariable) and i != exc_slot:
            cg.reconstruct(vt)
            nargs += 1
    for name in outs:
        cg.emit("LOAD_FAST", name)
    if exc_slot is not None:
        cg.reconstruct(tx.current_exc)
    for name in orig.co_cellvars:     # the frame's cells themselves (see codegen/resume.py)
        cg.reconstruct(tx.cells[name] if name in tx.cells else tx.locals[f"{CELL_PREFIX}{name}"])
    for name in names:
        cg.reconstruct(locals_[name])
    cg.emit("BUILD_TUPLE", nargs + len(outs) + (exc_slot is not None) + len(orig.co_cellvars) + len(names))
    cg.emit("BUILD_TUPLE", 2)
    cg.call(1)
    cg.emit("RETURN_VALUE")
