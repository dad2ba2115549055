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

from ..codegen.comprehension import Comprehension, inlined_comprehension
from ..codegen.pycodegen import PyCodegen
from ..codegen.resume import CELL_PREFIX, EXC_ARG, STACK_PREFIX, Continue, origin_of
from ..codegen.versions import CONDITIONAL_JUMPS, DIALECT
from ..diagnostics.errors import Unsupported
from ..interpreter.translator import InstructionTranslator, program_for
from ..variables.base import BoundMethodVariable, NullVariable, VariableTracker
from ..variables.ctx import ExceptionVariable, GraphContextVariable
from ..variables.functions import NestedFunctionVariable, UserFunctionVariable, UserMethodVariable
from ..variables.nn_module import NNModuleVariable, has_full_backward_hooks, has_hooks
from .native_comprehension import NativeComprehension

_CALLS = frozenset({"CALL", "CALL_KW", "CALL_FUNCTION_EX"})
# 3.11's `a and b` / `a or b`: the side that jumps keeps the value as the expression's result
_KEEP_WHEN_TAKEN = frozenset({"JUMP_IF_TRUE_OR_POP", "JUMP_IF_FALSE_OR_POP"})
_COND_JUMPS = CONDITIONAL_JUMPS | _KEEP_WHEN_TAKEN


def _load_attr(arg: Any) -> tuple[int, int] | None:
    """LOAD_ATTR of a plain attribute; from 3.12 its method form (``(True, name)``) pushes a
    method pair, which may hold a NULL: not resumable, as LOAD_METHOD is not on 3.11."""
    return None if isinstance(arg, tuple) and arg[0] else (1, 1)


# opname -> (arg -> (stack items consumed, stack items produced), or None: not this form) for
# the instructions a break can split, of every supported version
OPERANDS: dict[str, Callable[[Any], tuple[int, int] | None]] = {
    "CALL": lambda n: (n + 2, 1),
    "CALL_KW": lambda n: (n + 3, 1),              # 3.13: the keyword names tuple is the last operand
    "CALL_FUNCTION_EX": lambda flags: (3 + (flags & 1), 1),
    **{op: (lambda a: (2, 1)) for op in ("BINARY_OP", "BINARY_SUBSCR", "COMPARE_OP", "IS_OP", "CONTAINS_OP")},
    **{op: (lambda a: (1, 1)) for op in ("UNARY_NEGATIVE", "UNARY_POSITIVE", "UNARY_INVERT", "UNARY_NOT",
                                         "GET_ITER", "CALL_INTRINSIC_1", "TO_BOOL", "CONVERT_VALUE",
                                         "FORMAT_SIMPLE")},
    "LOAD_ATTR": _load_attr,
    "BINARY_SLICE": lambda a: (3, 1),
    "STORE_SLICE": lambda a: (4, 0),
    "FORMAT_WITH_SPEC": lambda a: (2, 1),
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
    **{op: (lambda a: (1, 0)) for op in _COND_JUMPS},      # jumping, the _KEEP_WHEN_TAKEN ones push it back
}


def break_point(code: types.CodeType, index: int) -> int:
    """Where a frame that broke under instruction ``index`` stops: before it, or, inside a
    comprehension inlined into the frame (3.12+), before the comprehension, which then runs
    natively as a whole, as 3.11 runs a comprehension's function (``codegen/comprehension.py``)."""
    comp = inlined_comprehension(program_for(code), code, index)
    return comp.start if comp is not None else index


def _native_comprehension(tx: InstructionTranslator, inst: Any) -> Comprehension | None:
    """The comprehension that starts at ``inst``, when the frame stopped before one."""
    if inst.opname != "LOAD_FAST_AND_CLEAR":
        return None
    comp = inlined_comprehension(tx.program, tx.code, inst.index)
    return comp if comp is not None and comp.start == inst.index else None


def why_not_resumable(tx: InstructionTranslator, inst: Any) -> str | None:
    """None if a break at ``inst`` can resume; else the reason the frame runs eagerly."""
    comp = _native_comprehension(tx, inst)
    if comp is not None:
        if origin_of(tx.code).original(comp.end) is None:
            return "the comprehension ends inside a resume function's access to a closure cell"
        pops = 1
    else:
        effect = _operands(inst)
        if effect is None:
            return f"a break at {inst.opname} cannot resume (only calls, operators and simple stores can)"
        if origin_of(tx.code).original(inst.index) is None:
            return "the break is inside a resume function's access to a closure cell"
        pops, _ = effect
    if pops > len(tx.stack):
        return "the stack is shallower than the instruction's operands"
    below = tx.stack[:len(tx.stack) - pops]
    if _reentered(below) and inst.opname not in _COND_JUMPS \
            and (inst.handler is None or inst.handler.stack_depth > len(below)):
        return "the break is inside a torch.autocast or inference_mode block it cannot close on an error"
    if tx.current_exc is not None:
        handled = _handled(tx)
        if len(handled) != len(tx.exc_slots) or not all(isinstance(e, ExceptionVariable) for e in handled):
            return "the break is inside an `except` block whose exception bytegraph cannot rebuild"
        if tx.exc_slots[-1] >= len(tx.stack) - pops:
            return "the break's operands include the exception being handled"
        if inst.opname not in _COND_JUMPS and (inst.handler is None or inst.handler.stack_depth <= tx.exc_slots[-1]):
            return "the break is inside an `except` block that has no cleanup handler"
    return None


