"""VariableTracker, the protocol every tracker follows, and the ``tx`` context it receives.

A tracker stands for one Python value while tracing. It knows its ``source`` (where the
value came from, or None for values created during tracing) and answers the questions
the interpreter asks: its Python type, whether it is a known constant, attribute reads,
calls, method calls, iteration, truthiness, and how to rebuild it after the graph runs.

Identity: one Python object is one tracker (the builder's identity map). Container
trackers hold the symbolic contents of their object and change in place when traced
code mutates a container created during tracing; mutations of objects that existed
before the call are side effects (recorded by ``tx``), never applied during tracing.

Methods of Python types (``list.append``, ``dict.items``) are table entries, declared
with ``@pymethod("append")`` on the tracker class and inherited by subclasses.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Callable, Protocol

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..guards import GuardKind
from ..sources import Source

if TYPE_CHECKING:   # type-only: the graph package imports trackers, not the other way round
    from ..graph.output_graph import OutputGraph


class NotConstant(Exception):
    """Raised by ``as_constant()`` on a tracker whose value is not known at trace time; says what
    it is (a tracker's ``describe()``, made only when shown: ``is_constant()`` raises it often)."""

    def __str__(self) -> str:
        what = self.args[0] if self.args else ""
        return what.describe() if hasattr(what, "describe") else str(what)


class Tx(Protocol):
    """What trackers may ask of the translator."""

    graph: "OutputGraph"

    def wrap(self, value: Any, source: Source) -> "VariableTracker": ...
    def wrap_const(self, value: Any) -> "VariableTracker": ...
    def wrap_new(self, value: Any) -> "VariableTracker": ...
    def guard(self, source: Source | None, kind: GuardKind, payload: Any, reason: str) -> None: ...
    def inline_call(self, fn: "VariableTracker", args: list["VariableTracker"],
                    kwargs: dict[str, "VariableTracker"]) -> "VariableTracker": ...
    def call(self, fn: "VariableTracker", args: list["VariableTracker"],
             kwargs: dict[str, "VariableTracker"]) -> "VariableTracker": ...
    def mutation(self, vt: "VariableTracker", what: str) -> None: ...
    def frame_locals(self) -> "VariableTracker": ...
    def local_mutation(self, vt: "VariableTracker", what: str) -> None: ...
    def pin_identity(self, vt: "VariableTracker") -> int: ...


def pymethod(*names: str) -> Callable[[Callable], Callable]:
    """Declare a tracker method as the model of the Python methods ``names``."""
    def deco(fn: Callable) -> Callable:
        fn.__pymethods__ = names   # type: ignore[attr-defined]
        return fn
    return deco


def fold(tx: Tx, fn: Callable, *args: Any, **kwargs: Any) -> "VariableTracker":
    """Evaluate ``fn`` on constant values at trace time; an exception is the user's own. The
    result is the trace's own (``wrap_new``): an object it is is rebuilt, not shared, at run time."""
    try:
        result = fn(*args, **kwargs)
    except Exception as e:   # noqa: BLE001 - the user's code raised: it reaches them unchanged
        raise UserCodeError(e) from e
    return tx.wrap_new(result)


def constant_args(args: list["VariableTracker"], kwargs: dict[str, "VariableTracker"]) -> tuple[list[Any], dict[str, Any]]:
    """A call's arguments as the values they are known to be at trace time (NotConstant if one is not)."""
    return [a.as_constant() for a in args], {k: v.as_constant() for k, v in kwargs.items()}


_SERIALS = itertools.count(1)


def next_serial() -> int:
    """A serial greater than every tracker's made so far (and less than every later one's)."""
    return next(_SERIALS)


# Python's scalar types where torch takes a dtype (``torch.tensor(x, dtype=int)``, ``t.to(float)``)
PY_DTYPES = {int: torch.int64, float: torch.float64, bool: torch.bool, complex: torch.complex128}


def graph_constant(value: Any) -> Any:
    """A constant as a graph op's argument: a Python scalar type is the dtype torch reads it as
    (fx would write the class as ``<class 'int'>``, which is not Python)."""
    return PY_DTYPES.get(value, value) if type(value) is type else value


class VariableTracker:
    """Base tracker. Subclasses override what their Python type supports.

    ``serial`` orders trackers by creation: a higher-order op body may change only objects made
    after it began (``CaptureState.check_body_mutation``)."""

    _methods: dict[str, Callable] = {}
    is_tensor = False         # operators on tensors go into the graph...
    is_symbolic = False       # ...and so do operators on symbolic numbers (SymNodeVariable)
    is_graph_float = False    # a Python float the graph carries as a tensor (variables/floats.py)
    identity_matters = False  # a mutable object: rebuilt once per frame, however often it is reached
    serial = 0                # (a subclass that skips __init__ counts as made before everything)
    static_identity = False   # a builtin or a Python module: the same object at run time, even without a source
    models_type = False       # the pymethods model its Python type's own methods: a Python function of that type
                              # called on it (``type(cm).__enter__(cm)``) runs the model (UserFunctionVariable)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        table = dict(cls._methods)
        for attr in cls.__dict__.values():
            for name in getattr(attr, "__pymethods__", ()):
                table[name] = attr
        cls._methods = table

    def __init__(self, source: Source | None = None) -> None:
        self.source = source
        self.serial = next(_SERIALS)

    # -- identity and type ---------------------------------------------------------------
    def python_type(self) -> type:
        raise unsupported_value(self, "its Python type is not known")

    def realize(self) -> "VariableTracker":
        return self

    def is_constant(self) -> bool:
        try:
            self.as_constant()
        except NotConstant:
            return False
        return True

    def as_constant(self) -> Any:
        raise NotConstant(self)

    # -- operations ----------------------------------------------------------------------
    def var_getattr(self, tx: Tx, name: str) -> "VariableTracker":
        if name in type(self)._methods:
            return BoundMethodVariable(self, name)
        raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"{self.describe()}.{name}")

    def call_function(self, tx: Tx, args: list["VariableTracker"], kwargs: dict[str, "VariableTracker"]) -> "VariableTracker":
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"calling {self.describe()}")

    def call_method(self, tx: Tx, name: str, args: list["VariableTracker"],
                    kwargs: dict[str, "VariableTracker"]) -> "VariableTracker":
        impl = type(self)._methods.get(name)
        if impl is not None:
            return impl(self, tx, *args, **kwargs)
        attr = self.var_getattr(tx, name)
        if isinstance(attr, BoundMethodVariable) and attr.obj is self:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"method {name}() of {self.describe()}")
        return tx.call(attr, args, kwargs)

    def unpack(self, tx: Tx) -> list["VariableTracker"]:
        """The items of iterating this value (materialized: trace-time iteration is finite)."""
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"iterating over {self.describe()}")

    def truth(self, tx: Tx) -> bool:
        if self.is_constant():
            return bool(self.as_constant())
        raise Unsupported(breaks.DYNAMIC_CONTROL, f"truth value of {self.describe()}")

    def binary_op(self, tx: Tx, op: str, other: "VariableTracker", reflected: bool) -> Any:
        """``self <op> other`` (or ``other <op> self`` when reflected), or NotImplemented."""
        return NotImplemented

    def getitem(self, tx: Tx, key: "VariableTracker") -> "VariableTracker":
        return self.call_method(tx, "__getitem__", [key], {})

    def as_graph_arg(self) -> tuple[Any, Any]:
        """(fx argument, fake-tensor argument) for passing this value into a graph op."""
        try:
            v = self.as_constant()
        except NotConstant:
            raise Unsupported(breaks.UNSUPPORTED_VALUE, f"passing {self.describe()} to a tensor operation") from None
        v = graph_constant(v)
        return v, v

    # -- codegen -------------------------------------------------------------------------
    def replayable(self) -> bool:
        """Whether a mutation of this object can be written back after the graph (it can be re-read)."""
        return self.source is not None

    def replay(self, cg: Any) -> None:
        """Write this (pre-existing, mutated) object's final state back to the real object."""
        raise Unsupported(breaks.SIDE_EFFECT, f"replaying a mutation of {self.describe()}")

    def replay_values(self) -> list["VariableTracker"]:
        """The trackers ``replay`` rebuilds (new items, attribute values): side effects build them
        all before writing anything back, so each is the value as the trace read it."""
        return []

    def changes_nothing(self) -> bool:
        """Whether the final state is the state the trace found (a value swapped in and
        restored, as ``functional_call`` and patching context managers do): no write-back."""
        return False

    def reconstruct_method(self, cg: Any, name: str) -> None:
        """Push the bound method ``value.name`` (a BoundMethodVariable being rebuilt)."""
        cg.reconstruct(self)
        cg.load_attr(name)

    def reconstruct(self, cg: Any) -> None:
        """Emit bytecode that pushes this value, after the graph has run."""
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        if self.is_constant():
            cg.load_const(self.as_constant())
            return
        raise Unsupported(breaks.NON_TENSOR_OUTPUT, f"{self.describe()} created during tracing")

    # -- diagnostics ---------------------------------------------------------------------
    def describe(self) -> str:
        where = f" from {self.source.name()}" if self.source is not None else ""
        try:
            tname = self.python_type().__qualname__
        except Unsupported:
            tname = type(self).__name__
        return f"a {tname}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source.name() if self.source else ''})"


