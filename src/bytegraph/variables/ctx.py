"""Context managers and exceptions as traced values.

* GradModeVariable — ``torch.no_grad()``, ``torch.enable_grad()``, ``torch.set_grad_enabled(b)``:
  entering and leaving change the graph's grad mode (``OutputGraph.set_grad_enabled``
  records the switch as a node, so the graph replays it, and fake propagation follows it).
* AutocastVariable, InferenceModeVariable — ``torch.autocast(...)``, ``torch.inference_mode()``:
  recorded as enter/exit nodes, as torch.compile records them.
* ProfilerRecordVariable — ``torch.autograd.profiler.record_function(name)`` (every optimizer's
  ``step`` runs inside one): a no-op while tracing, as torch.compile makes it; the graph's ops are
  not labelled.
* ExceptionVariable — an exception object raised or caught while tracing (a real,
  trace-time instance: exceptions are made from constants).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

from ..sources import AttrSource
from .base import NotConstant, Tx, VariableTracker, pymethod
from .constant import ConstantVariable


@contextlib.contextmanager
def autocast_cache_kept() -> Iterator[None]:
    """Autocast blocks left inside this one do not drop autocast's weight cache: the nesting is
    one higher, so none leaves to nesting 0. For blocks the compiler opens itself (fake runs, a
    backend tracing the graph) while the program's own block is cut by a break and its real
    casts are cached (see ``suspend_autocast``)."""
    torch.autocast_increment_nesting()
    try:
        yield
    finally:
        torch.autocast_decrement_nesting()


def suspend_autocast(mode: Any) -> None:
    """Leave an autocast block for a graph break, to enter it again in the resume function:
    ``torch.amp._exit_autocast`` without dropping autocast's weight cache. Eager autocast caches
    the lower-precision cast of a leaf fp32 tensor that requires grad (a weight) for the whole
    outermost block and clears it only when leaving the block to nesting 0; a block a break cut
    in pieces left it once per piece, so a weight written in place inside the block (an
    optimizer step) was cast again where eager reuses the old cast (fuzz seed 2127). The
    exit runs under ``autocast_cache_kept``; the real ``__exit__`` at the block's end clears.
    (Under a torch-function mode, pre-dispatch tracing, the exit is recorded as itself.)"""
    with autocast_cache_kept():
        torch.amp._exit_autocast(mode)


class GradModeVariable(VariableTracker):
    models_type = True

    def __init__(self, mode: bool, py_type: type, previous: bool | None = None) -> None:
        super().__init__(None)
        self.mode = mode
        self.py_type = py_type
        self._restore: list[bool] = [] if previous is None else [previous]
        self._applied = previous is not None      # set_grad_enabled(b) switches when constructed

    @classmethod
    def create(cls, tx: Tx, mode: bool, py_type: type, immediate: bool = False) -> "GradModeVariable":
        previous = tx.graph.set_grad_enabled(mode) if immediate else None
        return cls(mode, py_type, previous)

    def python_type(self) -> type:
        return self.py_type

    @pymethod("__enter__")
    def _enter(self, tx: Tx) -> VariableTracker:
        if self._applied:
            self._applied = False
        else:
            self._restore.append(tx.graph.set_grad_enabled(self.mode))
        return tx.wrap_const(None)

    @pymethod("__exit__")
    def _exit(self, tx: Tx, *exc_info: VariableTracker) -> VariableTracker:
        tx.graph.set_grad_enabled(self._restore.pop())
        return tx.wrap_const(False)

    def reconstruct_method(self, cg: Any, name: str) -> None:
        """The ``__exit__`` of a block still open at a graph break: at run time, a callable that
        restores the grad mode this block found on entry."""
        if name != "__exit__" or not self._restore:
            super().reconstruct_method(cg, name)
            return
        cg.push_callable(GradModeExit)
        cg.load_const(self._restore[-1])
        cg.call(1)

    def reconstruct(self, cg: Any) -> None:
        """The manager itself live at a graph break (held by an ``ExitStack``, entered with a direct
        ``__enter__`` call): a real one in this tracker's state, so its own ``__exit__`` restores
        the mode this block found on entry."""
        cg.push_callable(rebuild_grad_mode)
        cg.load_const(self.py_type)
        cg.load_const(self.mode)
        cg.load_const(self._restore[-1] if self._restore else None)
        cg.call(3)

    def describe(self) -> str:
        return f"{self.py_type.__name__}({self.mode})"


def rebuild_grad_mode(cls: type, mode: bool, previous: bool | None) -> Any:
    """Run-time twin of a GradModeVariable: made without ``__init__`` (``set_grad_enabled``'s
    switches the mode), with the attributes torch's managers keep (``prev``: the mode
    ``__exit__`` restores; ``mode``: what ``set_grad_enabled.__enter__`` sets)."""
    manager = object.__new__(cls)
    if cls is torch.set_grad_enabled:
        manager.mode = mode
    if previous is not None or cls is torch.no_grad:      # no_grad() sets prev = False in __init__
        manager.prev = bool(previous)
    return manager


class GradModeExit:
    """Run-time ``__exit__`` of a grad-mode block that a graph break split: restores the mode."""

    def __init__(self, previous: bool) -> None:
        self.previous = previous

    def __call__(self, *exc_info: Any) -> bool:
        torch._C._set_grad_enabled(self.previous)
        return False


class GraphContextVariable(VariableTracker):
    """A context manager recorded in the graph as enter/exit nodes (``torch.autocast``,
    ``torch.inference_mode``), as torch.compile records them.

    A graph break inside the block splits it in three, each balanced: the graph closes the
    block at its end (``close_in_graph``); the transformed code enters and exits it natively
    around the break's instruction (``enter_fn``/``suspend_fn`` on ``native_args``); and the
    resume function gets a fresh manager object (``reconstruct_manager``) that its prefix
    enters with BEFORE_WITH, so the rest of the block is traced inside it and its ``__exit__``
    is where the original's was on the stack."""

    models_type = True
    enter_fn: Any           # (*native_args) -> a handle; the torch function the graph records
    suspend_fn: Any         # (handle) -> None: leave it for a break, to be entered again after

    def __init__(self) -> None:
        super().__init__(None)
        self._nodes: list[Any] = []

    @property
    def native_args(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def _graph_enter(self, tx: Tx) -> Any:
        raise NotImplementedError

    def _graph_exit(self, tx: Tx, node: Any, suspend: bool = False) -> None:
        raise NotImplementedError

    def reconstruct_manager(self, cg: Any) -> None:
        """Push a new, not yet entered manager object with this block's arguments."""
        cg.push_callable(self.python_type())
        for arg in self.native_args:
            cg.load_const(arg)
        cg.call(len(self.native_args))

    def reconstruct(self, cg: Any) -> None:
        """``with torch.autocast(...) as ac``: ``ac`` after a break is a manager with the same
        arguments (torch's managers keep no state a program reads)."""
        self.reconstruct_manager(cg)

    def is_open(self) -> bool:
        return bool(self._nodes)

    def close_in_graph(self, tx: Tx) -> None:
        """The graph ends at a break inside the block: leave it at the graph's end, for now
        (``suspend_fn``: the resume function enters it again)."""
        self._graph_exit(tx, self._nodes.pop(), suspend=True)

    @pymethod("__enter__")
    def _enter(self, tx: Tx) -> VariableTracker:
        self._nodes.append(self._graph_enter(tx))
        return self._entered_value(tx)

    def _entered_value(self, tx: Tx) -> VariableTracker:
        return self

    @pymethod("__exit__")
    def _exit(self, tx: Tx, *exc_info: VariableTracker) -> VariableTracker:
        self._graph_exit(tx, self._nodes.pop())
        return tx.wrap_const(False)


class AutocastVariable(GraphContextVariable):
    """``torch.autocast(device_type, dtype, enabled, cache_enabled)`` (also ``torch.amp.autocast``,
    ``torch.cpu.amp.autocast``): entering records ``torch.amp._enter_autocast`` in the graph."""

    enter_fn = staticmethod(torch.amp._enter_autocast)
    suspend_fn = staticmethod(suspend_autocast)

    def __init__(self, args: tuple[Any, ...], py_type: type) -> None:
        super().__init__()
        self.args = args
        self.py_type = py_type

    @classmethod
    def create(cls, tx: Tx, py_type: type, device_type: VariableTracker | None = None,
               dtype: VariableTracker | None = None, enabled: VariableTracker | None = None,
               cache_enabled: VariableTracker | None = None) -> "AutocastVariable":
        device = device_type.as_constant() if device_type is not None else "cpu"
        if py_type is not torch.autocast and py_type is not torch.amp.autocast:
            device = "cpu"                      # torch.cpu.amp.autocast(dtype=...)
        def const(vt: VariableTracker | None, default: Any) -> Any:
            return vt.as_constant() if vt is not None else default
        args = (device, const(dtype, torch.get_autocast_dtype(device)), const(enabled, True),
                const(cache_enabled, torch.is_autocast_cache_enabled()))
        return cls(args, py_type)

    def python_type(self) -> type:
        return self.py_type

    @property
    def native_args(self) -> tuple[Any, ...]:
        return self.args

    def reconstruct_manager(self, cg: Any) -> None:
        cg.push_callable(torch.amp.autocast)     # (torch.cpu.amp.autocast takes no device)
        for arg in self.args:
            cg.load_const(arg)
        cg.call(len(self.args))

    def _graph_enter(self, tx: Tx) -> Any:
        return tx.graph.enter_autocast(self.args)

    def _graph_exit(self, tx: Tx, node: Any, suspend: bool = False) -> None:
        tx.graph.exit_autocast(node, suspend_autocast if suspend else torch.amp._exit_autocast)

    def describe(self) -> str:
        return f"torch.autocast{self.args}"


class InferenceModeVariable(GraphContextVariable):
    """``torch.inference_mode(mode)``: entering records ``_enter_inference_mode`` in the graph,
    and ops traced inside are fake-run under it (their results are inference tensors)."""

    enter_fn = staticmethod(torch.autograd.grad_mode._enter_inference_mode)
    suspend_fn = staticmethod(torch.autograd.grad_mode._exit_inference_mode)

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self.mode = mode

    @classmethod
    def create(cls, tx: Tx, mode: VariableTracker | None = None) -> "InferenceModeVariable":
        return cls(True if mode is None else bool(mode.as_constant()))

    def python_type(self) -> type:
        return torch.inference_mode

    @property
    def native_args(self) -> tuple[Any, ...]:
        return (self.mode,)

    def _graph_enter(self, tx: Tx) -> Any:
        return tx.graph.enter_inference_mode(self.mode)

    def _graph_exit(self, tx: Tx, node: Any, suspend: bool = False) -> None:
        tx.graph.exit_inference_mode(node)

    def _entered_value(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(None)

    def describe(self) -> str:
        return f"torch.inference_mode({self.mode})"


class ProfilerRecordVariable(VariableTracker):
    """``torch.autograd.profiler.record_function(name, args)``: a profiler label around a block.
    Entering and leaving it is a no-op in the graph (torch.compile, without
    ``capture_profiler_record_function``, ignores it too): it changes no value the program
    computes, and tracing its ``__enter__`` would break on the profiler's own C calls. One that
    escapes (``with ... as rf: return rf``) is a new, unentered manager with the same arguments."""
    models_type = True

    def __init__(self, name: VariableTracker, args: VariableTracker | None = None) -> None:
        super().__init__(None)
        self.name, self.args = name, args

    @classmethod
    def create(cls, tx: Tx, name: VariableTracker, args: VariableTracker | None = None) -> "ProfilerRecordVariable":
        return cls(name, args)

    def python_type(self) -> type:
        return torch.autograd.profiler.record_function

    @pymethod("__enter__")
    def _enter(self, tx: Tx) -> VariableTracker:
        return self

    @pymethod("__exit__")
    def _exit(self, tx: Tx, *exc_info: VariableTracker) -> VariableTracker:
        return tx.wrap_const(None)

    def reconstruct_method(self, cg: Any, name: str) -> None:
        """The ``__exit__`` of a block still open at a graph break: a no-op, as entering was."""
        if name != "__exit__":
            super().reconstruct_method(cg, name)
            return
        cg.load_const(_no_exit)       # the method as a value (a call target would add a NULL: 3.13 stored it)

    def reconstruct(self, cg: Any) -> None:
        cg.push_callable(torch.autograd.profiler.record_function)
        cg.reconstruct(self.name)
        cg.reconstruct(self.args if self.args is not None else ConstantVariable(None))
        cg.call(2)

    def describe(self) -> str:
        return "torch.autograd.profiler.record_function"


def _no_exit(*exc_info: Any) -> bool:
    return False


class ExceptionVariable(VariableTracker):
    identity_matters = True       # `except E as e`: e is sys.exc_info()[1], one object

    def __init__(self, exc: BaseException) -> None:
        super().__init__(None)
        self.exc = exc

    def python_type(self) -> type:
        return type(self.exc)

    # an exception from outside the trace (``builder.rules.wrap_exception``): what installs the
    # guards a fold depends on, or that it cannot be folded at all
    fold_guard: Any = None
    unfoldable = False

    def is_constant(self) -> bool:
        return not self.unfoldable

    def as_constant(self) -> Any:
        """The exception itself (``str(e)``, ``repr(e)`` fold from it)."""
        if self.unfoldable:
            raise NotConstant(self.describe())
        if self.fold_guard is not None:
            self.fold_guard()
        return self.exc

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if self.source is not None:           # an exception from outside the trace: guarded where read
            return tx.wrap(getattr(self.exc, name), AttrSource(self.source, name))
        return tx.wrap_const(getattr(self.exc, name))

    def reconstruct(self, cg: Any) -> None:
        """The exception from outside the trace itself; one raised while tracing is made again
        per call (``type(exc)(*exc.args)``), never one shared object."""
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        cg.push_callable(type(self.exc))
        for arg in self.exc.args:
            cg.load_const(arg)
        cg.call(len(self.exc.args))

    def describe(self) -> str:
        return f"{type(self.exc).__name__}({self.exc})"


def _autocast(py_type: type) -> Any:
    return lambda tx, *args, **kwargs: AutocastVariable.create(tx, py_type, *args, **kwargs)


GRAD_MODE_CLASSES: dict[type, Any] = {
    torch.autocast: _autocast(torch.autocast),
    torch.amp.autocast: _autocast(torch.amp.autocast),
    torch.cpu.amp.autocast: _autocast(torch.cpu.amp.autocast),
    torch.inference_mode: InferenceModeVariable.create,
    torch.autograd.profiler.record_function: ProfilerRecordVariable.create,
    torch.no_grad: lambda tx: GradModeVariable.create(tx, False, torch.no_grad),
    torch.enable_grad: lambda tx: GradModeVariable.create(tx, True, torch.enable_grad),
    torch.set_grad_enabled: lambda tx, mode: GradModeVariable.create(tx, bool(mode.as_constant()),
                                                                     torch.set_grad_enabled, immediate=True),
}
