"""Objects that existed before the call are passed as the real object (issue 12, item 10).

torch's own modules are trusted: their globals are read without a guard on the binding. Such a
global may still be an object with hidden state (a logger, a lock, a registry object, a
WeakKeyDictionary); the trace reaches it with no source. Every such object is now its own source
(``ObjectRefSource``): rebuilt values are only those the trace made. So, for code running
under a trusted module (here a module named ``torch._bytegraph_test_trusted``):

* an object returned, stored, or live across a graph break is the very object (``is``);
* its mutations are written back to it, after the graph, like any pre-existing object's;
* what the trace read from it is guarded (its attribute changed: recompile);
* a global the module's own code rebinds (``global flag``) is guarded like any global;
* a value read before a write-back is passed on as read (a popped item, a replaced parent).
"""

import copy
import gc
import sys
import textwrap
import threading
import time
import types

import pytest
import torch

import bytegraph
from bytegraph.testing import same

_SOURCE = textwrap.dedent('''
    import logging
    import threading
    import weakref

    import torch

    log = logging.getLogger("bytegraph.tests.trusted")
    LOCK = threading.Lock()
    CACHE = weakref.WeakKeyDictionary()


    class Counter:
        def __init__(self):
            self.n = 0
            self.scale = 1.0


    COUNTER = Counter()
    _checked = False


    def bump(x):
        COUNTER.n += 1
        return x * COUNTER.n * COUNTER.scale


    def first_time(x):
        global _checked
        if not _checked:
            _checked = True
            return x + 1
        return x + 2


    def held_across_break(x):
        lk, lg, cache, counter = LOCK, log, CACHE, COUNTER
        y = x + 1
        print("break")
        return y, lk, lg, cache, counter


    def logger_state(x):
        lg = log
        y = x * 2
        print("break")
        return y, lg.disabled, lg.isEnabledFor(20)
''')


@pytest.fixture(scope="module")
def trusted():
    mod = types.ModuleType("torch._bytegraph_test_trusted")
    sys.modules[mod.__name__] = mod
    exec(compile(_SOURCE, "<trusted>", "exec"), mod.__dict__)
    yield mod
    del sys.modules[mod.__name__]


def test_mutations_of_a_held_object_are_written_back(trusted, counter):
    def fn(x):
        return trusted.bump(x)

    cf = bytegraph.compile(fn, backend=counter)
    for i in range(1, 4):
        n = trusted.COUNTER.n
        got = cf(torch.ones(2))
        assert trusted.COUNTER.n == n + 1
        trusted.COUNTER.n = n                 # eager from the same state
        assert same(got, fn(torch.ones(2)))
    # COUNTER.n is an int read by value: each new value recompiles (guarded, not stale)
    assert all("COUNTER" in r or "Counter" in r or ".n" in r for r in cf.stats.recompile_reasons)
    trusted.COUNTER.scale = 3.0               # an attribute the trace read changed: recompile
    n = trusted.COUNTER.n
    assert same(cf(torch.ones(2)), torch.ones(2) * (n + 1) * 3.0)


def test_global_rebound_by_trusted_code_is_guarded(trusted, counter):
    def fn(x):
        return trusted.first_time(x)

    trusted._checked = False
    expected = [fn(torch.zeros(1)) for _ in range(3)]
    trusted._checked = False
    cf = bytegraph.compile(fn, backend=counter)
    got = [cf(torch.zeros(1)) for _ in range(3)]
    assert same(got, expected)
    assert cf.stats.captures == 2 and "_checked" in cf.stats.recompile_reasons[0]


def test_objects_live_across_a_break_are_the_real_objects(trusted, counter, capsys):
    def fn(x):
        return trusted.held_across_break(x)

    cf = bytegraph.compile(fn, backend=counter)
    for _ in range(3):
        y, lk, lg, cache, obj = cf(torch.ones(2))
        assert same(y, torch.ones(2) + 1)
        assert lk is trusted.LOCK and lg is trusted.log and cache is trusted.CACHE and obj is trusted.COUNTER
        assert isinstance(lk, type(threading.Lock()))
    assert capsys.readouterr().out == "break\n" * 3
    assert not any(s.eager for s in cf.stats_all)


def test_logger_keeps_its_state_across_a_break(trusted, counter, capsys):
    def fn(x):
        return trusted.logger_state(x)

    cf = bytegraph.compile(fn, backend=counter)
    for level in (30, 10, 30):
        trusted.log.setLevel(level)
        assert same(cf(torch.ones(2)), fn(torch.ones(2)))
    trusted.log.setLevel(0)


