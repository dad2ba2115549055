"""Python floats that change between calls (issue 19), under backends that take floats only as
tensors (aot_eager, Inductor, a user's callable): the float becomes a 0-d float64 tensor input on
the recompile, so new values reuse the graph, and every result is eager's bit for bit (aot_eager
runs eager's kernels; Inductor is compared with a tolerance, and bitwise with itself where the
float is a constant).

Each test runs many values and asserts the exact number of graphs; where torch.compile is the
reference its count comes from the same calls (``_torch_graphs``, a counting wrapper around the
same backend).
"""

import math
import random

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

import bytegraph
from bytegraph.backends.registry import float_inputs, lookup_backend

TEMPERATURES = [0.5 + 0.1 * i for i in range(12)]


def _equal(a, b, exact=True, tol=1e-5):
    """Equal to eager's result: bitwise, or (``exact=False``, Inductor) within ``tol``."""
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(u, v, exact, tol) for u, v in zip(a, b))
    if isinstance(a, torch.Tensor):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return torch.equal(a, b) if exact else torch.allclose(a.double(), b.double(), rtol=tol, atol=tol)
    return type(a) is type(b) and (a == b or a != a and b != b)


def _graphs(cf, graphs, eager=0):
    """Exactly ``graphs`` captures, each one a graph (no break, no eager entry)."""
    st = cf.stats
    assert (st.captures, st.graphs, st.eager) == (graphs + eager, graphs, eager), st
    assert st.break_reasons == [], st


def _float_placeholders(cf):
    """Names of the float inputs of the newest graph."""
    gm = cf.entries[0].graph
    return [n.target for n in gm.graph.nodes if n.op == "placeholder" and n.target.startswith("float_as_tensor")]


def _torch_graphs(fn, calls, backend):
    """How many graphs torch.compile hands ``backend`` for the same calls."""
    torch._dynamo.reset()
    inner, count = torch._dynamo.lookup_backend(backend), [0]

    def counting(gm, example_inputs):
        count[0] += 1
        return inner(gm, example_inputs)

    compiled = torch.compile(fn, backend=counting)
    for args in calls:
        compiled(*args)
    torch._dynamo.reset()
    return count[0]


def _run(cf, fn, calls, exact=True):
    for args in calls:
        assert _equal(cf(*args), fn(*args), exact), args


# -- the headline: a temperature ------------------------------------------------------------------
def softmax_with_temperature(x, temp):
    return torch.softmax(x / temp, -1)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_twelve_temperatures_compile_twice(backend):
    x = torch.randn(4, 16)
    calls = [(x, t) for t in TEMPERATURES]
    cf = bytegraph.compile(softmax_with_temperature, backend=backend)
    _run(cf, softmax_with_temperature, calls, exact=backend == "aot_eager")
    _graphs(cf, 2)
    assert cf.stats.recompile_reasons == ["L['temp']: expected EQUALS_MATCH 0.5, got 0.6 (guard from builder rule "
                                          "'literal')"]
    assert _float_placeholders(cf) == ["float_as_tensor_L_temp_"]
    assert cf.stats.captures <= _torch_graphs(softmax_with_temperature, calls, backend)


def test_inductor_with_a_float_input_computes_what_it_computes_with_the_constant():
    """Inductor's kernels are not eager's, but the float's value reaches them exactly: the graph
    with the float as an input gives, bit for bit, what the graph with the float baked in gives,
    for float32 and half math. A bfloat16 tensor plus the float is within one bfloat16 rounding
    of it: Inductor 2.14 adds a baked-in constant in float32 and a float64 input in float64
    (2.13 did both in float64), so the last bit of a bfloat16 result may differ."""
    def fn(x, t):
        return (x.half() * t).float(), x.bfloat16() + t, x * (t + 0.1 + 0.2), torch.add(x, x, alpha=-t)

    x = torch.randn(8, 8)
    tensor_input = bytegraph.compile(fn, backend="inductor")
    for t in (0.3, 0.7):            # the second call compiles the graph with the float as an input
        tensor_input(x, t)
    _graphs(tensor_input, 2)
    for t in (1.3, 2.9):
        got, baked = tensor_input(x, t), bytegraph.compile(fn, backend="inductor", dynamic=False)(x, t)
        assert _equal(got[:1] + got[2:], baked[:1] + baked[2:])
        assert got[1].dtype == baked[1].dtype == torch.bfloat16
        torch.testing.assert_close(got[1], baked[1], rtol=2 ** -7, atol=2 ** -5)     # one bf16 ulp (|x + t| < 8)
        assert _equal(tensor_input(x, t), fn(x, t), exact=False, tol=2e-2)     # half-precision outputs
    _graphs(tensor_input, 2)


