"""Exceptions inside compiled code (issue #5): a user `raise`, ZeroDivisionError on a constant and
on a symbolic int, a shape error from a torch op, a failed `assert` -- each delivered to the
user's own except / finally / __exit__ exactly as in eager, with its original type and
message, whether it is raised while tracing (the translator follows the exception table) or
at run time (by an op inside the graph, or by the native instruction of a graph break).

An exception no handler of the frame catches makes the frame run eagerly (the program's own
error, raised by CPython itself): those tests assert zero graphs and one eager entry.
"""

import copy
import zlib

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.testing import same


@pytest.fixture(autouse=True)
def _clean_global_state():
    """A failing (xfail) test must not leak grad mode or autocast into the next one."""
    grad = torch.is_grad_enabled()
    yield
    torch.set_grad_enabled(grad)
    torch.set_autocast_enabled("cpu", False)
    for _ in range(torch.autocast_increment_nesting()):
        torch.autocast_decrement_nesting()
    torch.clear_autocast_cache()


def _shape(cf):
    """(captures, graphs, eager) of the function, then of each resume function."""
    return [(s.captures, s.graphs, s.eager) for s in cf.stats_all]


def _outcome(fn, *args):
    """The return value, or the exception's type and message."""
    try:
        return fn(*args)
    except Exception as e:      # noqa: BLE001
        return (type(e), str(e))


def _run(counter, fn, make_args, calls=3):
    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(calls):
        args = make_args()
        assert same(_outcome(cf, *args), _outcome(fn, *copy.deepcopy(args)))
    return cf


