"""InstructionTranslator: runs one frame's bytecode symbolically, on trackers.

The frame state is a stack, locals and cells of trackers; each instruction is handled by
the function registered for its opcode (``registry.handles``). Calls into Python
functions are inlined by a child translator over the callee's code, sharing the
CaptureState (graph, guards, identity map).

The translator is also the ``tx`` that trackers see (``variables.base.Tx``): it wraps
values (VariableBuilder / SourcelessBuilder), installs guards, inlines calls and refuses
side effects on pre-existing state (for now: a graph break).

Globals: a frame reads its function's globals. The compiled function's own globals are
``G[...]`` sources; another module's are read through ``sys.modules[m].__dict__``.
Modules that belong to torch are trusted: their plain bindings (functions, classes,
constants) are not guarded, but their mutable registries (dicts, lists, e.g. the global
module-hook dicts) are, because user code changes them, and so are the globals torch's own
code rebinds (``global flag; flag = True``: ``rebound_globals``).
"""

from __future__ import annotations

import builtins
import inspect
import sys
import types
import weakref
from typing import Any, Callable

from ..builder import SourcelessBuilder, VariableBuilder
from ..codegen.instructions import Inst, Program, load_program
from ..config import config
from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..diagnostics.locations import UserLocation
from ..guards import Guard, GuardKind, IdRef
from ..sources import (AttrSource, FreeVarSource, GlobalsDictSource, GlobalSource, ItemSource, LocalSource,
                       ModuleGlobalsSource, RootBuiltinsSource, Source, builtins_of)
from ..torch_compat import GuardOnDataDependentSymNode
from ..variables.base import LazyVariableTracker, NotConstant, NullVariable, VariableTracker
from ..variables.dicts import DictVariable
from ..variables.functions import existing_cell
from ..variables.iterators import GeneratorVariable
from ..variables.lists import TupleVariable
from ..variables.native import native_module_reason
from ..variables.rebound import rebound_globals
from ..variables.user_defined import is_torch_code, is_torch_module_name
from .capture import CaptureState
from .registry import CURRENT, LOCALS_IS_SNAPSHOT, handlers_for_current

_PROGRAMS: "weakref.WeakKeyDictionary[types.CodeType, Program]" = weakref.WeakKeyDictionary()
_UNTRACEABLE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE


def program_for(code: types.CodeType) -> Program:
    prog = _PROGRAMS.get(code)
    if prog is None:
        prog = _PROGRAMS[code] = load_program(code)
    return prog


