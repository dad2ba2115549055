"""The GPU check of issue 17, as one short script for a lent GPU (minutes of device time).

    python benchmarks/gpu_check.py [--quick]

1. What the machine is (GPU, torch, triton).
2. The Triton tests on CUDA (``BYTEGRAPH_TEST_DEVICE=cuda``: real ``triton.jit`` kernels,
   torch's higher-order op, tensor descriptors where the GPU has TMA) and the stream/event tests.
3. Inductor on CUDA for the demo's MLP and GPT block, bytegraph beside torch.compile in the same
   process: first call (ms) and per call (µs, median), default mode and ``mode="reduce-overhead"``
   (CUDA graphs); outputs checked against eager.

Everything it prints is meant for the notes; it runs on a CPU-only machine too (the CUDA parts
say they were skipped), which is how it is tested before GPU time is spent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def machine() -> None:
    import importlib.metadata as md

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    cap = ".".join(map(str, torch.cuda.get_device_capability())) if torch.cuda.is_available() else "-"
    try:
        triton = md.version("triton")
    except md.PackageNotFoundError:
        triton = "not installed"
    print(f"machine: GPU {gpu} (capability {cap}), torch {torch.__version__}, triton {triton}, "
          f"Python {sys.version.split()[0]}", flush=True)


def run_tests(quick: bool) -> None:
    env = dict(os.environ, BYTEGRAPH_TEST_DEVICE="cuda" if torch.cuda.is_available() else "cpu")
    tests = ["tests/capture/test_triton.py", "tests/capture/test_cuda_streams.py"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *tests]
    if quick:
        cmd += ["-k", "not inductor"]
    print(f"$ BYTEGRAPH_TEST_DEVICE={env['BYTEGRAPH_TEST_DEVICE']} {' '.join(cmd[1:])}", flush=True)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    tail = (done.stdout + done.stderr).strip().splitlines()
    print("\n".join(tail[-25:]), flush=True)


def _median_us(fn: Callable[[], Any], calls: int, sync: Callable[[], None]) -> float:
    times = []
    for _ in range(5):
        sync()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(times)


def models(quick: bool) -> None:
    import bytegraph
    from bytegraph.demo import demo_models

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    modes = [None] if device == "cpu" or quick else [None, "reduce-overhead"]
    print(f"\ninductor on {device}: first call ms / per call µs (median of 5 runs), outputs vs eager")
    print(f"{'model':<12}{'mode':<18}{'compiler':<14}{'first ms':>10}{'per call µs':>13}  match")
    for dm in demo_models():
        model = dm.model.to(device).eval()
        x = dm.make_input().to(device)
        with torch.no_grad():
            ref = model(x)
            eager_us = _median_us(lambda: model(x), 50, sync)
            print(f"{dm.name.split()[0]:<12}{'-':<18}{'eager':<14}{'-':>10}{eager_us:>13.1f}")
            for mode in modes:
                for name, make in (("bytegraph", lambda: bytegraph.compile(model, backend="inductor", mode=mode)),
                                   ("torch.compile", lambda: torch.compile(model, backend="inductor", mode=mode))):
                    torch._dynamo.reset()
                    compiled = make()
                    t0 = time.perf_counter()
                    out = compiled(x)
                    sync()
                    first_ms = (time.perf_counter() - t0) * 1e3
                    for _ in range(3):
                        out = compiled(x)
                    match = torch.allclose(out, ref, rtol=1e-3, atol=1e-3)
                    per = _median_us(lambda: compiled(x), 50, sync)
                    label = mode or "default"
                    print(f"{dm.name.split()[0]:<12}{label:<18}{name:<14}{first_ms:>10.0f}{per:>13.1f}  {match}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the inductor tests and reduce-overhead")
    args = parser.parse_args()
    machine()
    run_tests(args.quick)
    models(args.quick)


if __name__ == "__main__":
    main()
