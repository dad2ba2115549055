"""interpreter.translator.bind_arguments binds like CPython: same locals, and the same TypeError text on bad calls."""

from __future__ import annotations

import pytest

from bytegraph.diagnostics.errors import UserCodeError
from bytegraph.interpreter.translator import bind_arguments, star_parameters
from bytegraph.variables.constant import ConstantVariable
from bytegraph.variables.dicts import DictVariable
from bytegraph.variables.lists import TupleVariable

# Each signature returns locals(): calling it is CPython's own binding.


def f0():
    return locals()


def f1(a):
    return locals()


def f2(a, b=2):
    return locals()


def f3(a, /, b):
    return locals()


def f4(a, b=1, /, c=2, *, d, e=5):
    return locals()


def f5(*args):
    return locals()


def f6(**kw):
    return locals()


def f7(a, *args, b, **kw):
    return locals()


def f8(a, /, **kw):
    return locals()


def f9(*, k):
    return locals()


def f10(a, b, c):
    return locals()


def f11(self, x, *args, scale=1.0, **options):
    return locals()


def _outer():
    def inner(a, b=0):
        return locals()
    return inner


f12 = _outer()


def ours(fn, args, kwargs):
    """bind_arguments on constant trackers, unwrapped back to Python values."""
    wrap = ConstantVariable
    bound = bind_arguments(fn.__code__, [wrap(v) for v in fn.__defaults__ or ()],
                           {k: wrap(v) for k, v in (fn.__kwdefaults__ or {}).items()},
                           [wrap(v) for v in args], {k: wrap(v) for k, v in kwargs.items()})
    return {name: unwrap(vt) for name, vt in bound.items()}


def unwrap(vt):
    if isinstance(vt, TupleVariable):
        return tuple(unwrap(v) for v in vt.realized())
    if isinstance(vt, DictVariable):
        return {k: unwrap(vt.value(k)) for k in vt.keys()}
    assert isinstance(vt, ConstantVariable), vt
    return vt.value


OK = [
    (f0, (), {}),
    (f1, (1,), {}),
    (f1, (), {"a": 1}),
    (f2, (1,), {}),
    (f2, (1, 3), {}),
    (f2, (), {"b": 3, "a": 1}),
    (f3, (1,), {"b": 2}),
    (f3, (1, 2), {}),
    (f4, (1,), {"d": 4}),
    (f4, (1, 9, 8), {"d": 4, "e": 0}),
    (f4, (1,), {"c": 3, "d": 4}),
    (f5, (), {}),
    (f5, (1, 2, 3), {}),
    (f6, (), {}),
    (f6, (), {"x": 1, "y": 2}),
    (f7, (1,), {"b": 2}),
    (f7, (1, 2, 3), {"b": 4, "z": 5, "w": 6}),
    (f8, (1,), {"a": 2}),                 # a positional-only name may also be a **kw key
    (f9, (), {"k": 1}),
    (f10, (1,), {"c": 3, "b": 2}),
    (f11, ("self", 2, 3), {"scale": 0.5, "mode": "x"}),
    (f12, (1,), {}),
]


@pytest.mark.parametrize("fn, args, kwargs", OK, ids=[f"{f.__name__}{a}{k}" for f, a, k in OK])
def test_binds_like_cpython(fn, args, kwargs):
    expected = fn(*args, **kwargs)
    got = ours(fn, args, kwargs)
    assert got == expected
    assert list(got) == list(expected) or set(got) == set(expected)
    if "kw" in expected or "options" in expected:     # keyword order survives in **kwargs
        key = "kw" if "kw" in expected else "options"
        assert list(got[key]) == list(expected[key])


ERRORS = [
    pytest.param(f0, (1,), {}, id="f0-too-many-one-given"),
    pytest.param(f0, (1, 2), {}, id="f0-too-many"),
    pytest.param(f1, (1, 2), {}, id="f1-too-many"),
    pytest.param(f1, (), {"z": 1}, id="f1-unexpected-keyword"),
    pytest.param(f1, (1,), {"a": 2}, id="f1-multiple-values"),
    pytest.param(f10, (1, 2, 3), {"c": 4}, id="f10-multiple-values"),
    pytest.param(f9, (), {"k": 1, "j": 2}, id="f9-unexpected-keyword"),
    pytest.param(f1, (), {}, id="f1-missing-one"),
    pytest.param(f10, (), {}, id="f10-missing-three"),
    pytest.param(f10, (1,), {}, id="f10-missing-two"),
    pytest.param(f9, (), {}, id="f9-missing-keyword-only"),
    pytest.param(f4, (1,), {}, id="f4-missing-keyword-only"),
    pytest.param(f3, (), {"a": 1, "b": 2}, id="f3-positional-only-by-keyword"),
    pytest.param(f2, (1, 2, 3), {}, id="f2-too-many-with-defaults"),
    pytest.param(f9, (1,), {"k": 1}, id="f9-too-many-with-keyword-only"),
    pytest.param(f1, (1, 2), {"z": 3}, id="f1-unexpected-keyword-first"),
    pytest.param(f12, (1, 2, 3), {}, id="nested-qualname"),
    pytest.param(f12, (), {"q": 1}, id="nested-qualname-keyword"),
]


@pytest.mark.parametrize("fn, args, kwargs", ERRORS)
def test_errors_match_cpython(fn, args, kwargs):
    with pytest.raises(TypeError) as real:
        fn(*args, **kwargs)
    with pytest.raises(UserCodeError) as err:
        ours(fn, args, kwargs)
    assert type(err.value.original) is TypeError
    assert str(err.value.original) == str(real.value)


@pytest.mark.parametrize("fn, args, kwargs", [e.values for e in ERRORS])
def test_every_bad_call_is_a_user_type_error(fn, args, kwargs):
    # Whatever the wording, a bad call is the user's own TypeError, never a crash or a binding.
    with pytest.raises(UserCodeError) as err:
        ours(fn, args, kwargs)
    assert type(err.value.original) is TypeError


def test_defaults_are_the_trackers_given():
    d = ConstantVariable(2)
    bound = bind_arguments(f2.__code__, [d], {}, [ConstantVariable(1)], {})
    assert bound["b"] is d


@pytest.mark.parametrize("fn, expected", [
    (f0, (None, None)), (f5, ("args", None)), (f6, (None, "kw")), (f7, ("args", "kw")),
    (f8, (None, "kw")), (f11, ("args", "options")), (f4, (None, None)),
])
def test_star_parameters(fn, expected):
    assert star_parameters(fn.__code__) == expected
