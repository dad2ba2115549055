"""``python -m bytegraph <command>``: the command line.

Owns argument parsing and dispatch only; each command's work lives in its own module,
imported when the command runs (so one command works even if another's module is
missing or broken).

    python -m bytegraph demo            capture two built-in models, show graphs, guards, timings
    python -m bytegraph docs [--out D]  write the reference pages (bytegraph.docsgen) to docs/
    python -m bytegraph explain SCRIPT.py [args]            run a script; print its captures, breaks, guards
    python -m bytegraph report [-o OUT] SCRIPT.py [args]    the same as one self-contained HTML page
"""

from __future__ import annotations

import argparse
import pathlib
import sys


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    reports = demo.main(quick=args.quick)
    return 0 if all(r.outputs_match and r.graphs == 1 for r in reports) else 1


def cmd_docs(args: argparse.Namespace) -> int:
    from . import docsgen

    for path in docsgen.write_docs(args.out or default_docs_dir()):
        print(path)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .runtime import report

    run = report.run_script(args.script, args.args)
    print("\n" + report.explain_text(run))
    return run.exit_status


def cmd_report(args: argparse.Namespace) -> int:
    from .runtime import report

    run = report.run_script(args.script, args.args)
    path = report.write_report(run, args.out)
    print(f"bytegraph: {report.summary(run.captures)}", file=sys.stderr)
    print(f"bytegraph: report written to {path}", file=sys.stderr)
    return run.exit_status


def default_docs_dir() -> pathlib.Path:
    """``docs/`` of the source checkout bytegraph runs from (an editable install), else ``./docs``."""
    checkout = pathlib.Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "src" / "bytegraph").is_dir():
        return checkout / "docs"
    return pathlib.Path("docs")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bytegraph",
                                 description="bytegraph: capture PyTorch programs as torch.fx graphs.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser("demo", help="capture two built-in models; show graphs, guards and timings")
    demo.add_argument("--quick", action="store_true", help="fewer timing iterations (noisier numbers)")
    demo.set_defaults(run=cmd_demo)

    docs = sub.add_parser("docs", help="generate the reference docs")
    docs.add_argument("--out", type=pathlib.Path, default=None,
                      help="output folder (default: docs/ of the source checkout, else ./docs)")
    docs.set_defaults(run=cmd_docs)

    explain = sub.add_parser("explain", help="run a script and print what was captured, where it broke and why it "
                                             "recompiled")
    explain.add_argument("script", help="the Python script to run (as __main__)")
    explain.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    explain.set_defaults(run=cmd_explain)

    report = sub.add_parser("report", help="run a script and write an HTML report of its captures")
    report.add_argument("-o", "--out", type=pathlib.Path, default=None,
                        help="the HTML file to write (default: SCRIPT.bytegraph.html in the current folder)")
    report.add_argument("script", help="the Python script to run (as __main__)")
    report.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    report.set_defaults(run=cmd_report)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