class InstructionTranslator:
    def __init__(self, capture: CaptureState, code: types.CodeType, f_locals: dict[str, VariableTracker],
                 cells: dict[str, VariableTracker], fn_globals: dict[str, Any], globals_base: Source | None,
                 parent: "InstructionTranslator | None" = None, fn_builtins: dict[str, Any] | None = None,
                 builtins_base: Source | None = None) -> None:
        if code.co_flags & _UNTRACEABLE_FLAGS or (parent is None and code.co_flags & inspect.CO_GENERATOR):
            raise Unsupported(breaks.GENERATOR, f"{code.co_qualname} is a coroutine, or a compiled generator")
        self.capture = capture
        self.program = program_for(code)
        self.code = code
        self.locals = f_locals
        self.cells = cells
        self.fn_globals = fn_globals
        self.globals_base = globals_base        # source of the globals dict; None = not guardable
        self.globals_trusted = is_torch_module_name(fn_globals.get("__name__"))
        # The builtins the code runs with: its function's ``__builtins__`` (fixed when the function
        # was made), and where the guards re-read that dict (None: not guardable).
        self.fn_builtins = fn_builtins if fn_builtins is not None else builtins_of(fn_globals)
        self.builtins_base = builtins_base if fn_builtins is not None else _builtins_source(self.fn_builtins)
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.stack: list[VariableTracker] = []
        self.ip = 0
        self.kw_names: tuple[str, ...] = ()
        self.current: Inst | None = None
        self.return_value: VariableTracker | None = None
        self.is_generator = bool(code.co_flags & inspect.CO_GENERATOR)
        self.yielded: VariableTracker | None = None     # set by YIELD_VALUE: run() returns to the consumer
        self.current_exc: VariableTracker | None = None  # sys.exc_info() of this frame (PUSH_EXC_INFO/POP_EXCEPT)
        self.exc_slots: list[int] = []    # stack indices of the previous exceptions PUSH_EXC_INFO saved
        self.frame_dict: VariableTracker | None = None   # locals() before 3.13: one dict per frame
        self.stop_at: int | None = None         # root frame: stop before this instruction (a graph break)
        self.stopped: Inst | None = None
        self.graph = capture.graph
        self._handlers = handlers_for_current()

    # -- the run loop ----------------------------------------------------------------------
    def run(self) -> VariableTracker:
        """Interpret until the frame returns (or, in a generator, until the next ``yield``)."""
        self.capture.frames.append(self)
        try:
            return self._run()
        finally:
            self.capture.frames.pop()

    def _run(self) -> VariableTracker:
        insts = self.program.insts
        while self.return_value is None and self.yielded is None:
            inst = insts[self.ip]
            if inst.index == self.stop_at:
                self.stopped = inst
                return None
            self.ip += 1
            self.current = inst
            self.capture.instructions += 1
            if self.capture.instructions > config.max_instructions:
                raise self._located(Unsupported(breaks.TOO_LONG, f"more than {config.max_instructions} instructions"))
            handler = self._handlers.get(inst.opname)
            try:
                if handler is None:
                    raise Unsupported(breaks.UNSUPPORTED_OPCODE, f"{inst.opname}")
                handler(self, inst)
            except GuardOnDataDependentSymNode as e:
                # a value computed from tensor data (``len(x.nonzero())``, ``x.sum().item()``: an
                # unbacked symbol) used where Python needs it concrete (a dict key, ``range``, ``if``)
                raise self._break_at(inst, Unsupported(
                    breaks.DATA_DEPENDENT_OP, f"{inst.opname} needs the concrete value of a number computed from "
                    f"tensor data ({str(e).splitlines()[0][:160]})")) from None
            except NotConstant as e:
                # a handler needed a value known at trace time (``isinstance(x, typing.List)``: a
                # typing alias is an object, not a class): a break here, not an internal error
                raise self._break_at(inst, Unsupported(
                    breaks.UNSUPPORTED_VALUE, f"{inst.opname} needs a value known at trace time; got "
                    f"{e or 'one computed at run time'}")) from None
            except Unsupported as e:
                raise self._break_at(inst, e)
            except UserCodeError as e:
                if e.where is None:
                    e.where = self.location()
                if inst.handler is None:
                    raise
                self._unwind(inst, e.original)
        return self.return_value

    def _break_at(self, inst: Inst, e: Unsupported) -> Unsupported:
        """``e`` as a graph break at ``inst``: in the root frame it resumes there (unless an
        inlined frame already named the root instruction), with the user's location."""
        if self.parent is None and e.root_index is None:
            e.root_index = inst.index
        return self._located(e)

    def _unwind(self, inst: Inst, exc: BaseException) -> None:
        """Deliver an exception raised by ``inst`` to the handler the exception table names for
        it, as CPython does: pop the stack to the handler's depth, push lasti if asked, push
        the exception, jump (CPython: Python/ceval.c exception_unwind)."""
        handler = inst.handler
        del self.stack[handler.stack_depth:]
        self.exc_slots = [i for i in self.exc_slots if i < handler.stack_depth]
        if handler.push_lasti:
            self.stack.append(self.wrap_const(inst.index))
        self.stack.append(self.wrap_const(exc))
        self.ip = handler.target

    def resume(self, sent: VariableTracker | None = None) -> VariableTracker | None:
        """Run a suspended generator frame to its next yield: the yielded value, or None once
        it has returned. ``sent`` is the value of the paused ``yield`` expression (``send()``;
        None for ``next()``)."""
        if self.return_value is not None:
            return None
        if self.yielded is not None:            # the value of the paused `yield` expression
            self.yielded = None
            self.push(sent if sent is not None else self.wrap_const(None))
        self.run()
        return self.yielded

    @property
    def started(self) -> bool:
        """Paused at a ``yield`` or returned (not: made and never advanced)."""
        return self.yielded is not None or self.return_value is not None

    def reconstruct_generator(self, cg: Any) -> None:
        """Push a real generator in this (generator) frame's state, for a generator that
        outlives the trace (returned, stored, or live across a graph break): not started,
        suspended at a ``yield`` (its locals, stack and cells handed to a resume function of
        the generator's code, which is advanced to that same ``yield``), or exhausted."""
        from ..codegen.resume import GlobalsRef, exhausted_generator, make_resume_code, start_generator
        from ..variables.functions import CellVariable

        if self in self.capture.frames or self.current_exc is not None:
            raise Unsupported(breaks.GENERATOR, "a generator that is running, or paused inside an `except` "
                              "block, escapes the compiled function")
        if self.return_value is not None:
            cg.push_callable(exhausted_generator)
            cg.call(0)
            return
        started = self.yielded is not None
        insts = self.program.insts
        if started:
            target, stack, nouts = self.ip - 1, self.stack, 1        # the YIELD_VALUE, once more
            cells = [self.cells[name] for name in self.code.co_cellvars]
            locals_ = self.locals
        else:
            target = next(i.index for i in insts if i.opname == "RESUME") + 1
            stack, nouts = [], 0
            locals_ = dict(self.locals)
            cells = [CellVariable(locals_.pop(name, None), name) for name in self.code.co_cellvars]
        nulls = tuple(isinstance(vt, NullVariable) for vt in stack)
        names = tuple(sorted(locals_))
        code = make_resume_code(self.code, target, nulls, nouts, names, generator=True)
        cg.push_callable(start_generator)
        cg.load_const(code)
        cg.load_const(GlobalsRef(self.fn_globals))
        for name in self.code.co_freevars:
            cg.reconstruct(self.cells[name])
        cg.emit("BUILD_TUPLE", len(self.code.co_freevars))
        cg.load_const(started)
        for vt in stack:
            if not isinstance(vt, NullVariable):
                cg.reconstruct(vt)
        if started:
            cg.load_const(None)                 # what the yield yields again (discarded)
        for cell in cells:
            cg.reconstruct(cell)
        for name in names:
            cg.reconstruct(locals_[name])
        cg.call(4 + sum(not n for n in nulls) + nouts + len(cells) + len(names))

    def _located(self, e: Unsupported) -> Unsupported:
        e.add_frame(self.location())
        return e

    def location(self) -> UserLocation:
        lineno = self.current.lineno if self.current is not None else None
        return UserLocation.of(self.code, lineno)

    # -- stack -----------------------------------------------------------------------------
    def push(self, vt: VariableTracker) -> None:
        self.stack.append(vt.realize())

    def pop(self) -> VariableTracker:
        return self.stack.pop()

    def popn(self, n: int) -> list[VariableTracker]:
        if n == 0:
            return []
        items = self.stack[-n:]
        del self.stack[-n:]
        return items

    def jump(self, inst: Inst) -> None:
        assert inst.target is not None
        self.ip = inst.target

    # -- globals ---------------------------------------------------------------------------
    def global_source(self, name: str) -> Source | None:
        if self.fn_globals is self.capture.root_globals:
            return GlobalSource(name)
        return ItemSource(self.globals_base, name) if self.globals_base is not None else None

    def _globals_key(self) -> Source | None:
        return None if self.fn_globals is self.capture.root_globals else self.globals_base

    def store_global(self, name: str, value: VariableTracker) -> None:
        self.capture.check_body_mutation(value, f"assignment to global '{name}'", existing=True)
        if self.fn_globals is not self.capture.root_globals and self.globals_base is None:
            raise Unsupported(breaks.SIDE_EFFECT, f"assignment to global '{name}' of a module bytegraph cannot reach")
        self.capture.side_effects.store_global(self._globals_key(), name, value)

    def load_global(self, name: str) -> VariableTracker:
        stored = self.capture.side_effects.load_global(self._globals_key(), name)
        if stored is not None:
            return stored
        if name in self.fn_globals:
            value = self.fn_globals[name]
            source = self.global_source(name)
            if source is None or (self.globals_trusted and is_torch_code(value)
                                  and name not in rebound_globals(self.fn_globals)):
                return self.wrap_const(value)
            return self.wrap(value, source)
        if name not in self.fn_builtins:
            raise UserCodeError(NameError(f"name '{name}' is not defined"))
        return self._load_builtin(name)

    def _load_builtin(self, name: str) -> VariableTracker:
        """A global read that found a builtin (CPython: LOAD_GLOBAL looks in the function's globals,
        then its builtins). It holds while the name stays absent from the globals (a module
        global added later shadows it) and the builtins dict still maps it to the same value
        (``builtins.abs = ...``): both are guarded. Torch's own modules are trusted."""
        value = self.fn_builtins[name]
        if self.globals_trusted:
            return self.wrap_const(value)
        globals_dict = GlobalsDictSource() if self.fn_globals is self.capture.root_globals else self.globals_base
        if globals_dict is not None:
            self.guard(globals_dict, GuardKind.DICT_NOT_CONTAINS, name, "a builtin read: no global shadows it")
        if self.builtins_base is None:
            return self.wrap_const(value)
        return self.wrap(value, ItemSource(self.builtins_base, name))

    # -- the tx interface for trackers -----------------------------------------------------
    def wrap(self, value: Any, source: Source) -> VariableTracker:
        return VariableBuilder(self, source)(value)

    def wrap_const(self, value: Any) -> VariableTracker:
        """A real value reached by a path the guards do not follow (see SourcelessBuilder)."""
        return SourcelessBuilder(self)(value)

    def wrap_new(self, value: Any) -> VariableTracker:
        """A real value a call made at trace time: the trace's own (no source, rebuilt if it escapes)."""
        return SourcelessBuilder(self, fresh=True)(value)

    def guard(self, source: Source | None, kind: GuardKind, payload: Any, reason: str) -> None:
        self.capture.guards.add(Guard(source, kind, payload, reason))

    def call(self, fn: VariableTracker, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return fn.realize().call_function(self, [a.realize() for a in args], {k: v.realize() for k, v in kwargs.items()})

    def mutation(self, vt: VariableTracker, what: str) -> None:
        """``vt`` (an object from before the call) is being changed: the tracker takes the
        change, and the transformed code writes it back after the graph runs."""
        self.capture.check_body_mutation(vt, what, existing=True)
        if not vt.replayable():
            raise Unsupported(breaks.SIDE_EFFECT, f"{what} on {vt.describe()}, which cannot be re-read at run time")
        self.capture.side_effects.record(vt)

    def local_mutation(self, vt: VariableTracker, what: str) -> None:
        """``vt`` (an object made while tracing) is being changed: only a higher-order op body
        made before it cares (``CaptureState.check_body_mutation``)."""
        self.capture.check_body_mutation(vt, what, existing=False)

    def pin_identity(self, vt: VariableTracker) -> int:
        """The id the object ``vt`` stands for has at run time, made a fact by an ID_MATCH guard
        on its source (``id(src) == n``: the guard checks exactly what is folded); the entry is
        dropped when the object dies (CacheEntry watchers), so no later object at that address
        matches. A builtin or a Python module needs no guard (``static_identity``). Unsupported
        for what has no such id: an object made while tracing (its id exists only at run time),
        a graph input (tensor, symbolic number) or a bound method, new objects on most calls or
        reads (pinning one would recompile every time)."""
        if vt.source is None and vt.static_identity:
            return id(vt.as_constant())
        why = ("a graph input: its identity changes from call to call" if vt.is_tensor or vt.is_symbolic else
               "a bound method: a new object on every attribute read" if vt.python_type() is types.MethodType else
               "made while tracing (or reached without a source): its run-time id is not known"
               if vt.source not in self.capture.objects else
               None)
        if why is not None:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"id() of {vt.describe()}, {why}")
        obj = self.capture.objects[vt.source]
        self.guard(vt.source, GuardKind.ID_MATCH, IdRef.of(obj), "id() of an object reached from a source")
        self.capture.guards.watch(obj)
        return id(obj)

    def frame_super_args(self) -> tuple[VariableTracker, VariableTracker]:
        cell = self.cells.get("__class__")
        if cell is None or not self.code.co_argcount:
            raise UserCodeError(RuntimeError("super(): no arguments"))
        first = self.code.co_varnames[0]
        obj = self.cells[first].load(self) if first in self.cells else self.locals[first]
        return cell.load(self), obj.realize()

    def frame_locals(self) -> VariableTracker:
        """``locals()`` (and ``vars()``) in this frame: its bound variables, cells' contents and
        free variables included, in CPython's order; a resume function shows the original's
        names. 3.13 returns a new dict each time (PEP 667); 3.11 and 3.12 the frame's own dict,
        refreshed by each call (``registry.LOCALS_IS_SNAPSHOT``)."""
        items = self._bound_variables()
        if LOCALS_IS_SNAPSHOT[CURRENT] or self.frame_dict is None:
            fresh = DictVariable(items)
            if not LOCALS_IS_SNAPSHOT[CURRENT]:
                self.frame_dict = fresh
            return fresh
        d = self.frame_dict
        for name in self._variable_names():
            key = self.wrap_const(name)
            if name in items:
                d.call_method(self, "__setitem__", [key, items[name]], {})
            else:
                d.call_method(self, "pop", [key, self.wrap_const(None)], {})
        return d

    def _variable_names(self) -> tuple[str, ...]:
        from ..codegen.resume import origin_of

        orig = origin_of(self.code).code
        return tuple(dict.fromkeys((*orig.co_varnames, *orig.co_cellvars, *orig.co_freevars)))

    def _bound_variables(self) -> dict[str, VariableTracker]:
        from ..codegen.resume import CELL_PREFIX, origin_of

        orig = origin_of(self.code).code
        items: dict[str, VariableTracker] = {}
        for name in self._variable_names():
            cell = self.cells.get(name, self.locals.get(f"{CELL_PREFIX}{name}"))
            if name in orig.co_cellvars or name in orig.co_freevars:
                if cell is None:
                    continue
                cell = cell.realize()
                try:
                    value = cell.load(self) if hasattr(cell, "load") else cell.var_getattr(self, "cell_contents")
                except UserCodeError:
                    continue                 # an empty cell is not in locals()
            elif name in self.locals:
                value = self.locals[name]
            else:
                continue
            items[name] = value.realize()
        return items

    def inline_call(self, fn: VariableTracker, args: list[VariableTracker],
                    kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if self.depth >= config.max_inline_depth:
            raise Unsupported(breaks.TOO_LONG, f"inlining deeper than {config.max_inline_depth} calls")
        target = fn.inline_target(self)
        code = target.code
        native = native_module_reason(target.fn_globals.get("__name__"))
        if native is not None:    # (a functorch transform, a higher-order op...: variables/native.py)
            raise Unsupported(native[0], f"{target.module or ''}.{code.co_qualname}() is {native[1]}".lstrip("."))
        f_locals = bind_arguments(code, target.defaults, target.kwdefaults, args, kwargs)
        cells = {name: target.closure[i] for i, name in enumerate(code.co_freevars)}
        child = InstructionTranslator(self.capture, code, f_locals, cells, target.fn_globals,
                                      self._globals_base_for(target.fn_globals, target.fn_source), parent=self,
                                      fn_builtins=target.builtins, builtins_base=self._builtins_base_for(target))
        if child.is_generator:          # nothing runs until the first next(), as in CPython
            return GeneratorVariable(child)
        return child.run()

    def _globals_base_for(self, fn_globals: dict[str, Any], fn_source: Source | None) -> Source | None:
        """Where an inlined function's globals dict can be re-read from (None: unguardable)."""
        module = fn_globals.get("__name__")
        mod = sys.modules.get(module) if isinstance(module, str) else None
        if mod is not None and getattr(mod, "__dict__", None) is fn_globals:
            return ModuleGlobalsSource(module)
        return AttrSource(fn_source, "__globals__") if fn_source is not None else None


    def _builtins_base_for(self, target: Any) -> Source | None:
        """Where an inlined function's builtins dict can be re-read from (None: unguardable)."""
        if target.builtins is builtins.__dict__:
            return _builtins_source(target.builtins)
        if target.builtins is self.fn_builtins:        # a function made here, from these globals
            return self.builtins_base
        return AttrSource(target.fn_source, "__builtins__") if target.fn_source is not None else None


def _builtins_source(b: dict[str, Any]) -> Source | None:
    """The interpreter's builtins are ``sys.modules['builtins'].__dict__`` (bound once in guards)."""
    return ModuleGlobalsSource("builtins") if b is builtins.__dict__ else None


def root_translator(capture: CaptureState, code: types.CodeType, bound: dict[str, Any],
                    closure: tuple[Any, ...] | None, fn_builtins: dict[str, Any] | None = None) -> InstructionTranslator:
    """The translator of the compiled function itself: its arguments are lazy ``L[...]``
    sources, its closure cells are read through ``FreeVarSource``."""
    build = capture.build
    varargs, varkw = star_parameters(code)
    f_locals: dict[str, VariableTracker] = {}
    for name, value in bound.items():
        src = LocalSource(name)
        if name == varargs:      # CPython makes it a tuple: only its length needs a guard
            capture.guards.add(Guard(src, GuardKind.SEQUENCE_LENGTH, len(value), "*args length"))
            f_locals[name] = TupleVariable([LazyVariableTracker(v, ItemSource(src, i), build)
                                            for i, v in enumerate(value)], src)
        elif name == varkw:      # always a fresh dict: only its keys need a guard
            capture.guards.add(Guard(src, GuardKind.DICT_KEYS, tuple(value), "**kwargs keys"))
            f_locals[name] = DictVariable({k: LazyVariableTracker(v, ItemSource(src, k), build)
                                                for k, v in value.items()}, dict, src)
        else:
            f_locals[name] = LazyVariableTracker(value, src, build)
    cells: dict[str, VariableTracker] = {name: existing_cell(capture, cell, FreeVarSource(name), name)
                                         for name, cell in zip(code.co_freevars, closure or ())}
    b = fn_builtins if fn_builtins is not None else builtins_of(capture.root_globals)
    tx = InstructionTranslator(capture, code, f_locals, cells, capture.root_globals, None, fn_builtins=b,
                               builtins_base=_builtins_source(b) or RootBuiltinsSource())
    capture.tx = tx
    capture.graph.handler_probe = capture.under_handler
    return tx


def star_parameters(code: types.CodeType) -> tuple[str | None, str | None]:
    """The names of the ``*args`` and ``**kwargs`` parameters, if the code has them."""
    i = code.co_argcount + code.co_kwonlyargcount
    varargs = code.co_varnames[i] if code.co_flags & inspect.CO_VARARGS else None
    varkw = code.co_varnames[i + (varargs is not None)] if code.co_flags & inspect.CO_VARKEYWORDS else None
    return varargs, varkw


def bind_arguments(code: types.CodeType, defaults: list[Any], kwdefaults: dict[str, Any],
                   args: list[Any], kwargs: dict[str, Any], *,
                   make_tuple: Callable[[list[Any]], Any] = TupleVariable,
                   make_dict: Callable[[dict[str, Any]], Any] = DictVariable) -> dict[str, Any]:
    """Bind call arguments to parameters in the order CPython does, raising its TypeError with
    its message on a mismatch (CPython: Python/ceval.c initialize_locals). Trackers by default;
    real values with ``make_tuple=tuple, make_dict=dict`` (a compiled frame's own call)."""
    names = code.co_varnames
    n, po, k = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    params, kwonly = names[:n], names[n:n + k]
    varargs, varkw = star_parameters(code)
    fname = code.co_qualname
    bound: dict[str, VariableTracker] = dict(zip(params, args))
    extra: dict[str, VariableTracker] = {}
    posonly_as_kw: list[str] = []
    for key, value in kwargs.items():
        if key in params[po:] or key in kwonly:
            if key in bound:
                raise UserCodeError(TypeError(f"{fname}() got multiple values for argument '{key}'"))
            bound[key] = value
        elif varkw is not None:
            extra[key] = value
        elif key in params[:po]:
            posonly_as_kw.append(key)
        else:
            raise UserCodeError(TypeError(f"{fname}() got an unexpected keyword argument '{key}'"))
    if posonly_as_kw:
        raise UserCodeError(TypeError(f"{fname}() got some positional-only arguments passed as keyword arguments: "
                                      f"'{', '.join(posonly_as_kw)}'"))
    if len(args) > n and varargs is None:
        raise UserCodeError(TypeError(_too_many_positional(fname, n, len(defaults), len(args),
                                                           sum(1 for name in kwonly if name in bound))))
    for name, default in zip(params[n - len(defaults):], defaults):
        bound.setdefault(name, default)
    _check_missing(fname, [p for p in params if p not in bound], "positional")
    for name in kwonly:
        if name not in bound and name in kwdefaults:
            bound[name] = kwdefaults[name]
    _check_missing(fname, [p for p in kwonly if p not in bound], "keyword-only")
    if varargs is not None:
        bound[varargs] = make_tuple(list(args[n:]))
    if varkw is not None:
        bound[varkw] = make_dict(extra)
    return bound


def _too_many_positional(fname: str, n: int, ndefaults: int, given: int, kwonly_given: int) -> str:
    takes = f"from {n - ndefaults} to {n}" if ndefaults else str(n)
    plural = "s" if n != 1 or ndefaults else ""
    if kwonly_given:
        kw = f" (and {kwonly_given} keyword-only argument{'s' if kwonly_given != 1 else ''})"
        return (f"{fname}() takes {takes} positional argument{plural} but {given} positional "
                f"argument{'s' if given != 1 else ''}{kw} were given")
    return f"{fname}() takes {takes} positional argument{plural} but {given} {'was' if given == 1 else 'were'} given"


def _check_missing(fname: str, missing: list[str], kind: str) -> None:
    if not missing:
        return
    quoted = [f"'{m}'" for m in missing]
    if len(quoted) == 1:
        listed = quoted[0]
    elif len(quoted) == 2:
        listed = f"{quoted[0]} and {quoted[1]}"
    else:
        listed = ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
    raise UserCodeError(TypeError(f"{fname}() missing {len(missing)} required {kind} "
                                  f"argument{'s' if len(missing) != 1 else ''}: {listed}"))
