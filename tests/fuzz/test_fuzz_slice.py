"""The fixed seeded slice of the fuzzer that ``make test`` runs (about 30 s).

Each seed is one random program run eagerly and compiled, several calls with state
mutations between them (see ``tests/fuzz/__init__.py``); any difference, or an exception
that only the compiled program raises, fails. Constructs bytegraph gets wrong are behind
flags outside ``flags.SLICE`` (none today); ``make fuzz`` turns them all on.
The other tests check that the fuzzer itself can fail: a backend that perturbs results, a
stale guard and a wrong side effect are caught, and the shrinker cuts a program down.
"""

from __future__ import annotations

import collections
import pathlib
import sys

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fuzz import flags  # noqa: E402
from tests.fuzz.gen import STATEMENTS, generate  # noqa: E402
from tests.fuzz.runner import run_program  # noqa: E402
from tests.fuzz.shrink import shrink  # noqa: E402
from tests.fuzz.run import quiet_torch  # noqa: E402

SLICE_SEEDS = range(0, 25)


@pytest.fixture(autouse=True)
def _quiet_torch_logs():
    """torch's noisy loggers quiet while a program runs, restored after (a module-level setting
    silenced the fake-tensor records that tests/capture/test_clean_output.py looks for)."""
    with quiet_torch():
        yield


_OUTCOMES: dict = {}             # seed -> Outcome of test_slice (reused by the coverage check)


def _run_seed(seed: int):
    if seed not in _OUTCOMES:
        prog = generate(seed, flags.SLICE)
        _OUTCOMES[seed] = (prog, run_program(prog.source(), prog.call_sources(), backend="eager", seed=seed,
                                             timeout_s=120))
    return _OUTCOMES[seed]


@pytest.mark.parametrize("seed", SLICE_SEEDS)
def test_slice(seed: int) -> None:
    prog, outcome = _run_seed(seed)
    assert outcome.status in ("ok", "internal"), (
        f"seed {seed}: {outcome.status} at call {outcome.call}: {outcome.detail}\n"
        f"replay: python -m tests.fuzz --n 1 --seed {seed} --flags slice --shrink\n{prog.source()}")


def test_slice_captures_graphs_and_breaks() -> None:
    """The slice exercises capture, not only eager fallbacks: graphs are compiled and graph
    breaks resume (runs after test_slice, whose outcomes it reuses)."""
    outcomes = [_run_seed(seed)[1] for seed in SLICE_SEEDS[:8]]
    graphs, breaks = sum(o.graphs for o in outcomes), sum(len(o.breaks) for o in outcomes)
    assert graphs >= 8 and breaks >= 4, (graphs, breaks)


def _perturbing_backend(gm: torch.fx.GraphModule, example_inputs: list) -> object:
    def run(*args: object) -> object:
        outs = gm.forward(*args)
        return tuple(o + 1e-6 if isinstance(o, torch.Tensor) and o.is_floating_point() else o for o in outs)
    return run


def test_detects_a_backend_that_changes_results() -> None:
    statuses = collections.Counter()
    for seed in SLICE_SEEDS[:6]:
        prog = generate(seed, flags.SLICE)
        statuses[run_program(prog.source(), prog.call_sources(), backend=_perturbing_backend, seed=seed).status] += 1
        if statuses["mismatch"] >= 2:
            break
    assert statuses["mismatch"] >= 2, statuses


PROGRAM = r'''
import torch
G = 2
class Box:
    pass
B = Box()
B.k = 1
ARGS = [torch.ones(3), [1, 2]]

def f(x, lst):
    lst.append(len(lst))
    return x * G * B.k + len(lst), lst
'''
CALLS = ["", "G = 3", "B.k = 5", "ARGS[1].pop()"]
# each edit makes the compiled world (module name ending in "_bg") behave differently
WRONG = {
    "a dropped side effect": ("    lst.append(len(lst))\n",
                              "    lst.append(len(lst)) if __name__.endswith('eager') else None\n"),
    "a stale global": ("x * G * B.k", "x * (G if __name__.endswith('eager') else 2) * B.k"),
    "a copy for an identity": ("+ len(lst), lst", "+ len(lst), lst if __name__.endswith('eager') else list(lst)"),
}


def test_agrees_on_a_fixed_program() -> None:
    assert run_program(PROGRAM, CALLS).status == "ok"


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_detects_state_and_identity_differences(wrong: str) -> None:
    old, new = WRONG[wrong]
    assert old in PROGRAM
    assert run_program(PROGRAM.replace(old, new), CALLS).status == "mismatch"


def test_generator_is_seeded_and_uses_every_template(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same seed gives the same program; with every flag on, 300 programs use every
    statement template (the grammar has no dead rows)."""
    import tests.fuzz.gen as gen
    assert generate(1, flags.ALL).source() == generate(1, flags.ALL).source()
    used: collections.Counter = collections.Counter()

    def counted(fn):
        def wrapper(c):
            nodes = fn(c)
            used[fn.__name__] += bool(nodes)
            return nodes
        return wrapper

    monkeypatch.setattr(gen, "STATEMENTS", [(w, f, where, counted(fn)) for w, f, where, fn in gen.STATEMENTS])
    for seed in range(300):
        gen.generate(seed, flags.ALL)
    assert {fn.__name__ for _, _, _, fn in STATEMENTS} - set(used) == set()


def test_shrink_keeps_the_failure_and_cuts_the_rest() -> None:
    """The shrinker, on a stand-in runner that fails while a marker statement is present."""
    from tests.fuzz.runner import Outcome
    prog = generate(5, flags.SLICE)
    prog.body.insert(len(prog.body) // 2, type(prog.body[0])("acc.append('MARK')"))

    def run(p):
        return Outcome("mismatch", "result/x") if "MARK" in p.source() else Outcome("ok")

    small, outcome = shrink(prog, run, budget_s=60)
    assert outcome.status == "mismatch"
    assert "MARK" in small.source() and small.size() < prog.size() // 2, small.source()
