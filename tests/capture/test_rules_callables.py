"""Callables and type-like values (docs/builder.md): "python function" (CLOSURE_MATCH on the
code, cells by their own rules), "bound method", "functools.partial", "builtin" (ID_MATCH),
"python module", "class", "exception", torch.autograd.Function through its class, context
managers from contextlib, and dtype/device/layout/memory_format under "literal". Each case:
(a) calling or using it gives eager's answer, (b) swapping it (or what it closes over)
recompiles naming the source, (c) an equal new object (a re-created closure, a new partial
with the same arguments) does not."""

import contextlib
import functools
import math
import types

import torch

import bytegraph
from bytegraph.testing import same


def _assert_counts(counter, cf, graphs, recompiles):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == graphs
    assert cf.stats.recompiles == recompiles


def _run(cf, fn, *calls):
    for args in calls:
        assert same(cf(*args), fn(*args))


def _call(x, f):
    return f(x) + 1


# -- functions, closures, lambdas ----------------------------------------------------------------------
def _make_scaler(k):
    def scaler(t):
        return t * k
    return scaler


def test_closure_recreated_with_equal_cells_hits_other_cells_recompile(counter):
    cf = bytegraph.compile(_call, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, _call, (x, _make_scaler(2)), (x, _make_scaler(2)))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, _call, (x, _make_scaler(5)), (x, _make_scaler(5)))
    _assert_counts(counter, cf, 2, 1)
    assert "L['f']" in cf.stats.recompile_reasons[0] and "__closure__" in cf.stats.recompile_reasons[0]


def test_closure_over_a_tensor_reads_the_new_tensor(counter):
    cf = bytegraph.compile(_call, backend=counter)
    x = torch.randn(3)
    _run(cf, _call, (x, _make_scaler(torch.randn(3))), (x, _make_scaler(torch.randn(3))))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, _call, (x, _make_scaler(torch.randn(1, 3))))
    _assert_counts(counter, cf, 2, 1)
    assert "__closure__" in cf.stats.recompile_reasons[0] and "size mismatch" in cf.stats.recompile_reasons[0]


def test_lambdas_by_code(counter):
    cf = bytegraph.compile(_call, backend=counter)
    x = torch.randn(3)
    _run(cf, _call, *((x, lambda t: t.exp()) for _ in range(3)))     # one lambda expression: one code object
    _assert_counts(counter, cf, 1, 0)
    _run(cf, _call, (x, lambda t: t.sin()), (x, lambda t: t.sin()))
    _assert_counts(counter, cf, 3, 2)                   # two lambda expressions, two codes
    assert cf.stats.recompile_reasons[0].startswith("L['f']: expected CLOSURE_MATCH code ")


def test_function_default_argument_of_a_callee(counter):
    def helper(t, k=2):
        return t * k

    cf = bytegraph.compile(_call, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, _call, (x, helper), (x, helper))
    helper.__defaults__ = (7,)
    _run(cf, _call, (x, helper), (x, helper))
    _assert_counts(counter, cf, 2, 1)
    assert "L['f'].__defaults__" in cf.stats.recompile_reasons[0]


# -- bound methods, static and class methods -----------------------------------------------------------------
class Scale:
    def __init__(self, k):
        self.k = k

    def apply(self, t):
        return t * self.k

    @staticmethod
    def shift(t):
        return t + 1

    @classmethod
    def named(cls, t):
        return t * len(cls.__name__)


class Scale2(Scale):
    pass


def test_bound_method_guards_its_self(counter):
    cf = bytegraph.compile(_call, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, _call, (x, Scale(2).apply), (x, Scale(2).apply))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, _call, (x, Scale(3).apply), (x, Scale2(3).apply))
    _assert_counts(counter, cf, 3, 2)
    assert cf.stats.recompile_reasons[0].startswith("L['f'].__self__.k: expected EQUALS_MATCH 2, got 3")
    assert cf.stats.recompile_reasons[1].startswith("L['f'].__self__: expected TYPE_MATCH Scale, got type Scale2")


def test_static_and_class_methods(counter):
    def fn(x, cls):
        return cls.shift(x) + cls.named(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, Scale), (x, Scale), (x, Scale2), (x, Scale2))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['cls']: expected ID_MATCH")


# -- functools.partial ------------------------------------------------------------------------------------------
def _affine(t, k, *, b=0):
    return t * k + b


