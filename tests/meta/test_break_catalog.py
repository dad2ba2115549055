"""The graph-break catalog is well formed, every `breaks.X` used in src exists, and docs/ equals a fresh docsgen render."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

from bytegraph import docsgen
from bytegraph.diagnostics import breaks
from bytegraph.diagnostics.breaks import CATALOG, BreakKind

ROOT = pathlib.Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "bytegraph"
ENTRIES = sorted(CATALOG.values(), key=lambda k: k.id)


def test_catalog_is_not_empty():
    assert len(CATALOG) >= 10


def test_keys_are_ids():
    assert all(key == kind.id for key, kind in CATALOG.items())


def test_ids_unique_and_well_formed():
    ids = [k.id for k in CATALOG.values()]
    assert len(ids) == len(set(ids))
    bad = [i for i in ids if not re.fullmatch(r"GB\d{3}", i)]
    assert not bad, f"ids must be GB + 3 digits: {bad}"


def test_every_constant_is_registered_once():
    consts = {name: v for name, v in vars(breaks).items() if isinstance(v, BreakKind)}
    assert {v.id for v in consts.values()} == set(CATALOG), "a BreakKind outside CATALOG, or an entry with no name"
    assert all(CATALOG[v.id] is v for v in consts.values())
    assert len({id(v) for v in consts.values()}) == len(consts), "two names for one entry"


@pytest.mark.parametrize("kind", ENTRIES, ids=lambda k: k.id)
def test_entry_has_title_why_fix(kind):
    for field in ("title", "why", "fix"):
        text = getattr(kind, field)
        assert isinstance(text, str) and text.strip() == text and text, f"{kind.id}.{field} is empty or untrimmed"


def test_titles_are_unique():
    titles = [k.title for k in ENTRIES]
    assert len(titles) == len(set(titles))


# -- every reference in src names a real entry -----------------------------------------------

def breaks_references(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, NAME) for ``breaks.NAME`` where ``breaks`` is bound by an import of
    ``bytegraph.diagnostics.breaks``, and for ``from ...breaks import NAME``."""
    aliases: set[str] = set()
    refs: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            for a in node.names:
                if a.name == "breaks" and (mod.endswith("diagnostics") or mod == ""):
                    aliases.add(a.asname or a.name)
                elif mod.endswith("diagnostics.breaks") or mod == "breaks":
                    refs.append((node.lineno, a.name))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.endswith("diagnostics.breaks") and a.asname:
                    aliases.add(a.asname)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            refs.append((node.lineno, node.attr))
    return refs


def _unknown(refs: list[tuple[int, str]]) -> list[str]:
    out = []
    for line, name in refs:
        value = getattr(breaks, name, None)
        if value is None:
            out.append(f"{line}: breaks.{name} does not exist")
        elif isinstance(value, BreakKind) and CATALOG.get(value.id) is not value:
            out.append(f"{line}: breaks.{name} is not in CATALOG")
    return out


USERS = [p for p in sorted(SRC.rglob("*.py")) if p.name != "breaks.py"]


def test_src_refers_to_breaks():
    assert sum(len(breaks_references(ast.parse(p.read_text()))) for p in USERS) >= 20


@pytest.mark.parametrize("path", USERS, ids=lambda p: str(p.relative_to(SRC)))
def test_references_exist(path):
    assert _unknown(breaks_references(ast.parse(path.read_text()))) == []


def test_reference_check_can_fail():
    tree = ast.parse("from ..diagnostics import breaks\n"
                     "raise Unsupported(breaks.NO_SUCH_KIND, 'x')\n"
                     "from ..diagnostics.breaks import ALSO_MISSING\n"
                     "ok = breaks.UNSUPPORTED_OPCODE\n")
    assert sorted(_unknown(breaks_references(tree))) == [
        "2: breaks.NO_SUCH_KIND does not exist", "3: breaks.ALSO_MISSING does not exist"]


# -- docs cannot drift ---------------------------------------------------------------------------

@pytest.mark.parametrize("page", sorted(docsgen.PAGES))
def test_docs_match_a_fresh_render(page):
    path = ROOT / "docs" / page
    assert path.is_file(), f"docs/{page} is missing: run `python -m bytegraph docs`"
    assert path.read_text(encoding="utf-8") == docsgen.PAGES[page](), (
        f"docs/{page} is stale: run `python -m bytegraph docs` and commit the result")


def test_breaks_page_lists_every_entry_in_order():
    text = docsgen.render_breaks()
    positions = [text.index(f"## {k.id}\n") for k in ENTRIES]
    assert positions == sorted(positions)
    for k in ENTRIES:
        section = text[text.index(f"## {k.id}\n"):]
        assert k.title in section and k.why in section and k.fix in section
    assert "python -m bytegraph docs" in text.split("\n## ")[0]


def test_write_docs_writes_the_three_pages(tmp_path):
    paths = docsgen.write_docs(tmp_path / "out")
    assert sorted(p.name for p in paths) == ["breaks.md", "builder.md", "opcodes.md"]
    for p in paths:
        assert p.parent == tmp_path / "out" and p.read_text(encoding="utf-8") == docsgen.PAGES[p.name]()
