"""Per-call overhead of bytegraph vs torch.compile(backend="eager"), in one process.

Overhead = time of a call through the compiler minus the time of calling the captured
graph directly (the same graph module each compiler produced, through its ``forward``).
Both compilers get a recording backend that returns ``gm.forward`` (what "eager" does),
so the only difference is the frontend: guards, cache lookup, argument handling.

    python benchmarks/overhead.py [--repeat 7] [--number 20000]

Prints a table of medians (µs per call) and the ratio torch.compile / bytegraph overhead.
Target (issue #2): bytegraph's overhead at most 1/5 of torch.compile's on every row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import torch
import torch._dynamo

import bytegraph


class Recorder:
    """A backend that keeps the graph and runs it as Python (like "eager"), remembering the
    inputs of the last call so the benchmark can call the very same graph directly."""

    def __init__(self) -> None:
        self.graphs: list[Callable[..., Any]] = []
        self.inputs: tuple = ()

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        forward = gm.forward
        rec = self

        def run(*args: Any) -> Any:
            rec.inputs = args
            return forward(*args)

        self.graphs.append(run)
        return run


def add_relu(x, y):
    return torch.relu(x + y)


class MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 8)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def eight_args(a, b, c, d, e, f, g, h):
    return a + b + c + d + e + f + g + h


class Attrs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for i in range(20):
            setattr(self, f"a{i}", float(i + 1))

    def forward(self, x):
        s = x
        for i in range(20):
            s = s + getattr(self, f"a{i}")
        return s


def read_attrs(m, x):
    return (x * m.a0 + m.a1 + m.a2 + m.a3 + m.a4 + m.a5 + m.a6 + m.a7 + m.a8 + m.a9 + m.a10 + m.a11
            + m.a12 + m.a13 + m.a14 + m.a15 + m.a16 + m.a17 + m.a18 + m.a19)


def int_and_list(x, n, items):
    return x * n + items[0] - items[1]


def cases() -> list[tuple[str, Callable[[], Any], tuple]]:
    x, y = torch.randn(8), torch.randn(8)
    mlp = MLP()
    attrs = Attrs()
    t8 = tuple(torch.randn(8) for _ in range(8))
    return [
        ("add+relu (2 tensors)", lambda: add_relu, (x, y)),
        ("2-layer MLP module", lambda: mlp, (torch.randn(4, 16),)),
        ("8 tensor arguments", lambda: eight_args, t8),
        ("20 module attributes", lambda: read_attrs, (attrs, x)),
        ("int and list arguments", lambda: int_and_list, (x, 3, [torch.randn(8), torch.randn(8)])),
    ]


def _per_call_us(fn: Callable[..., Any], args: tuple, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn(*args)
    return (time.perf_counter() - t0) / number * 1e6


def measure(name: str, make: Callable[[], Any], args: tuple, repeat: int, number: int) -> dict[str, float]:
    """Time every variant in interleaved rounds (so drift hits all alike); overheads are the
    median over rounds of the per-round difference to the same graph called directly."""
    target = make()
    rec_bg, rec_tc = Recorder(), Recorder()
    torch._dynamo.reset()
    bg = bytegraph.compile(target, backend=rec_bg)
    tc = torch.compile(target, backend=rec_tc)
    for _ in range(3):
        bg(*args)
        tc(*args)
    assert len(rec_bg.graphs) == 1 and len(rec_tc.graphs) == 1, (name, len(rec_bg.graphs), len(rec_tc.graphs))
    variants = {
        "eager": (target, args),
        "graph_bg": (rec_bg.graphs[0], rec_bg.inputs),
        "graph_tc": (rec_tc.graphs[0], rec_tc.inputs),
        "bytegraph": (bg, args),
        "torch.compile": (tc, args),
    }
    rounds: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeat):
        for key, (fn, fn_args) in variants.items():
            rounds[key].append(_per_call_us(fn, fn_args, number))
    row = {k: statistics.median(v) for k, v in rounds.items()}
    row["overhead_bg"] = max(statistics.median(b - g for b, g in zip(rounds["bytegraph"], rounds["graph_bg"])), 0.01)
    row["overhead_tc"] = max(statistics.median(t - g for t, g in zip(rounds["torch.compile"], rounds["graph_tc"])), 0.01)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--number", type=int, default=4000)
    opts = ap.parse_args(argv)
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}; µs per call, median of {opts.repeat}")
    header = f"{'case':<26}{'eager':>8}{'graph':>8}{'bytegraph':>11}{'torch.compile':>15}{'bg ovh':>9}{'tc ovh':>9}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    worst = float("inf")
    for name, make, args in cases():
        r = measure(name, make, args, opts.repeat, opts.number)
        ratio = r["overhead_tc"] / r["overhead_bg"]
        worst = min(worst, ratio)
        print(f"{name:<26}{r['eager']:8.2f}{r['graph_bg']:8.2f}{r['bytegraph']:11.2f}{r['torch.compile']:15.2f}"
              f"{r['overhead_bg']:9.2f}{r['overhead_tc']:9.2f}{ratio:7.1f}x")
    print(f"\nworst ratio (torch.compile overhead / bytegraph overhead): {worst:.1f}x (target >= 5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
