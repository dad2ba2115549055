"""Dynamic shapes: which dimensions and numbers are symbolic, and how torch's ShapeEnv sees our sources.

* ``ShapeSource`` adapts a bytegraph Source to torch's ``torch._guards.Source`` so the
  ShapeEnv can name symbols and write guards; its name *is* our guard expression, so the
  guards ``ShapeEnv.produce_guards`` returns run unchanged inside the generated guard
  function (``2 <= x.size()[0]``).
* ``FrameState`` is automatic dynamic, remembered per compiled function: the first capture
  is static; on a recompile, every tensor dimension, local int (``number_is_dynamic``) or
  float whose value differs from what an earlier capture saw becomes symbolic, for good ("sticky").
* ``dims_policy`` combines that with the user's markers (``mark_dynamic``, ``mark_static``,
  ``maybe_mark_dynamic``, torch._dynamo's identical attributes) and ``compile(dynamic=...)``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from typing import Any, Callable

import torch
from ..sources import AttrSource, DictValueSource, FunctionSource, GlobalSource, ItemSource, LocalSource, Source
from ..torch_compat import GuardSource, TorchSource


@dataclasses.dataclass(frozen=True)
class ShapeSource(TorchSource):
    """Our Source, as torch's ShapeEnv needs it (frozen, hashable, named)."""

    ours: Source

    @property
    def _name_template(self) -> str:
        return self.ours.guard_expr()

    @functools.cached_property
    def guard_source(self) -> GuardSource:
        return GuardSource.LOCAL


_UNSET = object()


@dataclasses.dataclass
class FrameState:
    """What earlier captures of one compiled function saw, by source name; ``None`` marks a
    dimension or number that has varied (dynamic from then on)."""

    dynamic: bool | None = None                 # compile(dynamic=...): None automatic, True all, False none
    floats: str = "symbolic"                    # varying floats become "symbolic" | "tensor" | "constant" inputs
                                                # (backends/registry.py float_inputs)
    sizes: dict[str, list[int | None]] = dataclasses.field(default_factory=dict)
    scalars: dict[str, Any] = dataclasses.field(default_factory=dict)

    def tensor_dims(self, name: str, size: tuple[int, ...]) -> list[bool]:
        """Per dimension: was it seen to vary? Records ``size``."""
        seen = self.sizes.get(name)
        if seen is None or len(seen) != len(size):
            self.sizes[name] = list(size)
            return [False] * len(size)
        merged = [s if s == n else None for s, n in zip(seen, size)]
        self.sizes[name] = merged
        return [m is None for m in merged]

    def scalar_varies(self, name: str, value: Any) -> bool:
        """Has this number changed between captures? Records ``value``."""
        seen = self.scalars.get(name, _UNSET)
        if seen is _UNSET:
            self.scalars[name] = value
            return False
        if seen is None or seen != value or type(seen) is not type(value):
            self.scalars[name] = None
            return True
        return False


def marked(t: torch.Tensor, attr: str) -> set[int]:
    return set(getattr(t, attr, ()) or ())


def dims_policy(state: FrameState, source: Source, t: torch.Tensor, module_state: bool) -> list[bool]:
    """Which dimensions of ``t`` (read from ``source``) are symbolic in this capture."""
    ndim = t.dim()
    static = marked(t, "_dynamo_static_indices")
    forced = marked(t, "_dynamo_dynamic_indices")
    if module_state or state.dynamic is False:
        dims = [False] * ndim                      # parameters and buffers keep static shapes
        if state.dynamic is False:
            return dims
    elif state.dynamic is True:
        dims = [True] * ndim
    else:
        dims = state.tensor_dims(source.name(), tuple(t.size()))
        weak = marked(t, "_dynamo_weak_dynamic_indices")
        dims = [d or i in weak for i, d in enumerate(dims)]
    return [(d or i in forced) and i not in static for i, d in enumerate(dims)]


_DEFAULTS = ("__defaults__", "__kwdefaults__")


