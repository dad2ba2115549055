"""What a call of ``f`` lets a user observe, as a canonical description two worlds can compare.

``Labels`` names every mutable object reachable from a world's namespace before a call by its
path (``ARGS[4]``, ``G_MOD.weight``, ``ARGS[7].items``), so that identity is compared across
worlds: a value that *is* a pre-existing object describes as ``("ref", path)``. ``describe``
turns a value into nested tuples of plain Python values, with tensors kept as ``Leaf``s
(dtype, shape, strides, requires_grad, storage alias, values, grad). Objects made by the call
are numbered in the order they are met, so aliasing among new objects is compared too.
``difference(a, b)`` says where two descriptions first differ, or returns None.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import types
from typing import Any, Callable

import torch

MAX_DEPTH = 12
IMMUTABLE = (int, float, bool, str, bytes, type(None), complex, torch.dtype, torch.device, range, slice)


@dataclasses.dataclass
class Leaf:
    """A tensor's values (compared bitwise, or with a tolerance for inexact backends)."""

    values: torch.Tensor

    def same(self, other: "Leaf", exact: bool) -> bool:
        a, b = self.values, other.values
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.is_floating_point() or a.is_complex():
            if exact:
                nan_a, nan_b = a.isnan(), b.isnan()
                return bool(torch.equal(nan_a, nan_b) and torch.equal(a[~nan_a], b[~nan_b]))
            return bool(torch.allclose(a.double(), b.double(), rtol=1e-3, atol=1e-4, equal_nan=True))
        return bool(torch.equal(a, b))

    def __repr__(self) -> str:
        return f"{self.values.tolist()!r}"[:200]


class Labels:
    """Mutable objects reachable from the namespace, by path (strong references are kept, so
    an id is never reused while the labels live)."""

    def __init__(self, ns: dict[str, Any], module_name: str) -> None:
        self.module_name = module_name
        self.paths: dict[int, str] = {}
        self.storages: dict[int, str] = {}
        self.keep: list[Any] = []
        for name in state_names(ns):
            self._add(ns[name], name, 0)

    def _add(self, v: Any, path: str, depth: int) -> None:
        if isinstance(v, IMMUTABLE) or id(v) in self.paths or depth > MAX_DEPTH:
            return
        self.paths[id(v)] = path
        self.keep.append(v)
        for sub, child in children(v, self.module_name):
            self._add(child, path + sub, depth + 1)
        if isinstance(v, torch.Tensor):
            ptr = storage_ptr(v)
            if ptr:
                self.storages.setdefault(ptr, path)


def storage_ptr(v: torch.Tensor) -> int:
    """Where the tensor's storage is (0: none, or a wrapper tensor without one)."""
    if v.is_meta or not v.numel():
        return 0
    try:
        return v.untyped_storage().data_ptr()
    except (NotImplementedError, RuntimeError):      # functorch wrappers, sparse tensors
        return 0


def _grad(v: torch.Tensor) -> torch.Tensor | None:
    """``v.grad`` where autograd fills it (reading it elsewhere only warns). None for a view made
    under no_grad whose base was then written in place: autograd refuses to read its history."""
    try:
        return v.grad if v.is_leaf or v.retains_grad else None
    except RuntimeError:
        return None


def is_leaf(v: torch.Tensor) -> bool | str:
    try:
        return v.is_leaf
    except RuntimeError as e:    # (the view of ``_grad``): the refusal itself is what both worlds show
        return f"unreadable history: {str(e).split('.')[0]}"


def state_names(ns: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in ns.items() if not k.startswith("__") and not isinstance(v, types.ModuleType))


def _is_program_object(v: Any, module_name: str) -> bool:
    return getattr(type(v), "__module__", None) == module_name and hasattr(v, "__dict__")


def children(v: Any, module_name: str) -> list[tuple[str, Any]]:
    """(path suffix, value) of what ``v`` holds, in a fixed order."""
    if isinstance(v, (list, tuple)):
        return [(f"[{i}]", x) for i, x in enumerate(v)]
    if isinstance(v, dict):
        return [(f"[{k!r}]", x) for k, x in v.items()]
    if isinstance(v, torch.nn.Module):
        return [*((f".{k}", p) for k, p in v._parameters.items()), *((f".{k}", b) for k, b in v._buffers.items()),
                *((f".{k}", c) for k, c in v._modules.items()),
                *((f".{k}", x) for k, x in sorted(v.__dict__.items()) if not k.startswith("_") and k != "training")]
    if isinstance(v, torch.Tensor):
        grad = _grad(v)
        return [(".grad", grad)] if grad is not None else []
    if isinstance(v, type) and v.__module__ == module_name:
        return [(f".{k}", x) for k, x in sorted(vars(v).items()) if not k.startswith("__") and not callable(x)]
    if _is_program_object(v, module_name) and not isinstance(v, logging.Handler):
        return [(f".{k}", x) for k, x in sorted(vars(v).items())]
    return []