def _handled(tx: InstructionTranslator) -> list[VariableTracker]:
    """The exceptions being handled, outermost first, one per ``except`` block the break is in
    (``tx.exc_slots``): each PUSH_EXC_INFO saved the one before it on the stack, so an inner
    block's slot holds the outer block's exception, and the innermost is the current one."""
    if tx.current_exc is None:
        return []
    return [*(tx.stack[i] for i in tx.exc_slots[1:]), tx.current_exc]


def _operands(inst: Any) -> tuple[int, int] | None:
    rule = OPERANDS.get(inst.opname)
    return rule(inst.arg if not isinstance(inst.arg, Label) else 0) if rule is not None else None


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
    if isinstance(obj, torch.nn.Module) and has_full_backward_hooks(obj):
        return obj      # its BackwardHook cannot span a break (variables/module_hooks.py): the call runs natively
    if isinstance(obj, torch.nn.Module):
        # The wrapper must be the function that was inlined when the break happened, so that
        # capturing it makes progress: ``forward`` for a module without hooks, else ``__call__``.
        call = type(obj).forward if not has_hooks(obj) and type(obj).__call__ is torch.nn.Module.__call__ \
            else type(obj).__call__
        return types.MethodType(compiled_callee(call, backend, dynamic), obj)
    if not isinstance(obj, types.FunctionType) or not _capturable_frame(obj.__code__):
        return obj
    per_settings = obj.__dict__.get(_CALLEES_ATTR)
    if per_settings is None or any(c.fn is not obj for c in per_settings.values()):
        # (none yet, or another function's: functools.wraps copies the wrapped function's
        # __dict__, so a wrapper made after the wrapped function broke starts with its table)
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
    """Where the callable is among a call's operands: its NULL is below it up to 3.12 and
    above it from 3.13; a method call has the method first."""
    return 1 if isinstance(operands[0], NullVariable) else 0


def _reentered(below: list[VariableTracker]) -> tuple[int, ...]:
    """Stack items that are the ``__exit__`` of a torch.autocast / inference_mode block open in
    the frame: the resume function gets the manager and enters it again (codegen/resume.py)."""
    return tuple(i for i, vt in enumerate(below)
                 if isinstance(vt, BoundMethodVariable) and vt.name == "__exit__"
                 and isinstance(vt.obj, GraphContextVariable))


