"""Python modules, classes, and objects of user-defined classes.

Attribute reads follow CPython's ``object.__getattribute__`` order, done statically on
the real object: data descriptors of the class (properties are inlined), then the
instance ``__dict__``, then class attributes (functions become bound methods), then a
Python ``__getattr__``. Values read through a source are wrapped with it (and so
guarded); class members of user classes are reached through ``type(obj)`` so that
monkey-patching a method recompiles. Classes defined by torch are trusted not to change.
"""

from __future__ import annotations

import collections
import contextvars
import copy
import enum
import functools
import logging
import sys
import types
from typing import Any

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
import torch

from ..guards import GuardKind, IdRef
from ..sources import AttrSource, InstanceAttrSource, ItemSource, ModuleGlobalsSource, ModuleSource, Source, TypeSource
from .base import BoundMethodVariable, NotConstant, Tx, VariableTracker, constant_args, pymethod
from .ctx import GRAD_MODE_CLASSES
from .functions import UserMethodVariable
from .log_calls import LOGGER_LEVELS, LoggerMethodVariable
from .numpy import numpy_module_attr
from .rebound import rebound_globals

MISSING = object()
DELETED = VariableTracker()     # marks an attribute the trace deleted from a pre-existing object


def is_torch_module_name(module: Any) -> bool:
    return isinstance(module, str) and (module == "torch" or module.startswith("torch."))


def is_torch_owned(obj: Any) -> bool:
    """Classes, functions and modules that belong to torch (trusted: never guarded by identity)."""
    return is_torch_module_name(obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None))


# Mutable registries (hook dicts...) of torch's modules: guarded like a user's values.
_REGISTRY_TYPES = frozenset({dict, list, set, collections.OrderedDict})


def is_torch_code(value: Any) -> bool:
    """Is this value, read from one of torch's own modules, trusted (never guarded)? Its
    functions, classes and submodules are: torch does not monkey-patch itself. Its data is
    not: flags users set (``torch.backends.cudnn.enabled``, plain bools, numbers and strings
    of a module) and mutable registries (the global module-hook dicts) are guarded."""
    from .constant import is_literal

    return type(value) not in _REGISTRY_TYPES and not is_literal(value)


CONTAINER_BASES = (collections.OrderedDict, dict, list)      # most specific first


def container_base(cls: type) -> type | None:
    """The builtin container a user class derives from (its instances carry contents), if any."""
    for base in CONTAINER_BASES:
        if issubclass(cls, base) and cls is not base:
            return base
    return None


def _is_builtin_member(owner: type | None) -> bool:
    return owner is not None and owner.__module__ == "builtins" or owner is collections.OrderedDict


def lookup_class_attr(cls: type, name: str) -> tuple[type | None, Any]:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass, klass.__dict__[name]
    return None, MISSING


def _is_data_descriptor(attr: Any) -> bool:
    t = type(attr)
    return hasattr(t, "__get__") and (hasattr(t, "__set__") or hasattr(t, "__delete__"))


def wrap_child(tx: Tx, value: Any, source: Source | None) -> VariableTracker:
    return tx.wrap(value, source) if source is not None else tx.wrap_const(value)


def module_source(module: types.ModuleType) -> Source | None:
    """``sys.modules[name]`` for a module reached without a source (through a trusted torch
    module, an import inside the function), if that is where it lives."""
    name = getattr(module, "__name__", None)
    return ModuleSource(name) if isinstance(name, str) and sys.modules.get(name) is module else None


def _guard_torch_function(tx: Tx, module: types.ModuleType, name: str, value: Any) -> None:
    """A function of torch's (``F.gelu``, ``torch.sin``) is a constant of the graph, but the
    program may replace it (``F.gelu = my_gelu``, before or between calls): it is guarded by
    identity, read from the module's dict (bound once in the guard function). Submodules and
    classes stay trusted."""
    if callable(value) and not isinstance(value, (types.ModuleType, type)) and module.__dict__.get(name) is value:
        tx.guard(ItemSource(ModuleGlobalsSource(module.__name__), name), GuardKind.ID_MATCH, IdRef.of(value),
                 "a torch function the program could replace")


