"""Statement grammar of the fuzzer and ``generate(seed, flags)``: one seed, one program.

``STATEMENTS`` is the grammar, one row per template: ``(weight, flag or None, where, fn)``;
``where`` is "any", "block" (only inside a compound statement), "loop" (only inside a loop)
or "compound" (only while nesting is below ``MAX_DEPTH``). Statements are
never generated inside nested functions (their bodies are fixed templates), so ``global``
and ``return`` are always ``f``'s. ``fn(ctx)`` returns the
nodes it generates, or None when it does not apply (another row is drawn). Expressions come
from ``exprs.py``; the prelude and the mutations between calls from ``world.py``.
"""

from __future__ import annotations

import random
from typing import Callable

from .exprs import MODULE_KINDS, TENSOR_KINDS, Ctx, combine, fits
from .program import Block, Node, Program
from .world import make_shape, mutations_for, prelude

MAX_DEPTH = 2


def _n(text: str, *tags: str, alts: tuple[str, ...] = ()) -> Node:
    return Node(text, tags=frozenset(tags), alts=alts)


def _assign(c: Ctx, prefix: str, kind: str, text: str, *tags: str) -> list[Node]:
    """``name = text``, with a same-kind variable as the simpler alternative."""
    name = c.fresh(prefix)
    simple = c.pick(kind)
    c.define(name, kind)
    return [_n(f"{name} = {text}", *tags, alts=(f"{name} = {simple}",) if simple else ())]


# -- simple statements -----------------------------------------------------------------------

def s_tensor(c: Ctx) -> list[Node]:
    text, kind = c.tensor(depth=0) if c.chance(0.3) else c.tensor_op()
    return _assign(c, "t", kind, text)


def s_int(c: Ctx) -> list[Node]:
    return _assign(c, "i", "I", c.int_())


def s_bool(c: Ctx) -> list[Node]:
    return _assign(c, "b", "B", c.bool_())


def s_acc(c: Ctx) -> list[Node]:
    value = c.rng.choice((c.int_(), c.bool_(), c.tensor()[0], "obj.tag", f"type({c.pick('T', 'R') or 'x'}).__name__",
                          "sorted(d, key=str)", "[type(v).__name__ for v in lst]", "x.dtype", "len(acc)",
                          f"({c.pick('I') or 'n'}, {c.pick('B') or 'flag'})", "G_COUNT", "m.training"))
    return [_n(f"acc.append({value})")]


_INPLACE = ("{t}.add_({u})", "{t}.mul_({num})", "{t}.clamp_(-2, 2)", "{t}.sub_({u})", "torch.relu_({t})",
            "{t}.copy_({u})", "{t}.div_(2)", "{t}[..., :1] += 1", "{t}.neg_()")
_INPLACE_VIEW = ("{t}[0].add_(1)", "{t}[:, 0].mul_(2)", "{t}.t()[0].sub_(1)", "{t}.view(-1)[:2].mul_(3)",
                 "{t}[-1] = {r}", "{t}.diagonal().zero_()", "{t}.unsqueeze(0)[0].add_({u})")


def s_inplace(c: Ctx) -> list[Node]:
    target = c.pick("T", "R", "C") if c.chance(0.6) else c.rng.choice(("x", "y"))
    kind = c.kind_of(target) or "T"
    others = [n for n in c.names(*TENSOR_KINDS) if fits(kind, c.kind_of(n) or "T")]
    u = c.rng.choice(others) if others else "1"
    forms = _INPLACE_VIEW if kind == "T" and c.chance(0.4) else _INPLACE
    r = c.pick("R") or "0"
    return [_leaf_safe(c, target, _n(c.rng.choice(forms).format(t=target, u=u, num=c.number(), r=r)))]


def _leaf_safe(c: Ctx, base: str, node: Node) -> Node:
    """An in-place op on an input (a leaf that may require grad) usually goes under no_grad, as
    in real code; otherwise eager raises and the whole program just runs eagerly."""
    if base in ("x", "y", "G_T") and c.chance(0.75):
        return Node("with torch.no_grad():", [Block(None, [node])])
    return node


