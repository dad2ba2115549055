"""State snapshots: a cache hit checks the long-lived state its guards read in bulk, not guard by guard.

Most guards of a model read state that does not change between calls: the module tree (each
submodule's type, attributes, hooks, parameters), library module globals, classes, functions,
config objects. Re-reading it on every call costs time proportional to the model's depth.
Instead, each cache entry keeps a *snapshot* of the objects those guards read, and a call checks

    anchor is the object the snapshot was taken from       (the model passed in, by identity)
    and [type(o) for o in objects] == types                 (no ``__class__`` assignment)
    and <no dict written since>                             (version tags of instance ``__dict__``s,
                                                             ``_parameters``, ``_modules``, module
                                                             globals, class dicts, ...)
    and not any(hook_dicts)                                  (still no module hooks)
    and <f.__code__, f.__defaults__, cell contents, cls.__mro__ still the same objects>

in C (``map`` over lists built once; the types, tags and attributes through torch's C++ guard
manager once the snapshot has held for a while). When that fails (something was written, or
another model is passed), the full guard function runs; if every guard still holds the snapshot is taken again
from the current objects (``rearm``), otherwise it is a miss as before. So a mutation costs
one full check and recompiles exactly when the full guards say so.

A guard is *implied* by the snapshot (``stable``) when its source is *covered* (its value is
fixed by the anchor's identity and what the snapshot watches: every step from the anchor is a
lookup in a tagged dict, an instance or class attribute whose dicts are tagged, a tuple element,
a watched function or cell attribute, or the type of a type-checked object) and what it checks
follows from that value (identity, type, an immutable value, a tagged dict's keys). Everything
else (arguments, global state, objects with a custom ``__getattribute__``) is still checked on
every call, and so is every TENSOR_MATCH: ``p.data = ...`` and ``requires_grad_`` change a
parameter without writing any dict. Parameters' values come from the snapshot instead of being
read through their source chains; their TENSOR_MATCH moves to torch's C++ guard manager
too once the snapshot has held (``KeptTensors``, ``_KeptWatch``).

Two opt-in assumptions (config, DESIGN.md decision 61) trade soundness named in advance for
fewer reads per hit: ``Plan.hook_count`` keeps torch's count of hook handles in place of the
empty hook dicts, ``Plan.trust_tensors`` skips the kept tensors' TENSOR_MATCH on a hit.

This module decides *what* is watched (``plan``) and holds the watched state at run time
(``Snapshot``); ``fastpath.py`` emits the functions that check and rebuild it. Assumed, not
checked (DESIGN.md decision 43): nobody assigns a new ``__dict__`` object to a watched object,
and no metaclass gains a data descriptor shadowing a class attribute the trace read.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import gc
import operator
import sys
import types
import weakref
from typing import Any, Callable

import torch
from torch.utils.hooks import RemovableHandle

from ..sources import (AttrSource, DerivedSource, DictKeySource, DictValueSource, FreeVarSource, GlobalSource,
                       InstanceAttrSource, ItemSource, LocalSource, ModuleGlobalsSource, Source, TypeSource)
from ..torch_compat import dict_version
from .guard import Guard, GuardKind

_K = GuardKind
MISSING = object()
TAGGED_DICTS = (dict, collections.OrderedDict)     # lookups are dict's own: the version tag covers them
# what guards and ``Values`` read of a dict: a dict subclass that defines none of these reads
# as dict does, so its version tag covers it too (transformers' registries: ``__setitem__``
# and ``get`` of their own, which write and read through dict's)
DICT_READS = ("__getitem__", "__missing__", "__contains__", "__iter__", "__len__", "keys", "values", "items",
              "__eq__", "__class_getitem__")
HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
STATE_DICTS = ("_parameters", "_buffers", "_modules")
# values whose == and type are fixed once the object is (an EQUALS_MATCH on them is an identity check)
IMMUTABLE = frozenset({int, float, complex, str, bytes, bool, type(None), torch.dtype})
_HEAP = 1 << 9        # Py_TPFLAGS_HEAPTYPE: instances of such types allow __class__ assignment


def class_lookup(cls: type, name: str) -> Any:
    """``name`` as found on ``cls``'s MRO, without running descriptors; MISSING if absent."""
    for base in cls.__mro__:
        if name in base.__dict__:
            return base.__dict__[name]
    return MISSING


def plain_instance_attr(obj: Any, name: str) -> bool:
    """``obj.name`` is ``vars(obj)[name]``: default attribute lookup, present in the instance
    dict, nothing of that name on the class (so no descriptor can take precedence)."""
    t = type(obj)
    return (t.__getattribute__ is object.__getattribute__ and _instance_dict(obj) is not None
            and name in _instance_dict(obj) and class_lookup(t, name) is MISSING)


