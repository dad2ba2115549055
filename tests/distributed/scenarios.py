"""Distributed scenarios run in 2 processes on the CPU (gloo), for tests/distributed/test_distributed.py.

    python -m tests.distributed.scenarios OUT.json [scenario ...]

Each scenario trains a model for a few steps with an optimizer twice in the same processes,
compiled with bytegraph and not compiled (the reference), from the same weights and inputs, and
reports per step whether the loss and every gradient are equal, plus what bytegraph captured.
Rank 0 writes the reports as JSON. Run from the repository root (the child processes import this
module by name).

A launch in which a process dies of a signal (a crash inside torch or gloo, not a Python exception:
seen once in CI, a SIGSEGV in rank 1 under torch 2.15.0, never reproduced in 30 local runs) is
launched once more; the report records how many launches it took ("_launches") and the test warns
when it took two. Each worker has faulthandler on, so a crash prints its Python stack to stderr.
"""

from __future__ import annotations

import copy
import faulthandler
import json
import os
import socket
import sys
import traceback
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import bytegraph

STEPS = 3


def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 4))


def gpt2() -> torch.nn.Module:
    from bytegraph.zoo import build

    model, _ = build("gpt2", "causal-lm")
    return model.train()


def _mlp_batch(rank: int, step: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(100 * step + rank)
    return {"x": torch.randn(8, 16, generator=g)}


def _lm_batch(rank: int, step: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(100 * step + rank)
    ids = torch.randint(0, 128, (2, 12), generator=g)
    return {"input_ids": ids, "labels": ids}


def _loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    if "x" in batch:
        return model(batch["x"]).pow(2).mean()
    return model(**batch).loss


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    out = []
    for p in model.parameters():
        g = p.grad
        if g is None:
            out.append(None)
            continue
        out.append(g.full_tensor() if hasattr(g, "full_tensor") else g.clone())
    return out


def _train(model: Any, params: torch.nn.Module, batch: Callable[[int, int], dict], rank: int) -> list[Any]:
    opt = torch.optim.AdamW(params.parameters(), lr=1e-2)
    trace = []
    for step in range(STEPS):
        opt.zero_grad()
        loss = _loss(model, batch(rank, step))
        loss.backward()
        trace.append((loss.detach().clone(), _grads(params)))
        opt.step()
    return trace


def _compare(ours: list[Any], ref: list[Any]) -> list[dict[str, bool]]:
    steps = []
    for (l1, g1), (l2, g2) in zip(ours, ref):
        grads = len(g1) == len(g2) and all((a is None and b is None) or (a is not None and b is not None and
                                          torch.allclose(a, b, rtol=1e-4, atol=1e-5)) for a, b in zip(g1, g2))
        steps.append({"loss": bool(torch.allclose(l1, l2, rtol=1e-5, atol=1e-6)), "grads": grads})
    return steps


def _stats(compiled: Any) -> dict[str, Any]:
    stats = compiled.stats_all if hasattr(compiled, "stats_all") else [compiled.stats]
    return {"graphs": sum(s.graphs for s in stats), "captures": sum(s.captures for s in stats),
            "eager": [r for s in stats for r in s.eager_reasons],
            "breaks": sum(len(s.break_reasons) for s in stats)}


def _ddp(make: Callable[[], torch.nn.Module], batch: Callable, rank: int, split: bool = True,
         bucket_cap_mb: float | None = 0.01) -> dict[str, Any]:
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.manual_seed(0)
    base = make()
    kw = {} if bucket_cap_mb is None else {"bucket_cap_mb": bucket_cap_mb}
    model, ref = DDP(base, **kw), DDP(copy.deepcopy(base), **kw)
    with bytegraph.config.patch(ddp_split_graphs=split):
        compiled = bytegraph.compile(model, backend="aot_eager")
        ours = _train(compiled, model, batch, rank)
    theirs = _train(ref, ref, batch, rank)
    entry = compiled.entries[-1]
    return {"steps": _compare(ours, theirs), **_stats(compiled),
            "buckets": entry.graph.meta.get("bytegraph_ddp_buckets") if entry.graph is not None else None,
            "split_graphs": _split_count(entry)}


def _split_count(entry: Any) -> int:
    """How many compiled submodules the entry's graph was split into (1: not split)."""
    buckets = entry.graph.meta.get("bytegraph_ddp_buckets") if entry.graph is not None else None
    return len(buckets) if buckets else 1


def _fsdp(make: Callable[[], torch.nn.Module], batch: Callable, rank: int, how: str,
          blocks: Callable[[torch.nn.Module], list[tuple[Any, str]]]) -> dict[str, Any]:
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(0)
    model = make()
    ref = copy.deepcopy(model)
    compiled_blocks = []
    if how == "per block":          # compile each block, then shard (the pattern large-model training uses)
        for parent, name in blocks(model):
            block = bytegraph.compile(getattr(parent, name), backend="aot_eager")
            setattr(parent, name, block)
            compiled_blocks.append(block)
    for m in (model, ref):
        for parent, name in blocks(m):
            fully_shard(getattr(parent, name))
        fully_shard(m)
    compiled = bytegraph.compile(model, backend="aot_eager") if how == "root" else model
    ours = _train(compiled, model, batch, rank)
    theirs = _train(ref, ref, batch, rank)
    stats = _stats(compiled) if how == "root" else {
        k: (sum if k != "eager" else lambda v: [r for x in v for r in x])([_stats(b)[k] for b in compiled_blocks])
        for k in ("graphs", "captures", "eager", "breaks")}
    return {"steps": _compare(ours, theirs), **stats, "blocks": len(compiled_blocks)}


def _mlp_blocks(m: torch.nn.Module) -> list[tuple[Any, str]]:
    return [(m, str(i)) for i, layer in enumerate(m) if isinstance(layer, torch.nn.Linear)
            or getattr(layer, "_orig_mod", None).__class__ is torch.nn.Linear]


def _gpt2_blocks(m: torch.nn.Module) -> list[tuple[Any, str]]:
    return [(m.transformer.h, str(i)) for i in range(len(m.transformer.h))]


SCENARIOS: dict[str, Callable[[int], dict[str, Any]]] = {
    "ddp mlp": lambda rank: _ddp(mlp, _mlp_batch, rank),
    "ddp mlp, split off": lambda rank: _ddp(mlp, _mlp_batch, rank, split=False),
    "ddp mlp, default buckets": lambda rank: _ddp(mlp, _mlp_batch, rank, bucket_cap_mb=None),
    "ddp gpt2": lambda rank: _ddp(gpt2, _lm_batch, rank, bucket_cap_mb=0.05),
    "fsdp2 mlp, root compiled": lambda rank: _fsdp(mlp, _mlp_batch, rank, "root", _mlp_blocks),
    "fsdp2 mlp, per block": lambda rank: _fsdp(mlp, _mlp_batch, rank, "per block", _mlp_blocks),
    "fsdp2 gpt2, per block": lambda rank: _fsdp(gpt2, _lm_batch, rank, "per block", _gpt2_blocks),
    "fsdp2 gpt2, root compiled": lambda rank: _fsdp(gpt2, _lm_batch, rank, "root", _gpt2_blocks),
}


def _worker(rank: int, world: int, port: int, names: list[str], out: str, launches: int) -> None:
    faulthandler.enable(all_threads=True)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results = {}
    try:
        for name in names:
            try:
                results[name] = SCENARIOS[name](rank)
            except Exception:   # noqa: BLE001 - reported to the test, which fails with it
                results[name] = {"error": traceback.format_exc()}
            bytegraph.reset()
            dist.barrier()
    finally:
        dist.destroy_process_group()
    if rank == 0:
        with open(out, "w") as f:
            json.dump({**results, "_launches": launches}, f)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str], attempts: int = 2) -> None:
    out, names = argv[0], argv[1:] or list(SCENARIOS)
    for launch in range(1, attempts + 1):
        try:
            mp.spawn(_worker, args=(2, _free_port(), names, out, launch), nprocs=2)
            return
        except mp.ProcessExitedException as e:
            if e.signal_name is None or launch == attempts:
                raise
            print(f"launch {launch}: process {e.error_index} died of {e.signal_name} (a native crash); launching "
                  f"again", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
