"""Higher-order ops are one graph node each: torch.cond, while_loop, flex_attention, torch.func
transforms, checkpoint and autograd.Function (variables/higher_order.py).

Every program runs under eager, aot_eager, inductor and a recording backend, three calls each: new
values, then a new shape (one recompile), compared with eager; each capture must be exactly one graph
(no break, nothing eager), and the recorded graph must hold the op's node with its bodies as
subgraph modules. Programs with a backward are also trained (gradients compared with eager's).
Bodies that cannot be one subgraph are a GB021 break that runs the op natively, with eager's result
and eager's side effects.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest
import torch
import torch.utils._pytree as pytree
from torch._higher_order_ops.while_loop import while_loop
from torch.nn.attention.flex_attention import create_block_mask, flex_attention
from torch.utils.checkpoint import checkpoint

import bytegraph
from bytegraph.runtime import torch_state

FILE = os.path.basename(__file__)
torch.manual_seed(0)
W = torch.randn(4, 4)


def _close(a: Any, b: Any, atol: float = 1e-4) -> bool:
    la, lb = pytree.tree_leaves(a), pytree.tree_leaves(b)
    return len(la) == len(lb) and all(
        torch.allclose(x, y, atol=atol, rtol=1e-4) if isinstance(x, torch.Tensor) else x == y for x, y in zip(la, lb))


# -- the programs ------------------------------------------------------------------------------

def cond_prog(x, w):
    y = x * 2                                       # a value of the graph, lifted into the true branch
    return torch.cond(x.sum() > 0, lambda t: (t @ w).relu() + y, lambda t: t - 1, (x,))


def cond_symbolic_pred_prog(x):
    return torch.cond(x.shape[0] > 4, lambda t: t.sin(), lambda t: t.cos(), (x,)) + 1


def while_loop_prog(x):
    # the predicate depends on the data: how many doublings until the sum passes 100
    return while_loop(lambda i, t: t.abs().sum() < 100, lambda i, t: (i + 1, t * 2),
                      (torch.zeros((), dtype=torch.int64), x))


def vmap_prog(xs):
    return torch.func.vmap(lambda a: (a @ W).relu())(xs)


def vmap_in_dims_prog(x, b):
    return torch.func.vmap(lambda a, c: a @ W + c, in_dims=(1, None))(x, b)


def nested_vmap_prog(x):
    return torch.func.vmap(torch.func.vmap(lambda a: (a * W[0]).sum()))(x)


def grad_prog(x):
    return torch.func.grad(lambda a: (a.sin() * a.cos().sum()).tanh().sum())(x)


def grad_and_value_prog(x):
    return torch.func.grad_and_value(lambda a: ((a ** 2).sum(), a.cos()), has_aux=True)(x)


def jacrev_prog(x):
    return torch.func.jacrev(lambda a: a.sin() * a.sum())(x)


def jvp_prog(x, t):
    return torch.func.jvp(lambda a: (a * a.sum()).sin(), (x,), (t,))


MODEL = torch.nn.Linear(4, 3)
PARAMS = {k: v.detach().clone() for k, v in MODEL.named_parameters()}


def per_sample_grads_prog(x, y):
    def loss(p, xx, yy):
        return ((torch.func.functional_call(MODEL, p, (xx,)) - yy) ** 2).mean()
    return torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(PARAMS, x, y)


NET = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).eval()
STATE = {**{k: v.detach() * 1.5 for k, v in NET.named_parameters()}, **dict(NET.named_buffers())}


def functional_call_strict_prog(x):
    # every parameter and buffer given (strict), no tie handling; the module's state is swapped in
    # and out inside the jacrev body, as eager does it
    f = lambda a: torch.func.functional_call(NET, STATE, (a,), strict=True, tie_weights=False)  # noqa: E731
    return torch.func.jacrev(f)(x)


class _Holder:
    def __init__(self) -> None:
        self.scale = torch.ones(4)      # (an instance attribute: the body's restore leaves the object as it was)


HOLDER = _Holder()


def swap_restored_prog(xs):
    def body(a):
        old = HOLDER.scale
        HOLDER.scale = a.cos()            # outside state swapped for the body's own tensor...
        try:
            return a * HOLDER.scale
        finally:
            HOLDER.scale = old            # ...and restored before it returns: no side effect left
    return torch.func.vmap(body)(xs)


def _score(score, b, h, q_idx, kv_idx):
    return score + BIAS[h] * (q_idx - kv_idx)


def _causal(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx


BIAS = torch.randn(2)


def flex_prog(q, k, v, block_mask):
    return flex_attention(q, k, v, score_mod=_score, block_mask=block_mask)


def flex_mask_inside_prog(q, k, v):
    mask = create_block_mask(_causal, 1, 2, q.shape[2], k.shape[2], device="cpu")
    return flex_attention(q * 0.5, k, v, score_mod=_score, block_mask=mask)


def checkpoint_prog(x, w):
    return checkpoint(lambda a: (a @ w).tanh().sin(), x, use_reentrant=False).sum()


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).relu() * 2


class CheckpointedModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = _Block()
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.head(checkpoint(self.block, x, use_reentrant=False)).sum()


class ScaledSin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x.sin() * scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.cos() * ctx.scale, None


class MatmulArgmax(torch.autograd.Function):
    """setup_context style, two outputs (one not differentiable), once_differentiable, needs_input_grad."""

    @staticmethod
    def forward(x, w):
        y = x @ w
        return y, y.argmax(-1)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad, _):
        x, w = ctx.saved_tensors
        return (grad @ w.t() if ctx.needs_input_grad[0] else None,
                x.t() @ grad if ctx.needs_input_grad[1] else None)


class Exp(torch.autograd.Function):
    """A tensor kept as a ctx attribute instead of save_for_backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.y = x.exp()
        return ctx.y

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.y