# -- values read before the write-back -------------------------------------------------------------
class Holder:
    pass


def _pop_then_break(h, x):
    item = h.items.pop()
    first = h.d["a"]
    h.d["a"] = 5
    old = h.child
    h.child = Holder()
    h.child.v = 7
    print("break")
    return item, first, old.v, x + 1


def test_values_read_before_a_write_back_are_passed_as_read(counter, capsys):
    cf = bytegraph.compile(_pop_then_break, backend=counter)
    for i in range(3):
        mine, theirs = Holder(), Holder()
        for h in (mine, theirs):
            h.items, h.d, h.child = [1, 2, 3 + i], {"a": 1}, Holder()
            h.child.v = i
        assert same(cf(mine, torch.ones(1)), _pop_then_break(theirs, torch.ones(1)))
        assert mine.items == theirs.items and mine.d == theirs.d and mine.child.v == 7


def _append_read_then_clear(src, dst, x):
    v = src["k"]
    src.clear()
    dst.append(v)
    return x + 1


def test_write_backs_do_not_see_each_other(counter):
    """``src`` is cleared, then ``src['k']`` (read before) appended to ``dst``: the appended value
    is read before ``src`` is written back (cleared), though ``src`` is written back first."""
    cf = bytegraph.compile(_append_read_then_clear, backend=counter)
    for i in range(3):
        src, dst = {"k": i}, []
        cf(src, dst, torch.ones(1))
        assert dst == [i] and src == {}


# -- the compiled optimizer's other trap: a lazy import -----------------------------------------------
def _lazy_import(x):
    try:
        from json import _bytegraph_not_a_submodule  # noqa: F401 - an ImportError, as in eager
    except ImportError:
        return x + 1
    except Exception:   # noqa: BLE001 - what a lookup's AttributeError would have reached
        return x + 2
    return x


def test_import_from_a_missing_name_is_an_import(counter):
    """``from pkg import name`` where ``name`` is neither an attribute nor an imported submodule
    imports it (runs code): a graph break, never a traced AttributeError that skips the
    program's ``except ImportError``."""
    cf = bytegraph.compile(_lazy_import, backend=counter)
    for _ in range(2):
        assert same(cf(torch.zeros(1)), _lazy_import(torch.zeros(1)))


_PACKAGE = {
    "__init__.py": "SCALE = 2.0\n",
    "helpers.py": "def shift(x):\n    return x - 1\n",
    "lazy.py": "def late(x):\n    return x * 5\n",
    "models/__init__.py": "",
    "models/fn.py": """
import torch


def fn(x):
    from .. import SCALE                 # the package's attribute
    from ..helpers import shift          # a submodule already imported
    from . import __name__ as here       # the current package
    return shift(x * SCALE), here


def lazy(x):
    y = x + 1
    from ..lazy import late              # not imported yet: importing runs code
    return late(y)


def beyond(x):
    from .... import anything            # noqa: F401 - past the top-level package
    return x
""",
}


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package ``relpkg`` on disk, imported but for ``relpkg.lazy``."""
    for name, text in _PACKAGE.items():
        path = tmp_path / "relpkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    modules = {name: importlib.import_module(name) for name in ("relpkg", "relpkg.helpers", "relpkg.models.fn")}
    yield modules
    for name in [n for n in sys.modules if n == "relpkg" or n.startswith("relpkg.")]:
        del sys.modules[name]


def test_relative_imports_of_imported_modules_are_traced(package, counter):
    """``from .. import name`` and ``from ..sub import name`` resolve against the function's
    ``__package__`` as ``__import__`` does: one graph, no break; the module attribute read is
    guarded (a new value recompiles)."""
    fn = package["relpkg.models.fn"].fn
    cf = bytegraph.compile(fn, backend=counter)
    x = torch.randn(3)
    for _ in range(2):
        got, expected = cf(x), fn(x)
        assert same(got[0], expected[0]) and got[1] == expected[1] == "relpkg.models"
    assert counter.frame_count == 1 and not cf.stats.break_reasons
    package["relpkg"].SCALE = 3.0
    assert same(cf(x)[0], fn(x)[0]) and cf.stats.recompiles == 1


def test_a_relative_import_that_runs_code_is_a_break(package, counter):
    """A relative import of a module not imported yet runs its code: a graph break, as for an
    absolute one; the result is eager's."""
    lazy = package["relpkg.models.fn"].lazy
    cf = bytegraph.compile(lazy, backend=counter)
    x = torch.randn(3)
    assert same(cf(x), (x + 1) * 5)
    assert any("relpkg.lazy" in r or "..lazy" in r for r in cf.stats.break_reasons), cf.stats.break_reasons
    assert same(cf(x), lazy(x))


