"""A differential fuzzer for bytegraph: random programs, run eagerly and compiled, compared.

    make fuzz N=2000                       # a campaign: every flag on, prints the summary
    python -m tests.fuzz --n 500 --jobs 2 --backend eager --flags all [--shrink]
    python -m tests.fuzz --show 17         # the program of seed 17 and its calls
    python -m tests.fuzz --replay tests/fuzz/findings/*.py

How one program is made and checked (one seed, one program):

1. ``gen.generate(seed, flags)`` builds a ``program.Program`` from a grammar of statement
   templates (``gen.STATEMENTS``) and expression templates (``exprs.py``): tensor arithmetic,
   views and in-place ops on inputs and on views of them, Python control flow on shapes,
   ints and flags, loops, try/except/finally, with-blocks, closures, generators,
   comprehensions, containers and attributes of pre-existing objects, globals, graph breaks,
   identity checks, ``operator``, logging, ``functional_call``, optimizers, builtins. The
   world it runs in (``world.py``) is a module prelude: globals, a ``Box`` class, a logger
   whose handler appends to ``RECORDS``, modules, and ``ARGS`` for
   ``f(x, y, n, flag, lst, d, m, obj)``; between calls the same random state mutation is
   applied to both worlds (globals rebound, attributes and parameters replaced,
   train()/eval(), list lengths, dict keys, requires_grad, dtype and shape changes...).
2. ``runner.run_program`` builds two identical worlds from the source, compiles ``f`` in one,
   calls both several times and compares the results, the exceptions and everything
   observable (``observe.py``): bitwise for "eager"/"aot_eager", allclose for "inductor" and
   for a program that sets ``INEXACT`` (the reason why compiled code may differ in the last
   bits). Both worlds are built under the same RNG seed. torch's optimizers take other formulas
   when compiled (Adam: bias corrections from the step tensor, ``is_compiling()``), for
   torch.compile as for bytegraph: the eager world runs ``OPT.step`` on those formulas
   (``runner.compiled_formulas``), so optimizer state is compared bitwise too.
   A backward that raises leaves each leaf's ``.grad`` as it was before it (which leaves it
   reached first is the autograd engine's order, another one under AOTAutograd).
   Objects that existed before a call are compared by identity (by their path).
3. ``shrink.shrink`` cuts a failing program down (statements, branches, calls, mutations)
   while it fails the same way; ``--shrink`` writes the result as a finding file.

``flags.py`` lists constructs the generator adds only when asked, each with its status: a
construct bytegraph gets wrong stays out of ``flags.SLICE`` (the slice ``make test`` runs,
``test_fuzz_slice.py``) until its finding is fixed; ``make fuzz`` turns every flag on.
``findings/`` holds minimised failures, replayed by ``test_fuzz_findings.py``.
"""