W_TRAIN = torch.randn(4, 3, requires_grad=True)


def autograd_function_prog(x):
    a = ScaledSin.apply(x * 2, 3.0)
    b, idx = MatmulArgmax.apply(a, W_TRAIN)
    return Exp.apply(b * 0.1).sum() + idx.sum() * 0


def _randn(*shape: int, grad: bool = False) -> Callable[[int], tuple[torch.Tensor]]:
    """A maker of the arguments (one tensor whose first dimension is ``n``, the shape that changes)."""
    return lambda n: (torch.randn(n, *shape, requires_grad=grad),)


def _flex_args(n: int) -> tuple[Any, ...]:
    q, k, v = (torch.randn(1, 2, 64 * n, 16) for _ in range(3))
    return q, k, v, create_block_mask(_causal, 1, 2, 64 * n, 64 * n, device="cpu")


# name -> (function, arguments for size n, the op the graph must call)
HOP = torch.ops.higher_order
FUNC = "func_transform"
PROGRAMS: dict[str, tuple[Callable[..., Any], Callable[[int], tuple[Any, ...]], Any]] = {
    "cond": (cond_prog, lambda n: (torch.randn(n, 4) * (1 if n % 2 else -1), W), HOP.cond),
    "cond symbolic predicate": (cond_symbolic_pred_prog, lambda n: (torch.randn(n + 2),), HOP.cond),
    "while_loop": (while_loop_prog, lambda n: (torch.rand(n) + 0.1,), HOP.while_loop),
    "vmap": (vmap_prog, lambda n: (torch.randn(n, 4),), FUNC),
    "vmap in_dims": (vmap_in_dims_prog, lambda n: (torch.randn(4, n), torch.randn(4)), FUNC),
    "nested vmap": (nested_vmap_prog, lambda n: (torch.randn(n, 3, 4),), FUNC),
    "grad": (grad_prog, lambda n: (torch.randn(n),), FUNC),
    "grad_and_value": (grad_and_value_prog, lambda n: (torch.randn(n),), FUNC),
    "jacrev": (jacrev_prog, lambda n: (torch.randn(n),), FUNC),
    "jvp": (jvp_prog, lambda n: (torch.randn(n), torch.randn(n)), FUNC),
    "functional_call in vmap(grad)": (per_sample_grads_prog, lambda n: (torch.randn(n, 4), torch.randn(n, 3)), FUNC),
    "functional_call strict in jacrev": (functional_call_strict_prog, lambda n: (torch.randn(n, 4),), FUNC),
    "outside state swapped and restored in vmap": (swap_restored_prog, lambda n: (torch.randn(n, 4),), FUNC),
    "flex_attention": (flex_prog, _flex_args, HOP.flex_attention),
    "flex_attention, create_block_mask inside": (flex_mask_inside_prog, lambda n: _flex_args(n)[:3],
                                                 HOP.flex_attention),
    "checkpoint": (checkpoint_prog, lambda n: (torch.randn(n, 4, requires_grad=True), W),
                   HOP.tag_activation_checkpoint),
    "autograd.Function": (autograd_function_prog, _randn(4, grad=True), HOP.autograd_function_apply),
}
# new values (a cache hit), new values again, a new shape (one recompile)
SIZES = (3, 3, 5)


