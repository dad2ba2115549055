"""Jumps, branches, loops, return and raise."""

from __future__ import annotations

from ...codegen.instructions import Inst
from ...codegen.resume import STACK_PREFIX
from ...diagnostics import breaks
from ...diagnostics.errors import Unsupported, UserCodeError
from ...sources import LocalSource
from ...variables.base import VariableTracker
from ...variables.builtins import BuiltinVariable
from ...variables.ctx import ExceptionVariable
from ...variables.iterators import GeneratorVariable
from ...variables.lists import IteratorVariable
from ..registry import V311, V312, handles, since, until
from ..translator import InstructionTranslator as Tx


@handles("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")
def jump(tx: Tx, inst: Inst) -> None:
    """( -- )"""
    tx.jump(inst)


@handles("POP_JUMP_IF_TRUE", versions=since(V312))
@handles("POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_TRUE", versions=until(V311))
def pop_jump_if_true(tx: Tx, inst: Inst) -> None:
    """(cond -- )"""
    if tx.pop().truth(tx):
        tx.jump(inst)


@handles("POP_JUMP_IF_FALSE", versions=since(V312))
@handles("POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_BACKWARD_IF_FALSE", versions=until(V311))
def pop_jump_if_false(tx: Tx, inst: Inst) -> None:
    """(cond -- )"""
    if not tx.pop().truth(tx):
        tx.jump(inst)


def _is_none(vt) -> bool:
    return vt.is_constant() and vt.as_constant() is None


@handles("POP_JUMP_IF_NONE", versions=since(V312))
@handles("POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_BACKWARD_IF_NONE", versions=until(V311))
def pop_jump_if_none(tx: Tx, inst: Inst) -> None:
    """(value -- )"""
    if _is_none(tx.pop()):
        tx.jump(inst)


@handles("POP_JUMP_IF_NOT_NONE", versions=since(V312))
@handles("POP_JUMP_FORWARD_IF_NOT_NONE", "POP_JUMP_BACKWARD_IF_NOT_NONE", versions=until(V311))
def pop_jump_if_not_none(tx: Tx, inst: Inst) -> None:
    """(value -- )"""
    if not _is_none(tx.pop()):
        tx.jump(inst)


@handles("JUMP_IF_TRUE_OR_POP", versions=until(V311))
def jump_if_true_or_pop(tx: Tx, inst: Inst) -> None:
    """(cond -- cond) when jumping, (cond -- ) otherwise"""
    if tx.stack[-1].truth(tx):
        tx.jump(inst)
    else:
        tx.pop()


@handles("JUMP_IF_FALSE_OR_POP", versions=until(V311))
def jump_if_false_or_pop(tx: Tx, inst: Inst) -> None:
    """(cond -- cond) when jumping, (cond -- ) otherwise"""
    if not tx.stack[-1].truth(tx):
        tx.jump(inst)
    else:
        tx.pop()


@handles("GET_ITER")
def get_iter(tx: Tx, inst: Inst) -> None:
    """(iterable -- iterator)"""
    tx.push(BuiltinVariable(iter).call_function(tx, [tx.pop()], {}))


def _carried_across_a_break(tx: Tx, it) -> bool:
    """A resume function's loop iterator (a stack argument): stepping it natively keeps one
    resume function per place in the loop (tracing would unroll the rest of the loop,
    specialized on the iterator's position, one capture per iteration)."""
    src = it.source
    return tx.parent is None and isinstance(src, LocalSource) and src.local.startswith(STACK_PREFIX)


@handles("FOR_ITER")
def for_iter(tx: Tx, inst: Inst) -> None:
    """(iterator -- iterator, item), or (iterator -- ) and jump when exhausted (past the END_FOR
    CPython skips from 3.12: the instruction's target says where)"""
    it = tx.stack[-1]
    if _carried_across_a_break(tx, it):
        raise Unsupported(breaks.LOOP_AFTER_BREAK, f"for loop over {it.describe()}")
    if not isinstance(it, IteratorVariable):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"iterating {it.describe()}")
    item = it.advance(tx)
    if item is None:
        tx.pop()
        tx.jump(inst)
    else:
        tx.push(item)


@handles("RETURN_VALUE")
def return_value(tx: Tx, inst: Inst) -> None:
    """(value -- )"""
    tx.return_value = tx.pop()


@handles("RETURN_CONST", versions=since(V312))
def return_const(tx: Tx, inst: Inst) -> None:
    """( -- ): return a constant"""
    tx.return_value = tx.wrap_const(inst.arg)


def exception_instance(tx: Tx, vt) -> BaseException:
    """The exception instance a ``raise`` operand stands for (a class is instantiated)."""
    if vt.is_constant() and isinstance(vt.as_constant(), type) and issubclass(vt.as_constant(), BaseException):
        vt = tx.call(vt, [], {})
    if isinstance(vt, ExceptionVariable):
        return vt.exc
    raise UserCodeError(TypeError("exceptions must derive from BaseException"))


@handles("RAISE_VARARGS")
def raise_varargs(tx: Tx, inst: Inst) -> None:
    """(exc[, cause] -- ): raise; the exception table of this frame (or a caller's) handles it,
    else capture stops and the program runs eagerly, raising it for real"""
    if inst.arg == 0:
        if tx.current_exc is None or not isinstance(tx.current_exc, ExceptionVariable):
            raise UserCodeError(RuntimeError("No active exception to reraise"))
        raise UserCodeError(tx.current_exc.exc)
    cause = tx.pop() if inst.arg == 2 else None
    exc = exception_instance(tx, tx.pop())
    if cause is not None:
        exc.__cause__ = None if cause.is_constant() and cause.as_constant() is None else exception_instance(tx, cause)
    raise UserCodeError(exc)