def _instance_dict(obj: Any) -> dict | None:
    try:
        d = object.__getattribute__(obj, "__dict__")
    except Exception:   # noqa: BLE001 - no instance dict (slots, builtins)
        return None
    return d if type(d) is dict else None


def _is_watchable(obj: Any) -> bool:
    """An object whose type is checked by the snapshot: its class may be reassigned."""
    return bool(type(obj).__flags__ & _HEAP) or isinstance(obj, types.ModuleType)


class Values:
    """Real values of sources at capture, computed only through steps that run no user code
    (dict and tuple lookups, instance ``__dict__``, ``type()``); MISSING for anything else."""

    def __init__(self, frame_locals: dict[str, Any], fn_globals: dict[str, Any], cells: dict[str, Any]) -> None:
        self.frame_locals, self.fn_globals, self.cells = frame_locals, fn_globals, cells
        self._memo: dict[Source, Any] = {}

    def __call__(self, s: Source) -> Any:
        if s not in self._memo:
            try:
                self._memo[s] = self._compute(s)
            except Exception:   # noqa: BLE001 - a source that cannot be read is not watched
                self._memo[s] = MISSING
        return self._memo[s]

    def _compute(self, s: Source) -> Any:
        if isinstance(s, LocalSource):
            return self.frame_locals.get(s.guard_expr(), MISSING)
        if isinstance(s, GlobalSource):
            return self.fn_globals.get(s.global_name, MISSING)
        if isinstance(s, FreeVarSource):
            return self.cells[s.free].cell_contents
        if isinstance(s, ModuleGlobalsSource):
            return sys.modules[s.module].__dict__
        if not isinstance(s, DerivedSource):
            return MISSING
        base = self(s.of)
        if base is MISSING:
            return MISSING
        step = _STEPS.get(type(s))
        return step(s, base) if step is not None else MISSING


FUNCTION_ATTRS = ("__code__", "__defaults__", "__kwdefaults__")   # reassignable: watched by identity


READ_ONLY = {property: ("fget", "fset", "fdel"), staticmethod: ("__func__",), classmethod: ("__func__",)}


def attr_kind(obj: Any, name: str) -> str | None:
    """How ``obj.name`` is read, when it can be read without running user code; None otherwise."""
    if name == "__dict__":
        return "instance dict" if _instance_dict(obj) is not None else None
    if isinstance(obj, types.FunctionType):
        return "function" if name in FUNCTION_ATTRS else "read-only" if name == "__closure__" else None
    if isinstance(obj, types.CellType):
        return "cell" if name == "cell_contents" else None
    if name in READ_ONLY.get(type(obj), ()):
        return "read-only"
    if isinstance(obj, type):
        return "class" if _plain_class_attr(obj, name) else None
    if type(obj) is types.ModuleType:
        return "instance attribute" if name in obj.__dict__ else None
    if plain_instance_attr(obj, name):
        return "instance attribute"
    t = type(obj)
    found = class_lookup(t, name)
    if (t.__getattribute__ is object.__getattribute__ and _instance_dict(obj) is not None
            and name not in _instance_dict(obj) and found is not MISSING and not hasattr(type(found), "__get__")):
        return "class attribute"            # a plain value the class holds, read through an instance
    return None


def _plain_class_attr(cls: type, name: str) -> bool:
    """``cls.name`` is the value in the first class dict of the MRO that has it, as is: a plain
    value or a function (which a class hands out unbound), under a metaclass with type's
    attribute lookup and no data descriptor of that name."""
    meta = type(cls)
    if meta.__getattribute__ is not type.__getattribute__:
        return False
    found = class_lookup(cls, name)
    on_meta = class_lookup(meta, name)
    unbound = type(found) in (types.FunctionType, property) or not hasattr(type(found), "__get__")
    return (found is not MISSING and unbound
            and (on_meta is MISSING or not (hasattr(type(on_meta), "__set__") or hasattr(type(on_meta), "__delete__"))))


def _attr_step(s: AttrSource, base: Any) -> Any:
    kind = attr_kind(base, s.attr)
    if kind is None:
        return MISSING
    if kind == "instance dict":
        return _instance_dict(base)
    if kind == "instance attribute":
        return _instance_dict(base)[s.attr] if type(base) is not types.ModuleType else base.__dict__[s.attr]
    if kind == "class":
        return class_lookup(base, s.attr)
    if kind == "class attribute":
        return class_lookup(type(base), s.attr)
    return getattr(base, s.attr)            # function, cell and read-only attributes: C getters


def class_dict(cls: type, index: int) -> dict:
    """The real dict of ``cls.__mro__[index]`` (``cls.__dict__`` is a read-only proxy of it)."""
    return gc.get_referents(cls.__mro__[index].__dict__)[0]


