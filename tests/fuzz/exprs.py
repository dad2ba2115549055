"""Expression grammar of the fuzzer: tensor, int, bool and condition expressions as tables of
templates, first the table, then ``Ctx`` that draws from them.

Tensor values have a *kind* that keeps every program broadcastable whatever the mutations
do to the batch size: ``T`` is ``(N, D)``, ``R`` a row ``(D,)``, ``C`` a column ``(N, 1)``,
``S`` a 0-dim scalar. Any two kinds broadcast; ``combine`` gives the result's kind. Only
``T`` and ``R`` go through ``Linear(D, D)`` and in-place ops need a target at least as big as
the other operand. Python values are ``I`` (int) and ``B`` (bool).

A template is ``(weight, flag or None, fn(ctx) -> (text, kind) or None)``; None means "not
possible here" and another is drawn.
"""

from __future__ import annotations

import random
from typing import Callable

from .world import Shape

TENSOR_KINDS = ("T", "R", "C", "S")
MODULE_KINDS = ("T", "R")


def combine(a: str, b: str) -> str:
    if a == b:
        return a
    if "T" in (a, b) or {a, b} == {"R", "C"}:
        return "T"
    return b if a == "S" else a


def fits(target: str, other: str) -> bool:
    """Whether ``target op= other`` keeps ``target``'s shape."""
    return combine(target, other) == target


class Ctx:
    """Generation state: the random source, the world's shape, enabled flags, and the
    variables in scope by kind (one dict per block; inner blocks' names die with them)."""

    def __init__(self, rng: random.Random, shape: Shape, flags: frozenset[str],
                 statement: Callable[["Ctx"], list] | None = None) -> None:
        self.rng = rng
        self.statement = statement              # draws one statement (gen.py's grammar)
        self.shape = shape
        self.flags = flags
        self.scopes: list[dict[str, list[str]]] = [{"T": ["x", "y"], "R": ["G_T"], "C": [], "S": [],
                                                   "I": ["n"], "B": ["flag"]}]
        self.counter = 0
        self.depth = 0          # compound statements around the one being generated
        self.loops = 0          # loops around it (break/continue allowed)

    # -- names ------------------------------------------------------------------------
    def names(self, *kinds: str) -> list[str]:
        return [name for scope in self.scopes for k in kinds for name in scope.get(k, ())]

    def pick(self, *kinds: str) -> str | None:
        names = self.names(*kinds)
        if not names:
            return None
        recent = names[-4:]                 # favour recent values: longer dependency chains
        return self.rng.choice(recent if self.rng.random() < 0.5 else names)

    def kind_of(self, name: str) -> str | None:
        for scope in reversed(self.scopes):
            for kind, names in scope.items():
                if name in names:
                    return kind
        return None

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def define(self, name: str, kind: str) -> None:
        self.scopes[-1].setdefault(kind, []).append(name)

    def on(self, flag: str) -> bool:
        return flag in self.flags

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # -- drawing from tables ------------------------------------------------------------
    def draw(self, table: list[tuple[int, str | None, Callable]], *args: object) -> tuple[str, str]:
        usable = [(w, fn) for w, flag, fn in table if flag is None or flag in self.flags]
        for _ in range(20):
            fn = self.rng.choices([fn for _, fn in usable], weights=[w for w, _ in usable])[0]
            got = fn(self, *args)
            if got is not None:
                return got
        raise RuntimeError("no template applies")        # the tables always have a fallback

    def tensor(self, kinds: tuple[str, ...] = TENSOR_KINDS, depth: int = 0) -> tuple[str, str]:
        """A tensor expression of one of ``kinds`` (a variable, or an operation on some)."""
        if depth >= 2 or self.chance(0.45):
            name = self.pick(*kinds)
            if name is not None:
                return name, self.kind_of(name) or kinds[0]
        for _ in range(10):
            text, kind = self.draw(TENSOR_EXPRS, depth + 1)
            if kind in kinds:
                return text, kind
        name = self.pick(*kinds)
        return (name, self.kind_of(name) or kinds[0]) if name else ("x", "T")

    def tensor_op(self) -> tuple[str, str]:
        """An operation (never a bare variable) with a tensor result."""
        return self.draw(TENSOR_EXPRS, 0)

    def block(self, defs: dict[str, str] | None = None) -> list:
        """1-4 statements in a nested scope (``defs``: names the block's header binds)."""
        assert self.statement is not None
        self.scopes.append({})
        for name, kind in (defs or {}).items():
            self.define(name, kind)
        self.depth += 1
        nodes = [node for _ in range(self.rng.randint(1, 4)) for node in self.statement(self)]
        self.depth -= 1
        self.scopes.pop()
        return nodes

    def int_(self) -> str:
        return self.draw(INT_EXPRS)[0]

    def bool_(self) -> str:
        return self.draw(BOOL_EXPRS)[0]

    def cond(self) -> str:
        return self.draw(CONDS)[0]

    def small(self) -> str:
        """A small loop bound: a constant, n, or a value kept in range (bodies may grow ``lst``)."""
        return self.rng.choice(("2", "3", "n", f"min({self.pick('I') or 'n'}, 3)", "min(len(lst), 4)", "x.shape[0]"))

    def number(self) -> str:
        return self.rng.choice(("G_SCALE", "obj.scale", "n", "2", "0.5", self.pick("I") or "1", "Box.k"))