# -- the transformed code --------------------------------------------------------------------
def emit_break(cg: PyCodegen, tx: InstructionTranslator, inst: Any, why: Unsupported, owner: Any) -> None:
    """Emit everything after the graph call: side effects, the native instruction (or inlined
    comprehension), and the call(s) of the resume function(s)."""
    comp = _native_comprehension(tx, inst)
    pops, pushes = (1, comp.pushes) if comp is not None else _operands(inst)
    below, operands = tx.stack[:len(tx.stack) - pops], tx.stack[len(tx.stack) - pops:]
    locals_ = {name: vt for name, vt in tx.locals.items()          # (a resume function's own arguments
               if not name.startswith((STACK_PREFIX, CELL_PREFIX, EXC_ARG))}     # are passed again apart)
    # Everything live is built before the write-back (as the return value is: see convert._finish)
    skipped = {*_reentered(below), *(tx.exc_slots if tx.current_exc is not None else ())}   # passed apart
    cg.pin([*(vt for i, vt in enumerate(below) if i not in skipped), *operands,
            *_handled(tx),
            *(tx.cells[name] if name in tx.cells else tx.locals[f"{CELL_PREFIX}{name}"]
              for name in owner.origin.code.co_cellvars),
            *(locals_[name] for name in sorted(locals_))])
    tx.capture.side_effects.codegen(cg)
    broke_inside = comp is None and len(why.stack) > 1 and inst.opname in _CALLS
    callee = _callable_position(inst, operands) if broke_inside else -1
    origin = owner.origin
    at = origin.original(inst.index)
    handling = len(_handled(tx))      # inside that many nested `except` blocks (why_not_resumable checked them)
    # torch.autocast / inference_mode blocks open here: the graph leaves them at its end, the
    # native instruction runs inside them, and the resume function enters them again
    contexts = [below[i].obj for i in _reentered(below)]
    for ctx in reversed(contexts):
        ctx.close_in_graph(tx)
    for exc in _handled(tx):
        # the native instruction sees the exception being handled (sys.exc_info(), a bare
        # `raise` in a callee), as in the original frame: stack [caller's exception, outer ones]
        cg.reconstruct(exc)
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
    guarded = _open_user_handler(inst, below, depth=handling)
    native = NativeComprehension(tx, comp, len(below) - handling, guarded) if comp is not None else None
    if native is not None:
        native.fill_slots(cg, locals_)
    elif guarded is not None:
        cg.instrs.append(guarded)
    for i, vt in enumerate(operands):
        if i == callee:
            _wrap_callee(cg, vt, owner.backend, owner.frame_state.dynamic)
        else:
            cg.reconstruct(vt)
    if inst.opname in DIALECT.bool_operand:
        cg.emit("TO_BOOL")          # 3.13: the operand the trace saw through TO_BOOL is the value itself
    if inst.opname in _COND_JUMPS:
        _emit_branch(cg, tx, inst, owner, below, locals_, handling, guarded)
        if guarded is not None:         # (``bool(t)`` of a tensor with several values raises)
            cg.rebuild_from(before_try)
            _emit_user_handler(cg, tx, owner, inst, guarded, below, locals_, handling, contexts)
        return
    exhausted = Label() if inst.opname == "FOR_ITER" else None
    resume_at, after = at + 1, locals_
    if native is not None:
        native.emit_body(cg)
        resume_at, after = origin.original(comp.end), native.locals_after(locals_)
    elif inst.opname == "CALL":
        cg.call_kw(inst.arg, tx.kw_names)        # KW_NAMES (3.11, 3.12) and PRECALL (3.11) as the version has them
    elif exhausted is not None:
        cg.instrs.append(Instr("FOR_ITER", exhausted, lineno=cg.lineno))
    else:
        cg.instrs.append(Instr(inst.opname, inst.instr.arg, lineno=cg.lineno) if inst.instr.require_arg()
                         else Instr(inst.opname, lineno=cg.lineno))
    outs = [f"___break_out{i}" for i in range(pushes)]
    for name in reversed(outs):
        cg.store_local(name)
    if guarded is not None and native is None:
        cg.instrs.append(TryEnd(guarded))
    at_split = cg.built_so_far()
    _leave(cg, contexts, handling)
    _emit_resume(cg, tx, owner, resume_at, below, outs, after)
    if native is not None:
        native.emit_handlers(cg)
    if exhausted is not None:         # the loop is over: continue after it, the iterator popped
        cg.instrs.append(exhausted)
        for op in DIALECT.for_iter_exit:      # 3.12+: what FOR_ITER must jump to; CPython skips it
            cg.emit(op)
        cg.rebuild_from(at_split)
        _leave(cg, contexts, handling)
        _emit_resume(cg, tx, owner, origin.original(inst.target), below, [], locals_)
    if guarded is not None:
        cg.rebuild_from(before_try)
        _emit_user_handler(cg, tx, owner, inst, guarded, below, locals_, handling, contexts)


def _emit_branch(cg: PyCodegen, tx: InstructionTranslator, inst: Any, owner: Any, below: list[VariableTracker],
                 locals_: dict[str, VariableTracker], handling: int, guarded: TryBegin | None) -> None:
    """A conditional jump runs natively; each side calls its own resume function. Under the
    program's try/with (``guarded``) the jump is the last instruction the handler covers: the
    truth test may raise, and must leave through the program's handler (a ``with no_grad()``
    restores grad mode; fuzz seed 3524 left it off)."""
    origin = owner.origin
    taken = Label()           # after the not-taken side's resume call: always a forward jump
    keeps = inst.opname in _KEEP_WHEN_TAKEN
    jump = inst.opname if keeps else DIALECT.forward_jump(inst.opname)
    cg.instrs.append(Instr(jump, taken, lineno=cg.lineno))
    if guarded is not None:
        cg.instrs.append(TryEnd(guarded))
    at_split = cg.built_so_far()
    for target in (origin.original(inst.index) + 1, None):
        outs = []
        if target is None:
            cg.instrs.append(taken)
            cg.rebuild_from(at_split)
            target = origin.original(inst.target)
            if keeps:
                outs = ["___break_out0"]
                cg.store_local(outs[0])
        for _ in range(handling):
            cg.emit("POP_EXCEPT")
        _emit_resume(cg, tx, owner, target, below, outs, locals_)