@dataclasses.dataclass(frozen=True, slots=True)
class ClassDictSource(DerivedSource):
    """The dict of the ``index``-th class in the MRO of the class ``of``: its version tag
    covers the class attributes read through ``of`` (``___class_dict`` in guard functions)."""

    index: int

    def name(self) -> str:
        return f"{self.of.name()}.__mro__[{self.index}].__dict__"

    def wrap(self, base: str) -> str:
        return f"___class_dict({base}, {self.index})"

    def reconstruct(self, cg: Any) -> None:
        raise NotImplementedError("only guards read a class's dict")


def tagged_dict(v: Any) -> bool:
    """A dict whose lookups are dict's own: its version tag changes with every write to it."""
    t = type(v)
    if t in TAGGED_DICTS:
        return True
    if not issubclass(t, dict) or not t.__flags__ & _HEAP:
        return False
    own = t.__mro__[:t.__mro__.index(dict)]
    return all(n not in c.__dict__ for c in own if c not in TAGGED_DICTS for n in DICT_READS)


def _item_step(s: ItemSource, base: Any) -> Any:
    if tagged_dict(base):
        return dict.get(base, s.key, MISSING)
    if isinstance(base, tuple) and type(base).__getitem__ is tuple.__getitem__ and type(s.key) is int:
        return base[s.key] if -len(base) <= s.key < len(base) else MISSING
    return MISSING


def _position_step(s: DictKeySource | DictValueSource, base: Any) -> Any:
    if not tagged_dict(base) or not 0 <= s.index < len(base):
        return MISSING
    return list(base if isinstance(s, DictKeySource) else base.values())[s.index]


_STEPS: dict[type, Callable[[Any, Any], Any]] = {
    AttrSource: _attr_step, ItemSource: _item_step, InstanceAttrSource: _item_step,
    TypeSource: lambda s, base: type(base), DictKeySource: _position_step, DictValueSource: _position_step,
    ClassDictSource: lambda s, base: class_dict(base, s.index),
}


@dataclasses.dataclass
class Plan:
    """What one entry's snapshot watches, as sources, decided once at capture."""

    anchors: list[Source]                       # roots checked by identity (the models passed in)
    anchor_types: dict[Source, type]            # ... and by type, where the plan relies on it
    objects: list[Source]                       # values whose type is checked
    object_types: list[type]
    dicts: list[Source]                         # values whose version tag is checked
    dict_types: list[type]
    hooks: list[Source]                         # hook dicts that must stay empty
    attrs: list[tuple[Source, str]]             # (object, attribute) compared by identity
    stable: set[Guard]                          # guards the snapshot implies
    covered: set[Source]                        # sources whose value the snapshot determines
    types: dict[Source, type]                   # TypeSource(x) of a type-checked x -> its type
    hook_count: bool = False                    # hooks: torch's count of hook handles stands for the dicts
    trust_tensors: bool = False                 # the kept tensors' metadata is not checked on a hit


