"""How often bytegraph and torch.compile compile when sizes and numbers change, in one process.

Each scenario is a program and a list of calls (new batch sizes, sequence lengths, int and
float arguments, globals and module attributes changed between calls, markers...). Both
compilers get a counting backend (``bytegraph.testing.CompileCounter``: it counts the graphs it
is handed and runs each as Python), so "compiles" means graphs handed to the backend;
a graph break counts every graph on both sides. Every bytegraph result is compared with eager.

    python benchmarks/dynamic_compiles.py                          # print the table
    python benchmarks/dynamic_compiles.py --write docs/dynamic.md  # and write the docs page

Target (issue #4): bytegraph never compiles more than torch.compile, on any row. A row that
misses it says ``NO`` in the last column (the cause is in the scenario's note).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import platform
import sys
import types
from typing import Any, Callable

import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

import bytegraph
from bytegraph.demo import GPTBlock
from bytegraph.testing import CompileCounter, same

Call = Callable[[], tuple]          # prepares state (a global, an attribute...) and returns the arguments


@dataclasses.dataclass
class Scenario:
    name: str
    program: Callable[..., Any]     # a function or an nn.Module
    calls: list[Call]
    dynamic: bool | None = None
    torch_config: dict[str, Any] = dataclasses.field(default_factory=dict)   # torch._dynamo.config patch
    note: str = ""                  # why a row misses the target
    backend: str = "counter"        # "counter" (graphs run as Python), or a backend by name, counted


@dataclasses.dataclass
class Row:
    scenario: Scenario
    bytegraph: int
    torch: int
    correct: bool
    torch_correct: bool = True

    @property
    def ok(self) -> bool:
        return self.correct and self.bytegraph <= self.torch


# -- programs ----------------------------------------------------------------------------------
def scale_rows(x):
    return (x * 2).sum(0) + x.shape[0]


def add_scaled(x, n):
    return x * n + n


def add_range(x, n):
    for i in range(n):
        x = x + i
    return x


def loop_rows(x):
    total = x[0]
    for i in range(1, x.shape[0]):
        total = total + x[i] * i
    return total


def view_by_size(x):
    return x.view(-1, x.shape[1] // 2) + torch.arange(x.shape[0] * 2).unsqueeze(1)


def nonzero_rows(x):
    return torch.nonzero(x > 0) * 2


def masked_sum(x):
    return x[x > 0].sum() + x.shape[0]


def scale_by_item(x):
    return x * x.sum().item()


def sqrt_scale(x):
    return x / math.sqrt(x.shape[0])


def at_least_four(x):
    return x * max(x.shape[0], 4)


def last_row(x):
    return x[x.shape[0] - 1]


def add_two(x, n, m):
    return x * n + m


def attr_scale(x, cfg):
    return x * cfg.n


def reshape_to(x, shape):
    return x.reshape(shape)


def softmax_with_temperature(x, temp):
    return torch.softmax(x / temp, -1)


def scale_if_large(x, t):
    if t > 1.0:
        return x * t
    return x - t


def shifted(x, t):
    return x * (t + 0.1 + 0.2)


def sqrt_and_reciprocal(x, t):
    return x * math.sqrt(t) + 1.0 / t


def sgd_alpha(w, g, lr):
    return w.add(g, alpha=-lr)


def dropout_eval(x, p):
    return F.dropout(x, p, training=False)


class LrStep:
    """``w - lr * g`` with the learning rate read from an optimizer, stepped by a scheduler
    before every call (12 different learning rates)."""

    def __init__(self) -> None:
        self.w = nn.Parameter(torch.randn(4, 8))
        self.opt = torch.optim.SGD([self.w], lr=0.1)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=20)

    def update(self, g):
        lr = self.opt.param_groups[0]["lr"]
        return self.w.detach() - lr * g

    def calls(self, n: int) -> list[Call]:
        g = torch.randn(4, 8)

        def step() -> tuple:
            self.opt.step()
            self.sched.step()
            return (g,)
        return [lambda: (g,)] + [step] * (n - 1)


STATE = types.SimpleNamespace(scale=2, gain=0.5)
SCALE = 2
GAIN = 0.5
CONFIG = types.ModuleType("CONFIG")
CONFIG.K = 2


def scale_by_global(x):
    return x * SCALE


def gain_by_global(x):
    return x * GAIN


def scale_by_python_module(x):
    return x * CONFIG.K


def _helper(x, k=2):
    return x * k


def call_helper(x):
    return _helper(x)


def scale_with_default(x, k=2):
    return x * k


class Scaled(nn.Module):
    def __init__(self, k: Any) -> None:
        super().__init__()
        self.k = k

    def forward(self, x):
        return x * self.k


class TinyLM(nn.Module):
    """Embedding + position table and causal mask sliced by the sequence length + attention."""

    def __init__(self, vocab: int = 50, d: int = 32, n_head: int = 4, max_len: int = 64) -> None:
        super().__init__()
        self.n_head = n_head
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(max_len, d) * 0.02)
        self.qkv = nn.Linear(d, 3 * d)
        self.head = nn.Linear(d, vocab)
        self.register_buffer("mask", torch.tril(torch.ones(max_len, max_len)).bool())

    def forward(self, idx):
        B, T = idx.shape
        x = self.emb(idx) + self.pos[:T]
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))).masked_fill(~self.mask[:T, :T], float("-inf"))
        return self.head(x + (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, -1))


# -- calls -------------------------------------------------------------------------------------------
def rows(*sizes: int, cols: int = 3, mark: Callable | None = None, dim: int = 0) -> list[Call]:
    def call(n: int) -> Call:
        def make() -> tuple:
            t = torch.randn(n, cols)
            if mark is not None:
                mark(t, dim)
            return (t,)
        return make
    return [call(n) for n in sizes]


def with_args(*argsets: tuple) -> list[Call]:
    return [lambda a=a: a for a in argsets]


def setting(apply: Callable[[Any], None], values: tuple, make_args: Callable[[], tuple]) -> list[Call]:
    """Calls that first set some state (a global, an attribute) to each value."""
    def call(v: Any) -> Call:
        def make() -> tuple:
            apply(v)
            return make_args()
        return make
    return [call(v) for v in values]


def _set_global(name: str) -> Callable[[Any], None]:
    return lambda v: globals().__setitem__(name, v)


def scenarios() -> list[Scenario]:
    torch.manual_seed(0)
    gpt = GPTBlock(d_model=32, n_head=4).eval()
    lm = TinyLM().eval()
    x3 = torch.randn(3)
    module_int, module_float = Scaled(2), Scaled(0.5)
    bg_static, bg_dynamic = bytegraph.mark_static, bytegraph.mark_dynamic
    return [
        # automatic dynamic
        Scenario("batch sizes 2, 3, 4, 5, 6", scale_rows, rows(2, 3, 4, 5, 6)),
        Scenario("GPT block, sequence lengths 8, 12, 16, 24", gpt,
                 with_args(*[(torch.randn(2, t, 32),) for t in (8, 12, 16, 24)])),
        Scenario("GPT block, batch sizes 1, 2, 3, 4", gpt,
                 with_args(*[(torch.randn(b, 6, 32),) for b in (1, 2, 3, 4)])),
        Scenario("small LM, tables sliced by sequence length 5, 9, 17, 33", lm,
                 with_args(*[(torch.randint(0, 50, (2, t)),) for t in (5, 9, 17, 33)])),
        Scenario("alternating sizes 4, 8, 4, 8, 4, 8", scale_rows, rows(4, 8, 4, 8, 4, 8)),
        Scenario("size 1 after 4, 8 (then 16)", scale_rows, rows(4, 8, 1, 16)),
        Scenario("sizes 0, 1, 2, 3, 4 (then 0, 1)", scale_rows, rows(0, 1, 2, 3, 4, 0, 1)),
        Scenario("second dimension changes later", scale_rows,
                 with_args(*[(torch.randn(*s),) for s in ((4, 3), (8, 3), (16, 3), (8, 5), (16, 7))])),
        Scenario("`view(-1, n)` and `arange` over sizes 4..12", view_by_size, rows(4, 6, 8, 10, 12, cols=4)),
        Scenario("`range(x.shape[0])` loop, sizes 2..6 (specializes)", loop_rows, rows(2, 3, 4, 5, 6)),
        # numbers
        Scenario("int argument 2, 3, 4, 5, 6, 7", add_scaled, with_args(*[(x3, n) for n in (2, 3, 4, 5, 6, 7)])),
        Scenario("int argument in `range(n)` (specializes)", add_range, with_args(*[(x3, n) for n in (2, 3, 4, 5)])),
        Scenario("float argument 0.5, 1.5, 2.5, 3.5", add_scaled, with_args(*[(x3, f) for f in (0.5, 1.5, 2.5, 3.5)])),
        Scenario("global int changes 2, 3, 4, 5", scale_by_global,
                 setting(_set_global("SCALE"), (2, 3, 4, 5), lambda: (x3,))),
        Scenario("nn.Module int attribute changes 2, 3, 4, 5", module_int,
                 setting(lambda v: setattr(module_int, "k", v), (2, 3, 4, 5), lambda: (x3,))),
        Scenario("Python module attribute changes 2, 3, 4", scale_by_python_module,
                 setting(lambda v: setattr(CONFIG, "K", v), (2, 3, 4), lambda: (x3,))),
        Scenario("default of an inlined function changes 2, 3, 4", call_helper,
                 setting(lambda v: setattr(_helper, "__defaults__", (v,)), (2, 3, 4), lambda: (x3,))),
        # markers and compile(dynamic=...)
        Scenario("`bytegraph.mark_dynamic`, sizes 2..6", scale_rows, rows(2, 3, 4, 5, 6, mark=bg_dynamic)),
        Scenario("`torch._dynamo.mark_dynamic`, sizes 2..6", scale_rows,
                 rows(2, 3, 4, 5, 6, mark=torch._dynamo.mark_dynamic)),
        Scenario("`maybe_mark_dynamic`, sizes 2..6", scale_rows,
                 rows(2, 3, 4, 5, 6, mark=bytegraph.maybe_mark_dynamic)),
        Scenario("`mark_static`, sizes 2..6", scale_rows, rows(2, 3, 4, 5, 6, mark=bg_static)),
        Scenario("`compile(dynamic=True)`, sizes 2..6", scale_rows, rows(2, 3, 4, 5, 6), dynamic=True),
        Scenario("`compile(dynamic=False)`, sizes 2..6", scale_rows, rows(2, 3, 4, 5, 6), dynamic=False),
        # data-dependent
        Scenario("`nonzero`, sizes 4..7", nonzero_rows, rows(4, 5, 6, 7, cols=1)),
        Scenario("`nonzero`, sizes 4..7 (torch: `capture_dynamic_output_shape_ops`)", nonzero_rows,
                 rows(4, 5, 6, 7, cols=1), torch_config={"capture_dynamic_output_shape_ops": True}),
        Scenario("boolean mask `x[x > 0]`, sizes 4..7", masked_sum, rows(4, 5, 6, 7, cols=1)),
        Scenario("`.item()` (graph break), sizes 4..7", scale_by_item, rows(4, 5, 6, 7, cols=1)),
        # builtins and indexing on symbolic sizes: graph ops (torch._sym_sqrt, sym_max, select)
        Scenario("`math.sqrt(x.shape[0])`, sizes 2..6", sqrt_scale, rows(2, 3, 4, 5, 6)),
        Scenario("`max(x.shape[0], 4)`, sizes 2..6", at_least_four, rows(2, 3, 4, 5, 6)),
        Scenario("`x[x.shape[0] - 1]`, sizes 2..6", last_row, rows(2, 3, 4, 5, 6)),
        # numbers from other places
        Scenario("int attribute of an argument object 2..5", attr_scale,
                 with_args(*[(x3, types.SimpleNamespace(n=n)) for n in (2, 3, 4, 5)])),
        Scenario("`torch.Size` argument `(n, 12 // n)`", reshape_to,
                 with_args(*[(torch.randn(12), torch.Size((n, 12 // n))) for n in (2, 3, 4, 6)])),
        Scenario("global float changes 0.5, 1.5, 2.5, 3.5", gain_by_global,
                 setting(_set_global("GAIN"), (0.5, 1.5, 2.5, 3.5), lambda: (x3,))),
        Scenario("nn.Module float attribute changes 0.5..3.5", module_float,
                 setting(lambda v: setattr(module_float, "k", v), (0.5, 1.5, 2.5, 3.5), lambda: (x3,))),
        Scenario("two int arguments, equal from the third call on", add_two,
                 with_args(*[(x3, n, m) for n, m in ((2, 3), (3, 4), (5, 5), (6, 6), (7, 7), (8, 9))])),
        Scenario("root function's `__defaults__` reassigned 2..5", scale_with_default,
                 setting(lambda v: setattr(scale_with_default, "__defaults__", (v,)), (2, 3, 4, 5), lambda: (x3,))),
        *float_scenarios(),
    ]


def float_scenarios() -> list[Scenario]:
    """Floats that change between calls, with backends that take floats only as tensors (issue 19).
    On the bytegraph side the graph is a 0-d float64 tensor input; results are compared bitwise
    with eager under aot_eager, on both sides."""
    x, x64 = torch.randn(4, 16), torch.randn(4, 16, dtype=torch.float64)
    temps = [0.5 + 0.1 * i for i in range(12)]
    module_float, lr_step = Scaled(0.5), LrStep()
    return [
        Scenario("softmax temperature, 12 values (aot_eager)", softmax_with_temperature,
                 with_args(*[(x, t) for t in temps]), backend="aot_eager"),
        Scenario("softmax temperature, 12 values (inductor)", softmax_with_temperature,
                 with_args(*[(x, t) for t in temps]), backend="inductor"),
        Scenario("float in a Python branch, both sides of 1.0 (aot_eager)", scale_if_large,
                 with_args(*[(x, t) for t in (0.5, 1.5, 2.5, 0.25, 3.5, 0.75, 1.25, 0.1)]), backend="aot_eager"),
        Scenario("nn.Module float attribute `self.k`, 12 values (aot_eager)", module_float,
                 setting(lambda v: setattr(module_float, "k", v), tuple(temps), lambda: (x,)), backend="aot_eager"),
        Scenario("lr from a scheduler via `param_groups`, 12 steps (aot_eager)", lr_step.update,
                 lr_step.calls(12), backend="aot_eager"),
        Scenario("`w.add(g, alpha=-lr)`, 12 values (aot_eager)", sgd_alpha,
                 with_args(*[(x, x, 0.01 * (i + 1)) for i in range(12)]), backend="aot_eager"),
        Scenario("`x * (t + 0.1 + 0.2)`, float64 `x`, 12 values (aot_eager)", shifted,
                 with_args(*[(x64, 0.05 + 0.17 * i) for i in range(12)]), backend="aot_eager"),
        Scenario("`math.sqrt(t)`, `1.0 / t`, 12 values (aot_eager)", sqrt_and_reciprocal,
                 with_args(*[(x, t) for t in temps]), backend="aot_eager"),
        Scenario("dropout probability (specializes), 6 values (aot_eager)", dropout_eval,
                 with_args(*[(x, 0.1 * i) for i in range(1, 7)]), backend="aot_eager"),
        Scenario("`compile(dynamic=False)`, float argument, 6 values (aot_eager)", softmax_with_temperature,
                 with_args(*[(x, t) for t in temps[:6]]), dynamic=False, backend="aot_eager"),
    ]


# -- running ------------------------------------------------------------------------------------------
class Counting:
    """A backend by name with a count of the graphs it is handed (``frame_count``, as
    ``CompileCounter``). It does not declare symbolic floats: bytegraph passes it floats as
    tensors, as torch.compile passes them to AOTAutograd."""

    def __init__(self, inner: Callable[..., Any]) -> None:
        self.inner = inner
        self.frame_count = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self.frame_count += 1
        return self.inner(gm, example_inputs)


def _counter(s: Scenario, lookup: Callable[[str], Any]) -> Any:
    return CompileCounter() if s.backend == "counter" else Counting(lookup(s.backend))


def _matches(s: Scenario, got: Any, want: Any) -> bool:
    """Equal to eager: bitwise where the backend runs eager's kernels, else within 1e-5."""
    return same(got, want, atol=0 if s.backend == "aot_eager" else 1e-5, rtol=0 if s.backend == "aot_eager" else 1e-5)


