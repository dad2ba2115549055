"""Runtime contracts: memory (caches never keep models or tensors alive), threads, bad input."""

import gc
import subprocess
import sys
import threading
import weakref

import pytest
import torch

import bytegraph
from bytegraph.testing import CompileCounter, same


def _mlp():
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_deleting_a_compiled_model_frees_it_without_gc():
    model = _mlp()
    counter = CompileCounter()
    compiled = bytegraph.compile(model, backend=counter)
    x = torch.randn(3, 4)
    for _ in range(2):
        assert same(compiled(x), model(x))
    assert counter.frame_count == 1
    refs = [weakref.ref(model), weakref.ref(model[0].weight), weakref.ref(compiled)]
    gc.disable()
    try:
        del model, compiled
        assert all(r() is None for r in refs), "freed by reference counting alone"
    finally:
        gc.enable()


def test_model_freed_after_a_graph_break():
    class Printing(torch.nn.Module):
        def forward(self, x):
            print("side effect")
            return x + 1

    model = Printing()
    compiled = bytegraph.compile(model)
    compiled(torch.randn(2))
    assert len(compiled.stats.break_reasons) == 1      # broke, resumed in forward's own wrapper
    ref = weakref.ref(model)
    del model, compiled
    gc.collect()
    assert ref() is None


def test_cache_does_not_keep_inputs_or_closure_tensors_alive():
    def make():
        t = torch.randn(4)

        def f(x):
            return x + t
        return f, weakref.ref(t)

    f, closure_ref = make()
    compiled = bytegraph.compile(f)
    x = torch.randn(4)
    assert same(compiled(x), f(x))
    input_ref = weakref.ref(x)
    del x
    assert input_ref() is None, "the cache entry holds no reference to the example input"
    del f, compiled
    gc.collect()
    assert closure_ref() is None


def test_id_guarded_object_death_drops_the_entry():
    def f(x, cls):
        return x * cls.k

    counter = CompileCounter()
    compiled = bytegraph.compile(f, backend=counter)
    Scale = type("Scale", (), {"k": 3})
    x = torch.randn(3)
    for _ in range(2):
        assert same(compiled(x, Scale), f(x, Scale))
    assert counter.frame_count == 1 and len(compiled.entries) == 1
    ref = weakref.ref(Scale)
    del Scale
    gc.collect()
    assert ref() is None, "the cache keeps no strong reference to an ID_MATCH-guarded class"
    assert compiled.entries == (), "its entry is dropped: a new class could reuse the id"
    Other = type("Other", (), {"k": 5})
    assert same(compiled(x, Other), f(x, Other))
    assert counter.frame_count == 2


def test_two_threads_share_one_compiled_function():
    def f(x, y):
        return (x * y).sin() + y

    counter = CompileCounter()
    compiled = bytegraph.compile(f, backend=counter)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(seed: int) -> None:
        try:
            gen = torch.Generator().manual_seed(seed)
            barrier.wait()
            for _ in range(50):
                x, y = torch.randn(5, generator=gen), torch.randn(5, generator=gen)
                assert same(compiled(x, y), f(x, y))
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert counter.frame_count == 1, "the two threads compiled once between them"
    assert compiled.stats.captures == 1


@pytest.mark.parametrize("thing", [3, "model", None, [torch.nn.Linear(2, 2)]])
def test_compiling_a_non_callable_is_a_type_error(thing):
    with pytest.raises(TypeError) as info:
        bytegraph.compile(thing)
    assert type(thing).__name__ in str(info.value)


def test_compiling_a_builtin_is_a_type_error_that_says_why():
    with pytest.raises(TypeError, match="no Python bytecode"):
        bytegraph.compile(len)


def test_unsupported_python_version_fails_at_import():
    code = "import sys; sys.version_info = (3, 14, 0, 'final', 0); import bytegraph"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "this is Python 3.14" in proc.stderr
    assert "supports CPython 3.11, 3.12, 3.13" in proc.stderr


def test_recompile_limit_runs_eagerly_and_warns_once():
    def f(x):
        return x + 1

    counter = CompileCounter()
    compiled = bytegraph.compile(f, backend=counter, dynamic=False)   # every new size is a new entry
    with bytegraph.config.patch(recompile_limit=2), pytest.warns(RuntimeWarning, match="recompile limit") as record:
        for n in range(1, 6):
            x = torch.randn(n)
            assert same(compiled(x), f(x))
    assert counter.frame_count == 2
    assert len(compiled.entries) == 2
    assert sum("recompile limit" in str(w.message) for w in record) == 1


def test_arguments_by_keyword_bind_as_they_would_to_the_function():
    """A plain signature gets a generated dispatcher with the function's own parameter names:
    keywords bind as in eager, positional-only parameters refuse them as in eager, and a
    callee that broke can be called by keyword from compiled code."""
    def fn(x, k):
        return x * k

    def pos_only(x, k, /):
        return x + k

    def h(a, k):
        b = a + k
        print(end="")
        return b * 2

    def caller(x):
        return h(x, k=3) + 1

    counter = CompileCounter()
    cf, po, outer = (bytegraph.compile(f, backend=counter) for f in (fn, pos_only, caller))
    x = torch.ones(2)
    assert same(cf(x, k=2), fn(x, k=2)) and same(cf(k=3, x=x), x * 3) and same(cf(x, 2), x * 2)
    assert cf.stats.captures == 2                     # k=2 then k=3: the same guards by position
    with pytest.raises(TypeError) as mine:
        po(x, k=1)
    with pytest.raises(TypeError) as theirs:
        pos_only(x, k=1)
    assert str(mine.value).split("() ")[1] == str(theirs.value).split("() ")[1]
    for _ in range(2):
        assert same(outer(x), caller(x))
    assert all(st.eager == 0 for st in outer.stats_all)


def test_bad_calls_raise_what_eager_raises_and_late_defaults_apply():
    def f_simple(x, k):
        return x * k

    cf = bytegraph.compile(f_simple, backend=CompileCounter())
    x = torch.ones(2)
    cf(x, 2)
    for args, kwargs in (((x, 2, 3), {}), ((x,), {}), ((x, 2), {"x": x}), ((x, 2), {"z": 1}), ((), {})):
        with pytest.raises(TypeError) as mine:
            cf(*args, **kwargs)
        with pytest.raises(TypeError) as theirs:
            f_simple(*args, **kwargs)
        assert str(mine.value).split("() ", 1)[1] == str(theirs.value).split("() ", 1)[1]
    f_simple.__defaults__ = (5,)                  # set after compiling: calls may now omit k
    assert same(cf(x), x * 5) and same(cf(x, 3), x * 3)

    def f_self(self, entry, args):
        return self + entry + len(args)

    cs = bytegraph.compile(f_self, backend=CompileCounter())
    assert same(cs(self=x, entry=x, args=()), x * 2)


def test_reset_forgets_resume_functions_and_modules_report_all_stats():
    def fn(x):
        y = x + 1
        print(end="")
        return y * 2

    counter = CompileCounter()
    cf = bytegraph.compile(fn, backend=counter)
    cf(torch.ones(2))
    assert [st.captures for st in cf.stats_all] == [1, 1]
    cf.reset()
    assert cf.stats_all == [cf.stats] and cf.stats.captures == 0
    cf(torch.ones(2))
    assert [st.captures for st in cf.stats_all] == [1, 1] and counter.frame_count == 4

    class Net(torch.nn.Module):
        def forward(self, x):
            y = x + 1
            print(end="")
            return y * 2

    cm = bytegraph.compile(Net(), backend=counter)
    cm(torch.ones(2))
    assert cm.stats_all[0] is cm.stats
