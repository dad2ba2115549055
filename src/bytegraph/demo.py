"""``python -m bytegraph demo``: a tour of what bytegraph captures, on two built-in models.

Owns the two demo models (an MLP and a GPT-style transformer block, both built here: no
downloads), the run that compiles them with ``backend="eager"``, checks them against
eager PyTorch, and prints what was captured (graphs, ops, graph code, guards) and what it
costs (first-call capture time, steady-state µs per call next to eager and next to
``torch.compile(backend="eager")``, measured in the same process).

Does not own capture, guards or timing policy of the benchmarks (``benchmarks/overhead.py``
measures frontend overhead more carefully, against the graph called directly).

Everything printed is deterministic (fixed seed, object ids masked) except the timings.
``main(quick=True)`` is the same run with fewer timing iterations, for tests.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import statistics
import sys
import time
from typing import Any, Callable, TextIO

import torch
import torch.nn.functional as F
from torch import nn

import bytegraph
from bytegraph.runtime.convert import bind_frame
from bytegraph.sources import guard_locals

CALLS_CHECKED = 3      # calls compared with eager, each with fresh inputs of the same shape


# --------------------------------------------------------------------------- models

class MLP(nn.Module):
    """Two linear layers with a ReLU between them."""

    def __init__(self, d_in: int = 16, d_hidden: int = 32, d_out: int = 8) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class GPTBlock(nn.Module):
    """A pre-norm GPT transformer block: causal self-attention and a GELU MLP, with residuals."""

    def __init__(self, d_model: int = 64, n_head: int = 4) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln_2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.fc_out = nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.ln_1(x))
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


@dataclasses.dataclass
class DemoModel:
    name: str
    model: nn.Module
    make_input: Callable[[], torch.Tensor]
    show_code: bool          # print the full graph code (else op counts by target)


def demo_models() -> list[DemoModel]:
    torch.manual_seed(0)
    return [
        DemoModel("MLP  (Linear 16->32, ReLU, Linear 32->8; input [4, 16])",
                  MLP().eval(), lambda: torch.randn(4, 16), show_code=True),
        DemoModel("GPT block  (d_model=64, 4 heads, causal SDPA, GELU MLP; input [2, 8, 64])",
                  GPTBlock().eval(), lambda: torch.randn(2, 8, 64), show_code=False),
    ]


# --------------------------------------------------------------------------- measuring

@dataclasses.dataclass
class ModelReport:
    """What the demo found for one model; ``main`` returns one per model."""

    name: str
    outputs_match: bool
    calls_checked: int
    graphs: int
    recompiles: int
    eager_entries: int
    op_count: int
    guard_count: int
    capture_ms: float                  # bytegraph: the first call's capture (trace + backend + guards)
    tc_first_call_ms: float            # torch.compile: the whole first call
    us_per_call: dict[str, float]      # eager, graph (alone), guards (the check alone), bytegraph, torch.compile

    def vs_eager_us(self, which: str) -> float:
        return self.us_per_call[which] - self.us_per_call["eager"]

    def overhead_us(self, which: str) -> float:
        """Frontend cost per call: the compiled call minus the captured graph called directly."""
        return self.us_per_call[which] - self.us_per_call["graph"]


def check_against_eager(dm: DemoModel, compiled: Callable[..., Any]) -> bool:
    """Several calls with fresh inputs of the same shape: every output must match eager."""
    return all([outputs_match(dm, compiled, dm.make_input()) for _ in range(CALLS_CHECKED)])


def outputs_match(dm: DemoModel, compiled: Callable[..., Any], x: torch.Tensor) -> bool:
    return bool(torch.allclose(compiled(x), dm.model(x), rtol=1e-5, atol=1e-6))


Call = tuple[Callable[..., Any], tuple]          # a function and the arguments to time it with


def time_calls(calls: dict[str, Call], rounds: int, round_s: float) -> dict[str, float]:
    """Median µs per call of each function. Rounds interleave the functions, so a slow
    moment of the machine hits all of them alike."""
    per_call = max(_estimate_us(fn, args) for fn, args in calls.values())
    number = max(10, min(20_000, int(round_s * 1e6 / per_call)))
    samples: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for key, (fn, args) in calls.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn(*args)
            samples[key].append((time.perf_counter() - t0) / number * 1e6)
    return {k: statistics.median(v) for k, v in samples.items()}


def _estimate_us(fn: Callable[..., Any], args: tuple) -> float:
    for _ in range(5):
        fn(*args)
    t0 = time.perf_counter()
    for _ in range(20):
        fn(*args)
    return max((time.perf_counter() - t0) / 20 * 1e6, 0.1)


def graph_alone(compiled: Any, entry: Any, x: torch.Tensor) -> Call:
    """bytegraph's captured graph with its inputs read from their sources, to be called
    directly: what is left of a compiled call once guards and argument handling are gone."""
    # A compiled module's frame is runtime.compiled.call_module(module, *args): bind it like a call does.
    frame_locals = bind_frame(compiled._bytegraph.fn, (compiled._bytegraph_orig, x), {})
    sources = entry.graph.meta["bytegraph_sources"]
    inputs = tuple(eval(s.guard_expr(), entry.guards.namespace, guard_locals(frame_locals)) for s in sources)
    return entry.graph.forward, inputs


def first_call_ms(fn: Callable[..., Any], x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    fn(x)
    return (time.perf_counter() - t0) * 1e3


def warm_up_compilers() -> None:
    """Pay the one-time costs (imports, fake-tensor and dispatcher caches) of both compilers
    on a throwaway function, so first-call times below are per model, not per process."""
    def warm(x):
        return torch.relu(x) + 1

    x = torch.randn(3)
    bytegraph.compile(warm)(x)
    torch.compile(warm, backend="eager")(x)


def run_model(dm: DemoModel, rounds: int, round_s: float) -> tuple[ModelReport, Any]:
    compiled = bytegraph.compile(dm.model, backend="eager")
    tc = torch.compile(dm.model, backend="eager")
    x = dm.make_input()
    first_ok = outputs_match(dm, compiled, x)   # the first call captures; its cost is read from the entry
    tc_first = first_call_ms(tc, x)
    matches = first_ok and check_against_eager(dm, compiled) and check_against_eager(dm, tc)
    entries = compiled.entries
    entry = entries[-1]                  # the first capture (most recent entry is first)
    calls = {"eager": (dm.model, (x,)), "bytegraph": (compiled, (x,)), "torch.compile": (tc, (x,))}
    if entry.graph is not None:
        calls["graph"] = graph_alone(compiled, entry, x)
        calls["guards"] = (entry.check, (dm.model, x))
    timings = time_calls(calls, rounds, round_s)
    report = ModelReport(
        name=dm.name, outputs_match=matches, calls_checked=1 + CALLS_CHECKED,
        graphs=sum(e.graph is not None for e in entries), recompiles=compiled.stats.recompiles,
        eager_entries=compiled.stats.eager, op_count=_op_count(entry.graph),
        guard_count=len(entry.guards.guards), capture_ms=entry.capture_seconds * 1e3,
        tc_first_call_ms=tc_first, us_per_call=timings)
    return report, entry


def _op_count(gm: torch.fx.GraphModule | None) -> int:
    if gm is None:
        return 0
    return sum(1 for n in gm.graph.nodes if n.op in ("call_function", "call_method", "call_module"))


# --------------------------------------------------------------------------- printing

_FREES = re.compile(r";  (\w+ = )+None$")      # fx's "; a = b = None" lines free dead values
_IDS = re.compile(r"(id\(.*?\) == )\d+")


def graph_code_lines(gm: torch.fx.GraphModule) -> list[str]:
    lines = [ln.rstrip() for ln in gm.code.strip().splitlines()]
    return [_FREES.sub("", ln) for ln in lines if ln.strip()]


def guard_source_lines(source_code: str) -> list[str]:
    return [_IDS.sub(r"\1<id>", ln) for ln in source_code.rstrip().splitlines()]


def op_counts_by_target(gm: torch.fx.GraphModule) -> list[tuple[str, int]]:
    counts: collections.Counter[str] = collections.Counter()
    for n in gm.graph.nodes:
        if n.op == "call_function":
            counts[getattr(n.target, "__name__", str(n.target))] += 1
        elif n.op == "call_method":
            counts["." + n.target] += 1
        elif n.op == "call_module":
            counts[f"module {n.target}"] += 1
    return list(counts.items())


def guard_kind_counts(entry: Any) -> list[tuple[str, int]]:
    return list(collections.Counter(g.kind.value for g in entry.guards.guards).items())


class Printer:
    """Section headings and indented blocks for a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def heading(self, text: str) -> None:
        self.line()
        self.line(text)
        self.line("=" * len(text))

    def sub(self, text: str) -> None:
        self.line(f"-- {text}")

    def block(self, lines: list[str], indent: int = 4) -> None:
        for ln in lines:
            self.line(" " * indent + ln)

    def wrapped(self, items: list[str], indent: int = 4, width: int = 96) -> None:
        row = ""
        for item in items:
            if row and len(row) + len(item) + 2 > width - indent:
                self.line(" " * indent + row.rstrip(", ") + ",")
                row = ""
            row += item + ", "
        if row:
            self.line(" " * indent + row.rstrip(", "))


