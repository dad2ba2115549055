"""Capture one call of a function into a cache entry (the miss path).

    bind the real arguments -> trace the frame (InstructionTranslator) -> write back side
    effects and rebuild the return value (PyCodegen) -> compile the graph (backend) -> emit
    the transformed function -> compile the guards -> CacheEntry

A graph break retraces the frame up to the breaking instruction and ends the transformed
code there with a resume function (``graph_break``). A break that cannot resume, an error
in the user's own code and an internal error end in an entry that runs the original
function under the guards collected so far (with the reason recorded; an internal error
also warns once); when even those guards cannot be built, in one that runs it eagerly for
every call no other entry takes. Only ``fullgraph=True`` turns a break into an exception.
``compile_call`` is the frame boundary: torch's global state is the same after it as before
(``torch_state``), whatever happened in between.
"""

from __future__ import annotations

import dis
import logging
import os
import sys
import time
import traceback
import types
import warnings
from typing import Any

from ..backends.registry import eager as run_natively
from ..codegen.pycodegen import PyCodegen
from ..codegen.transform import Preloaded, graph_call, make_function
from ..diagnostics.errors import CompileError, Unsupported, UserCodeError
from ..diagnostics.logs import get_logger
import torch

from ..guards import Guard, GuardKind, ShapeGuards, TensorSpec
from ..guards.codegen import CompiledGuards, compile_guards
from ..guards.guard import GlobalStateSnapshot, StorageSets, storages_disjoint
from ..interpreter.capture import CaptureState
from ..interpreter.translator import InstructionTranslator, bind_arguments, program_for, root_translator
from ..sources import NumpyTensorSource
from . import torch_state
from .cache import CacheEntry
from .ddp import active_ddp_module, split_for_ddp
from .split import by_autograd_parts
from .graph_break import break_point, emit_break, why_not_resumable
from .hooks import backward_state_calls

log_graphs = get_logger("graphs")
log_breaks = get_logger("breaks")
log_guards = get_logger("guards")
log_fallbacks = get_logger("fallbacks")
log_bytecode = get_logger("bytecode")


