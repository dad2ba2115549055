"""Golden text of ``bytegraph.explain``: graphs, breaks with user source, guards as Python with reasons.

Each program is defined from inline source as ``prog.py`` (conftest.load_program), so file
names and line numbers in the expected text count from the snippet. The text must be
exactly this; ``normalize`` only masks object ids and bytegraph's own line numbers.
"""

from __future__ import annotations

import textwrap

import torch

import bytegraph


def test_print_break(program, normalize):
    """print() breaks the graph; the rest of f is captured by a resume function."""
    ns = program("""
        import torch

        def f(x, n):
            y = torch.sin(x) + n
            print("y computed")
            return y.cos() * 2
    """)
    out = bytegraph.explain(ns['f'], torch.ones(3), 2)
    assert normalize(str(out)) == textwrap.dedent("""\
        bytegraph explain: f
        2 captures of 2 functions: 2 graphs (4 ops), 1 graph break (GB009), 0 frames run eagerly, 0 recompiles

        capture 1: f (prog.py:3): graph + break
          graph (2 ops):
            def forward(self, L_x_):
                l_x_ = L_x_
                sin = torch.sin(l_x_);  l_x_ = None
                add = sin + 2;  sin = None
                return (add,)
          graph break GB009: print, logging or I/O
            what: print()
            at prog.py:5 in f
                print("y computed")
            why: the call has effects outside the program (it writes somewhere) and cannot be part of a graph
            fix: remove it from the compiled function, or accept the graph break
          guards (7):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            G['torch'] is <module torch>                                      # builder rule 'python module'
            check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'
            L['n'] == 2                                                       # builder rule 'literal'
            'print' not in G                                                  # a builtin read: no global shadows it
            sys.modules['torch'].__dict__['sin'] is <builtin_function_or_method _VariableFunctionsClass.sin>  # a torch function the program could replace
            sys.modules['builtins'].__dict__['print'] is <builtin_function_or_method print>  # builder rule 'builtin'

        capture 2: f_resume_at_13 (resumes f at prog.py:5): graph
          graph (2 ops):
            def forward(self, L_y_):
                l_y_ = L_y_
                cos = l_y_.cos();  l_y_ = None
                mul = cos * 2;  cos = None
                return (mul,)
          guards (3):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            L['___stack0'] is None                                            # builder rule 'literal'
            check_tensor(L['y'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'
    """).rstrip("\n")


def test_branch(program, normalize):
    """A branch on tensor data: the jump runs natively, the taken side resumes."""
    ns = program("""
        def f(x):
            y = x.sin()
            if y.sum() > 0:
                return y + 1
            return y - 1
    """)
    out = bytegraph.explain(ns['f'], torch.ones(3))
    assert normalize(str(out)) == textwrap.dedent("""\
        bytegraph explain: f
        2 captures of 2 functions: 2 graphs (4 ops), 1 graph break (GB002), 0 frames run eagerly, 0 recompiles

        capture 1: f (prog.py:1): graph + break
          graph (3 ops):
            def forward(self, L_x_):
                l_x_ = L_x_
                sin = l_x_.sin();  l_x_ = None
                sum_1 = sin.sum()
                gt = sum_1 > 0;  sum_1 = None
                return (gt, sin)
          graph break GB002: branch on a tensor value
            what: bool() of tensor (bool[])
            at prog.py:3 in f
                if y.sum() > 0:
            why: the condition depends on tensor data, which is unknown while tracing
            fix: use torch.where(...), or move the check outside the compiled function
          guards (2):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'

        capture 2: f_resume_at_13 (resumes f at prog.py:4): graph
          graph (1 op):
            def forward(self, L_y_):
                l_y_ = L_y_
                add = l_y_ + 1;  l_y_ = None
                return (add,)
          guards (2):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            check_tensor(L['y'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'
    """).rstrip("\n")


def test_item(program, normalize):
    """.item() needs the data: the graph ends before it, the number feeds the resume function."""
    ns = program("""
        def f(x):
            n = x.sum().item()
            return x * n
    """)
    out = bytegraph.explain(ns['f'], torch.ones(3))
    assert normalize(str(out)) == textwrap.dedent("""\
        bytegraph explain: f
        2 captures of 2 functions: 2 graphs (2 ops), 1 graph break (GB003), 0 frames run eagerly, 0 recompiles

        capture 1: f (prog.py:1): graph + break
          graph (1 op):
            def forward(self, L_x_):
                l_x_ = L_x_
                sum_1 = l_x_.sum();  l_x_ = None
                return (sum_1,)
          graph break GB003: operation needs tensor data
            what: Tensor.item() on tensor (float32[])
            at prog.py:2 in f
                n = x.sum().item()
            why: the result depends on the values inside a tensor (e.g. .item(), .tolist(), nonzero), which are unknown while tracing
            fix: keep the value as a tensor, or move this use outside the compiled function
          guards (2):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'

        capture 2: f_resume_at_8 (resumes f at prog.py:2): graph
          graph (1 op):
            def forward(self, L_x_):
                l_x_ = L_x_
                mul = l_x_ * 3.0;  l_x_ = None
                return (mul,)
          guards (3):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            L['___stack0'] == 3.0                                             # builder rule 'literal'
            check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'
    """).rstrip("\n")


