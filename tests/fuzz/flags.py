"""Feature flags: constructs the generator uses only when asked. A construct bytegraph gets wrong
gets a flag outside ``SLICE`` that names its open finding; once fixed, the flag joins the slice
(the status text says which fix).

``make test`` runs the fixed slice with ``SLICE`` (the constructs that pass on main);
``make fuzz`` runs with every flag on (``ALL``). When a fix lands, move its flag into
``SLICE`` (and turn the matching finding in ``tests/fuzz/findings`` to ``status: fixed``).
Select flags on the command line with ``--flags all``, ``--flags slice`` or a comma list
(``--flags slice,optimizer``; ``-name`` removes one).
"""

from __future__ import annotations

# name -> (what the generator adds when the flag is on, its status: why it is on in the slice, or
# the open finding that keeps it off)
FLAGS: dict[str, tuple[str, str]] = {
    "shadow_builtins": ("mutations that shadow len/abs/max/min/sum/isinstance by module globals (and undo it)",
                        "fixed (sound-a): a builtin read is guarded on the name being absent from the globals"),
    "functional_call": ("torch.func.functional_call(m, {...}, (t,))",
                        "fixed (sound-a): the call sees the swapped parameters"),
    "identity_to": ("x.to(x.dtype) is x, x.float() is x, x.contiguous() is x",
                    "fixed (sound-a): no-op conversions return the same tensor"),
    "size_tuple": ("shapes as values: returning x.shape, x.shape[1:], tuple(x.shape), x.shape == (...), type(x.shape)",
                   "fixed (sound-a): slices of a dynamic shape stay torch.Size"),
    "logging": ("LOG.info/warning/debug with mutable arguments, warnings.warn",
                "fixed (sound-b): logger calls run in program order with the values of that moment"),
    "optimizer": ("an SGD (momentum 0.9) or Adam step on a global module inside f",
                  "fixed (sound-b, aotfuzz): SGD and Adam bitwise equal to eager on every call; torch's Adam takes "
                  "other formulas when compiled (bias corrections from the step tensor), so the eager world runs "
                  "OPT.step on those (runner.compiled_formulas; findings/known_optimizer.py)"),
    "operator_callables": ("operator.itemgetter/attrgetter/methodcaller(...)(value)",
                           "fixed (sound-b): traced"),
    "exitstack": ("with contextlib.ExitStack() as stack: enter_context / callback",
                  "fixed (sound-b): a varying number of enter_context calls works; no_grad() entered through "
                  "the stack is traced like `with no_grad():`, across graph breaks too (branch exitstack)"),
    "rebuilt_logger": ("mutation that rebinds LOG to a new logger",
                       "fixed (sound-b): loggers are passed as the real object"),
    "torch_func": ("torch.func.grad/vmap inside f",
                   "fixed (sound-c): torch.func transforms are traced and torch's global state is restored "
                   "after a failed compile"),
    "rebuild_after_write": ("statements that overwrite or shift what a pre-existing list or class attribute held "
                            "(lst.insert(0, v), del lst[:1], lst.reverse(), lst[0] = v, lst.pop(), G_LIST[:] = [...], "
                            "Box.k += 1) with a graph break after them",
                            "fixed (F1, sound-*): values a graph break hands on are read before the write-back "
                            "(findings/rebuild_after_write_*)"),
    "dict_iter_mutation": ("for k, v in d.items() over the live dict (its body may add or remove keys)",
                           "fixed (F2, fuzz2): dict/set iterators step the live container and raise CPython's "
                           "RuntimeError when its size changes (findings/dict_changed_during_iteration.py)"),
    "lazy_iteration": ("map/filter/zip/enumerate/itertools.chain over generators and functions with side effects "
                       "interleaved with the loop body, itertools (count, islice, accumulate, product, pairwise), "
                       "functools.reduce, max/min with key=",
                       "fixed (c01e594): lazy builtins step their inputs as CPython does; C itertools traced "
                       "through Python equivalents (variables/polyfills.py)"),
}

ALL: frozenset[str] = frozenset(FLAGS)
# constructs that pass on main today: every flag (a new construct that fails gets a flag outside it)
SLICE: frozenset[str] = ALL


def parse(spec: str) -> frozenset[str]:
    """``all``, ``slice``, ``none`` or a comma list of flag names (``-name`` removes one)."""
    chosen: set[str] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        named = {"all": ALL, "slice": SLICE, "none": frozenset()}.get(part.lstrip("-"))
        names = named if named is not None else {part.lstrip("-")}
        unknown = set(names) - set(FLAGS)
        if unknown:
            raise ValueError(f"unknown fuzz flag(s) {sorted(unknown)}; known: {sorted(FLAGS)}")
        chosen = chosen - set(names) if part.startswith("-") else chosen | set(names)
    return frozenset(chosen)