def _plain_step(s: Source) -> bool:
    """An item or attribute read, which the transformed code can repeat to load the number."""
    return isinstance(s, (ItemSource, AttrSource, DictValueSource))


def is_local_number_source(source: Source, is_module: Callable[[Source], bool] = lambda s: False) -> bool:
    """Ints that may become symbolic once they vary: arguments of the call, globals, and what is
    reached from them by items and attributes. Ints read from defaults or through an nn.Module
    (``is_module``: a prefix of the source is one) stay static: they are configuration, not data.
    torch.compile also keeps globals static, which makes a counter in a global object (an LR
    scheduler's ``_step_count``, a step counter) recompile on every call until its cache limit;
    here a global int that has varied becomes a graph input like an argument's."""
    chain = source.chain()
    return (isinstance(chain[0], (LocalSource, GlobalSource))
            and all(_plain_step(s) and getattr(s, "attr", None) not in _DEFAULTS for s in chain[1:])
            and not any(is_module(s) for s in chain[:-1]))


def is_float_input_source(source: Source) -> bool:
    """Floats that may become symbolic: from any source but the compiled function's own defaults
    (copied into the entry), as torch.compile's default ``specialize_float=False`` does."""
    chain = source.chain()
    return not isinstance(chain[0], FunctionSource) and all(_plain_step(s) for s in chain[1:])


def number_is_dynamic(state: FrameState, source: Source, value: Any,
                      is_module: Callable[[Source], bool] = lambda s: False,
                      is_static: Callable[[Source], bool] = lambda s: False) -> bool:
    """Is the int or float read from ``source`` a graph input in this capture (symbolic, or a
    float carried as a tensor)? Records ``value``. nan and inf stay constants (the ShapeEnv
    cannot reason about them), as in torch.compile; so does a number read through an object
    marked with ``mark_static`` (``is_static``: a prefix of the source is one)."""
    if state.dynamic is False or type(value) is float and state.floats == "constant":
        return False
    if type(value) is int:
        allowed = is_local_number_source(source, is_module)
    else:
        allowed = type(value) is float and math.isfinite(value) and is_float_input_source(source)
    if not allowed or any(is_static(s) for s in source.chain()[:-1]):
        return False
    if state.dynamic is True:
        return True
    return state.scalar_varies(source.name(), value)


def mark_dynamic(t: torch.Tensor, index: int | list[int]) -> None:
    """Make dimension(s) ``index`` of ``t`` symbolic from the first capture (torch._dynamo.mark_dynamic)."""
    for i in [index] if isinstance(index, int) else index:
        if not hasattr(t, "_dynamo_dynamic_indices"):
            t._dynamo_dynamic_indices = set()
        t._dynamo_dynamic_indices.add(i)


def maybe_mark_dynamic(t: torch.Tensor, index: int | list[int]) -> None:
    """Like mark_dynamic, but the ShapeEnv may still specialize the dimension without an error."""
    for i in [index] if isinstance(index, int) else index:
        if not hasattr(t, "_dynamo_weak_dynamic_indices"):
            t._dynamo_weak_dynamic_indices = set()
        t._dynamo_weak_dynamic_indices.add(i)


def mark_static(obj: Any, index: int | list[int] | None = None) -> Any:
    """Keep dimension(s) ``index`` of tensor ``obj`` static (all of them without ``index``): each
    new size recompiles. Any other object (an nn.Module, an optimizer, a config object, a
    class): the ints and floats read through it stay constants of the graph, guarded by value,
    as torch.compile's ``mark_static`` keeps a marked module class's attributes static."""
    if not isinstance(obj, torch.Tensor):
        obj._dynamo_marked_static = True
        return obj
    for i in range(obj.dim()) if index is None else [index] if isinstance(index, int) else index:
        if not hasattr(obj, "_dynamo_static_indices"):
            obj._dynamo_static_indices = set()
        obj._dynamo_static_indices.add(i)
    return None


def is_marked_static(obj: Any) -> bool:
    """Was ``obj`` (or its class) passed to ``mark_static``? Read without running the object's code."""
    return inspect.getattr_static(obj, "_dynamo_marked_static", False) is True