def s_view_then_inplace(c: Ctx) -> list[Node]:
    base = c.pick("T") or "x"
    view = c.fresh("v")
    form, kind = c.rng.choice(((f"{base}[0]", "R"), (f"{base}[:, :1]", "C"), (f"{base}.view_as({base})", "T"),
                               (f"{base}.t().t()", "T"), (f"{base}.narrow(0, 0, 1)", "T"), (f"{base}.detach()", "T")))
    c.define(view, kind)
    return [_n(f"{view} = {form}"),
            _leaf_safe(c, base, _n(f"{view}.{c.rng.choice(('mul_(2)', 'add_(1)', 'zero_()', 'sub_(0.5)'))}"))]


_CONTAINER = ("lst.append({t})", "lst.append({i})", "lst.extend([{i}, {t}])", 'd["k{c}"] = {t}',
              'd.pop("a", None)', 'd.setdefault("c", []).append({i})', "d.update(z={i})", "G_LIST.append({i})",
              'G_DICT[{i}] = {t}', 'G_DICT.pop("a", None)', "acc.extend(lst[:2])",
              "acc.append(dict(d))", "acc.append(list(G_LIST))", 'd["a"] = d.get("a", 0)')
_SHIFTING = ("if lst: lst.pop()", "lst.insert(0, {i})", "if lst: lst[0] = {t}", "lst.reverse()", "G_LIST[:] = [{i}]",
             "del lst[:1]", "Box.k += 1")


def s_container(c: Ctx) -> list[Node]:
    forms = _CONTAINER + (_SHIFTING if c.on("rebuild_after_write") else ())
    form = c.rng.choice(forms)
    tags = ("rebuild_after_write",) if form in _SHIFTING else ()
    return [_n(form.format(t=c.tensor()[0], i=c.int_(), c=c.fresh("")), *tags)]


def s_local_containers(c: Ctx) -> list[Node]:
    s, tup, dd = c.fresh("s"), c.fresh("tp"), c.fresh("dd")
    return c.rng.choice((
        [_n(f"{s} = {{{c.int_()}, 2}}"), _n(f"{s}.add(n)"), _n(f"acc.append(sorted({s}))")],
        [_n(f"{tup} = ({c.tensor()[0]}, {c.int_()})"), _n(f"acc.append({tup}[1])")],
        [_n(f"{dd} = dict(d)"), _n(f'{dd}["new"] = {c.int_()}'), _n(f"acc.append(sorted({dd}, key=str))")],
        [_n(f"{dd} = {{k: v for k, v in d.items() if not isinstance(v, torch.Tensor)}}"), _n(f"acc.append({dd})")],
    ))


_ATTR = ("obj.scale = obj.scale * 2", 'obj.tag = "t" + str({i})', "obj.items.append({i})", "obj.extra = {t}",
         "if hasattr(obj, 'extra'): del obj.extra", 'setattr(obj, "dyn", {i})', 'acc.append(getattr(obj, "dyn", -1))',
         "m.counter = getattr(m, 'counter', 0) + 1", "G_OBJ.scale = {i}", "obj.scale = {t}",
         "acc.append(obj.scale)", "acc.append(vars(obj).get('extra') is None)")


def s_attr(c: Ctx) -> list[Node]:
    return [_n(c.rng.choice(_ATTR).format(i=c.int_(), t=c.tensor()[0]))]


_GLOBALS = (("G_COUNT += 1", "G_COUNT"), ("G_SCALE = G_SCALE + 1", "G_SCALE"), ("G_LIST = G_LIST + [{i}]", "G_LIST"),
            ("G_FLAG = not G_FLAG", "G_FLAG"), ("G_T = G_T * 2", "G_T"), ("G_T = {r}", "G_T"),
            ("G_DICT = dict(G_DICT, n={i})", "G_DICT"))


def s_global(c: Ctx) -> list[Node] | None:
    form, name = c.rng.choice(_GLOBALS)
    return [_n(form.format(i=c.int_(), r=c.tensor(("R", "S"))[0]), f"global:{name}")]