def test_partial_args_and_keywords_are_guarded(counter):
    cf = bytegraph.compile(_call, backend=counter, dynamic=False)
    x = torch.randn(3)
    P = functools.partial
    _run(cf, _call, (x, P(_affine, k=2)), (x, P(_affine, k=2)))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, _call, (x, P(_affine, k=3)), (x, P(_affine, 3, b=1)))
    _assert_counts(counter, cf, 3, 2)
    assert cf.stats.recompile_reasons[0].startswith("L['f'].keywords['k']: expected EQUALS_MATCH 2, got 3")
    assert cf.stats.recompile_reasons[1].startswith("L['f'].args: expected SEQUENCE_LENGTH 0, got length 1")


def test_partial_of_a_torch_function(counter):
    cf = bytegraph.compile(_call, backend=counter)
    x = torch.randn(2, 3)
    _run(cf, _call, (x, functools.partial(torch.sum, dim=1)), (x, functools.partial(torch.sum, dim=1)))
    _run(cf, _call, (x, functools.partial(torch.mean, dim=1)))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['f'].func: expected ID_MATCH")


# -- builtins and C functions -----------------------------------------------------------------------------------------
def test_builtin_passed_as_an_argument(counter):
    def fn(x, pick):
        return x * pick(2, 3) + pick([1, 5, 2])

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, max), (x, max), (x, min), (x, min))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['pick']: expected ID_MATCH builtin_function_or_method max")


def test_math_c_function_on_a_literal(counter):
    def fn(x, f, v):
        return x * f(v) + math.floor(v)

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, math.sqrt, 4.0), (x, math.sqrt, 4.0))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, math.log, 4.0), (x, math.log, 4.0))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['f']: expected ID_MATCH builtin_function_or_method sqrt")


def test_type_objects_in_isinstance(counter):
    def fn(x, kind, v):
        return x * v if isinstance(v, kind) else x - 1

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, int, 2), (x, int, 2), (x, (float, bool), 2), (x, (float, bool), 2))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['kind']: expected ID_MATCH type int, got another object (tuple)")


# -- classes and Python modules ---------------------------------------------------------------------------------------------
def test_class_argument_constructs_objects(counter):
    def fn(x, cls):
        return cls(2).apply(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, Scale), (x, Scale), (x, Scale2), (x, Scale2))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['cls']: expected ID_MATCH")


def test_python_module_attribute_is_guarded(counter):
    cfg = types.ModuleType("cfg")
    cfg.SCALE, cfg.UNUSED = 2, "x"

    def fn(x, mod):
        return x * mod.SCALE + math.pi

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, cfg), (x, cfg))
    cfg.UNUSED = "changed"
    _run(cf, fn, (x, cfg))
    _assert_counts(counter, cf, 1, 0)
    cfg.SCALE = 3
    _run(cf, fn, (x, cfg), (x, cfg))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['mod'].SCALE: expected EQUALS_MATCH 2, got 3")


