"""Tensor identity and aliasing as eager defines them (issue #12, item 4).

Eager returns the very input object from a conversion that has nothing to do
(``x.to(x.dtype)``, ``x.contiguous()``, ``x.float()`` of a float, ``x.cpu()`` on cpu,
``x.type_as(x)``), from an in-place op (``x.add_(1)``, ``F.relu(x, inplace=True)``) and from
dropout that does not drop; it returns a *new* object from ``detach``, ``view_as``, ``clone``.
Compiled code must agree: ``is`` inside the trace, the object the caller gets back, and the
object stored into a list or an attribute. Writes through a view of an input, and into the
same tensor passed twice, land in the caller's tensor. Each test runs with every backend
(tests/capture/conftest.py) and asserts its graphs.
"""

import pytest
import torch
import torch.nn.functional as F

import bytegraph
from bytegraph.testing import CompileCounter, same

# name -> (expression over x, does eager return x itself?)
CONVERSIONS = {
    "to(device)": (lambda x: x.to(x.device), True),
    "to(dtype)": (lambda x: x.to(x.dtype), True),
    "to(float32)": (lambda x: x.to(torch.float32), True),
    "to(other)": (lambda x: x.to(x), True),
    "to(float64)": (lambda x: x.to(torch.float64), False),
    "to(copy=True)": (lambda x: x.to(x.dtype, copy=True), False),
    "contiguous": (lambda x: x.contiguous(), True),
    "float": (lambda x: x.float(), True),
    "double": (lambda x: x.double(), False),
    "type_as": (lambda x: x.type_as(x), True),
    "type(str)": (lambda x: x.type(x.type()), True),
    "cpu": (lambda x: x.cpu(), True),
    "atleast_2d": (lambda x: torch.atleast_2d(x), True),
    "resolve_conj": (lambda x: x.resolve_conj(), True),
    "requires_grad_(False)": (lambda x: x.requires_grad_(False), True),
    "broadcast_tensors": (lambda x: torch.broadcast_tensors(x)[0], True),
    "dropout eval": (lambda x: F.dropout(x, 0.5, training=False), True),
    "dropout p=0": (lambda x: F.dropout(x, 0.0), True),
    "torch.dropout eval": (lambda x: torch.dropout(x, 0.3, False), True),
    "nn.Dropout eval": (lambda x: torch.nn.Dropout().eval()(x), True),
    "detach": (lambda x: x.detach(), False),
    "view_as": (lambda x: x.view_as(x), False),
    "clone": (lambda x: x.clone(), False),
    "reshape same": (lambda x: x.reshape(x.shape), False),
    "t().contiguous()": (lambda x: x.t().contiguous(), False),
}


@pytest.mark.parametrize("name", list(CONVERSIONS))
def test_is_of_a_conversion_matches_eager(name, backend):
    conv, returns_self = CONVERSIONS[name]

    def fn(x):
        y = conv(x)
        return y is x, y * 2

    cf = bytegraph.compile(fn, backend=backend.arg)
    for _ in range(3):
        x = torch.randn(2, 3)
        got, want = cf(x), fn(x)
        assert got[0] is want[0] is returns_self
        assert backend.close(got[1], want[1])
    backend.assert_graphs(cf, 1)


@pytest.mark.parametrize("name", [n for n, (_, s) in CONVERSIONS.items() if s])
def test_a_returned_conversion_is_the_callers_tensor(name, backend):
    """``out is x`` holds for the caller, whatever the backend does with the graph's outputs."""
    conv, _ = CONVERSIONS[name]

    def fn(x):
        return conv(x), x + 1

    cf = bytegraph.compile(fn, backend=backend.arg)
    for _ in range(3):
        x = torch.randn(2, 3)
        out, y = cf(x)
        assert out is x and backend.close(y, x + 1)
    backend.assert_graphs(cf, 1)


def test_the_result_of_a_computed_tensor_conversion_is_that_tensor(backend):
    def fn(x):
        y = x + 1
        z = y.float()
        return y, z, y.contiguous() is y

    cf = bytegraph.compile(fn, backend=backend.arg)
    for _ in range(3):
        y, z, flag = cf(torch.randn(3))
        assert y is z and flag is True
    backend.assert_graphs(cf, 1)


