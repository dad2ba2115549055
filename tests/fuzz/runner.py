"""Run one program in two identical worlds, eager and compiled, and compare what a user sees.

    world A (eager)  exec(PROGRAM) -> f;   world B (compiled)  exec(PROGRAM) -> bytegraph.compile(f)
    for each call:   run the call's mutation code in both namespaces (the same text), then call
                     f(*ARGS) in each under the same RNG seed and grad mode (CALL_GRAD), then
                     backward() through any returned tensor that requires grad
    compare:         the return value (or the exception: type and message), the namespace (every
                     global, ARGS and what they hold, module parameters and grads, log records),
                     stdout, warnings, torch's global state after the call

An ``Outcome`` is ``ok``, ``mismatch`` (a difference), ``exception`` (bytegraph raised where
eager did not: an exception reaching the user), ``internal`` (no difference, but bytegraph
warned "internal error" and ran something eagerly) or ``invalid`` (the program's own setup
fails). It also carries the eager fallbacks and graph breaks by reason.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import io
import linecache
import logging
import re
import signal
import threading
import unittest.mock
import warnings
from typing import Any

import torch

import bytegraph
from bytegraph.runtime import events

from .observe import Describer, Labels, difference, is_leaf


@dataclasses.dataclass
class Outcome:
    status: str                                     # ok | mismatch | exception | internal | invalid | timeout
    detail: str = ""                                # the first difference, or the exception
    call: int = -1                                  # the call it happened in (0-based)
    eager_reasons: list[str] = dataclasses.field(default_factory=list)     # normalized, one per fallback
    internal: list[str] = dataclasses.field(default_factory=list)          # internal-error warnings
    breaks: list[str] = dataclasses.field(default_factory=list)            # graph breaks that resumed
    graphs: int = 0
    eager_raised: int = 0                           # calls where eager itself raised (program validity)

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "exception")

    def signature(self) -> str:
        """What a shrunk program must keep doing to count as the same failure."""
        if self.status == "internal":
            return "internal: " + (self.internal[0] if self.internal else "")
        if self.status == "exception":
            return "exception: " + self.detail.split(":", 1)[0]
        return self.status


class World:
    """One module namespace built from the program source."""

    def __init__(self, source: str, filename: str, name: str) -> None:
        self.name = name
        self.ns: dict[str, Any] = {"__name__": name, "__builtins__": builtins}
        exec(compile(source, filename, "exec"), self.ns)

    def close(self) -> None:
        manager = logging.Logger.manager
        for key in [k for k in manager.loggerDict if k == self.name or k.startswith(self.name + ".")]:
            logger = manager.loggerDict.pop(key)
            if isinstance(logger, logging.Logger):
                logger.handlers.clear()
        self.ns.clear()


@contextlib.contextmanager
def _torch_state() -> Any:
    """Keep torch's process-wide state (grad mode, default dtype, autocast) as it was."""
    grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    autocast = torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")
    try:
        yield
    finally:
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)
        torch.set_autocast_enabled("cpu", autocast[0])
        torch.set_autocast_dtype("cpu", autocast[1])


def _global_state() -> tuple:
    return ("grad", torch.is_grad_enabled(), "dtype", str(torch.get_default_dtype()),
            "autocast", torch.is_autocast_enabled("cpu"), str(torch.get_autocast_dtype("cpu")),
            "inference", torch.is_inference_mode_enabled(), "modes", leftover_modes())


def clear_leftover_modes() -> None:
    """Undo what a program left behind (a compiled program that failed inside torch.func left
    its transform level open: every later tensor op in the process ran under it)."""
    if torch._C._functorch.get_dynamic_layer_stack_depth() > 0:
        torch._C._functorch.pop_dynamic_layer_stack_and_undo_to_depth(0)