def print_capture(p: Printer, dm: DemoModel, r: ModelReport, entry: Any) -> None:
    verdict = "match" if r.outputs_match else "DIFFER"
    p.line(f"outputs vs eager ({r.calls_checked} calls, torch.allclose): {verdict}")
    p.line(f"graphs: {r.graphs}   recompiles: {r.recompiles}   eager fallbacks: {r.eager_entries}   "
           f"ops in graph: {r.op_count}   guards: {r.guard_count}")
    if entry.graph is None:
        p.line(f"no graph captured: {entry.eager_reason}")
        return
    if dm.show_code:
        p.sub("graph code (gm.code; fx's '; x = None' frees omitted)")
        p.block(graph_code_lines(entry.graph))
        p.sub("guard function (generated Python; object ids shown as <id>)")
        p.block(guard_source_lines(entry.guards.source_code))
    else:
        p.sub("ops in graph, by target")
        p.wrapped([f"{name} x{n}" for name, n in op_counts_by_target(entry.graph)])
        p.sub("guards, by kind (all TENSOR_MATCHes run as one C++ TensorGuards call)")
        p.wrapped([f"{kind} x{n}" for kind, n in guard_kind_counts(entry)])


def print_timings(p: Printer, r: ModelReport) -> None:
    p.sub("cost (bytegraph and torch.compile both with backend='eager')")
    p.line(f"    first call: bytegraph capture {r.capture_ms:.1f} ms;  "
           f"torch.compile first call {r.tc_first_call_ms:.1f} ms")
    us = r.us_per_call
    p.line(f"    steady state, median µs/call:  eager {us['eager']:.1f}   bytegraph {us['bytegraph']:.1f}   "
           f"torch.compile {us['torch.compile']:.1f}")
    if "graph" in us:
        p.line(f"    inside a bytegraph call:       graph alone {us['graph']:.1f}   guard check alone {us['guards']:.1f}")
    p.line(f"    compiled - eager:        bytegraph {r.vs_eager_us('bytegraph'):+.1f} µs   "
           f"torch.compile {r.vs_eager_us('torch.compile'):+.1f} µs")
    if "graph" not in us:
        return
    bg, tc = r.overhead_us("bytegraph"), r.overhead_us("torch.compile")
    p.line(f"    compiled - graph alone:  bytegraph {bg:+.1f} µs   torch.compile {tc:+.1f} µs   {_ratio_text(bg, tc)}")