def _t(c: Ctx, d: int, kinds: tuple[str, ...] = TENSOR_KINDS) -> tuple[str, str]:
    return c.tensor(kinds, d)


def _binop(c: Ctx, d: int) -> tuple[str, str]:
    (a, ka), (b, kb) = _t(c, d), _t(c, d)
    return f"({a} {c.rng.choice('+-*')} {b})", combine(ka, kb)


def _scalar(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d)
    return f"({a} {c.rng.choice('*+-')} {c.number()})", k


def _unary(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d)
    return f"torch.{c.rng.choice(('relu', 'sin', 'tanh', 'sigmoid', 'abs', 'neg', 'exp', 'cos'))}({a})", k


_METHODS = ("relu()", "sigmoid()", "abs()", "clone()", "detach()", "contiguous()", "float()", "softmax(-1)",
            "clamp(-1, 1)", "cumsum(-1)", "unsqueeze(0).squeeze(0)", "view_as({a})", "reshape({a}.shape)",
            "flatten().view_as({a})", "mul(2).add_(1)", "detach().requires_grad_()", "expand_as({a})")


def _method(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d, ("T", "R", "C", "S") if c.chance(0.2) else ("T", "R", "C"))
    if not a.isidentifier():
        a = f"({a})"
    return f"{a}.{c.rng.choice(_METHODS).format(a=a)}", k


def _module(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d, MODULE_KINDS)
    return f"{c.rng.choice(('m', 'm', 'G_MOD'))}({a})", k


def _matmul(c: Ctx, d: int) -> tuple[str, str] | None:
    a, k = _t(c, d, MODULE_KINDS)
    w = "G_MOD.weight" if c.shape.seq or c.chance(0.5) else "m.weight"
    return f"({a} @ {w}.t())", k


def _reduce(c: Ctx, d: int) -> tuple[str, str]:
    if c.chance(0.5):
        a, _ = _t(c, d, ("T",))
        return f"{a}.{c.rng.choice(('sum(0)', 'mean(0)', 'amax(0)', 'std(0)'))}", "R"
    a, _ = _t(c, d)
    return f"{a}.{c.rng.choice(('sum()', 'mean()', 'max()', 'norm()', 'min()'))}", "S"


def _index(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d, ("T", "R"))
    if k == "R":
        return f"{a}[{c.rng.choice(('0', '-1', '1'))}]", "S"
    return c.rng.choice(((f"{a}[0]", "R"), (f"{a}[-1]", "R"), (f"{a}[:, :1]", "C"), (f"{a}[..., 1:2]", "C"),
                         (f"{a}.t()[0].unsqueeze(-1)", "C"), (f"{a}.select(0, 0)", "R")))


def _where(c: Ctx, d: int) -> tuple[str, str]:
    (a, ka), (b, kb) = _t(c, d), _t(c, d)
    return f"torch.where({a} > 0, {a}, {b})", combine(ka, kb)


