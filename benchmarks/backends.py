"""bytegraph(inductor) vs torch.compile(inductor) vs eager, on CPU, in one process.

For the demo models (``bytegraph.demo``: the MLP and the GPT block, with the demo's inputs),
each in inference (``no_grad`` forward) and training (forward, ``.sum().backward()``):

* graphs: the fx graph(s) each frontend hands its backend, op counts by target, from a
  separate capture through a counting backend that wraps "eager" (the timed runs below use
  ``backend="inductor"`` exactly as a user writes it). "same" = same number of graphs and
  the same op counts by target.
* first call: the whole first call (capture + AOTAutograd + Inductor + run), median of
  ``--compile-reps`` fresh compiles. Each compile runs in a fresh Inductor cache
  (``torch._inductor.utils.fresh_cache``: empty cache dir, in-memory caches cleared), so
  neither compiler reuses kernels or graphs the other one built; the order of the two
  compilers alternates between reps. Both compilers are warmed up first (imports, first-use
  caches; then one untimed compile of each case by each), so the numbers are per model, not
  per process.
* steady state: median µs per call over interleaved rounds (eager, torch.compile, bytegraph
  take turns, so a slow moment of the machine hits all of them alike).

    python benchmarks/backends.py [--rounds 15] [--round-ms 60] [--compile-reps 3] [--threads 1]

Targets (issue #6), where the graphs are the same: bytegraph(inductor) per call within 10% of
torch.compile(inductor), and its first call no slower than torch.compile's.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import statistics
import sys
import time
import warnings
from typing import Any, Callable

import torch
import torch._dynamo
from torch._inductor.utils import fresh_cache

import bytegraph
from bytegraph.demo import MLP, GPTBlock


@dataclasses.dataclass
class Case:
    name: str
    make_model: Callable[[], torch.nn.Module]
    shape: tuple[int, ...]
    train: bool

    def call(self, fn: Callable[..., Any], x: torch.Tensor) -> None:
        """One step as timed: a no_grad forward, or forward + backward of the sum."""
        if self.train:
            fn(x).sum().backward()
        else:
            with torch.no_grad():
                fn(x)


CASES = [
    Case("MLP infer", MLP, (4, 16), train=False),
    Case("MLP train", MLP, (4, 16), train=True),
    Case("GPT block infer", GPTBlock, (2, 8, 64), train=False),
    Case("GPT block train", GPTBlock, (2, 8, 64), train=True),
]


# --------------------------------------------------------------------------- graphs

def _target_name(node: torch.fx.Node) -> str:
    if node.op == "call_method":
        return "." + node.target
    if node.op == "call_module":
        return f"module {node.target}"
    return getattr(node.target, "__name__", str(node.target))


class OpCounter:
    """Wraps the "eager" backend (runs the graph as Python), counting ops by target."""

    def __init__(self) -> None:
        self.graphs: list[collections.Counter[str]] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self.graphs.append(collections.Counter(
            _target_name(n) for n in gm.graph.nodes if n.op in ("call_function", "call_method", "call_module")))
        return gm.forward


def compare_graphs(case: Case) -> tuple[OpCounter, OpCounter]:
    model, x = _model_and_input(case)
    ours, theirs = OpCounter(), OpCounter()
    case.call(bytegraph.compile(model, backend=ours), x)
    torch._dynamo.reset()
    case.call(torch.compile(model, backend=theirs), x)
    torch._dynamo.reset()
    return ours, theirs


def graphs_text(ours: OpCounter, theirs: OpCounter) -> tuple[bool, str]:
    same = ours.graphs == theirs.graphs
    bg, tc = sum(sum(g.values()) for g in ours.graphs), sum(sum(g.values()) for g in theirs.graphs)
    return same, f"{len(ours.graphs)}/{len(theirs.graphs)} graphs, {bg}/{tc} ops"


def graph_differences(ours: OpCounter, theirs: OpCounter) -> list[str]:
    lines = []
    for i, (a, b) in enumerate(zip(ours.graphs, theirs.graphs)):
        for name in sorted(set(a) | set(b)):
            if a[name] != b[name]:
                lines.append(f"graph {i}: {name}: bytegraph {a[name]}, torch.compile {b[name]}")
    return lines


# --------------------------------------------------------------------------- timing

def _model_and_input(case: Case) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = case.make_model()
    if not case.train:
        model.eval()
    return model, torch.randn(*case.shape)


def _compile(which: str, model: torch.nn.Module) -> Any:
    if which == "bytegraph":
        return bytegraph.compile(model, backend="inductor")
    torch._dynamo.reset()            # dynamo caches per code object: a fresh compile needs a reset
    return torch.compile(model, backend="inductor")


def first_call_ms(case: Case, which: str, model: torch.nn.Module, x: torch.Tensor) -> tuple[float, Any]:
    compiled = _compile(which, model)
    with fresh_cache():
        t0 = time.perf_counter()
        case.call(compiled, x)
        ms = (time.perf_counter() - t0) * 1e3
    return ms, compiled


def steady_us(case: Case, fns: dict[str, Callable[..., Any]], x: torch.Tensor, rounds: int,
              round_s: float) -> dict[str, float]:
    for fn in fns.values():                     # warm: allocator, autograd, any lazy init
        for _ in range(5):
            case.call(fn, x)
    t0 = time.perf_counter()
    for _ in range(10):
        case.call(fns["eager"], x)
    per_call = max((time.perf_counter() - t0) / 10, 1e-6)
    number = max(5, int(round_s / per_call))
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                case.call(fn, x)
            samples[key].append((time.perf_counter() - t0) / number * 1e6)
    return {k: statistics.median(v) for k, v in samples.items()}


@dataclasses.dataclass
class Row:
    case: Case
    same_graphs: bool
    graphs: str
    differences: list[str]
    first_ms: dict[str, float]
    first_all: dict[str, list[float]]
    us: dict[str, float]
    recompiles: int
    outputs_match: bool


def run_case(case: Case, rounds: int, round_s: float, compile_reps: int) -> Row:
    ours, theirs = compare_graphs(case)
    same, text = graphs_text(ours, theirs)
    model, x = _model_and_input(case)
    firsts: dict[str, list[float]] = {"torch.compile": [], "bytegraph": []}
    compiled: dict[str, Any] = {}
    for which in firsts:                    # untimed: first-use costs of this model's ops (lowerings, decomps)
        first_call_ms(case, which, model, x)
    for rep in range(compile_reps):
        order = ["bytegraph", "torch.compile"] if rep % 2 == 0 else ["torch.compile", "bytegraph"]
        for which in order:
            ms, compiled[which] = first_call_ms(case, which, model, x)
            firsts[which].append(ms)
    # The last torch.compile is the live one (each compile reset dynamo); bytegraph's last too.
    fns = {"eager": model, "torch.compile": compiled["torch.compile"], "bytegraph": compiled["bytegraph"]}
    with torch.set_grad_enabled(case.train):      # the mode each was compiled in: no recompile
        ref = model(x)
        match = all(torch.allclose(fns[k](x), ref, rtol=1e-4, atol=1e-5) for k in ("torch.compile", "bytegraph"))
    us = steady_us(case, fns, x, rounds, round_s)
    stats = compiled["bytegraph"].stats
    return Row(case, same, text, graph_differences(ours, theirs),
               {k: statistics.median(v) for k, v in firsts.items()}, firsts, us, stats.recompiles, match)


def warm_up() -> None:
    """One Inductor compile with each frontend, inference and training, on a throwaway
    function: imports, C++ toolchain checks and first-use caches are paid here."""
    def warm(x, w):
        return torch.relu(x @ w) + 1

    x, w = torch.randn(4, 4), torch.randn(4, 4, requires_grad=True)
    for compiled in (bytegraph.compile(warm, backend="inductor"), torch.compile(warm, backend="inductor")):
        with fresh_cache():
            compiled(x, w).sum().backward()
            with torch.no_grad():
                compiled(x, w)
    torch._dynamo.reset()


# --------------------------------------------------------------------------- report

def print_table(rows: list[Row]) -> None:
    head = (f"{'case':<17}{'graphs bg/tc':<24}{'same':<6}{'eager':>9}{'tc':>9}{'bg':>9}{'bg/tc':>7}"
            f"{'first tc ms':>13}{'first bg ms':>13}{'bg/tc':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        us, first = r.us, r.first_ms
        print(f"{r.case.name:<17}{r.graphs:<24}{'yes' if r.same_graphs else 'NO':<6}"
              f"{us['eager']:9.1f}{us['torch.compile']:9.1f}{us['bytegraph']:9.1f}"
              f"{us['bytegraph'] / us['torch.compile']:7.2f}"
              f"{first['torch.compile']:13.0f}{first['bytegraph']:13.0f}"
              f"{first['bytegraph'] / first['torch.compile']:7.2f}")
    print("(per call: median µs of interleaved rounds; first call: median ms of fresh compiles, fresh Inductor cache)")
    print()
    print("first calls, every compile (ms, in order):")
    for r in rows:
        print(f"  {r.case.name:<17}" + "   ".join(f"{k} " + " ".join(f"{v:.0f}" for v in r.first_all[k])
                                          for k in ("torch.compile", "bytegraph")))


def print_verdicts(rows: list[Row]) -> bool:
    ok = True
    print()
    for r in rows:
        checks = []
        if not r.outputs_match:
            checks.append("outputs DIFFER from eager")
        if r.recompiles:
            checks.append(f"bytegraph recompiled {r.recompiles}x")
        if r.same_graphs:
            speed = r.us["bytegraph"] / r.us["torch.compile"]
            first = r.first_ms["bytegraph"] / r.first_ms["torch.compile"]
            checks.append(f"per call {speed:.2f}x of torch.compile ({'ok' if speed <= 1.10 else 'MISSES'} <= 1.10)")
            checks.append(f"first call {first:.2f}x ({'ok' if first <= 1.0 else 'MISSES'} <= 1.00)")
            ok &= speed <= 1.10 and first <= 1.0
        else:
            checks.append("graphs differ, targets n/a: " + "; ".join(r.differences[:6]))
        ok &= r.outputs_match and not r.recompiles
        print(f"  {r.case.name:<17}" + ", ".join(checks))
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--round-ms", type=float, default=60.0)
    ap.add_argument("--compile-reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (also Inductor's OpenMP threads)")
    ap.add_argument("cases", nargs="*", help="names of cases to run (default: all)")
    opts = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(opts.threads)
    cases = [c for c in CASES if not opts.cases or c.name in opts.cases]
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}, CPU, {opts.threads} thread(s); "
          f"{opts.rounds} rounds x {opts.round_ms:.0f} ms, {opts.compile_reps} compiles each")
    warm_up()
    rows = []
    for case in cases:
        rows.append(run_case(case, opts.rounds, opts.round_ms / 1e3, opts.compile_reps))
        print(f"  done: {case.name}", file=sys.stderr)
    print()
    print_table(rows)
    ok = print_verdicts(rows)
    print(f"\ntargets {'met' if ok else 'NOT met'} on every row with the same graphs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
