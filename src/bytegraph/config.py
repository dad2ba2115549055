"""Global settings of bytegraph.

Few knobs, each with its default and the reason it exists. Read them as
``bytegraph.config.<name>``; tests may patch them with ``config.patch(name=value)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator


@dataclasses.dataclass
class Config:
    # Cache entries one code object may hold before bytegraph gives up and runs it eagerly
    # (with a one-time warning). Same default and meaning as torch._dynamo.config.recompile_limit.
    recompile_limit: int = 8
    # Deepest chain of inlined calls. Deep recursion in traced code is almost always a
    # recursive Python algorithm that is better run eagerly.
    max_inline_depth: int = 64
    # Most instructions one frame may interpret before capture gives up (a guard against
    # loops whose trip count is large and known, which would unroll into huge graphs).
    max_instructions: int = 500_000
    # Fewest guards a state snapshot must check in bulk for a cache entry to use one
    # (guards/snapshot.py). Below it, checking each guard directly is as fast; 0 always uses
    # one where possible, a huge value never does (to compare, or to rule it out).
    snapshot_min_guards: int = 16
    # Split a graph captured inside a DistributedDataParallel forward at DDP's gradient-bucket
    # boundaries, one compiled submodule per bucket, so each bucket's all-reduce overlaps the rest
    # of backward (runtime/ddp.py; torch._dynamo.config.optimize_ddp). Off: one graph, no overlap.
    ddp_split_graphs: bool = True
    # Compile a graph whose outputs' backward passes share no op as one submodule per such part
    # (graph/autograd_parts.py), so an AOTAutograd backend gives each part its own backward, as
    # eager does: ``d_loss.backward(); g_loss.backward()`` of a GAN step. Off: one graph, whose
    # first backward frees what the second needs (torch.compile's behaviour).
    split_autograd_parts: bool = True
    # Opt-in assumptions about a model's state that let a cache hit skip per-object checks
    # (issue 15, DESIGN.md decision 61). Off, every guard is sound; each one on misses exactly
    # the writes named here. Read when a cache entry is made: set them before the first call.
    # Hooks reach a module only through torch's ``register_*_hook`` functions: a hit compares
    # torch's count of hook handles (``RemovableHandle.next_id``) instead of reading every module's
    # hook dicts, which are still checked whenever the count moves. Misses a hook written into a
    # hook dict directly (``m._forward_hooks[k] = fn``), and one registered by another thread
    # while a call re-takes its snapshot.
    assume_hooks_registered_via_api: bool = False
    # The tensors a model or a global holds (parameters, buffers, tensor attributes) change their
    # metadata only by being reassigned (``m.w = nn.Parameter(...)``, which writes a watched dict):
    # a hit skips their TENSOR_MATCH. Misses ``p.data = t``, ``p.requires_grad_()`` and in-place
    # metadata ops (``t_``, ``resize_``, ``as_strided_``, ``set_``) on such a tensor; arguments'
    # tensors are checked as before.
    assume_static_tensor_metadata: bool = False

    @contextlib.contextmanager
    def patch(self, **changes: object) -> Iterator[None]:
        old = {k: getattr(self, k) for k in changes}
        for k, v in changes.items():
            if not hasattr(self, k):
                raise AttributeError(f"bytegraph.config has no setting {k!r}")
            setattr(self, k, v)
        try:
            yield
        finally:
            for k, v in old.items():
                setattr(self, k, v)


config = Config()