def run_bytegraph(s: Scenario) -> tuple[int, bool]:
    from bytegraph.backends.registry import lookup_backend

    bytegraph.reset()
    counter = _counter(s, lookup_backend)
    compiled = bytegraph.compile(s.program, backend=counter, dynamic=s.dynamic)
    correct = True
    with torch.no_grad():
        for call in s.calls:
            args = call()
            correct &= _matches(s, compiled(*args), s.program(*args))
    return counter.frame_count, correct


def run_torch(s: Scenario) -> tuple[int, bool]:
    torch._dynamo.reset()
    counter = _counter(s, torch._dynamo.lookup_backend)
    compiled = torch.compile(s.program, backend=counter, dynamic=s.dynamic)
    correct = True
    with torch._dynamo.config.patch(**s.torch_config), torch.no_grad():
        for call in s.calls:
            args = call()
            correct &= _matches(s, compiled(*args), s.program(*args))
    torch._dynamo.reset()
    return counter.frame_count, correct


def run(selected: list[Scenario]) -> list[Row]:
    out = []
    for s in selected:
        torch.manual_seed(0)
        bg, correct = run_bytegraph(s)
        torch.manual_seed(0)
        torch_graphs, torch_correct = run_torch(s)
        out.append(Row(s, bg, torch_graphs, correct, torch_correct))
    return out


