"""Guard values: frozen ``(source, kind, payload, reason)``, deduplicated by ``(source, kind, payload)``.

``reason`` names the builder rule or handler that installed the guard, so a recompile
message can say why the guard exists; it is not part of the identity (two rules asking
for the same check produce one check). A GuardSet keeps insertion order.

Payloads never hold user objects that could keep a model or a tensor alive: objects are
guarded by id (``IdRef``) with a weak reference kept beside the set for invalidation,
tensors by a ``TensorSpec`` of their metadata.
"""

from __future__ import annotations

import dataclasses
import enum
import weakref
from typing import Any, Iterator

import torch

from ..sources import Source


class GuardKind(enum.Enum):
    GLOBAL_STATE = "GLOBAL_STATE"            # grad mode, default dtype, autocast, ... (payload: snapshot)
    TYPE_MATCH = "TYPE_MATCH"                # type(x) is T                          (payload: the type)
    ID_MATCH = "ID_MATCH"                    # x is that very object                 (payload: IdRef)
    CLOSURE_MATCH = "CLOSURE_MATCH"          # x.__code__ is code                    (payload: code object)
    EQUALS_MATCH = "EQUALS_MATCH"            # type(x) is type(v) and x == v         (payload: v)
    SEQUENCE_LENGTH = "SEQUENCE_LENGTH"      # len(x) == n                           (payload: n)
    DICT_KEYS = "DICT_KEYS"                  # list(x) == keys, in order             (payload: tuple of keys)
    DICT_VERSION = "DICT_VERSION"            # dict x not modified since capture     (payload: version tag)
    HASATTR = "HASATTR"                      # hasattr(x, name)                      (payload: name)
    NOT_HASATTR = "NOT_HASATTR"              # not hasattr(x, name)                  (payload: name)
    NO_GENERIC_ATTR = "NO_GENERIC_ATTR"      # object.__getattribute__(x, name) finds nothing: name in
    #                                          neither vars(x) nor type(x)'s MRO (payload: name); what a
    #                                          class's own __getattribute__, traced, asked of object's
    CELL_EMPTY = "CELL_EMPTY"                # the cell x holds no value (a deleted or unassigned closure variable)
    DICT_CONTAINS = "DICT_CONTAINS"          # key in x                              (payload: key)
    DICT_NOT_CONTAINS = "DICT_NOT_CONTAINS"  # key not in x                          (payload: key)
    DICT_CONTAINS_OBJECT = "DICT_CONTAINS_OBJECT"          # y in x, y an object key  (payload: y's source)
    DICT_NOT_CONTAINS_OBJECT = "DICT_NOT_CONTAINS_OBJECT"  # y not in x               (payload: y's source)
    TENSOR_MATCH = "TENSOR_MATCH"            # type, dtype, device, requires_grad, sizes, strides, dispatch keys
    DUPLICATE_INPUT = "DUPLICATE_INPUT"      # x is y: two sources reached one object (payload: y's source)
    NO_TENSOR_ALIASING = "NO_TENSOR_ALIASING"  # tensor inputs are distinct objects  (payload: their sources)
    NO_STORAGE_OVERLAP = "NO_STORAGE_OVERLAP"  # inputs the graph writes share no storage with other tensor inputs
    #                                          (payload: StorageSets; the storage half of NO_TENSOR_ALIASING)
    DISTINCT_OBJECTS = "DISTINCT_OBJECTS"    # objects the trace told apart (`is`, dict keys) still are (payload: sources)
    SHAPE_ENV = "SHAPE_ENV"                  # torch ShapeEnv's guards over symbolic sizes (payload: ShapeGuards)
    NO_MODULE_HOOKS = "NO_MODULE_HOOKS"      # module x has no hooks and was not m.compile()d
    NO_GLOBAL_MODULE_HOOKS = "NO_GLOBAL_MODULE_HOOKS"  # torch.nn.modules.module's global hook dicts are empty


@dataclasses.dataclass(frozen=True, slots=True)
class IdRef:
    """An object's identity without a strong reference to it."""

    id: int
    description: str

    @classmethod
    def of(cls, obj: object) -> "IdRef":
        return cls(id(obj), _describe(obj))


def _describe(obj: object) -> str:
    try:      # some objects compute attributes on demand and raise anything (torch.classes)
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    except Exception:   # noqa: BLE001
        name = None
    return f"{type(obj).__name__} {name}" if isinstance(name, str) else f"{type(obj).__name__} object"


@dataclasses.dataclass(frozen=True, slots=True)
class StorageSets:
    """NO_STORAGE_OVERLAP's payload: the tensor inputs a graph writes in place, and the other
    tensor inputs whose storage none of them may share (an in-place write through one would
    change what the graph reads from the other, which a functionalizing backend does not see).
    Iterates over every source it names, like NO_TENSOR_ALIASING's tuple."""

    written: tuple[Source, ...]
    others: tuple[Source, ...]

    def __iter__(self) -> Iterator[Source]:
        return iter(self.written + self.others)


def storage_key(value: Any) -> Any:
    """What identifies a tensor's storage while it lives (a tensor without one, sparse or a
    wrapper subclass, is its own key: it can share nothing that can be checked)."""
    try:
        return value.untyped_storage()._cdata
    except Exception:   # noqa: BLE001 - no storage to compare
        return value


def storages_disjoint(written: tuple, others: tuple) -> bool:
    """Whether no tensor in ``written`` shares storage with another tensor of either tuple."""
    mine = {storage_key(t) for t in written}
    return len(mine) == len(written) and not any(storage_key(t) in mine for t in others)