def _ratio_text(bg: float, tc: float) -> str:
    if bg <= 0.05 or tc <= 0:
        return "(ratio n/a: an overhead is within noise of zero)"
    return f"(torch.compile's is {tc / bg:.1f}x)"


def print_header(p: Printer, quick: bool) -> None:
    p.line(f"bytegraph demo -- torch {torch.__version__}, Python {sys.version.split()[0]}, "
           f"1 intra-op thread{', quick timings' if quick else ''}")
    p.line("Each model: bytegraph.compile(model, backend='eager') and torch.compile(model, backend='eager'),")
    p.line("outputs checked against eager PyTorch, then both timed in this one process under torch.no_grad().")
    p.line("Timings vary from run to run; everything else printed is fixed.")


def print_summary(p: Printer, reports: list[ModelReport]) -> None:
    p.heading("Summary")
    for r in reports:
        status = "ok" if r.outputs_match and r.graphs == 1 and r.eager_entries == 0 else "CHECK"
        p.line(f"  [{status}] {r.name.split('  ')[0]}: {r.graphs} graph, {r.op_count} ops, outputs "
               f"{'match' if r.outputs_match else 'DIFFER'}, capture {r.capture_ms:.0f} ms, "
               f"{r.us_per_call['bytegraph']:.1f} µs/call (eager {r.us_per_call['eager']:.1f})")
    p.line()
    p.line("Reading the cost lines: 'compiled - graph alone' is the frontend's own per-call cost (guards,")
    p.line("cache lookup, arguments); bytegraph's graph is the baseline for torch.compile too. 'compiled - eager'")
    p.line("can be negative: the graph calls torch ops directly, skipping each submodule's nn.Module.__call__.")
    p.line()
    p.line("Next: README.md (usage), DESIGN.md (how it works), `make test`.")


# --------------------------------------------------------------------------- entry point

def main(quick: bool = False, out: TextIO | None = None) -> list[ModelReport]:
    """Run the demo and print it to ``out`` (stdout by default); return one report per model."""
    p = Printer(out if out is not None else sys.stdout)
    rounds, round_s = (3, 0.005) if quick else (9, 0.05)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)     # small models: one thread is fastest and far less noisy on a busy machine
    try:
        print_header(p, quick)
        warm_up_compilers()
        reports = []
        with torch.no_grad():
            for dm in demo_models():
                p.heading(dm.name)
                report, entry = run_model(dm, rounds, round_s)
                print_capture(p, dm, report, entry)
                print_timings(p, report)
                reports.append(report)
        print_summary(p, reports)
    finally:
        torch.set_num_threads(threads)
    return reports
