"""torch's private modules are reached only through bytegraph/torch_compat.py (DESIGN decision 38).

A private torch module is ``torch._X`` (any depth), ``torch.utils._X`` or ``torch.fx.experimental``.
Outside torch_compat.py no module may import one (at any depth, also inside functions) or read
one as an attribute chain (``torch._guards.tracing``, ``torch._C._functorch.X``). Private
*functions* bound in a namespace every torch has (``torch._sym_sqrt``, the C extension's own
``torch._C._set_grad_enabled``) are not modules: they are allowed.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import re
import types

import pytest
import torch

import bytegraph.torch_compat as compat

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "bytegraph"
PRIVATE = re.compile(r"^torch\.(_|utils\._|fx\.experimental(\.|$))")


def _is_private_module(dotted: str) -> bool:
    return bool(PRIVATE.match(dotted))


def _attribute_chain(node: ast.Attribute) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "torch":
        return ".".join(["torch", *reversed(parts)])
    return None


def private_uses(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, what) for every import of a private torch module and every attribute chain
    ``torch._x...`` whose ``torch._x`` is a module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_private_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            found += [(node.lineno, name) for name in names if _is_private_module(name)][:1]
        elif isinstance(node, ast.Attribute) and not isinstance(getattr(node, "_parent", None), ast.Attribute):
            chain = _attribute_chain(node)
            module = chain and _deepest_module(chain)
            if module and module != "torch._C" and _is_private_module(module):
                found.append((node.lineno, chain))
    return found


def _deepest_module(chain: str) -> str:
    """The longest prefix of ``torch.a.b.c`` that is a module (``torch._C`` for ``torch._C._set_grad_enabled``)."""
    value, deepest, parts = torch, "torch", chain.split(".")
    for i, part in enumerate(parts[1:], 2):
        value = getattr(value, part, None)
        if not isinstance(value, types.ModuleType):
            break
        deepest = ".".join(parts[:i])
    return deepest


def _parented(tree: ast.Module) -> ast.Module:
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            child._parent = parent
    return tree


MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "torch_compat.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_torch_outside_torch_compat(path):
    uses = private_uses(_parented(ast.parse(path.read_text(), str(path))))
    assert not uses, (f"{path.relative_to(SRC)} reaches torch's private modules directly: "
                      + ", ".join(f"line {line}: {what}" for line, what in uses)
                      + "; add a row to bytegraph/torch_compat.py _NAMES and import the name from there")


def test_the_checker_sees_every_form():
    src = ("import torch._dynamo\nfrom torch._guards import Source\nfrom torch.fx.experimental.symbolic_shapes "
           "import ShapeEnv\nfrom torch.utils import _pytree\ny = torch._guards.tracing\nz = torch._sym_sqrt\n"
           "g = torch._C._set_grad_enabled\nh = torch._C._functorch.get_inplace_requires_grad_allowed\n")
    assert [line for line, _ in private_uses(_parented(ast.parse(src)))] == [1, 2, 3, 4, 5, 8]


@pytest.mark.parametrize("name", sorted(compat._NAMES))
def test_every_row_resolves_on_this_torch(name):
    assert getattr(compat, name) is not None


def test_a_missing_name_says_which_torch_and_what_was_tried(monkeypatch):
    monkeypatch.setitem(compat._NAMES, "Gone", ("torch._nowhere:Gone", "torch._guards:Gone"))
    with pytest.raises(ImportError, match=rf"torch {re.escape(torch.__version__)} .*torch\._nowhere:Gone "
                                          r"\(ModuleNotFoundError\), torch\._guards:Gone \(AttributeError\)"):
        compat._resolve("Gone")


def test_a_later_candidate_is_used_when_the_first_is_missing(monkeypatch):
    monkeypatch.setitem(compat._NAMES, "Moved", ("torch._nowhere:TracingContext", "torch._guards:TracingContext"))
    assert compat._resolve("Moved") is importlib.import_module("torch._guards").TracingContext
