"""The demo (``python -m bytegraph demo``) run in-process with quick timings: both built-in
models are captured as one graph each, with outputs equal to eager."""

import io

import torch

from bytegraph import demo
from bytegraph.__main__ import build_parser


def test_demo_captures_each_model_as_one_graph():
    out = io.StringIO()
    threads = torch.get_num_threads()
    reports = demo.main(quick=True, out=out)
    assert torch.get_num_threads() == threads          # the demo restores what it changes
    assert [r.name.split()[0] for r in reports] == ["MLP", "GPT"]
    for r in reports:
        assert r.outputs_match, r.name
        assert r.calls_checked == 1 + demo.CALLS_CHECKED
        assert (r.graphs, r.recompiles, r.eager_entries) == (1, 0, 0), r.name
        assert r.capture_ms > 0
        assert set(r.us_per_call) == {"eager", "graph", "guards", "bytegraph", "torch.compile"}
    # (the attention output transposed back is contiguous already: .contiguous() is a no-op, as in eager)
    assert [r.op_count for r in reports] == [3, 22]
    text = out.getvalue()
    assert "torch._C._nn.linear" in text and "def ___guard(module, *args, **kwargs):" in text
    assert "scaled_dot_product_attention x1" in text
    assert text.count("outputs vs eager (4 calls, torch.allclose): match") == 2


def test_cli_has_demo_and_docs_commands():
    parser = build_parser()
    assert parser.parse_args(["demo", "--quick"]).quick
    assert str(parser.parse_args(["docs", "--out", "d"]).out) == "d"