def test_c_call(program, normalize):
    """A C function bytegraph does not know: nothing to capture before it, the rest resumes."""
    ns = program("""
        import zlib

        def f(x):
            t = zlib.crc32(b"bytegraph")
            return x + t
    """)
    out = bytegraph.explain(ns['f'], torch.ones(2))
    assert normalize(str(out)) == textwrap.dedent("""\
        bytegraph explain: f
        2 captures of 2 functions: 1 graph (1 op), 1 graph break (GB004), 0 frames run eagerly, 0 recompiles

        capture 1: f (prog.py:3): break
          graph break GB004: call to a function bytegraph cannot trace
            what: calling builtin_function_or_method object G['zlib'].crc32
            at prog.py:4 in f
                t = zlib.crc32(b"bytegraph")
            why: the callee is implemented in C (or is otherwise opaque) and is not known to be safe to put in the graph or to evaluate at trace time
            fix: call it outside the compiled function, or replace it with a torch operation
          guards (3):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            G['zlib'] is <module zlib>                                        # builder rule 'python module'
            type(G['zlib'].crc32) is builtin_function_or_method               # builder rule 'user object'

        capture 2: f_resume_at_6 (resumes f at prog.py:4): graph
          graph (1 op):
            def forward(self, L_x_):
                l_x_ = L_x_
                add = l_x_ + 2835001127;  l_x_ = None
                return (add,)
          guards (3):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            L['___stack0'] == 2835001127                                      # builder rule 'literal'
            check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[2], stride=[1])  # builder rule 'tensor'
    """).rstrip("\n")


def test_user_exception(program, normalize):
    """The program raises: the frame runs eagerly and explain reports the exception."""
    ns = program("""
        def f(x):
            y = x + 1
            if y.shape[0] > 2:
                raise ValueError("too big")
            return y
    """)
    out = bytegraph.explain(ns['f'], torch.ones(3))
    assert normalize(str(out)) == textwrap.dedent("""\
        bytegraph explain: f
        1 capture of 1 function: 0 graphs (0 ops), 0 graph breaks, 1 frame run eagerly, 0 recompiles

        capture 1: f (prog.py:1): eager
          runs eagerly because the program raises ValueError at prog.py:4 in f
              raise ValueError("too big")
          guards (4):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'
            'ValueError' not in G                                             # a builtin read: no global shadows it
            sys.modules['builtins'].__dict__['ValueError'] is <type ValueError>  # builder rule 'builtin'

        the call raised ValueError: too big
    """).rstrip("\n")


def test_callee_break(program, normalize):
    """A break inside an inlined callee: the callee is captured as a frame of its own."""
    ns = program("""
        def helper(y):
            print("in helper")
            return y * 2

        def f(x):
            return helper(x + 1) - 1
    """)
    out = bytegraph.explain(ns['f'], torch.ones(3))
    assert normalize(str(out)) == textwrap.dedent("""\
        bytegraph explain: f
        4 captures of 4 functions: 3 graphs (3 ops), 2 graph breaks (GB009), 0 frames run eagerly, 0 recompiles

        capture 1: f (prog.py:5): graph + break
          graph (1 op):
            def forward(self, L_x_):
                l_x_ = L_x_
                add = l_x_ + 1;  l_x_ = None
                return (add,)
          graph break GB009: print, logging or I/O
            what: print()
            at prog.py:2 in helper
                print("in helper")
            called from prog.py:6 in f
            why: the call has effects outside the program (it writes somewhere) and cannot be part of a graph
            fix: remove it from the compiled function, or accept the graph break
          guards (3):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            G['helper'].__code__ is <code helper at prog.py:1>                # builder rule 'python function'
            check_tensor(L['x'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'

        capture 2: helper (prog.py:1): break
          graph break GB009: print, logging or I/O
            what: print()
            at prog.py:2 in helper
                print("in helper")
            why: the call has effects outside the program (it writes somewhere) and cannot be part of a graph
            fix: remove it from the compiled function, or accept the graph break
          guards (3):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            'print' not in G                                                  # a builtin read: no global shadows it
            sys.modules['builtins'].__dict__['print'] is <builtin_function_or_method print>  # builder rule 'builtin'

        capture 3: helper_resume_at_5 (resumes helper at prog.py:2): graph
          graph (1 op):
            def forward(self, L_y_):
                l_y_ = L_y_
                mul = l_y_ * 2;  l_y_ = None
                return (mul,)
          guards (3):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            L['___stack0'] is None                                            # builder rule 'literal'
            check_tensor(L['y'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'

        capture 4: f_resume_at_7 (resumes f at prog.py:6): graph
          graph (1 op):
            def forward(self, L____stack0_):
                l____stack0_ = L____stack0_
                sub = l____stack0_ - 1;  l____stack0_ = None
                return (sub,)
          guards (2):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            check_tensor(L['___stack0'], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[3], stride=[1])  # builder rule 'tensor'
    """).rstrip("\n")