# -- raised while tracing: user raise ------------------------------------------------------------
class CodedError(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code


def test_custom_exception_with_attributes_caught(counter):
    def fn(x):
        y = x.cos()
        try:
            raise CodedError("custom", 7)
        except CodedError as e:
            return y * e.code, str(e), type(e).__name__

    cf = _run(counter, fn, lambda: (torch.randn(2),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def _raise_deep(t):
    raise LookupError(f"deep {t.dim()}")


def _raise_mid(t):
    u = t * 2
    _raise_deep(u)
    return u


def test_raise_two_calls_deep_caught_by_the_compiled_function(counter):
    def fn(x):
        y = x + 1
        try:
            y = _raise_mid(y)
        except LookupError as e:
            y = y * len(str(e))
        return y

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_except_tuple_picks_the_raised_type(counter):
    def fn(x, k):
        try:
            v = int(k)
        except (TypeError, ValueError) as e:
            v = len(type(e).__name__)
        return x * v

    cf = bytegraph.compile(fn, backend=counter)
    for k in ("3", "x", None, "3"):
        x = torch.randn(2)
        assert same(cf(x, k), fn(x, k))
    assert cf.stats.captures == 3 and counter.frame_count == 3 and cf.stats.eager == 0   # k by value


def test_exception_caught_in_each_loop_iteration(counter):
    def fn(x, d):
        total = x
        for k in ("a", "b", "c"):
            try:
                total = total + d[k]
            except KeyError:
                continue
        return total

    cf = _run(counter, fn, lambda: (torch.randn(2), {"a": 1, "c": 3}))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1 and counter.op_count == 2


def test_uncaught_raise_runs_finally_once_and_reaches_the_caller(counter):
    def fn(x, log):
        try:
            y = x + 1
            log.append("body")
            raise KeyError("k")
        finally:
            log.append("finally")
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        log = []
        with pytest.raises(KeyError, match="'k'"):
            cf(torch.randn(2), log)
        assert log == ["body", "finally"]
    assert _shape(cf) == [(1, 0, 1)] and counter.frame_count == 0
    assert cf.stats.eager_reasons[0].startswith("the program raises KeyError")


# -- raised while tracing: ZeroDivisionError -----------------------------------------------------
def test_zero_division_on_constants_caught(counter):
    def fn(x, d):
        out = []
        for op in ("//", "/", "%"):
            try:
                k = (1 // d) if op == "//" else (1 / d) if op == "/" else (1 % d)
            except ZeroDivisionError as e:
                k = len(str(e))
            out.append(x * k)
        return out

    cf = _run(counter, fn, lambda: (torch.randn(2), 0))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_zero_division_on_symbolic_int_at_run_time(counter):
    """Traced with a non-zero divisor: `12 // n` is a graph node; when n is 0 at run time the
    graph raises, and the frame reruns eagerly so the program's own except runs."""
    def fn(x):
        n = x.size(0) - 3
        try:
            k = 12 // n
        except ZeroDivisionError:
            k = -1
        return x * k

    cf = bytegraph.compile(fn, backend=counter)
    for n in (4, 3, 5, 3, 6):
        x = torch.ones(n)
        bytegraph.mark_dynamic(x, 0)
        assert same(cf(x), fn(x))
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_zero_division_on_symbolic_int_while_tracing(counter):
    def fn(x):
        n = x.size(0) - 3
        try:
            k = 12 // n
        except ZeroDivisionError:
            k = -1
        return x * k

    cf = bytegraph.compile(fn, backend=counter)
    for n in (3, 4, 5, 3):
        x = torch.ones(n)
        bytegraph.mark_dynamic(x, 0)
        assert same(cf(x), fn(x)), n
    # n == 0 specializes (a guard), n != 0 is the second, dynamic graph
    assert cf.stats.eager == 0 and cf.stats.captures == 2 and counter.frame_count == 2


# -- raised while tracing: shape errors and asserts ----------------------------------------------
def test_shape_error_caught_then_compatible_shapes_recompile(counter):
    def fn(x, y):
        try:
            z = x @ y
        except RuntimeError:
            z = x.sum(0) * 2
        return z

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    for shape in ((2, 3), (2, 3), (3, 2), (3, 2)):
        x, y = torch.randn(2, 3), torch.randn(*shape)
        assert same(cf(x, y), fn(x, y))
    assert cf.stats.captures == 2 and counter.frame_count == 2 and cf.stats.eager == 0
    assert "size mismatch" in cf.stats.recompile_reasons[0]


def _matmul(a, b):
    return a @ b


def test_shape_error_in_callee_caught_by_caller_with_eager_message(counter):
    def fn(x, y):
        try:
            return _matmul(x, y), ""
        except RuntimeError as e:
            return x * 0, str(e)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x, y = torch.randn(2, 3), torch.randn(2, 3)
        (out, msg), (ref, ref_msg) = cf(x, y), fn(x, y)
        assert same(out, ref) and msg == ref_msg and msg
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


# pytest rewrites the asserts of this module (hidden locals, calls into its formatting
# helpers); the program under test is plain Python, so it is compiled from source here.
_ASSERTING = """
def asserting(x):
    try:
        assert x.dim() == 2, f"expected 2-d, got {x.dim()}-d"
        return x.t()
    except AssertionError as e:
        return x * len(str(e))
"""


def _plain_function(src, name):
    namespace = {}
    exec(compile(src, f"<{name}>", "exec"), namespace)
    return namespace[name]


def test_failed_assert_caught_with_its_message(counter):
    fn = _plain_function(_ASSERTING, "asserting")
    cf = bytegraph.compile(fn, backend=counter)
    for shape in ((3,), (3,), (2, 3), (2, 3)):
        x = torch.randn(*shape)
        assert same(cf(x), fn(x))
    assert cf.stats.captures == 2 and counter.frame_count == 2 and cf.stats.eager == 0



def test_failed_assert_in_a_pytest_rewritten_function(counter):
    def fn(x):
        try:
            assert x.dim() == 2
            return x.t()
        except AssertionError:
            return x * 2

    cf = bytegraph.compile(fn, backend=counter)
    for shape in ((3,), (3,), (2, 3), (2, 3)):
        x = torch.randn(*shape)
        assert same(cf(x), fn(x))
    assert cf.stats.captures == 2          # one per number of dimensions
    assert all(st.eager == 0 for st in cf.stats_all)

# -- __exit__ and grad mode ----------------------------------------------------------------------
class Swallow:
    """Swallows IndexError; records what __exit__ saw."""

    def __init__(self):
        self.seen = []

    def __enter__(self):
        return self

    def __exit__(self, t, v, tb):
        self.seen.append(None if t is None else (t.__name__, str(v)))
        return t is not None and issubclass(t, IndexError)


def test_exit_swallows_exception_raised_inside_with(counter):
    def fn(x, cm):
        y = x + 1
        with cm:
            y = y * 2
            [][1]
            y = y * 100
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        x = torch.randn(2)
        mine, theirs = Swallow(), Swallow()
        assert same(cf(x, mine), fn(x, theirs))
        assert mine.seen == theirs.seen == [("IndexError", "list index out of range")]
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_exit_sees_exception_it_does_not_swallow(counter):
    def fn(x, cm):
        with cm:
            y = x + 1
            raise ValueError("not swallowed")
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        cm = Swallow()
        with pytest.raises(ValueError, match="not swallowed"):
            cf(torch.randn(2), cm)
        assert cm.seen == [("ValueError", "not swallowed")]
    assert _shape(cf) == [(1, 0, 1)] and counter.frame_count == 0


def test_grad_mode_restored_in_handler_of_exception_raised_under_no_grad(counter):
    w = torch.randn(3, 3, requires_grad=True)

    def fn(x, w):
        try:
            with torch.no_grad():
                y = x @ w
                raise ValueError
        except ValueError:
            enabled = torch.is_grad_enabled()
        return y, enabled, (x @ w).requires_grad

    cf = _run(counter, fn, lambda: (torch.randn(2, 3), w))
    assert torch.is_grad_enabled()
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


# -- raised after a graph break ------------------------------------------------------------------
def test_exception_in_resume_function_caught_by_try_opened_before_the_break(counter):
    def fn(x, d):
        try:
            y = x + 1
            n = int(x.sum().item() > 100)     # a break; n is 0
            y = y * d[n]
        except KeyError:
            y = y - 1
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for d in ({0: 2}, {1: 2}, {0: 3}):
        x = torch.randn(3)
        assert same(cf(x, d), fn(x, d))
    assert cf.stats.eager == 0 and counter.frame_count == 4
    assert _shape(cf) == [(1, 1, 0), (3, 3, 0)]         # the resume function: per dict contents


def test_exception_raised_by_the_native_instruction_of_a_break_is_caught(counter):
    def fn(x):
        y = x + 1
        try:
            zlib.compress(None)                 # opaque C call: a break; raises TypeError natively
            y = y * 100
        except TypeError as e:
            y = y * len(str(e))
        return y

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert _shape(cf) == [(1, 1, 0), (1, 1, 0)] and counter.frame_count == 2


def test_backward_error_caught_by_user(counter):
    def fn(x, w):
        loss = (x @ w).sum()
        try:
            loss.backward()
            ok = True
        except RuntimeError:
            ok = False
        return loss.detach(), ok

    cf = _run(counter, fn, lambda: (torch.randn(2, 3), torch.randn(3, 3)))
    # the loss before the break; the handler's loss.detach() after it
    assert cf.stats.eager == 0 and counter.frame_count == 2


def _print_then_raise(t):
    print(end="")
    raise ValueError(f"from callee {t.dim()}")


def test_exception_from_callee_that_broke_is_caught_by_caller(counter):
    def fn(x):
        try:
            y = _print_then_raise(x + 1)
        except ValueError as e:
            y = x * len(str(e))
        return y

    cf = _run(counter, fn, lambda: (torch.randn(3),))
    assert cf.stats.eager == 0 and counter.frame_count == 2


def test_grad_mode_restored_when_native_instruction_raises_in_no_grad(counter):
    w = torch.randn(3, 3, requires_grad=True)

    def fn(x, w):
        with torch.no_grad():
            y = x @ w
            zlib.compress(None)                 # opaque C call: a break; raises TypeError natively
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        with pytest.raises(TypeError, match="bytes-like object is required"):
            cf(torch.randn(2, 3), w)
        assert torch.is_grad_enabled()
    assert _shape(cf)[0] == (1, 1, 0) and counter.frame_count == 1


# -- raised at run time by an op inside the graph ------------------------------------------------
def test_gather_out_of_range_at_run_time_reaches_user_except(counter):
    def fn(x, idx):
        try:
            y = torch.gather(x, 0, idx) * 2
        except RuntimeError:
            y = x * -1
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [5, 0], [1, 1], [7, 7]):
        x, i = torch.randn(3), torch.tensor(idx)
        assert same(cf(x, i), fn(x, i))
    # fake tensors cannot see the index: one graph, rerun eagerly when it raises
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_embedding_bad_index_runs_except_and_finally_once(counter):
    emb = nn.Embedding(4, 2)

    def fn(i, log):
        try:
            log.append("try")
            y = emb(i) * 2
        except IndexError as e:
            log.append("except")
            y = torch.zeros(1)
        finally:
            log.append("finally")
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [9, 0], [1, 1], [0, 12]):
        i = torch.tensor(idx)
        mine, theirs = [], []
        assert same(cf(i, mine), fn(i, theirs))
        assert mine == theirs and mine.count("try") == 1 and mine[-1] == "finally"
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_run_time_error_after_a_break_reaches_user_except(counter):
    def fn(x, idx):
        try:
            y = x + 1
            print(end="")
            y = torch.gather(y, 0, idx)
        except RuntimeError:
            y = x * -1
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [5, 0], [1, 1], [7, 7]):
        x, i = torch.randn(3), torch.tensor(idx)
        assert same(cf(x, i), fn(x, i))
    assert _shape(cf) == [(1, 1, 0), (1, 1, 0)] and counter.frame_count == 2


def test_run_time_error_after_mutations_in_try_applies_them_once(counter):
    def fn(x, idx, log):
        try:
            log.append("a")
            y = torch.gather(x, 0, idx)
            log.append("b")
        except RuntimeError:
            log.append("c")
            y = x * -1
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [5, 0], [1, 1]):
        x, i = torch.randn(3), torch.tensor(idx)
        mine, theirs = [], []
        assert same(cf(x, i, mine), fn(x, i, theirs))
        assert mine == theirs
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_run_time_error_inside_user_with_reaches_exit_once(counter):
    def fn(x, idx, cm):
        with cm:
            y = torch.gather(x, 0, idx)
        return y

    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [5, 0], [1, 1]):
        x, i = torch.randn(3), torch.tensor(idx)
        mine, theirs = Swallow(), Swallow()
        assert same(_outcome(cf, x, i, mine), _outcome(fn, x, i, theirs))
        assert len(mine.seen) == 1 and (mine.seen[0] is None) == (theirs.seen[0] is None)
        assert mine.seen[0] is None or mine.seen[0][0] == theirs.seen[0][0] == "RuntimeError"
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_run_time_error_after_writing_through_a_view_restores_the_input(counter):
    def fn(x, idx, buf):
        try:
            buf[1:].mul_(3)
            buf[0] = 7
            y = torch.gather(x, 0, idx)
        except RuntimeError:
            y = x * -1
        return y

    _check_buffer_restored(counter, fn, lambda: torch.ones(3))