def _all_zero(v: Any) -> bool:
    return isinstance(v, torch.Tensor) and not v.is_meta and not bool(v.any())


class Describer:
    """One world's descriptions for one call (shares the numbering of new objects)."""

    def __init__(self, labels: Labels, strides: bool, zero_grad_is_none: bool = False,
                 text: Callable[[str], str] | None = None) -> None:
        self.labels = labels
        # strings (a logged tensor's repr names its grad_fn, CompiledFunctionBackward under
        # AOTAutograd): normalized the same way in both worlds
        self.text = text
        self.strides = strides
        # AOTAutograd's backward gives every input that requires grad a gradient, zeros where
        # eager leaves .grad None (torch.compile does the same): for such backends, equal
        self.zero_grad_is_none = zero_grad_is_none
        self.new: dict[int, int] = {}
        self.keep: list[Any] = []
        self.described: set[str] = set()

    def __call__(self, v: Any, here: str | None = None, depth: int = 0) -> Any:
        if isinstance(v, str) and self.text is not None:
            return ("str", self.text(v))
        if isinstance(v, bool | int | str | bytes | type(None)):
            return (type(v).__name__, v)
        if isinstance(v, float):
            return ("float", repr(v) if math.isnan(v) else v)
        if isinstance(v, torch.dtype | torch.device | range | slice | complex):
            return (type(v).__name__, str(v))
        path = self.labels.paths.get(id(v))
        if path is not None and path != here:
            return ("ref", path)
        if path is None:
            if id(v) in self.new:
                return ("same", self.new[id(v)])
            self.new[id(v)] = len(self.new)
            self.keep.append(v)
        else:
            self.described.add(path)
        if depth > MAX_DEPTH:
            return ("deep", type(v).__name__)
        return self._contents(v, here, depth)

    def _child(self, v: Any, here: str | None, sub: str, depth: int) -> Any:
        return self(v, None if here is None else here + sub, depth + 1)

    def _contents(self, v: Any, here: str | None, depth: int) -> Any:
        if isinstance(v, torch.Tensor):
            return self._tensor(v, here, depth)
        if isinstance(v, torch.Size):
            return ("Size", tuple(v))
        if isinstance(v, (list, tuple)):
            return (type(v).__name__, tuple(self._child(x, here, f"[{i}]", depth) for i, x in enumerate(v)))
        if isinstance(v, dict):
            return (type(v).__name__, tuple((repr(k), self._child(x, here, f"[{k!r}]", depth)) for k, x in v.items()))
        if isinstance(v, (set, frozenset)):
            return (type(v).__name__, tuple(sorted(repr(x) for x in v)))
        if isinstance(v, logging.Logger):
            return ("logger", v.name.split(".", 1)[-1], v.level, v.disabled, len(v.handlers))
        if isinstance(v, torch.optim.Optimizer):
            return self._optimizer(v, here, depth)
        if isinstance(v, types.GeneratorType):
            return self._generator(v, depth)
        if isinstance(v, BaseException):
            return ("exception", type(v).__name__, str(v))
        if isinstance(v, torch.nn.Module):
            kids = children(v, self.labels.module_name)
            return ("module", type(v).__name__, v.training, tuple((s, self._child(x, here, s, depth)) for s, x in kids))
        if isinstance(v, types.FunctionType | types.BuiltinFunctionType | types.MethodType | type):
            kids = children(v, self.labels.module_name) if isinstance(v, type) else []
            return (type(v).__name__, getattr(v, "__qualname__", "?"),
                    tuple((s, self._child(x, here, s, depth)) for s, x in kids))
        if _is_program_object(v, self.labels.module_name):
            kids = children(v, self.labels.module_name)
            return ("object", type(v).__name__, tuple((s, self._child(x, here, s, depth)) for s, x in kids))
        return ("other", type(v).__qualname__)

    def _tensor(self, v: torch.Tensor, here: str | None, depth: int) -> Any:
        alias = self.labels.storages.get(storage_ptr(v))
        if alias == here:
            alias = None
        leaf, grad = is_leaf(v), _grad(v)
        if grad is not None and self.zero_grad_is_none and not grad.is_meta and not grad.any():
            grad = None
        grad = self._child(grad, here, ".grad", depth) if grad is not None else None
        return ("tensor", str(v.dtype), tuple(v.shape), tuple(v.stride()) if self.strides else None,
                v.requires_grad, leaf, type(v).__name__, alias, Leaf(v.detach().clone()), grad)

    def _optimizer(self, v: torch.optim.Optimizer, here: str | None, depth: int) -> Any:
        groups = tuple(tuple(sorted((k, repr(x)) for k, x in g.items() if k != "params")) for g in v.param_groups)
        params = [p for g in v.param_groups for p in g["params"]]
        state = tuple(tuple(sorted((k, self(x, None, depth + 1)) for k, x in v.state.get(p, {}).items()))
                      for p in params)
        return ("optimizer", type(v).__name__, groups, state)

    def _generator(self, v: types.GeneratorType, depth: int) -> Any:
        items = []
        try:
            for x in v:
                items.append(self(x, None, depth + 1))
                if len(items) > 50:
                    break
        except Exception as e:   # noqa: BLE001 - the generator's own error is what we compare
            items.append(("raised", type(e).__name__, str(e)))
        return ("generator", tuple(items))

    def state(self, ns: dict[str, Any]) -> Any:
        """The namespace, then every labelled object that is no longer at its own path."""
        out = [(name, self(ns[name], name)) for name in state_names(ns)]
        for obj in self.labels.keep:
            path = self.labels.paths[id(obj)]
            if self.zero_grad_is_none and path.endswith(".grad") and _all_zero(obj):
                continue        # a zero gradient AOTAutograd left where eager has None, since dropped
            if path not in self.described and not isinstance(obj, (type, types.FunctionType)):
                out.append(("@" + path, self(obj, path)))
        return tuple(out)