def s_reassign(c: Ctx) -> list[Node] | None:
    """A loop-carried (or branch-joined) value: an outer local rebound with its kind kept."""
    names = [n for n in c.names("T", "R", "C", "S", "I") if not n.startswith("G_") and n != "n"]
    if not names or c.depth == 0:
        return None
    name = c.rng.choice(names)
    kind = c.kind_of(name)
    if kind == "I":
        return [_n(f"{name} = {name} + {c.rng.choice(('1', 'n', c.int_()))}")]
    others = [n for n in c.names(*TENSOR_KINDS) if fits(kind, c.kind_of(n) or "T")] or [name]
    return [_n(f"{name} = {name} * 0.5 + {c.rng.choice(others)}")]


def s_break(c: Ctx) -> list[Node] | None:
    """A graph break bytegraph resumes after (print, a C call, .item(), .tolist())."""
    t = c.tensor()[0]
    return [_n(c.rng.choice((f'print("p", {c.int_()}, {t}.shape)', f"print({t})", f"acc.append({t}.tolist())",
                             'acc.append(zlib.crc32(b"fuzz"))', f"acc.append(round({t}.sum().item(), 3))",
                             f"acc.append(opaque({t}))")), "graph_break")]


def s_log(c: Ctx) -> list[Node]:
    plain = (f'LOG.info("n=%s", {c.int_()})', f'LOG.warning("shape %s", tuple({c.pick("T") or "x"}.shape))',
             'LOG.debug("flag %s", flag)', 'LOG.info("%d items", len(lst))')
    mutable = ('LOG.info("lst %s", lst)', 'LOG.warning("d %s", d)', f'LOG.info("t %s", {c.tensor()[0]})',
               f'warnings.warn(f"w{{{c.int_()}}}")', 'LOG.info("obj %s", obj.items)')
    forms = plain + (mutable if c.on("logging") else ())
    return [_n(c.rng.choice(forms), "logging")]


def s_identity(c: Ctx) -> list[Node]:
    a, b = c.pick(*TENSOR_KINDS) or "x", c.pick(*TENSOR_KINDS) or "y"
    return [_n(c.rng.choice((f"acc.append({a} is {b})", "acc.append(lst[0] is lst[0] if lst else None)",
                             f"acc.append({a} is x)", "acc.append(d.get('a') is d.get('a'))",
                             f"acc.append({a}.detach() is {a})", "acc.append(obj is G_OBJ)",
                             f"acc.append(id({a}) == id({b}))")))]


def s_train(c: Ctx) -> list[Node]:
    return [_n(c.rng.choice(("m.train(not m.training)", "m.eval()", "m.train()", "G_MOD.train(flag)")))]


def s_backward(c: Ctx) -> list[Node]:
    a = c.tensor(MODULE_KINDS)[0]
    return [_n(f"m({a}).sum().backward()"), _n("acc.append([p.grad is None for p in m.parameters()])")]


def s_optimizer(c: Ctx) -> list[Node] | None:
    a = c.tensor(MODULE_KINDS)[0]
    loss = c.fresh("loss")
    return [_n(f"{loss} = OPT_MOD({a}.detach()).pow(2).sum()", "optimizer"), _n(f"{loss}.backward()", "optimizer"),
            _n("OPT.step()", "optimizer"), _n("OPT.zero_grad()", "optimizer"), _n(f"acc.append({loss})")]


def s_raise(c: Ctx) -> list[Node]:
    """Something that raises (only generated inside ``try``)."""
    return [_n(c.rng.choice(('raise ValueError(f"bad {n}")', 'acc.append(d["missing"])', "acc.append(lst[99])",
                             "acc.append(obj.nope)", f"acc.append({c.pick('T') or 'x'} @ x)",
                             f"if {c.cond()}: raise KeyError(n)", "acc.append(1 // (n - n))",
                             "acc.append(torch.ones(2) + torch.ones(3))")), "raises")]


def s_loop_exit(c: Ctx) -> list[Node]:
    return [Node(f"if {c.cond()}:", [Block(None, [_n(c.rng.choice(("break", "continue")))])])]