def _check_buffer_restored(counter, fn, make_buf):
    """``fn(x, idx, buf)`` writes into ``buf`` and then gathers with ``idx``: an out-of-range
    index raises only at run time; the buffer must end as eager leaves it, in one graph."""
    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [5, 0], [1, 1]):
        x, i = torch.randn(3), torch.tensor(idx)
        mine, theirs = make_buf(), make_buf()
        assert same(_outcome(cf, x, i, mine), _outcome(fn, x, i, theirs))
        assert same(mine, theirs)
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_run_time_error_in_a_mutating_graph_reaches_user_except(counter):
    def fn(x, idx, buf):
        try:
            buf.add_(1)
            y = torch.gather(x, 0, idx)
        except RuntimeError:
            y = x * -1
        return y

    _check_buffer_restored(counter, fn, lambda: torch.zeros(1))


def test_run_time_error_under_no_grad_restores_grad_mode(counter):
    def fn(x, idx):
        try:
            with torch.no_grad():
                y = torch.gather(x, 0, idx)
        except RuntimeError:
            y = x * 2
        return y, torch.is_grad_enabled()

    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [5, 0], [1, 1]):
        x, i = torch.randn(3), torch.tensor(idx)
        assert same(cf(x, i), fn(x, i))
        assert torch.is_grad_enabled()
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


