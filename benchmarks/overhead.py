"""Per-call overhead of bytegraph vs torch.compile(backend="eager"), in one process.

Small programs: overhead = time of a call through the compiler minus the time of calling
the captured graph directly (the same graph module each compiler produced, through its
``forward``). Both compilers get a recording backend that returns ``gm.forward`` (what
"eager" does), so the only difference is the frontend: guards, cache lookup, argument handling.

Depth rows: a GPT-2 from transformers (width 32, ``use_cache=False``) and a Llama-style model
written here (RMSNorm, rotary embeddings, grouped-query attention, SwiGLU), at 2, 12 and 24
layers, batch 1, sequence 8, eval, no_grad, one thread. Both compilers get a *replaying*
backend: it runs the graph once and then returns those outputs on every call, so a call
costs only the frontend (guards, fetching the inputs, the call, rebuilding the result) and
the graph's own time and noise stay out. Also the first call (capture) of each, and the
per-layer slope of both, from 2 to 24 layers. "assumed" is bytegraph again with the two opt-in
assumptions of ``bytegraph.config`` (hooks only through ``register_*_hook``, tensors held by the
model keep their metadata; DESIGN.md decision 61), which are off by default.

    python benchmarks/overhead.py [--repeat 15] [--number 4000] [--depth-repeat 7] [--depth-number 200]
                                  [--depth-runs 3] [--skip-small | --skip-depth | --parts]

Prints tables of medians (µs per call) and the ratios.
Targets: small programs (issue #2): bytegraph's overhead at most 1/5 of torch.compile's on every
row. Depth (issue #15): at 24 layers at most 0.2x torch.compile's frontend cost, under 1 µs more
per added layer (as a ratio on a slower machine: the slope at most ~1/6 of torch.compile's), and
a first call at most half of torch.compile's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import torch
import torch._dynamo

import bytegraph


class Recorder:
    """A backend that keeps the graph and runs it as Python (like "eager"), remembering the
    inputs of the last call so the benchmark can call the very same graph directly."""

    def __init__(self) -> None:
        self.graphs: list[Callable[..., Any]] = []
        self.inputs: tuple = ()

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        forward = gm.forward
        rec = self

        def run(*args: Any) -> Any:
            rec.inputs = args
            return forward(*args)

        self.graphs.append(run)
        return run


def add_relu(x, y):
    return torch.relu(x + y)


class MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 8)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def eight_args(a, b, c, d, e, f, g, h):
    return a + b + c + d + e + f + g + h


class Attrs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for i in range(20):
            setattr(self, f"a{i}", float(i + 1))

    def forward(self, x):
        s = x
        for i in range(20):
            s = s + getattr(self, f"a{i}")
        return s


def read_attrs(m, x):
    return (x * m.a0 + m.a1 + m.a2 + m.a3 + m.a4 + m.a5 + m.a6 + m.a7 + m.a8 + m.a9 + m.a10 + m.a11
            + m.a12 + m.a13 + m.a14 + m.a15 + m.a16 + m.a17 + m.a18 + m.a19)


def int_and_list(x, n, items):
    return x * n + items[0] - items[1]


def cases() -> list[tuple[str, Callable[[], Any], tuple]]:
    x, y = torch.randn(8), torch.randn(8)
    mlp = MLP()
    attrs = Attrs()
    t8 = tuple(torch.randn(8) for _ in range(8))
    return [
        ("add+relu (2 tensors)", lambda: add_relu, (x, y)),
        ("2-layer MLP module", lambda: mlp, (torch.randn(4, 16),)),
        ("8 tensor arguments", lambda: eight_args, t8),
        ("20 module attributes", lambda: read_attrs, (attrs, x)),
        ("int and list arguments", lambda: int_and_list, (x, 3, [torch.randn(8), torch.randn(8)])),
    ]


def _per_call_us(fn: Callable[..., Any], args: tuple, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn(*args)
    return (time.perf_counter() - t0) / number * 1e6


def measure(name: str, make: Callable[[], Any], args: tuple, repeat: int, number: int) -> dict[str, float]:
    """Time every variant in interleaved rounds (so drift hits all alike); overheads are the
    median over rounds of the per-round difference to the same graph called directly."""
    target = make()
    rec_bg, rec_tc = Recorder(), Recorder()
    torch._dynamo.reset()
    bg = bytegraph.compile(target, backend=rec_bg)
    tc = torch.compile(target, backend=rec_tc)
    for _ in range(3):
        bg(*args)
        tc(*args)
    assert len(rec_bg.graphs) == 1 and len(rec_tc.graphs) == 1, (name, len(rec_bg.graphs), len(rec_tc.graphs))
    variants = {
        "eager": (target, args),
        "graph_bg": (rec_bg.graphs[0], rec_bg.inputs),
        "graph_tc": (rec_tc.graphs[0], rec_tc.inputs),
        "bytegraph": (bg, args),
        "torch.compile": (tc, args),
    }
    rounds: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeat):
        for key, (fn, fn_args) in variants.items():
            rounds[key].append(_per_call_us(fn, fn_args, number))
    row = {k: statistics.median(v) for k, v in rounds.items()}
    row["overhead_bg"] = max(statistics.median(b - g for b, g in zip(rounds["bytegraph"], rounds["graph_bg"])), 0.01)
    row["overhead_tc"] = max(statistics.median(t - g for t, g in zip(rounds["torch.compile"], rounds["graph_tc"])), 0.01)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--number", type=int, default=4000)
    ap.add_argument("--depth-repeat", type=int, default=7)
    ap.add_argument("--depth-number", type=int, default=200)
    ap.add_argument("--depth-runs", type=int, default=3)
    ap.add_argument("--skip-small", action="store_true")
    ap.add_argument("--skip-depth", action="store_true")
    ap.add_argument("--parts", action="store_true", help="only: where a cache hit of each depth model spends its time")
    opts = ap.parse_args(argv)
    if opts.parts:
        parts(opts)
        return 0
    if not opts.skip_small:
        small(opts)
    if not opts.skip_depth:
        depth(opts)
    return 0


def small(opts: argparse.Namespace) -> None:
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}; µs per call, median of {opts.repeat}")
    header = f"{'case':<26}{'eager':>8}{'graph':>8}{'bytegraph':>11}{'torch.compile':>15}{'bg ovh':>9}{'tc ovh':>9}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    worst = float("inf")
    for name, make, args in cases():
        r = measure(name, make, args, opts.repeat, opts.number)
        ratio = r["overhead_tc"] / r["overhead_bg"]
        worst = min(worst, ratio)
        print(f"{name:<26}{r['eager']:8.2f}{r['graph_bg']:8.2f}{r['bytegraph']:11.2f}{r['torch.compile']:15.2f}"
              f"{r['overhead_bg']:9.2f}{r['overhead_tc']:9.2f}{ratio:7.1f}x")
    print(f"\nworst ratio (torch.compile overhead / bytegraph overhead): {worst:.1f}x (target >= 5x)")


# -- depth rows ------------------------------------------------------------------------------------

class Replay:
    """A backend that runs the graph once, then returns those outputs on every call: a call
    through the compiler then costs only its frontend."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self.graphs += 1
        outputs: list[Any] = []

        def run(*args: Any) -> Any:
            if not outputs:
                outputs.append(gm.forward(*args))
            return outputs[0]
        return run