class _Planner:
    """Builds a Plan: which sources are covered, which guards they make stable."""

    def __init__(self, guards: list[Guard], values: Values) -> None:
        self.guards, self.value = guards, values
        self.covered: dict[Source, bool] = {}
        self.anchors: list[Source] = []
        self.anchor_types: dict[Source, type] = {}
        self.objects: dict[int, Source] = {}        # by id of the value: one check per object
        self.dicts: dict[int, Source] = {}
        self.hooks: dict[int, Source] = {}
        self.attrs: dict[tuple[int, str], tuple[Source, str]] = {}

    # -- sources ---------------------------------------------------------------------------
    def cover(self, s: Source) -> bool:
        """Whether ``s``'s value is fixed by the snapshot; registers what must be watched for it."""
        if s in self.covered:
            return self.covered[s]
        self.covered[s] = False            # (cycles are impossible, but a half-built answer is "no")
        v = self.value(s)
        ok = False
        if v is not MISSING:
            if isinstance(s, ModuleGlobalsSource):
                ok = True
            elif isinstance(s, DerivedSource) and self.cover(s.of):
                ok = self._derived(s, self.value(s.of))
            if not ok and isinstance(v, torch.nn.Module):
                self.anchors.append(s)     # a model reached some other way: checked by identity
                ok = True
        self.covered[s] = ok
        return ok

    def _derived(self, s: DerivedSource, base: Any) -> bool:
        if isinstance(s, TypeSource):
            return self.watch_type(s.of)
        if isinstance(s, AttrSource):
            rule = _ATTR_RULES.get(attr_kind(base, s.attr))
            return rule is not None and rule(self, s, base)
        if isinstance(s, (ItemSource, DictKeySource, DictValueSource)):
            return tagged_dict(base) and self.tag(s.of) or isinstance(base, tuple)
        if isinstance(s, ClassDictSource):
            return True
        return False

    def watch_attr(self, s: Source, name: str) -> bool:
        """``value(s).name`` is compared by identity on every call (it can be reassigned without
        writing any dict: a function's ``__code__``, a cell's contents)."""
        self.attrs.setdefault((id(self.value(s)), name), (s, name))
        return True

    def tag_classes(self, cls_source: Source) -> bool:
        """The dicts of every class in the MRO of the class at ``cls_source`` are tagged (any of
        them may gain or lose an attribute that lookups on it resolve), and the MRO itself is
        watched (``__bases__`` assignment)."""
        cls = self.value(cls_source)
        for i, c in enumerate(cls.__mro__):
            if c.__flags__ & _HEAP:
                d = ClassDictSource(cls_source, i)
                if not (self.cover(d) and self.tag(d)):
                    return False
        return self.watch_attr(cls_source, "__mro__")

    def watch_type(self, s: Source) -> bool:
        v = self.value(s)
        if s in self.anchors:
            self.anchor_types[s] = type(v)          # checked beside its identity: never held strongly
        elif _is_watchable(v):
            self.objects.setdefault(id(v), s)
        return True

    def tag(self, s: Source) -> bool:
        v = self.value(s)
        if not tagged_dict(v):
            return False
        if type(v) not in TAGGED_DICTS:
            self.watch_type(s)              # a subclass instance's class can be reassigned
        self.dicts.setdefault(id(v), s)
        return True

    def state_dict(self, m: Source, name: str) -> bool:
        return self.cover(InstanceAttrSource.of_object(m, name)) and self.tag(InstanceAttrSource.of_object(m, name))

    # -- guards ----------------------------------------------------------------------------
    def stable(self, g: Guard) -> bool:
        rule = _STABLE.get(g.kind)
        return rule is not None and rule(self, g)

    def refs_covered(self, g: Guard) -> bool:
        srcs = [g.source] if g.kind is not _K.DISTINCT_OBJECTS else list(g.payload)
        if g.kind is _K.DUPLICATE_INPUT:
            srcs.append(g.payload)
        return all(self.cover(s) for s in srcs)


def _instance_attribute(planner: _Planner, s: AttrSource, base: Any) -> bool:
    """``x.n`` from the instance dict or, absent there, from the class: the instance dict and the
    class dicts decide which, so both are tagged."""
    d = AttrSource(s.of, "__dict__")
    return planner.cover(d) and planner.tag(d) and planner.cover(TypeSource(s.of)) and planner.tag_classes(
        TypeSource(s.of))


def _cell(planner: _Planner, s: AttrSource, base: Any) -> bool:
    # a model kept in a closure cell is not watched: the snapshot would keep it alive
    return not isinstance(planner.value(s), torch.nn.Module) and planner.watch_attr(s.of, s.attr)


# how a read ``x.name`` (by attr_kind) is covered: what must be watched for it
_ATTR_RULES: dict[str | None, Callable[[_Planner, AttrSource, Any], bool]] = {
    "instance dict": lambda p, s, base: p.watch_type(s.of) and p.tag(s),
    "instance attribute": _instance_attribute,
    "class attribute": _instance_attribute,
    "function": lambda p, s, base: p.watch_attr(s.of, s.attr),
    "read-only": lambda p, s, base: True,               # fixed with the object (a closure, a property's fget)
    "cell": _cell,
    "class": lambda p, s, base: p.tag_classes(s.of),
}


def _closure_match(planner: _Planner, g: Guard) -> bool:
    f = planner.value(g.source)
    return planner.cover(g.source) and isinstance(f, types.FunctionType) and planner.watch_attr(g.source, "__code__")


def _typed(planner: _Planner, g: Guard) -> bool:
    if not planner.cover(g.source):
        return False
    return planner.watch_type(g.source)


def _immutable_equals(planner: _Planner, g: Guard) -> bool:
    return planner.cover(g.source) and _deep_immutable(planner.value(g.source))


_VALUE_EQ = (enum.Enum.__eq__, object.__eq__, str.__eq__, int.__eq__, float.__eq__)


def _deep_immutable(v: Any) -> bool:
    """Equality fixed once the object is: immutable builtins, tuples of them, enum members that
    compare by identity."""
    if type(v) is tuple:
        return all(_deep_immutable(x) for x in v)
    return type(v) in IMMUTABLE or isinstance(v, enum.Enum) and type(v).__eq__ in _VALUE_EQ


def _dict_guard(planner: _Planner, g: Guard) -> bool:
    return planner.cover(g.source) and planner.tag(g.source)


def _no_hooks(planner: _Planner, g: Guard) -> bool:
    m = g.source
    if not planner.cover(m) or not isinstance(planner.value(m), torch.nn.Module):
        return False
    d = AttrSource(m, "__dict__")
    hooks = [InstanceAttrSource.of_object(m, h) for h in HOOK_DICTS]
    if not (planner.cover(d) and planner.tag(d) and all(planner.cover(h) for h in hooks)):
        return False
    planner.watch_type(m)
    for h in hooks:
        planner.hooks.setdefault(id(planner.value(h)), h)
    return True


