"""codegen/resume.py: the code objects a graph break continues in (resume functions, and the
generators rebuilt for a generator that outlives its trace), run directly, without tracing."""

import dis
import gc
import types

import pytest

from bytegraph.codegen.resume import GlobalsRef, make_resume_code, origin_of, start_generator


def _index(code, opname, nth=0, arg=None):
    """The index (in instructions, as the translator counts them) of the nth ``opname`` (with
    argument ``arg`` if given)."""
    import bytecode

    instrs = [i for i in bytecode.Bytecode.from_code(code) if isinstance(i, bytecode.Instr)]
    return [k for k, i in enumerate(instrs) if i.name == opname and (arg is None or i.arg == arg)][nth]


def _handled(x, log):
    try:
        log.append("body")
        return 1 // x
    except ZeroDivisionError:
        log.append("handler")
        return [x, [x, [x, [x, [x, log]]]]]      # deeper than anything in the try block


def test_resume_code_is_as_deep_as_the_original_whose_handlers_it_jumps_past():
    """The resume jumps into the try block: its handler is unreachable for a stack-size
    analysis that starts at the new entry, so the size must come from the original (a smaller
    one corrupts memory when the handler runs)."""
    orig = _handled.__code__
    target = _index(orig, "LOAD_FAST", arg="log")      # `log.append("body")`, inside the try block
    code = make_resume_code(orig, target, (), 0, ("log", "x"))
    assert code.co_stacksize >= orig.co_stacksize
    fn = types.FunctionType(code, globals())
    log = []
    assert fn(log, 0) == [0, [0, [0, [0, [0, log]]]]] and log == ["body", "handler"]
    assert fn([], 2) == 0
    gc.collect()


def _cells(x):
    k = x
    get = lambda: k          # noqa: E731
    k = k + 1
    return get() * 10 + k


def test_cells_are_arguments_and_instructions_map_back_to_the_original():
    orig = _cells.__code__
    target = _index(orig, "LOAD_DEREF", 0)        # `k = k + 1`, after the closure exists
    code = make_resume_code(orig, target, (), 0, ("get",))
    assert code.co_cellvars == () and code.co_varnames[:2] == ("___cell_k", "get")
    cell = types.CellType(4)
    lambda_code = next(c for c in orig.co_consts if isinstance(c, types.CodeType))
    get = types.FunctionType(lambda_code, globals(), None, None, (cell,))
    fn = types.FunctionType(code, globals())
    assert fn(cell, get) == 55 and cell.cell_contents == 5      # the closure sees the frame's write
    origin = origin_of(code)
    assert origin.code is orig
    assert not {"LOAD_DEREF", "STORE_DEREF", "MAKE_CELL"} & {i.opname for i in dis.get_instructions(code)}
    # each original instruction appears once, in order; the prefix and the second halves of
    # rewritten cell accesses map to None
    mapped = [m for m in origin.index_map if m is not None]
    assert mapped == list(range(len(mapped)))


def _gen(log):
    log.append("start")
    try:
        got = yield 1
        log.append(got)
        yield 2
    finally:
        log.append("finally")


@pytest.mark.parametrize("then", ["send", "throw", "close"])
def test_started_generator_is_paused_at_its_yield(then):
    orig = _gen.__code__
    target = _index(orig, "YIELD_VALUE", 0)
    code = make_resume_code(orig, target, (), 1, ("log",), generator=True)
    log = []
    gen = start_generator(code, GlobalsRef(globals()), (), True, None, log)
    assert gen.__name__ == "_gen" and log == []              # nothing before the yield ran again
    if then == "send":
        assert gen.send("sent") == 2 and log == ["sent"]
    elif then == "throw":
        with pytest.raises(KeyError):
            gen.throw(KeyError("k"))
        assert log == ["finally"]                             # thrown inside the try block
    else:
        gen.close()
        assert log == ["finally"]
    gc.collect()
