"""HuggingFace models: bytegraph vs torch.compile(backend="eager"), in one process.

For every model of ``bytegraph.zoo.ZOO`` (small configs, random weights, no downloads):
graphs compiled, whether the output equals eager, and the first-call capture time of each
(the call that traces; the backend counts graphs and runs them as Python for both, so this is
frontend time). Inference runs in eval mode under no_grad; ``--train`` runs the models with a
loss head in train mode (``zoo.TRAINING``) and compares the loss and every gradient.
Prints a table, the count of single-graph models for each, the median ratio of capture
times, and why bytegraph split any model.

    python benchmarks/models.py [--train] [names...]

Targets (issue #8, inference): at least as many models captured as one graph as
torch.compile, and a median capture time at most 1/2 of torch.compile's. With ``--train`` the
first call also runs forward and backward for real (the same work for both).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Any, Callable

import torch
import torch._dynamo

import bytegraph
from bytegraph.testing import CompileCounter, same
from bytegraph.zoo import TRAINING, ZOO, build


def _first(out: Any) -> Any:
    return out[0] if not isinstance(out, torch.Tensor) else out


def _infer(compiled: Any, model: Any, make_inputs: Callable[..., dict]) -> tuple[float, bool]:
    inputs = make_inputs(16)
    with torch.no_grad():
        t0 = time.perf_counter()
        out = compiled(**inputs)
        first = time.perf_counter() - t0
        return first, same(_first(out), _first(model(**inputs)), rtol=1e-4, atol=1e-5)


def _grads(model: Any, run: Callable[[], Any]) -> tuple[Any, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = run()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _train(compiled: Any, model: Any, make_inputs: Callable[..., dict]) -> tuple[float, bool]:
    ids = make_inputs(12)["input_ids"]
    model.train()
    t0 = time.perf_counter()
    loss, ours = _grads(model, lambda: compiled(input_ids=ids, labels=ids).loss)
    first = time.perf_counter() - t0
    ref, theirs = _grads(model, lambda: model(input_ids=ids, labels=ids).loss)
    ok = same(loss, ref, rtol=1e-5, atol=1e-6) and ours.keys() == theirs.keys() and bool(ours) \
        and all(same(ours[k], theirs[k], rtol=1e-4, atol=1e-5) for k in ours)
    return first, ok


def _run(compile_fn: Callable[[Any, Any], Any], name: str, head: str | None) -> dict[str, Any]:
    model, make_inputs = build(name, head)
    counter = CompileCounter()
    compiled = compile_fn(model, counter)
    first, ok = (_train if head else _infer)(compiled, model, make_inputs)
    stats = getattr(getattr(compiled, "_bytegraph", None), "stats_all", [])
    why = [r.splitlines()[1].strip() for st in stats for r in st.break_reasons + st.eager_reasons]
    return {"graphs": counter.frame_count, "first_s": first, "ok": ok, "why": why}


def _bytegraph(model: Any, counter: CompileCounter) -> Any:
    return bytegraph.compile(model, backend=counter)


def _torch_compile(model: Any, counter: CompileCounter) -> Any:
    torch._dynamo.reset()
    return torch.compile(model, backend=counter)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="store_true", help="models with a loss head, forward + backward")
    ap.add_argument("names", nargs="*", help="zoo models (default: all; with --train: zoo.TRAINING)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    heads = dict(TRAINING) if args.train else dict.fromkeys(ZOO)
    names = args.names or sorted(heads)
    _run(_bytegraph, names[0], heads[names[0]])          # warm both up once (imports, first-use caches)
    _run(_torch_compile, names[0], heads[names[0]])
    import transformers

    what = "training: loss + backward, train mode" if args.train else "inference: eval, no_grad"
    print(f"torch {torch.__version__}, transformers {transformers.__version__}; {what}; "
          f"first call = capture + counting backend; seconds")
    header = f"{'model':<12}{'family':<17}{'bg graphs':>10}{'tc graphs':>10}{'bg ok':>7}{'tc ok':>7}" \
             f"{'bg first':>10}{'tc first':>10}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    ratios, bg_single, tc_single, splits = [], 0, 0, {}
    for name in names:
        bg = _run(_bytegraph, name, heads[name])
        tc = _run(_torch_compile, name, heads[name])
        ratio = tc["first_s"] / bg["first_s"]
        ratios.append(ratio)
        bg_single += bg["graphs"] == 1 and bg["ok"]
        tc_single += tc["graphs"] == 1 and tc["ok"]
        if bg["why"]:
            splits[name] = bg["why"]
        print(f"{name:<12}{ZOO[name].family:<17}{bg['graphs']:>10}{tc['graphs']:>10}"
              f"{str(bg['ok']):>7}{str(tc['ok']):>7}{bg['first_s']:>10.2f}{tc['first_s']:>10.2f}{ratio:>7.1f}x")
    print(f"\nsingle-graph models matching eager: bytegraph {bg_single}/{len(names)}, "
          f"torch.compile {tc_single}/{len(names)}")
    target = "" if args.train else " (target >= 2x)"
    print(f"median first-call time ratio torch.compile / bytegraph: {statistics.median(ratios):.1f}x{target}")
    for name, why in splits.items():
        print(f"bytegraph split {name}: " + "; ".join(dict.fromkeys(why)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
