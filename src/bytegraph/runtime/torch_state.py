"""torch's process-wide state, saved before a capture and put back after it.

Capturing a frame runs a great deal of code: the tracer, fake-tensor propagation, torch's own
Python functions evaluated at trace time, the backend. Any of it can leave torch's global
state changed when it fails midway (a functorch transform whose ``_grad_increment_nesting``
ran but whose ``finally`` never did leaves every later eager op wrapped), and nothing the
program runs afterwards should ever see that. ``preserved()`` is the one place that guards
against it: ``compile_call`` runs the whole capture inside it, so whatever happens while
compiling (a graph break, the program's own exception, an internal error, an interrupt), the
state below is exactly what it was before.

``ITEMS`` is the list of what is saved, one row per piece of state, restored top to bottom
where it differs: transform levels first (undoing a level restores the dispatch keys it
changed), then the mode stacks, the autograd flags, the numeric settings, RNGs, and the
tracing contexts. The thread-local dispatch key sets are put back last, as a whole, by
torch's own ``_PreserveDispatchKeyGuard``. Restoring writes only what differs, so a capture
that changed nothing costs reads only (about 0.2 ms, mostly Python's and torch's RNG states and
autocast's per-device flags: small beside a capture).

Not covered: the pre-dispatch mode stack (export only), the stack of default saved-tensor
hooks (torch has no way to read its depth), devices other than CPU and an initialized CUDA
for the RNG. The RNG is process-wide: another thread drawing random numbers while this one
compiles has its draws undone, as under torch.compile, which restores it the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from typing import Any, Callable, Iterator

import torch

from ..diagnostics.logs import get_logger
from ..torch_compat import autograd_C, functorch_C, python_dispatch, torch_guards

log = get_logger("fallbacks")


@dataclasses.dataclass(frozen=True, slots=True)
class StateItem:
    name: str
    read: Callable[[], Any]
    write: Callable[[Any], None]
    same: Callable[[Any, Any], bool] = lambda a, b: a == b


def _same_objects(a: Any, b: Any) -> bool:
    """Values compared by identity (a mode stack, a context object): equal is not enough."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(x is y for x, y in zip(a, b))
    return a is b


def _same_tensors(a: Any, b: Any) -> bool:
    """RNG states (byte tensors), compared past any mode a failed capture may have left on."""
    if a is None or b is None:
        return a is b
    with torch._C._DisableTorchDispatch(), torch._C.DisableTorchFunction():
        return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


# -- mode stacks ----------------------------------------------------------------------------
_INFRA_KEYS = tuple(torch._C._TorchDispatchModeKey.__members__.values())


def _infra_modes() -> tuple[Any, ...]:
    """The infrastructure dispatch modes (fake, proxy, functional), one slot per key."""
    return tuple(torch._C._get_dispatch_mode(k) for k in _INFRA_KEYS)


def _set_infra_modes(modes: tuple[Any, ...]) -> None:
    for key, mode, now in zip(_INFRA_KEYS, modes, _infra_modes()):
        if mode is not now:
            if now is not None:
                torch._C._unset_dispatch_mode(key)
            if mode is not None:
                torch._C._set_dispatch_mode(mode)


def _user_dispatch_modes() -> tuple[Any, ...]:
    """The stack of user torch_dispatch modes (the infra modes, listed first by torch, excluded)."""
    infra = sum(m is not None for m in _infra_modes())
    return tuple(torch._C._get_dispatch_stack_at(i) for i in range(infra, torch._C._len_torch_dispatch_stack()))


def _set_user_dispatch_modes(modes: tuple[Any, ...]) -> None:
    _reset_stack(modes, _user_dispatch_modes, lambda: torch._C._pop_torch_dispatch_stack(None),
                  torch._C._push_on_torch_dispatch_stack)


def _function_modes() -> tuple[Any, ...]:
    return tuple(torch._C._get_function_stack_at(i) for i in range(torch._C._len_torch_function_stack()))


def _set_function_modes(modes: tuple[Any, ...]) -> None:
    _reset_stack(modes, _function_modes, torch._C._pop_torch_function_stack, torch._C._push_on_torch_function_stack)


def _reset_stack(saved: tuple[Any, ...], read: Callable[[], tuple[Any, ...]], pop: Callable[[], Any],
                 push: Callable[[Any], None]) -> None:
    """Pop down to the longest common bottom of the stack, then push the saved modes back."""
    now = read()
    keep = 0
    while keep < min(len(now), len(saved)) and now[keep] is saved[keep]:
        keep += 1
    for _ in range(len(now) - keep):
        pop()
    for mode in saved[keep:]:
        push(mode)


