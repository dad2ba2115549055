"""The frame boundary: nothing that goes wrong while compiling reaches the program.

An internal error injected into each stage of the pipeline (opcode handler, builder rule,
fake-tensor propagation, graph node creation, codegen, resume code, transformed function,
guards, backend) must end as an eager run with eager's result, one one-line warning and a
recorded reason; torch's global state (``runtime.torch_state.ITEMS``, each perturbed by the
failing stage) must be exactly as before; the next call must work. KeyboardInterrupt and
SystemExit are not swallowed (but the state is still put back), a RecursionError in the tracer
falls back, and a new entry whose guards reject the very call they were built from (a guard
that cannot be evaluated) runs eagerly for good instead of recompiling on every call.
"""

from __future__ import annotations

import copy
import random
import warnings
from typing import Any, Callable

import pytest
import torch
import torch._guards
from torch.overrides import TorchFunctionMode
from torch.utils import _python_dispatch as python_dispatch
from torch.utils._python_dispatch import TorchDispatchMode

import bytegraph
from bytegraph.builder import rules
from bytegraph.codegen.pycodegen import PyCodegen
from bytegraph.graph.output_graph import OutputGraph
from bytegraph.interpreter.registry import handlers_for_current
from bytegraph.runtime import compiled as compiled_module
from bytegraph.runtime import convert, torch_state
from bytegraph.testing import CompileCounter

# Objects a perturbation must keep alive (a dropped _InferenceMode or DisableTorchFunction
# guard would undo itself when collected, hiding a missing restore).
_KEEP: list[Any] = []


class _PassThroughDispatch(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):   # noqa: ANN001
        return func(*args, **(kwargs or {}))


def _jit_tracing_state() -> Any:
    states = []

    def record(x: torch.Tensor) -> torch.Tensor:
        states.append(torch._C._get_tracing_state())
        return x * 2

    torch.jit.trace(record, torch.ones(1))
    return states[0]


def _enter(manager: Any) -> None:
    _KEEP.append(manager)
    manager.__enter__()


# item name (runtime.torch_state.ITEMS, plus the dispatch key sets) -> a change a failing stage leaves behind
PERTURB: dict[str, Callable[[], None]] = {
    "functorch transform levels (dynamic layer stack)": lambda: torch._C._functorch._grad_increment_nesting(),
    "functorch flags": lambda: torch._C._functorch.set_inplace_requires_grad_allowed(
        not torch._C._functorch.get_inplace_requires_grad_allowed()),
    "infra dispatch modes (fake, proxy, functional)": lambda: _enter(torch._subclasses.FakeTensorMode()),
    "torch_dispatch mode stack": lambda: _enter(_PassThroughDispatch()),
    "torch_function mode stack": lambda: _enter(TorchFunctionMode()),
    "torch_function enabled": lambda: _enter(torch._C.DisableTorchFunction()),
    "dispatch mode flags (torch.utils._python_dispatch)":
        lambda: setattr(python_dispatch, "_is_in_non_infra_torch_dispatch_mode", True),
    "inference mode": lambda: _KEEP.append(torch._C._InferenceMode(True)),
    "grad mode": lambda: torch._C._set_grad_enabled(False),
    "forward-mode AD enabled": lambda: torch._C._set_fwd_grad_enabled(False),
    "autograd multithreading": lambda: torch._C._set_multithreading_enabled(False),
    "autograd view replay": lambda: torch._C._set_view_replay_enabled(True),
    "saved tensor hooks disabled": lambda: torch._C._autograd._saved_tensors_hooks_disable("left disabled"),
    "autocast": lambda: (torch.set_autocast_enabled("cpu", True), torch.autocast_increment_nesting()),
    "default dtype": lambda: torch.set_default_dtype(torch.float64),
    "deterministic algorithms": lambda: torch.use_deterministic_algorithms(True, warn_only=True),
    "float32 matmul precision": lambda: torch.set_float32_matmul_precision("medium"),
    "cudnn flags": lambda: torch._C._set_cudnn_benchmark(not torch._C._get_cudnn_benchmark()),
    "CPU RNG state": lambda: torch.rand(1),
    "CUDA RNG state": lambda: torch.cuda.manual_seed_all(1234),
    "Python random state": lambda: random.random(),
    "JIT tracing state": lambda: torch._C._set_tracing_state(_jit_tracing_state()),
    "tracing_context": lambda: setattr(torch._guards._TLS, "tracing_context", torch._guards.TracingContext(None)),
    "compile_context": lambda: setattr(torch._guards._TLS, "compile_context", torch._guards.CompileContext(None)),
    "dispatch key sets": lambda: torch._C._dispatch_tls_set_dispatch_key_included(
        torch._C.DispatchKey.Functionalize, True),
}