def _targets(gm: torch.fx.GraphModule) -> list[Any]:
    out = []
    for n in gm.graph.nodes:
        if n.op == "call_function":
            out.append(n.target if not callable(n.target) or n.target.__name__ != FUNC else FUNC)
        if n.op == "get_attr":
            out += _targets(getattr(gm, n.target))
    return out


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_one_graph_per_call_site(name, backend):
    fn, make_args, op = PROGRAMS[name]
    compiled = bytegraph.compile(fn, backend=backend.arg)
    for n in SIZES:
        args = make_args(n)
        assert _close(compiled(*args), fn(*args)), name
    backend.assert_graphs(compiled, 2, 1)
    assert torch._C._functorch.maybe_current_level() is None
    if backend.recorder is not None:         # (the last graph: a symbolic predicate is one after the recompile)
        assert op in _targets(backend.recorder.calls[-1].gm), backend.recorder.calls[-1].gm.code


# -- training ----------------------------------------------------------------------------------

W_CHECKPOINT = torch.randn(4, 4, requires_grad=True)


def _train_step(fn: Callable[..., Any], args: tuple[Any, ...], params: list[torch.Tensor]) -> tuple[Any, list[Any]]:
    loss = fn(*args)
    leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad] + params
    return loss, list(torch.autograd.grad(loss, leaves))


TRAINING = {
    "checkpoint": (checkpoint_prog, lambda n: (torch.randn(n, 4, requires_grad=True), W_CHECKPOINT),
                   lambda args: [args[1]]),
    "checkpoint of a submodule": (CheckpointedModel(), lambda n: (torch.randn(n, 4, requires_grad=True),), None),
    "autograd.Function": (autograd_function_prog, _randn(4, grad=True), lambda args: [W_TRAIN]),
}


@pytest.mark.parametrize("name", list(TRAINING))
@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"], indirect=True)
def test_training_matches_eager(name, backend):
    fn, make_args, params_of = TRAINING[name]
    compiled = bytegraph.compile(fn, backend=backend.arg)
    for n in SIZES:
        args = make_args(n)
        params = list(fn.parameters()) if isinstance(fn, torch.nn.Module) else params_of(args)
        loss, grads = _train_step(compiled, args, params)
        ref_loss, ref_grads = _train_step(fn, args, params)
        assert _close(loss, ref_loss) and _close(grads, ref_grads), name
    backend.assert_graphs(compiled, 2, 1)


def _saved_tensors(fn: Callable[..., Any], *args: Any) -> int:
    count = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        count[0] += 1
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn(*args)
    loss.backward()
    return count[0]


def _plain_prog(x, w):
    return (x @ w).tanh().sin().sum()