@dataclasses.dataclass(frozen=True, slots=True)
class TensorSpec:
    """What TENSOR_MATCH checks, as data (for dedup, explain output and failure reasons)."""

    type: type
    dtype: torch.dtype
    device: torch.device
    requires_grad: bool
    size: tuple[int | None, ...]        # None: a symbolic dimension (checked by SHAPE_ENV instead)
    stride: tuple[int | None, ...]

    @classmethod
    def of(cls, t: torch.Tensor, fake: torch.Tensor | None = None) -> "TensorSpec":
        """The spec of ``t``; with ``fake``, its symbolic sizes and strides are left unchecked."""
        ref = fake if fake is not None else t

        def concrete(values: Any) -> tuple[int | None, ...]:
            # a symbol the trace specialized (x.size(1) == 12) is a constant again: check it here
            return tuple(v if isinstance(v, int) else v.node.maybe_as_int() for v in values)
        return cls(type(t), t.dtype, t.device, t.requires_grad, concrete(ref.size()), concrete(ref.stride()))

    def __str__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        def dims(values: tuple[int | None, ...]) -> str:
            return "[" + ", ".join("?" if v is None else str(v) for v in values) + "]"
        return (f"{self.type.__name__}({str(self.dtype).replace('torch.', '')}, {self.device}, "
                f"size={dims(self.size)}, stride={dims(self.stride)}{grad})")


@dataclasses.dataclass(frozen=True, slots=True)
class ShapeGuards:
    """SHAPE_ENV payload: the ShapeEnv's guard expressions as code (over guard-function names)
    and as people read them (over source names)."""

    code: tuple[str, ...]
    shown: tuple[str, ...]

    def __str__(self) -> str:
        return " and ".join(self.shown)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class GlobalStateSnapshot:
    """torch's global flags at capture start, checked in C by ``GlobalStateGuard``."""

    guard: Any
    grad_enabled: bool
    default_dtype: torch.dtype

    @classmethod
    def capture(cls) -> "GlobalStateSnapshot":
        from ..torch_compat import GlobalStateGuard

        return cls(GlobalStateGuard(), torch.is_grad_enabled(), torch.get_default_dtype())

    def __str__(self) -> str:
        return f"grad_enabled={self.grad_enabled}, default_dtype={self.default_dtype}, autocast/deterministic/... as at capture"


@dataclasses.dataclass(frozen=True, slots=True)
class Guard:
    source: Source | None
    kind: GuardKind
    payload: Any = None
    reason: str = dataclasses.field(default="", compare=False)

    def describe(self) -> str:
        where = self.source.name() if self.source is not None else "<global>"
        payload = payload_text(self)
        return f"{self.kind.value}({where}, {payload})" if payload else f"{self.kind.value}({where})"


# kinds that check a fixed property and carry no payload; for any other kind a None payload is
# the value None (EQUALS_MATCH None), shown as such
_NO_PAYLOAD = frozenset({GuardKind.NO_MODULE_HOOKS, GuardKind.NO_GLOBAL_MODULE_HOOKS, GuardKind.CELL_EMPTY})


def payload_text(g: Guard) -> str:
    p = g.payload
    if g.kind is GuardKind.TYPE_MATCH:
        return p.__qualname__
    if g.kind is GuardKind.ID_MATCH:
        return p.description
    if g.kind is GuardKind.SHAPE_ENV:
        return str(p)
    if g.kind is GuardKind.CLOSURE_MATCH:
        return f"code {p.co_qualname} at {p.co_filename}:{p.co_firstlineno}"
    if g.kind in (GuardKind.DUPLICATE_INPUT, GuardKind.DICT_CONTAINS_OBJECT, GuardKind.DICT_NOT_CONTAINS_OBJECT):
        return p.name()
    if g.kind in (GuardKind.NO_TENSOR_ALIASING, GuardKind.DISTINCT_OBJECTS):
        return ", ".join(s.name() for s in p)
    if g.kind is GuardKind.NO_STORAGE_OVERLAP:
        return f"{', '.join(s.name() for s in p.written)} (written) vs {', '.join(s.name() for s in p.others)}"
    if g.kind in _NO_PAYLOAD:
        return ""
    return str(p) if g.kind in (GuardKind.TENSOR_MATCH, GuardKind.GLOBAL_STATE) else repr(p)


class GuardSet:
    """Ordered, deduplicated guards of one capture, plus weak references for ID_MATCH invalidation."""

    def __init__(self) -> None:
        self._guards: dict[Guard, Guard] = {}
        self.watched: list[weakref.ref] = []
        self.held: dict[str, Any] = {}         # ObjectRefSource guard names -> the objects they name

    def hold(self, source: Any) -> None:
        """Bind an ``ObjectRefSource``'s name in the guard function (the guards keep it alive)."""
        self.held[source.guard_expr()] = source.obj

    def add(self, guard: Guard) -> None:
        if guard not in self._guards:
            self._guards[guard] = guard

    def watch(self, obj: object) -> None:
        """Keep a weak reference: if ``obj`` dies, an ID_MATCH on it could match a new object at
        the same address, so cache entries that depend on it are dropped."""
        try:
            self.watched.append(weakref.ref(obj))
        except TypeError:
            pass   # builtins and other immortal objects: their ids are never reused

    def __iter__(self) -> Iterator[Guard]:
        return iter(self._guards)

    def replace(self, old: Guard, new: Guard) -> None:
        del self._guards[old]
        self._guards[new] = new

    def __len__(self) -> int:
        return len(self._guards)

    def __contains__(self, guard: Guard) -> bool:
        return guard in self._guards