@handles("RERAISE")
def reraise(tx: Tx, inst: Inst) -> None:
    """([lasti,] ..., exc -- ): raise again the exception a handler could not handle"""
    raise UserCodeError(exception_instance(tx, tx.pop()))


@handles("PUSH_EXC_INFO")
def push_exc_info(tx: Tx, inst: Inst) -> None:
    """(exc -- previous_exc, exc): the exception becomes the frame's current one (sys.exc_info)"""
    exc = tx.pop()
    tx.exc_slots.append(len(tx.stack))
    tx.stack.append(tx.current_exc if tx.current_exc is not None else tx.wrap_const(None))
    tx.stack.append(exc)
    tx.current_exc = exc


@handles("POP_EXCEPT")
def pop_except(tx: Tx, inst: Inst) -> None:
    """(previous_exc -- ): leaving an except block restores the previous current exception"""
    prev = tx.pop()
    if tx.exc_slots:
        tx.exc_slots.pop()
    tx.current_exc = None if prev.is_constant() and prev.as_constant() is None else prev


@handles("CHECK_EXC_MATCH")
def check_exc_match(tx: Tx, inst: Inst) -> None:
    """(exc, type -- exc, bool): ``except type:``"""
    classes = tx.pop().as_constant()
    tx.push(tx.wrap_const(isinstance(exception_instance(tx, tx.stack[-1]), classes)))


@handles("BEFORE_WITH")
def before_with(tx: Tx, inst: Inst) -> None:
    """(mgr -- mgr.__exit__, mgr.__enter__())"""
    mgr = tx.pop()
    exit_fn = mgr.var_getattr(tx, "__exit__")
    result = tx.call(mgr.var_getattr(tx, "__enter__"), [], {})
    tx.push(exit_fn)
    tx.push(result)


@handles("WITH_EXCEPT_START")
def with_except_start(tx: Tx, inst: Inst) -> None:
    """(exit, lasti, prev_exc, exc -- exit, lasti, prev_exc, exc, exit(type, exc, tb))"""
    exc = tx.stack[-1]
    exit_fn = tx.stack[-4]
    tx.push(tx.call(exit_fn, [tx.wrap_const(exc.python_type()), exc, tx.wrap_const(None)], {}))


@handles("RETURN_GENERATOR")
def return_generator(tx: Tx, inst: Inst) -> None:
    """( -- None): the first instruction of a generator's code, run on its first next()"""
    tx.push(tx.wrap_const(None))


@handles("YIELD_VALUE")
def yield_value(tx: Tx, inst: Inst) -> None:
    """(value -- ): suspends the frame; resuming pushes the sent value (None for next())"""
    tx.yielded = tx.pop()


@handles("GET_YIELD_FROM_ITER")
def get_yield_from_iter(tx: Tx, inst: Inst) -> None:
    """(iterable -- iterator)"""
    tx.push(BuiltinVariable(iter).call_function(tx, [tx.pop()], {}))


def _send(tx: Tx) -> tuple[VariableTracker | None, VariableTracker]:
    """Advance a ``yield from``'s iterator with the value sent into the outer generator (None on
    ``next()``): the item, or None and what the iterator returned (a generator's return value)."""
    sent = tx.pop()
    it = tx.stack[-1]
    if not isinstance(it, IteratorVariable):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"yield from {it.describe()}")
    if isinstance(it, GeneratorVariable):
        item = it.send_item(tx, sent)
    elif sent.is_constant() and sent.as_constant() is None:
        item = it.advance(tx)
    else:
        raise Unsupported(breaks.GENERATOR, f"send() through a yield from {it.describe()}")
    returned = it.returned() if isinstance(it, GeneratorVariable) else None
    return item, returned if returned is not None else tx.wrap_const(None)


@handles("SEND", versions=until(V311))
def send(tx: Tx, inst: Inst) -> None:
    """(iterator, sent -- iterator, item), or (iterator, sent -- returned) and jump when exhausted (``yield from``)"""
    item, returned = _send(tx)
    if item is None:
        tx.pop()
        tx.push(returned)
        tx.jump(inst)
    else:
        tx.push(item)


@handles("SEND", versions=since(V312))
def send_312(tx: Tx, inst: Inst) -> None:
    """(iterator, sent -- iterator, item), or (iterator, sent -- iterator, returned) and jump to END_SEND"""
    item, returned = _send(tx)
    if item is None:
        tx.push(returned)
        tx.jump(inst)
    else:
        tx.push(item)


@handles("END_SEND", versions=since(V312))
def end_send(tx: Tx, inst: Inst) -> None:
    """(iterator, value -- value): the end of a ``yield from``"""
    value = tx.pop()
    tx.pop()
    tx.push(value)


@handles("CLEANUP_THROW", versions=since(V312))
def cleanup_throw(tx: Tx, inst: Inst) -> None:
    """(iterator, sent, exc -- None, value): an exception thrown into a ``yield from``; a
    StopIteration ends it with its value, any other is raised again"""
    exc = tx.pop()
    error = exception_instance(tx, exc)
    if not isinstance(error, StopIteration):
        raise UserCodeError(error)
    tx.popn(2)
    tx.push(tx.wrap_const(None))
    tx.push(tx.wrap_const(error.value))
