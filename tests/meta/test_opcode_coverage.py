"""Every opcode of every supported Python version (3.11, 3.12, 3.13) is handled or listed as
unsupported with a reason, never both; checked from whichever version runs the suite (the
opcode tables of all three are data: ``interpreter/opcodes.py``, itself checked against the
running version's ``dis.opmap``)."""

from __future__ import annotations

import dis
import inspect
import pathlib
import re

import pytest

import bytegraph
from bytegraph.interpreter import registry
from bytegraph.interpreter.opcodes import OPCODES

VERSIONS = registry.SUPPORTED_VERSIONS
registry.load_all()            # imports the handler modules, which register
HANDLERS, UNSUPPORTED = registry.HANDLERS, registry.UNSUPPORTED


def _name(v):
    return "%d.%d" % v


def test_running_version_is_supported_and_its_opcode_table_is_its_dis_opmap():
    assert registry.CURRENT in VERSIONS
    assert registry.handlers_for_current() is HANDLERS[registry.CURRENT]
    assert OPCODES[registry.CURRENT] == dis.opmap, "regenerate this version's row of interpreter/opcodes.py"


def test_every_supported_version_has_an_opcode_table_and_the_import_check_agrees():
    assert tuple(OPCODES) == VERSIONS == bytegraph.SUPPORTED_PYTHON


@pytest.mark.parametrize("version,opname", [(v, op) for v in VERSIONS for op in sorted(OPCODES[v])],
                         ids=lambda x: _name(x) if isinstance(x, tuple) else x)
def test_opcode_is_covered_exactly_once(version, opname):
    handled, unsupported = opname in HANDLERS[version], opname in UNSUPPORTED[version]
    assert handled or unsupported, f"{opname}: no handler and no UNSUPPORTED reason for {_name(version)}"
    assert not (handled and unsupported), f"{opname}: both handled and listed unsupported on {_name(version)}"


@pytest.mark.parametrize("version,opname", [(v, op) for v in VERSIONS for op in sorted(UNSUPPORTED[v])],
                         ids=lambda x: _name(x) if isinstance(x, tuple) else x)
def test_unsupported_reason_is_not_empty(version, opname):
    reason = UNSUPPORTED[version][opname]
    assert isinstance(reason, str) and reason.strip(), f"{opname}: empty reason"


@pytest.mark.parametrize("version", VERSIONS, ids=_name)
def test_tables_name_only_opcodes_of_their_version(version):
    stale = (set(HANDLERS[version]) | set(UNSUPPORTED[version])) - set(OPCODES[version])
    assert not stale, f"not opcodes of {_name(version)} (typo, or registered for the wrong version): {sorted(stale)}"


_ALL_HANDLERS = sorted({(fn.__module__, fn.__qualname__): fn for table in HANDLERS.values()
                        for fn in table.values()}.items())


@pytest.mark.parametrize("fn", [fn for _, fn in _ALL_HANDLERS], ids=[".".join(k) for k, _ in _ALL_HANDLERS])
def test_handler_follows_house_style(fn):
    assert inspect.isfunction(fn) and fn.__module__.startswith("bytegraph.interpreter.handlers."), fn
    params = list(inspect.signature(fn).parameters)
    assert params[:2] == ["tx", "inst"], f"{fn.__qualname__}: handlers take (tx, inst), got {params}"
    assert (fn.__doc__ or "").strip().startswith("("), f"{fn.__qualname__}: docstring should open with the stack effect"


def _body(fn):
    code = fn.__code__
    return code.co_code, tuple(c for c in code.co_consts if c != fn.__doc__), code.co_names


@pytest.mark.parametrize("opname", sorted({op for table in HANDLERS.values() for op in table}))
def test_a_handler_that_is_the_same_on_every_version_is_registered_once(opname):
    """Versions differ by registering a different handler; two handlers of one opcode that do the
    same thing are one handler registered for both."""
    fns = list({id(t[opname]): t[opname] for t in HANDLERS.values() if opname in t}.values())
    bodies = [_body(fn) for fn in fns]
    assert len(set(bodies)) == len(bodies), f"{opname}: {[f.__qualname__ for f in fns]} are the same handler"


def test_only_the_version_tables_look_at_the_python_version():
    """Version differences live in the handler registry and the codegen dialect table, never as
    ``sys.version_info`` checks inside handlers, trackers or codegen."""
    root = pathlib.Path(bytegraph.__file__).parent
    allowed = {"__init__.py", "interpreter/registry.py", "codegen/versions.py"}
    readers = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
               if re.search(r"version_info|PY31[0-9]|python_version", p.read_text(encoding="utf-8"))}
    assert readers <= allowed, f"version checks outside the version tables: {sorted(readers - allowed)}"