# -- torch.autograd.Function ----------------------------------------------------------------------------------------------
class HalfGradRelu(torch.autograd.Function):
    """relu forward, a deliberately non-standard backward: only the user's backward gives these grads."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x.clamp(min=0) * k

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x > 0) * ctx.k * 0.5, None


class DoubleGradSquare(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        return x * x * k

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 4 * x, None


def _grad_of(f, fn_cls, x, w, k):
    x, w = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    out = f(x, w, fn_cls, k)
    out.sum().backward()
    return out, x.grad, w.grad


def test_autograd_function_forward_and_backward_match_eager(counter):
    def fn(x, w, op, k):
        return op.apply(x @ w, k).sin()

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    calls = [(HalfGradRelu, 2.0), (HalfGradRelu, 2.0), (HalfGradRelu, 3.0), (DoubleGradSquare, 3.0)]
    for op, k in calls:
        x, w = torch.randn(4, 3), torch.randn(3, 2)
        got, expected = _grad_of(cf, op, x, w, k), _grad_of(fn, op, x, w, k)
        assert all(same(a, b) for a, b in zip(got, expected))
    _assert_counts(counter, cf, 3, 2)
    assert cf.stats.recompile_reasons[0].startswith("L['k']: expected EQUALS_MATCH 2.0, got 3.0")
    assert cf.stats.recompile_reasons[1].startswith("L['op']: expected ID_MATCH")


# -- exceptions ---------------------------------------------------------------------------------------------------------------
def test_exception_class_raised_and_caught_while_tracing(counter):
    def fn(x, error):
        try:
            raise error("boom")
        except ValueError as e:
            return x * len(e.args[0])
        except Exception:
            return x - 1

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, ValueError), (x, ValueError), (x, KeyError), (x, KeyError))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['error']: expected ID_MATCH type ValueError")


def test_exception_object_argument(counter):
    def fn(x, err):
        return x * len(err.args) if isinstance(err, LookupError) else x + 1

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, KeyError("a")), (x, KeyError("b")), (x, IndexError("c")), (x, ValueError("d")))
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == 3 and cf.stats.recompiles == 2
    assert cf.stats.recompile_reasons[0].startswith("L['err']: expected TYPE_MATCH KeyError, got type IndexError")


class _LoudError(ValueError):
    def __str__(self):
        return "loud " + str(self.args[0])


def test_exception_argument_folded_whole_guards_its_args(counter):
    """``str(err)`` folds the object: its args are guarded by value (len(err.args) alone guards
    only their number); an exception with its own __str__ is not folded: str() runs natively."""
    def fn(x, err):
        return x + len(str(err))

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, KeyError("a")), (x, KeyError("a")), (x, KeyError("bbb")))
    assert cf.stats.captures == 2
    assert cf.stats.recompile_reasons[0].startswith("L['err'].args[0]: expected EQUALS_MATCH 'a', got 'bbb'")
    loud = bytegraph.compile(fn, backend=counter)
    _run(loud, fn, (x, _LoudError(1)), (x, _LoudError(22)))
    assert "builtin str() with arguments _LoudError" in loud.stats.break_reasons[0]   # str() runs natively


# -- dtype, device, layout, memory_format --------------------------------------------------------------------------------
def test_dtype_argument(counter):
    def fn(x, dt):
        return x.to(dt) * 2, torch.zeros(2, dtype=dt), dt.is_floating_point

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, torch.float64), (x, torch.double), (x, torch.int32), (x, torch.int32))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['dt']: expected EQUALS_MATCH torch.float64, got torch.int32")


def test_device_argument(counter):
    def fn(x, device):
        return torch.ones(3, device=device) + x.to(device), str(device)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, torch.device("cpu")), (x, torch.device("cpu")), (x, "cpu"), (x, "cpu"))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['device']: expected EQUALS_MATCH device(type='cpu'), got 'cpu'")


def test_layout_argument(counter):
    def fn(x, layout):
        return x * 2 if x.layout == layout else x - 1

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, torch.strided), (x, torch.strided), (x, torch.sparse_coo), (x, torch.sparse_coo))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['layout']: expected EQUALS_MATCH torch.strided")


def test_memory_format_argument(counter):
    def fn(x, fmt):
        y = x.contiguous(memory_format=fmt)
        return y * 2, y.stride()

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(2, 3, 4, 5)
    _run(cf, fn, (x, torch.channels_last), (x, torch.channels_last), (x, torch.contiguous_format))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['fmt']: expected EQUALS_MATCH torch.channels_last")


# -- contextlib.contextmanager --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def scaled(k):
    yield k * 2


@contextlib.contextmanager
def frozen():
    with torch.no_grad():
        yield


def test_contextmanager_yields_a_value(counter):
    def fn(x, k):
        with scaled(k) as s:
            y = x * s
        return y + 1

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, 2), (x, 2), (x, 3))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['k']: expected EQUALS_MATCH 2, got 3")


def test_contextmanager_passed_in_wrapping_no_grad(counter):
    def fn(x, w, ctx):
        with ctx():
            y = x @ w
        return y, x * w.sum()

    cf = bytegraph.compile(fn, backend=counter)
    w = torch.randn(3, 2, requires_grad=True)
    for ctx in (frozen, frozen, contextlib.nullcontext, contextlib.nullcontext):
        x = torch.randn(4, 3)
        got, expected = cf(x, w, ctx), fn(x, w, ctx)
        assert same(got, expected) and got[0].requires_grad == (ctx is not frozen)
    _assert_counts(counter, cf, 2, 1)
    assert "L['ctx']" in cf.stats.recompile_reasons[0]


def test_exception_fold_tells_apart_equal_args_of_other_types_and_skips_attribute_based_str(counter):
    def fn(x, err):
        return x + len(str(err))

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.zeros(1)
    for err in (ValueError(1), ValueError(True), ValueError(1.0)):     # 1 == True == 1.0
        assert same(cf(x, err), fn(x, err))
    assert cf.stats.captures == 3
    co = bytegraph.compile(fn, backend=counter)
    for err in (OSError(2, "nf", "a.txt"), OSError(2, "nf", "bb.txt")):   # str() reads .filename
        assert same(co(x, err), fn(x, err))
