"""Builder rules "nn.Module" and "compiled by bytegraph" (docs/builder.md). A module is
guarded by type; submodules, parameters and buffers are read through ``_modules``,
``_parameters`` and ``_buffers`` as used; hooks are guarded (NO_MODULE_HOOKS) or traced.
Each case: (a) use, (b) change what is guarded (a submodule, a container's length, a hook,
the training flag) and see a recompile naming the source, (c) change what is not (parameter
values, an unused submodule) and see none."""

import copy

import torch
from torch import nn

import bytegraph
from bytegraph.testing import same


def _assert_counts(counter, cm, graphs, recompiles):
    assert cm.stats.eager_reasons == [] and cm.stats.break_reasons == []
    assert counter.frame_count == graphs
    assert cm.stats.recompiles == recompiles


def _run(cm, model, calls=2, shape=(2, 4)):
    for _ in range(calls):
        x = torch.randn(*shape)
        assert same(cm(x), model(x))


class Tower(nn.Module):
    def __init__(self, n=3, dim=4):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(n)])
        self.heads = nn.ModuleDict({"a": nn.Linear(dim, 2), "b": nn.Linear(dim, 1)})
        self.seq = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.Tanh())
        self.spare = nn.Linear(dim, dim)              # never called

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).relu()
        return torch.cat([head(x) for head in self.heads.values()], -1)


# -- submodules ---------------------------------------------------------------------------------------
def test_submodule_of_another_type_recompiles_unused_one_does_not(counter):
    model = Tower()
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model)
    model.spare = nn.Identity()
    with torch.no_grad():
        model.layers[0].weight.mul_(2)                 # parameter values: read, not guarded
    _run(cm, model)
    _assert_counts(counter, cm, 1, 0)
    model.heads["b"] = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())
    _run(cm, model)
    _assert_counts(counter, cm, 2, 1)
    assert cm.stats.recompile_reasons[0].startswith("L['module']._modules['heads']._modules['b']: expected TYPE_MATCH")


def test_parameter_replaced_with_another_shape_recompiles(counter):
    model = nn.Linear(4, 3)
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model)
    model.bias = nn.Parameter(torch.randn(3))          # same spec: read again, no recompile
    _run(cm, model)
    _assert_counts(counter, cm, 1, 0)
    model.bias = nn.Parameter(torch.randn(1))          # broadcasts: a new graph
    _run(cm, model)
    _assert_counts(counter, cm, 2, 1)
    assert cm.stats.recompile_reasons[0].startswith("L['module']._parameters['bias']: size mismatch")


def test_module_passed_as_an_argument(counter):
    def fn(m, x):
        return m(x).sum(-1)

    cf = bytegraph.compile(fn, backend=counter)
    for m in (nn.Linear(4, 2), nn.Linear(4, 2), nn.Linear(4, 2, bias=False)):   # other instances, same class
        x = torch.randn(3, 4)
        assert same(cf(m, x), fn(m, x))
    _assert_counts(counter, cf, 2, 1)
    assert cf.stats.recompile_reasons[0].startswith("L['m']._parameters['bias']")


# -- containers: iteration, indexing, slicing ----------------------------------------------------------------
def test_module_list_iteration_length_is_guarded(counter):
    model = Tower()
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model)
    model.layers.append(nn.Linear(4, 4))
    _run(cm, model)
    _assert_counts(counter, cm, 2, 1)
    assert "L['module']._modules['layers']" in cm.stats.recompile_reasons[0]


def test_module_dict_keys_are_guarded(counter):
    model = Tower()
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model)
    model.heads["c"] = nn.Linear(4, 3)
    _run(cm, model)
    _assert_counts(counter, cm, 2, 1)
    assert "L['module']._modules['heads']" in cm.stats.recompile_reasons[0]


class Indexed(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh())
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(4)])

    def forward(self, x):
        x = self.seq[1:](self.layers[-2](x))
        for layer in self.layers[::2]:
            x = layer(x)
        return self.layers[-1](x) + len(self.layers[1:3])


def test_module_list_negative_index_and_slices_sequential_slice(counter):
    model = Indexed()
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model, calls=3)
    _assert_counts(counter, cm, 1, 0)
    model.layers[2] = nn.Identity()                      # layers[-2] (and layers[::2]) is now another type
    _run(cm, model)
    _assert_counts(counter, cm, 2, 1)
    assert cm.stats.recompile_reasons[0].startswith("L['module']._modules['layers']._modules['2']")


def test_sequential_integer_and_negative_index(counter):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh())

        def forward(self, x):
            return self.seq[-1](self.seq[-2](self.seq[0](x)))

    model = Model()
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model, calls=3)
    _assert_counts(counter, cm, 1, 0)
    model.seq[3] = nn.Sigmoid()
    _run(cm, model)
    _assert_counts(counter, cm, 2, 1)
    assert cm.stats.recompile_reasons[0].startswith("L['module']._modules['seq']._modules['3']")


