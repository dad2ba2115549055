"""The world a fuzz program lives in: its module-level prelude and the state mutations made
between calls.

The prelude defines every global the statement grammar may touch (``G_*``, ``LOG`` and
``RECORDS``, ``Box``, ``helper``, ``opaque``, the optimizer) and ``ARGS``, the arguments of
``f`` (``x, y, n, flag, lst, d, m, obj``); it seeds torch first, so two executions of the
same source build identical worlds. A mutation is Python source run in the module's
namespace before a call, the same text in both worlds.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Callable

from .program import Block, Node

IMPORTS = "import contextlib, functools, itertools, logging, operator, warnings, zlib\nimport torch\nfrom torch import nn"


@dataclasses.dataclass(frozen=True)
class Shape:
    """What the generator knows about the world it writes ``f`` for."""

    n: int                      # rows of x and y (the batch)
    d: int                      # features (Linear(d, d) keeps shapes)
    seq: bool                   # m is nn.Sequential(Linear, ReLU) rather than nn.Linear
    optimizer: str              # "SGD" or "Adam"


def make_shape(rng: random.Random) -> Shape:
    return Shape(rng.choice((2, 3, 4)), rng.choice((3, 4)), rng.random() < 0.3, rng.choice(("SGD", "Adam")))


def _node(text: str, *tags: str) -> Node:
    return Node(text, tags=frozenset(tags))


def prelude(seed: int, shape: Shape, rng: random.Random, flags: frozenset[str]) -> list[Node]:
    scale = rng.choice(("2", "3", "0.5", "1.5"))
    m = "nn.Sequential(nn.Linear(D, D), nn.ReLU())" if shape.seq else "nn.Linear(D, D)"
    y_grad = ".requires_grad_()" if rng.random() < 0.2 else ""
    nodes = [
        _node(IMPORTS),
        _node(f"torch.manual_seed({seed})", "keep"),      # both worlds must build the same tensors
        _node(f"N, D = {shape.n}, {shape.d}"),
        Node("class Box:", [Block(None, [
            _node("k = 2"),
            Node("def __init__(self, scale, tag):", [Block(None, [
                _node("self.scale = scale"), _node("self.tag = tag"), _node("self.items = []")])]),
            Node("def bump(self, t):", [Block(None, [
                _node("self.items.append(len(self.items))"), _node("return t * self.scale")])]),
        ])]),
        Node("def helper(t, k=1):", [Block(None, [_node("return t * k + 1")])]),
        Node("def opaque(t):", [Block(None, [
            _node("return t * (zlib.crc32(b'fuzz') % 3 + 1)  # a C call: a graph break inside a callee")])]),
        _node("RECORDS = []"),
        Node("class ListHandler(logging.Handler):", [Block(None, [
            Node("def emit(self, record):", [Block(None, [
                _node("RECORDS.append((record.levelname, record.getMessage()))")])])])]),
        Node("def make_logger(tag):", [Block(None, [
            _node('log = logging.getLogger(f"{__name__}.{tag}")'), _node("log.handlers.clear()"),
            _node("log.addHandler(ListHandler())"), _node("log.setLevel(logging.DEBUG)"),
            _node("log.propagate = False"), _node("return log")])]),
        _node('LOG = make_logger("log")'),
        _node(f"G_SCALE = {scale}"),
        _node("G_FLAG = True"),
        _node("G_COUNT = 0"),
        _node("G_LIST = [1, 2]"),
        _node('G_DICT = {"a": 1}'),
        _node("G_T = torch.randn(D)"),
        _node('G_OBJ = Box(1.5, "g")'),
        _node("G_MOD = nn.Linear(D, D)"),
    ]
    if "optimizer" in flags:
        extra = ", momentum=0.9" if shape.optimizer == "SGD" else ""
        nodes += [_node("OPT_MOD = nn.Linear(D, 1)"),
                  _node(f"OPT = torch.optim.{shape.optimizer}(OPT_MOD.parameters(), lr=0.1{extra})")]
        # (torch's Adam takes other formulas when compiled; the runner's eager world runs OPT.step
        # on them too, so Adam programs are compared bitwise: runner.compiled_formulas)
    nodes.append(_node(f"ARGS = [torch.randn(N, D), torch.randn(N, D){y_grad}, 2, False, [torch.randn(D), 1], "
                       f'{{"a": torch.randn(D), "k": 2}}, {m}, Box(0.5, "b")]'))
    return nodes


# -- mutations between calls ---------------------------------------------------------------

Mutation = Callable[[random.Random, Shape], list[str]]
_FIRST = "(ARGS[6] if isinstance(ARGS[6], nn.Linear) else ARGS[6][0])"     # m's Linear


def _new_rows(rng: random.Random, shape: Shape) -> list[str]:
    n = rng.choice([k for k in (1, 2, 3, 4, 5) if k != shape.n])
    return [f"ARGS[0] = torch.randn({n}, D)", f"ARGS[1] = torch.randn({n}, D)"]


# (name, weight, flag or None, mutation): one is drawn per call, sometimes two.
MUTATIONS: list[tuple[str, int, str | None, Mutation]] = [
    ("nothing", 6, None, lambda r, s: []),
    ("new values", 4, None, lambda r, s: ["ARGS[0] = torch.randn_like(ARGS[0])"]),
    ("n changes", 4, None, lambda r, s: [f"ARGS[2] = {r.choice((0, 1, 3, 4))}"]),
    ("flag flips", 3, None, lambda r, s: ["ARGS[3] = not ARGS[3]"]),
    ("shape change", 3, None, _new_rows),
    ("dtype change", 1, None,
     lambda r, s: [f"ARGS[{r.choice((0, 1))}] = ARGS[0].{r.choice(('double', 'bfloat16'))}()"]),
    ("non-contiguous x", 1, None, lambda r, s: ["ARGS[0] = ARGS[0].t().contiguous().t()"]),
    ("x is y", 1, None, lambda r, s: ["ARGS[1] = ARGS[0]"]),
    ("requires_grad flip", 2, None,
     lambda r, s: ["ARGS[1] = ARGS[1].detach().requires_grad_(not ARGS[1].requires_grad)"]),
    ("list grows", 3, None, lambda r, s: [r.choice(("ARGS[4].append(torch.randn(D))", "ARGS[4].append(7)",
                                                      "ARGS[4].insert(0, 5)"))]),
    ("list shrinks", 3, None, lambda r, s: [r.choice(("if ARGS[4]: ARGS[4].pop()", "ARGS[4].clear()",
                                                        "del ARGS[4][:1]"))]),
    ("dict keys", 3, None, lambda r, s: [r.choice(('ARGS[5].pop("a", None)', 'ARGS[5]["a"] = torch.randn(D)',
                                                     'ARGS[5]["z"] = 9', 'ARGS[5]["k"] = 5',
                                                     "ARGS[5] = dict(reversed(list(ARGS[5].items())))"))]),
    ("train/eval", 3, None, lambda r, s: [r.choice(("ARGS[6].train(not ARGS[6].training)", "G_MOD.eval()",
                                                      "G_MOD.train()"))]),
    ("parameter replaced", 2, None, lambda r, s: [f"{_FIRST}.weight = nn.Parameter(torch.randn(D, D))"]),
    ("bias removed", 1, None, lambda r, s: [f"{_FIRST}.bias = None"]),
    ("parameter frozen", 1, None, lambda r, s: [f"{_FIRST}.weight.requires_grad_(False)"]),
    ("module replaced", 2, None, lambda r, s: [r.choice(("ARGS[6] = nn.Linear(D, D)",
                                                           "G_MOD = nn.Sequential(nn.Linear(D, D))"))]),
    ("attribute replaced", 3, None, lambda r, s: [r.choice(("ARGS[7].scale = 2.5", 'ARGS[7].tag = "z"',
                                                              "ARGS[7].extra = 1", "Box.k = 7",
                                                              "G_OBJ.scale = -1.0", "del ARGS[7].items[:]"))]),
    ("global rebound", 5, None, lambda r, s: [r.choice(("G_SCALE = 3.5", "G_SCALE = 4", "G_FLAG = not G_FLAG",
                                                          "G_LIST.append(5)", "G_LIST = [9]", 'G_DICT["z"] = 1',
                                                          "G_T = torch.randn(D)", 'G_OBJ = Box(3.0, "q")',
                                                          "helper = lambda t, k=1: t - k", "G_COUNT = 100"))]),
    ("grad mode", 2, None, lambda r, s: [f"CALL_GRAD = {r.choice(('False', 'True'))}"]),
    ("builtin shadowed", 2, "shadow_builtins",
     lambda r, s: [r.choice(("len = lambda s: 7", "abs = lambda v: v", "max = min", "sum = lambda it, start=0: start",
                             "isinstance = lambda a, b: False", "min = lambda *a, **k: 0"))]),
    ("builtin restored", 1, "shadow_builtins",
     lambda r, s: ["for _n in ('len', 'abs', 'max', 'min', 'sum', 'isinstance'): globals().pop(_n, None)"]),
    ("logger rebuilt", 2, "rebuilt_logger", lambda r, s: ['LOG = make_logger("log2")']),
]


def mutations_for(rng: random.Random, shape: Shape, flags: frozenset[str], calls: int) -> list[list[str]]:
    """The mutation code before each call; the first call runs on the world as built."""
    table = [(name, w, fn) for name, w, flag, fn in MUTATIONS if flag is None or flag in flags]
    out: list[list[str]] = [[]]
    for _ in range(calls - 1):
        picks = rng.choices(table, weights=[w for _, w, _ in table], k=1 if rng.random() < 0.7 else 2)
        out.append([line for _, _, fn in picks for line in fn(rng, shape)])
    return out
