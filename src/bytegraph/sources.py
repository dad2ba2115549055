"""Sources: where a value came from, as a path from the frame's locals, globals or cells.

A Source is a frozen, hashable dataclass. It answers three questions:

* ``name()`` — a Python expression over the frame, for people: ``L['x']._parameters['w']``.
* ``guard_expr()`` — the same path as code inside a generated guard function, whose
  parameters are the user's own (``x._parameters['w']``); globals are read through
  ``___G`` (the user's globals dict) and root closure cells through ``___cell_<name>``.
* ``reconstruct(cg)`` — emits bytecode that pushes the value (used by codegen to load
  graph inputs and to rebuild return values).

Sources never hold the value they describe, except ``ObjectRefSource``: a pre-existing object
reached by an unguarded path is its own source, so it is never rebuilt. Values built during
tracing have no source (``None``) and so can never be guarded or re-fetched: "no source"
means "created by the trace".
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import keyword
import math
import re
import sys
from typing import Any, Protocol

import torch


def guard_name(local: str) -> str:
    """A frame local's name as a parameter of a generated guard function. CPython's own
    hidden locals are not identifiers (a comprehension's ``.0``, pytest's ``@py_assert1``)."""
    if local.isidentifier() and not keyword.iskeyword(local):
        return local
    return "___local_" + "".join(c if c.isalnum() or c == "_" else f"x{ord(c):x}" for c in local)


def guard_locals(frame_locals: dict[str, Any]) -> dict[str, Any]:
    """Frame locals keyed by ``guard_name``, to evaluate ``guard_expr()`` texts over them."""
    if all(k.isidentifier() and not keyword.iskeyword(k) for k in frame_locals):
        return frame_locals
    return {guard_name(k): v for k, v in frame_locals.items()}


class SourceCodegen(Protocol):
    """The part of ``codegen.PyCodegen`` that sources use."""

    def load_source(self, source: "Source") -> None: ...
    def load_local(self, name: str) -> None: ...
    def load_global(self, name: str) -> None: ...
    def load_deref(self, name: str) -> None: ...
    def load_attr(self, name: str) -> None: ...
    def load_const(self, value: Any) -> None: ...
    def binary_subscr(self) -> None: ...
    def push_callable(self, fn: Any) -> None: ...
    def push_call_target(self, push: Any) -> None: ...
    def emit(self, name: str, arg: Any = None) -> None: ...
    def load_method_call(self, name: str, nargs: int) -> None: ...
    def call(self, nargs: int) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    # a graph input the transformed code makes on every call (a float's tensor, the backward
    # state): never guarded, never compared with the other inputs
    new_each_call = False
    # the hash, computed once (0: not yet): a source is a key of many tables while a frame is
    # captured, and the dataclass hash walks the whole chain under it (``__init_subclass__``)
    _hash: int = dataclasses.field(default=0, init=False, repr=False, compare=False, hash=False)

    def __init_subclass__(cls) -> None:      # (no super(): the slots class is a copy)
        computed = cls.__dict__.get("__hash__")
        if computed is None or getattr(computed, "cached", False):
            return

        def __hash__(self: Source) -> int:
            h = self._hash
            if not h:
                h = computed(self) or 1
                object.__setattr__(self, "_hash", h)
            return h
        __hash__.cached = True  # type: ignore[attr-defined]
        cls.__hash__ = __hash__  # type: ignore[method-assign]

    def name(self) -> str:
        raise NotImplementedError

    def guard_expr(self) -> str:
        raise NotImplementedError

    def reconstruct(self, cg: SourceCodegen) -> None:
        raise NotImplementedError

    @property
    def base(self) -> "Source | None":
        return None

    def root(self) -> "Source":
        src: Source = self
        while src.base is not None:
            src = src.base
        return src

    def chain(self) -> list["Source"]:
        """This source and every base under it, root first."""
        out: list[Source] = []
        src: Source | None = self
        while src is not None:
            out.append(src)
            src = src.base
        return out[::-1]

    def is_module_state(self) -> bool:
        """True for parameters and buffers reached through a module's ``_parameters``/``_buffers``."""
        return any(isinstance(s, AttrSource) and s.attr in ("_parameters", "_buffers") for s in self.chain())

    def wrap(self, base: str) -> str:
        """This source as an expression, given its base's expression (derived sources only).

        ``name()`` and ``guard_expr()`` both go through it, and guard codegen uses it to
        substitute a hoisted temporary for a base shared by several guards."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name()


@dataclasses.dataclass(frozen=True, slots=True)
class DerivedSource(Source):
    """A source computed from another one (``of``): attribute, item, type, dict key."""

    of: Source

    @property
    def base(self) -> Source:
        return self.of

    def name(self) -> str:
        return self.wrap(self.of.name())

    def guard_expr(self) -> str:
        return self.wrap(self.of.guard_expr())


@dataclasses.dataclass(frozen=True, slots=True)
class LocalSource(Source):
    """An argument or local variable of the compiled (root) frame."""

    local: str

    def name(self) -> str:
        return f"L[{self.local!r}]"

    def guard_expr(self) -> str:
        return guard_name(self.local)

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.load_local(self.local)


@dataclasses.dataclass(frozen=True, slots=True)
class GlobalSource(Source):
    """A name in the root frame's module globals."""

    global_name: str

    def name(self) -> str:
        return f"G[{self.global_name!r}]"

    def guard_expr(self) -> str:
        return f"___G[{self.global_name!r}]"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.load_global(self.global_name)