def test_sequential_iterated_in_forward(counter):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 4))

        def forward(self, x):
            outs = []
            for i, block in enumerate(self.body):
                x = block(x)
                outs.append(x * i)
            return sum(outs)

    model = Model()
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model, calls=3)
    _assert_counts(counter, cm, 1, 0)
    model.body.append(nn.Dropout(0.0))
    _run(cm, model)
    _assert_counts(counter, cm, 2, 1)
    assert "L['module']._modules['body']" in cm.stats.recompile_reasons[0]


# -- hooks ---------------------------------------------------------------------------------------------------
def test_forward_pre_hook_added_recompiles_removed_hits_the_first_entry(counter):
    model = Tower()
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model)
    handle = model.register_forward_pre_hook(lambda mod, args: (args[0] * 3,))
    _run(cm, model)
    handle.remove()
    _run(cm, model)
    _assert_counts(counter, cm, 2, 1)
    assert "L['module']" in cm.stats.recompile_reasons[0] and "hook" in cm.stats.recompile_reasons[0]


def test_forward_hook_on_a_submodule_is_traced(counter):
    model = Tower()
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model)
    handle = model.layers[1].register_forward_hook(lambda mod, args, out: out - 5)
    _run(cm, model, calls=3)
    handle.remove()
    _run(cm, model)
    _assert_counts(counter, cm, 2, 1)
    assert cm.stats.recompile_reasons[0].startswith("L['module']._modules['layers']._modules['1']")
    assert "hook" in cm.stats.recompile_reasons[0]


def test_hook_with_kwargs_and_always_call(counter):
    model = nn.Linear(4, 4)
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, model)
    model.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] + 1,), kwargs), with_kwargs=True)
    model.register_forward_hook(lambda mod, args, out: out * 2, always_call=True)
    _run(cm, model, calls=3)
    _assert_counts(counter, cm, 2, 1)


# -- training flag ------------------------------------------------------------------------------------------------
def test_training_flag_of_one_submodule_recompiles(counter):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.norm = nn.BatchNorm1d(4)

        def forward(self, x):
            return self.norm(self.lin(x))

    model = Model()
    ref = copy.deepcopy(model)
    cm = bytegraph.compile(model, backend=counter)
    for norm_training in (True, True, False, False):
        model.norm.train(norm_training)
        ref.norm.train(norm_training)
        x = torch.randn(5, 4)
        assert same(cm(x), ref(x)) and same(model.norm.running_mean, ref.norm.running_mean)
    model.lin.eval()                                     # Linear never reads its flag
    x = torch.randn(5, 4)
    assert same(cm(x), ref(x))
    _assert_counts(counter, cm, 2, 1)
    assert cm.stats.recompile_reasons[0].startswith("L['module']._modules['norm'].training")


# -- a module compiled by bytegraph, used inside another model --------------------------------------------------------
class Outer(nn.Module):
    def __init__(self, inner, out):
        super().__init__()
        self.inner = inner
        self.out = out

    def forward(self, x):
        return self.out(self.inner(x) + x)


def test_compiled_submodule_is_traced_into_the_outer_graph(counter):
    inner_counter = type(counter)()
    plain = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    inner = bytegraph.compile(plain, backend=inner_counter)
    model = Outer(inner, nn.Linear(4, 2))
    ref = Outer(plain, model.out)                        # the same parameters, nothing compiled
    cm = bytegraph.compile(model, backend=counter)
    _run(cm, ref, calls=3)
    _assert_counts(counter, cm, 1, 0)
    assert counter.op_count == 4                           # linear, relu, add, linear: one graph
    assert inner_counter.frame_count == 0 and inner.stats.captures == 0
    plain[1] = nn.Tanh()                                 # the wrapped module changed: guarded through it
    _run(cm, ref)
    _assert_counts(counter, cm, 2, 1)
    assert cm.stats.recompile_reasons[0].startswith(
        "L['module']._modules['inner']._bytegraph_orig._modules['1']: expected TYPE_MATCH ReLU, got type Tanh")


def test_compiled_function_called_from_a_compiled_module(counter):
    gate_counter = type(counter)()

    @bytegraph.compile(backend=gate_counter)
    def gate(t, k):
        return torch.sigmoid(t) * k

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.k = 2

        def forward(self, x):
            return gate(self.lin(x), self.k)

    model = Model()
    cm = bytegraph.compile(model, backend=counter)
    for k in (2, 2, 3, 3):
        model.k = k
        x = torch.randn(2, 4)
        assert same(cm(x), torch.sigmoid(model.lin(x)) * k)
    _assert_counts(counter, cm, 2, 1)
    assert gate_counter.frame_count == 0 and gate.stats.captures == 0
    assert cm.stats.recompile_reasons[0].startswith("L['module'].k: expected EQUALS_MATCH 2, got 3")
