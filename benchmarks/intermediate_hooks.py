"""Forward + backward of an MLP whose forward hooks every hidden activation (``h.register_hook``,
a closure that records the gradient's norm and scales it): eager, torch.compile, bytegraph.
With ``--kind module``, every Linear has a full backward hook doing the same to its grad_input
(``register_full_backward_hook``) instead.

    python benchmarks/intermediate_hooks.py [--steps 30] [--layers 4] [--width 256] [--batch 64]
                                            [--backend inductor] [--threads 1] [--no-hooks]
                                            [--kind tensor|module]

torch.compile (without compiled autograd) breaks the graph at every ``register_hook`` on an
intermediate, and at every module with full backward hooks; bytegraph keeps one graph
(DESIGN 55, 57). The three copies run interleaved, step after
step; two warm-up steps are not timed. Prints the median ms per step (forward, backward), the
ratios to eager and to torch.compile, graphs per step (a counting backend that wraps
``--backend``, for torch.compile and bytegraph alike), and the largest gradient difference from
eager's. Timings on a shared CPU are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import bytegraph
from bytegraph.testing import CountingBackend


class Hooked(nn.Module):
    def __init__(self, layers: int, width: int, hooks: str | None = "tensor") -> None:
        super().__init__()
        self.hooks = hooks
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        self.norms: list[torch.Tensor] = []
        if hooks == "module":
            for layer in self.layers:
                layer.register_full_backward_hook(self._module_hook)

    def _module_hook(self, module: nn.Module, grad_input: tuple, grad_output: tuple) -> tuple:
        self.norms.append(grad_output[0].norm())
        return tuple(None if g is None else g * 0.5 for g in grad_input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
            if self.hooks == "tensor":
                x.register_hook(lambda g: self.norms.append(g.norm()) or g * 0.5)
        return x.square().mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-hooks", action="store_true", help="the same MLP without hooks (the baseline)")
    parser.add_argument("--kind", choices=("tensor", "module"), default="tensor",
                        help="hooks on the activations (Tensor.register_hook) or full backward hooks on the Linears")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = [Hooked(args.layers, args.width, None if args.no_hooks else args.kind) for _ in range(3)]
    for m in models[1:]:
        m.load_state_dict(models[0].state_dict())
    tc_backend, bg_backend = CountingBackend(args.backend), CountingBackend(args.backend)
    runs = {"eager": models[0], "torch.compile": torch.compile(models[1], backend=tc_backend),
            "bytegraph": bytegraph.compile(models[2], backend=bg_backend)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    calls_before = {}
    for step in range(args.steps + 2):
        x = torch.randn(args.batch, args.width)
        if step == 2:
            calls_before = {"torch.compile": tc_backend.calls, "bytegraph": bg_backend.calls}
        for name, fn in runs.items():
            for p in fn.parameters():
                p.grad = None
            start = time.perf_counter()
            fn(x).backward()
            if step >= 2:
                times[name].append(time.perf_counter() - start)
    eager_ms = statistics.median(times["eager"]) * 1e3
    tc_ms = statistics.median(times["torch.compile"]) * 1e3
    hooked = "no hooks" if args.no_hooks else {"tensor": "a hook on every activation",
                                                "module": "a full backward hook on every Linear"}[args.kind]
    print(f"MLP {args.layers}x{args.width}, batch {args.batch}, {hooked}, backend {args.backend}, "
          f"{args.steps} steps, {torch.get_num_threads()} thread(s)")
    print(f"{'':15} {'ms/step':>8} {'x eager':>8} {'x t.c':>8} {'graphs':>7} {'calls/step':>10} {'max |dgrad|':>12}")
    for name, fn in runs.items():
        ms = statistics.median(times[name]) * 1e3
        counter = {"torch.compile": tc_backend, "bytegraph": bg_backend}.get(name)
        graphs = counter.compiled if counter is not None else "-"
        per_step = f"{(counter.calls - calls_before[name]) / args.steps:.0f}" if counter is not None else "-"
        diff = max((p.grad - q.grad).abs().max().item() for p, q in zip(models[0].parameters(), fn.parameters()))
        print(f"{name:15} {ms:8.2f} {ms / eager_ms:8.2f} {ms / tc_ms:8.2f} {graphs!s:>7} {per_step:>10} {diff:12.2e}")
    assert all(len(m.norms) == len(models[0].norms) for m in models)


if __name__ == "__main__":
    main()
