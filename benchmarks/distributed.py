"""Step time of DDP and FSDP2 training on 2 CPU processes (gloo): eager, torch.compile, bytegraph.

    python benchmarks/distributed.py [--steps 8] [--backend aot_eager]

A GPT-2-style model from transformers (small config), AdamW, a forward+backward+step per step.
DDP: the whole DDP module compiled (torch.compile's DDPOptimizer and bytegraph both split the
graph at gradient buckets; 2 MiB buckets so that the split shows). FSDP2: each transformer
block compiled, then sharded, then the root sharded. Prints the median step time (ms) over the
steps after two warm-up steps, graphs captured, and how many graphs DDP's split made.
Timings on a shared CPU are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _model() -> torch.nn.Module:
    import transformers

    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(n_layer=4, n_embd=256, n_head=4, vocab_size=1024, n_positions=64,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(config).train()


def _batch(rank: int, step: int) -> torch.Tensor:
    return torch.randint(0, 1024, (4, 32), generator=torch.Generator().manual_seed(100 * step + rank))


def _time_steps(model, params, rank: int, steps: int) -> list[float]:
    opt = torch.optim.AdamW(params.parameters(), lr=1e-3)
    times = []
    for step in range(steps + 2):
        ids = _batch(rank, step)
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        dist.barrier()
        times.append(time.perf_counter() - t0)
    return times[2:]


class _Counter:
    """A torch.compile backend that counts graphs and passes them on."""

    def __init__(self, backend: str) -> None:
        from torch._dynamo.backends.registry import lookup_backend

        self.inner = lookup_backend(backend)
        self.graphs = 0

    def __call__(self, gm, example_inputs):
        self.graphs += 1
        return self.inner(gm, example_inputs)


def _ddp(rank: int, how: str, backend: str, steps: int) -> tuple[float, str]:
    import bytegraph
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.manual_seed(0)
    ddp = DDP(_model(), bucket_cap_mb=2)
    if how == "eager":
        return statistics.median(_time_steps(ddp, ddp, rank, steps)), "-"
    if how == "torch.compile":
        from torch import _dynamo

        _dynamo.reset()
        counter = _Counter(backend)
        compiled = torch.compile(ddp, backend=counter)
        t = statistics.median(_time_steps(compiled, ddp, rank, steps))
        return t, f"{counter.graphs} graphs (after DDPOptimizer's split)"
    compiled = bytegraph.compile(ddp, backend=backend)
    t = statistics.median(_time_steps(compiled, ddp, rank, steps))
    buckets = compiled.entries[-1].graph.meta.get("bytegraph_ddp_buckets") or [0]
    return t, f"{compiled.stats.graphs} graph, split into {len(buckets)}"


def _fsdp(rank: int, how: str, backend: str, steps: int) -> tuple[float, str]:
    import bytegraph
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(0)
    model = _model()
    blocks = model.transformer.h
    compiled = []
    if how == "torch.compile":
        from torch import _dynamo

        _dynamo.reset()
        counter = _Counter(backend)
        for block in blocks:
            block.compile(backend=counter)
    elif how == "bytegraph":
        for i, block in enumerate(blocks):
            blocks[i] = bytegraph.compile(block, backend=backend)
            compiled.append(blocks[i])
    for block in blocks:
        fully_shard(block)
    fully_shard(model)
    t = statistics.median(_time_steps(model, model, rank, steps))
    if how == "torch.compile":
        return t, f"{counter.graphs} graphs"
    if how == "bytegraph":
        return t, f"{sum(b.stats.graphs for b in compiled)} graphs"
    return t, "-"


def _worker(rank: int, port: int, backend: str, steps: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    rows = []
    for wrapper, run in (("DDP", _ddp), ("FSDP2 per block", _fsdp)):
        for how in ("eager", "torch.compile", "bytegraph"):
            t, what = run(rank, how, backend, steps)
            rows.append((wrapper, how, t * 1e3, what))
    if rank == 0:
        print(f"2 processes (gloo, CPU), GPT-2 (4 layers, width 256, 3.4M parameters), {steps} steps, backend={backend}")
        print(f"{'wrapper':<17}{'compiler':<15}{'step ms':>9}  graphs")
        for wrapper, how, ms, what in rows:
            print(f"{wrapper:<17}{how:<15}{ms:>9.1f}  {what}")
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--backend", default="aot_eager")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, args.backend, args.steps), nprocs=2)


if __name__ == "__main__":
    main()
