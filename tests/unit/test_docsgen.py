"""docsgen renders the builder, opcode and break pages from the code, deterministically."""

from __future__ import annotations

import dis
import re

from bytegraph import docsgen
from bytegraph.builder.rules import RULES
from bytegraph.interpreter import registry


def _table_rows(text: str, header: str) -> list[list[str]]:
    lines = text[text.index(header):].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_rendering_is_deterministic():
    for render in docsgen.PAGES.values():
        assert render() == render()


def test_builder_table_follows_rule_order():
    rows = _table_rows(docsgen.render_builder(), "| # | rule |")
    assert [r[1] for r in rows] == [r.name for r in RULES]
    assert [r[0] for r in rows] == [str(i) for i in range(1, len(RULES) + 1)]
    for row, rule in zip(rows, RULES):
        assert row[3] == (", ".join(k.name for k in rule.guards) or "none")
        assert row[4] == ("yes" if rule.tracks_identity else "no")


def test_builder_page_describes_predicates_and_docstrings():
    text = docsgen.render_builder()
    rows = {r[1]: r[2] for r in _table_rows(text, "| # | rule |")}
    assert rows["python function"] == "`isinstance(v, types.FunctionType)`"      # a lambda, shown as written
    assert rows["literal"].startswith("`is_literal`: True for immutable values")   # a docstring's first line
    assert rows["tensor"] == "`is_plain_tensor`: `type(value) in (torch.Tensor, torch.nn.Parameter)`"
    for i, rule in enumerate(RULES, 1):
        assert f"### {i}. {rule.name}\n" in text
        assert rule.doc.splitlines()[0].strip() in text


def test_builder_page_lists_triton_as_rules_and_streams_not_supported():
    text = docsgen.render_builder()
    section = text[text.index("## Not yet supported"):]
    rows = _table_rows(section, "| what |")
    assert [r[0] for r in rows] == ["CUDA streams and events", "Triton's experimental TMA descriptors"]
    assert "GPU only" in rows[0][2]
    rules = text[:text.index("## Not yet supported")]
    assert "triton kernel" in rules and "triton tensor descriptor" in rules


def test_opcode_page_has_every_opcode():
    rows = _table_rows(docsgen.render_opcodes(), "| opcode | name |")
    assert [r[1].strip("`") for r in rows] == [op for op, _ in sorted(dis.opmap.items(), key=lambda kv: kv[1])]
    handlers = registry.handlers_for_current()
    for num, name, status, what, _ in rows:
        name = name.strip("`")
        assert int(num) == dis.opmap[name]
        if status == "handled":
            assert what == f"`{handlers[name].__module__.rsplit('.', 1)[-1]}.{handlers[name].__name__}`"
        else:
            assert status == "unsupported" and what.replace("\\|", "|") == registry.UNSUPPORTED[registry.CURRENT][name]


def test_pages_say_how_to_regenerate():
    for render in docsgen.PAGES.values():
        head = render().split("\n\n")[1]
        assert "Generated" in head and "python -m bytegraph docs" in head


def test_main_docs_command_writes_into_the_folder(tmp_path, capsys):
    from bytegraph.__main__ import main

    assert main(["docs", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["breaks.md", "builder.md", "opcodes.md"]
    assert (tmp_path / "breaks.md").read_text() == docsgen.render_breaks()