@dataclasses.dataclass(frozen=True, slots=True)
class FreeVarSource(Source):
    """The contents of a closure cell of the root frame (a free variable of the compiled function)."""

    free: str

    def name(self) -> str:
        return f"L[{self.free!r}]"

    def guard_expr(self) -> str:
        return f"___cell_{self.free}.cell_contents"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.load_deref(self.free)


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectRefSource(Source):
    """A pre-existing object reached by a path the guards do not follow (a global of torch's own
    trusted modules, a class attribute of a torch class, an attribute of such an object): the
    source *is* the object. The one source that holds its value, because nothing else can
    re-read it: the transformed code loads it as a constant (the real object, hidden state and
    all, never a copy rebuilt from what the trace saw), and guards on what the trace read from
    it (``logger.disabled``) name it ``___obj_<id>`` in the guard function's namespace
    (``GuardSet.hold``). Equal by identity of the object."""

    obj_id: int
    obj: Any = dataclasses.field(compare=False, hash=False, repr=False)

    @classmethod
    def of(cls, obj: Any) -> "ObjectRefSource":
        return cls(id(obj), obj)

    def name(self) -> str:
        return f"<{type(self.obj).__qualname__} object {self.obj_id:#x}>"

    def guard_expr(self) -> str:
        return f"___obj_{self.obj_id:x}"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.load_const(self.obj)


@dataclasses.dataclass(frozen=True, slots=True)
class CallerExceptionSource(Source):
    """``sys.exception()`` where the compiled function is called: the exception its caller is
    handling (None outside an ``except`` block), which ``sys.exc_info()`` in the frame sees."""

    def name(self) -> str:
        return "sys.exception()"

    def guard_expr(self) -> str:
        return "___modules['sys'].exc_info()[1]"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(sys.exc_info)
        cg.call(0)
        cg.load_const(1)
        cg.binary_subscr()


@dataclasses.dataclass(frozen=True, slots=True)
class FunctionSource(Source):
    """The compiled function object itself (its ``__defaults__``, ``__kwdefaults__``)."""

    def name(self) -> str:
        return "fn"

    def guard_expr(self) -> str:
        return "___fn"

    def reconstruct(self, cg: SourceCodegen) -> None:
        raise NotImplementedError("the compiled function is not a value of its own frame")


@dataclasses.dataclass(frozen=True, slots=True)
class AttrSource(DerivedSource):
    """``base.attr``."""

    attr: str

    def wrap(self, base: str) -> str:
        return f"{base}.{self.attr}"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.load_source(self.of)
        cg.load_attr(self.attr)


def is_source_key(key: Any) -> bool:
    """Can ``key`` be spelled inside a source (``L['d'][key]``, evaluated in guards)? str, int,
    bool, None, bytes, finite floats and dtypes by ``repr`` (``torch`` is in the guard's
    namespace), enum members of a class reachable from its module, and tuples of these."""
    t = type(key)
    if t is tuple:
        return all(is_source_key(k) for k in key)
    if isinstance(key, enum.Enum):
        cls, found = type(key), sys.modules.get(type(key).__module__)
        for part in cls.__qualname__.split("."):
            found = getattr(found, part, None)
        return found is cls and key.name.isidentifier() and getattr(cls, key.name, None) is key
    return t in (str, int, bool, type(None), bytes, torch.dtype) or (t is float and math.isfinite(key))


