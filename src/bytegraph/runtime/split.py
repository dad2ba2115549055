"""Compiling a graph split into submodules (``torch.fx.passes.split_module``): each submodule
goes to the backend on its own, with the inputs it gets, and the split graph calls the results.

Used where one backend graph would lose what eager has: DDP's gradient buckets (``ddp.py``),
autograd-independent parts of a graph (``components.py``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.fx
from torch.fx.passes.split_module import split_module

from ..config import config
from ..graph.autograd_parts import GRAD_MODE, GRAD_MODE_AFTER, GRAD_MODE_BEFORE
from ..variables.ctx import suspend_autocast


def split_graph(gm: torch.fx.GraphModule, part_of: Callable[[torch.fx.Node], int]) -> torch.fx.GraphModule:
    """``split_module(gm, ...)``, the nodes' ``example_value`` hidden while it runs: split_module
    makes every free symbol of a value that crosses parts an input of its own, and looks for the
    SymInt input that defines it; Dynamo's graphs have one, bytegraph's get sizes from the tensor
    inputs themselves (``KeyError: s93``). Each submodule reads the sizes from its tensors as the
    whole graph did. An autocast block a graph break cut ends in ``suspend_autocast``, which
    split_module does not pair with the block's enter: it sees ``_exit_autocast`` there and
    gives each part its own enter and exit; for a graph with that one block, every part leaves
    it with the suspend again (the block goes on in the next part, or after the graph)."""
    hidden = {n: n.meta.pop("example_value") for n in gm.graph.nodes if "example_value" in n.meta}
    suspended = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is suspend_autocast]
    for n in suspended:
        n.target = torch.amp._exit_autocast
    try:
        split = split_module(gm, None, part_of, keep_original_order=True)
    finally:
        for n, value in hidden.items():
            n.meta["example_value"] = value
        for n in suspended:
            n.target = suspend_autocast
    if suspended and sum(n.op == "call_function" and n.target is torch.amp._enter_autocast
                         for n in gm.graph.nodes) == 1:          # (that one block)
        for sub in split.children():
            if isinstance(sub, torch.fx.GraphModule):
                for n in sub.graph.nodes:
                    if n.op == "call_function" and n.target is torch.amp._exit_autocast:
                        n.target = suspend_autocast
                sub.recompile()
    return split


def compile_submodules(split: torch.fx.GraphModule, backend: Callable[..., Any], example_inputs: list[Any]) -> None:
    """Compile each submodule with ``backend`` on the inputs it gets: the split graph is run on
    fake copies of the example inputs (no real computation, no side effect), and each submodule
    is replaced by what the backend returns when the run reaches it."""
    from ..torch_compat import TracingContext

    tracing = TracingContext.get()
    fake_mode = tracing.fake_mode
    placeholders = [n for n in split.graph.nodes if n.op == "placeholder"]
    fakes = []
    for node, x in zip(placeholders, example_inputs):
        if isinstance(x, torch.Tensor):       # the same symbols as the whole graph's inputs
            fakes.append(fake_mode.from_tensor(x, symbolic_context=tracing.tensor_to_context.get(x)))
        else:
            fakes.append(node.meta.get("example_value", x))

    class Compiler(torch.fx.Interpreter):
        def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
            submod = self.fetch_attr(target)
            out = submod(*args, **kwargs)
            single = _returns_tuple(submod)
            setattr(split, target, _Compiled(backend(submod, list(args)), single))
            return out

    with fake_mode:
        Compiler(split).run(*fakes)
    split.recompile()


def _returns_tuple(submod: torch.fx.GraphModule) -> bool:
    """Make a submodule return a tuple, as backends expect of a graph; whether it returned a
    single value before (the caller then unwraps it)."""
    output = next(n for n in submod.graph.nodes if n.op == "output")
    if isinstance(output.args[0], (tuple, list)):
        return False
    output.args = ((output.args[0],),)
    submod.recompile()
    return True


class _Compiled(torch.nn.Module):
    """A compiled submodule in the split graph (a module, so the split graph can call it)."""

    def __init__(self, fn: Callable[..., Any], single: bool) -> None:
        super().__init__()
        self.fn = fn
        self.single = single

    def forward(self, *args: Any) -> Any:
        out = self.fn(*args)
        return out[0] if self.single else out


def by_autograd_parts(backend: Callable[..., Any]) -> Callable[..., Any]:
    """``backend`` wrapped so that a graph with autograd-independent parts (``gm.meta
    ["bytegraph_autograd_parts"]``, planned by ``graph/autograd_parts.py``) is compiled as one
    submodule per part, each its own autograd node, as eager's ops are. Whether a backend needs
    it is an ordered rule list (``_one_node_per_graph``)."""
    kind = _one_node_per_graph(backend)
    if kind is False:
        return backend

    def compile_parts(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        part = gm.meta.get("bytegraph_autograd_parts")
        if not part or not config.split_autograd_parts:
            return backend(gm, example_inputs)
        whole = None
        if kind is None:                       # rule 4: try the whole graph first
            whole = backend(gm, example_inputs)
            if whole is gm or getattr(whole, "__self__", None) is gm:
                return whole
        try:
            split = split_graph(_without_grad_switches(gm), lambda node: part[node.name])
            _switch_grad_mode_in_parts(split, part[GRAD_MODE_BEFORE], part[GRAD_MODE_AFTER])
            compile_submodules(split, backend, example_inputs)
        except Exception:   # noqa: BLE001 - a graph that cannot be compiled in parts is compiled whole
            return whole if whole is not None else backend(gm, example_inputs)
        return split

    return wrapping(backend, compile_parts)


def _one_node_per_graph(backend: Callable[..., Any]) -> bool | None:
    """Whether what ``backend`` returns is one autograd node for the whole graph (an AOTAutograd
    backend), by the first rule that applies to it or to what it wraps (``__wrapped__``):

    1. it says it runs the graph's ops as they are (``backend.autograd_per_op = True``: bytegraph's
       ``eager``, ``CompileCounter``): no;
    2. torch's ``eager`` backend: no;
    3. any other backend of torch's (``aot_eager``, ``inductor``, by name or wrapper): yes;
    4. a user's callable: None, not known: the whole graph is compiled first, and kept when what
       comes back is the graph module or its ``forward`` (the usual ``return gm.forward``).
    """
    seen = set()
    while backend is not None and id(backend) not in seen:
        seen.add(id(backend))
        if getattr(backend, "autograd_per_op", False):
            return False
        module = getattr(backend, "__module__", None) or type(backend).__module__
        if module == "torch" or module.startswith("torch."):
            return getattr(backend, "__name__", None) != "eager"
        backend = getattr(backend, "__wrapped__", None)
    return None


def _is_grad_switch(n: torch.fx.Node) -> bool:
    return n.op == "call_function" and n.target is torch._C._set_grad_enabled


def _without_grad_switches(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """A copy of ``gm`` without its grad-mode switches (same node names and meta: each op keeps the
    mode it runs under in ``meta[GRAD_MODE]``)."""
    graph = torch.fx.Graph()
    out = graph.graph_copy(gm.graph, {})
    for n in [n for n in graph.nodes if _is_grad_switch(n)]:
        graph.erase_node(n)
    graph.output(out)
    return torch.fx.GraphModule(gm, graph, class_name=type(gm).__name__)


def _switch_grad_mode_in_parts(split: torch.fx.GraphModule, before: bool, after: bool) -> None:
    """Each part switches grad mode where its ops need it and restores ``before`` at its end; the
    split graph leaves ``after`` in force, as the whole graph did."""
    for part in split.children():
        if not isinstance(part, torch.fx.GraphModule):
            continue
        mode = before
        for n in list(part.graph.nodes):
            want = n.meta.get(GRAD_MODE, mode) if n.op != "output" else before
            if n.op in ("call_function", "call_method", "call_module", "output") and want != mode:
                with part.graph.inserting_before(n):
                    part.graph.call_function(torch._C._set_grad_enabled, (want,))
                mode = want
        part.recompile()
    if after != before:
        output = next(n for n in split.graph.nodes if n.op == "output")
        with split.graph.inserting_before(output):
            split.graph.call_function(torch._C._set_grad_enabled, (after,))
        split.recompile()


def wrapping(backend: Callable[..., Any], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """``wrapper``, a backend that compiles through ``backend``, declaring what ``backend`` declares
    about itself (``symbolic_floats``), with ``backend`` as its ``__wrapped__``."""
    for attr in ("symbolic_floats",):
        if hasattr(backend, attr):
            setattr(wrapper, attr, getattr(backend, attr))
    wrapper.__wrapped__ = backend
    return wrapper