def _leave(cg: PyCodegen, contexts: list[Any], handling: int) -> None:
    """After the native instruction: leave the contexts entered for it, and the handled exceptions."""
    _exit_contexts(cg, contexts)
    for _ in range(handling):
        cg.emit("POP_EXCEPT")


def _exit_contexts(cg: PyCodegen, contexts: list[Any]) -> None:
    """Leave them for now (``suspend_fn``): the resume function enters them again, on either path."""
    for i in reversed(range(len(contexts))):
        cg.push_callable(contexts[i].suspend_fn)
        cg.emit("LOAD_FAST", f"___ctx{i}")
        cg.call(1)
        cg.emit("POP_TOP")


def _open_user_handler(inst: Any, below: list[VariableTracker], depth: int) -> TryBegin | None:
    """The native instruction of a break inside the program's own try/with block must raise
    into that block's handler, as it would in the original code: it runs under a handler of
    the transformed code that resumes at the original handler (``_emit_user_handler``).
    ``depth``: stack items of the transformed code under the instruction's operands."""
    handler = inst.handler
    if handler is None or handler.stack_depth > len(below):
        return None
    return TryBegin(Label(), push_lasti=False, stack_depth=depth)


def _emit_user_handler(cg: PyCodegen, tx: InstructionTranslator, owner: Any, inst: Any, begin: TryBegin,
                       below: list[VariableTracker], locals_: dict[str, VariableTracker], handling: int,
                       contexts: list[Any]) -> None:
    """The transformed code's handler: the exception, with the stack the original handler
    expects (its depth, then lasti where asked, then the exception), handed to the resume
    function that starts at the original handler."""
    handler = inst.handler
    cg.instrs.append(begin.target)
    cg.store_local("___break_exc")
    _exit_contexts(cg, contexts)
    for _ in range(handling):
        cg.emit("POP_EXCEPT")         # the caller's exception is current again
    outs = ["___break_exc"]
    if handler.push_lasti:
        cg.load_const(inst.index)
        cg.store_local("___break_lasti")
        outs.insert(0, "___break_lasti")
    _emit_resume(cg, tx, owner, owner.origin.original(handler.target), below[:handler.stack_depth], outs,
                 locals_)


_JUMPS = frozenset({"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"})


def _through_jumps(orig: types.CodeType, target: int) -> int:
    """Where execution really continues from ``target``: past unconditional jumps, which move
    nothing but the instruction pointer. So every way into one place shares its resume
    function (3.12 ends a loop with ``POP_JUMP_IF_FALSE exit; JUMP_BACKWARD body``, where
    3.11 had ``POP_JUMP_BACKWARD_IF_TRUE body``: the body is one resume function either way)."""
    insts = program_for(orig).insts
    seen = set()
    while insts[target].opname in _JUMPS and target not in seen:
        seen.add(target)
        target = insts[target].target
    return target


def _emit_resume(cg: PyCodegen, tx: InstructionTranslator, owner: Any, target: int, below: list[VariableTracker],
                 outs: list[str], locals_: dict[str, VariableTracker]) -> None:
    orig = owner.origin.code
    target = _through_jumps(orig, target)
    nulls = tuple(isinstance(vt, NullVariable) for vt in below)
    names = tuple(sorted(locals_))
    # inside `except` blocks: the resume function makes each exception current again, in order,
    # and the slot where the previous one was saved is filled by that (codegen/resume.py)
    handled = _handled(tx)
    exc_slots = tuple(i for i in tx.exc_slots if i < len(below)) if handled else ()
    reenter = _reentered(below)
    resume = owner.resume_function(orig, target, nulls, len(outs), names, exc_slots, reenter)
    # return Continue((resume, (args...))): the dispatcher makes the tail call (no nesting)
    cg.push_callable(Continue)
    cg.load_const(resume)
    nargs = 0
    for i, vt in enumerate(below):
        if i in reenter:
            vt.obj.reconstruct_manager(cg)
            nargs += 1
        elif not isinstance(vt, NullVariable) and i not in exc_slots:
            cg.reconstruct(vt)
            nargs += 1
    for name in outs:
        cg.emit("LOAD_FAST", name)
    for exc in handled[:len(exc_slots)]:
        cg.reconstruct(exc)
    for name in orig.co_cellvars:     # the frame's cells themselves (see codegen/resume.py)
        cg.reconstruct(tx.cells[name] if name in tx.cells else tx.locals[f"{CELL_PREFIX}{name}"])
    for name in names:
        cg.reconstruct(locals_[name])
    cg.emit("BUILD_TUPLE", nargs + len(outs) + len(exc_slots) + len(orig.co_cellvars) + len(names))
    cg.emit("BUILD_TUPLE", 2)
    cg.call(1)
    cg.emit("RETURN_VALUE")