def _call(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d)
    form = c.rng.choice(("helper({a}, {i})", "helper({a})", "functools.partial(helper, k=2)({a})", "opaque({a})",
                         "obj.bump({a})", "G_OBJ.bump({a})", "(lambda v: v * 2)({a})"))
    return form.format(a=a, i=c.int_()), k


def _builtin(c: Ctx, d: int) -> tuple[str, str]:
    (a, ka), (b, kb) = _t(c, d), _t(c, d)
    forms = [(f"abs({a})", ka), (f"sum([{a}, {b}])", combine(ka, kb))]
    if ka == kb:       # max/min pick one of the two: same kind, so the result's kind is known
        forms += [(f"max([{a}, {b}], key=lambda v: v.dim())", ka), (f"min({a}, {b}, key=lambda v: v.dim())", ka)]
    return c.rng.choice(forms)


def _operator(c: Ctx, d: int) -> tuple[str, str]:
    (a, ka), (b, kb) = _t(c, d), _t(c, d)
    return c.rng.choice(((f"operator.add({a}, {b})", combine(ka, kb)), (f"operator.mul({a}, 2)", ka),
                         (f"operator.neg({a})", ka), (f"functools.reduce(operator.add, [{a}, {b}])", combine(ka, kb))))


def _operator_callables(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d)
    return c.rng.choice(((f'operator.methodcaller("mul", 3)({a})', k), (f'operator.attrgetter("scale")(obj) * {a}', k),
                         (f'operator.itemgetter("a")(d) * {a}', combine("R", k)),
                         (f"operator.itemgetter(0, -1)([{a}, {a}])[1]", k),
                         (f"(operator.itemgetter(0)(lst) * {a} if lst else {a})", combine("R", k))))


def _functional_call(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d, MODULE_KINDS)
    params = c.rng.choice(("{n_: p * 2 for n_, p in m.named_parameters()}", "dict(m.named_parameters())"))
    return f"torch.func.functional_call(m, {params}, ({a},))", k


def _torch_func(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d)
    return c.rng.choice(((f"torch.func.grad(lambda v: (v * v).sum())({a})", k),
                         (f"torch.func.vmap(torch.sin)({a})", k))) if k != "S" else (f"torch.sin({a})", k)


def _container(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d)
    return c.rng.choice(((f'(d["a"] * {a} if "a" in d else {a})', combine("R", k)),
                         (f"(lst[0] * {a} if lst and isinstance(lst[0], torch.Tensor) else {a})", combine("R", k)),
                         (f"sum((v for v in lst if isinstance(v, torch.Tensor)), {a})", combine("R", k)),
                         (f"torch.stack([{a} * i for i in range(2)]).sum(0)", k),
                         (f"sum(({a} * i for i in range({c.small()})), {a})", k)))


def _convert(c: Ctx, d: int) -> tuple[str, str]:
    (a, ka), (b, _) = _t(c, d), _t(c, d)
    return c.rng.choice(((f"{a}.to({b}.dtype)", ka), (f"{a}.type_as({b})", ka), (f"{a}.to(torch.float32)", ka))) \
        if a.isidentifier() else (f"({a}).float()", ka)


def _random(c: Ctx, d: int) -> tuple[str, str]:
    a, k = _t(c, d)
    return c.rng.choice(((f"({a} + torch.rand_like({a}))", k),
                         (f"torch.nn.functional.dropout({a}, 0.5, m.training)", k))) \
        if k != "S" else (f"({a} * torch.rand(()))", k)


def _ifexp(c: Ctx, d: int) -> tuple[str, str]:
    (a, ka), (b, kb) = _t(c, d), _t(c, d)
    return f"({a} if {c.cond()} else {b})", combine(ka, kb)


TENSOR_EXPRS: list[tuple[int, str | None, Callable]] = [
    (10, None, _binop), (6, None, _scalar), (5, None, _unary), (6, None, _method), (5, None, _module),
    (2, None, _matmul), (4, None, _reduce), (4, None, _index), (2, None, _where), (4, None, _call),
    (2, None, _builtin), (3, None, _operator), (3, "operator_callables", _operator_callables),
    (2, "functional_call", _functional_call), (1, "torch_func", _torch_func), (3, None, _container),
    (1, None, _convert), (1, None, _random), (2, None, _ifexp),
]


# -- ints, bools, conditions -------------------------------------------------------------

