"""HuggingFace models: bytegraph vs torch.compile(backend="eager"), in one process.

For every model of ``bytegraph.zoo.ZOO`` (small configs, random weights, eval, no_grad):
graphs compiled, graph breaks, whether the output equals eager, and the first-call capture
time of each (the call that traces; the backend is "eager" for both, so this is frontend
time). Prints a table, the count of single-graph models for each, and the median ratio of
capture times.

    python benchmarks/models.py [names...]

Targets (issue #8): at least as many models captured as one graph as torch.compile, and a
median capture time at most 1/2 of torch.compile's.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from typing import Any, Callable

import torch
import torch._dynamo

import bytegraph
from bytegraph.testing import CompileCounter, same
from bytegraph.zoo import ZOO, build


def _first(out: Any) -> Any:
    return out[0] if not isinstance(out, torch.Tensor) else out


def _run(compile_fn: Callable[[Any, Any], Any], name: str) -> dict[str, Any]:
    model, make_inputs = build(name)
    counter = CompileCounter()
    compiled = compile_fn(model, counter)
    inputs = make_inputs(16)
    with torch.no_grad():
        t0 = time.perf_counter()
        out = compiled(**inputs)
        first = time.perf_counter() - t0
        ok = same(_first(out), _first(model(**inputs)), rtol=1e-4, atol=1e-5)
    return {"graphs": counter.frame_count, "first_s": first, "ok": ok}


def _bytegraph(model: Any, counter: CompileCounter) -> Any:
    return bytegraph.compile(model, backend=counter)


def _torch_compile(model: Any, counter: CompileCounter) -> Any:
    torch._dynamo.reset()
    return torch.compile(model, backend=counter)


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")
    names = argv or sorted(ZOO)
    _run(_bytegraph, names[0])          # warm both up once (imports, first-use caches)
    _run(_torch_compile, names[0])
    print(f"torch {torch.__version__}; first call = capture + eager backend; seconds")
    header = f"{'model':<12}{'family':<17}{'bg graphs':>10}{'tc graphs':>10}{'bg ok':>7}{'tc ok':>7}" \
             f"{'bg first':>10}{'tc first':>10}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    ratios, bg_single, tc_single = [], 0, 0
    for name in names:
        bg = _run(_bytegraph, name)
        tc = _run(_torch_compile, name)
        ratio = tc["first_s"] / bg["first_s"]
        ratios.append(ratio)
        bg_single += bg["graphs"] == 1 and bg["ok"]
        tc_single += tc["graphs"] == 1 and tc["ok"]
        print(f"{name:<12}{ZOO[name].family:<17}{bg['graphs']:>10}{tc['graphs']:>10}{str(bg['ok']):>7}{str(tc['ok']):>7}"
              f"{bg['first_s']:>10.2f}{tc['first_s']:>10.2f}{ratio:>7.1f}x")
    print(f"\nsingle-graph models: bytegraph {bg_single}/{len(names)}, torch.compile {tc_single}/{len(names)}")
    print(f"median capture-time ratio torch.compile / bytegraph: {statistics.median(ratios):.1f}x (target >= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