def key_text(key: Any, shown: bool = False) -> str:
    """A key as Python source: ``repr``, except enum members, spelled ``Color.RED`` for people
    (``shown``) and read through ``___modules[<module>]`` in guards (``is_source_key`` says
    which keys can be spelled at all)."""
    if type(key) is tuple:
        parts = [key_text(k, shown) for k in key]
        return f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"
    if isinstance(key, enum.Enum):
        cls = type(key)
        path = f"{cls.__qualname__}.{key.name}"
        return path if shown else f"___modules[{cls.__module__!r}].{path}"
    return repr(key)


@dataclasses.dataclass(frozen=True, slots=True)
class ItemSource(DerivedSource):
    """``base[key]`` for a constant key: list/tuple index, dict key, or a module's state dict entry."""

    key: Any

    def name(self) -> str:
        return f"{self.of.name()}[{key_text(self.key, shown=True)}]"

    def wrap(self, base: str) -> str:
        return f"{base}[{key_text(self.key)}]"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.load_source(self.of)
        cg.load_const(self.key)
        cg.binary_subscr()


@dataclasses.dataclass(frozen=True, slots=True)
class BuiltinItemSource(ItemSource):
    """``base[key]`` read through the builtin ``container`` (dict or list) that ``base``'s class
    derives from, bypassing an overridden ``__getitem__`` (which may build a new object per
    lookup: transformers' ``ACT2FN``): ``dict.__getitem__(base, key)``."""

    container: type = dict

    def wrap(self, base: str) -> str:
        return f"{self.container.__name__}.__getitem__({base}, {key_text(self.key)})"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(self.container.__getitem__)
        cg.load_source(self.of)
        cg.load_const(self.key)
        cg.call(2)


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceAttrSource(ItemSource):
    """``obj.attr`` for an attribute that lives in the instance ``__dict__``, read as
    ``obj.__dict__['attr']`` (``of`` is ``AttrSource(obj, '__dict__')``, hoisted once when
    several attributes are guarded). Shown to people as ``obj.attr``."""

    @classmethod
    def of_object(cls, obj: Source, attr: str) -> "InstanceAttrSource":
        return cls(AttrSource(obj, "__dict__"), attr)

    def name(self) -> str:
        return f"{self.of.of.name()}.{self.key}"


@dataclasses.dataclass(frozen=True, slots=True)
class TypeSource(DerivedSource):
    """``type(base)``: used to guard class attributes (methods, class constants) of an object."""

    def wrap(self, base: str) -> str:
        return f"type({base})"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(type)
        cg.load_source(self.of)
        cg.call(1)


@dataclasses.dataclass(frozen=True, slots=True)
class DictKeySource(DerivedSource):
    """The ``index``-th key of a dict, for keys that are not constants (``list(base)[index]``)."""

    index: int

    def wrap(self, base: str) -> str:
        return f"list({base})[{self.index}]"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(list)
        cg.load_source(self.of)
        cg.call(1)
        cg.load_const(self.index)
        cg.binary_subscr()


@dataclasses.dataclass(frozen=True, slots=True)
class DictValueSource(DerivedSource):
    """The ``index``-th value of a dict whose keys are not constants (``list(base.values())[index]``)."""

    index: int

    def wrap(self, base: str) -> str:
        return f"list({base}.values())[{self.index}]"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(list)
        cg.load_source(self.of)
        cg.load_method_call("values", 0)
        cg.call(1)
        cg.load_const(self.index)
        cg.binary_subscr()


@dataclasses.dataclass(frozen=True, slots=True)
class IteratorStateSource(DerivedSource):
    """What a range/tuple/list iterator will still produce: ``part`` 0 is the underlying
    sequence, 1 the position (from ``it.__reduce__()``, which does not advance it; an exhausted
    one reduces to ``(iter, ((),))``: an empty sequence, position 0)."""

    part: int

    def wrap(self, base: str) -> str:
        if self.part == 0:
            return f"{base}.__reduce__()[1][0]"
        return f"({base}.__reduce__()[2:] or (0,))[0]"

    def reconstruct(self, cg: SourceCodegen) -> None:
        if self.part == 0:
            cg.load_source(self.of)
            cg.load_method_call("__reduce__", 0)
            cg.load_const(1)
            cg.binary_subscr()
            cg.load_const(0)
            cg.binary_subscr()
        else:
            cg.push_callable(iterator_position)
            cg.load_source(self.of)
            cg.call(1)