class PythonModuleVariable(VariableTracker):
    static_identity = True      # sys.modules holds it

    def __init__(self, module: types.ModuleType, source: Source | None = None) -> None:
        super().__init__(source)
        self.module = module

    def python_type(self) -> type:
        return types.ModuleType

    def as_constant(self) -> Any:
        return self.module

    def _globals_key(self, tx: Tx) -> Source | None:
        """How side effects name this module's globals: None for the compiled function's own."""
        if self.module.__dict__ is tx.capture.root_globals:
            return None
        return ModuleGlobalsSource(self.module.__name__)

    def _assignable(self, tx: Tx, name: str) -> bool:
        """``mod.name = value`` is a global store: a plain module (no ``__setattr__`` of its own, so
        no property of torch.backends' kind), reachable again through sys.modules, or the
        compiled function's own module; a plain name."""
        return (type(self.module).__setattr__ is types.ModuleType.__setattr__ and not name.startswith("__")
                and (self.module.__dict__ is tx.capture.root_globals or module_source(self.module) is not None))

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        """``mod.NAME = value`` (a patch of a module global, a ``mock.patch.object`` of a module): a
        store into the module's globals, read back by the trace (attribute reads, and the global
        reads of the module's functions) and written back after the graph."""
        if name == "__setattr__" and len(args) == 2 and not kwargs and args[0].is_constant():
            attr = args[0].as_constant()
            if isinstance(attr, str) and self._assignable(tx, attr):
                tx.capture.side_effects.store_global(self._globals_key(tx), attr, args[1])
                return tx.wrap_const(None)
        return super().call_method(tx, name, args, kwargs)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        stored = tx.capture.side_effects.load_global(self._globals_key(tx), name) \
            if self.module.__dict__ is tx.capture.root_globals or module_source(self.module) is not None else None
        if stored is not None:
            return stored
        try:
            value = getattr(self.module, name)
        except AttributeError as e:
            raise UserCodeError(e) from e
        modelled = numpy_module_attr(self.module, name, value)      # numpy's callables, torch.from_numpy
        if modelled is not None:
            return modelled
        in_sys_modules = sys.modules.get(self.module.__name__) is self.module
        if in_sys_modules and name in rebound_globals(self.module.__dict__):
            # a name the module's own code rebinds (a lazy flag): guarded, torch's or not
            return tx.wrap(value, ItemSource(ModuleGlobalsSource(self.module.__name__), name))
        base = self.source if self.source is not None else module_source(self.module)
        if base is not None and is_torch_owned(self.module) and is_torch_code(value):
            _guard_torch_function(tx, self.module, name, value)
        if base is None or (is_torch_owned(self.module) and is_torch_code(value)):
            return tx.wrap_const(value)     # torch's code is trusted (decision 6); its data is not
        return tx.wrap(value, AttrSource(base, name))

    def describe(self) -> str:
        return f"module {self.module.__name__}"


class UserDefinedClassVariable(VariableTracker):
    def __init__(self, cls: type, source: Source | None = None) -> None:
        super().__init__(source)
        self.cls = cls

    def python_type(self) -> type:
        return type(self.cls)

    def as_constant(self) -> Any:
        return self.cls

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        owner, attr = lookup_class_attr(self.cls, name)
        if attr is MISSING:
            try:
                return tx.wrap_const(getattr(self.cls, name))   # metaclass attributes: __name__, __mro__...
            except AttributeError as e:
                if self.source is not None:
                    tx.guard(self.source, GuardKind.NOT_HASATTR, name, "attribute read found none")
                raise UserCodeError(e) from e
        source = AttrSource(self.source, name) if self.source is not None and not is_torch_owned(self.cls) else None
        if name == "apply" and issubclass(self.cls, torch.autograd.Function):
            # MyFunction.apply(...) is one graph node, its forward and backward traced as subgraphs
            from .autograd_function import AutogradFunctionApplyVariable

            return AutogradFunctionApplyVariable(self.cls, self)
        if isinstance(attr, staticmethod):
            return wrap_child(tx, attr.__func__, source)
        if isinstance(attr, classmethod):
            return UserMethodVariable(wrap_child(tx, attr.__func__, AttrSource(source, "__func__") if source else None), self)
        if isinstance(attr, (types.FunctionType, type)) or not hasattr(type(attr), "__get__"):
            return wrap_child(tx, attr, source)
        raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"{self.cls.__qualname__}.{name} ({type(attr).__name__})")

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        """``for m in Color``: an enum's members, in definition order (fixed once the class is made)."""
        if isinstance(self.cls, enum.EnumMeta) and type(self.cls).__iter__ is enum.EnumMeta.__iter__:
            return [tx.wrap_const(member) for member in self.cls]
        return super().unpack(tx)

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        """``Cls(...)``: a new object, built as CPython's ``type.__call__`` does (``__new__`` then
        ``__init__``), with its attributes held symbolically until it escapes."""
        cls = self.cls
        constructor = CONSTRUCTORS.get(cls)
        if constructor is None:
            from .nn_module import MODULE_CONSTRUCTORS      # (nn_module imports this module)

            constructor = MODULE_CONSTRUCTORS.get(cls)
        if constructor is not None:
            return constructor(tx, *args, **kwargs)
        if issubclass(cls, BaseException):
            return _construct_exception(tx, cls, args, kwargs)
        if is_namedtuple_class(cls):
            return _construct_namedtuple(tx, cls, args, kwargs)
        if issubclass(cls, torch.nn.Module) and is_torch_owned(cls) and _all_constant(args, kwargs):
            return _construct_torch_module(tx, cls, args, kwargs)
        if issubclass(cls, enum.Enum) and cls.__members__:
            member = _enum_member(tx, cls, args, kwargs)
            if member is not None:
                return member
        if type(cls).__call__ is not type.__call__:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"creating a {cls.__qualname__} object while tracing "
                              f"(its metaclass {type(cls).__qualname__} defines __call__)")
        obj = self._new(tx, args, kwargs)
        if not issubclass(obj.python_type(), cls):      # CPython: __init__ only runs on an instance of cls
            return obj
        if obj.python_type() is not cls:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"{cls.__qualname__}.__new__ returned an instance of the "
                              f"subclass {obj.python_type().__qualname__}")
        owner, init = lookup_class_attr(cls, "__init__")
        contents = getattr(obj, "contents", None)
        if isinstance(init, types.FunctionType):
            tx.call(UserMethodVariable(wrap_child(tx, init, self._member_source(owner, "__init__")), obj), args, kwargs)
        elif contents is not None and init is container_base(cls).__init__:
            contents.call_method(tx, "__init__", args, kwargs)
        elif init is object.__init__ and (args or kwargs) and lookup_class_attr(cls, "__new__")[1] is object.__new__:
            raise UserCodeError(TypeError(f"{cls.__name__}() takes no arguments"))
        elif init is not object.__init__:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"{cls.__qualname__}.__init__ is not a Python function")
        return obj

    def _new(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        """``cls.__new__(cls, *args, **kwargs)``: a Python ``__new__`` is traced (its
        ``object.__new__(cls)`` makes the object); the builtin ones make a new object here."""
        cls = self.cls
        owner, new = lookup_class_attr(cls, "__new__")
        if isinstance(new, staticmethod) and isinstance(new.__func__, types.FunctionType):
            fn = wrap_child(tx, new.__func__, self._member_source(owner, "__new__"))
            return tx.call(fn, [self, *args], kwargs)
        base = container_base(cls)
        if new is object.__new__ or (base is not None and new is base.__new__):
            return new_object(cls, self.source)
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"creating a {cls.__qualname__} object while tracing "
                          f"({owner.__qualname__}.__new__ is not a Python function)")

    def _member_source(self, owner: type | None, name: str) -> Source | None:
        """``cls.name`` for a member the class (not torch) defines; None without a source."""
        return AttrSource(self.source, name) if self.source is not None and not is_torch_owned(owner) else None

    def describe(self) -> str:
        return f"class {self.cls.__qualname__}"