def s_early_return(c: Ctx) -> list[Node] | None:
    return [Node(f"if {c.cond()}:", [Block(None, [_n(f"return (acc, {c.tensor()[0]})")])])]


# -- compound statements --------------------------------------------------------------------

def s_if(c: Ctx) -> list[Node]:
    blocks = [Block(None, c.block())]
    if c.chance(0.5):
        blocks.append(Block("else:", c.block()))
    return [Node(f"if {c.cond()}:", blocks)]


def s_for(c: Ctx) -> list[Node]:
    i, v, k = c.fresh("i"), c.fresh("v"), c.fresh("k")
    header, defs = c.rng.choice(((f"for {i} in range({c.small()}):", {i: "I"}),
                                 (f"for {v} in lst:", {}),
                                 (f"for {k}, {v} in {_items(c)}:", {}),
                                 (f"for {i}, {v} in enumerate(lst[:3]):", {i: "I"}),
                                 (f"for {i} in G_LIST[:3]:", {i: "I"})))
    c.loops += 1
    body = c.block(defs)
    if v in header:
        body.insert(0, Node(f"if isinstance({v}, torch.Tensor):",
                            [Block(None, [_n(f"acc.append({v} * 2)")]), Block("else:", [_n(f"acc.append({v})")])]))
    if header.endswith(" in lst:"):      # the body may append to the list it walks: bound it
        body.insert(0, Node("if len(lst) > 8:", [Block(None, [_n("break")])], tags=frozenset({"keep"})))
    c.loops -= 1
    return [Node(header, [Block(None, body)])]


def _items(c: Ctx) -> str:
    """The live ``d.items()`` only with flag dict_iter_mutation (the body may change ``d``)."""
    return "d.items()" if c.on("dict_iter_mutation") else "list(d.items())"


def s_while(c: Ctx) -> list[Node]:
    k = c.fresh("w")
    c.loops += 1
    body = [_n(f"{k} += 1", "keep"), *c.block({k: "I"})]
    c.loops -= 1
    return [_n(f"{k} = 0"), Node(f"while {k} < {c.small()}:", [Block(None, body)])]


_EXCEPTIONS = "(RuntimeError, ValueError, KeyError, IndexError, AttributeError, TypeError, ZeroDivisionError)"


def s_try(c: Ctx) -> list[Node]:
    e = c.fresh("e")
    body = c.block()
    if c.chance(0.6):
        body.insert(c.rng.randrange(len(body) + 1), s_raise(c)[0])
    record = c.rng.choice((f"type({e}).__name__", f"str({e})", f"({type(e).__name__!r}, len(str({e})))"))
    blocks = [Block(None, body), Block(f"except {_EXCEPTIONS} as {e}:", [_n(f"acc.append({record})"), *c.block()])]
    if c.chance(0.4):
        blocks.append(Block("finally:", [_n('acc.append("fin")'), *c.block()]))
    return [Node("try:", blocks)]


_WITH = ("torch.no_grad()", "torch.enable_grad()", 'torch.autocast("cpu", dtype=torch.bfloat16)',
         "torch.set_grad_enabled({b})", "contextlib.suppress(KeyError, IndexError)", "contextlib.nullcontext()")


def s_with(c: Ctx) -> list[Node]:
    if c.on("exitstack") and c.chance(0.3):
        st = c.fresh("stack")
        head = [_n(f"{st}.enter_context(torch.no_grad())", "exitstack"),
                _n(f'{st}.callback(acc.append, "cb")', "exitstack")]
        return [Node(f"with contextlib.ExitStack() as {st}:", [Block(None, [*head, *c.block()])],
                     tags=frozenset({"exitstack"}))]
    manager = c.rng.choice(_WITH).format(b=c.pick("B") or "flag")
    return [Node(f"with {manager}:", [Block(None, c.block())])]