def iterator_position(it: Any) -> int:
    """How far a range/tuple/list iterator has gone (0 once exhausted: it then reduces to nothing)."""
    reduced = it.__reduce__()
    return reduced[2] if len(reduced) > 2 else 0


@dataclasses.dataclass(frozen=True, slots=True)
class WeakRefCallSource(DerivedSource):
    """``base()``: the referent of a weak reference (None once it died)."""

    def wrap(self, base: str) -> str:
        return f"{base}()"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_call_target(lambda: cg.load_source(self.of))
        cg.call(0)


@dataclasses.dataclass(frozen=True, slots=True)
class ReduceSource(DerivedSource):
    """``base.__reduce__()``: what an immutable C object (an ``operator.itemgetter``) was made
    from, read without changing it."""

    def wrap(self, base: str) -> str:
        return f"{base}.__reduce__()"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.load_source(self.of)
        cg.load_method_call("__reduce__", 0)


@dataclasses.dataclass(frozen=True, slots=True)
class LoggerEnabledSource(DerivedSource):
    """``base.isEnabledFor(level)`` for a ``logging.Logger``: whether a call at ``level`` does
    anything (levels of the logger and its ancestors, ``disabled``, ``logging.disable``). A guard
    on it keeps a logger call that was a no-op while tracing a no-op (``variables/log_calls.py``)."""

    level: int

    def wrap(self, base: str) -> str:
        return f"{base}.isEnabledFor({self.level})"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_call_target(lambda: (cg.load_source(self.of), cg.load_attr("isEnabledFor")))
        cg.load_const(self.level)
        cg.call(1)


class ContextVarState(enum.Enum):
    UNSET = "unset"        # the variable has no value in the current context, and no default


def contextvar_value(var: contextvars.ContextVar) -> Any:
    """``var.get()`` in the current context (its default when it was not set), or
    ``ContextVarState.UNSET``. The guard function reads a ContextVar through this (``___cv_get``)."""
    try:
        return var.get()
    except LookupError:
        return ContextVarState.UNSET


@dataclasses.dataclass(frozen=True, slots=True)
class ContextVarValueSource(DerivedSource):
    """The value a ``contextvars.ContextVar`` (``of``) has in the current context, through
    ``contextvar_value``; guarded like any value (by the rule that wraps it)."""

    def wrap(self, base: str) -> str:
        return f"___cv_get({base})"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(contextvar_value)
        cg.load_source(self.of)
        cg.call(1)


_NON_IDENT = re.compile(r"[^0-9a-zA-Z_]+")


def placeholder_name(source: Source) -> str:
    """A graph placeholder name derived from a source: ``L['x'].weight`` -> ``L_x_weight_``."""
    name = _NON_IDENT.sub("_", source.name()).strip("_")
    if not name or name[0].isdigit():
        name = "_" + name
    return name + "_"


@dataclasses.dataclass(frozen=True, slots=True)
class ModuleGlobalsSource(Source):
    """The globals dict of an imported module other than the compiled function's own
    (globals read by an inlined function from another module)."""

    module: str

    def name(self) -> str:
        return f"sys.modules[{self.module!r}].__dict__"

    def guard_expr(self) -> str:
        return f"___modules[{self.module!r}].__dict__"

    def reconstruct(self, cg: SourceCodegen) -> None:
        import sys

        cg.load_const(sys.modules)
        cg.load_const(self.module)
        cg.binary_subscr()
        cg.load_attr("__dict__")


@dataclasses.dataclass(frozen=True, slots=True)
class ModuleSource(Source):
    """An imported module, by name: ``sys.modules[name]`` (what ``import name`` binds)."""

    module: str

    def name(self) -> str:
        return f"sys.modules[{self.module!r}]"

    def guard_expr(self) -> str:
        return f"___modules[{self.module!r}]"

    def reconstruct(self, cg: SourceCodegen) -> None:
        import sys

        cg.load_const(sys.modules)
        cg.load_const(self.module)
        cg.binary_subscr()


@dataclasses.dataclass(frozen=True, slots=True)
class GlobalsDictSource(Source):
    """The compiled function's globals dict itself (``G``): where a builtin's name must stay
    absent for a global read to keep finding the builtin."""

    def name(self) -> str:
        return "G"

    def guard_expr(self) -> str:
        return "___G"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(globals)          # the transformed code runs with the user's globals
        cg.call(0)