def bind_frame(fn: types.FunctionType, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The frame's initial locals for this call, by the code's own parameter names (a
    comprehension's ``.0`` included, which ``inspect.signature`` renames), bound as CPython
    binds them; a bad call raises CPython's own TypeError."""
    code = fn.__code__
    try:
        bound = bind_arguments(code, list(fn.__defaults__ or ()), fn.__kwdefaults__ or {}, list(args), kwargs,
                               make_tuple=tuple, make_dict=dict)
    except UserCodeError as e:
        raise e.original from None
    return {name: bound[name] for name in code.co_varnames if name in bound}      # parameter order


def compile_call(owner: Any, args: tuple, kwargs: dict[str, Any]) -> CacheEntry:
    """Capture ``owner.fn(*args, **kwargs)`` (``owner`` is the CompiledFunction).

    This is the frame boundary. torch's global state is put back as it was, whatever happened
    (``torch_state.preserved``), and nothing bytegraph raises reaches the program: a break that
    cannot resume, the program's own exception and an internal error each end in an entry that
    runs the frame eagerly with the reason recorded (an internal error also warns). Only a bad
    call (CPython's TypeError), ``fullgraph=True`` and KeyboardInterrupt/SystemExit propagate."""
    fn = owner.fn
    start = time.perf_counter()
    frame_locals = bind_frame(fn, args, kwargs)
    caller_exc = sys.exc_info()[1]        # what sys.exc_info() is for the frame (guarded where read)
    with torch_state.preserved(f"compiling {fn.__qualname__}"):
        try:
            entry = _capture(owner, frame_locals, caller_exc)
        except CompileError:
            raise
        except Exception as e:   # noqa: BLE001 - failed while handling a failure: the last line of defence
            if owner.fullgraph:
                raise
            entry = _accept_all_entry(owner, _internal_error(owner, "compiling", e))
    if not entry.accepts_all and not _accepts(entry, args, kwargs):
        # A bytegraph bug (a guard that cannot be evaluated): every later call would miss and
        # recompile, so the frame runs eagerly from now on instead.
        entry = _accept_all_entry(owner, _internal_error(owner, "checking the guards of", AssertionError(
            "the new cache entry's guards reject the very call they were built from")))
    entry.capture_seconds = time.perf_counter() - start
    return entry


def _accepts(entry: CacheEntry, args: tuple, kwargs: dict[str, Any]) -> bool:
    try:
        return bool(entry.check(*args, **kwargs))
    except Exception:   # noqa: BLE001 - (a generated guard catches its own errors; this is a second net)
        return False


def _capture(owner: Any, frame_locals: dict[str, Any], caller_exc: BaseException | None) -> CacheEntry:
    fn = owner.fn
    capture = _new_capture(owner, caller_exc)
    try:
        # (each attempt puts torch's state back as it ends, so what follows a failure, its
        # fallback entry's guards included, starts from the state the call found)
        with torch_state.preserved(f"tracing {fn.__qualname__}"):
            tx = root_translator(capture, fn.__code__, frame_locals, fn.__closure__, fn.__builtins__)
            tx.run()
            return _finish(owner, capture, tx, frame_locals)
    except Unsupported as e:
        if owner.fullgraph:
            raise CompileError(f"bytegraph could not capture {fn.__qualname__} as one graph (fullgraph=True):\n"
                               f"{e.render()}") from None
        log_breaks.debug("%s", e.render())
        capture.release()
        resumed = _resume_after_break(owner, frame_locals, e, caller_exc)
        return resumed if isinstance(resumed, CacheEntry) else \
            _eager_entry(owner, capture, frame_locals, f"{e.render()}\n  not resumable: {resumed}",
                         warned=resumed.startswith("internal error"))
    except UserCodeError as e:
        # The program itself raises here: run it eagerly so the exception reaches the user
        # exactly as it would without bytegraph (same type, message and traceback).
        where = f" at {e.where.short()}" if e.where else ""
        return _eager_entry(owner, capture, frame_locals, f"the program raises {type(e.original).__name__}{where}")
    except CompileError:
        raise
    except Exception as e:   # noqa: BLE001 - a bytegraph bug must never break the user's program
        if owner.fullgraph:
            raise
        return _eager_entry(owner, capture, frame_locals, _internal_error(owner, "compiling", e), warned=True)
    finally:
        capture.release()


def _internal_error(owner: Any, doing: str, error: BaseException) -> str:
    """Warn (one line) about a bytegraph bug and return the reason to record: the error, and the
    innermost place in bytegraph's own code it came from."""
    where = ""
    for frame, line in traceback.walk_tb(error.__traceback__):
        path = frame.f_code.co_filename
        if path.startswith(_PACKAGE_DIR):
            where = f" at {os.path.relpath(path, _PACKAGE_DIR)}:{line}"
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    what = f"{type(error).__name__}" + (f": {message}" if message else "")
    warnings.warn(f"bytegraph: internal error while {doing} {owner.fn.__qualname__}, running it eagerly "
                  f"({what}{where})", RuntimeWarning, stacklevel=_user_stacklevel())
    log_fallbacks.debug("internal error while %s %s", doing, owner.fn.__qualname__, exc_info=error)
    return f"internal error{where}: {what}"


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _user_stacklevel() -> int:
    """The ``stacklevel`` (for a warning issued by the caller) of the first frame outside bytegraph
    (its modules and the code it generates: dispatchers, guards, transformed code)."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith((_PACKAGE_DIR, "<bytegraph")):
        frame, level = frame.f_back, level + 1
    return level


def _new_capture(owner: Any, caller_exc: BaseException | None) -> CaptureState:
    capture = CaptureState(root_globals=owner.fn.__globals__, frame_state=owner.frame_state, caller_exc=caller_exc)
    capture.guards.add(Guard(None, GuardKind.GLOBAL_STATE, GlobalStateSnapshot.capture(), "torch global state at capture"))
    return capture


def _resume_after_break(owner: Any, frame_locals: dict[str, Any], why: Unsupported,
                        caller_exc: BaseException | None) -> CacheEntry | str:
    """Retrace up to the instruction that broke and end the frame there with a resume
    function; when the break cannot resume, why not (the caller then runs the frame eagerly
    and records it)."""
    if why.not_resumable is not None:
        return why.not_resumable
    if why.root_index is None:
        return "the break happened outside the frame's own instructions"
    capture = _new_capture(owner, caller_exc)
    try:
        with torch_state.preserved(f"retracing {owner.fn.__qualname__} up to a graph break"):
            tx = root_translator(capture, owner.fn.__code__, frame_locals, owner.fn.__closure__,
                                 owner.fn.__builtins__)
            tx.stop_at = break_point(owner.fn.__code__, why.root_index)
            tx.run()
            if tx.stopped is None:
                return "retracing up to the break did not reach it"
            reason = why_not_resumable(tx, tx.stopped)
            if reason is not None:
                log_fallbacks.debug("%s: break not resumable: %s", owner.fn.__qualname__, reason)
                return reason
            entry = _finish(owner, capture, tx, frame_locals, why)
            entry.break_reason = why.render()
            entry.make_resume_calls()
            return entry
    except (Unsupported, UserCodeError) as e:
        if isinstance(e, Unsupported) and e.root_index is not None and e.root_index < why.root_index:
            # retracing found an earlier instruction that must break (a value live at the break
            # that can only exist if that instruction runs natively: a hook handle): break there
            capture.release()
            return _resume_after_break(owner, frame_locals, e, caller_exc)
        log_fallbacks.debug("%s: retracing up to the break failed: %s", owner.fn.__qualname__, e)
        first = e.render().splitlines()[0] if isinstance(e, Unsupported) else f"the program raises {type(e.original).__name__}"
        return f"retracing up to the break failed: {first}"
    except Exception as e:   # noqa: BLE001 - a bytegraph bug must never break the user's program
        return _internal_error(owner, "resuming after a graph break in", e)
    finally:
        capture.release()


def _compiled_guards(fn: types.FunctionType, capture: CaptureState, frame_locals: dict[str, Any],
                     graph_inputs: list[Any] = ()) -> Any:
    code = fn.__code__
    cells = dict(zip(code.co_freevars, fn.__closure__ or ()))
    guards = compile_guards(capture.guards, code, fn_globals=fn.__globals__, cells=cells, function=fn,
                            defaults=fn.__defaults__, kwdefaults=fn.__kwdefaults__, frame_locals=frame_locals,
                            graph_inputs=graph_inputs)
    if log_guards.isEnabledFor(logging.DEBUG):
        log_guards.debug("guards of %s:\n%s", fn.__qualname__, guards.source_code)
    return guards



def _eager_entry(owner: Any, capture: CaptureState, frame_locals: dict[str, Any], reason: str,
                 warned: bool = False) -> CacheEntry:
    """Run the frame eagerly whenever the guards collected so far hold (so these inputs do not
    retrace); if they cannot be built, for every call (``warned``: the reason already warned)."""
    log_fallbacks.debug("%s runs eagerly: %s", owner.fn.__qualname__, reason)
    try:
        guards = _compiled_guards(owner.fn, capture, frame_locals)
    except Exception as e:   # noqa: BLE001 - a bytegraph bug must never break the user's program
        if owner.fullgraph:
            raise
        failure = f"{type(e).__name__}: {e}" if warned else _internal_error(owner, "building the guards of", e)
        return _accept_all_entry(owner, f"{reason}\n  (its guards could not be built: {failure})")
    return CacheEntry(guards.check, owner.fn, guards, None, reason, watchers=list(capture.guards.watched))


def _accept_all(*args: Any, **kwargs: Any) -> bool:
    return True


def _accept_all_entry(owner: Any, reason: str) -> CacheEntry:
    """Run the frame eagerly for every call no other entry takes, for good: the guards themselves
    could not be built. Sound whatever the inputs (running the original is always right); it is
    kept last, so the entries compiled before still serve their inputs."""
    log_fallbacks.debug("%s runs eagerly from now on: %s", owner.fn.__qualname__, reason)
    guards = CompiledGuards(_accept_all, "# accepts every call: " + reason.splitlines()[0], [], {}, [], [])
    return CacheEntry(_accept_all, owner.fn, guards, None, reason, accepts_all=True)


def _storage_sets(capture: CaptureState) -> StorageSets | None:
    """The tensor inputs the graph writes in place and the other tensor inputs (parameters and
    buffers included: a written input may be a ``.detach()`` of one), when it writes any and
    has others. An ndarray's tensor and a float's are new on every call: not compared."""
    graph = capture.graph
    tensors = [i for i, a in enumerate(graph.graph_args) if isinstance(a.fake, torch.Tensor)
               and not a.source.new_each_call and not isinstance(a.source, NumpyTensorSource)]
    written = set(graph.mutated_inputs()) & set(tensors)
    if not written or len(tensors) < 2:
        return None
    return StorageSets(tuple(graph.graph_args[i].source for i in tensors if i in written),
                       tuple(graph.graph_args[i].source for i in tensors if i not in written))


def _shares_written_storage(capture: CaptureState) -> bool:
    """Whether, in this call, an input the graph writes shares storage with another tensor
    input (``y = x.detach()``; views of one base): eager's write through one shows in the
    other, which a functionalizing backend (AOTAutograd) does not reproduce (DESIGN 52)."""
    sets = _storage_sets(capture)
    if sets is None:
        return False
    examples = {a.source: a.example for a in capture.graph.graph_args}
    return not storages_disjoint(tuple(examples[s] for s in sets.written), tuple(examples[s] for s in sets.others))


def _install_aliasing_guard(capture: CaptureState, native: bool = False) -> None:
    """The graph assumes its tensor inputs are distinct objects (parameters and buffers are
    exempt, as in torch.compile: they are distinct by construction). Numbers are not tensors
    (equal small ints are one object); an ndarray's tensor is new on every call, so the
    ndarray itself is compared. A graph that writes inputs in place also assumes they share
    no storage with its other tensor inputs (NO_STORAGE_OVERLAP), unless it runs natively
    (``native``: they shared storage at capture, and the graph is right either way)."""
    sources = tuple(a.source.of if isinstance(a.source, NumpyTensorSource) else a.source
                    for a in capture.graph.graph_args
                    if isinstance(a.fake, torch.Tensor) and not a.source.is_module_state()
                    and not a.source.new_each_call)     # a new tensor on every call
    if len(sources) >= 2:
        capture.guards.add(Guard(None, GuardKind.NO_TENSOR_ALIASING, sources, "graph inputs are assumed distinct"))
    sets = None if native else _storage_sets(capture)
    if sets is not None:
        capture.guards.add(Guard(None, GuardKind.NO_STORAGE_OVERLAP, sets,
                                 "the graph writes inputs in place, assumed to share no storage with the others"))
    if len(capture.distinct) >= 2:
        capture.guards.add(Guard(None, GuardKind.DISTINCT_OBJECTS, tuple(capture.distinct),
                                 "the trace told these objects apart by identity"))


class GraphRaised(Exception):
    """The graph itself raised at run time (see ``rerun_eagerly_if_graph_raises``)."""


class GraphCall:
    """The compiled graph of a frame whose ops sit inside the program's own try/with blocks,
    or that has side effects to write back: an exception from the graph is signalled as
    GraphRaised, before anything else ran. Inputs
    the graph writes into are copied first and put back if it raises, so the eager rerun
    starts from the state the call found (the price of a copy, paid by such graphs only)."""

    def __init__(self, compiled: Any, mutated: list[int], switches_modes: bool) -> None:
        self.compiled = compiled
        self.mutated = mutated
        self.switches_modes = switches_modes

    def __call__(self, *args: Any) -> Any:
        state = _ModeState() if self.switches_modes else None
        saved = []
        if self.mutated:
            with torch.no_grad():
                saved = [(args[i], args[i].clone()) for i in self.mutated if isinstance(args[i], torch.Tensor)]
        try:
            return self.compiled(*args)
        except Exception as e:   # noqa: BLE001 - re-raised by the eager rerun, as the program raises it
            if state is not None:
                state.restore()  # the graph's own no_grad/autocast switches were not unwound
            with torch.no_grad():
                for tensor, before in saved:
                    tensor.copy_(before)
            raise GraphRaised() from e


class _ModeState:
    """Grad mode and autocast as a call found them, to put back after a graph that raised
    midway (its ``_set_grad_enabled``/``_enter_autocast`` nodes ran, their undoing did not)."""

    DEVICES = ("cpu", "cuda")

    def __init__(self) -> None:
        self.grad = torch.is_grad_enabled()
        self.autocast = [(d, torch.is_autocast_enabled(d), torch.get_autocast_dtype(d)) for d in self.DEVICES]
        self.cache = torch.is_autocast_cache_enabled()
        self.nesting = torch.autocast_increment_nesting() - 1
        torch.autocast_decrement_nesting()

    def restore(self) -> None:
        torch._C._set_grad_enabled(self.grad)
        for device, enabled, dtype in self.autocast:
            torch.set_autocast_enabled(device, enabled)
            torch.set_autocast_dtype(device, dtype)
        torch.set_autocast_cache_enabled(self.cache)
        nesting = torch.autocast_increment_nesting() - 1
        torch.autocast_decrement_nesting()
        for _ in range(nesting - self.nesting):
            if torch.autocast_decrement_nesting() == 0:
                torch.clear_autocast_cache()


def rerun_eagerly_if_graph_raises(transformed: types.FunctionType, original: types.FunctionType) -> Any:
    """An op raised at run time, in a place where the program catches or cleans up (fake tensors
    could not see it coming: an index out of range, say). Nothing ran before the graph, and
    GraphCall has put back the inputs it wrote into and the grad/autocast modes, so running
    the frame eagerly from the start is exactly what the program would have done: the
    exception goes through its own except/finally/__exit__."""
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return transformed(*args, **kwargs)
        except GraphRaised:
            return original(*args, **kwargs)
    call.__wrapped__ = transformed
    return call


def _refresh_tensor_specs(capture: CaptureState) -> None:
    """TENSOR_MATCH checks the sizes each input has *after* tracing: a dimension that started
    symbolic but was specialized along the way (``x.size(1) == 12``) is checked as a constant."""
    fakes = {a.source: a for a in capture.graph.graph_args if a.layout is not None}   # (sizes as they entered)
    for g in [g for g in capture.guards if g.kind is GuardKind.TENSOR_MATCH and g.source in fakes]:
        spec = TensorSpec.of(capture.graph.example_of(g.source), fakes[g.source])
        if spec != g.payload:
            capture.guards.replace(g, Guard(g.source, g.kind, spec, g.reason))


def _install_shape_guards(capture: CaptureState) -> None:
    code = capture.graph.shape_guards()
    if code:
        names = sorted(((a.source.guard_expr(), a.source.name()) for a in capture.graph.graph_args),
                       key=lambda p: -len(p[0]))
        shown = []
        for expr in code:
            for guard_name, name in names:
                expr = expr.replace(guard_name, name)
            shown.append(expr)
        capture.guards.add(Guard(None, GuardKind.SHAPE_ENV, ShapeGuards(tuple(code), tuple(shown)),
                                 "symbolic shapes (torch's ShapeEnv)"))


def _switch_grad_mode(cg: PyCodegen, mode: bool) -> list[Any]:
    """``torch._C._set_grad_enabled(mode)``, natively: what a graph that only switched grad mode did."""
    call = PyCodegen(cg.code, cg.lineno)
    call.push_callable(torch._C._set_grad_enabled)
    call.load_const(mode)
    call.call(1)
    call.emit("POP_TOP")
    return call.instrs


def _finish(owner: Any, capture: CaptureState, tx: InstructionTranslator, frame_locals: dict[str, Any],
            why: Unsupported | None = None) -> CacheEntry:
    """Emit the transformed function: the graph call, then either side effects + the return
    value, or (``why`` given: a break at ``tx.stopped``) the break and its resume call(s)."""
    fn = owner.fn
    code = fn.__code__
    out = PyCodegen(code)
    if why is None:
        # The return value first: a value read before the frame overwrote its source (``d =
        # o.a; o.a = 1; return d``) is rebuilt from that source before the write-back.
        out.reconstruct(tx.return_value)
        out.store_local("___return")
        capture.side_effects.codegen(out)
        out.emit("LOAD_FAST", "___return")
        out.emit("RETURN_VALUE")
    else:
        emit_break(out, tx, tx.stopped, why, owner)
    graph = capture.graph
    body = out.instrs
    gm = None
    reach = None
    compiled = None
    native = False
    if not out.graph_outputs and graph.has_work() and graph.only_switches_grad_mode():
        body = _switch_grad_mode(out, graph.grad_enabled) + body
    elif out.graph_outputs or graph.has_work():
        graph.set_outputs(out.graph_outputs)
        reach = graph.hook_reach() if graph.hook_points else None
        graph.hoist_leading_grad_mode()
        graph.drop_idle_grad_switches()
        gm = graph.make_module(f"GraphModule_{code.co_name}_{owner.stats.captures}")
        if log_graphs.isEnabledFor(logging.DEBUG):
            log_graphs.debug("graph %d of %s:\n%s", owner.stats.captures, fn.__qualname__, gm.code.strip())
        native = _shares_written_storage(capture)
        if native:
            log_fallbacks.debug("graph %d of %s runs natively, not through the backend: an input it writes "
                                "shares storage with another input", owner.stats.captures, fn.__qualname__)
            backend = run_natively       # the recorded ops in order, on the real tensors: writes show as in eager
        elif active_ddp_module() is not None:
            backend = split_for_ddp(owner.backend)
        else:
            backend = by_autograd_parts(owner.backend)
            if backend is not owner.backend:     # one autograd node per graph: plan the parts it can split
                gm.meta["bytegraph_autograd_parts"] = graph.autograd_parts()
        compiled = graph.compile_with(backend, gm)
        # An op that raises at run time must leave the program as eager would: inside its
        # try/with, or before side effects the frame made ahead of it (written back after the
        # graph, they would be lost): the frame is then rerun eagerly from the start.
        rerun = graph.ops_under_handler or bool(capture.side_effects)
        if rerun:
            # (a graph that cannot raise once its guards hold, an optimizer's update, needs no
            # copy of what it writes: GraphCall.__call__ then only restores modes)
            compiled = GraphCall(compiled, graph.mutated_inputs() if graph.may_raise() else [],
                                 graph.switches_modes())
    for source, value, why in graph.specialized_floats:    # floats whose value the trace used
        capture.guards.add(Guard(source, GuardKind.EQUALS_MATCH, value, f"a float made a constant: {why}"))
    _refresh_tensor_specs(capture)
    _install_aliasing_guard(capture, native)
    _install_shape_guards(capture)
    inputs = [a.source for a in graph.graph_args]
    # the guards first: a state snapshot may hand the graph its parameters (guards/snapshot.py)
    guards = _compiled_guards(fn, capture, frame_locals, inputs if gm is not None else [])
    if gm is not None:
        fast = guards.fast
        preloaded = Preloaded(fast.values, fast.anchors, fast.kept_inputs) if fast is not None else None
        call = graph_call(out, compiled, inputs, bool(out.graph_outputs), preloaded)
        if reach is not None:       # hooks on intermediates: this call's backward state around the graph call
            call = backward_state_calls(out, call, reach, bool(out.graph_outputs))
        body = call + body
    transformed = make_function(fn, program_for(code).prologue, body)
    if log_bytecode.isEnabledFor(logging.DEBUG):
        log_bytecode.debug("transformed bytecode of %s:\n%s", fn.__qualname__, dis.Bytecode(transformed).dis())
    if gm is not None and rerun:
        transformed = rerun_eagerly_if_graph_raises(transformed, fn)
    graph.drop_examples()
    return CacheEntry(guards.check, transformed, guards, gm, None, watchers=list(capture.guards.watched),
                      rules=[(s.name(), r) for s, r in capture.wrapped])
