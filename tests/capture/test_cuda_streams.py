"""CUDA streams and events inside compiled code (GPU only; skipped without one).

Stream and event calls are not recorded in the graph yet: they are graph breaks, so the work
around them runs in program order. These tests hold bytegraph to eager's results with work
queued on a side stream, an event recorded and waited on, and a ``with torch.cuda.stream(s)``
block; they say nothing about capture beyond "never a wrong answer, never an exception".
"""

import pytest
import torch

import bytegraph

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def side_stream_work(x, s, e):
    y = x * 2
    e.record()                              # on the current stream, after y
    with torch.cuda.stream(s):
        s.wait_event(e)
        z = (y + 1).relu()
    torch.cuda.current_stream().wait_stream(s)
    return z.sum() + y.mean()


def event_sync(x, e):
    y = x.sin()
    e.record()
    e.synchronize()
    return y.cos()


@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"])
def test_streams_and_events_match_eager(backend):
    compiled = bytegraph.compile(side_stream_work, backend=backend)
    s = torch.cuda.Stream()
    for n in (1024, 1024, 4096):
        x = torch.randn(n, device="cuda")
        e1, e2 = torch.cuda.Event(), torch.cuda.Event()
        got = compiled(x, s, e1)
        expected = side_stream_work(x, s, e2)
        torch.cuda.synchronize()
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert all(st.eager_reasons == [] or all("internal error" not in r for r in st.eager_reasons)
               for st in compiled.stats_all)


@pytest.mark.parametrize("backend", ["eager", "inductor"])
def test_event_synchronize_matches_eager(backend):
    compiled = bytegraph.compile(event_sync, backend=backend)
    for _ in range(3):
        x = torch.randn(256, device="cuda")
        assert torch.allclose(compiled(x, torch.cuda.Event()), event_sync(x, torch.cuda.Event()))