def builtins_of(fn_globals: dict[str, Any]) -> dict[str, Any]:
    """The builtins dict a function made with these globals gets (CPython 3.10+:
    ``_PyEval_BuiltinsFromGlobals``, when the function object is made): ``__builtins__``, a
    module's ``__dict__`` if it is a module, the interpreter's builtins if it is missing."""
    import builtins
    import types

    b = fn_globals.get("__builtins__", builtins.__dict__)
    return b.__dict__ if isinstance(b, types.ModuleType) else b


@dataclasses.dataclass(frozen=True, slots=True)
class RootBuiltinsSource(Source):
    """The compiled function's own builtins dict (``fn.__builtins__``: read-only, fixed when the
    function was made), when it is not the interpreter's (code exec'd with its own builtins)."""

    def name(self) -> str:
        return "fn.__builtins__"

    def guard_expr(self) -> str:
        return "___fn.__builtins__"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(builtins_of)      # the transformed function's: made from the same globals
        cg.push_callable(globals)
        cg.call(0)
        cg.call(1)


def ndarray_as_tensor(a: Any) -> torch.Tensor:
    """``torch.from_numpy(a)``, on a copy when ``a`` is read-only (torch has no read-only
    tensors). The builder, the graph call and the guard function (as ``___from_numpy``) all
    convert through it, so they see the same layout. Negative strides raise (ValueError)."""
    return torch.from_numpy(a if a.flags.writeable else a.copy())


@dataclasses.dataclass(frozen=True, slots=True)
class NumpyTensorSource(DerivedSource):
    """The tensor a numpy ndarray (``of``) is in the graph: ``torch.from_numpy(of)``, through
    ``ndarray_as_tensor``. TENSOR_MATCH on it guards the array's dtype, shape and strides."""

    def wrap(self, base: str) -> str:
        return f"___from_numpy({base})"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(ndarray_as_tensor)
        cg.load_source(self.of)
        cg.call(1)


_F64, _CPU = torch.float64, torch.device("cpu")


def float_as_tensor(v: float) -> torch.Tensor:
    """A Python float as the graph takes it: a 0-d float64 CPU tensor holding the very same
    double (torch.compile's calling convention for floats; on the CPU whatever the default
    device, as eager's Python scalars are). ``scalar_tensor`` is the cheapest constructor that
    keeps full precision (about half the cost of ``torch.as_tensor(v, dtype=torch.float64)``)."""
    return _scalar_tensor(v, dtype=_F64, device=_CPU)


_scalar_tensor = torch.scalar_tensor


def float_input_converter() -> Any:
    """``float_as_tensor`` for one graph input, remembering its last float: called again with
    the very same float object (a learning rate between two scheduler steps, a module's
    constant-for-now attribute) it returns the same tensor instead of building one. Sound
    because the graph never writes into its float inputs and never hands them back to the
    program; the (float, tensor) pair is replaced as one tuple, so threads never mix them."""
    memo: tuple[Any, Any] = (None, None)

    def convert(v: float) -> torch.Tensor:
        nonlocal memo
        last = memo
        if last[0] is v:
            return last[1]
        t = _scalar_tensor(v, dtype=_F64, device=_CPU)
        memo = (v, t)
        return t
    return convert


@dataclasses.dataclass(frozen=True, slots=True)
class FloatTensorSource(DerivedSource):
    """The tensor a Python float (``of``) is in the graph: ``float_as_tensor(of)``, built by the
    transformed code on every call (``float_input_converter``). Never guarded itself: ``of``
    has its TYPE_MATCH."""

    new_each_call = True

    def name(self) -> str:
        return f"float_as_tensor({self.of.name()})"

    def wrap(self, base: str) -> str:
        return f"___float_as_tensor({base})"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.push_callable(float_input_converter())
        cg.load_source(self.of)
        cg.call(1)


BACKWARD_STATE = "___bwstate"     # the transformed code's local holding this call's BackwardState


@dataclasses.dataclass(frozen=True, slots=True)
class BackwardStateSource(Source):
    """The graph's backward-state input (``runtime/hooks.py``): ``___bwstate.take()``, the key of
    the hooks this call registers on intermediates, made fresh by the transformed code before
    the graph runs (torch.compile's BackwardStateGraphArg). Never guarded."""

    new_each_call = True

    def name(self) -> str:
        return "backward_state"

    def guard_expr(self) -> str:
        return "___backward_state"

    def reconstruct(self, cg: SourceCodegen) -> None:
        cg.load_local(BACKWARD_STATE)
        cg.load_method_call("take", 0)
