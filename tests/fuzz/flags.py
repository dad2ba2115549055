"""Feature flags: constructs the generator uses only when asked, because bytegraph gets them
wrong today (each names the finding or the helper branch that fixes it).

``make test`` runs the fixed slice with ``SLICE`` (the constructs that pass on main);
``make fuzz`` runs with every flag on (``ALL``). When a fix lands, move its flag into
``SLICE`` (and turn the matching finding in ``tests/fuzz/findings`` to ``status: fixed``).
Select flags on the command line with ``--flags all``, ``--flags slice`` or a comma list
(``--flags slice,optimizer``; ``-name`` removes one).
"""

from __future__ import annotations

# name -> (what the generator adds when the flag is on, why it is off in the slice)
FLAGS: dict[str, tuple[str, str]] = {
    "shadow_builtins": ("mutations that shadow len/abs/max/min/sum/isinstance by module globals (and undo it)",
                        "known: builtins shadowed by globals are not guarded (sound-a)"),
    "functional_call": ("torch.func.functional_call(m, {...}, (t,))",
                        "known: functional_call (sound-a)"),
    "identity_to": ("x.to(x.dtype) is x, x.float() is x, x.contiguous() is x",
                    "known: identity of no-op conversions (sound-a)"),
    "size_tuple": ("shapes as values: returning x.shape, x.shape[1:], tuple(x.shape), x.shape == (...), type(x.shape)",
                   "known: torch.Size vs tuple (sound-a): x.shape[1:] is a tuple once the batch size is dynamic"),
    "logging": ("LOG.info/warning/debug with mutable arguments, warnings.warn",
                "known: deferred logging (sound-b)"),
    "optimizer": ("an SGD/Adam step on a global module inside f",
                  "known: optimizer steps wrong from the 2nd call (sound-b)"),
    "operator_callables": ("operator.itemgetter/attrgetter/methodcaller(...)(value)",
                           "known: operator.itemgetter (sound-b); attrgetter and methodcaller fail the same way "
                           "(TypeError: object.__new__(operator.attrgetter) is not safe)"),
    "exitstack": ("with contextlib.ExitStack() as stack: enter_context / callback",
                  "known: ExitStack (sound-b); no wrong result found here (frames with enter_context(no_grad()) "
                  "run eagerly), so it is on in the slice"),
    "rebuilt_logger": ("mutation that rebinds LOG to a new logger",
                       "known: rebuilt loggers (sound-b); no wrong result found here, so it is on in the slice"),
    "torch_func": ("torch.func.grad/vmap inside f",
                   "known: torch.func and global state corruption (sound-c)"),
    # New findings of the fuzzer (reports/fuzz-findings.md), not yet fixed:
    "rebuild_after_write": ("statements that overwrite or shift what a pre-existing list or class attribute held "
                            "(lst.insert(0, v), del lst[:1], lst.reverse(), lst[0] = v, lst.pop(), G_LIST[:] = [...], "
                            "Box.k += 1): with a graph break after them, they are the commonest trigger of F1",
                            "NEW F1: at a graph break, values are rebuilt from their sources after the side effects "
                            "are written back and the break's instruction ran (findings/rebuild_after_write_*); "
                            "attribute writes, train()/eval() and dict.pop trigger it too, more rarely, and stay on"),
    "dict_iter_mutation": ("for k, v in d.items() over the live dict (its body may add or remove keys)",
                           "NEW F2: a dict changed during iteration does not raise CPython's RuntimeError "
                           "(findings/dict_changed_during_iteration.py)"),
}

ALL: frozenset[str] = frozenset(FLAGS)
SLICE: frozenset[str] = frozenset({"exitstack", "rebuilt_logger"})     # constructs that pass on main today


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
