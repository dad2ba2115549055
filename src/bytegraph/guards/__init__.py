"""Guards: the conditions under which a captured graph may be reused (layer 2).

``guard.py`` defines the values (Guard, GuardKind, GuardSet); ``codegen.py`` compiles a
GuardSet into one Python function with the user function's own signature, and explains
which guard failed on a cache miss.
"""

from .guard import Guard, GuardKind, GuardSet, IdRef, ShapeGuards, TensorSpec

__all__ = ["Guard", "GuardKind", "GuardSet", "IdRef", "ShapeGuards", "TensorSpec"]