def gpt2(layers: int) -> torch.nn.Module:
    import transformers

    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(n_layer=layers, n_embd=32, n_head=4, vocab_size=128, n_positions=64,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2Model(config).eval()


class RMSNorm(torch.nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Attention(torch.nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q_proj = torch.nn.Linear(dim, dim, bias=False)
        self.k_proj = torch.nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.v_proj = torch.nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.o_proj = torch.nn.Linear(dim, dim, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
        v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class SwiGLU(torch.nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = torch.nn.Linear(dim, hidden, bias=False)
        self.up_proj = torch.nn.Linear(dim, hidden, bias=False)
        self.down_proj = torch.nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.down_proj(torch.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(torch.nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int, hidden: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(dim)
        self.self_attn = Attention(dim, heads, kv_heads)
        self.post_attention_layernorm = RMSNorm(dim)
        self.mlp = SwiGLU(dim, hidden)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaStyle(torch.nn.Module):
    """A Llama-style decoder (transformers' own LlamaModel does not capture as one graph yet)."""

    def __init__(self, layers: int, dim: int = 32, heads: int = 4, kv_heads: int = 2, hidden: int = 64,
                 vocab: int = 128, max_len: int = 64) -> None:
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(vocab, dim)
        self.layers = torch.nn.ModuleList(LlamaLayer(dim, heads, kv_heads, hidden) for _ in range(layers))
        self.norm = RMSNorm(dim)
        inv_freq = 1.0 / (10000 ** (torch.arange(0, dim // heads, 2).float() / (dim // heads)))
        angles = torch.outer(torch.arange(max_len).float(), inv_freq)
        self.register_buffer("cos_cached", torch.cat((angles, angles), -1).cos(), persistent=False)
        self.register_buffer("sin_cached", torch.cat((angles, angles), -1).sin(), persistent=False)

    def forward(self, input_ids, use_cache=False):
        t = input_ids.shape[1]
        cos, sin = self.cos_cached[:t], self.sin_cached[:t]
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x)


DEPTH_MODELS: list[tuple[str, Callable[[int], torch.nn.Module]]] = [("gpt2 (transformers)", gpt2),
                                                                     ("llama-style", LlamaStyle)]


def _calls_us(fn: Callable[..., Any], kwargs: dict[str, Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn(**kwargs)
    return (time.perf_counter() - t0) / number * 1e6


ASSUMED = {"assume_hooks_registered_via_api": True, "assume_static_tensor_metadata": True}


def depth_row(make: Callable[[int], torch.nn.Module], layers: int, repeat: int, number: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = make(layers)
    kwargs = {"input_ids": torch.randint(0, 128, (1, 8)), "use_cache": False}
    rec_bg, rec_tc, rec_as = Replay(), Replay(), Replay()
    torch._dynamo.reset()
    bg = bytegraph.compile(model, backend=rec_bg)
    tc = torch.compile(model, backend=rec_tc)
    assumed = bytegraph.compile(model, backend=rec_as)
    t0 = time.perf_counter()
    bg(**kwargs)
    first_bg = time.perf_counter() - t0
    t0 = time.perf_counter()
    tc(**kwargs)
    first_tc = time.perf_counter() - t0
    with bytegraph.config.patch(**ASSUMED):    # read when the cache entry is made
        assumed(**kwargs)
    for _ in range(3):
        bg(**kwargs)
        tc(**kwargs)
        assumed(**kwargs)
    rounds: dict[str, list[float]] = {"bg": [], "tc": [], "as": []}
    for _ in range(repeat):
        rounds["bg"].append(_calls_us(bg, kwargs, number))
        rounds["tc"].append(_calls_us(tc, kwargs, number))
        rounds["as"].append(_calls_us(assumed, kwargs, number))
    assert (rec_bg.graphs, rec_tc.graphs, rec_as.graphs) == (1, 1, 1), (rec_bg.graphs, rec_tc.graphs, rec_as.graphs)
    assert bg.stats.captures == 1 and assumed.stats.captures == 1, (bg.stats, assumed.stats)
    guards = bg.entries[0].guards
    bulk = getattr(guards, "stable", 0)
    fast = assumed.entries[0].guards.fast
    kept = sum(1 for g in guards.guards if g.kind.name == "TENSOR_MATCH" and g.source in fast.plan.covered)
    return {"bg": statistics.median(rounds["bg"]), "tc": statistics.median(rounds["tc"]),
            "as": statistics.median(rounds["as"]),
            "first_bg": first_bg, "first_tc": first_tc, "guards": len(guards.guards), "bulk": bulk,
            "each": len(guards.guards) - bulk, "each_as": len(guards.guards) - bulk - kept}


def depth(opts: argparse.Namespace) -> None:
    """Each model at 2, 12 and 24 layers, ``--depth-runs`` times over; every number is the
    median over the runs (per run: the median of ``--depth-repeat`` rounds), slopes included."""
    import warnings

    warnings.filterwarnings("ignore")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    print(f"\ndepth: frontend µs per call (the backend replays the graph's outputs): median over {opts.depth_runs} "
          f"runs of the median of {opts.depth_repeat} rounds of {opts.depth_number} calls; first call (capture) in s")
    print("guards: per cache entry; each: checked one by one on a hit (TENSOR_MATCH included); bulk: checked "
          "by bytegraph's state snapshot")
    print("assumed: bytegraph with config.assume_hooks_registered_via_api and assume_static_tensor_metadata "
          "(opt-in, DESIGN.md decision 61); its 'each' leaves out the kept tensors' TENSOR_MATCH")
    header = (f"{'model':<21}{'layers':>6}{'torch.compile':>15}{'bytegraph':>11}{'ratio':>7}{'assumed':>9}"
              f"{'ratio':>7}{'tc first':>10}{'bg first':>10}{'ratio':>7}{'guards':>8}{'each':>6}{'bulk':>6}"
              f"{'each(as)':>9}")
    print(header)
    print("-" * len(header))
    try:
        with torch.no_grad():
            for name, make in DEPTH_MODELS:
                runs = [{n: depth_row(make, n, opts.depth_repeat, opts.depth_number) for n in (2, 12, 24)}
                        for _ in range(opts.depth_runs)]
                for layers in (2, 12, 24):
                    r = {k: statistics.median(run[layers][k] for run in runs) for k in runs[0][layers]}
                    print(f"{name:<21}{layers:>6}{r['tc']:15.1f}{r['bg']:11.1f}{r['bg'] / r['tc']:7.2f}"
                          f"{r['as']:9.1f}{r['as'] / r['tc']:7.2f}"
                          f"{r['first_tc']:10.2f}{r['first_bg']:10.2f}{r['first_bg'] / r['first_tc']:7.2f}"
                          f"{r['guards']:8.0f}{r['each']:6.0f}{r['bulk']:6.0f}{r['each_as']:9.0f}", flush=True)
                slopes = {k: statistics.median((run[24][k] - run[2][k]) / 22 for run in runs)
                          for k in ("tc", "bg", "as")}
                ratio = {k: statistics.median((r[24][k] - r[2][k]) / (r[24]["tc"] - r[2]["tc"]) for r in runs)
                         for k in ("bg", "as")}
                print(f"{name:<21}{'slope':>6}{slopes['tc']:15.2f}{slopes['bg']:11.2f}{ratio['bg']:7.2f}"
                      f"{slopes['as']:9.2f}{ratio['as']:7.2f}   µs per added layer", flush=True)
    finally:
        torch.set_num_threads(threads)


def parts(opts: argparse.Namespace) -> None:
    """bytegraph alone, each depth model at 2 and 24 layers: a whole cache hit, its guard function,
    and the three bulk checks of the state snapshot it runs (guards/fastpath.py: ``___s[3]()``
    dict tags, attributes and types; ``any(___s[4])`` the modules' hook dicts; ``___s[8]()`` the
    kept parameters' TENSOR_MATCH), with how many objects each checks, and the slope per layer."""
    import warnings

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)

    def us(fn: Callable[[], Any]) -> float:
        return statistics.median(_calls_us(lambda: fn(), {}, opts.depth_number) for _ in range(opts.depth_repeat))

    print("µs per call (bytegraph, replaying backend, after the snapshot's upgrade to torch's C++ checks)")
    header = (f"{'model':<21}{'layers':>6}{'call':>8}{'guard':>8}{'tags':>8}{'hooks':>8}{'tensors':>9}"
              "  objects (tags/hook dicts/tensors)")
    print(header)
    print("-" * len(header))
    with torch.no_grad():
        for name, make in DEPTH_MODELS:
            rows = {}
            for layers in (2, 24):
                torch.manual_seed(0)
                model = make(layers)
                kwargs = {"input_ids": torch.randint(0, 128, (1, 8)), "use_cache": False}
                compiled = bytegraph.compile(model, backend=Replay())
                for _ in range(300):          # (past snapshot.UPGRADE_AFTER)
                    compiled(**kwargs)
                entry = compiled.entries[0]
                state = entry.guards.fast.snapshot.holder.state
                rows[layers] = r = {"call": us(lambda: compiled(**kwargs)),
                                    "guard": us(lambda: entry.check(model, **kwargs)),
                                    "tags": us(state[3]), "hooks": us(lambda: any(state[4])), "tensors": us(state[8])}
                plan = entry.guards.fast.plan
                counts = f"{len(plan.dicts)}/{len(state[4])}/{len(state[7])}"
                print(f"{name:<21}{layers:>6}{r['call']:8.1f}{r['guard']:8.1f}{r['tags']:8.1f}{r['hooks']:8.1f}"
                      f"{r['tensors']:9.1f}  {counts}", flush=True)
            slope = {k: (rows[24][k] - rows[2][k]) / 22 for k in rows[2]}
            print(f"{name:<21}{'slope':>6}{slope['call']:8.2f}{slope['guard']:8.2f}{slope['tags']:8.2f}"
                  f"{slope['hooks']:8.2f}{slope['tensors']:9.2f}  µs per added layer", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
