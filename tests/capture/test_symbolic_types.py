"""Types of values computed from symbolic shapes are eager's types (issue #12, item 5).

Once a dimension has varied, sizes are symbolic and a ``torch.Size`` of them is a tracker,
not a real Size. Every operation on it must still give what eager gives: a slice, ``+`` (with
a Size or a tuple on either side), ``*`` and ``torch.Size(...)`` are Sizes; ``len``, ``numel``
and items are ints; ``list``/``tuple`` are plain. Each program is called with three shapes
(the second recompiles with dynamic dimensions, the third hits that graph) and compared
with eager by type, structurally (``same`` checks ``type(a) is type(b)`` at every level).
"""

import collections

import pytest
import torch

import bytegraph
from bytegraph.testing import CompileCounter, same

SHAPES = [(2, 3), (4, 5), (6, 7)]

PROGRAMS = {
    "slice": lambda x: x.shape[1:],
    "slice of size()": lambda x: x.size()[1:],
    "negative slice": lambda x: x.shape[-1:],
    "reversed slice": lambda x: x.shape[::-1],
    "empty slice": lambda x: x.shape[5:],
    "type of slice": lambda x: type(x.shape[1:]),
    "isinstance of slice": lambda x: isinstance(x.shape[:1], torch.Size),
    "Size + Size": lambda x: x.shape + x.shape,
    "Size + tuple": lambda x: x.shape + (1,),
    "tuple + Size": lambda x: (1,) + x.shape,
    "Size + slice": lambda x: x.shape[:1] + x.shape[1:],
    "Size * int": lambda x: x.shape * 2,
    "int * Size": lambda x: 2 * x.shape,
    "Size(list)": lambda x: torch.Size([x.shape[0], 2]),
    "Size(Size)": lambda x: torch.Size(x.shape),
    "Size(generator)": lambda x: torch.Size(d * 2 for d in x.shape),
    "len": lambda x: len(x.shape),
    "numel": lambda x: x.numel(),
    "Size.numel": lambda x: x.shape[1:].numel(),
    "item": lambda x: x.shape[0],
    "size(0)": lambda x: x.size(0),
    "list": lambda x: list(x.shape),
    "tuple": lambda x: tuple(x.shape),
    "star unpack": lambda x: (*x.shape, 1),
    "stride": lambda x: x.stride(),
    "slice in a tuple": lambda x: (x.shape[1:], x.shape[0]),
    "slice in a dict": lambda x: {"rest": x.shape[1:]},
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_symbolic_size_results_have_eager_types(name):
    expr = PROGRAMS[name]

    def fn(x):
        return expr(x), x + 1

    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    for shape in SHAPES:
        x = torch.randn(*shape)
        got, want = cf(x), fn(x)
        assert same(got, want), (shape, got, want)
    assert cf.stats.eager_reasons == [] and cf.stats.break_reasons == []
    assert counter.frame_count == 2 and cf.stats.recompiles == 1     # static, then dynamic (no third)


def test_symbolic_size_used_by_tensor_ops():
    """A Size built from symbolic pieces feeds views and factories and keeps its type when
    stored in an object the caller sees."""
    store = collections.defaultdict(list)

    def fn(x):
        head = x.shape[:1]
        store["shapes"].append(head + x.shape[1:])
        return x.view(head + (-1,)).new_zeros(torch.Size([x.shape[1], 2])), x.reshape(x.shape[::-1])

    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    for shape in SHAPES:
        x = torch.randn(*shape)
        assert same(cf(x), fn(x))
    # each call appended twice (compiled, then eager): compiled and eager entries must match
    assert all(type(s) is torch.Size for s in store["shapes"])
    assert store["shapes"][0::2] == store["shapes"][1::2]
    assert counter.frame_count == 2 and cf.stats.recompiles == 1


def test_size_results_with_named_tuples_stay_tuples():
    """The rule is eager's, not "keep the left operand's type": a named tuple sliced or
    added is a plain tuple, while a Size on either side of ``+`` makes a Size."""
    Pair = collections.namedtuple("Pair", "a b")

    def fn(x, p):
        return p[1:], p + (x.shape[0],), x.shape + p, x * p.a

    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    for shape in SHAPES:
        x, p = torch.randn(*shape), Pair(2, 3)
        assert same(cf(x, p), fn(x, p))
    assert counter.frame_count == 2 and cf.stats.recompiles == 1