def _python_mode_flags() -> tuple[bool, bool, bool]:
    """The flags TorchDispatchMode.__enter__ sets in Python (a mode left entered leaves them set)."""
    return (python_dispatch._is_in_torch_dispatch_mode, python_dispatch._is_in_non_infra_torch_dispatch_mode,
            python_dispatch._is_in_any_mode_without_ignore_compile_internals)


def _set_python_mode_flags(flags: tuple[bool, bool, bool]) -> None:
    from ..torch_compat import set_is_in_mode_without_ignore_compile_internals

    (python_dispatch._is_in_torch_dispatch_mode, python_dispatch._is_in_non_infra_torch_dispatch_mode,
     python_dispatch._is_in_any_mode_without_ignore_compile_internals) = flags
    set_is_in_mode_without_ignore_compile_internals(flags[2])


# -- autograd -------------------------------------------------------------------------------
# An _InferenceMode object restores the state it found when it dies; torch has no other way to
# switch inference mode. The ones made to put the state back are kept alive for good, so that
# their destructor never undoes the restore.
_INFERENCE_MODE_SETTERS: list[Any] = []


def _set_inference_mode(enabled: bool) -> None:
    # (it also sets grad mode, forward AD and the dispatch keys; those rows come after this one)
    _INFERENCE_MODE_SETTERS.append(torch._C._InferenceMode(enabled))


def _functorch_flags() -> tuple[bool, bool]:
    return (functorch_C.get_inplace_requires_grad_allowed(),
            functorch_C.get_single_level_autograd_function_allowed())


def _set_functorch_flags(flags: tuple[bool, bool]) -> None:
    functorch_C.set_inplace_requires_grad_allowed(flags[0])
    functorch_C.set_single_level_autograd_function_allowed(flags[1])


def _set_saved_tensors_hooks_disabled(message: str | None) -> None:
    if message is None:
        autograd_C._saved_tensors_hooks_enable()
    else:
        autograd_C._saved_tensors_hooks_disable(message)


# -- autocast -------------------------------------------------------------------------------
def _autocast_devices() -> tuple[str, ...]:
    devices = []
    for device in torch._C._autocast_supported_devices():
        try:
            torch.get_autocast_dtype(device)
        except Exception:   # noqa: BLE001 - a device type this build cannot autocast: nothing to save
            continue
        devices.append(device)
    return tuple(devices)


_AUTOCAST_DEVICES = _autocast_devices()


def _autocast() -> tuple[Any, ...]:
    """Per device (enabled, dtype), the weight cache switch and the nesting depth."""
    nesting = torch.autocast_increment_nesting() - 1
    torch.autocast_decrement_nesting()
    return (tuple((torch.is_autocast_enabled(d), torch.get_autocast_dtype(d)) for d in _AUTOCAST_DEVICES),
            torch.is_autocast_cache_enabled(), nesting)


def _set_autocast(state: tuple[Any, ...]) -> None:
    per_device, cache, nesting = state
    for device, (enabled, dtype) in zip(_AUTOCAST_DEVICES, per_device):
        torch.set_autocast_enabled(device, enabled)
        torch.set_autocast_dtype(device, dtype)
    torch.set_autocast_cache_enabled(cache)
    now = torch.autocast_increment_nesting() - 1
    torch.autocast_decrement_nesting()
    for _ in range(now - nesting):
        if torch.autocast_decrement_nesting() == 0:
            torch.clear_autocast_cache()
    for _ in range(nesting - now):
        torch.autocast_increment_nesting()


# -- numerics, RNG, tracing -----------------------------------------------------------------
def _deterministic() -> tuple[bool, bool, bool]:
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.utils.deterministic.fill_uninitialized_memory)


def _set_deterministic(state: tuple[bool, bool, bool]) -> None:
    torch.use_deterministic_algorithms(state[0], warn_only=state[1])
    torch.utils.deterministic.fill_uninitialized_memory = state[2]


def _cudnn() -> tuple[bool, bool, bool]:
    return torch._C._get_cudnn_enabled(), torch._C._get_cudnn_deterministic(), torch._C._get_cudnn_benchmark()


def _set_cudnn(state: tuple[bool, bool, bool]) -> None:
    torch._C._set_cudnn_enabled(state[0])
    torch._C._set_cudnn_deterministic(state[1])
    torch._C._set_cudnn_benchmark(state[2])


def _cuda_rng() -> tuple[torch.Tensor, ...] | None:
    """Every CUDA device's generator state, if CUDA is initialized (reading must not initialize it)."""
    return tuple(torch.cuda.get_rng_state_all()) if torch.cuda.is_initialized() else None