def test_a_relative_import_beyond_the_top_level_package_raises_as_eager(package, counter):
    beyond = package["relpkg.models.fn"].beyond
    with pytest.raises(ImportError) as expected:
        beyond(torch.ones(1))
    cf = bytegraph.compile(beyond, backend=counter)
    with pytest.raises(ImportError) as got:
        cf(torch.ones(1))
    assert str(got.value) == str(expected.value)


class Settings:
    """Like a transformers config whose ``get_text_config`` deep-copies it and edits the copy."""

    def __init__(self):
        self.is_encoder_decoder = True
        self.encoder_layers, self.decoder_layers = 2, 3

    def for_decoder(self):
        c = copy.deepcopy(self)
        c.layers = c.decoder_layers
        del c.encoder_layers
        return c


SETTINGS = Settings()


def _copies_of_copies(x):
    dec = SETTINGS.for_decoder()
    again = copy.deepcopy(dec)           # a copy of the copy the trace changed
    again.layers += 1
    return x * again.layers + dec.layers, again


def _state(obj):
    return sorted(vars(obj).items())


def test_a_deepcopy_of_a_copy_the_trace_changed_is_traced(counter):
    """``copy.deepcopy`` of an object the trace copied and then wrote (constants, a deletion) is
    one more copy at trace time with those writes: one graph, no break, eager's objects; the
    original is guarded by its dict's version (a change recompiles)."""
    cf = bytegraph.compile(_copies_of_copies, backend=counter)
    x = torch.randn(3)
    for _ in range(2):
        (got, obj), (expected, ref) = cf(x), _copies_of_copies(x)
        assert same(got, expected) and _state(obj) == _state(ref) and "encoder_layers" not in vars(obj)
    assert counter.frame_count == 1 and not cf.stats.break_reasons
    SETTINGS.decoder_layers = 5
    try:
        (got, obj), (expected, ref) = cf(x), _copies_of_copies(x)
        assert same(got, expected) and _state(obj) == _state(ref) and cf.stats.recompiles == 1
    finally:
        SETTINGS.decoder_layers = 3


def _copy_after_a_tensor_write(x):
    dec = SETTINGS.for_decoder()
    dec.scale = x.sum()
    return copy.deepcopy(dec).layers * x


def test_a_deepcopy_after_a_tensor_attribute_write_is_a_break(counter):
    cf = bytegraph.compile(_copy_after_a_tensor_write, backend=counter)
    x = torch.randn(3)
    for _ in range(2):
        assert same(cf(x), _copy_after_a_tensor_write(x))
    assert any("deepcopy" in r for r in cf.stats.break_reasons), cf.stats.break_reasons


def test_compiled_ddp_model(counter):
    """A DistributedDataParallel model (world size 1, gloo): its reducer, logger and process
    group are the real objects; outputs and gradients are eager's."""
    import tempfile

    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    with tempfile.TemporaryDirectory() as tmp:      # (the store's file goes with the group)
        dist.init_process_group("gloo", rank=0, world_size=1, init_method=f"file://{tmp}/store")
        try:
            torch.manual_seed(0)
            m1 = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
            m2 = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
            m2.load_state_dict(m1.state_dict())
            eager, compiled = DistributedDataParallel(m1), bytegraph.compile(DistributedDataParallel(m2),
                                                                               backend=counter)
            for _ in range(3):
                x = torch.randn(3, 4)
                o1, o2 = eager(x), compiled(x)
                o1.sum().backward()
                o2.sum().backward()
                assert same(o1, o2)
                assert all(torch.allclose(p.grad, q.grad) for p, q in zip(m1.parameters(), m2.parameters()))
            assert not any(s.eager for s in compiled.stats_all)
            # The process group's destructor (run when the last DDP reducer goes) joins gloo's
            # worker threads holding the GIL, and a worker that is still destroying an allreduce
            # whose thread-local state holds a Python object waits for the GIL: a deadlock (seen
            # once in a full run, never alone). Let the workers finish first, then drop the models.
            dist.barrier()
            time.sleep(0.2)
            del eager, compiled
            gc.collect()
        finally:
            dist.destroy_process_group()