def s_closure(c: Ctx) -> list[Node]:
    g = c.fresh("g")
    a, ka = c.tensor()
    i = c.int_()
    if c.chance(0.3):       # a counter in a cell shared with the closure (nonlocal)
        cnt = c.fresh("cnt")
        res = c.fresh("i")
        c.define(res, "I")
        return [_n(f"{cnt} = {i}"),
                Node(f"def {g}():", [Block(None, [_n(f"nonlocal {cnt}"), _n(f"{cnt} += 1"), _n(f"return {cnt}")])]),
                _n(f"{res} = {g}() + {g}()")]
    arg, karg = c.tensor()
    res = c.fresh("t")
    c.define(res, combine(ka, karg))
    return [Node(f"def {g}(a, k={i}):", [Block(None, [_n(f"return a * k + {a}")])]), _n(f"{res} = {g}({arg})")]


def s_genfn(c: Ctx) -> list[Node]:
    g, res = c.fresh("gen"), c.fresh("t")
    a, ka = c.tensor()
    b, kb = c.tensor((ka,)) if c.names(ka) else (a, ka)
    c.define(res, ka)
    body = [Node("for j in range(k):", [Block(None, [_n(f"yield {a} * j")])])]
    return [Node(f"def {g}(k):", [Block(None, body)]), _n(f"{res} = sum({g}({c.small()}), {b})")]


def s_lazy(c: Ctx) -> list[Node] | None:
    """Lazy builtins and itertools whose work interleaves with the loop body's: a map whose function
    reads a cell the body changes, generators zipped or enumerated that log to ``acc``, a filter
    made before the statement that runs it, chains, islices of count(), reduce, max with a key, a
    shared iterator a zip or a loop with ``break`` leaves part of."""
    if not c.on("lazy_iteration"):
        return None
    a, ka = c.tensor()
    b, kb = c.tensor((ka,)) if c.names(ka) else (a, ka)
    v, u, g, cell = c.fresh("v"), c.fresh("u"), c.fresh("gen"), c.fresh("cell")
    body = [_n(f"acc.append({v})")]
    gen = Node(f"def {g}(tag, k):", [Block(None, [Node("for j in range(k):", [Block(None, [
        _n("acc.append(tag)"), _n(f"yield {a} * j")])])])])
    choice = c.rng.randrange(9)
    if choice == 0:
        return [_n(f"{cell} = [{c.number()}]"),
                Node(f"for {v} in map(lambda t: t * {cell}[0], [{a}, {b}, {a}]):",
                     [Block(None, [_n(f"{cell}[0] += 1"), *body])])]
    if choice == 1:
        head = c.rng.choice((f"zip({g}('a', {c.small()}), {g}('b', {c.small()}))",
                             f"zip({g}('a', {c.small()}), [{b}, {a}])", f"enumerate({g}('e', {c.small()}))"))
        note = _n(f"acc.append(('body', {u} if isinstance({u}, str) else 0))")
        return [gen, Node(f"for {u}, {v} in {head}:", [Block(None, [note, *body])])]
    if choice == 2:
        return [_n(f"{u} = filter(lambda t: acc.append('p') or {c.bool_()}, [{a}, {b}])"), _n("acc.append('made')"),
                _n(f"acc.extend({u})")]
    if choice == 3:
        return [gen, _n(f"{u} = itertools.chain({g}('c', {c.small()}), [{b}])"), _n("acc.append('made')"),
                _n(f"acc.extend({u})")]
    if choice == 4:
        return [Node(f"for {u}, {v} in zip(itertools.count({c.int_()}), itertools.islice([{a}, {b}, {a}], 1, None)):",
                     [Block(None, [_n(f"acc.append({v} * {u})")])])]
    if choice == 5:
        res = c.fresh("t")
        c.define(res, combine(ka, kb))
        return [_n(f"{res} = functools.reduce(lambda p, q: p * 0.5 + q, itertools.accumulate([{a}, {b}, {a}]))")]
    if choice == 6:
        return [_n(f"acc.append(max([{a}, {b}], key=lambda t: t.ndim) + 1)"),
                _n(f"acc.append(min({c.int_()}, {c.int_()}, key=lambda i: (i % 3, i)))")]
    if choice == 8:
        head = c.rng.choice((f"zip(range({c.small()}), {g})", f"enumerate({g})", f"zip({g}, [{b}], strict=False)"))
        return [_n(f"{g} = iter([{a}, {b}, {a}])"),          # a shared iterator: what the loop leaves is the program's
                Node(f"for {u}, {v} in {head}:", [Block(None, [*body, Node(f"if {c.bool_()}:", [Block(None, [
                    _n("break")])])])]),
                _n(f"acc.extend({g})")]
    return [Node(f"for {u}, {v} in itertools.product(range({c.small()}), [{a}, {b}]):",
                 [Block(None, [_n(f"acc.append({v} + {u})")])]),
            _n(f"acc.extend(itertools.pairwise([{a}, {b}, {a}]))")]