def _hasattr(planner: _Planner, g: Guard) -> bool:
    """``hasattr(x, n)``, either way, under default attribute lookup is decided by x's instance
    dict, its classes' dicts and, for a module, the three dicts ``Module.__getattr__`` looks in:
    all tagged (a class attribute that is a descriptor would run code: not covered). An immutable
    builtin value (None, an int, a str) is decided by the value alone."""
    x = g.source
    obj = planner.value(x)
    t = type(obj)
    if t in IMMUTABLE:          # None, ints, strs...: their classes take no new attributes
        return planner.cover(x)
    hook = class_lookup(t, "__getattr__")
    found = class_lookup(t, g.payload)
    if not (planner.cover(x) and t.__getattribute__ is object.__getattribute__
            and hook in (MISSING, torch.nn.Module.__getattr__)
            and (found is MISSING or isinstance(found, types.FunctionType) or not hasattr(type(found), "__get__"))):
        return False
    d, cls = AttrSource(x, "__dict__"), TypeSource(x)
    if not (planner.cover(d) and planner.tag(d) and planner.cover(cls) and planner.tag_classes(cls)):
        return False
    return hook is MISSING or all(planner.state_dict(x, n) for n in STATE_DICTS)


def _no_generic_attr(planner: _Planner, g: Guard) -> bool:
    """Absent from x's instance dict and its classes' dicts: all tagged, whatever x's class does
    in its own ``__getattribute__`` (traced, and guarded on its own)."""
    x = g.source
    d, cls = AttrSource(x, "__dict__"), TypeSource(x)
    return (planner.cover(x) and planner.cover(d) and planner.tag(d) and planner.cover(cls)
            and planner.tag_classes(cls))


# kind -> is this guard implied by the snapshot (registering what must be watched for it)?
_STABLE: dict[GuardKind, Callable[[_Planner, Guard], bool]] = {
    _K.TYPE_MATCH: _typed,
    _K.ID_MATCH: lambda p, g: p.cover(g.source),
    _K.EQUALS_MATCH: _immutable_equals,
    _K.SEQUENCE_LENGTH: lambda p, g: p.cover(g.source) and isinstance(p.value(g.source), tuple),
    _K.DICT_KEYS: _dict_guard,
    _K.DICT_VERSION: _dict_guard,
    _K.DICT_CONTAINS: _dict_guard,
    _K.DICT_NOT_CONTAINS: _dict_guard,
    _K.DUPLICATE_INPUT: lambda p, g: p.refs_covered(g),
    _K.DISTINCT_OBJECTS: lambda p, g: p.refs_covered(g),
    _K.NO_MODULE_HOOKS: _no_hooks,
    _K.HASATTR: _hasattr,
    _K.NOT_HASATTR: _hasattr,
    _K.NO_GENERIC_ATTR: _no_generic_attr,
    _K.CLOSURE_MATCH: _closure_match,
}


def _writes_change_tags() -> bool:
    """Whether this Python bumps a dict's version tag on every way an attribute or a class
    attribute is written: true on CPython 3.11, 3.12 and 3.13.1+, false on 3.13.0, where a store
    into an object's inline values skips the tag (python/cpython#125608, fixed in 3.13.1;
    torch.compile turns its own dict-tag shortcut off there too). Snapshots are off where it is false."""
    class Probe:
        pass

    def changes(d: dict, write: Callable[[], None]) -> bool:
        before = dict_version(d)
        write()
        return dict_version(d) != before

    obj = Probe()
    obj.a = 1
    d = _instance_dict(obj)
    return (d is vars(obj) and changes(d, lambda: setattr(obj, "a", 2))
            and changes(d, lambda: object.__setattr__(obj, "b", 1))
            and changes(class_dict(Probe, 0), lambda: setattr(Probe, "c", 1)))


TAGS_SEE_WRITES = _writes_change_tags()


