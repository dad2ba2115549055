"""Backends (issue #6), training: gradients through compiled graphs, with every backend.

Inputs and parameters that require grad get eager's gradients (bitwise for eager, aot_eager and
a callable backend; within tolerance for Inductor); ``loss.backward()`` after a compiled forward
works; a training loop (loss inside the compiled forward, backward and optimizer step outside)
gives eager's loss at every step.
"""

import torch
import torch.nn.functional as F
from torch import nn

import bytegraph
from bytegraph.demo import MLP, GPTBlock



def _grads(tensors):
    out = [t.grad.clone() for t in tensors]
    for t in tensors:
        t.grad = None
    return out


def _fn(x, w, b):
    h = torch.tanh(x @ w + b)
    return (torch.softmax(h, -1) * h).sum(-1)


def test_function_grads_of_inputs(backend):
    cf = bytegraph.compile(_fn, backend=backend.arg)
    for _ in range(3):
        x = torch.randn(4, 8, requires_grad=True)
        w, b = torch.randn(8, 6, requires_grad=True), torch.randn(6, requires_grad=True)
        out = cf(x, w, b)
        assert out.requires_grad and out.grad_fn is not None
        out.sum().backward()
        got = _grads([x, w, b])
        ref = _fn(x, w, b)
        ref.sum().backward()
        assert backend.close(out, ref)
        assert all(backend.close(g, r) for g, r in zip(got, _grads([x, w, b])))
    backend.assert_graphs(cf, 1)


def test_only_some_inputs_require_grad(backend):
    cf = bytegraph.compile(_fn, backend=backend.arg)
    x, w, b = torch.randn(4, 8), torch.randn(8, 6, requires_grad=True), torch.randn(6)
    cf(x, w, b).sum().backward()
    got = _grads([w])
    _fn(x, w, b).sum().backward()
    assert backend.close(got[0], w.grad) and x.grad is None and b.grad is None
    backend.assert_graphs(cf, 1)


def test_module_backward_after_compiled_forward(backend):
    """The loss is computed outside: ``loss.backward()`` goes through the compiled graph into
    the module's parameters and the input."""
    model = MLP()
    cm = bytegraph.compile(model, backend=backend.arg)
    params = list(model.parameters())
    for _ in range(3):
        x, y = torch.randn(5, 16, requires_grad=True), torch.randint(0, 8, (5,))
        F.cross_entropy(cm(x), y).backward()
        got = _grads([x, *params])
        F.cross_entropy(model(x), y).backward()
        ref = _grads([x, *params])
        assert all(backend.close(g, r) for g, r in zip(got, ref))
    backend.assert_graphs(cm, 1)


def test_gpt_block_grads(backend):
    model = GPTBlock()
    cm = bytegraph.compile(model, backend=backend.arg)
    params = list(model.parameters())
    for _ in range(2):
        x = torch.randn(2, 8, 64, requires_grad=True)
        cm(x).pow(2).mean().backward()
        got = _grads([x, *params])
        model(x).pow(2).mean().backward()
        ref = _grads([x, *params])
        assert all(backend.close(g, r, rtol=1e-4, atol=1e-6) for g, r in zip(got, ref))
    backend.assert_graphs(cm, 1)


def test_frozen_parameters_get_no_grad(backend):
    model = MLP()
    model.fc1.requires_grad_(False)
    cm = bytegraph.compile(model, backend=backend.arg)
    x = torch.randn(3, 16)
    cm(x).sum().backward()
    got = _grads([model.fc2.weight, model.fc2.bias])
    assert model.fc1.weight.grad is None and model.fc1.bias.grad is None
    model(x).sum().backward()
    assert all(backend.close(g, r) for g, r in zip(got, _grads([model.fc2.weight, model.fc2.bias])))
    # Unfreezing changes a parameter's requires_grad: guarded, so it recompiles once.
    model.fc1.requires_grad_(True)
    cm(x).sum().backward()
    assert model.fc1.weight.grad is not None
    backend.assert_graphs(cm, 2, recompiles=1)


def test_torch_compile_aot_autograd_backend_plugs_in_unchanged():
    """A backend built with torch._dynamo's aot_autograd helper: forward and backward graphs
    are each compiled once, gradients are eager's."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    compiled = {"fw": 0, "bw": 0}

    def counting(kind):
        def compiler(gm, example_inputs):
            compiled[kind] += 1
            return make_boxed_func(gm.forward)
        return compiler

    backend = aot_autograd(fw_compiler=counting("fw"), bw_compiler=counting("bw"))
    cf = bytegraph.compile(_fn, backend=backend)
    for _ in range(3):
        x, w, b = torch.randn(4, 8), torch.randn(8, 6, requires_grad=True), torch.randn(6, requires_grad=True)
        cf(x, w, b).sum().backward()
        got = _grads([w, b])
        _fn(x, w, b).sum().backward()
        assert all(torch.equal(g, r) for g, r in zip(got, _grads([w, b])))
    assert compiled == {"fw": 1, "bw": 1}
    assert (cf.stats.captures, cf.stats.graphs) == (1, 1)


# --------------------------------------------------------------------------- training loops

class WithLoss(nn.Module):
    """model + loss: what a training step compiles (the loss inside the compiled forward)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, target):
        return F.mse_loss(self.model(x), target)


def _train(make_model, shapes, optimizer, steps, backend=None):
    torch.manual_seed(0)
    model = make_model()
    step_fn = WithLoss(model)
    if backend is not None:
        step_fn = bytegraph.compile(step_fn, backend=backend)
    opt = optimizer(model.parameters())
    data = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(steps):
        x, target = (torch.randn(*shape, generator=data) for shape in shapes)
        opt.zero_grad()
        loss = step_fn(x, target)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return losses, model, step_fn


def _check_training(backend, make_model, shapes, optimizer, steps=25):
    """``steps`` steps from the same initial weights and data, eagerly and compiled; ``shapes``
    are the input's and the target's."""
    ref_losses, ref_model, _ = _train(make_model, shapes, optimizer, steps)
    losses, model, compiled = _train(make_model, shapes, optimizer, steps, backend.arg)
    assert len(losses) == steps
    if backend.exact:
        assert all(torch.equal(a, b) for a, b in zip(losses, ref_losses))
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), ref_model.parameters()))
    else:
        assert all(torch.allclose(a, b, rtol=1e-4) for a, b in zip(losses, ref_losses))
    assert losses[-1] < losses[0]
    backend.assert_graphs(compiled, 1)


def test_training_loop_mlp_sgd(backend):
    _check_training(backend, MLP, [(8, 16), (8, 8)], lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))


def test_training_loop_gpt_block_adam(backend):
    _check_training(backend, GPTBlock, [(2, 8, 64), (2, 8, 64)], lambda p: torch.optim.Adam(p, lr=1e-3), steps=20)
