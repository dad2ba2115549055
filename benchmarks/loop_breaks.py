"""A graph break inside a Python loop: bytegraph vs torch.compile vs eager, in one process.

The program steps a small tensor ``n`` times and prints once per step (a graph break every
iteration). bytegraph compiles the graph before the print and the resume functions after it
once, whatever ``n`` is: the resume calls are tail calls made by the cache entry (constant
stack depth) and the loop's iterator steps natively, so no capture depends on the iteration.
torch.compile skips a frame whose loop contains a graph break and runs it eagerly.

Reported per ``n``: median ms per call (interleaved rounds), the ratio to eager, and
bytegraph's captures over all its resume functions (constant in ``n``).

    python benchmarks/loop_breaks.py [--rounds 7] [--sizes 10 1000]

Both compilers use ``backend="eager"``, so the numbers measure what each frontend adds.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import warnings

import torch
import torch._dynamo

import bytegraph

SINK = io.StringIO()


def program(x: torch.Tensor, w: torch.Tensor, n: int) -> torch.Tensor:
    for i in range(n):
        x = torch.tanh(x @ w) + i
        print(i, file=SINK)
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    w = torch.randn(64, 64) / 8
    print(f"torch {torch.__version__}; median ms per call over {args.rounds} interleaved rounds")
    print(f"{'n':>6} {'eager':>9} {'bytegraph':>10} {'ratio':>6} {'torch.compile':>14} {'ratio':>6} {'bg captures':>12}")
    for n in args.sizes:
        torch._dynamo.reset()
        runners = {"eager": program, "bytegraph": bytegraph.compile(program, backend="eager"),
                   "torch.compile": torch.compile(program, backend="eager")}
        times: dict[str, list[float]] = {name: [] for name in runners}
        for f in runners.values():              # capture and warm up
            for _ in range(3):
                f(torch.randn(8, 64), w, n)
        for _ in range(args.rounds):
            for name, f in runners.items():
                x = torch.randn(8, 64)
                start = time.perf_counter()
                f(x, w, n)
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) * 1e3 for name, t in times.items()}
        captures = sum(st.captures for st in runners["bytegraph"].stats_all)
        print(f"{n:>6} {med['eager']:>9.2f} {med['bytegraph']:>10.2f} {med['bytegraph'] / med['eager']:>5.2f}x "
              f"{med['torch.compile']:>14.2f} {med['torch.compile'] / med['eager']:>5.2f}x {captures:>12}")


if __name__ == "__main__":
    main()