def test_a_stored_conversion_is_the_callers_tensor(backend):
    """Stored into a list and an attribute of objects from outside the call."""
    seen = []

    class Holder:
        pass

    holder = Holder()

    def fn(x, w):
        seen.append(x.to(x.device))
        holder.last = w.contiguous()
        holder.detached = x.detach()
        return x * w

    cf = bytegraph.compile(fn, backend=backend.arg)
    for _ in range(3):
        x, w = torch.randn(3), torch.randn(3)
        assert backend.close(cf(x, w), x * w)
        assert seen[-1] is x and holder.last is w
        assert holder.detached is not x and torch.equal(holder.detached, x)
    backend.assert_graphs(cf, 1)


def test_in_place_ops_return_their_input(backend):
    def fn(x, y):
        a = x.add_(1)
        b = F.relu(y, inplace=True)
        return a is x, b is y, a, b

    cf = bytegraph.compile(fn, backend=backend.arg)
    for _ in range(3):
        x, y = torch.randn(3), torch.randn(3)
        xe, ye = x.clone(), y.clone()
        got, want = cf(x, y), fn(xe, ye)
        assert got[:2] == want[:2] == (True, True)
        assert got[2] is x and got[3] is y
        assert backend.close(x, xe) and backend.close(y, ye)
    backend.assert_graphs(cf, 1)


# name -> (program writing through views or aliases, arguments maker)
WRITES = {
    "row of input": (lambda x: (x[0].add_(1), x.sum())[1], lambda: [torch.zeros(2, 3)]),
    "flattened view, returned": (lambda x: x.view(-1).mul_(2), lambda: [torch.ones(2, 3)]),
    "transposed view setitem": (lambda x: (x.t().__setitem__(0, 5.0), x)[1], lambda: [torch.zeros(2, 3)]),
    "diagonal fill_": (lambda x: x.diagonal().fill_(7.0), lambda: [torch.zeros(3, 3)]),
    "view of a view": (lambda x: x.view(3, 2)[1:].add_(1), lambda: [torch.zeros(2, 3)]),
    "relu inplace on a row": (lambda x: F.relu(x[1], inplace=True), lambda: [torch.randn(2, 3)]),
    "same tensor twice": (lambda x, y: (x.add_(1), x + y)[1], lambda: [torch.zeros(3)] * 2),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_writes_through_views_reach_the_input(name, backend):
    fn, make = WRITES[name]
    cf = bytegraph.compile(fn, backend=backend.arg)
    for _ in range(3):
        mine = make()
        theirs = [t.clone() for t in mine] if mine[0] is not mine[-1] or len(mine) == 1 else [mine[0].clone()] * 2
        got, want = cf(*mine), fn(*theirs)
        assert backend.close(got, want)
        assert all(backend.close(a, b) for a, b in zip(mine, theirs))
        # a returned view is a view of the caller's tensor, as in eager
        assert (got._base is not None and got._base is mine[0]) == (want._base is not None and want._base is theirs[0])
    backend.assert_graphs(cf, 1)


def test_an_in_place_functional_op_counts_as_a_write_into_the_input():
    """``F.relu(buf, inplace=True)`` writes into ``buf`` though its name does not say so: an
    op failing at run time after it (inside the program's try) must leave ``buf`` as eager does."""
    def fn(x, idx, buf):
        try:
            F.relu(buf, inplace=True)
            torch.mul(buf, 3, out=buf)
            y = torch.gather(x, 0, idx)
        except RuntimeError:
            y = x * -1
        return y

    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    for idx in ([0, 1], [5, 0], [1, 1]):
        x, i = torch.randn(3), torch.tensor(idx)
        mine, theirs = torch.tensor([-1.0, 2.0, -3.0]), torch.tensor([-1.0, 2.0, -3.0])
        assert same(cf(x, i, mine), fn(x, i, theirs))
        assert same(mine, theirs)
    assert (cf.stats.captures, cf.stats.graphs, cf.stats.eager) == (1, 1, 0) and counter.frame_count == 1


@pytest.mark.parametrize("op", ["unsqueeze_", "t_", "squeeze_"])
def test_an_in_place_metadata_change_of_an_input(op, backend):
    """``x.unsqueeze_(0)`` changes the caller's tensor; the guard checks the shape it came in with
    (not the shape the trace left it in), so the next call with a fresh tensor hits the graph."""
    def fn(x):
        getattr(x, op)(*([0] if op == "unsqueeze_" else []))
        return x * 2

    cf = bytegraph.compile(fn, backend=backend.arg)
    for _ in range(3):
        mine = torch.randn(2, 3) if op != "squeeze_" else torch.randn(2, 1, 3)
        theirs = mine.clone()
        got, want = cf(mine), fn(theirs)
        assert backend.close(got, want) and mine.shape == theirs.shape and mine.stride() == theirs.stride()
    backend.assert_graphs(cf, 1)