def _ordered_dict(tx: Tx, arg: VariableTracker | None = None, /, **kwargs: VariableTracker) -> VariableTracker:
    from .dicts import DictVariable

    d = DictVariable({}, collections.OrderedDict)
    d._update(tx, arg, **kwargs)
    return d


def _defaultdict(tx: Tx, factory: VariableTracker | None = None, arg: VariableTracker | None = None, /,
                 **kwargs: VariableTracker) -> VariableTracker:
    """``defaultdict(factory, mapping_or_pairs, **items)``: positional-only, as in C, so an item
    may be named ``factory`` or ``arg``."""
    from .dicts import DictVariable

    d = DictVariable({}, collections.defaultdict, default_factory=factory or tx.wrap_const(None))
    d._update(tx, arg, **kwargs)
    return d


def _deque(tx: Tx, iterable: VariableTracker | None = None, maxlen: VariableTracker | None = None) -> VariableTracker:
    from .lists import DequeVariable

    return DequeVariable(iterable.unpack(tx) if iterable is not None else [],
                         maxlen=maxlen.as_constant() if maxlen is not None else None)


def _partial(tx: Tx, func: VariableTracker, *args: VariableTracker, **keywords: VariableTracker) -> VariableTracker:
    from .functions import PartialVariable

    return PartialVariable(func, list(args), keywords)


