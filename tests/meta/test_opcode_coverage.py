"""Every opcode of the running Python version is handled or listed as unsupported with a reason, never both."""

from __future__ import annotations

import dis
import inspect

import pytest

from bytegraph.interpreter import registry

VERSION = registry.CURRENT
HANDLERS = registry.handlers_for_current()      # imports the handler modules, which register
UNSUPPORTED = registry.UNSUPPORTED.get(VERSION, {})

# Table entries that are not opcodes of this version (none known).
NOT_OPCODES_KNOWN: dict[tuple[int, int], set[str]] = {}


def test_version_is_supported():
    assert VERSION in registry.SUPPORTED_VERSIONS
    assert HANDLERS is registry.HANDLERS[VERSION]


@pytest.mark.parametrize("opname", sorted(dis.opmap))
def test_opcode_is_covered_exactly_once(opname):
    handled, unsupported = opname in HANDLERS, opname in UNSUPPORTED
    assert handled or unsupported, f"{opname}: no handler and no UNSUPPORTED reason for {VERSION}"
    assert not (handled and unsupported), f"{opname}: both handled and listed unsupported"


@pytest.mark.parametrize("opname", sorted(UNSUPPORTED))
def test_unsupported_reason_is_not_empty(opname):
    reason = UNSUPPORTED[opname]
    assert isinstance(reason, str) and reason.strip(), f"{opname}: empty reason"


def test_tables_name_only_opcodes_of_this_version():
    stale = (set(HANDLERS) | set(UNSUPPORTED)) - set(dis.opmap) - NOT_OPCODES_KNOWN.get(VERSION, set())
    assert not stale, f"not opcodes of {VERSION} (typo, or registered for the wrong version): {sorted(stale)}"


def test_known_exceptions_are_still_needed():
    # A fixed exception must leave the list, or it would hide a later regression.
    for name in NOT_OPCODES_KNOWN.get(VERSION, set()):
        assert name not in dis.opmap and (name in HANDLERS or name in UNSUPPORTED), name


@pytest.mark.parametrize("opname", sorted(HANDLERS))
def test_handler_follows_house_style(opname):
    fn = HANDLERS[opname]
    assert inspect.isfunction(fn) and fn.__module__.startswith("bytegraph.interpreter.handlers."), opname
    params = list(inspect.signature(fn).parameters)
    assert params[:2] == ["tx", "inst"], f"{fn.__qualname__}: handlers take (tx, inst), got {params}"
    assert (fn.__doc__ or "").strip().startswith("("), f"{fn.__qualname__}: docstring should open with the stack effect"
