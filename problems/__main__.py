"""The command line: `python -m problems solve | pool` (JSON on stdin or from a file)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from problems.contract import load_json, pool_json
from problems.errors import SpecError
from problems.solver import solve
from problems.spec import parse_stack
from problems.tables import grid_text, summary_table

EXIT_REFUSED = 2


def _read(source: str | None) -> Any:
    if source is None or source == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as err:
            raise SpecError("", f"cannot read {source}: {err.strerror}") from None
    return load_json(data)


def cmd_solve(args: argparse.Namespace) -> None:
    solution = solve(parse_stack(_read(args.file)))
    print(summary_table(solution) if args.table else json.dumps(solution.to_json(), indent=2))


def cmd_pool(args: argparse.Namespace) -> None:
    answer = pool_json(_read(args.file))
    if args.table:
        print(grid_text(np.array(answer["output"], dtype=float)))
    else:
        print(json.dumps(answer))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m problems",
        description="CNN arithmetic: solve layer stacks and pool grids (spec v1).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, func, help_text in (
        ("solve", cmd_solve, "output shapes, params, MACs and receptive fields of a layer stack"),
        ("pool", cmd_pool, "max, average, min or global pooling of a grid"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("file", nargs="?", help="JSON file (default: standard input)")
        p.add_argument("--table", action="store_true", help="print a human-readable table instead of JSON")
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
