"""Every bytegraph module imports only from its own layer or below (DESIGN.md "Layers"), except under TYPE_CHECKING."""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "bytegraph"

# DESIGN.md "Layers": first path component under src/bytegraph -> layer.
LAYERS: dict[str, int] = {
    "diagnostics": 1, "config": 1, "torch_compat": 1,
    "sources": 2, "guards": 2,
    "variables": 3, "graph": 3, "side_effects": 3,
    "builder": 4, "codegen": 4,
    "interpreter": 5,
    "runtime": 6, "backends": 6, "api": 6, "__main__": 6, "__init__": 6, "testing": 6, "demo": 6, "docsgen": 6, "zoo": 6,
}

# (importing module, imported module) pairs that break the layering today, each with why.
# Empty: the code follows the layers. Add an entry only with a comment and an issue.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """Layer of a bytegraph module (``bytegraph`` itself is its ``__init__``: layer 6)."""
    parts = module.split(".")[1:]
    return LAYERS.get(parts[0] if parts else "__init__")


def _is_module(dotted: str) -> bool:
    path = SRC.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(tree: ast.Module, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, imported bytegraph module) for every import anywhere in the tree — module level,
    inside functions and classes, relative or absolute — except inside ``if TYPE_CHECKING:``."""
    package = module if is_package else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:      # the else branch runs for real
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "bytegraph")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                frm = ".".join(base + ([node.module] if node.module else []))
            else:
                frm = node.module or ""
            if frm.split(".")[0] == "bytegraph":
                for a in node.names:       # `from . import handlers` imports a submodule
                    sub = f"{frm}.{a.name}"
                    out.append((node.lineno, sub if _is_module(sub) else frm))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def violations(path: pathlib.Path, source: str | None = None, module: str | None = None) -> list[str]:
    module = module or module_name(path)
    tree = ast.parse(source if source is not None else path.read_text(), str(path))
    mine = layer_of(module)
    found = []
    for line, target in imported_modules(tree, module, path.name == "__init__.py"):
        theirs = layer_of(target)
        if theirs is None:
            found.append(f"{path.name}:{line}: {module} imports {target}, which has no layer in DESIGN.md")
        elif mine is not None and theirs > mine and (module, target) not in KNOWN_VIOLATIONS:
            found.append(f"{path.name}:{line}: {module} (layer {mine}) imports {target} (layer {theirs})")
    return found


MODULES = sorted(SRC.rglob("*.py"))


def test_modules_found():
    assert len(MODULES) > 30 and SRC / "sources.py" in MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_has_a_layer(path):
    assert layer_of(module_name(path)) is not None, f"{module_name(path)}: add it to DESIGN.md Layers and LAYERS"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_respect_layers(path):
    assert violations(path) == []


def test_known_violations_still_exist():
    # A fixed violation must leave KNOWN_VIOLATIONS, or it would hide a regression.
    seen = {(module_name(p), t) for p in MODULES
            for _, t in imported_modules(ast.parse(p.read_text()), module_name(p), p.name == "__init__.py")}
    assert KNOWN_VIOLATIONS <= seen


# -- the checker itself catches what it should ------------------------------------------------

FAKE = SRC / "guards" / "fake.py"      # a layer-2 module (never written to disk)


@pytest.mark.parametrize("code", [
    "from ..builder import rules",                         # relative, module level
    "import bytegraph.interpreter.translator",             # absolute
    "from bytegraph.variables.base import VariableTracker",
    "def f():\n    from ..runtime import cache\n",          # inside a function
    "class C:\n    def m(self):\n        import bytegraph.api\n",
    "from .. import docsgen",                              # submodule through `from package import`
    "import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    from ..graph import output_graph\n",
])
def test_checker_flags_upward_imports(code):
    assert len(violations(FAKE, code, "bytegraph.guards.fake")) == 1


@pytest.mark.parametrize("code", [
    "from ..sources import Source",                        # lower layer
    "from .guard import Guard",                            # same layer
    "from ..diagnostics import breaks",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..interpreter.translator import InstructionTranslator\n",
    "import torch\nimport ast\n",                          # not bytegraph
])
def test_checker_allows_downward_imports(code):
    assert violations(FAKE, code, "bytegraph.guards.fake") == []


def test_layer_of_package_and_modules():
    assert layer_of("bytegraph") == 6
    assert layer_of("bytegraph.diagnostics.breaks") == 1
    assert layer_of("bytegraph.interpreter.handlers.calls") == 5
    assert layer_of("bytegraph.nowhere") is None
