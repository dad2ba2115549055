"""The fuzz campaign: ``python -m tests.fuzz --n N --seed S --backend eager --jobs J``.

Programs ``S .. S+N-1`` run in worker processes, ``--chunk`` programs per process (a fresh
process per chunk keeps the process state small; a worker that crashes or hangs loses only
the program it was running, recorded as ``crash``). Each worker prints one ``@@FUZZ {json}``
line per program. The summary gives programs run, mismatches, exceptions reaching the user,
internal fallbacks and eager fallbacks by reason, graph breaks by kind, the commit and the
time. ``--shrink`` minimises the first failure of each kind and writes it as a finding file.

Other modes: ``--show SEED`` prints a program; ``--replay FILE...`` runs finding files;
``--worker`` is what the campaign starts.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any, Iterator

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:                      # `python tests/fuzz/run.py` as well as `-m tests.fuzz`
    sys.path.insert(0, str(ROOT))

from tests.fuzz import flags as fuzz_flags  # noqa: E402

MARK = "@@FUZZ "
FAILURES = ("mismatch", "exception", "crash")


_NOISY_LOGGERS = ("torch._subclasses.fake_tensor", "torch.fx.experimental.symbolic_shapes", "torch._dynamo")


def _quiet_torch() -> None:
    """Fake tensors log every op that raises on them at ERROR level; the programs make many."""
    import logging
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def quiet_torch() -> Iterator[None]:
    """``_quiet_torch`` for a while (the tests: other test modules look at those loggers)."""
    import logging
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    _quiet_torch()
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def worker(start: int, count: int, backend: str, flags: frozenset[str], timeout_s: float) -> None:
    from tests.fuzz.gen import generate
    from tests.fuzz.runner import run_program
    import gc
    _quiet_torch()
    out = os.fdopen(os.dup(1), "w", buffering=1)   # programs print to sys.stdout (redirected per call)
    from tests.fuzz.runner import Outcome, leftover_modes
    for seed in range(start, start + count):
        out.write(MARK + json.dumps({"seed": seed, "started": True}) + "\n")
        t0 = time.perf_counter()
        try:
            prog = generate(seed, flags)
            o = run_program(prog.source(), prog.call_sources(), backend=backend, seed=seed, timeout_s=timeout_s)
        except Exception as e:   # noqa: BLE001 - the harness itself failed on this program: say so, go on
            import traceback
            o = Outcome("crash", f"fuzz harness error {type(e).__name__}: {e}\n{traceback.format_exc()[-1500:]}")
        record = {"seed": seed, "status": o.status, "detail": o.detail[:2000], "call": o.call,
                  "eager_reasons": o.eager_reasons, "internal": o.internal, "breaks": o.breaks, "graphs": o.graphs,
                  "eager_raised": o.eager_raised, "seconds": round(time.perf_counter() - t0, 3)}
        out.write(MARK + json.dumps(record) + "\n")
        if leftover_modes():
            break           # torch's process state is still corrupted: later programs start in a fresh process
        if seed % 20 == 0:
            gc.collect()
    out.flush()
    os._exit(0)          # skip interpreter teardown (it has hung in native code after many programs)


class Campaign:
    """Runs chunks of seeds in worker processes and aggregates their records."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.records: list[dict[str, Any]] = []
        self.procs: list[subprocess.Popen] = []
        self.pending = collections.deque(
            (s, min(args.chunk, args.seed + args.n - s)) for s in range(args.seed, args.seed + args.n, args.chunk))

    def _start(self, start: int, count: int) -> tuple[subprocess.Popen, dict[str, Any]]:
        cmd = [sys.executable, "-m", "tests.fuzz", "--worker", "--seed", str(start), "--n", str(count),
               "--backend", self.args.backend, "--flags", ",".join(sorted(self.args.flag_set)) or "none",
               "--timeout", str(self.args.timeout)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                start_new_session=True)     # (a Ctrl-C reaches the campaign, which stops them)
        self.procs.append(proc)
        return proc, {"start": start, "count": count, "current": None, "next": start, "seen": time.monotonic()}

    def run(self) -> None:
        import selectors
        sel = selectors.DefaultSelector()
        running = 0
        while self.pending or running:
            while self.pending and running < self.args.jobs:
                proc, state = self._start(*self.pending.popleft())
                sel.register(proc.stdout, selectors.EVENT_READ, (proc, state))
                running += 1
            for key in list(sel.get_map().values()):      # a worker stuck in native code: kill it
                proc, state = key.data
                if time.monotonic() - state["seen"] > 2 * self.args.timeout + 60:
                    proc.kill()
            for key, _ in sel.select(timeout=5):
                proc, state = key.data
                line = proc.stdout.readline()
                if line:
                    state["seen"] = time.monotonic()
                    self._line(line, state)
                    continue
                sel.unregister(proc.stdout)
                proc.wait()
                running -= 1
                self._finished(proc, state)

    def _line(self, line: str, state: dict[str, Any]) -> None:
        if not line.startswith(MARK):
            return
        rec = json.loads(line[len(MARK):])
        if rec.get("started"):
            state["current"] = rec["seed"]
            return
        state["current"], state["next"] = None, rec["seed"] + 1
        self.records.append(rec)
        if rec["status"] in FAILURES or (rec["status"] == "internal" and self.args.verbose):
            print(f"seed {rec['seed']}: {rec['status']} (call {rec['call']}): {rec['detail'][:300]}", flush=True)
        if len(self.records) % self.args.progress == 0:
            print(f"... {len(self.records)}/{self.args.n} programs, {self._failures()} failures", flush=True)

    def _finished(self, proc: subprocess.Popen, state: dict[str, Any]) -> None:
        lost = state["current"]
        if lost is not None:       # the worker died inside a program: record it, go on after it
            rec = {"seed": lost, "status": "crash", "detail": f"worker exited with {proc.returncode}", "call": -1,
                   "eager_reasons": [], "internal": [], "breaks": [], "graphs": 0, "eager_raised": 0, "seconds": 0}
            self.records.append(rec)
            print(f"seed {lost}: crash (worker exit code {proc.returncode})", flush=True)
            state["next"] = lost + 1
        end = state["start"] + state["count"]
        if state["next"] < end:    # (a worker also stops early after a program corrupted torch's state)
            self.pending.appendleft((state["next"], end - state["next"]))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def _failures(self) -> int:
        return sum(1 for r in self.records if r["status"] in FAILURES)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def summary(records: list[dict[str, Any]], args: argparse.Namespace, seconds: float) -> str:
    status = collections.Counter(r["status"] for r in records)
    fallbacks = collections.Counter(reason for r in records for reason in r["eager_reasons"])
    internal = collections.Counter(reason for r in records for reason in r["internal"])
    breaks = collections.Counter(b.split(":", 1)[0].removeprefix("graph break ") for r in records for b in r["breaks"])
    lines = [
        f"fuzz: {len(records)} programs, seeds {args.seed}..{args.seed + args.n - 1}, backend {args.backend}, "
        f"flags {','.join(sorted(args.flag_set)) or 'none'}, commit {_commit()}, {seconds:.0f} s "
        f"({args.jobs} jobs)",
        f"  ok {status['ok']}, mismatches {status['mismatch']}, exceptions reaching the user {status['exception']}, "
        f"internal fallbacks {status['internal']} programs ({sum(internal.values())} warnings), "
        f"crashes {status['crash']}, timeouts {status['timeout']}, invalid {status['invalid']}",
        f"  programs where eager itself raised: {sum(1 for r in records if r['eager_raised'])}; "
        f"graphs compiled: {sum(r['graphs'] for r in records)}; "
        f"programs with an eager fallback: {sum(1 for r in records if r['eager_reasons'])}",
        f"  eager fallbacks by reason ({sum(fallbacks.values())}):",
        *(f"    {n:6d}  {reason}" for reason, n in fallbacks.most_common(args.top)),
        f"  internal fallbacks by reason ({sum(internal.values())}):",
        *(f"    {n:6d}  {reason}" for reason, n in internal.most_common(args.top)),
        f"  graph breaks that resumed, by kind ({sum(breaks.values())}): "
        + ", ".join(f"{k} {n}" for k, n in sorted(breaks.items())),
    ]
    failed = [r for r in records if r["status"] in FAILURES]
    if failed:
        lines.append(f"  failing seeds ({len(failed)}):")
        lines += [f"    {r['seed']}: {r['status']} (call {r['call']}) {r['detail'][:200]}" for r in failed[:50]]
    return "\n".join(lines)


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
                               text=True).stdout
        return sha.strip() + (" (+ uncommitted changes in src)" if dirty.strip() else "")
    except OSError:
        return "unknown"