def plan(guards: list[Guard], values: Values, min_stable: int, inputs: list[Source] = (), *,
         hook_count: bool = False, trust_tensors: bool = False) -> Plan | None:
    """The snapshot for these guards, or None when it would imply fewer than ``min_stable`` of
    them (small programs: checking each guard directly is as cheap). ``inputs``: graph inputs,
    which the snapshot can hand to the transformed code when it covers them. ``hook_count`` and
    ``trust_tensors``: the opt-in assumptions of config (``assume_hooks_registered_via_api``,
    ``assume_static_tensor_metadata``)."""
    if not TAGS_SEE_WRITES:
        return None
    planner = _Planner(guards, values)
    stable = {g for g in guards if planner.stable(g)}
    for g in guards:
        if g.kind is _K.TENSOR_MATCH:
            planner.cover(g.source)          # a parameter: its value is kept, its metadata still checked
        elif g not in stable and g.source is not None:
            planner.cover(g.source)          # read from the snapshot's values, not from the anchor down
    for s in inputs:
        planner.cover(s)
    if not stable or len(stable) < min_stable:
        return None
    objects = list(planner.objects.values())
    dicts = list(planner.dicts.values())
    types_ = {TypeSource(s): type(values(s)) for s in [*objects, *planner.anchor_types]}
    return Plan(anchors=planner.anchors, anchor_types=planner.anchor_types, objects=objects,
                object_types=[type(values(s)) for s in objects],
                dicts=dicts, dict_types=[type(values(s)) for s in dicts], hooks=list(planner.hooks.values()),
                attrs=list(planner.attrs.values()),
                stable=stable, covered={s for s, ok in planner.covered.items() if ok}, types=types_,
                hook_count=hook_count, trust_tensors=trust_tensors)


@dataclasses.dataclass
class KeptTensors:
    """The TENSOR_MATCH guards on the tensors a snapshot keeps (parameters, buffers): checked on
    every call (``p.data = ...`` and ``requires_grad_`` write no dict), by ``check`` (the C++
    ``TensorGuards`` built at capture) until the snapshot has held ``UPGRADE_AFTER`` times, then
    by ``tensor_checker()``'s faster check built from these specs."""

    check: Callable[..., bool]                  # TensorGuards(...).check, called with the tensors in order
    specs: list[Any]                            # each tensor's TensorSpec at capture (type, sizes, strides)


class Snapshot:
    """The watched state of one cache entry at run time.

    ``holder.state`` is the current state, one tuple replaced as a whole (readers take it
    once): ``(anchor weakrefs, objects, dicts, dicts/attributes/types check, hook dicts, values,
    tensors, graph arguments, tensors check)``. ``empty``
    (no snapshot yet, or an anchor died) never passes. Nothing here refers back to the guard
    functions, and an anchor's weakref reaches the holder only weakly, so dropping the cache
    entry frees the state by reference counting; an anchor's death drops the state (the
    weakref callback), so a cache does not keep a model alive."""

    def __init__(self, p: Plan, kept: KeptTensors | None = None) -> None:
        self.object_types = p.object_types
        self.dict_types = p.dict_types
        self.attr_names = [name for _, name in p.attrs]
        self.kept = None if p.trust_tensors else kept
        self.hook_count = p.hook_count
        self.empty: tuple = (tuple(_dead for _ in p.anchors), [], [], _never, [], [], [], [], _never)
        self.holder = Holder(self.empty)
        self.refused: str | None = None
        self.rearms = 0

    def arm(self, anchors: tuple, objects: list, dicts: list, hooks: list, values: list, tensors: list,
            args: list, attr_objects: list) -> bool:
        """Take the snapshot from the current objects (the full guards just passed). Refused when
        a watched value's type is no longer the one the plan was made for."""
        self.rearms += 1
        if list(map(type, objects)) != self.object_types or list(map(type, dicts)) != self.dict_types:
            self.refused = "a watched object's type changed since capture (its state is watched differently)"
            return False
        if self.hook_count:
            count = RemovableHandle.next_id     # before the dicts: a registration counts, then writes
            if any(hooks):              # registered since the full guards ran: a miss, which they name
                return False
            hooks = count
        holder, empty = weakref.ref(self.holder), self.empty

        def drop(_: Any) -> None:
            h = holder()
            if h is not None:
                h.state = empty

        refs = tuple(weakref.ref(a, drop) for a in anchors)
        attrs = [(obj, name, getattr(obj, name)) for obj, name in zip(attr_objects, self.attr_names)]
        watch = _Watch(self.holder, dicts, attrs, objects, self.object_types)
        kept = _always if self.kept is None else _KeptWatch(self.holder, self.kept, tensors)
        self.holder.state = (refs, objects, dicts, watch, hooks, values, tensors, args, kept)
        return True


Watched = list[tuple[Any, str, Any]]     # (object, attribute, the object it must still be)


def _watch_in_python(dicts: list[dict], attrs: Watched, objects: list = (), types_: list[type] = ()) -> Callable[[], bool]:
    """``[dict_version(d) for d in dicts] == tags``, each attribute still its object and each
    object still of its type, in C through ``map`` (one ``map`` per attribute name)."""
    tags = list(map(dict_version, dicts))
    objects, types_ = list(objects), list(types_)
    by_name: dict[str, tuple[list, list]] = {}
    for obj, name, expected in attrs:
        objs, values = by_name.setdefault(name, ([], []))
        objs.append(obj)
        values.append(expected)
    groups = [(operator.attrgetter(name), objs, values) for name, (objs, values) in by_name.items()]

    def check() -> bool:
        if list(map(type, objects)) != types_ or list(map(dict_version, dicts)) != tags:
            return False
        return all(all(map(operator.is_, map(get, objs), values)) for get, objs, values in groups)
    return check


