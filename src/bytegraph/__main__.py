"""``python -m bytegraph <command>``: the command line.

Owns argument parsing and dispatch only; each command's work lives in its own module,
imported when the command runs (so one command works even if another's module is
missing or broken).

    python -m bytegraph demo            capture two built-in models, show graphs, guards, timings
    python -m bytegraph docs [--out D]  write the reference pages (bytegraph.docsgen) to docs/

Planned: ``explain SCRIPT.py`` and ``report SCRIPT.py`` (one subparser each, same pattern).
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
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