def unsupported_value(vt: VariableTracker, why: str) -> Unsupported:
    return Unsupported(breaks.UNSUPPORTED_VALUE, f"{type(vt).__name__}: {why}")


class LazyVariableTracker(VariableTracker):
    """A sourceful value not wrapped yet: built (and guarded) only when traced code uses it.

    Containers hold their items, and frames their arguments, this way, so an element the
    code never reads installs no guard. ``realize()`` runs the builder once."""

    def __init__(self, value: Any, source: Source, build: Callable[[Any, Source], VariableTracker]) -> None:
        super().__init__(source)
        self.value = value
        self._build = build
        self._vt: VariableTracker | None = None

    def realize(self) -> VariableTracker:
        if self._vt is None:
            self._vt = self._build(self.value, self.source)
            self.value = None
        return self._vt

    def peek_type(self) -> type:
        """The Python type, without building (and so without guarding) the value."""
        return type(self.value) if self._vt is None else self._vt.python_type()


class BoundMethodVariable(VariableTracker):
    """``obj.name`` where ``name`` is a method of obj's Python type modelled by the tracker
    itself (``lst.append``, ``x.relu``, ``"s".format``): calling it is ``obj.call_method``."""

    def __init__(self, obj: VariableTracker, name: str) -> None:
        super().__init__(None)
        self.obj = obj
        self.name = name

    def python_type(self) -> type:
        return type(len)   # builtin_function_or_method, as for C-level bound methods

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        return self.obj.call_method(tx, self.name, args, kwargs)

    def reconstruct(self, cg: Any) -> None:
        """``obj.name`` at run time (the object decides how, e.g. a grad-mode ``__exit__``)."""
        self.obj.reconstruct_method(cg, self.name)

    def describe(self) -> str:
        return f"method {self.name}() of {self.obj.describe()}"


class NullVariable(VariableTracker):
    """The NULL CPython pushes below a callable (PUSH_NULL, LOAD_GLOBAL with the null bit)."""

    def python_type(self) -> type:
        return type(None)

    def reconstruct(self, cg: Any) -> None:
        cg.emit("PUSH_NULL")


NULL = NullVariable()