def shrink_failures(records: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Minimise the first failure of each kind; write each as a finding file."""
    from tests.fuzz.gen import generate
    from tests.fuzz.program import to_finding
    from tests.fuzz.shrink import failure_key, runner_for, shrink
    _quiet_torch()
    seen: set[str] = set()
    out_dir = pathlib.Path(args.findings)
    out_dir.mkdir(parents=True, exist_ok=True)
    for rec in records:
        wanted = ("mismatch", "exception", *(("internal",) if args.shrink_internal else ()))
        if rec["status"] not in wanted:
            continue
        prog = generate(rec["seed"], args.flag_set)
        run = runner_for(args.backend, rec["seed"], timeout_s=args.timeout)
        first = run(prog)
        key = failure_key(first)
        if key in seen or first.status != rec["status"]:
            continue
        seen.add(key)
        print(f"shrinking seed {rec['seed']} ({key}), size {prog.size()}", flush=True)
        small, outcome = shrink(prog, run, budget_s=args.shrink_budget, log=print)
        header = (f"Fuzz finding: {outcome.status} (seed {rec['seed']}, backend {args.backend}, "
                  f"flags {','.join(sorted(args.flag_set)) or 'none'})\n\nstatus: open\nbackend: {args.backend}\n"
                  f"kind: {key}\n"
                  f"call: {outcome.call}\ndetail: {outcome.detail[:1500]}")
        path = out_dir / f"{outcome.status}_{rec['seed']}.py"
        path.write_text(to_finding(small.source(), small.call_sources(), header))
        print(f"wrote {path} (size {small.size()}):\n{small.source()}\ncalls: {small.calls}\n{outcome.detail}\n",
              flush=True)


def replay(paths: list[str], backend: str, timeout_s: float) -> int:
    from tests.fuzz.program import load_finding
    from tests.fuzz.runner import run_program
    _quiet_torch()
    bad = 0
    for name in paths:
        finding = load_finding(pathlib.Path(name))
        o = run_program(finding.source, finding.calls, backend=backend or finding.field("backend") or "eager", seed=0,
                        timeout_s=timeout_s)
        bad += o.failed
        print(f"{name}: {o.status} (call {o.call}) {o.detail}\n  fallbacks: {o.eager_reasons}\n"
              f"  internal: {o.internal}")
    return 1 if bad else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="programs to run (default 200)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--backend", help="eager (default; --replay: the finding's own), aot_eager or inductor")
    p.add_argument("--jobs", type=int, default=1, help="worker processes at once (default 1)")
    p.add_argument("--chunk", type=int, default=250, help="programs per worker process (default 250)")
    p.add_argument("--flags", default="all", help=f"all (default), slice, none or a list of {sorted(fuzz_flags.FLAGS)}")
    p.add_argument("--timeout", type=float, default=120, help="seconds per program (default 120)")
    p.add_argument("--shrink", action="store_true", help="minimise the first failure of each kind")
    p.add_argument("--shrink-internal", action="store_true", help="also minimise internal fallbacks")
    p.add_argument("--shrink-budget", type=float, default=600, help="seconds per minimisation (default 600)")
    p.add_argument("--findings", default=str(ROOT / "fuzz-findings"), help="where --shrink writes finding files")
    p.add_argument("--json", help="also write every program's record to this file (JSON lines)")
    p.add_argument("--top", type=int, default=25, help="reasons to list (default 25)")
    p.add_argument("--progress", type=int, default=500, help="print progress every N programs")
    p.add_argument("--verbose", action="store_true", help="print internal fallbacks as they happen")
    p.add_argument("--show", type=int, metavar="SEED", help="print the program of SEED and its calls")
    p.add_argument("--replay", nargs="+", metavar="FILE", help="run finding files")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.flag_set = fuzz_flags.parse(args.flags)
    if args.backend is None and not args.replay:
        args.backend = "eager"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.worker:
        worker(args.seed, args.n, args.backend, args.flag_set, args.timeout)
    if args.show is not None:
        from tests.fuzz.gen import generate
        prog = generate(args.show, args.flag_set)
        print(prog.source())
        for i, call in enumerate(prog.calls):
            print(f"# call {i}: {'; '.join(call) or '(no mutation)'}")
        return 0
    if args.replay:
        return replay(args.replay, args.backend, args.timeout)
    t0 = time.perf_counter()
    campaign = Campaign(args)
    # Ctrl-C, and kill -INT / kill (TERM) of a campaign run in the background (where a shell leaves
    # SIGINT ignored), stop it with the summary so far
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        campaign.run()
    except KeyboardInterrupt:       # Ctrl-C (or kill -INT): the summary of the programs that finished
        campaign.stop()
        print(f"interrupted: {len(campaign.records)} of {args.n} programs finished", flush=True)
    records = sorted(campaign.records, key=lambda r: r["seed"])
    if args.json:
        pathlib.Path(args.json).write_text("".join(json.dumps(r) + "\n" for r in records))
    print(summary(records, args, time.perf_counter() - t0), flush=True)
    if args.shrink:
        shrink_failures(records, args)
    return 1 if any(r["status"] in FAILURES for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