# -- arithmetic and type promotion: eager's bits ------------------------------------------------
def _python_arithmetic(x, t):
    s = t + 0.1 + 0.2                # not reassociated: torch.compile computes t + 0.30000000000000004
    u = (t * 3 - 2) / 7 + 1.0 / t - abs(-t) + math.sqrt(t) + float(t) + 3.0 / t
    return x * s, x * u, x * (t - 1e-8 - t), s, u


def _tensor_operands(x, t):
    floating = x.is_floating_point() or x.is_complex()
    out = [x * t, t * x, x + t, t + x, x / t, x == t, x != t, torch.add(x, t), torch.mul(x, t),
           torch.div(x, t), -t * x]
    if not x.is_complex():                  # torch's promotion of complex / unknown float reads the float:
        out += [t / x]                      # there it is a constant (specialized)
    if x.dtype is not torch.bool:           # bool tensors do not subtract
        out += [x - t, t - x, x.sub(t), torch.sub(x, t)]
    if not x.is_complex():                  # complex tensors are not ordered
        out += [x > t, t >= x, x.lt(t), torch.le(x, t)]
    if floating:                            # in place, the result keeps x's dtype
        out += [x.clone().mul_(t), x.clone().add_(t)]
    return tuple(out)


def _scalar_arguments(x, t):
    y = x if x.is_floating_point() else x.float()
    return (torch.add(y, y, alpha=-t), torch.clamp(y, min=-t, max=t), torch.full((3,), t) + y.flatten()[:3],
            F.leaky_relu(y, t), torch.where(y > 0, y, t), y.abs() ** t, y.new_full((2,), t), torch.lerp(y, 2 * y, t))


@pytest.mark.parametrize("program", [_python_arithmetic, _tensor_operands, _scalar_arguments],
                         ids=["python arithmetic", "tensor operands", "scalar arguments"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64,
                                   torch.bool, torch.complex64])
def test_results_are_eager_bitwise(program, dtype):
    """Python float arithmetic is float64 in program order; a float beside a tensor promotes as
    eager's wrapped number does (``int_tensor * t`` is float32, ``half * t`` half, computed with the
    double); a float an op takes as a Python number is one at run time."""
    if program is _scalar_arguments and dtype is torch.complex64:
        pytest.skip("clamp, leaky_relu and where do not take complex tensors")
    x = (torch.randn(6, 5) * 4).to(dtype) if dtype is not torch.bool else torch.randn(6, 5) > 0
    random.seed(dtype.itemsize)
    calls = [(x, random.uniform(0.05, 3.0)) for _ in range(24)] + [(x, 1 / 3), (x, math.nextafter(1 / 3, 1))]
    cf = bytegraph.compile(program, backend="aot_eager")
    _run(cf, program, calls)
    _graphs(cf, 2)


def test_int_tensor_compared_with_a_float_in_float32_as_eager():
    """Eager compares ``int_tensor > 0.5`` in float32 (the scalar does not promote), where a float64
    operand would compare in float64 (torch's tensorify pass does): 16777217 > 16777216.5 differs."""
    def fn(x, t):
        return x > t, x * t

    x = torch.tensor([16777215, 16777216, 16777217, 16777218])
    cf = bytegraph.compile(fn, backend="aot_eager")
    _run(cf, fn, [(x, t) for t in (0.5, 16777216.5, 16777217.0, 16777215.5)])
    _graphs(cf, 2)