@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"], indirect=True)
def test_checkpoint_recomputes_in_backward(backend):
    """The checkpointed block's activations are not saved for backward (it is recomputed there):
    fewer saved tensors than the same code without checkpoint, as many as torch.compile saves."""
    x, w = torch.randn(8, 4, requires_grad=True), torch.randn(4, 4, requires_grad=True)
    checkpointed = bytegraph.compile(checkpoint_prog, backend=backend.arg)
    plain = bytegraph.compile(_plain_prog, backend=backend.arg)
    checkpointed(x, w), plain(x, w)           # (compiled first: only running is measured)
    n_ck, n_plain = _saved_tensors(checkpointed, x, w), _saved_tensors(plain, x, w)
    assert n_ck < n_plain, (n_ck, n_plain)
    assert n_ck == _saved_tensors(torch.compile(checkpoint_prog, backend=backend.arg), x, w)
    backend.assert_graphs(checkpointed, 1)


def _dropout_block_prog(x, w):
    return checkpoint(lambda a: torch.nn.functional.dropout(a @ w, 0.5, training=True).sin(), x,
                      use_reentrant=False).sum()


@pytest.mark.parametrize("backend", ["eager", "aot_eager"], indirect=True)
def test_checkpoint_recomputes_dropout_with_the_forward_mask(backend):
    """A recomputed random op draws what the forward drew (torch's checkpoint keeps the RNG state;
    torch's op leaves that to Inductor, so bytegraph's "eager" backend runs torch's checkpoint
    instead: ``registry.runnable_as_python``). Inductor's random numbers are its own, not comparable
    with eager's; a callable backend that runs the graph as Python gets torch's op, as from
    torch.compile."""
    compiled = bytegraph.compile(_dropout_block_prog, backend=backend.arg)
    w = torch.randn(8, 8, requires_grad=True)
    for _ in range(3):
        x = torch.randn(4, 8)
        torch.manual_seed(0)
        loss, grads = _train_step(compiled, (x, w), [w])
        torch.manual_seed(0)
        ref, ref_grads = _train_step(_dropout_block_prog, (x, w), [w])
        assert _close(loss, ref) and _close(grads, ref_grads)
    backend.assert_graphs(compiled, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="flex_attention has no backward on CPU in torch 2.13 "
                    "(NotImplementedError in eager and torch.compile alike); benchmarks/gpu_check.py runs it on a GPU")
@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"], indirect=True)
def test_flex_attention_training(backend):
    mask = create_block_mask(_causal, 1, 2, 128, 128, device="cuda")
    bias = BIAS.cuda()

    def attend(q, k, v):
        return flex_attention(q, k, v, score_mod=lambda s, b, h, qi, ki: s + bias[h] * (qi - ki),
                              block_mask=mask).sum()
    compiled = bytegraph.compile(attend, backend=backend.arg)
    for _ in range(2):
        q, k, v = (torch.randn(1, 2, 128, 16, device="cuda", requires_grad=True) for _ in range(3))
        loss, grads = _train_step(compiled, (q, k, v), [])
        ref, ref_grads = _train_step(torch.compile(attend), (q, k, v), [])
        assert _close(loss, ref, atol=1e-2) and _close(grads, ref_grads, atol=1e-2)
    backend.assert_graphs(compiled, 1)


def test_flex_attention_backward_on_cpu_raises_as_eager():
    q, k, v = (torch.randn(1, 2, 64, 16, requires_grad=True) for _ in range(3))
    compiled = bytegraph.compile(flex_prog, backend="eager")
    mask = create_block_mask(_causal, 1, 2, 64, 64, device="cpu")
    with pytest.raises(NotImplementedError, match="does not support backward on CPU"):
        compiled(q, k, v, mask)


# -- what a body cannot be: a clear break (GB021), and eager's result --------------------------

def _data_dependent_branch(x):
    def block(t):
        if t.sum() > 1:                   # Python control flow on data inside a body
            return t + 1
        return t - 1
    return checkpoint(block, x * 2, use_reentrant=False) + 1


