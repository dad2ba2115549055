"""DistributedDataParallel: DDP's own Python runs natively; the module it wraps is compiled, and
its graph is split at DDP's gradient-bucket boundaries so communication overlaps backward.

``bytegraph.compile(DDP(model))`` gives a ``CompiledDDP``: each call runs ``DDP.forward`` itself
(pre-forward bucket rebuilding, the reducer's autograd hooks, its logging), except that DDP's
call of the wrapped module goes to a bytegraph-compiled call of ``model``. ``DDP(bytegraph.compile
(model))`` needs nothing: the compiled module is simply called by DDP.

Overlap (as torch.compile's DDPOptimizer does it): a capture made while a DDP module is running
its forward (``DistributedDataParallel._get_active_ddp_module()``) hands the backend not one graph
but a graph of submodules, one per bucket of parameter gradients, each compiled on its own. With
an AOTAutograd backend each submodule has its own backward, so the reducer's hooks fire, and a
bucket's all-reduce starts, as soon as the backward of the later layers is done, while the
earlier layers' backward still runs. Buckets are filled as DDP fills them: parameters in reverse
order of use, the first bucket up to ``first_bucket_bytes_cap``, the others up to
``bucket_bytes_cap``. ``bytegraph.config.ddp_split_graphs = False`` turns splitting off.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
import torch.fx

from ..config import config
from .split import compile_submodules, split_graph, wrapping


def active_ddp_module() -> Any:
    """The DDP module whose forward is running now (it wraps the module being captured), or None."""
    if not torch.distributed.is_available():
        return None
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel._get_active_ddp_module()


def is_ddp(module: Any) -> bool:
    if not torch.distributed.is_available():
        return False
    from torch.nn.parallel import DistributedDataParallel

    return isinstance(module, DistributedDataParallel)


@dataclasses.dataclass
class Bucket:
    params: list[str] = dataclasses.field(default_factory=list)     # placeholder names, last used first
    nbytes: int = 0
    nodes: list[torch.fx.Node] = dataclasses.field(default_factory=list)


def bucket_caps(ddp: Any) -> tuple[int, int]:
    """(first bucket cap, other buckets' cap) in bytes, as DDP's reducer uses them."""
    cap = int(getattr(ddp, "bucket_bytes_cap", 25 * 1024 * 1024))
    config_ = getattr(ddp, "_bucket_config", None)
    first = int(getattr(config_, "first_bucket_bytes_cap", cap))
    return first, cap


def plan_buckets(gm: torch.fx.GraphModule, first_cap: int, cap: int) -> list[Bucket]:
    """Walk the graph backwards (the order backward produces gradients), putting nodes in the
    current bucket and counting the bytes of the trainable parameters they use the first time;
    a bucket that has reached its cap closes before the next node. Forward order is returned."""
    trainable = {n: n.meta["example_value"] for n in gm.graph.nodes if n.op == "placeholder"
                 and _is_trainable_parameter(n)}
    buckets = [Bucket()]
    seen: set[torch.fx.Node] = set()
    for node in reversed(gm.graph.nodes):
        if node.op in ("placeholder", "output"):
            continue
        current = buckets[-1]
        limit = first_cap if len(buckets) == 1 else cap
        if current.nbytes >= limit:
            current = Bucket()
            buckets.append(current)
        current.nodes.append(node)
        for arg in node.all_input_nodes:
            if arg in trainable and arg not in seen:
                seen.add(arg)
                value = trainable[arg]
                current.params.append(arg.name)
                current.nbytes += value.numel() * value.element_size()
    if len(buckets) > 1 and buckets[-1].nbytes == 0:      # leading ops with no parameter of their own
        buckets[-2].nodes.extend(buckets.pop().nodes)
    return buckets[::-1]


def _is_trainable_parameter(node: torch.fx.Node) -> bool:
    source = node.meta.get("source")
    value = node.meta.get("example_value")
    return isinstance(value, torch.Tensor) and value.requires_grad and source is not None \
        and source.is_module_state()


def split_for_ddp(backend: Callable[..., Any]) -> Callable[..., Any]:
    """``backend`` wrapped so that, under a running DDP forward, the graph is compiled as one
    submodule per gradient bucket (see the module doc). The plan is kept on the graph module
    (``gm.meta["bytegraph_ddp_buckets"]``: bytes per bucket) for ``explain``."""
    def compile_split(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        ddp = active_ddp_module()
        if ddp is None or not config.ddp_split_graphs:
            return backend(gm, example_inputs)
        buckets = plan_buckets(gm, *bucket_caps(ddp))
        gm.meta["bytegraph_ddp_buckets"] = [b.nbytes for b in buckets]
        if len(buckets) == 1:
            return backend(gm, example_inputs)
        part = {node: i for i, b in enumerate(buckets) for node in b.nodes}
        split = split_graph(gm, lambda node: part[node])
        compile_submodules(split, backend, example_inputs)
        return split

    return wrapping(backend, compile_split)