def _perturb_all() -> None:
    """What a stage that fails midway might leave behind: a bit of everything."""
    for name in ("functorch transform levels (dynamic layer stack)", "torch_dispatch mode stack", "grad mode",
                 "inference mode", "autocast", "default dtype", "CPU RNG state", "tracing_context"):
        PERTURB[name]()


def test_every_state_item_has_a_perturbation():
    assert set(PERTURB) == {item.name for item in torch_state.ITEMS} | {"dispatch key sets"}


def fn(x, y):
    a = x * 2 + y
    return a.sin() - 1


def fn_with_break(x, y):
    a = x * 2 + y
    n = int(a.sum().item() > 0)       # a graph break that resumes (GB003)
    return a.sin() - n


def _args() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(4), torch.randn(4)


def _run(compiled: Any, args: tuple) -> tuple[Any, list[warnings.WarningMessage], list[str]]:
    """One call: its result, the warnings it issued, and which global-state items it changed."""
    before = torch_state.TorchState()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = compiled(*args)
    finally:
        changed = before.restore()        # (so that one failing test does not poison the others)
    return out, list(caught), changed


def _internal_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if str(w.message).startswith("bytegraph: internal error")]


def _check_eager_fallback(compiled: Any, eager: Callable, args: tuple, where: str) -> None:
    out, caught, changed = _run(compiled, args)
    assert torch.equal(out, eager(*args))
    assert changed == [], f"compiling left torch's global state changed: {changed}"
    messages = _internal_warnings(caught)
    assert len(messages) == 1 and "\n" not in messages[0], messages
    assert where in messages[0], messages
    reasons = [r for s in compiled.stats_all for r in s.eager_reasons]
    assert len(reasons) == 1 and "internal error" in reasons[0] and where in reasons[0], reasons
    # the next call: served by the eager entry, no new capture, no warning, same state
    captures = sum(s.captures for s in compiled.stats_all)
    out, caught, changed = _run(compiled, args)
    assert torch.equal(out, eager(*args)) and changed == [] and _internal_warnings(caught) == []
    assert sum(s.captures for s in compiled.stats_all) == captures


def _boom(*args: Any, **kwargs: Any) -> Any:
    _perturb_all()
    raise RuntimeError("injected internal error")


def _inject_handler(mp: pytest.MonkeyPatch) -> None:
    mp.setitem(handlers_for_current(), "BINARY_OP", _boom)


def _inject_rule(mp: pytest.MonkeyPatch) -> None:
    patched = [rules.WrapRule(r.name, r.match, _boom, r.guards, r.tracks_identity) if r.name == "tensor" else r
               for r in rules.RULES]
    mp.setattr(rules, "RULES", patched)