LOG: list[torch.Tensor] = []


def _appends_outside(xs):
    def body(a):
        LOG.append(a)                     # a side effect on state outside the body
        return a * 2
    return torch.func.vmap(body)(xs).sum()


def _assigns_nonlocal(x):
    seen = 0

    def body(t):
        nonlocal seen
        seen = seen + 1                   # a closure variable of the caller
        return t.sin()
    out = checkpoint(body, x, use_reentrant=False)
    return out, seen


def _writes_its_input(x):
    return checkpoint(lambda t: t.mul_(2).sin(), x.clone(), use_reentrant=False)


COUNTER = 0


def _assigns_global(x):
    def loss(a):
        global COUNTER
        COUNTER += 1
        return a.sin().sum()
    return torch.func.grad(loss)(x)


def _sets_attribute(xs):
    def body(a):
        HOLDER.calls = getattr(HOLDER, "calls", 0) + 1     # changed and left changed
        return a * 2
    return torch.func.vmap(body)(xs).sum()


BREAKS = {
    "data-dependent branch in a cond branch": (_data_dependent_branch, lambda: (torch.randn(5),),
                                               "if t.sum() > 1", "GB002"),
    "list append in a vmap body": (_appends_outside, lambda: (torch.randn(3, 2),), "LOG.append(a)", "GB021"),
    "nonlocal assignment in a checkpointed function": (_assigns_nonlocal, lambda: (torch.randn(3),),
                                                       "seen = seen + 1", "GB021"),
    "in-place write into a body input": (_writes_its_input, lambda: (torch.randn(3),),
                                         "checkpoint(lambda t: t.mul_(2)", "GB021"),
    "global assignment in a grad body": (_assigns_global, lambda: (torch.randn(3),), "COUNTER += 1", "GB021"),
    "attribute left changed in a vmap body": (_sets_attribute, lambda: (torch.randn(3, 2),), "HOLDER.calls = ",
                                              "GB021"),
}


def _line_of(text: str) -> int:
    with open(__file__, encoding="utf-8") as f:
        return next(n for n, line in enumerate(f, 1) if text in line)


@pytest.mark.parametrize("name", list(BREAKS))
def test_body_that_cannot_be_a_subgraph_breaks(name, counter):
    global COUNTER
    fn, make_args, text, inner = BREAKS[name]
    compiled = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        args = make_args()
        LOG.clear()
        COUNTER = 0
        before = torch_state.TorchState()
        out = compiled(*args)
        effects = (len(LOG), COUNTER)
        assert before.changed() == []
        LOG.clear()
        COUNTER = 0
        assert _close(out, fn(*args)) and effects == (len(LOG), COUNTER), name
    reasons = [r for s in compiled.stats_all for r in s.break_reasons]
    assert reasons and reasons[0].startswith("graph break GB021:"), reasons
    assert inner in reasons[0] and f"{FILE}:{_line_of(text)}" in reasons[0], reasons[0]
    assert all(s.eager == 0 for s in compiled.stats_all)


def test_fullgraph_names_the_body():
    compiled = bytegraph.compile(_data_dependent_branch, backend="eager", fullgraph=True)
    with pytest.raises(bytegraph.CompileError) as info:
        compiled(torch.randn(5))
    message = str(info.value)
    assert "GB021" in message and "the function given to torch.utils.checkpoint" in message, message
    assert f"{FILE}:{_line_of('if t.sum() > 1')} in " in message, message


def test_python_bool_predicate_runs_the_branch(counter):
    """torch.cond with a Python bool runs that branch, as eager does: no cond node."""
    def fn(x, flag):
        return torch.cond(flag, lambda t: t + 1, lambda t: t - 1, (x,))
    compiled = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    assert torch.equal(compiled(x, True), x + 1) and torch.equal(compiled(x, False), x - 1)
    assert all(HOP.cond not in _targets(gm) for gm in counter.graphs)