def test_float_leaving_the_frame_is_the_python_float():
    """A computed float returned, stored on an object or passed on is the float eager computes."""
    class State:
        last = 0.0

    state = State()

    def fn(x, t):
        state.last = t * 0.9
        return x * t, t + 0.1 + 0.2, [t, -t], {"t": t / 3}

    cf = bytegraph.compile(fn, backend="aot_eager")
    for t in TEMPERATURES:
        got, got_last = cf(torch.ones(2), t), state.last
        assert _equal(got, fn(torch.ones(2), t)) and type(got_last) is float and got_last == state.last
    _graphs(cf, 2)


def test_zero_divisor_raises_zero_division_error_as_eager():
    """CPython raises on ``1.0 / 0.0`` where a float64 tensor gives inf: the divisor is guarded nonzero."""
    def fn(x, t):
        return x * (1.0 / (t - 0.5))

    cf = bytegraph.compile(fn, backend="aot_eager")
    x = torch.ones(3)
    for t in (0.75, 1.5, 2.5):
        assert _equal(cf(x, t), fn(x, t))
    with pytest.raises(ZeroDivisionError):
        cf(x, 0.5)
    assert _equal(cf(x, 4.5), fn(x, 4.5))
    assert cf.stats.captures == 3 and cf.stats.graphs == 2       # the zero ran eagerly
    assert cf.stats.recompile_reasons[1] == "symbolic shape guard failed: (L['t'] - 0.5) != 0.0"


# -- Python control flow ----------------------------------------------------------------------------
def test_float_in_a_python_branch_is_guarded_by_the_condition():
    def fn(x, t):
        if t > 1.0:
            return x * t
        return x - t

    x = torch.randn(3)
    values = [0.5, 1.5, 2.5, 0.25, 3.5, 0.75, 1.0, 1.0000000000000002, 7.0, 0.0]
    cf = bytegraph.compile(fn, backend="aot_eager")
    _run(cf, fn, [(x, t) for t in values])
    _graphs(cf, 3)                          # 0.5 (constant); then t > 1.0; then not (t > 1.0)
    assert cf.stats.recompile_reasons[1] == "symbolic shape guard failed: (L['t'] > 1.0)"
    assert cf.stats.captures <= _torch_graphs(fn, [(x, t) for t in values], "aot_eager")


def test_branch_on_a_computed_float_is_decided_with_the_programs_arithmetic():
    """The guard is the program's own expression, evaluated in Python: ``t * 3.0 > 1.0`` is never
    rewritten (as ``t > 0.333...``), so values at the boundary take eager's branch."""
    def fn(x, t):
        s = t * 3.0
        if s > 1.0:
            return x + s
        return x - s

    x = torch.zeros(2)
    third = 1 / 3
    values = [0.9, 0.8, third, math.nextafter(third, 1), math.nextafter(third, 0), 0.1, 0.7, third]
    cf = bytegraph.compile(fn, backend="aot_eager")
    _run(cf, fn, [(x, t) for t in values])
    _graphs(cf, 3)
    assert "(L['t'] * 3.0) > 1.0" in cf.stats.recompile_reasons[1]


def test_min_max_of_floats_are_guarded_comparisons():
    def fn(x, lr):
        return x * max(lr, 1e-3) + min(lr, 0.5)

    x = torch.ones(2)
    cf = bytegraph.compile(fn, backend="aot_eager")
    _run(cf, fn, [(x, lr) for lr in (0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 0.7)])
    _graphs(cf, 3)                          # 0.1; lr in [1e-3, 0.5]; lr > 0.5


def test_what_needs_the_python_value_specializes_on_it():
    """int(), round(), a string, an op that checks the value (dropout's range check): the float is
    a constant of the graph, guarded by value, and each value compiles (as in torch.compile)."""
    def fn(x, p):
        return F.dropout(x, p, training=False) * int(p * 10) + round(p, 1), f"{p:.2f}"

    x = torch.ones(3)
    values = [0.15, 0.25, 0.35, 0.35]
    cf = bytegraph.compile(fn, backend="aot_eager")
    _run(cf, fn, [(x, p) for p in values])
    _graphs(cf, 3)
    assert cf.stats.recompile_reasons[1].startswith("L['p']: expected EQUALS_MATCH 0.25, got 0.35 (guard from a "
                                                    "float made a constant:")