def test_run_time_error_under_autocast_restores_autocast(counter):
    def fn(x, idx):
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = torch.gather(x, 0, idx)
        except RuntimeError:
            y = x * 2
        return y, torch.is_autocast_enabled("cpu")

    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [5, 0], [1, 1]):
        x, i = torch.randn(3), torch.tensor(idx)
        assert same(cf(x, i), fn(x, i))
        assert not torch.is_autocast_enabled("cpu")
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


# In-place ops return their own input: recorded all the same as under the program's handler
# (before, only an op with a new result marked the graph, so these errors reached the caller).
def _inplace_in_try(x, idx, src):
    y = x * 2
    try:
        y.index_add_(0, idx, src)
    except (IndexError, RuntimeError) as e:
        return y, type(e).__name__, str(e)
    return y, "ok", ""


def _inplace_in_with(x, idx, src):
    y = x * 2
    with torch.no_grad():
        y.index_add_(0, idx, src)
    return y


@pytest.mark.parametrize("fn", [_inplace_in_try, _inplace_in_with], ids=["try", "with"])
def test_inplace_op_raising_at_run_time_inside_the_programs_handler(counter, fn):
    """The only op in the try/with is in place (its result is its input): an out-of-range index
    raises at run time; the program's except catches it (try), or the with block's exit restores
    grad mode before it reaches the caller (with), with eager's message. One graph, no recompile."""
    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [0, 7], [1, 1], [9, 9]):
        x, i, src = torch.randn(3, 3), torch.tensor(idx), torch.ones(2, 3)
        try:
            expected = fn(x, i, src)
        except RuntimeError as e:
            with pytest.raises(RuntimeError) as compiled:
                cf(x, i, src)
            assert str(compiled.value) == str(e)
        else:
            assert same(cf(x, i, src), expected)
        assert torch.is_grad_enabled()
    assert _shape(cf) == [(1, 1, 0)] and counter.frame_count == 1