def test_guards_of_a_body_are_the_frame_guards(counter):
    """A global the body reads is guarded on the frame: changing it recompiles."""
    global SCALE
    SCALE = 2.0

    def fn(xs):
        return torch.func.vmap(lambda a: a * SCALE)(xs)
    compiled = bytegraph.compile(fn, backend=counter)
    xs = torch.randn(3, 2)
    assert torch.equal(compiled(xs), xs * 2)
    SCALE = 3.0
    assert torch.equal(compiled(xs), xs * 3)
    assert compiled.stats.recompiles == 1


SCALE = 2.0


def test_gradient_checkpointing_of_a_transformers_model():
    """HuggingFace's gradient checkpointing (``functools.partial(checkpoint, use_reentrant=False)`` around
    each block's ``__call__``): one graph with a checkpoint node per block, eager's loss and gradients."""
    pytest.importorskip("transformers")
    from bytegraph.testing import CompileCounter
    from bytegraph.zoo import build

    model, make_inputs = build("gpt2", "causal-lm")
    model.train()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    counter = CompileCounter()
    compiled = bytegraph.compile(model, backend=counter)
    for _ in range(2):
        ids = make_inputs(12)["input_ids"]
        model.zero_grad()
        torch.manual_seed(1)                       # (dropout: the same masks in both runs)
        compiled(input_ids=ids, labels=ids).loss.backward()
        ours = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad()
        torch.manual_seed(1)
        model(input_ids=ids, labels=ids).loss.backward()
        assert ours and all(_close(g, p.grad) for n, p in model.named_parameters() if (g := ours.get(n)) is not None)
    assert counter.frame_count == 1
    blocks = len(model.transformer.h)
    assert _targets(counter.graphs[0]).count(HOP.tag_activation_checkpoint) == blocks


def _named_body(a):
    return a * 2


def _pair(a):
    return a, a.sum()


# vmap's own checks (torch._functorch.vmap: _process_batched_inputs, then the outputs'): the call -> eager's words
_VMAP_ERRORS = {
    "in_dim past a 0-dim tensor": (lambda x, y: torch.func.vmap(torch.sin)(x.sum()), "dimensionality 0"),
    "batch sizes differ": (lambda x, y: torch.func.vmap(lambda a, b: a + b)(x, y[:2]), "same size in the mapped dimension"),
    "a mapped non-tensor": (lambda x, y: torch.func.vmap(lambda a, n: a * n, in_dims=(0, 0))(x, 3), "non-Tensor"),
    "nothing to map over": (lambda x, y: torch.func.vmap(_named_body, in_dims=(None,))(x), "at least one Tensor"),
    "in_dims of another structure": (lambda x, y: torch.func.vmap(_named_body, in_dims=(0, 0))(x),
                                     "not compatible with the structure"),
    # raised by torch.func at run time, about the outputs: the wrapper it runs carries the name
    "out_dims of another structure": (lambda x, y: torch.func.vmap(_pair, out_dims=(0,))(x),
                                      "out_dims is not compatible"),
}


@pytest.mark.parametrize("case", list(_VMAP_ERRORS))
def test_vmap_errors_are_eager_ones(case, counter):
    """An input vmap refuses raises eager's ValueError, in eager's words (the function's own name,
    not a wrapper's), where the call is, and so does an output it refuses (at run time): a handler
    in the program sees eager's error, and the frame is still captured."""
    call, words = _VMAP_ERRORS[case]

    def fn(x, y):
        z = x * 2
        try:
            out = call(x, y)
        except ValueError as e:
            return z + 1, str(e)
        return z, out

    x, y = torch.randn(3, 4), torch.randn(3, 4)
    compiled = bytegraph.compile(fn, backend=counter)
    for _ in range(2):
        expected, got = fn(x, y), compiled(x, y)
        assert words in expected[1] and got[1] == expected[1]
        assert torch.equal(got[0], expected[0])
    assert counter.frame_count == 1 and compiled.stats.captures == 1 and not compiled.stats.eager_reasons