def leftover_modes() -> tuple[str, ...]:
    """Transforms and modes still active outside any program (a torch.func level left open,
    a TorchFunctionMode or TorchDispatchMode not popped): what a call must not leave behind."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack
    left = []
    if torch._C._functorch.peek_interpreter_stack() is not None:
        left.append("torch.func transform level")
    left += [type(m).__name__ for m in torch.overrides._get_current_function_mode_stack()]
    left += [type(m).__name__ for m in _get_current_dispatch_mode_stack()]
    return tuple(left)


# AOTAutograd-based backends put their own node in the autograd graph (torch.compile does the
# same): a printed tensor's grad_fn name and the anomaly-mode warning of a failing backward differ
_GRAD_FN = re.compile(r",\s*grad_fn=<\w+>")   # (a longer name wraps the repr: the line break too)


def _user_visible(w: warnings.WarningMessage, plain_autograd: bool) -> bool:
    text = str(w.message)
    return not text.startswith("bytegraph:") and (
        plain_autograd or "Traceback of forward call that caused the error" not in text)


@dataclasses.dataclass(frozen=True)
class Check:
    """How the two worlds are compared."""

    exact: bool             # tensors bitwise (backends that run eager's kernels), else allclose
    strides: bool           # tensor strides compared too
    plain_autograd: bool    # the backend leaves autograd as eager has it (no compiled autograd node)


def _call(world: World, fn: Any, seed: int, check: Check) -> tuple[Any, list[warnings.WarningMessage]]:
    """Call ``fn(*ARGS)`` in ``world``; the description of everything observable after it."""
    ns = world.ns
    labels = Labels(ns, world.name)
    describe = Describer(labels, check.strides, zero_grad_is_none=not check.plain_autograd,
                         text=None if check.plain_autograd else (lambda s: _GRAD_FN.sub(", grad_fn=<...>", s)))
    out = io.StringIO()
    with _torch_state(), contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(seed)
        torch.set_grad_enabled(bool(ns.get("CALL_GRAD", True)))
        try:
            value = fn(*ns["ARGS"])
            backward = _backward(value)
            if isinstance(backward, tuple) and not check.plain_autograd:
                backward = backward[:2]     # AOTAutograd saves other tensors: other versions in the message
            result = ("returned", describe(value))
        except Exception as e:   # noqa: BLE001 - the program's exception is what we compare
            result, backward = ("raised", type(e).__name__, _message(e)), None
        after = _global_state()
    program_warnings = [(w.category.__name__, str(w.message)) for w in caught if _user_visible(w, check.plain_autograd)]
    stdout = out.getvalue() if check.plain_autograd else _GRAD_FN.sub(", grad_fn=<...>", out.getvalue())
    desc = (("result", result), ("backward", backward), ("state", describe.state(ns)), ("stdout", stdout),
            ("warnings", tuple(program_warnings)), ("torch", after))
    return desc, caught


def compiled_formulas(ns: dict[str, Any]) -> None:
    """The eager world's optimizer steps on the formulas torch's optimizers use when compiled.

    torch's Adam (and others) take another path under ``torch.compiler.is_compiling()``: the
    bias corrections are computed from the step *tensor* in float32, where eagerly they are
    Python floats (``step.item()``), so a compiled step differs from eager's in the last bits,
    for torch.compile exactly as for bytegraph, and Adam's near-sign updates let that grow
    over a few calls (fuzz campaign C: 0.2-1.5% after 3-5 calls in 4 of 2000 programs). The
    eager world is the reference for what bytegraph *traces*: its ``OPT.step`` runs with
    ``is_compiling()`` true, so a compiled step is compared with the same formulas run
    eagerly, not with a tolerance that would hide a wrong state of the same size. Once a frame
    of the compiled world has run eagerly (a fallback), a step it made took eager's formulas:
    from then on that program is compared with the tolerance (``_one_call``)."""
    opt = ns.get("OPT")
    if not isinstance(opt, torch.optim.Optimizer):
        return
    step = opt.step

    def step_as_compiled(*args: Any, **kwargs: Any) -> Any:
        with unittest.mock.patch("torch.compiler.is_compiling", lambda: True):
            return step(*args, **kwargs)
    opt.step = step_as_compiled


def _backward(value: Any) -> Any:
    """backward() through the returned tensors that require grad (grads land in the state).

    A backward that raises part way has accumulated the grads of whichever leaves the engine
    reached first: autograd does not specify that order, and an AOTAutograd backend (one node
    per graph) reaches them in another order than eager (torch.compile too: fuzz seed 70092).
    So a failed backward leaves every leaf's ``.grad`` as it was before it; the error itself is
    compared."""
    tensors = [t for t in _tensors(value, 0) if t.requires_grad and is_leaf(t) is False]
    if not tensors:
        return None
    before = [(leaf, leaf.grad, None if leaf.grad is None else leaf.grad.clone()) for leaf in _leaves(tensors)]
    try:
        torch.autograd.backward([t.float().sum() for t in tensors])
        return "ok"
    except Exception as e:   # noqa: BLE001 - the same error must happen in both worlds
        with torch.no_grad():
            for leaf, grad, values in before:     # (the same grad tensor: the program may hold it)
                if grad is not None:
                    grad.copy_(values)
                leaf.grad = grad
        return ("raised", type(e).__name__, _message(e))


def _leaves(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The leaf tensors a backward from ``tensors`` accumulates into (their AccumulateGrad nodes)."""
    seen, todo, leaves = set(), [t.grad_fn for t in tensors], []
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):
            leaves.append(node.variable)
        todo.extend(n for n, _ in node.next_functions)
    return leaves


def _tensors(v: Any, depth: int) -> list[torch.Tensor]:
    if isinstance(v, torch.Tensor):
        return [v]
    if depth > 4:
        return []
    if isinstance(v, (list, tuple)):
        return [t for x in v for t in _tensors(x, depth + 1)]
    if isinstance(v, dict):
        return [t for x in v.values() for t in _tensors(x, depth + 1)]
    return []


def _message(e: BaseException) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x?", str(e))


_NORMALIZE = [
    (re.compile(r"\s+at \S+:\d+.*"), ""),             # where in the program
    (re.compile(r"0x[0-9a-f]+"), "0x?"),
    (re.compile(r"\b\d+\b"), "N"),
    (re.compile(r"'[^']*'"), "'?'"),
    (re.compile(r"f_resume_at_N"), "f_resume"),
]