class _Opt:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_caught_attribute_error_is_guarded_on_the_missing_attribute(counter):
    """``try: obj.scale / except AttributeError``: the trace took the handler because the
    attribute was absent; an object that has it must not reuse that graph."""
    def fn(x, opt):
        try:
            s = opt.scale
        except AttributeError:
            s = 1
        try:
            b = type(opt).bias
        except AttributeError:
            b = 0
        return x * s + b

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    for opt in (_Opt(), _Opt(), _Opt(scale=3), _Opt(scale=4)):
        assert same(cf(x, opt), fn(x, opt))
    _Opt.bias = 2
    try:
        assert same(cf(x, _Opt()), fn(x, _Opt()))
    finally:
        del _Opt.bias
    # no scale; scale=3 (a constant); scale=4 (symbolic from then on); a class attribute bias
    assert cf.stats.graphs == counter.frame_count == 4
    assert [r.split(":")[0] for r in cf.stats.recompile_reasons] == ["L['opt']", "L['opt'].scale", "type(L['opt'])"]


# -- a graph break inside `except` blocks nested in each other (fuzz: 15 eager frames in 2000) ----
NESTED_LOG = []


def _nested_break(x, d, data):
    import sys
    import zlib

    try:
        try:
            y = d["a"]
        except KeyError as e1:
            try:
                y = d["b"]
            except KeyError:
                NESTED_LOG.append(len(str(e1)))
                c = zlib.crc32(data)              # a break; raises TypeError natively when data is None
                y = x * 3 + c % 5
                NESTED_LOG.append(repr(sys.exc_info()[1]))
            finally:
                NESTED_LOG.append(("fin", repr(sys.exc_info()[1])))
            NESTED_LOG.append(repr(sys.exc_info()[1]))
            y = y + 1
    except TypeError as e:
        NESTED_LOG.append(repr(sys.exc_info()[1]))
        return x - 1, str(e)
    return y, repr(sys.exc_info()[1])


def test_break_inside_nested_except_resumes(counter):
    """The resume function handles both exceptions again (outer then inner, each saving the one
    before it, as the original frame's PUSH_EXC_INFO did): ``sys.exc_info()``, the ``finally``
    and the outer block see eager's exceptions; the native instruction raising there reaches
    the program's outer ``except``. No frame runs eagerly."""
    cf = bytegraph.compile(_nested_break, backend=counter)
    for data in (b"ab", None, b"c", None):
        x = torch.ones(2)
        NESTED_LOG.clear()
        expected, expected_log = _outcome(_nested_break, x, {}, data), list(NESTED_LOG)
        NESTED_LOG.clear()
        assert same(_outcome(cf, x, {}, data), expected)
        assert NESTED_LOG == expected_log
    # the frame: one capture per `data` (bytes are guarded by value), no op before the break;
    # after the break: a graph per crc value; the handler paths (finally, outer except): resume
    # functions of their own; none eager
    assert _shape(cf) == [(3, 0, 0), (2, 2, 0), (1, 0, 0), (1, 0, 0), (1, 1, 0)]
    assert counter.frame_count == 3


def _three_deep(x):
    import sys

    log = []
    try:
        raise ValueError("v")
    except ValueError:
        try:
            raise KeyError("k")
        except KeyError:
            try:
                raise IndexError("i")
            except IndexError:
                print(end="")
                log.append(repr(sys.exc_info()[1]))
                y = x + 1
            log.append(repr(sys.exc_info()[1]))
        log.append(repr(sys.exc_info()[1]))
    return y, log, repr(sys.exc_info()[1])


def test_break_three_excepts_deep(counter):
    cf = bytegraph.compile(_three_deep, backend=counter)
    for i in range(3):
        x = torch.full((2,), float(i))
        assert same(cf(x), _three_deep(x))
    assert _shape(cf) == [(1, 0, 0), (1, 1, 0)]      # (the graph before the break is empty)
    assert counter.frame_count == 1