def _inject_backend(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(OutputGraph, "compile_with", _boom)


# stage -> (how to inject the error, the place in bytegraph the recorded reason names, the function compiled)
STAGES: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str, Callable]] = {
    "opcode handler": (_inject_handler, "interpreter/translator.py", fn),
    "builder rule": (_inject_rule, "builder/builder.py", fn),
    "fake-tensor propagation": (lambda mp: mp.setattr(OutputGraph, "run_fake", _boom), "graph/output_graph.py", fn),
    "graph node (wrap_fx_proxy)": (lambda mp: mp.setattr(OutputGraph, "wrap_fx_proxy", _boom),
                                   "graph/output_graph.py", fn),
    "codegen (PyCodegen.reconstruct)": (lambda mp: mp.setattr(PyCodegen, "reconstruct", _boom),
                                        "runtime/convert.py", fn),
    "transformed function": (lambda mp: mp.setattr(convert, "make_function", _boom), "runtime/convert.py", fn),
    "resume code": (lambda mp: mp.setattr(compiled_module, "make_resume_code", _boom), "runtime/compiled.py",
                    fn_with_break),
    "break codegen": (lambda mp: mp.setattr(convert, "emit_break", _boom), "runtime/convert.py", fn_with_break),
    "guards (compile_guards)": (lambda mp: mp.setattr(convert, "compile_guards", _boom), "runtime/convert.py", fn),
    "backend call": (_inject_backend, "runtime/convert.py", fn),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_internal_error_in_each_stage_runs_eagerly(stage, monkeypatch):
    inject, where, function = STAGES[stage]
    compiled = bytegraph.compile(function, backend=CompileCounter())
    args = _args()
    with monkeypatch.context() as mp:
        inject(mp)
        _check_eager_fallback(compiled, function, args, where)
    # with the bug gone, a fresh capture works and makes graphs again
    compiled.reset()
    out, caught, changed = _run(compiled, args)
    assert torch.equal(out, function(*args)) and changed == [] and _internal_warnings(caught) == []
    assert sum(s.graphs for s in compiled.stats_all) >= 1


@pytest.mark.parametrize("item", list(PERTURB))
def test_each_state_item_is_restored_after_a_failed_compile(item, monkeypatch):
    """An opcode handler (no cleanup of its own around it) changes one piece of torch's global
    state and then fails."""
    if item == "CUDA RNG state":
        if not torch.cuda.is_available():
            pytest.skip("no CUDA")
        torch.cuda.init()           # (the state is read only once CUDA is initialized; seeding before is lazy)

    def failing_handler(*args: Any, **kwargs: Any) -> None:
        PERTURB[item]()
        raise RuntimeError(f"handler failed after changing {item}")

    compiled = bytegraph.compile(fn, backend=CompileCounter())
    args = _args()
    before = torch_state.TorchState()
    reference = [i.read() for i in torch_state.ITEMS]
    try:
        with monkeypatch.context() as mp, warnings.catch_warnings():
            mp.setitem(handlers_for_current(), "BINARY_OP", failing_handler)
            warnings.simplefilter("ignore")
            out = compiled(*args)
        assert before.changed() == []
        now = [i.read() for i in torch_state.ITEMS]
        assert all(i.same(a, b) for i, a, b in zip(torch_state.ITEMS, now, reference))
    finally:
        before.restore()
    assert torch.equal(out, fn(*args))
    assert compiled.stats.eager == 1 and "handler failed" in compiled.stats.eager_reasons[0]


def test_functorch_level_left_by_a_failed_compile_does_not_break_later_eager_code():
    """The reported symptom: after a failed capture, deepcopy and torch.cond kept failing."""
    def leaves_a_level(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        torch._C._functorch._grad_increment_nesting()
        raise RuntimeError("failed inside a transform")

    compiled = bytegraph.compile(fn, backend=leaves_a_level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled(*_args())
    assert torch._C._functorch.maybe_current_level() is None
    copy.deepcopy([torch.randn(2), torch.randn(3)])
    x = torch.randn(3)
    assert torch.equal(torch.cond(torch.tensor(True), lambda t: t + 1, lambda t: t - 1, (x,)), x + 1)


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_interrupts_are_not_swallowed_but_state_is_restored(interrupt, monkeypatch):
    def stop(*args: Any, **kwargs: Any) -> None:
        _perturb_all()
        raise interrupt()

    compiled = bytegraph.compile(fn, backend=CompileCounter())
    args = _args()
    before = torch_state.TorchState()
    try:
        with monkeypatch.context() as mp:
            mp.setitem(handlers_for_current(), "BINARY_OP", stop)
            with pytest.raises(interrupt):
                compiled(*args)
        assert before.changed() == []
    finally:
        before.restore()
    assert compiled.entries == ()
    args = _args()
    out, caught, changed = _run(compiled, args)                  # the next call compiles normally
    assert torch.equal(out, fn(*args)) and changed == [] and compiled.stats.graphs == 1


def test_recursion_error_in_the_tracer_runs_eagerly(monkeypatch):
    def overflow(*args: Any, **kwargs: Any) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    compiled = bytegraph.compile(fn, backend=CompileCounter())
    with monkeypatch.context() as mp:
        mp.setitem(handlers_for_current(), "BINARY_OP", overflow)
        _check_eager_fallback(compiled, fn, _args(), "RecursionError")


def _depth(n: int) -> int:
    return 0 if n == 0 else 1 + _depth(n - 1)


def deep(x, n):
    return x + _depth(n)


def test_real_recursion_overflow_while_tracing_runs_eagerly():
    """The tracer needs many Python frames per inlined call: a recursion that eager runs within
    the limit overflows the tracer's stack; the call runs eagerly."""
    import sys

    compiled = bytegraph.compile(deep, backend=CompileCounter())
    x = torch.randn(3)
    limit = sys.getrecursionlimit()
    here = len(__import__("inspect").stack(0))
    sys.setrecursionlimit(here + 150)
    try:
        with bytegraph.config.patch(max_inline_depth=1000), warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            before = torch_state.TorchState()
            out = compiled(x, 40)
            assert before.changed() == []
            before.restore()
    finally:
        sys.setrecursionlimit(limit)
    assert torch.equal(out, deep(x, 40))
    assert compiled.stats.eager == 1 and "RecursionError" in compiled.stats.eager_reasons[0]


def test_fullgraph_raises_the_internal_error_and_restores_state(monkeypatch):
    compiled = bytegraph.compile(fn, backend=CompileCounter(), fullgraph=True)
    args = _args()
    before = torch_state.TorchState()
    try:
        with monkeypatch.context() as mp:
            mp.setattr(OutputGraph, "run_fake", _boom)
            with pytest.raises(RuntimeError, match="injected internal error"):
                compiled(*args)
        assert before.changed() == []
    finally:
        before.restore()


def _guards_that_reject(monkeypatch: pytest.MonkeyPatch) -> None:
    real = convert.compile_guards

    def broken(*args: Any, **kwargs: Any) -> Any:
        guards = real(*args, **kwargs)
        guards.check = lambda *a, **k: False       # as a guard function that raises (caught: "no match")
        return guards

    monkeypatch.setattr(convert, "compile_guards", broken)


def test_guards_that_reject_their_own_inputs_run_eagerly_for_good(monkeypatch):
    """Guards that cannot be evaluated would make every call miss and recompile; the new entry is
    checked against the call it was built from, and the frame runs eagerly from then on."""
    counter = CompileCounter()
    compiled = bytegraph.compile(fn, backend=counter)
    _guards_that_reject(monkeypatch)
    args = _args()
    out, caught, changed = _run(compiled, args)
    assert torch.equal(out, fn(*args)) and changed == []
    assert len(_internal_warnings(caught)) == 1
    for n in (4, 5, 6, 7):                     # new shapes: no recompiles, no warnings, eager's results
        args = torch.randn(n), torch.randn(n)
        out, caught, changed = _run(compiled, args)
        assert torch.equal(out, fn(*args)) and _internal_warnings(caught) == []
    assert compiled.stats.captures == 1 and compiled.stats.eager == 1
    assert "reject" in compiled.stats.eager_reasons[0]


def test_unbuildable_guards_keep_the_entries_compiled_before(monkeypatch):
    """When even the eager entry's guards cannot be built, the frame runs eagerly for every new
    input, and the entries compiled before still serve theirs."""
    counter = CompileCounter()
    compiled = bytegraph.compile(fn, backend=counter)
    first = _args()
    _run(compiled, first)
    assert compiled.stats.graphs == 1
    with monkeypatch.context() as mp:
        mp.setattr(convert, "compile_guards", _boom)
        other = torch.randn(2, 3), torch.randn(2, 3)
        out, caught, changed = _run(compiled, other)
        assert torch.equal(out, fn(*other)) and changed == [] and len(_internal_warnings(caught)) == 1
    assert compiled.entries[-1].accepts_all and compiled.entries[0].graph is not None
    frames = counter.frame_count
    out, _, _ = _run(compiled, first)                     # still the graph
    assert torch.equal(out, fn(*first)) and counter.frame_count == frames
    assert compiled.stats.captures == 2
