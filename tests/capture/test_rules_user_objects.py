"""User objects under the catch-all rule "user object" (docs/builder.md): guarded by type;
each attribute read is guarded by its own rule, following CPython's lookup order (data
descriptors and properties, the instance dict or slots, class attributes through the MRO,
then a Python ``__getattr__``). (a) use, (b) change a read attribute, a class attribute or
the class and see a recompile naming the source, (c) change an unread attribute or pass an
equal new object and see none. Dataclasses, enums, weakrefs and dict keys: test_rules_objects.py."""

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


# -- user objects: attribute protocol ---------------------------------------------------------------------
class Scaler:
    offset = 1.0                                       # class attribute

    def __init__(self, scale):
        self._scale = scale
        self.unused = "note"

    @property
    def scale(self):
        return self._scale * 2

    def __call__(self, x):
        return x * self.scale + self.offset


def test_property_is_inlined_and_its_backing_attribute_guarded(counter):
    def fn(x, s):
        return x * s.scale

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    s = Scaler(1.5)
    _run(cf, fn, (x, s), (x, Scaler(1.5)))
    s.unused = 42
    _run(cf, fn, (x, s))
    _assert_counts(counter, cf, 1, 0)
    s._scale = 3.0
    _run(cf, fn, (x, s), (x, s))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['s']._scale: expected EQUALS_MATCH 1.5, got 3.0")


def test_call_and_class_attribute_change_recompiles(counter, monkeypatch):
    def fn(x, s):
        return s(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, Scaler(1.0)), (x, Scaler(1.0)))
    _assert_counts(counter, cf, 1, 0)
    monkeypatch.setattr(Scaler, "offset", -4.0)
    _run(cf, fn, (x, Scaler(1.0)), (x, Scaler(1.0)))
    _assert_counts(counter, cf, 2, 1)
    assert "offset" in cf.stats.recompile_reasons[0]


class Positive:
    """A data descriptor: reads go through __get__, which clamps."""

    def __set_name__(self, owner, name):
        self.name = "_" + name

    def __get__(self, obj, objtype=None):
        return max(getattr(obj, self.name), 0)

    def __set__(self, obj, value):
        setattr(obj, self.name, value)


class Halves:
    """A non-data descriptor: an instance attribute of the same name would win."""

    def __get__(self, obj, objtype=None):
        return obj.base / 2


class Shift:
    amount = Positive()
    half = Halves()

    def __init__(self, amount, base):
        self.amount = amount
        self.base = base


def test_data_and_non_data_descriptors(counter):
    def fn(x, s):
        return x + s.amount + s.half

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, Shift(-2, 4)), (x, Shift(-2, 4)))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, Shift(3, 4)), (x, Shift(3, 4)))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['s'].amount: expected EQUALS_MATCH 0, got 3")  # via __get__
    s = Shift(3, 4)
    s.__dict__["half"] = 100                           # shadows the non-data descriptor
    _run(cf, fn, (x, s), (x, s))
    _assert_counts(counter, cf, 3, 2)
    assert "L['s']" in cf.stats.recompile_reasons[1] and "half" in cf.stats.recompile_reasons[1]


class Namespace:
    """Missing attributes come from a dict, through a Python __getattr__; items through __getitem__."""

    def __init__(self, **values):
        self.values = values

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key):
        return self.values[key] * 10


def test_getattr_fallback(counter):
    def fn(x, ns):
        return x * ns.scale + (ns.bias if hasattr(ns, "bias") else 0)

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, Namespace(scale=2)), (x, Namespace(scale=2)))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, Namespace(scale=2, bias=1)), (x, Namespace(scale=2, bias=1)))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['ns']: expected NOT_HASATTR 'bias'")


def test_getitem_dunder(counter):
    def fn(x, ns):
        return x * ns["k"]

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    x = torch.randn(3)
    _run(cf, fn, (x, Namespace(k=1, other=0)), (x, Namespace(k=1, other=5)))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, Namespace(k=2)), (x, Namespace(k=2)))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['ns'].values['k']: expected EQUALS_MATCH 1, got 2")


# -- inheritance and super() -------------------------------------------------------------------------------
class Base:
    factor = 2

    def run(self, x):
        return x * self.factor


class Child(Base):
    def run(self, x):
        return super().run(x) + 1


class OtherChild(Base):
    factor = 5


def test_inherited_method_override_and_super(counter):
    def fn(x, obj):
        return obj.run(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, Child()), (x, Child()))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (x, OtherChild()), (x, Base()), (x, OtherChild()), (x, Base()))
    _assert_counts(counter, cf, 3, 2)
    assert cf.stats.recompile_reasons[0].startswith("L['obj']: expected TYPE_MATCH Child, got type OtherChild")


def test_base_class_attribute_change_reaches_the_subclass(counter, monkeypatch):
    def fn(x, obj):
        return obj.run(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    _run(cf, fn, (x, Child()))
    monkeypatch.setattr(Base, "factor", 7)
    _run(cf, fn, (x, Child()), (x, Child()))
    _assert_counts(counter, cf, 2, 1)
    assert "factor" in cf.stats.recompile_reasons[0]


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x, self.y = x, y


def test_slots_object_attributes(counter):
    def fn(t, p):
        return t * p.x + p.y

    cf = bytegraph.compile(fn, backend=counter, dynamic=False)
    t = torch.randn(3)
    _run(cf, fn, (t, Point(2, torch.ones(3))), (t, Point(2, torch.zeros(3))))
    _assert_counts(counter, cf, 1, 0)
    _run(cf, fn, (t, Point(3, torch.ones(3))), (t, Point(3, torch.ones(3))))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['p'].x: expected EQUALS_MATCH 2, got 3")
