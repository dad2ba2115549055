"""flex_attention with a causal block mask and a score_mod under Inductor: bytegraph beside torch.compile.

    python benchmarks/flex_attention.py [--device cuda] [--seq 1024] [--rounds 7]

One attention call, ``flex_attention(q, k, v, score_mod=alibi-like bias, block_mask=causal)``, with the
block mask made once outside (``create_block_mask``), compiled with ``backend="inductor"`` by each
compiler in the same process. Reported for the forward and for forward+backward:

* first call (s): capture and Inductor's compilation, each compiler in a fresh process with a fresh
  Inductor cache directory (so neither reuses the other's warm-up or kernels);
* per call (ms): median over interleaved rounds (eager: the uncompiled call, which materializes the
  scores), and the ratios bytegraph / torch.compile and bytegraph / eager;
* that both give eager's result (the outputs, and the gradients of q, k, v).

torch 2.13 has no flex_attention backward on CPU (eager and torch.compile raise NotImplementedError),
so on a CPU-only machine the forward+backward rows say so; run it with ``--device cuda`` on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any, Callable

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

import bytegraph

B, H, D = 2, 8, 64


def causal(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx


SLOPES = torch.exp2(-torch.arange(1, H + 1, dtype=torch.float32) * 8.0 / H)


def alibi(score, b, h, q_idx, kv_idx):
    return score + SLOPES[h] * (kv_idx - q_idx)


def attention(q, k, v, block_mask):
    return flex_attention(q, k, v, score_mod=alibi, block_mask=block_mask)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


COMPILERS: dict[str, Callable[..., Any]] = {
    "bytegraph": lambda fn: bytegraph.compile(fn, backend="inductor"),
    "torch.compile": lambda fn: torch.compile(fn, backend="inductor"),
}


def first_call_s(compiler: str, backward: bool, device: str, seq: int) -> float:
    """The first call's seconds, measured in a new process with an empty Inductor cache."""
    with tempfile.TemporaryDirectory() as cache:
        cmd = [sys.executable, __file__, "--first-call", compiler, "--device", device, "--seq", str(seq)]
        done = subprocess.run(cmd + (["--backward"] if backward else []), capture_output=True, text=True,
                              env=dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache), check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def _measure_first_call(compiler: str, backward: bool, device: str, seq: int) -> None:
    args = _inputs(device, seq, backward)
    global SLOPES
    SLOPES = SLOPES.to(device)
    fn = (_step if backward else (lambda f: f))(COMPILERS[compiler](attention))
    _sync(device)
    t0 = time.perf_counter()
    fn(*args)
    _sync(device)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def _per_call_ms(fns: dict[str, Callable[..., Any]], args: tuple[Any, ...], rounds: int, calls: int,
                 device: str) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():        # interleaved, so drift on a shared machine hits both
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(calls):
                fn(*args)
            _sync(device)
            times[name].append((time.perf_counter() - t0) / calls * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def _inputs(device: str, seq: int, grad: bool) -> tuple[Any, ...]:
    q, k, v = (torch.randn(B, H, seq, D, device=device, requires_grad=grad) for _ in range(3))
    return q, k, v, create_block_mask(causal, B, H, seq, seq, device=device)


def _step(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Forward and backward of a (compiled) attention: the backward runs outside the compiled code."""
    def step(*args: Any) -> Any:
        out = fn(*args)
        out.sum().backward()
        return out
    return step


def _grads(fn: Callable[..., Any], args: tuple[Any, ...]) -> list[torch.Tensor]:
    for t in args[:3]:
        t.grad = None
    fn(*args)
    return [t.grad.clone() for t in args[:3]]


def bench(name: str, backward: bool, device: str, seq: int, rounds: int, calls: int) -> None:
    if backward and device == "cpu":
        print(f"{name:>18}  skipped: torch {torch.__version__} has no flex_attention backward on CPU "
              f"(eager and torch.compile raise NotImplementedError); run with --device cuda")
        return
    args = _inputs(device, seq, backward)
    global SLOPES
    SLOPES = SLOPES.to(device)
    torch._dynamo.reset()
    wrap = _step if backward else (lambda fn: fn)
    compiled = COMPILERS["bytegraph"](attention)
    bg, tc = wrap(compiled), wrap(COMPILERS["torch.compile"](attention))
    bg_first, tc_first = (first_call_s(c, backward, device, seq) for c in COMPILERS)
    if backward:
        ref = _grads(_step(attention), args)
        ok = [torch.allclose(a, b, atol=2e-2) for fn in (bg, tc) for a, b in zip(_grads(fn, args), ref)]
    else:
        ref = attention(*args)
        ok = [torch.allclose(fn(*args), ref, atol=2e-3) for fn in (bg, tc)]
    per = _per_call_ms({"bytegraph": bg, "torch.compile": tc, "eager": wrap(attention)}, args, rounds, calls, device)
    graphs = compiled.stats.graphs
    print(f"{name:>18}  first call: bytegraph {bg_first:6.1f} s, torch.compile {tc_first:6.1f} s   "
          f"per call: bytegraph {per['bytegraph']:8.3f} ms, torch.compile {per['torch.compile']:8.3f} ms, "
          f"eager {per['eager']:8.3f} ms; bytegraph/torch.compile {per['bytegraph'] / per['torch.compile']:5.2f}, "
          f"bytegraph/eager {per['bytegraph'] / per['eager']:5.2f}   bytegraph graphs {graphs}   "
          f"matches eager: {all(ok)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--first-call", choices=list(COMPILERS), help=argparse.SUPPRESS)
    parser.add_argument("--backward", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.first_call:
        _measure_first_call(args.first_call, args.backward, args.device, args.seq)
        return
    print(f"torch {torch.__version__}, device {args.device}, B={B} H={H} S={args.seq} D={D}, causal block mask "
          f"+ ALiBi score_mod, backend inductor; per call = median over {args.rounds} interleaved rounds of "
          f"{args.calls} calls", flush=True)
    bench("forward", False, args.device, args.seq, args.rounds, args.calls)
    bench("forward+backward", True, args.device, args.seq, args.rounds, args.calls)


if __name__ == "__main__":
    main()