def _context_var(tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
    from .contextvar import new_context_var

    return new_context_var(tx, *args, **kwargs)


# Classes whose construction is modelled directly (their __new__/__init__ are in C, or
# constructing them changes torch's global state).
CONSTRUCTORS: dict[type, Any] = {
    types.MethodType: lambda tx, fn, obj: UserMethodVariable(fn, obj),    # contextlib.ExitStack makes these
    contextvars.ContextVar: _context_var,
    collections.OrderedDict: _ordered_dict,
    collections.defaultdict: _defaultdict,
    collections.deque: _deque,
    functools.partial: _partial,
    **GRAD_MODE_CLASSES,
}


def _enum_member(tx: Tx, cls: type, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    """``Color(1)``: the member of that value (an enum with members makes none; a symbolic value
    is specialized), or its ValueError; None where a value is unknown at trace time."""
    try:
        cargs, ckwargs = constant_args(args, kwargs)
    except NotConstant:
        return None
    try:
        member = cls(*cargs, **ckwargs)
    except Exception as e:   # noqa: BLE001 - no such member: the user's ValueError
        raise UserCodeError(e) from e
    return tx.wrap_const(member)


def is_namedtuple_class(cls: type) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_make")


def _construct_namedtuple(tx: Tx, cls: type, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    from .lists import TupleVariable

    fields = cls._fields
    values = dict(zip(fields, args))
    for k, v in kwargs.items():
        if k not in fields or k in values:
            raise UserCodeError(TypeError(f"{cls.__name__}.__new__() got an unexpected or repeated argument '{k}'"))
        values[k] = v
    for k, default in cls._field_defaults.items():
        values.setdefault(k, tx.wrap_const(default))
    if len(args) > len(fields) or len(values) != len(fields):
        raise UserCodeError(TypeError(f"{cls.__name__}.__new__() takes {len(fields)} arguments"))
    return TupleVariable([values[f] for f in fields], py_type=cls)


def _all_constant(args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> bool:
    return all(vt.is_constant() for vt in (*args, *kwargs.values()))


def _construct_torch_module(tx: Tx, cls: type, args: list[VariableTracker],
                            kwargs: dict[str, VariableTracker]) -> VariableTracker:
    """``nn.CrossEntropyLoss()``, ``nn.ReLU()`` in a forward: a module of torch's own (trusted),
    built from constants, with no parameters or buffers, is built for real at trace time (faster
    than tracing its ``__init__``, and torch's may use what we do not trace) and its state is
    adopted by the tracker, so it is then exactly a module made while tracing (``created``).
    From other arguments, its ``__init__`` is traced like a user class's."""
    from .nn_module import NNModuleVariable

    try:
        cargs, ckwargs = constant_args(args, kwargs)
        module = cls(*cargs, **ckwargs)
    except Exception as e:   # noqa: BLE001 - the constructor's own error
        raise UserCodeError(e) from e
    if any(True for _ in module.parameters()) or any(t is not None for t in module.buffers()):
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"creating {cls.__qualname__} (it has parameters or buffers) while tracing")
    vt = NNModuleVariable(object.__new__(cls), created=True)
    vt.pending = {name: tx.wrap_new(value) for name, value in module.__dict__.items()}   # (made by the trace)
    return vt


def _construct_exception(tx: Tx, cls: type, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
    from .base import NotConstant, fold

    try:
        return fold(tx, cls, *[a.as_constant() for a in args], **{k: v.as_constant() for k, v in kwargs.items()})
    except NotConstant:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"{cls.__name__}(...) of values unknown at trace time") from None


def fill_container(obj: Any, base: type, contents: Any) -> None:
    """Put ``contents`` in a dict/OrderedDict/list subclass instance through the builtin's own
    methods (an OrderedDict keeps its order in its own structure, so ``dict.update`` won't do)."""
    if base is list:
        list.extend(obj, contents)
    else:
        for k, v in contents.items():
            base.__setitem__(obj, k, v)


def empty_contents(base: type | None) -> VariableTracker | None:
    from .dicts import DictVariable
    from .lists import ListVariable

    return {dict: lambda: DictVariable({}), collections.OrderedDict: lambda: DictVariable({}, collections.OrderedDict),
            list: lambda: ListVariable([])}.get(base, lambda: None)()


_HEAPTYPE = 1 << 9      # Py_TPFLAGS_HEAPTYPE: a class made by a class statement


def is_python_class(cls: type) -> bool:
    """Every class of ``cls``'s MRO but ``object`` is defined in Python (no C layout to set up)."""
    return all(c is object or c.__flags__ & _HEAPTYPE for c in cls.__mro__)


def new_object(cls: type, class_source: Source | None = None) -> "UserDefinedObjectVariable":
    """``object.__new__(cls)`` (or a builtin container base's ``__new__``) while tracing: a new,
    empty object whose state the tracker holds (``pending``); an nn.Module gets its state
    dicts when its traced ``Module.__init__`` sets them, as in CPython. ``class_source``: where
    the trace read ``cls`` from, if it has a source (its members are then read through it)."""
    base = container_base(cls)
    value = object.__new__(cls) if base is None else base.__new__(cls)
    if issubclass(cls, torch.nn.Module):
        from .nn_module import NNModuleVariable

        vt: UserDefinedObjectVariable = NNModuleVariable(value, created=True)
    else:
        vt = UserDefinedObjectVariable(value, contents=empty_contents(base), created=True)
    vt.class_source = class_source
    return vt


def rebuild_object(cls: type, attrs: dict[str, Any], contents: Any = None, deleted: tuple[str, ...] = ()) -> Any:
    """Run-time constructor of an object created while tracing that escapes the frame (the
    builtin base's contents are filled through the base, bypassing the class's overrides)."""
    if not isinstance(cls, type):       # a snapshot object: start from a fresh copy of it
        obj = copy.copy(cls)
        for name in deleted:
            object.__delattr__(obj, name)
        for name, value in attrs.items():
            object.__setattr__(obj, name, value)
        return obj
    base = container_base(cls)
    obj = object.__new__(cls) if base is None else base.__new__(cls)
    if base is not None:
        fill_container(obj, base, contents)
    for name, value in attrs.items():
        object.__setattr__(obj, name, value)
    return obj


class UserDefinedObjectVariable(VariableTracker):
    """An instance of a Python class. Attribute writes on an object created during tracing
    are kept here (``pending``); on a pre-existing object they are side effects."""
    identity_matters = True

    def __init__(self, value: Any, source: Source | None = None, contents: VariableTracker | None = None,
                 snapshot: bool = False, created: bool = False) -> None:
        super().__init__(source)
        self.value = value
        self.pending: dict[str, VariableTracker] = {}
        # (An object that existed before the call always has a source, an ObjectRefSource if it
        # was reached by an unguarded path such as pytree's _LEAF_SPEC: it is rebuilt as itself.)
        # Made by ``object.__new__`` while tracing: ``value`` is an empty stand-in, all state is
        # in ``pending`` (rebuilt from it if the object escapes the frame).
        self.created = created
        # A created object's class as the trace read it (``new_object``), when that has a source:
        # what the object reads from its class is then guarded (and covered by a state snapshot)
        # through it, like ``type(obj).name`` for an object with a source, not held as a bare value.
        self.class_source: Source | None = None
        # A real object made at trace time with state of its own (a deepcopy): rebuilt as a copy
        # of it plus the trace's writes, not from the writes alone.
        self.snapshot = snapshot
        # For instances of dict/list subclasses: the builtin part's items, as a Dict/ListVariable
        # (with the same source). Builtin methods of the base act on it.
        self.contents = contents

    def python_type(self) -> type:
        return type(self.value)

    # -- attribute protocol --------------------------------------------------------------
    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        owner, getattribute = lookup_class_attr(type(self.value), "__getattribute__")
        if isinstance(getattribute, types.FunctionType):      # the class overrides attribute access
            fn = wrap_child(tx, getattribute, self._member_source(owner, "__getattribute__"))
            return tx.call(fn, [self, tx.wrap_const(name)], {})
        return self.generic_getattr(tx, name)

    def generic_getattr(self, tx: Tx, name: str) -> VariableTracker:
        """``object.__getattribute__(obj, name)``, then ``__getattr__`` if that fails
        (CPython: Objects/object.c PyObject_GenericGetAttr)."""
        cls = type(self.value)
        owner, cls_attr = lookup_class_attr(cls, name)
        if cls_attr is not MISSING and _is_data_descriptor(cls_attr):
            return self._descriptor(tx, name, cls_attr)
        if name in self.pending:
            if self.pending[name] is DELETED:
                return self._missing(tx, name)
            return self.pending[name]
        found = self._instance_attr(tx, name)
        if found is not None:
            return found
        if cls_attr is not MISSING:
            return self._class_attr(tx, name, cls_attr)
        return self._missing(tx, name)

    def _instance_attr(self, tx: Tx, name: str) -> VariableTracker | None:
        d = getattr(self.value, "__dict__", None)
        if d is not None and name in d:
            # Read as ``obj.__dict__[name]``: no data descriptor shadows it (checked above), and a
            # dict lookup on a hoisted ``obj.__dict__`` is about half the cost of a getattr in a guard.
            src = InstanceAttrSource.of_object(self.source, name) if self.source else None
            return wrap_child(tx, d[name], src)
        return None

    def _missing(self, tx: Tx, name: str) -> VariableTracker:
        owner, getattr_fn = lookup_class_attr(type(self.value), "__getattr__")
        if isinstance(getattr_fn, types.FunctionType) and not is_torch_owned(owner):
            fn = wrap_child(tx, getattr_fn, self._member_source(owner, "__getattr__"))
            return tx.call(fn, [self, tx.wrap_const(name)], {})
        if self.source is not None and not self._removed_by_trace(name):
            # caught (hasattr, try/except, a class pattern): it may appear later. Under a class's
            # own __getattribute__ (traced: what it reads is guarded on its own), what was found
            # missing is object's generic lookup, a check the state snapshot covers: not the
            # whole hasattr() through that __getattribute__ again, a Python call per guard
            # (transformers' PretrainedConfig: 16 of them, ~40 µs per call of a GPT-2)
            custom = isinstance(lookup_class_attr(type(self.value), "__getattribute__")[1], types.FunctionType)
            kind = GuardKind.NO_GENERIC_ATTR if custom and getattr_fn is MISSING else GuardKind.NOT_HASATTR
            tx.guard(self.source, kind, name, "attribute read found none")
        e = UserCodeError(AttributeError(f"'{type(self.value).__name__}' object has no attribute '{name}'"))
        e.absence_guarded = True            # (builtins._absent: no second guard on it)
        raise e

    def _removed_by_trace(self, name: str) -> bool:
        """Whether the attribute is missing only because the trace deleted it (the real object
        still has it: a guard that it is absent would reject the very call it was made for)."""
        return self.pending.get(name) is DELETED

    def _member_source(self, owner: type | None, name: str) -> Source | None:
        """Where a class member is read from: ``type(obj).name``, so that replacing it on a user
        class fails a guard. Members that torch's own classes define are trusted (no source)."""
        if owner is None or is_torch_owned(owner):
            return None
        if self.source is not None:
            return AttrSource(TypeSource(self.source), name)
        return AttrSource(self.class_source, name) if self.class_source is not None else None

    def _descriptor(self, tx: Tx, name: str, attr: Any) -> VariableTracker:
        if name == "__dict__" and hasattr(self.value, "__dict__"):
            return ObjectDictVariable(self)
        if name == "__class__":             # (the type is guarded when the object has a source)
            return tx.wrap_const(type(self.value))
        if isinstance(attr, types.MemberDescriptorType) and name in self.pending:   # a __slots__ member written
            return self._missing(tx, name) if self.pending[name] is DELETED else self.pending[name]
        if isinstance(attr, property) and attr.fget is not None:
            owner, _ = lookup_class_attr(type(self.value), name)
            src = self._member_source(owner, name)
            fget = wrap_child(tx, attr.fget, AttrSource(src, "fget") if src else None)
            return tx.call(fget, [self], {})
        if self.source is not None:   # __slots__ members, C getset descriptors: read the real value
            return tx.wrap(getattr(self.value, name), AttrSource(self.source, name))
        got = self._python_get(tx, attr)      # a data descriptor written in Python, on an object the trace made
        if got is not None:
            return got
        if isinstance(attr, types.MemberDescriptorType):
            try:
                return tx.wrap_const(getattr(self.value, name))
            except AttributeError as e:
                raise UserCodeError(e) from e
        raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"{type(self.value).__qualname__}.{name} ({type(attr).__name__})")

    def _class_attr(self, tx: Tx, name: str, attr: Any, instance_checked: bool = False) -> VariableTracker:
        owner, _ = lookup_class_attr(type(self.value), name)
        src = self._member_source(owner, name)
        if isinstance(self.value, logging.Logger) and callable(attr) and name in LOGGER_LEVELS:
            # logger.info(...) and friends: a no-op at a level the logger ignores, else a break
            return LoggerMethodVariable(self, name)
        if self.source is not None and hasattr(self.value, "__dict__") and not instance_checked:
            # an instance attribute of the same name would hide the class's (obj.method = ...)
            tx.guard(AttrSource(self.source, "__dict__"), GuardKind.DICT_NOT_CONTAINS, name,
                     "class attribute read through the instance")
        if isinstance(attr, types.FunctionType):
            return UserMethodVariable(wrap_child(tx, attr, src), self)
        if self.contents is not None and _is_builtin_member(owner) and callable(attr):
            return BoundMethodVariable(self.contents, name)       # dict.get, list.append... on the contents
        if isinstance(attr, staticmethod):
            return wrap_child(tx, attr.__func__, src)          # type(obj).name is the plain function
        if isinstance(attr, classmethod):
            fn = wrap_child(tx, attr.__func__, AttrSource(src, "__func__") if src else None)
            return UserMethodVariable(fn, tx.wrap_const(type(self.value)))
        if not hasattr(type(attr), "__get__") or isinstance(attr, type):
            # read as ``type(obj).name`` (the class's source for an object the trace made) where the
            # class is not torch's and a plain metaclass reads it as the instance does (the instance
            # dict's lack of it is guarded above): a state snapshot covers that path, and it is the
            # lookup the trace made even under a class's own __getattribute__ (``obj.name`` reruns it)
            own = AttrSource(self.source, name) if self.source else None
            meta = type(type(self.value))
            same = meta.__getattribute__ is type.__getattribute__ and lookup_class_attr(meta, name)[1] is MISSING
            return wrap_child(tx, getattr(self.value, name), src if src is not None and same else own)
        got = self._python_get(tx, attr)       # a descriptor written in Python: run its __get__
        if got is not None:
            return got
        raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"{type(self.value).__qualname__}.{name} ({type(attr).__name__})")

    def _python_get(self, tx: Tx, attr: Any) -> VariableTracker | None:
        """``type(attr).__get__(attr, obj, type(obj))`` traced where that ``__get__`` is a Python
        function (the descriptor as the object itself: ``type(obj).name`` would run it); else None."""
        get = getattr(type(attr), "__get__", None)
        if not isinstance(get, types.FunctionType):
            return None
        return tx.call(tx.wrap_const(get), [tx.wrap_const(attr), self, tx.wrap_const(type(self.value))], {})

    # -- protocols through dunder methods --------------------------------------------------
    def _dunder(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker] | None = None) -> Any:
        """Call a special method found on the class (CPython looks these up on the type only)."""
        owner, fn = lookup_class_attr(type(self.value), name)
        if not isinstance(fn, types.FunctionType):
            if self.contents is not None and _is_builtin_member(owner):
                return self.contents.call_method(tx, name, args, kwargs or {})
            return NotImplemented
        return tx.call(wrap_child(tx, fn, self._member_source(owner, name)), [self, *args], kwargs or {})

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        result = self._dunder(tx, "__call__", args, kwargs)
        if result is NotImplemented:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"calling {self.describe()}")
        return result

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if name == "__setattr__" and type(self.value).__setattr__ is object.__setattr__:
            return self.generic_setattr(tx, args[0].as_constant(), args[1])
        if name == "__delattr__" and type(self.value).__delattr__ is object.__delattr__:
            return self.generic_delattr(tx, args[0].as_constant())
        return super().call_method(tx, name, args, kwargs)

    def generic_setattr(self, tx: Tx, name: str, value: VariableTracker) -> VariableTracker:
        """``object.__setattr__(obj, name, value)``: recorded on the tracker; on an object that
        existed before the call it is a side effect. Through a data descriptor of the class (a
        property, a descriptor written in Python), it is that descriptor's setter, traced."""
        owner, attr = lookup_class_attr(type(self.value), name)
        if attr is not MISSING and _is_data_descriptor(attr) and not isinstance(attr, types.MemberDescriptorType):
            self._set_through_descriptor(tx, name, owner, attr, value)
            return tx.wrap_const(None)
        if self.source is not None:
            tx.mutation(self, f"setting attribute {name!r}")
        else:
            tx.local_mutation(self, f"setting attribute {name!r}")
        if not isinstance(attr, types.MemberDescriptorType) and not type(self.value).__dictoffset__:
            try:        # no slot of that name and no __dict__: CPython's AttributeError, in its own words
                object.__setattr__(self.value, name, None)
            except AttributeError as e:
                raise UserCodeError(e) from e
            raise AssertionError(f"{type(self.value).__qualname__} took attribute {name!r} without a __dict__")
        self.pending[name] = value
        return tx.wrap_const(None)

    def _set_through_descriptor(self, tx: Tx, name: str, owner: type | None, attr: Any, value: VariableTracker) -> None:
        """``obj.name = value`` where ``type(obj).name`` is a property (its ``fset``) or a descriptor
        whose ``__set__`` is a Python function: the setter is traced, as the getter is."""
        src = self._member_source(owner, name)
        if isinstance(attr, property):
            if attr.fset is None:
                try:        # CPython's AttributeError ("... has no setter"), in its own words; nothing is set
                    attr.__set__(self.value, None)
                except AttributeError as e:
                    raise UserCodeError(e) from e
            fset = wrap_child(tx, attr.fset, AttrSource(src, "fset") if src else None)
            tx.call(fset, [self, value], {})
            return
        set_ = getattr(type(attr), "__set__", None)
        if not isinstance(set_, types.FunctionType):
            raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"setting {type(self.value).__qualname__}.{name} "
                              f"({type(attr).__name__})")
        # (the descriptor as the object itself, as its __get__ is called: ``type(obj).name`` would run it)
        tx.call(tx.wrap_const(set_), [tx.wrap_const(attr), self, value], {})

    def generic_delattr(self, tx: Tx, name: str) -> VariableTracker:
        """``del obj.name``: on an object created while tracing, it simply forgets the attribute;
        on a pre-existing one, the deletion is a side effect."""
        if self.pending.get(name) is DELETED or (name not in self.pending and not self._has_instance_attr(name)):
            raise UserCodeError(AttributeError(name))
        if self.source is not None:
            tx.mutation(self, f"deleting attribute {name!r}")
        else:
            tx.local_mutation(self, f"deleting attribute {name!r}")
        if self._has_instance_attr(name):
            self.pending[name] = DELETED       # the real object has it: remember the deletion
        else:
            del self.pending[name]
        return tx.wrap_const(None)

    def _has_instance_attr(self, name: str) -> bool:
        """The real object has ``name`` in its ``__dict__`` or in a slot."""
        if name in getattr(self.value, "__dict__", {}):
            return True
        slot = lookup_class_attr(type(self.value), name)[1]
        return isinstance(slot, types.MemberDescriptorType) and hasattr(self.value, name)

    def _changed(self) -> dict[str, VariableTracker]:
        """The attributes whose final value is not the one the object had: an attribute set
        back to the value read from it (a patch undone in ``finally``) is left alone."""
        src = self.source
        return {name: vt for name, vt in self.pending.items()
                if vt is DELETED or src is None or vt.source != InstanceAttrSource.of_object(src, name)}

    def replay_values(self) -> list[VariableTracker]:
        return [vt for vt in self._changed().values() if vt is not DELETED]

    def changes_nothing(self) -> bool:
        return not self._changed()

    def replay(self, cg: Any) -> None:
        """``setattr``/``delattr`` of each attribute the trace changed, through the real
        ``__setattr__`` (so a module registers a new submodule or parameter as it would)."""
        for name, vt in self._changed().items():
            if vt is DELETED:
                cg.load_source(self.source)
                cg.emit("DELETE_ATTR", name)
            else:
                cg.reconstruct(vt)
                cg.load_source(self.source)
                cg.emit("STORE_ATTR", name)

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        written = {name: vt for name, vt in self.pending.items() if vt is not DELETED}
        cg.push_callable(rebuild_object)
        cg.load_const(self._snapshot_copy() if self.snapshot else type(self.value))
        cg.begin_build(dict)
        for name, vt in written.items():
            cg.load_const(name)
            cg.reconstruct(vt)
        cg.build(dict, len(written))
        if self.contents is not None:
            self.contents.reconstruct(cg)
        else:
            cg.load_const(None)
        cg.load_const(tuple(name for name, vt in self.pending.items() if vt is DELETED))
        cg.call(4)

    def _snapshot_copy(self) -> Any:
        """What a trace-made real object (a call's result at trace time) is rebuilt from: a copy."""
        try:
            return copy.copy(self.value)
        except Exception as e:   # noqa: BLE001 - an object copy does not support: it cannot escape
            raise Unsupported(breaks.NON_TENSOR_OUTPUT, f"a {type(self.value).__qualname__} made while tracing "
                              f"escapes, and it cannot be copied ({type(e).__name__})") from None

    def binary_op(self, tx: Tx, op: str, other: VariableTracker, reflected: bool) -> Any:
        name = f"__r{op}__" if reflected and op not in ("eq", "ne", "lt", "le", "gt", "ge") else f"__{op}__"
        result = self._dunder(tx, name, [other])
        if result is not NotImplemented and result.is_constant() and result.as_constant() is NotImplemented:
            return NotImplemented
        return result

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        result = self._dunder(tx, "__getitem__", [key])
        if result is NotImplemented:
            raise UserCodeError(TypeError(f"'{type(self.value).__name__}' object is not subscriptable"))
        return result

    def truth(self, tx: Tx) -> bool:
        for name in ("__bool__", "__len__"):
            result = self._dunder(tx, name, [])
            if result is not NotImplemented:
                return bool(result.as_constant())
        return True

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        owner, fn = lookup_class_attr(type(self.value), "__iter__")
        if self.contents is not None and not isinstance(fn, types.FunctionType):
            return self.contents.unpack(tx)
        it = self._dunder(tx, "__iter__", [])
        if it is NotImplemented:
            return super().unpack(tx)
        return it.unpack(tx)

    def describe(self) -> str:
        where = f" {self.source.name()}" if self.source is not None else ""
        return f"{type(self.value).__qualname__} object{where}"


