"""Objects of user classes built while tracing, as CPython's ``type.__call__`` builds them:
a Python ``__new__`` is traced (its ``object.__new__(cls)`` makes the object), then
``__init__`` if the result is an instance of the class. An ``nn.Module`` subclass is no
exception: ``Module.__init__``, ``Module.__setattr__`` and ``Module.__call__`` are traced, so
``self.act = ...`` and ``self.lin = nn.ReLU()`` land where eager puts them, and a module that
escapes is rebuilt from that state. (transformers' ``ACT2FN[name]`` builds an activation
module inside ``forward``: DeBERTa's ConvLayer.)"""

import collections

import pytest
import torch
from torch import nn

import bytegraph
from bytegraph.testing import same


def _no_breaks(cf):
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []


class GELU(nn.Module):
    def __init__(self, use_python: bool = False):
        super().__init__()
        self.act = self._python if use_python else nn.functional.gelu

    def _python(self, x):
        return x * 0.5 * (1.0 + torch.erf(x / 2.0 ** 0.5))

    def forward(self, x):
        return self.act(x)


class Instantier(collections.OrderedDict):
    """transformers.activations.ClassInstantier: a registry that builds a module per lookup."""

    def __getitem__(self, key):
        content = super().__getitem__(key)
        cls, kwargs = content if isinstance(content, tuple) else (content, {})
        return cls(**kwargs)


ACT = Instantier({"gelu": GELU, "gelu_python": (GELU, {"use_python": True}), "tanh": nn.Tanh})


class Conv(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.act_name = act

    def forward(self, x):
        return ACT[self.act_name](self.lin(x))


@pytest.mark.parametrize("act", ["gelu", "gelu_python", "tanh"])
def test_activation_module_built_in_forward_is_one_graph(counter, act):
    model = Conv(act)
    cf = bytegraph.compile(model, backend=counter)
    for _ in range(3):
        x = torch.randn(2, 4)
        assert same(cf(x), model(x))
    assert counter.frame_count == 1 and cf.stats.captures == 1
    _no_breaks(cf)


class Block(nn.Module):
    def __init__(self, width, scale=2.0):
        super().__init__()
        self.scale = scale
        self.relu = nn.ReLU()
        self.inner = GELU()
        self.register_buffer("offset", None)

    def forward(self, x):
        return self.inner(self.relu(x)) * self.scale


def test_module_with_submodules_built_in_forward(counter):
    def fn(x):
        block = Block(4, scale=3.0)
        names = [name for name, _ in block.named_children()]
        return block(x), names, block.training, "relu" in block._modules, block.offset is None

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        x = torch.randn(3)
        assert same(cf(x), fn(x))
    assert counter.frame_count == 1 and cf.stats.captures == 1
    _no_breaks(cf)


def test_a_module_built_in_forward_escapes_as_a_working_module(counter):
    def fn(x):
        block = Block(4)
        block.extra = x.sum()
        return block, block(x)

    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    (block, y), (eblock, ey) = cf(x), fn(x)
    assert same(y, ey)
    assert type(block) is Block and block is not cf(x)[0]               # a new module per call
    assert dict(block.named_children()).keys() == dict(eblock.named_children()).keys()
    assert isinstance(block.relu, nn.ReLU) and isinstance(block.inner, GELU) and block.training
    assert same(block.extra, x.sum()) and same(block(x), ey)             # and it runs eagerly
    assert list(block.state_dict()) == list(eblock.state_dict())
    _no_breaks(cf)


def test_assigning_a_submodule_before_module_init_raises_eagers_error(counter):
    class Early(nn.Module):
        def __init__(self):
            self.relu = nn.ReLU()
            super().__init__()

    def fn(x):
        return Early()(x)

    cf = bytegraph.compile(fn, backend=counter)
    with pytest.raises(AttributeError, match=r"cannot assign module before Module.__init__\(\) call"):
        cf(torch.randn(2))


class Tagged:
    """A Python ``__new__`` that sets state and hands the rest to ``__init__``."""

    def __new__(cls, kind, weight=1.0):
        if kind not in ("a", "b"):
            raise ValueError(f"unknown kind {kind!r}")
        obj = super().__new__(cls)
        obj.kind = kind
        return obj

    def __init__(self, kind, weight=1.0):
        self.weight = weight * (2 if self.kind == "b" else 1)


class NotAnInstance:
    def __new__(cls, x):
        return x * 2             # not an instance of the class: __init__ does not run

    def __init__(self, x):
        raise AssertionError("never called")


def test_python_new_is_traced_then_init(counter):
    def fn(x):
        t = Tagged("b", weight=3.0)
        return x * t.weight, t.kind, NotAnInstance(x), t

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        x = torch.randn(2)
        got, expected = cf(x), fn(x)
        assert same(got[:3], expected[:3])
        assert type(got[3]) is Tagged and vars(got[3]) == vars(expected[3])
    assert counter.frame_count == 1
    _no_breaks(cf)


def test_errors_of_new_and_of_object_new_are_eagers(counter):
    class Plain:
        pass

    def bad_kind(x):
        return Tagged("c"), x

    def extra_args(x):
        return Plain(1), x

    def object_new_args(x):
        return object.__new__(Tagged, "a"), x

    for fn, exc, message in [(bad_kind, ValueError, "unknown kind 'c'"),
                             (extra_args, TypeError, r"Plain\(\) takes no arguments"),
                             (object_new_args, TypeError, r"object.__new__\(\) takes exactly one argument")]:
        with pytest.raises(exc, match=message):
            fn(torch.zeros(1))
        with pytest.raises(exc, match=message):
            bytegraph.compile(fn, backend=counter)(torch.zeros(1))


def test_torch_modules_built_in_forward_take_submodules_like_eager(counter):
    """torch's own parameterless modules are built for real and their state adopted by the
    tracker: a submodule set on one lands in ``_modules`` (``modules()`` sees it), and the
    module that escapes has it."""
    def fn(x, y):
        holder = nn.Module()
        holder.act = nn.LeakyReLU(0.2)
        holder.loss = nn.CrossEntropyLoss(reduction="sum")
        out = holder.act(x)
        return out, holder.loss(out, y), len(list(holder.modules())), holder

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        x, y = torch.randn(3, 5), torch.randint(0, 5, (3,))
        got, expected = cf(x, y), fn(x, y)
        assert same(got[:3], expected[:3])
        holder = got[3]
        assert list(dict(holder.named_children())) == ["act", "loss"] and same(holder.act(x), expected[0])
    assert counter.frame_count == 1
    _no_breaks(cf)


def test_modules_built_after_torch_compile_patched_module_init(counter):
    """Once torch.compile has run, ``nn.Module.__init__`` is torch._dynamo's wrapper, which tags
    each new module for its own bookkeeping (through ``id()``): the tag is skipped."""
    torch.compile(lambda x: x + 1, backend="eager")(torch.ones(1))          # patches Module.__init__
    assert torch.nn.Module.__init__.__qualname__.endswith("patched_init")
    model = Conv("gelu")
    cf = bytegraph.compile(model, backend=counter)
    for _ in range(2):
        x = torch.randn(2, 4)
        assert same(cf(x), model(x))
    assert counter.frame_count == 1
    _no_breaks(cf)