# -- where floats come from ---------------------------------------------------------------------------
class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.scale = 0.5

    def forward(self, x):
        return self.linear(x) * self.scale + self.scale * self.scale


GAIN = 0.5


def gain_by_global(x):
    return x * GAIN


def _closure_gain():
    gain = 0.5

    def fn(x):
        return x * gain

    def set_gain(v):
        nonlocal gain
        gain = v
    return fn, set_gain


def _set_global(v):
    global GAIN
    GAIN = v


def test_float_attribute_of_a_module():
    m = Scaled()
    cm = bytegraph.compile(m, backend="aot_eager")
    x = torch.randn(3, 4)
    for s in TEMPERATURES:
        m.scale = s
        assert _equal(cm(x), m(x))
    _graphs(cm, 2)
    assert _float_placeholders(cm) == ["float_as_tensor_L_module_scale_"]


@pytest.mark.parametrize("where", ["global", "closure"])
def test_float_global_and_closure_value(where):
    fn, setter = (gain_by_global, _set_global) if where == "global" else _closure_gain()
    cf = bytegraph.compile(fn, backend="aot_eager")
    x = torch.randn(3)
    try:
        for v in TEMPERATURES:
            setter(v)
            assert _equal(cf(x), fn(x))
    finally:
        setter(0.5)
    _graphs(cf, 2)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_lr_from_a_scheduler(backend):
    """An update step that reads the learning rate from the optimizer's ``param_groups``, with a
    scheduler changing it after every step: 12 learning rates, two graphs."""
    torch.manual_seed(0)
    model = nn.Linear(8, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)

    def sgd_update(w, g):
        lr = opt.param_groups[0]["lr"]
        return w - lr * g, w.add(g, alpha=-lr), lr

    cf = bytegraph.compile(sgd_update, backend=backend)
    w, g = model.weight.detach(), torch.randn(4, 8)
    seen = []
    for _ in range(12):
        seen.append(opt.param_groups[0]["lr"])
        assert _equal(cf(w, g), sgd_update(w, g), exact=backend == "aot_eager")
        opt.step()
        sched.step()
    assert len(set(seen)) == 12
    _graphs(cf, 2)
    assert _float_placeholders(cf) == ["float_as_tensor_L_opt_param_groups_0_lr_"]


def test_training_step_with_a_float_loss_weight_gets_eager_gradients():
    """The float is an input of the forward graph; gradients through ``loss * weight`` are eager's."""
    torch.manual_seed(0)
    model = nn.Linear(4, 2)

    def loss_fn(x, y, weight):
        return F.mse_loss(model(x), y) * weight

    cf = bytegraph.compile(loss_fn, backend="aot_eager")
    for weight in TEMPERATURES[:6]:
        x, y = torch.randn(5, 4), torch.randn(5, 2)
        cf(x, y, weight).backward()
        got = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        loss_fn(x, y, weight).backward()
        assert all(torch.equal(a, p.grad) for a, p in zip(got, model.parameters()))
        model.zero_grad()
    _graphs(cf, 2)


# -- keeping floats constant on request -----------------------------------------------------------------
def test_dynamic_false_keeps_floats_constant():
    cf = bytegraph.compile(softmax_with_temperature, backend="aot_eager", dynamic=False)
    x = torch.randn(2, 4)
    _run(cf, softmax_with_temperature, [(x, t) for t in TEMPERATURES[:4]])
    _graphs(cf, 4)
    assert _float_placeholders(cf) == []


def test_dynamic_true_makes_floats_inputs_from_the_first_call():
    cf = bytegraph.compile(softmax_with_temperature, backend="aot_eager", dynamic=True)
    x = torch.randn(2, 4)
    _run(cf, softmax_with_temperature, [(x, t) for t in TEMPERATURES])
    _graphs(cf, 1)
    assert _float_placeholders(cf) == ["float_as_tensor_L_temp_"]


