"""Per-call cost of a float that varies between calls, bytegraph vs torch.compile vs eager, in one process.

A float that varies reaches an AOTAutograd backend as a 0-d float64 tensor (issue 19): the
transformed code builds it on every call (``bytegraph.sources.float_as_tensor``, which is
``torch.scalar_tensor(v, dtype=float64, device="cpu")``, or reuses the last one when the call
passes the very same float object; torch.compile's generated code calls
``torch._as_tensor_fullprec``). This measures what that costs:

* the conversion alone, ours and torch.compile's;
* a call of a small program with the float changing on every call (two alternating values,
  both served by the one graph that takes the float as an input), through bytegraph,
  through torch.compile, and eagerly; and the same program compiled with the float a
  constant (``dynamic=False``, the same value on every call): the difference is what
  passing the float costs.

    python benchmarks/float_calls.py [--backend aot_eager] [--repeat 7] [--number 2000]

Timings on a shared machine are noisy: read the ratios, taken in the same run (medians).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from typing import Any, Callable

import torch
import torch._dynamo

import bytegraph
from bytegraph.sources import float_as_tensor


def scale(x, t):
    return x * t


def softmax_with_temperature(x, temp):
    return torch.softmax(x / temp, -1)


def _per_call_us(fn: Callable[[], Any], repeat: int, number: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def _alternating(compiled: Callable[..., Any], x: torch.Tensor) -> Callable[[], Any]:
    values = [0.7, 1.3]
    state = [0]

    def call() -> Any:
        state[0] ^= 1
        return compiled(x, values[state[0]])
    return call


def measure(program: Callable[..., Any], backend: str, repeat: int, number: int) -> dict[str, float]:
    x = torch.randn(8, 8)
    bg = bytegraph.compile(program, backend=backend)
    bg_const = bytegraph.compile(program, backend=backend, dynamic=False)
    torch._dynamo.reset()
    tc = torch.compile(program, backend=backend)
    for t in (0.5, 0.7, 1.3):                       # warm up: the float is an input from the second value on
        bg(x, t), tc(x, t)
    bg_const(x, 0.7)
    same = 0.9                                      # one float object, as an lr between scheduler steps
    assert bg.stats.captures == 2 and bg.stats.graphs == 2, bg.stats
    rows = {
        "eager": _per_call_us(_alternating(program, x), repeat, number),
        "bytegraph, float input": _per_call_us(_alternating(bg, x), repeat, number),
        "bytegraph, float constant (dynamic=False)": _per_call_us(lambda: bg_const(x, 0.7), repeat, number),
        "bytegraph, float input, same float object": _per_call_us(lambda: bg(x, same), repeat, number),
        "torch.compile, float input": _per_call_us(_alternating(tc, x), repeat, number),
    }
    torch._dynamo.reset()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="aot_eager")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    conversions = {
        "float_as_tensor(v) (bytegraph)": _per_call_us(lambda: float_as_tensor(0.7), args.repeat, args.number * 5),
        "torch._as_tensor_fullprec(v) (torch.compile)":
            _per_call_us(lambda: torch._as_tensor_fullprec(0.7), args.repeat, args.number * 5),
    }
    print("conversion of a Python float to a 0-d float64 tensor (median us per call):")
    for name, us in conversions.items():
        print(f"  {name:48s} {us:8.2f}")
    for program in (scale, softmax_with_temperature):
        rows = measure(program, args.backend, args.repeat, args.number)
        print(f"\n{program.__name__}(x: 8x8, t), backend={args.backend} (median us per call):")
        for name, us in rows.items():
            print(f"  {name:48s} {us:8.2f}   x{us / rows['eager']:.2f} of eager")
        cost = rows["bytegraph, float input"] - rows["bytegraph, float constant (dynamic=False)"]
        print(f"  passing the float as an input costs {cost:+.2f} us per call; bytegraph / torch.compile = "
              f"{rows['bytegraph, float input'] / rows['torch.compile, float input']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