def test_module(program, normalize):
    """A module: the root frame is bytegraph's call_module; parameters are graph inputs."""
    ns = program("""
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(3, 2)

            def forward(self, x):
                return self.fc(x).relu()
    """)
    out = bytegraph.explain(ns['Net'](), torch.ones(2, 3))
    assert normalize(str(out)) == textwrap.dedent("""\
        bytegraph explain: Net
        1 capture of 1 function: 1 graph (2 ops), 0 graph breaks, 0 frames run eagerly, 0 recompiles

        capture 1: call_module (the root frame of a compiled nn.Module): graph
          graph (2 ops):
            def forward(self, L_args_0_, L_module__modules_fc__parameters_weight_, L_module__modules_fc__parameters_bias_):
                l_args_0_ = L_args_0_
                l_module__modules_fc__parameters_weight_ = L_module__modules_fc__parameters_weight_
                l_module__modules_fc__parameters_bias_ = L_module__modules_fc__parameters_bias_
                linear = torch._C._nn.linear(l_args_0_, l_module__modules_fc__parameters_weight_, l_module__modules_fc__parameters_bias_);  l_args_0_ = l_module__modules_fc__parameters_weight_ = l_module__modules_fc__parameters_bias_ = None
                relu = linear.relu();  linear = None
                return (relu,)
          guards (13):
            torch.is_grad_enabled() is True and torch.get_default_dtype() is torch.float32  # torch global state at capture (autocast, deterministic... too)
            no_global_module_hooks()                                          # module call without hooks
            len(L['args']) == 1                                               # *args length
            not L['kwargs']                                                   # **kwargs keys
            type(L['module']) is prog.Net                                     # builder rule 'nn.Module'
            has_no_hooks(L['module'])                                         # module call without hooks (no (pre-)hooks, not Module.compile()d)
            check_tensor(L['args'][0], torch.Tensor, torch.float32, device='cpu', requires_grad=False, size=[2, 3], stride=[3, 1])  # builder rule 'tensor'
            sys.modules['torch.nn.functional'].__dict__['linear'] is <builtin_function_or_method linear>  # a torch function the program could replace
            type(L['module']).forward.__code__ is <code Net.forward at prog.py:8>  # builder rule 'python function'
            type(L['module']._modules['fc']) is torch.nn.Linear               # builder rule 'nn.Module'
            has_no_hooks(L['module']._modules['fc'])                          # module call without hooks (no (pre-)hooks, not Module.compile()d)
            check_tensor(L['module']._modules['fc']._parameters['weight'], torch.nn.Parameter, torch.float32, device='cpu', requires_grad=True, size=[2, 3], stride=[3, 1])  # builder rule 'tensor'
            check_tensor(L['module']._modules['fc']._parameters['bias'], torch.nn.Parameter, torch.float32, device='cpu', requires_grad=True, size=[2], stride=[1])  # builder rule 'tensor'
    """).rstrip("\n")


def test_output_object(program):
    """Besides its text, the output holds the graphs, the break messages and the program's exception."""
    ns = program("""
        def f(x):
            y = x.sin()
            print("hi")
            if y.sum() > 100:
                raise ValueError("big")
            return y.cos()
    """)
    out = bytegraph.explain(ns["f"], torch.ones(3))
    assert all(isinstance(gm, torch.fx.GraphModule) for gm in out.graphs) and len(out.graphs) == 3
    assert out.graph_count == 3 and out.op_count() == 4
    assert [b.splitlines()[0] for b in out.breaks] == ["graph break GB009: print, logging or I/O",
                                                       "graph break GB002: branch on a tensor value"]
    assert out.exception is None and out.recompile_reasons == []
    assert [c.function for c in out.captures] == ["f", "f_resume_at_10", "f_resume_at_23"]
