"""GraphFloatVariable: a Python float the graph carries as a 0-d float64 tensor ("tensorified").

For backends that take floats only as tensors (AOTAutograd, Inductor, any callable that does
not declare ``symbolic_floats``), a float that varies between calls is a graph input
``float_as_tensor(v)`` (``sources.FloatTensorSource``), as torch.compile passes it. What the
program does with it, and how each use stays what eager computes:

* **Python arithmetic** (``+ - * /`` with floats, ints and other graph floats; unary ``-``,
  ``+``, ``abs``; ``float()``) is recorded in program order as float64 tensor ops, which are
  correctly rounded IEEE operations like CPython's, so the value is eager's bit for bit.
  Nothing is simplified or reassociated (torch.compile's sympy expressions fold
  ``t + 0.1 + 0.2`` into ``t + 0.30000000000000004``, which differs in the last bit).
* **Comparisons and truth tests** (``if temp > 1.0:``, ``max(lr, 1e-4)``) are decided at trace
  time and guarded by the program's own expression (``(L['t'] * 2.0) > 1.0``), which the guard
  function evaluates in Python, with the same double arithmetic as the program: the graph is
  reused for every value that takes the same branch, and never for one that takes the other.
* **A division** guards its divisor nonzero: CPython raises ZeroDivisionError where a tensor
  would give inf, so a zero divisor recompiles and the trace raises eager's error.
* **Anything else that needs the Python value** (``int()``, ``round``, ``//``, ``%``, ``**``, a
  string, a dict key, an int mixed in symbolically) *specializes*: every input float it is
  computed from is guarded by value (``OutputGraph.specialize_float``) and the trace goes on
  with the constant, as torch.compile specializes what its tensorify pass cannot handle.
* **Passed to a tensor op**, it is the op's operand tensor where that reproduces eager's
  wrapped-number semantics, else ``.item()`` of it, a Python float at run time
  (``graph/float_operands.py`` and ``OutputGraph``).

A graph float leaving the frame (returned, stored, passed to code that runs natively) is
re-read from its source, or, when computed, comes out of the graph and is turned back into
a Python float with ``.item()`` (exact: the tensor holds the double).
"""

from __future__ import annotations

import dataclasses
import math
import operator
from typing import TYPE_CHECKING, Any

import torch

from ..guards import GuardKind, ShapeGuards
from ..sources import Source
from .base import Tx, VariableTracker, fold, pymethod
from .constant import ConstantVariable
from .tensor import TensorVariable

if TYPE_CHECKING:   # type-only: the graph package imports trackers, not the other way round
    from ..graph.output_graph import OutputGraph


@dataclasses.dataclass(frozen=True, slots=True)
class FloatExpr:
    """A graph float as a Python expression over its input floats, in program order: ``code``
    over guard-function names (``(t * 2.0)``), ``shown`` over source names (``(L['t'] * 2.0)``)."""

    code: str
    shown: str
    exact: bool = True    # False where ``code`` cannot be evaluated by the guard function (a symbolic number)

    @classmethod
    def of_source(cls, source: Source) -> "FloatExpr":
        return cls(source.guard_expr(), source.name())

    @classmethod
    def of_const(cls, value: Any) -> "FloatExpr":
        text = f"float({str(value)!r})" if type(value) is float and not math.isfinite(value) else repr(value)
        return cls(text, text)

    def combine(self, symbol: str, other: "FloatExpr") -> "FloatExpr":
        return FloatExpr(f"({self.code} {symbol} {other.code})", f"({self.shown} {symbol} {other.shown})",
                         self.exact and other.exact)

    def apply(self, template: str) -> "FloatExpr":
        return FloatExpr(template.format(self.code), template.format(self.shown), self.exact)


Inputs = tuple[tuple[Source, float], ...]          # the input floats a value is computed from


# Python operators recorded as float64 tensor ops: (tensor op for float OP x, for x OP float).
_ARITHMETIC = {"add": (torch.add, torch.add), "sub": (torch.sub, torch.rsub), "mul": (torch.mul, torch.mul),
               "truediv": (torch.div, None)}
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "truediv": "/",
           "lt": "<", "le": "<=", "eq": "==", "ne": "!=", "gt": ">", "ge": ">="}
_COMPARE = {"lt": operator.lt, "le": operator.le, "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
            "ge": operator.ge}