# watched attributes torch's guard manager reads from the object's C struct, without a generic
# attribute lookup (about half the cost): a function's code (only functions have their ``__code__``
# watched, ``attr_kind``) and a class's MRO (only classes have theirs)
DIRECT_ACCESSORS = {"__code__": "code_manager", "__mro__": "type_mro_manager"}


def _watch_in_torch(dicts: list[dict], attrs: Watched, objects: list = (), types_: list[type] = ()) -> Callable[[], bool]:
    """The same check as one call of torch's C++ guard manager (a DICT_VERSION leaf per dict, an
    ID_MATCH leaf per attribute, a TYPE_MATCH leaf per object): no Python object is made per
    item, several times faster than ``map``, but slow to build (about 300 ``map`` checks' worth)."""
    from ..torch_compat import GuardManagerType, RootGuardManager

    kind = GuardManagerType.GUARD_MANAGER
    root = RootGuardManager()
    objects, types_ = list(objects), list(types_)
    items = root.dict_getitem_manager("typed", "typed", objects, kind)
    for i, (obj, t) in enumerate(zip(objects, types_)):
        items.list_getitem_manager(i, f"typed[{i}]", obj, kind).add_type_match_guard(id(t), [f"typed[{i}]"], None)
    items = root.dict_getitem_manager("dicts", "dicts", dicts, kind)
    for i, d in enumerate(dicts):
        items.list_getitem_manager(i, f"dicts[{i}]", d, kind).add_dict_version_guard(d, [f"dicts[{i}]"], None)
    attr_objects, expected = [obj for obj, _, _ in attrs], [value for _, _, value in attrs]
    items = root.dict_getitem_manager("objects", "objects", attr_objects, kind)
    for i, (obj, name, value) in enumerate(attrs):
        item = items.list_getitem_manager(i, f"objects[{i}]", obj, kind)
        source = f"objects[{i}].{name}"
        direct = DIRECT_ACCESSORS.get(name)
        attr = getattr(item, direct)(source, value, kind) if direct else item.getattr_manager(name, source, value, kind)
        attr.add_id_match_guard(id(value), [source], None)
    # the expected objects and types ride along: ID_MATCH and TYPE_MATCH compare ids, so they must stay alive
    return functools.partial(root.check, {"typed": objects, "dicts": dicts, "objects": attr_objects,
                                          "expected": expected, "types": types_})


def _tensors_in_torch(tensors: list, specs: list[Any]) -> Callable[[], bool]:
    """The TENSOR_MATCH of each kept tensor as a leaf of one torch C++ guard manager: the same
    C++ check as ``TensorGuards`` (dispatch keys under the current thread-local state, dtype,
    device, requires_grad, sizes and strides, a symbolic dimension left out as in the spec),
    without building an argument tuple. The expected metadata is read from the tensors now:
    call it only right after ``TensorGuards`` said they still match the capture."""
    from ..torch_compat import GuardManagerType, RootGuardManager, dispatch_keys

    kind = GuardManagerType.GUARD_MANAGER
    root = RootGuardManager()
    tensors = list(tensors)
    items = root.dict_getitem_manager("tensors", "tensors", tensors, kind)
    for i, (t, spec) in enumerate(zip(tensors, specs)):
        name = f"tensors[{i}]"
        items.list_getitem_manager(i, name, t, kind).add_tensor_match_guard(
            t, list(spec.size), list(spec.stride), name, [name], None, spec.type, dispatch_keys(t))
    return functools.partial(root.check, {"tensors": tensors})


def _works(make: Callable[..., Callable[[], bool]]) -> bool:
    """Whether a checker says yes for untouched state and no after a dict write, an attribute
    reassignment or a ``__class__`` assignment."""
    def f() -> None:
        pass

    class A:
        pass

    class B:
        pass

    class C(A):
        pass

    try:
        probe, code, obj = [{"a": 1}, collections.OrderedDict(), {}], f.__code__, A()
        check = make(probe, [(f, "__code__", code), (C, "__mro__", C.__mro__)], [obj], [A])
        if not check():
            return False
        probe[1]["x"] = 1
        written = not check()
        del probe[1]["x"]
        obj.__class__ = B
        retyped = not check()
        obj.__class__ = A
        C.__bases__ = (B,)
        rebased = not check()
        f.__code__ = (lambda: None).__code__
        return (written and retyped and rebased and make(probe, [], [obj], [A])()
                and not make(probe, [(f, "__code__", code)])())
    except Exception:   # noqa: BLE001 - an API this torch does not have: use the next one
        return False


