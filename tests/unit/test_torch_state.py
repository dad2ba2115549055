"""runtime/torch_state.py: snapshot and restore of torch's process-wide state.

Every item is perturbed and restored through a capture in tests/meta/test_frame_boundary.py;
here: restoring writes nothing when nothing changed, restores under modes left on, and the
order of ``ITEMS`` (transform levels and modes before what is read through them).
"""

import torch

from bytegraph.runtime import torch_state


def test_nothing_changed_nothing_written(monkeypatch):
    state = torch_state.TorchState()
    writes = []
    items = [torch_state.StateItem(i.name, i.read, lambda v, n=i.name: writes.append(n), i.same)
             for i in torch_state.ITEMS]
    monkeypatch.setattr(torch_state, "ITEMS", items)
    assert state.changed() == [] and state.restore() == [] and writes == []


def test_restores_under_a_fake_mode_and_a_transform_left_on():
    """RNG states are compared and restored even with a FakeTensorMode and a functorch level
    still pushed (the modes and levels are undone first)."""
    state = torch_state.TorchState()
    fake = torch._subclasses.FakeTensorMode()
    torch.rand(2)
    torch._C._functorch._grad_increment_nesting()
    fake.__enter__()
    try:
        restored = state.restore()
    finally:
        if torch._C._get_dispatch_mode(torch._C._TorchDispatchModeKey.FAKE) is not None:    # (restore failed)
            fake.__exit__(None, None, None)
    assert "CPU RNG state" in restored and "infra dispatch modes (fake, proxy, functional)" in restored
    assert "functorch transform levels (dynamic layer stack)" in restored
    assert torch_state.TorchState().changed() == []
    assert torch._C._functorch.maybe_current_level() is None
    x = torch.randn(3, requires_grad=True)
    (x * 2).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), 2.0))


def test_preserved_reports_what_it_put_back():
    with torch_state.preserved("testing") as restored:
        torch.set_default_dtype(torch.float64)
        torch._C._set_grad_enabled(False)
    assert restored == ["grad mode", "default dtype"]
    assert torch.get_default_dtype() is torch.float32 and torch.is_grad_enabled()


def test_transform_levels_are_undone_first():
    names = [i.name for i in torch_state.ITEMS]
    assert names[0] == "functorch transform levels (dynamic layer stack)"
    assert names.index("torch_dispatch mode stack") < names.index("CPU RNG state")
    assert names.index("inference mode") < names.index("grad mode")     # (setting it resets grad mode)