def _i(c: Ctx) -> str:
    return c.pick("I") or "n"


INT_FORMS = ("{i} + {j}", "len(lst)", "len(d)", "x.shape[0]", "{t}.dim()", "{t}.size(-1)", "abs({i} - 3)",
             "max({i}, {j})", "min({i}, 2)", "sum(x.shape)", "len(G_LIST)", "obj.k", "Box.k", "int(flag)",
             "len([v for v in lst if isinstance(v, torch.Tensor)])", "G_COUNT", "{i} // 2", "{i} % 3",
             "len(obj.items)", 'd.get("k", 0)', 'getattr(obj, "extra", 0)', "{i} * {j}",
             "sum([{i}, {j}, 1])", "{t}.numel()", "len(m._parameters)", "sum(1 for _ in m.parameters())")
LOG_FORMS = ("len(RECORDS)",)          # log records written so far: deferred logging shows here
INT_DATA_FORMS = ("int({t}.sum() > 0)", "int({t}.sum().item() > 0)", "len({t}.nonzero())")


def _int_form(c: Ctx, forms: tuple[str, ...], kinds: tuple[str, ...]) -> tuple[str, str]:
    t = c.pick(*kinds) or "x"
    return c.rng.choice(forms).format(i=_i(c), j=_i(c), t=t), "I"


INT_EXPRS: list[tuple[int, str | None, Callable]] = [
    (12, None, lambda c: _int_form(c, INT_FORMS, ("T", "R", "C"))),
    (1, None, lambda c: _int_form(c, INT_DATA_FORMS, TENSOR_KINDS)),
    (1, "logging", lambda c: _int_form(c, LOG_FORMS, TENSOR_KINDS)),
]

BOOL_FORMS = ("{i} > 2", "flag and {i} < 3", "not {b}", "isinstance({t}, torch.Tensor)", "m.training",
              "x.requires_grad", '"a" in d', "{t} is x", "{t}.dtype == torch.float32", "torch.is_grad_enabled()",
              'hasattr(obj, "extra")', "lst is G_LIST", "len(lst) > 1", "G_FLAG", "x.is_contiguous()",
              "callable(helper)", "{t} is {u}", "isinstance(G_SCALE, float)", 'obj.tag == "b"', "bool(lst)",
              "{i} in G_LIST", "{t}.requires_grad", "x is y", "{t}.shape[-1] == D", "G_DICT.get(\"a\") == 1",
              "isinstance(m, nn.Sequential)", "d is not None")
IDENTITY_FORMS = ("{t}.to({t}.dtype) is {t}", "{t}.float() is {t}", "{t}.contiguous() is {t}",
                  "{t}.to(x.device) is {t}", "{t}.type_as({t}) is {t}")
SIZE_FORMS = ("x.shape == y.shape", "tuple(x.shape) == x.shape", "x.shape == (N, D)", "x.size() == torch.Size([N, D])",
              "type(x.shape) is torch.Size", "isinstance({t}.shape, tuple)", "list({t}.shape) == [N, D]")


def _bool_form(c: Ctx, forms: tuple[str, ...]) -> tuple[str, str]:
    return c.rng.choice(forms).format(i=_i(c), b=c.pick("B") or "flag", t=c.pick("T", "R", "C", "S") or "x",
                                      u=c.pick("T", "R", "C", "S") or "y"), "B"


BOOL_EXPRS: list[tuple[int, str | None, Callable]] = [
    (14, None, lambda c: _bool_form(c, BOOL_FORMS)),
    (2, "identity_to", lambda c: _bool_form(c, IDENTITY_FORMS)),
    (2, "size_tuple", lambda c: _bool_form(c, SIZE_FORMS)),
]

CONDS: list[tuple[int, str | None, Callable]] = [
    (10, None, lambda c: (c.bool_(), "B")),
    (3, None, lambda c: (c.pick("B") or "flag", "B")),
    (2, None, lambda c: (f"{c.tensor()[0]}.sum() > 0", "B")),          # data-dependent: a graph break
    (2, None, lambda c: (f"{_i(c)} {c.rng.choice(('<', '>', '==', '!='))} {c.rng.choice(('0', '1', '2', 'n'))}", "B")),
]
