"""NNModuleVariable: an ``nn.Module`` instance, traced like any user object.

The only difference from a plain object is where attributes live: after the instance
``__dict__``, ``Module.__getattr__`` looks in ``_parameters``, ``_buffers`` and
``_modules``. We read those dicts directly, so a parameter's source is
``L['self']._parameters['weight']`` (a dict lookup at guard time, not a Python
``__getattr__`` call). Calling a module inlines ``type(m).__call__``; for modules without
hooks that is ``Module._call_impl``'s fast path, whose hook-dict checks become guards.
"""

from __future__ import annotations

import types

import torch

from ..diagnostics.errors import UserCodeError
from ..guards import GuardKind
from ..sources import AttrSource, ItemSource
from .base import Tx, VariableTracker, pymethod
from .dicts import DictVariable
from .functions import UserMethodVariable
from .user_defined import UserDefinedObjectVariable, lookup_class_attr, wrap_child

STATE_DICTS = ("_parameters", "_buffers", "_modules")
_POSITIONAL_GETITEM = (torch.nn.ModuleList.__getitem__, torch.nn.Sequential.__getitem__)


class NNModuleVariable(UserDefinedObjectVariable):
    """A module. One made while tracing (``created``) is an object like any other: its
    ``Module.__init__``, ``__setattr__`` and ``__call__`` are traced, so its state dicts are
    trackers in ``pending`` (and the module can be rebuilt from them if it escapes)."""

    def _instance_attr(self, tx: Tx, name: str) -> VariableTracker | None:
        found = super()._instance_attr(tx, name)
        if found is not None:
            return found
        if self.created:
            for dict_name in STATE_DICTS:
                d = self.pending.get(dict_name)
                if isinstance(d, DictVariable) and d.has_key(name, reading=True):
                    return d.value(name)
            return None
        state = self.value.__dict__
        for dict_name in STATE_DICTS:
            d = state.get(dict_name)
            tracked = tx.capture.identity.get(id(d)) if d is not None else None
            if isinstance(tracked, DictVariable):
                # The trace has read or written this dict (functional_call swaps parameters in
                # with `module._parameters[name] = t`): its tracker holds the state as of now.
                if tracked.has_key(name, reading=True):
                    return tracked.value(name)
                continue
            if d is not None and name in d:
                src = ItemSource(AttrSource(self.source, dict_name), name) if self.source is not None else None
                return wrap_child(tx, d[name], src)
        return None

    def _removed_by_trace(self, name: str) -> bool:
        """Also a parameter, buffer or submodule the trace deleted (``Module.__delattr__``)."""
        state = self.value.__dict__
        return super()._removed_by_trace(name) or (
            not self.created and any(name in state.get(d, ()) for d in STATE_DICTS))

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        """``m(*args)``. Without hooks, ``Module.__call__`` is just ``forward``: we guard that
        (one NO_MODULE_HOOKS check per module, one global check) and inline ``forward``. With
        hooks, or an overridden ``__call__``, the real ``__call__`` is inlined, hooks and all."""
        m = self.value
        if not self.created and type(m).__call__ is torch.nn.Module.__call__ and not has_hooks(m) and "forward" not in m.__dict__:
            if self.source is not None:   # one check: no hooks, not m.compile()d, forward not set on the instance
                tx.guard(self.source, GuardKind.NO_MODULE_HOOKS, None, "module call without hooks")
                tx.guard(None, GuardKind.NO_GLOBAL_MODULE_HOOKS, None, "module call without hooks")
            owner, forward = lookup_class_attr(type(m), "forward")
            return tx.call(self._class_attr(tx, "forward", forward, instance_checked=True), args, kwargs)
        return super().call_function(tx, args, kwargs)

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        """``seq[i]``, ``seq[-1]``, ``seq[1:]`` on a ModuleList/Sequential whose ``__getitem__`` is
        torch's: the entry at that position of ``_modules`` (sourced ``..._modules['3']``), the
        key set guarded since a position depends on all of it. A slice, a new container in
        CPython, is a ModuleSequenceVariable over the same trackers. (Sequential's own
        ``__getitem__`` goes through ``itertools.islice``, which is not traced.)"""
        k = key.as_constant() if key.is_constant() else None
        if type(self.value).__getitem__ in _POSITIONAL_GETITEM and isinstance(k, (int, slice)):
            items = self._submodules(tx)
            if isinstance(k, slice):
                return ModuleSequenceVariable(items[k], type(self.value))
            if not -len(items) <= k < len(items):
                raise UserCodeError(IndexError(f"index {k} is out of range"))
            return items[k]
        return super().getitem(tx, key)

    def _submodules(self, tx: Tx) -> list[VariableTracker]:
        """The values of ``_modules`` in order; from a source, its key set is guarded (DICT_KEYS)."""
        if self.created:
            d = self.pending["_modules"]
            return [d.value(k) for k in d.keys()]
        if self.source is None:
            return [tx.wrap_const(m) for m in self.value._modules.values()]
        d = tx.wrap(self.value._modules, AttrSource(self.source, "_modules"))
        return [d.value(k) for k in d.keys()]

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        """``m.name = value`` and ``del m.name`` run ``Module.__setattr__``/``__delattr__`` (or the
        class's own), traced: a tensor assigned to a buffer's name goes into ``_buffers``, a
        deleted buffer leaves it, anything else is an instance attribute (``object.__setattr__``).
        So reads later in the trace, and the write-back, see what eager would."""
        if self.created:
            return super().call_method(tx, name, args, kwargs)
        if name in ("__setattr__", "__delattr__"):
            owner, fn = lookup_class_attr(type(self.value), name)
            if isinstance(fn, types.FunctionType):
                method = UserMethodVariable(wrap_child(tx, fn, self._member_source(owner, name)), self)
                return tx.call(method, args, kwargs)
            if name == "__setattr__":
                return self.generic_setattr(tx, args[0].as_constant(), args[1])
            return self.generic_delattr(tx, args[0].as_constant())
        return super().call_method(tx, name, args, kwargs)

    def describe(self) -> str:
        where = f" {self.source.name()}" if self.source is not None else ""
        return f"module {type(self.value).__qualname__}{where}"