class ObjectDictVariable(VariableTracker):
    """``obj.__dict__``: a live view of an object's instance attributes, as the trace sees them
    (attributes written while tracing first, then the real object's). Writes are attribute
    writes."""

    def __init__(self, obj: UserDefinedObjectVariable) -> None:
        super().__init__(None)
        self.obj = obj

    def python_type(self) -> type:
        return dict

    def _names(self, tx: Tx) -> list[str]:
        real = list(getattr(self.obj.value, "__dict__", {}))
        if self.obj.source is not None and real:
            tx.guard(AttrSource(self.obj.source, "__dict__"), GuardKind.DICT_KEYS, tuple(real), "obj.__dict__ keys used")
        names = [n for n in real if self.obj.pending.get(n) is not DELETED]
        return names + [n for n, vt in self.obj.pending.items() if vt is not DELETED and n not in names]

    def _has(self, tx: Tx, name: str) -> bool:
        if name in self.obj.pending:
            return self.obj.pending[name] is not DELETED
        present = name in getattr(self.obj.value, "__dict__", {})
        if self.obj.source is not None:
            kind = GuardKind.DICT_CONTAINS if present else GuardKind.DICT_NOT_CONTAINS
            tx.guard(AttrSource(self.obj.source, "__dict__"), kind, name, "membership in obj.__dict__")
        return present

    def _get(self, tx: Tx, name: str) -> VariableTracker:
        if name in self.obj.pending:
            return self.obj.pending[name]
        return self.obj._instance_attr(tx, name)

    @pymethod("__getitem__")
    def _getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        name = key.as_constant()
        if not self._has(tx, name):
            raise UserCodeError(KeyError(name))
        return self._get(tx, name)

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return self._getitem(tx, key)

    @pymethod("get")
    def _getdefault(self, tx: Tx, key: VariableTracker, default: VariableTracker | None = None) -> VariableTracker:
        name = key.as_constant()
        if self._has(tx, name):
            return self._get(tx, name)
        return default if default is not None else tx.wrap_const(None)

    @pymethod("__contains__")
    def _contains(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return tx.wrap_const(self._has(tx, key.as_constant()))

    @pymethod("__setitem__")
    def _setitem(self, tx: Tx, key: VariableTracker, value: VariableTracker) -> VariableTracker:
        return self.obj.generic_setattr(tx, key.as_constant(), value)

    @pymethod("__delitem__")
    def _delitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return self.obj.generic_delattr(tx, key.as_constant())

    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(len(self._names(tx)))

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        return [tx.wrap_const(n) for n in self._names(tx)]

    @pymethod("keys")
    def _keys(self, tx: Tx) -> VariableTracker:
        from .lists import ListVariable

        return ListVariable(self.unpack(tx))

    @pymethod("values")
    def _values(self, tx: Tx) -> VariableTracker:
        from .lists import ListVariable

        return ListVariable([self._get(tx, n) for n in self._names(tx)])

    @pymethod("items")
    def _items(self, tx: Tx) -> VariableTracker:
        from .lists import ListVariable, TupleVariable

        return ListVariable([TupleVariable([tx.wrap_const(n), self._get(tx, n)]) for n in self._names(tx)])


class SuperVariable(VariableTracker):
    """``super(cls, obj)``: attribute lookup starts after ``cls`` in ``obj``'s MRO."""

    def __init__(self, cls: type, obj: VariableTracker) -> None:
        super().__init__(None)
        self.cls = cls
        self.obj = obj

    def python_type(self) -> type:
        return super

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        obj_type = self.obj.as_constant() if isinstance(self.obj, UserDefinedClassVariable) else self.obj.python_type()
        mro = obj_type.__mro__
        for klass in mro[mro.index(self.cls) + 1:]:
            if name in klass.__dict__:
                attr = klass.__dict__[name]
                if isinstance(attr, types.FunctionType):
                    return UserMethodVariable(tx.wrap_const(attr), self.obj)
                if isinstance(attr, classmethod):
                    return UserMethodVariable(tx.wrap_const(attr.__func__), tx.wrap_const(obj_type))
                if isinstance(attr, staticmethod):
                    return tx.wrap_const(attr.__func__)
                if not hasattr(type(attr), "__get__"):
                    return tx.wrap_const(attr)
                contents = getattr(self.obj, "contents", None)
                if contents is not None and _is_builtin_member(klass) and klass is not object and callable(attr):
                    return BoundMethodVariable(contents, name)     # super().__setitem__ on a dict subclass
                if isinstance(attr, types.WrapperDescriptorType):    # object.__init__, object.__setattr__...
                    return UserMethodVariable(tx.wrap_const(attr), self.obj)
                raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"super().{name} ({type(attr).__name__})")
        raise UserCodeError(AttributeError(f"'super' object has no attribute '{name}'"))