def _set_cuda_rng(states: tuple[torch.Tensor, ...] | None) -> None:
    if states is not None:
        torch.cuda.set_rng_state_all(states)


def _tls_context(name: str) -> StateItem:
    """torch._guards' thread-local TracingContext / CompileContext (what backends read)."""
    return StateItem(name, lambda: getattr(torch_guards._TLS, name, None),
                     lambda value: setattr(torch_guards._TLS, name, value), _same_objects)


C = torch._C

ITEMS: list[StateItem] = [                   # restored top to bottom, where they differ
    StateItem("functorch transform levels (dynamic layer stack)", C._functorch.get_dynamic_layer_stack_depth,
              C._functorch.pop_dynamic_layer_stack_and_undo_to_depth),
    StateItem("functorch flags", _functorch_flags, _set_functorch_flags),
    StateItem("infra dispatch modes (fake, proxy, functional)", _infra_modes, _set_infra_modes, _same_objects),
    StateItem("torch_dispatch mode stack", _user_dispatch_modes, _set_user_dispatch_modes, _same_objects),
    StateItem("torch_function mode stack", _function_modes, _set_function_modes, _same_objects),
    StateItem("torch_function enabled", C._get_torch_function_state, C._set_torch_function_state),
    StateItem("dispatch mode flags (torch.utils._python_dispatch)", _python_mode_flags, _set_python_mode_flags),
    StateItem("inference mode", torch.is_inference_mode_enabled, _set_inference_mode),
    StateItem("grad mode", torch.is_grad_enabled, C._set_grad_enabled),
    StateItem("forward-mode AD enabled", C._is_fwd_grad_enabled, C._set_fwd_grad_enabled),
    StateItem("autograd multithreading", C._is_multithreading_enabled, C._set_multithreading_enabled),
    StateItem("autograd view replay", C._is_view_replay_enabled, C._set_view_replay_enabled),
    StateItem("saved tensor hooks disabled", C._autograd._saved_tensors_hooks_get_disabled_error_message,
              _set_saved_tensors_hooks_disabled),
    StateItem("autocast", _autocast, _set_autocast),
    StateItem("default dtype", torch.get_default_dtype, torch.set_default_dtype),
    StateItem("deterministic algorithms", _deterministic, _set_deterministic),
    StateItem("float32 matmul precision", torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
    StateItem("cudnn flags", _cudnn, _set_cudnn),
    StateItem("CPU RNG state", lambda: (torch.get_rng_state(),), lambda s: torch.set_rng_state(s[0]), _same_tensors),
    StateItem("CUDA RNG state", _cuda_rng, _set_cuda_rng, _same_tensors),
    StateItem("Python random state", random.getstate, random.setstate),
    StateItem("JIT tracing state", C._get_tracing_state, C._set_tracing_state, _same_objects),
    _tls_context("tracing_context"),
    _tls_context("compile_context"),
]


def _dispatch_keys() -> tuple[int, int]:
    return C._dispatch_tls_local_include_set().raw_repr(), C._dispatch_tls_local_exclude_set().raw_repr()


class TorchState:
    """The values of ``ITEMS`` and the dispatch key sets at one moment."""

    def __init__(self) -> None:
        self.values = [item.read() for item in ITEMS]
        self.keys = _dispatch_keys()
        self._key_guard = C._PreserveDispatchKeyGuard()
        self._key_guard.__enter__()

    def changed(self) -> list[str]:
        """The names of the items that differ from this snapshot now."""
        names = [item.name for item, value in zip(ITEMS, self.values) if not item.same(item.read(), value)]
        return names + (["dispatch key sets"] if _dispatch_keys() != self.keys else [])

    def restore(self) -> list[str]:
        """Put back every item that differs (once: the dispatch key guard is spent); returns their names."""
        restored = self.changed()
        for item, value in zip(ITEMS, self.values):
            if not item.same(item.read(), value):
                item.write(value)
        self._key_guard.__exit__(None, None, None)
        return restored


@contextlib.contextmanager
def preserved(doing: str) -> Iterator[list[str]]:
    """Run the block, then put torch's global state back as it was before it, whatever the block
    did or raised (KeyboardInterrupt included). Yields a list that receives the names of what
    had to be restored (also logged, under "fallbacks", as a change made while ``doing``)."""
    state = TorchState()
    restored: list[str] = []
    try:
        yield restored
    finally:
        restored.extend(state.restore())
        if restored:
            log.debug("torch's global state changed while %s; put back: %s", doing, ", ".join(restored))