def table(result: list[Row]) -> str:
    lines = ["| scenario | calls | bytegraph compiles | torch.compile compiles | ok (<=) | torch.compile = eager |",
             "|---|---:|---:|---:|---|---|"]
    for r in result:
        ok = "yes" if r.ok else ("NO: wrong result" if not r.correct else f"NO: {r.scenario.note or 'more compiles'}")
        torch_ok = "yes" if r.torch_correct else "no"
        lines.append(f"| {r.scenario.name} | {len(r.scenario.calls)} | {r.bytegraph} | {r.torch} | {ok} | {torch_ok} |")
    return "\n".join(lines)


POLICY = """\
# Dynamic shapes: how often bytegraph compiles

> Generated by `{command}`; do not edit by hand.
> torch {torch}, Python {python}. "Compiles" are graphs handed to the backend (a counting
> backend on both sides, in one process); every bytegraph result is compared with eager.

The policy, as in torch.compile except where it says:

* **The first compile is static.** When a later call misses because a tensor dimension, a local
  int or a float changed, the recompile makes every input that changed since the first call
  symbolic (*automatic dynamic*), remembered per compiled function and source, so a third
  size or value reuses the shape-generic graph. Sizes 0 and 1 stay specialized.
* **Markers set the policy ahead of time**: `bytegraph.mark_dynamic(t, dim)` (or torch's
  `torch._dynamo.mark_dynamic`), `maybe_mark_dynamic`, `mark_static`.
  `compile(..., dynamic=True)` makes every dimension and local number symbolic from the start;
  `dynamic=False` never does.
* **Sizes are torch SymInts** from torch's `ShapeEnv` and `FakeTensorMode`; where the program
  needs a Python int (`range(x.shape[0])`, `if n > 3`) the value is specialized under a guard.
  The ShapeEnv's guards are part of the generated guard function, as Python over the inputs
  (`2 <= L['x'].size()[0]`), and a miss names the guard that failed.
* **Ints from nn.Module attributes and inlined functions' defaults stay static**; other ints
  (arguments, the compiled function's own defaults, globals, and items and attributes reached
  from them, `torch.Size` arguments included) become symbolic after they change. torch.compile
  keeps globals static, so a counter in a global object recompiles on every call there (DESIGN 46).
  Floats from any source become graph inputs after they change (torch's default
  `specialize_float=False`); nan and inf stay constants.
* **Builtins on symbolic numbers are graph ops**, as torch.compile records them: `math.sqrt`
  (and the other `torch._sym_*` functions), `math.floor`/`ceil`/`trunc`, `int()`, `float()`,
  `max()`/`min()` of ints (or of floats), and a tensor indexed by a symbolic int (`torch.select`).
* **Data-dependent values**: `nonzero()` and boolean masks produce unbacked sizes inside the
  graph; `.item()` is a graph break (GB003) with its reason.
* **Floats reach each backend the way it takes them.** A backend that runs the graph as Python
  (`"eager"`, a counting backend) gets a SymFloat. AOTAutograd-based backends (`aot_eager`,
  `inductor`) and any callable that does not declare `symbolic_floats` get a 0-d float64 tensor,
  as torch.compile "tensorifies" them: Python arithmetic on the float is float64 tensor compute
  in program order (eager's bits: torch.compile's sympy folding of `t + 0.1 + 0.2` is not), a
  comparison (`if t > 1.0`, `max(lr, 1e-4)`) is guarded by the program's own expression, a float
  beside a tensor promotes as eager's Python scalar, an op that takes a Python number
  (`alpha=-lr`, `clamp(min=t)`) gets one at run time, and what needs the value itself (`int()`,
  `round`, dropout's range check) specializes it under a value guard. Inductor with CUDA graphs
  keeps floats constant, as torch.compile does. Rows marked with a backend count the graphs
  handed to that backend on both sides, and aot_eager rows compare results bitwise.

Target: never more compiles than torch.compile on any row. Rows marked NO are known gaps,
each an `xfail(strict=True)` test in `tests/capture/test_dynamic.py` with its diagnosis.

"""


def write_page(path: pathlib.Path, result: list[Row], command: str) -> None:
    text = POLICY.format(command=command, torch=torch.__version__, python=platform.python_version())
    misses = sum(not r.ok for r in result)
    text += table(result) + f"\n\n{len(result) - misses} of {len(result)} rows meet the target.\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=pathlib.Path, help="also write the docs page here (docs/dynamic.md)")
    parser.add_argument("-k", default="", help="only scenarios whose name contains this text")
    args = parser.parse_args(argv)
    import logging
    logging.getLogger("torch._dynamo").setLevel(logging.ERROR)      # .item() break warnings from torch
    result = run([s for s in scenarios() if args.k in s.name])
    print(table(result))
    if args.write is not None:
        command = "python benchmarks/dynamic_compiles.py --write " + args.write.as_posix()
        write_page(args.write, result, command)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