def has_hooks(m: torch.nn.Module) -> bool:
    """Whether calling ``m`` runs anything besides ``forward`` (hooks, or a Module.compile() wrapper)."""
    from torch.nn.modules import module as mm

    return bool(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
                or m._compiled_call_impl is not None or mm._global_forward_hooks or mm._global_forward_pre_hooks
                or mm._global_backward_hooks or mm._global_backward_pre_hooks)


def has_full_backward_hooks(m: torch.nn.Module) -> bool:
    """Whether calling ``m`` runs ``torch.utils.hooks.BackwardHook`` (module or global full
    backward hooks, backward pre-hooks)."""
    from torch.nn.modules import module as mm

    own = m.__dict__
    return bool(own.get("_backward_pre_hooks") or (own.get("_backward_hooks") and own.get("_is_full_backward_hook"))
                or mm._global_backward_pre_hooks or (mm._global_backward_hooks and mm._global_is_full_backward_hook))


class ModuleSequenceVariable(VariableTracker):
    """A ModuleList or Sequential made while tracing (a slice, or ``nn.Sequential(*mods)``) of
    modules that are tracked already: iterable, indexable, and callable like Sequential."""

    def __init__(self, items: list[VariableTracker], py_type: type) -> None:
        super().__init__(None)
        self.items = items
        self.py_type = py_type

    def python_type(self) -> type:
        return self.py_type

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        return list(self.items)

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        k = key.as_constant()
        if isinstance(k, slice):
            return ModuleSequenceVariable(self.items[k], self.py_type)
        return self.items[k]

    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(len(self.items))

    @pymethod("__iter__")
    def _iter(self, tx: Tx) -> VariableTracker:
        from .lists import IteratorVariable

        return IteratorVariable(list(self.items))

    @pymethod("__getitem__")
    def _getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return self.getitem(tx, key)

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if not issubclass(self.py_type, torch.nn.Sequential) or len(args) != 1 or kwargs:
            return super().call_function(tx, args, kwargs)
        out = args[0]
        for module in self.items:
            out = tx.call(module, [out], {})
        return out


def _sequence_constructor(py_type: type):
    def construct(tx: Tx, *args: VariableTracker) -> VariableTracker:
        if py_type is torch.nn.ModuleList:
            items = args[0].unpack(tx) if args else []
        else:
            items = list(args)
        return ModuleSequenceVariable(items, py_type)
    return construct


MODULE_CONSTRUCTORS = {torch.nn.ModuleList: _sequence_constructor(torch.nn.ModuleList),
                       torch.nn.Sequential: _sequence_constructor(torch.nn.Sequential)}