def s_functional(c: Ctx) -> list[Node] | None:
    return None if not c.on("functional_call") else _assign(
        c, "t", "T", f"torch.func.functional_call(m, dict(m.named_parameters()), ({c.pick('T') or 'x'},))",
        "functional_call")


# (weight, flag, where, fn); where: any | block | loop | top
STATEMENTS: list[tuple[int, str | None, str, Callable[[Ctx], list[Node] | None]]] = [
    (14, None, "any", s_tensor), (4, None, "any", s_int), (3, None, "any", s_bool), (5, None, "any", s_acc),
    (5, None, "any", s_inplace), (2, None, "any", s_view_then_inplace), (5, None, "any", s_container),
    (2, None, "any", s_local_containers), (4, None, "any", s_attr), (3, None, "any", s_global),
    (4, None, "block", s_reassign), (4, None, "any", s_break), (3, None, "any", s_log), (2, None, "any", s_identity),
    (1, None, "any", s_train), (1, None, "any", s_backward), (2, "optimizer", "any", s_optimizer),
    (2, None, "loop", s_loop_exit), (1, None, "any", s_early_return),
    (5, None, "compound", s_if), (3, None, "compound", s_for), (1, None, "compound", s_while),
    (2, None, "compound", s_try), (3, None, "compound", s_with), (2, None, "any", s_closure),
    (1, None, "any", s_genfn), (1, "functional_call", "any", s_functional), (2, "lazy_iteration", "any", s_lazy),
]


def _statement(c: Ctx) -> list[Node]:
    rows = [(w, fn) for w, flag, where, fn in STATEMENTS
            if (flag is None or c.on(flag)) and _allowed(c, where)]
    for _ in range(30):
        fn = c.rng.choices([fn for _, fn in rows], weights=[w for w, _ in rows])[0]
        nodes = fn(c)
        if nodes:
            return nodes
    return s_acc(c)


def _allowed(c: Ctx, where: str) -> bool:
    return {"any": True, "block": c.depth > 0, "loop": c.loops > 0,
            "compound": c.depth < MAX_DEPTH}[where]


def _returns(c: Ctx) -> list[str]:
    pool = c.names("T", "R", "C", "S", "I", "B")
    rets = ["acc", *c.rng.sample(pool, min(len(pool), c.rng.randint(1, 4)))]
    extras = ["x", "lst", "d", "obj", "G_COUNT", "obj.items", "m.training", f'{{"t": {c.pick("T") or "x"}}}', "y"]
    if c.on("size_tuple"):
        extras += ["x.shape", "tuple(x.shape)", "x.size()", "x.shape[1:]", "y.shape[:1]"]
    rets += c.rng.sample(extras, c.rng.randint(0, 2))
    return rets


def generate(seed: int, flags: frozenset[str] = frozenset(), calls: int | None = None) -> Program:
    """The program of ``seed``: the same seed and flags always give the same program."""
    rng = random.Random(seed)
    shape = make_shape(rng)
    c = Ctx(rng, shape, flags, _statement)
    body = [_n("acc = []")]
    c.define("acc", "L")
    for _ in range(rng.randint(4, 16)):
        body.extend(_statement(c))
    ncalls = calls if calls is not None else rng.randint(3, 5)
    return Program(seed, prelude(seed, shape, random.Random(seed + 1), flags), body, _returns(c),
                   mutations_for(random.Random(seed + 2), shape, flags, ncalls), flags)