def normalize_reason(reason: str) -> str:
    """A fallback reason without the program-specific parts, so reasons group by kind."""
    lines = [ln.strip() for ln in reason.splitlines() if ln.strip()]
    text = lines[0] if lines else reason
    extra = [ln for ln in lines[1:] if ln.startswith(("not resumable:", "what:"))]
    if extra:
        text += " | " + " | ".join(extra)
    for pattern, repl in _NORMALIZE:
        text = pattern.sub(repl, text)
    return text[:240]


class Timeout(BaseException):
    """The program ran past its time (a BaseException: the program's handlers do not catch it)."""


@contextlib.contextmanager
def _deadline(seconds: float | None) -> Any:
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Timeout(f"the program ran longer than {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_program(source: str, calls: list[str], backend: Any = "eager", seed: int = 0, strides: bool = True,
                timeout_s: float | None = None) -> Outcome:
    """Run ``source`` (a module defining ``f`` and ``ARGS``) eager and compiled, once per entry
    of ``calls`` (mutation code run before that call); stop at the first difference."""
    try:
        with _deadline(timeout_s):
            return _run(source, calls, backend, seed, strides)
    except Timeout as e:
        return Outcome("timeout", str(e))


def _run(source: str, calls: list[str], backend: Any, seed: int, strides: bool) -> Outcome:
    filename = f"<fuzz-{seed}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    check = Check(exact=backend in ("eager", "aot_eager") or callable(backend), strides=strides,
                  plain_autograd=backend == "eager" or callable(backend))
    worlds: list[World] = []
    try:
        try:
            for name in (f"fuzzw{seed}_eager", f"fuzzw{seed}_bg"):
                torch.manual_seed(seed)        # a program that does not seed itself builds the same tensors twice
                worlds.append(World(source, filename, name))
        except Exception as e:   # noqa: BLE001
            return Outcome("invalid", f"setup raises {type(e).__name__}: {e}")
        eager_w, comp_w = worlds
        compiled_formulas(eager_w.ns)
        if eager_w.ns.get("INEXACT"):     # the program says why compiled code may differ in the last bits
            check = dataclasses.replace(check, exact=False)
        compiled = bytegraph.compile(comp_w.ns["f"], backend=backend)
        outcome = Outcome("ok")
        with events.recording() as log:
            for i, mutation in enumerate(calls):
                failure = _one_call(i, mutation, eager_w, comp_w, compiled, seed, check, outcome, log)
                if failure is not None:
                    outcome.status, outcome.detail, outcome.call = failure[0], failure[1], i
                    break
        outcome.eager_reasons += [normalize_reason(e.eager_reason) for e in log if e.eager_reason]
        outcome.breaks = [normalize_reason(e.break_reason) for e in log if e.break_reason]
        outcome.graphs = sum(1 for e in log if e.graph_code is not None)
        if outcome.status == "ok" and outcome.internal:
            outcome.status, outcome.detail = "internal", outcome.internal[0]
        return outcome
    finally:
        for w in worlds:
            w.close()
        linecache.cache.pop(filename, None)
        clear_leftover_modes()


def _one_call(i: int, mutation: str, eager_w: World, comp_w: World, compiled: Any, seed: int, check: "Check",
              outcome: Outcome, log: list[Any]) -> tuple[str, str] | None:
    mutated = []
    for w in (eager_w, comp_w):
        torch.manual_seed(seed * 31 + i)
        try:
            exec(mutation, w.ns)
            mutated.append(None)
        except Exception as e:   # noqa: BLE001 - both worlds must fail the same way
            mutated.append((type(e).__name__, str(e)))
    if mutated[0] != mutated[1]:
        return "mismatch", f"mutation before call {i}: eager {mutated[0]} vs compiled {mutated[1]}"
    call_seed = seed * 31 + i + 7
    a, _ = _call(eager_w, eager_w.ns["f"], call_seed, check)
    b, caught = _call(comp_w, compiled, call_seed, check)
    for w in caught:
        text = str(w.message)
        if text.startswith("bytegraph:") and "internal error" in text:
            outcome.internal.append(normalize_reason(text.split("running it eagerly", 1)[-1].strip(" ()")))
        elif text.startswith("bytegraph:") and "recompile limit" in text:
            outcome.eager_reasons.append("recompile limit")
    if check.exact and isinstance(eager_w.ns.get("OPT"), torch.optim.Optimizer) and (
            any(e.outcome == "eager" for e in log) or "recompile limit" in outcome.eager_reasons):
        # a frame ran eagerly (a fallback, or a frame past the recompile limit: fuzz seed 348):
        # an optimizer step in it, or called from it, took the eager formulas, not the compiled
        # ones the eager world runs (compiled_formulas): last bits apart from here on
        check = dataclasses.replace(check, exact=False)
    ra, rb = a[0][1], b[0][1]
    if ra[0] == "raised":
        outcome.eager_raised += 1
    if rb[0] == "raised" and ra[0] != "raised":
        return "exception", f"{rb[1]}: {rb[2]}"
    d = difference(a, b, check.exact, "")
    return None if d is None else ("mismatch", d)