def difference(a: Any, b: Any, exact: bool, path: str = "") -> str | None:
    """Where descriptions ``a`` (eager) and ``b`` (compiled) first differ, or None."""
    if isinstance(a, Leaf) or isinstance(b, Leaf):
        if isinstance(a, Leaf) and isinstance(b, Leaf) and a.same(b, exact):
            return None
        return f"{path or '<value>'}: values differ: eager {a!r} vs compiled {b!r}"
    if isinstance(a, tuple) and isinstance(b, tuple):
        if not exact and len(a) == len(b) == 2 and all(type(t[0]) is str and t[0] == "float" and isinstance(t[1], float)
                                                       for t in (a, b)):
            return None if math.isclose(a[1], b[1], rel_tol=1e-3, abs_tol=1e-4) else f"{path}: {a[1]} vs {b[1]}"
        if len(a) != len(b) and _named(a) and _named(b):
            names_a, names_b = [x[0] for x in a], [x[0] for x in b]
            only_a, only_b = [n for n in names_a if n not in names_b], [n for n in names_b if n not in names_a]
            return (f"{path or '<value>'}: entries differ: only eager has {only_a}, only compiled has {only_b}; "
                    f"eager {_short(dict(a).get(only_a[0]) if only_a else None)} "
                    f"compiled {_short(dict(b).get(only_b[0]) if only_b else None)}")
        if len(a) != len(b):
            return f"{path or '<value>'}: eager {_short(a)} vs compiled {_short(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = difference(x, y, exact, _step(path, a, i))
            if d is not None:
                return d
        return None
    if type(a) is not type(b) or a != b:
        return f"{path or '<value>'}: eager {_short(a)} vs compiled {_short(b)}"
    return None


def _named(t: tuple) -> bool:
    """A tuple of (name, description) pairs: the state, a dict's items, an object's attributes."""
    return all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in t)


_TENSOR_FIELDS = ("kind", "dtype", "shape", "stride", "requires_grad", "is_leaf", "type", "storage alias", "values",
                  "grad")


def _step(path: str, node: tuple, i: int) -> str:
    """A readable path component for element ``i`` of a description tuple."""
    if node and node[0] == "tensor" and len(node) == len(_TENSOR_FIELDS):
        return f"{path}.{_TENSOR_FIELDS[i]}"
    if len(node) == 2 and isinstance(node[0], str) and not isinstance(node[1], (str, int, float, bool)):
        if i == 0:
            return path
        return path + node[0] if node[0][:1] in "[.@" else f"{path}/{node[0]}"
    return path if i == 0 and isinstance(node[0], str) else f"{path}#{i}"


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) < 300 else text[:300] + "..."
