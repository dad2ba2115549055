"""Step time of the compiled optimizer, of a whole training step and of a compiled backward:
eager, torch.compile, bytegraph.

    python benchmarks/training.py [--steps 20] [--layers 6] [--width 256] [--backend inductor]
                                  [--optimizer adamw] [--case all] [--threads 1]

Three cases, each with three equal copies of an MLP (``--layers`` Linear layers of ``--width``,
``2 * layers`` parameters) and their own optimizer:

* ``optimizer``: ``compile(lambda: opt.step())``; the forward and backward run eagerly outside.
  Only ``opt.step()`` is timed.
* ``whole step``: ``compile(train)`` where ``train`` is zero_grad, forward, MSE loss,
  backward, step. The whole call is timed.
* ``backward``: compiled autograd. The forward runs eagerly (with a tensor hook on every
  activation, so that the backward runs Python); ``loss.backward()`` is timed, plain (eager),
  under torch.compile's compiled autograd (``compiled_autograd._enable(torch.compile(backend=...))``)
  and under ``bytegraph.compiled_autograd(backend=...)``. torch keeps one cache of captured
  backwards per process, whoever compiled them, so this case runs the three in blocks (each
  starting from an empty cache), not interleaved; the largest gradient difference from eager's is
  reported under max |dp|.

The first two cases run the three copies interleaved, step after step, so that the machine's load hits them alike;
two warm-up steps (the first compiles, the second sees the optimizer state) are not timed.
Prints the median ms per step, the ratios to eager and to torch.compile, the graphs compiled
and the graph calls per step (a backend that wraps ``--backend`` counts both, for
torch.compile and bytegraph alike), and the largest difference of a parameter from eager's.
Timings on a shared CPU are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from typing import Any, Callable

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

import bytegraph  # noqa: E402
from bytegraph.testing import CountingBackend  # noqa: E402

OPTIMIZERS: dict[str, tuple[type, dict[str, Any]]] = {
    "adamw": (torch.optim.AdamW, dict(lr=1e-3, weight_decay=0.01)),
    "adam": (torch.optim.Adam, dict(lr=1e-3)),
    "sgd": (torch.optim.SGD, dict(lr=1e-2, momentum=0.9)),
    "rmsprop": (torch.optim.RMSprop, dict(lr=1e-3)),
    "adagrad": (torch.optim.Adagrad, dict(lr=1e-2)),
}
WHICH = ("eager", "torch.compile", "bytegraph")




def _model(layers: int, width: int) -> nn.Module:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods.append(nn.Linear(width, width))
        if i < layers - 1:
            mods.append(nn.GELU())
    return nn.Sequential(*mods)


def _train(m: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    opt.zero_grad()
    loss = nn.functional.mse_loss(m(x), y)
    loss.backward()
    opt.step()
    return loss.detach()


def _compile(which: str, fn: Callable[..., Any], backend: CountingBackend) -> Callable[..., Any]:
    if which == "eager":
        return fn
    if which == "torch.compile":
        return torch.compile(fn, backend=backend)
    return bytegraph.compile(fn, backend=backend)


def run_case(case: str, args: argparse.Namespace) -> dict[str, Any]:
    cls, kwargs = OPTIMIZERS[args.optimizer]
    torch.manual_seed(0)
    models = {w: _model(args.layers, args.width) for w in WHICH}
    for m in models.values():
        m.load_state_dict(models["eager"].state_dict())
    opts = {w: cls(models[w].parameters(), **kwargs) for w in WHICH}
    counters = {w: CountingBackend(args.backend) for w in WHICH}
    if case == "optimizer":
        steps = {w: _compile(w, opts[w].step, counters[w]) for w in WHICH}
    else:
        steps = {w: _compile(w, _train, counters[w]) for w in WHICH}
    times: dict[str, list[float]] = {w: [] for w in WHICH}
    first: dict[str, float] = {}
    calls: dict[str, list[int]] = {w: [] for w in WHICH}
    for i in range(args.steps + 2):
        x, y = torch.randn(args.batch, args.width), torch.randn(args.batch, args.width)
        for w in WHICH:
            m, opt, counter = models[w], opts[w], counters[w]
            k0 = counter.calls
            if case == "optimizer":
                opt.zero_grad()
                nn.functional.mse_loss(m(x), y).backward()
                t0 = time.perf_counter()
                steps[w]()
            else:
                t0 = time.perf_counter()
                steps[w](m, opt, x, y)
            elapsed = time.perf_counter() - t0
            if i == 0:
                first[w] = elapsed
            elif i >= 2:
                times[w].append(elapsed)
                calls[w].append(counter.calls - k0)
    ref = list(models["eager"].parameters())
    return {
        "case": case,
        "ms": {w: statistics.median(times[w]) * 1e3 for w in WHICH},
        "first_s": first,
        "graphs": {w: counters[w].compiled for w in WHICH},
        "calls": {w: statistics.median(calls[w]) for w in WHICH},
        "diff": {w: max((p - r).abs().max().item() for p, r in zip(models[w].parameters(), ref)) for w in WHICH},
    }


def run_backward(args: argparse.Namespace) -> dict[str, Any]:
    from torch._C._dynamo import compiled_autograd as ca_C
    from torch._dynamo import compiled_autograd as torch_ca

    torch.manual_seed(0)
    models = {w: _model(args.layers, args.width) for w in WHICH}
    for m in models.values():
        m.load_state_dict(models["eager"].state_dict())
    counters = {w: CountingBackend(args.backend) for w in WHICH}
    ours = bytegraph.compiled_autograd(backend=counters["bytegraph"])
    contexts: dict[str, Callable[[], Any]] = {
        "eager": contextlib.nullcontext,
        "torch.compile": lambda: torch_ca._enable(torch.compile(backend=counters["torch.compile"])),
        "bytegraph": lambda: ours,
    }
    inputs = [(torch.randn(args.batch, args.width), torch.randn(args.batch, args.width)) for _ in range(args.steps + 2)]
    hooked: list[int] = []

    def forward(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        for layer in m:
            x = layer(x)
            x.register_hook(lambda g: g * 1.0)      # Python in the backward (as a user's hook would be)
            hooked.append(1)
        return x

    times: dict[str, list[float]] = {w: [] for w in WHICH}
    first: dict[str, float] = {}
    calls: dict[str, list[int]] = {w: [] for w in WHICH}
    for w in WHICH:
        ca_C.clear_cache()
        m, counter = models[w], counters[w]
        for i, (x, y) in enumerate(inputs):
            m.zero_grad()
            loss = nn.functional.mse_loss(forward(m, x), y)
            k0 = counter.calls
            with contexts[w]():
                t0 = time.perf_counter()
                loss.backward()
                elapsed = time.perf_counter() - t0
            if i == 0:
                first[w] = elapsed
            elif i >= 2:
                times[w].append(elapsed)
                calls[w].append(counter.calls - k0)
    ca_C.clear_cache()
    ref = [p.grad for p in models["eager"].parameters()]
    return {
        "case": "backward",
        "ms": {w: statistics.median(times[w]) * 1e3 for w in WHICH},
        "first_s": first,
        "graphs": {w: counters[w].compiled for w in WHICH},
        "calls": {w: statistics.median(calls[w]) for w in WHICH},
        "diff": {w: max((p.grad - r).abs().max().item() for p, r in zip(models[w].parameters(), ref)) for w in WHICH},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--optimizer", default="adamw", choices=sorted(OPTIMIZERS))
    parser.add_argument("--case", choices=("optimizer", "whole step", "backward", "all"), default="all")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steadier on a shared box)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = ("optimizer", "whole step", "backward") if args.case == "all" else (args.case,)
    print(f"{args.optimizer}, MLP {args.layers} x Linear({args.width}, {args.width}) ({2 * args.layers} parameters), "
          f"batch {args.batch}, backend {args.backend}, {args.steps} timed steps, {args.threads} thread(s), "
          f"torch {torch.__version__}")
    print(f"{'case':<11} {'':<14} {'ms/step':>8} {'vs eager':>9} {'vs t.c':>7} {'graphs':>7} {'calls/step':>11} "
          f"{'first (s)':>10} {'max |dp|':>9}")
    for case in cases:
        r = run_backward(args) if case == "backward" else run_case(case, args)
        for w in WHICH:
            ms = r["ms"][w]
            print(f"{case:<11} {w:<14} {ms:>8.3f} {ms / r['ms']['eager']:>9.2f} {ms / r['ms']['torch.compile']:>7.2f} "
                  f"{r['graphs'][w]:>7} {r['calls'][w]:>11.0f} {r['first_s'][w]:>10.2f} {r['diff'][w]:>9.1e}")
    print("(ms/step: median of the timed steps; graphs: compiled in all; calls/step: graph calls per timed step;"
          " max |dp|: largest parameter difference from eager after the run, for backward the largest gradient"
          " difference)")


if __name__ == "__main__":
    main()