@pytest.mark.parametrize("mark", ["instance", "class"])
def test_mark_static_keeps_the_floats_of_an_object_constant(mark):
    class Model(Scaled):
        def forward(self, x):
            return self.linear(x) * self.scale

    m = Model()
    bytegraph.mark_static(m if mark == "instance" else Model)
    cm = bytegraph.compile(m, backend="aot_eager")
    x = torch.randn(2, 4)
    for s in TEMPERATURES[:4]:
        m.scale = s
        assert _equal(cm(x), m(x))
    _graphs(cm, 4)
    assert _float_placeholders(cm) == []
    assert cm.stats.recompile_reasons[0].startswith("L['module'].scale: expected EQUALS_MATCH 0.5, got 0.6")


# -- backends -------------------------------------------------------------------------------------------
def test_how_each_backend_takes_floats():
    assert float_inputs(lookup_backend("eager")) == "symbolic"
    assert float_inputs(lookup_backend("aot_eager")) == "tensor"
    assert float_inputs(lookup_backend("inductor")) == "tensor"
    assert float_inputs(lambda gm, example_inputs: gm.forward) == "tensor"
    # CUDA graphs take no CPU scalar inputs: torch.compile keeps floats constant there too
    assert float_inputs(lookup_backend("inductor", mode="reduce-overhead")) == "constant"
    assert float_inputs(lookup_backend("cudagraphs")) == "constant"


def test_a_users_backend_gets_the_float_as_a_float64_tensor():
    received = []

    def backend(gm, example_inputs):
        received.append(example_inputs)
        return gm.forward

    cf = bytegraph.compile(softmax_with_temperature, backend=backend)
    x = torch.randn(2, 4)
    _run(cf, softmax_with_temperature, [(x, t) for t in TEMPERATURES])
    _graphs(cf, 2)
    t = received[-1][1]
    assert isinstance(t, torch.Tensor) and t.dtype is torch.float64 and t.dim() == 0 and t.device.type == "cpu"


def test_a_backend_that_cannot_take_a_float_as_a_number_gets_a_constant():
    """A backend that fails on the graph (here: on ``.item()``) is handed it again with the float
    a constant, guarded by value; the program never fails because of it."""
    def strict(gm, example_inputs):
        if any(n.target == "item" for n in gm.graph.nodes):
            raise NotImplementedError("no .item() here")
        return gm.forward

    def fn(x, t):
        return torch.clamp(x, min=t)

    cf = bytegraph.compile(fn, backend=strict)
    x = torch.randn(5)
    _run(cf, fn, [(x, t) for t in (0.1, 0.2, 0.3)])
    _graphs(cf, 3)
    assert "the backend could not compile it" in cf.stats.recompile_reasons[1]


def test_zero_dim_float64_tensor_input_compiles_with_aot_backends():
    """torch gives a 0-d float64 CPU tensor input a float symbol for ``.item()``, which AOTAutograd's
    tensorify pass asks to specialize; it is named up front (it used to end in an eager fallback)."""
    def fn(x, t):
        return x * t

    cf = bytegraph.compile(fn, backend="aot_eager")
    _run(cf, fn, [(torch.ones(3), torch.tensor(v, dtype=torch.float64)) for v in (0.5, 0.7, 0.9)])
    _graphs(cf, 1)


def test_float_specialized_without_a_graph_op_is_still_guarded():
    """A frame whose only use of the float needs its value (no tensor op at all): the value guard
    must hold even though no graph is compiled."""
    def fn(t):
        return round(t, 1)

    cf = bytegraph.compile(fn, backend="aot_eager")
    assert [cf(t) for t in (0.14, 0.26, 0.37, 0.26)] == [0.1, 0.3, 0.4, 0.3]
    assert cf.stats.captures == 3 and cf.stats.eager == 0


def test_float_only_compared_is_not_passed_to_the_graph():
    """A float used only in a branch decides it under a guard; the graph does not take it."""
    def fn(x, t):
        return x * 2 if t > 1.0 else x * 3

    cf = bytegraph.compile(fn, backend="aot_eager")
    x = torch.ones(2)
    _run(cf, fn, [(x, t) for t in (0.5, 0.7, 0.9, 1.5, 2.5)])
    _graphs(cf, 3)
    assert _float_placeholders(cf) == []
