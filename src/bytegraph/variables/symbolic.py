"""SymNodeVariable: a symbolic int, float or bool (``x.shape[0]`` of a dynamic tensor, a local
int that varies between calls), computed in the graph.

Arithmetic and comparisons on it are graph nodes over torch's SymInt/SymFloat/SymBool.
When the program needs a real Python value (``range(n)``, ``if n > 3``, indexing a list),
``as_constant()`` / ``truth()`` *specialize*: torch's ShapeEnv records a guard for the value
seen (``x.size()[0] == 8``, or ``8 < x.size()[0]``) and the trace goes on with the constant.
``is_constant()`` never specializes, so probing code keeps things symbolic.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import Tx, VariableTracker, pymethod

SYM_TYPES = (torch.SymInt, torch.SymFloat, torch.SymBool)
_PY_TYPE = {torch.SymInt: int, torch.SymFloat: float, torch.SymBool: bool}


def is_symbolic(value: Any) -> bool:
    return isinstance(value, SYM_TYPES)


class SymNodeVariable(VariableTracker):
    is_symbolic = True

    def __init__(self, node: torch.fx.Node, sym: Any, source: Any = None) -> None:
        super().__init__(source)
        self.node = node
        self.sym = sym

    def python_type(self) -> type:
        return _PY_TYPE[type(self.sym)]

    def is_constant(self) -> bool:
        return False

    def as_constant(self) -> Any:
        """The concrete value, guarded by the ShapeEnv (specialization)."""
        return self.python_type()(self.sym)

    def truth(self, tx: Tx) -> bool:
        return bool(self.sym)

    def as_graph_arg(self) -> tuple[Any, Any]:
        return self.node, self.sym

    @pymethod("__index__", "__int__")
    def _index(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(int(self.sym))

    @pymethod("__float__")
    def _float(self, tx: Tx) -> VariableTracker:
        return tx.wrap_const(float(self.sym))

    def reconstruct(self, cg: Any) -> None:
        if self.source is not None:
            self.source.reconstruct(cg)
        else:
            cg.load_graph_output(self)

    def describe(self) -> str:
        return f"symbolic {self.python_type().__name__} {self.sym}"

    def __repr__(self) -> str:
        return f"SymNodeVariable({self.sym})"


class SliceVariable(VariableTracker):
    """A slice with a symbolic bound (``x[: n // 2]``): kept symbolic for tensor indexing;
    ``as_constant()`` (slicing a list, say) specializes its bounds."""

    def __init__(self, parts: list[VariableTracker]) -> None:
        super().__init__(None)
        self.parts = parts

    def python_type(self) -> type:
        return slice

    def is_constant(self) -> bool:
        return False

    def as_constant(self) -> Any:
        return slice(*[p.as_constant() for p in self.parts])

    def as_graph_arg(self) -> tuple[Any, Any]:
        pairs = [p.as_graph_arg() for p in self.parts]
        return slice(*[a for a, _ in pairs]), slice(*[f for _, f in pairs])