def _tensors_work(make: Callable[[list, list[Any]], Callable[[], bool]]) -> bool:
    """Whether a kept-tensor checker says yes for untouched tensors and no after each change of
    metadata that writes no dict: ``requires_grad_``, ``.data =`` another shape, another dtype."""
    from .guard import TensorSpec

    try:
        p = torch.nn.Parameter(torch.zeros(2, 3))
        spec = TensorSpec.of(p)
        check = make([p], [spec])
        if not check():
            return False
        results = []
        for change in (lambda: p.requires_grad_(False), lambda: setattr(p, "data", torch.zeros(3, 2)),
                       lambda: setattr(p, "data", torch.zeros(2, 3, dtype=torch.float64))):
            with torch.no_grad():
                change()
            results.append(not check())
            with torch.no_grad():
                p.requires_grad_(True)
                p.data = torch.zeros(2, 3)
            results.append(check())
        return all(results)
    except Exception:   # noqa: BLE001 - an API this torch does not have: keep TensorGuards
        return False


# how a snapshot's dicts, attributes and types are checked once it has proved stable, first that
# works on this torch and Python (snapshots start with ``_watch_in_python`` in any case). Chosen on
# first use: torch's guard manager imports torch._dynamo, which bytegraph's import must not do
# (it patches torch functions such as manual_seed).
CHECKERS: list[tuple[str, Callable[..., Callable[[], bool]]]] = [
    ("torch guard manager", _watch_in_torch), ("map", _watch_in_python)]
UPGRADE_AFTER = 256       # passes in a row before a snapshot builds the faster (slow to build) checkers


@functools.cache
def stable_checker() -> tuple[str, Callable[..., Callable[[], bool]]]:
    return next((name, make) for name, make in CHECKERS if _works(make))


@functools.cache
def tensor_checker() -> Callable[[list, list[Any]], Callable[[], bool]] | None:
    """torch's guard manager with TENSOR_MATCH leaves, where it works on this torch; None keeps
    the capture's ``TensorGuards``."""
    return _tensors_in_torch if _tensors_work(_tensors_in_torch) else None


class _Upgrading:
    """A check of the snapshot's state that, after UPGRADE_AFTER passes in a row, puts a faster
    one (``faster()``, None if there is none) in its place in the snapshot's state (slot
    ``SLOT``): a model written between calls (rearmed each time) never pays for building it."""

    __slots__ = ("check", "passes", "holder")
    SLOT = -1

    def __init__(self, holder: "Holder", check: Callable[[], bool]) -> None:
        self.check, self.passes, self.holder = check, 0, weakref.ref(holder)

    def __call__(self) -> bool:
        if not self.check():
            return False
        self.passes += 1
        if self.passes == UPGRADE_AFTER:
            faster = self.faster()
            holder = self.holder()
            state = holder.state if holder is not None else None
            if faster is not None and state is not None and state[self.SLOT] is self:
                holder.state = (*state[:self.SLOT], faster, *state[self.SLOT + 1:])
        return True

    def faster(self) -> Callable[[], bool] | None:
        raise NotImplementedError


class _Watch(_Upgrading):
    """The snapshot's dicts (version tags), attributes (identity) and objects (types)."""

    __slots__ = ("args",)
    SLOT = 3

    def __init__(self, holder: "Holder", dicts: list[dict], attrs: Watched, objects: list, types_: list[type]) -> None:
        super().__init__(holder, _watch_in_python(dicts, attrs, objects, types_))
        self.args = (dicts, attrs, objects, types_)

    def faster(self) -> Callable[[], bool] | None:
        make = stable_checker()[1]
        return make(*self.args) if make is not _watch_in_python else None


class _KeptWatch(_Upgrading):
    """The metadata of the tensors the snapshot keeps (TENSOR_MATCH), checked on every call."""

    __slots__ = ("tensors", "specs")
    SLOT = 8

    def __init__(self, holder: "Holder", kept: KeptTensors, tensors: list) -> None:
        super().__init__(holder, functools.partial(kept.check, *tensors))
        self.tensors, self.specs = tensors, kept.specs

    def faster(self) -> Callable[[], bool] | None:
        make = tensor_checker()
        if make is None:
            return None
        faster = make(self.tensors, self.specs)
        # built from the tensors as they are now: only if the capture's check still agrees after
        # the build (no other thread changed a tensor in between) and the new one passes too
        return faster if self.check() and faster() else None


class Holder:
    """The current state of a snapshot (an attribute: weakly referable, unlike a list)."""

    __slots__ = ("state", "__weakref__")

    def __init__(self, state: tuple) -> None:
        self.state = state


def _dead() -> None:
    return None


def _never() -> bool:
    return False


def _always() -> bool:
    return True