_VALUE_OPS = {"floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow}   # specialize
_F64 = torch.float64


class GraphFloatVariable(VariableTracker):
    is_graph_float = True

    def __init__(self, graph: "OutputGraph", node: torch.fx.Node, fake: torch.Tensor, value: float,
                 expr: FloatExpr, inputs: Inputs, source: Source | None = None, syms: tuple = ()) -> None:
        super().__init__(source)
        self.graph = graph
        self.node = node              # the 0-d float64 tensor holding the value
        self.fake = fake
        self.value = value            # what this trace saw, computed as CPython computes it
        self.expr = expr
        self.inputs = inputs
        self.syms = syms              # symbolic numbers (SymNodeVariable) it is computed from

    def python_type(self) -> type:
        return float

    def is_constant(self) -> bool:
        return False

    def as_constant(self) -> float:
        """The value, guarding each input float it is computed from by value."""
        self.graph.specialize_float(self, "the program needs this float's value as a Python number")
        return self.value

    def as_tensor(self) -> TensorVariable:
        return TensorVariable(self.node, self.fake)

    def as_graph_arg(self) -> tuple[Any, Any]:
        """As an op's scalar argument: ``.item()`` of the tensor (a Python float at run time)."""
        return self.graph.float_item(self)

    # -- Python semantics ------------------------------------------------------------------
    def truth(self, tx: Tx) -> bool:
        outcome = bool(self.value)
        _guard_condition(tx, self.expr.apply("bool({})"), outcome, self)
        return outcome

    def binary_op(self, tx: Tx, op: str, other: VariableTracker, reflected: bool) -> Any:
        if other.is_symbolic and other.python_type() in (int, float):
            # a number the ShapeEnv tracks (a step counter, ``math.cos(pi * step / T)``): mixed into
            # arithmetic, a graph float computed from its symbols; compared, specialized
            converted = graph_float_of_symbolic(tx, other) if op in _ARITHMETIC else None
            other = converted if converted is not None else tx.wrap_const(other.as_constant())
        if not (isinstance(other, GraphFloatVariable)
                or isinstance(other, ConstantVariable) and type(other.value) in (int, float, bool)):
            return NotImplemented
        left, right = (other, self) if reflected else (self, other)
        if op in _COMPARE:
            outcome = fold(tx, _COMPARE[op], _value(left), _value(right)).as_constant()
            _guard_condition(tx, _expr(left).combine(_SYMBOL[op], _expr(right)), outcome, left, right)
            return tx.wrap_const(outcome)
        if op in _VALUE_OPS:
            return fold(tx, _VALUE_OPS[op], _number(left), _number(right))
        if op not in _ARITHMETIC:
            return NotImplemented
        if op == "truediv" and isinstance(right, GraphFloatVariable):     # (guarded before it raises)
            _guard_condition(tx, right.expr.apply("{} != 0.0"), right.value != 0.0, right)
        value = fold(tx, getattr(operator, op), _value(left), _value(right)).as_constant()  # raises as CPython
        return self._derived(tx, _arithmetic(tx, op, left, right), value, _expr(left).combine(_SYMBOL[op], _expr(right)),
                             _inputs(left, right), _syms(left, right))

    @pymethod("__neg__")
    def _neg(self, tx: Tx) -> VariableTracker:
        return self._derived(tx, tx.graph.call_function(torch.neg, [self.as_tensor()], {}), -self.value,
                             self.expr.apply("(-{})"), self.inputs, self.syms)

    @pymethod("__abs__")
    def _abs(self, tx: Tx) -> VariableTracker:
        return self._derived(tx, tx.graph.call_function(torch.abs, [self.as_tensor()], {}), abs(self.value),
                             self.expr.apply("abs({})"), self.inputs, self.syms)

    @pymethod("__pos__", "__float__")
    def _same(self, tx: Tx) -> VariableTracker:
        return self

    def call_builtin(self, tx: Tx, fn: Any) -> VariableTracker | None:
        """``fn(self)`` for a builtin computed without reading the value, else None (the caller
        folds it on the value, which specializes). ``math.sqrt`` is correctly rounded in IEEE
        arithmetic, so ``torch.sqrt`` on the double is CPython's result; a negative argument
        raises ValueError in CPython (a tensor gives nan), so it is guarded not negative."""
        if fn is float:
            return self
        if fn is math.sqrt:
            _guard_condition(tx, self.expr.apply("{} < 0.0"), self.value < 0.0, self)
            value = fold(tx, math.sqrt, self.value).as_constant()
            return self._derived(tx, tx.graph.call_function(torch.sqrt, [self.as_tensor()], {}), value,
                                 FloatExpr(f"___modules['math'].sqrt({self.expr.code})", f"math.sqrt({self.expr.shown})",
                                           self.expr.exact),
                                 self.inputs, self.syms)
        return None

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if name in type(self)._methods:
            return super().call_method(tx, name, args, kwargs)
        return tx.wrap_const(self.as_constant()).call_method(tx, name, args, kwargs)   # int(), round(), hex()...

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name in type(self)._methods:
            return super().var_getattr(tx, name)
        return tx.wrap_const(self.as_constant()).var_getattr(tx, name)

    def _derived(self, tx: Tx, result: VariableTracker, value: float, expr: FloatExpr, inputs: Inputs,
                 syms: tuple) -> VariableTracker:
        assert isinstance(result, TensorVariable) and result.fake.dtype is _F64, result
        return GraphFloatVariable(self.graph, result.node, result.fake, value, expr, inputs, syms=syms)

    # -- codegen ---------------------------------------------------------------------------
    def reconstruct(self, cg: Any) -> None:
        """An input is re-read from its source; a computed float comes out of the graph as its
        tensor and is turned back into the very same Python float."""
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        cg.load_graph_output(self)
        cg.load_method_call("item", 0)

    def describe(self) -> str:
        where = f" {self.source.name()}" if self.source is not None else f" {self.expr.shown}"
        return f"float{where} (a graph input, as a float64 tensor)"

    def __repr__(self) -> str:
        return f"GraphFloatVariable({self.expr.shown} = {self.value!r})"


def _value(vt: VariableTracker) -> Any:
    return vt.value if isinstance(vt, GraphFloatVariable) else vt.as_constant()


def _number(vt: VariableTracker) -> Any:
    return vt.as_constant()            # specializes a graph float


def _expr(vt: VariableTracker) -> FloatExpr:
    return vt.expr if isinstance(vt, GraphFloatVariable) else FloatExpr.of_const(vt.as_constant())


def _inputs(*vts: VariableTracker) -> Inputs:
    out: dict[Source, float] = {}
    for vt in vts:
        if isinstance(vt, GraphFloatVariable):
            out.update(vt.inputs)
    return tuple(out.items())


def _syms(*vts: VariableTracker) -> tuple:
    out: dict[int, VariableTracker] = {}
    for vt in vts:
        out.update((id(s), s) for s in getattr(vt, "syms", ()))
    return tuple(out.values())


def graph_float_of_symbolic(tx: Tx, vt: VariableTracker) -> GraphFloatVariable | None:
    """A symbolic int or float (SymNodeVariable) as a graph float: ``float(n)`` as a float64
    tensor computed in the graph from the ShapeEnv's symbols, so arithmetic mixing it with
    input floats stays in the graph instead of specializing it (an LR scheduler's
    ``(1 + math.cos(math.pi * step / T)) / 2 * lr``). Its value is the symbol's hint, computed
    by CPython's own arithmetic; its expression cannot be evaluated by the guard function, so a
    comparison or truth test on what it reaches specializes instead (``_guard_condition``).
    None for a number with no hint (data-dependent): the caller specializes it."""
    hint = getattr(getattr(vt.sym, "node", None), "hint", None)
    if hint is None:
        return None
    result = tx.graph.call_function(torch.scalar_tensor, [vt], {"dtype": tx.wrap_const(_F64),
                                                               "device": tx.wrap_const(torch.device("cpu"))})
    assert isinstance(result, TensorVariable), result
    text = f"float({vt.sym})"
    return GraphFloatVariable(tx.graph, result.node, result.fake, float(hint), FloatExpr(text, text, exact=False), (),
                              syms=(vt,))


def _arithmetic(tx: Tx, op: str, left: VariableTracker, right: VariableTracker) -> VariableTracker:
    """``left <op> right`` as one float64 tensor op. A constant operand is a wrapped number (an int
    converted to float first, as CPython converts it), which keeps the result float64; ``c / t``
    divides a float64 constant tensor (eager's ``c / tensor`` would be ``reciprocal(t) * c``)."""
    forward, reflected = _ARITHMETIC[op]
    if isinstance(left, GraphFloatVariable):
        other = right.as_tensor() if isinstance(right, GraphFloatVariable) else tx.wrap_const(float(right.as_constant()))
        return tx.graph.call_function(forward, [left.as_tensor(), other], {})
    constant = float(left.as_constant())
    if reflected is not None:
        return tx.graph.call_function(reflected, [right.as_tensor(), tx.wrap_const(constant)], {})
    numerator = tx.graph.call_function(torch.scalar_tensor, [tx.wrap_const(constant)],
                                       {"dtype": tx.wrap_const(_F64), "device": tx.wrap_const(torch.device("cpu"))})
    return tx.graph.call_function(forward, [numerator, right.as_tensor()], {})


def _guard_condition(tx: Tx, expr: FloatExpr, outcome: bool, *vts: VariableTracker) -> None:
    """Guard the outcome of a test on graph floats ``vts`` by the program's own expression; where
    the guard function cannot evaluate it (a symbolic number mixed in), each float is
    specialized instead: its input floats and symbols guarded by value."""
    if not expr.exact:
        for vt in vts:
            if isinstance(vt, GraphFloatVariable):
                vt.as_constant()
        return
    code, shown = (expr.code, expr.shown) if outcome else (f"not {expr.code}", f"not {expr.shown}")
    tx.guard(None, GuardKind.SHAPE_ENV, ShapeGuards((code,), (shown,)), "a float the program compared")
