"""Objects that existed before the call and are reached without a source (a global of one of
torch's trusted modules, such as pytree's ``_LEAF_SPEC``) are rebuilt as themselves when they
escape the trace, never as a fresh object of their class (which has none of their state).

tree_flatten breaks (its nested ``def helper(node: PyTree, leaves: list[Any])`` evaluates a
``list[Any]`` annotation natively) and resumes; the spec it returns holds ``_LEAF_SPEC``.
"""

import torch
from torch.utils import _pytree as pytree

import bytegraph
from bytegraph.testing import same


def flatten(d):
    leaves, spec = pytree.tree_flatten(d)
    return [x * 2 for x in leaves], spec


def roundtrip(d):
    leaves, spec = pytree.tree_flatten(d)
    return pytree.tree_unflatten([x + 1 for x in leaves], spec)


def tree_map(xs):
    return pytree.tree_map(lambda t: t * 2, xs)


def _tree():
    return {"x": torch.randn(2), "y": [torch.randn(3), (torch.randn(1), torch.randn(2))]}


def test_spec_with_the_shared_leaf_spec_escapes_intact(counter):
    compiled = bytegraph.compile(flatten, backend=counter)
    for _ in range(3):
        d = _tree()
        leaves, spec = compiled(d)
        eager_leaves, eager_spec = flatten(d)
        assert same(leaves, eager_leaves)
        assert spec == eager_spec and spec.num_leaves == 4
        assert pytree.tree_unflatten(leaves, spec).keys() == d.keys()
    assert all(s.eager == 0 for s in compiled.stats_all), [s.eager_reasons for s in compiled.stats_all]


def test_flatten_unflatten_roundtrip(counter):
    compiled = bytegraph.compile(roundtrip, backend=counter)
    for _ in range(3):
        d = _tree()
        assert same(compiled(d), roundtrip(d))
    assert all(s.eager == 0 for s in compiled.stats_all), [s.eager_reasons for s in compiled.stats_all]
    assert counter.frame_count >= 1


def test_tree_map(counter):
    compiled = bytegraph.compile(tree_map, backend=counter)
    for _ in range(3):
        xs = [torch.randn(2), (torch.randn(3), torch.randn(2))]
        assert same(compiled(xs), tree_map(xs))
    assert all(s.eager == 0 for s in compiled.stats_all), [s.eager_reasons for s in compiled.stats_all]
