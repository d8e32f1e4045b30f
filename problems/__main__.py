"""The command line: `python -m problems solve | pool | generate | grade | kinds`."""

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


def cmd_kinds(args: argparse.Namespace) -> None:
    from problems import kinds

    catalogue = kinds.catalogue()
    if args.json:
        print(json.dumps(catalogue, indent=2))
        return
    width = max(len(k["name"]) for k in catalogue)
    for k in catalogue:
        print(f"{k['name'].ljust(width)}   {k['summary']}")


def _problem(args: argparse.Namespace) -> Any:
    from problems import kinds

    return kinds.generate(args.kind, args.difficulty, args.seed)


def cmd_generate(args: argparse.Namespace) -> None:
    from problems import kinds
    from problems.render import problem_text, steps_text

    problem = _problem(args)
    if args.json:
        data = problem.public()
        if args.answers:
            data["answers"] = dict(problem.answers)
            data["worked_solution"] = [s.to_json() for s in kinds.worked_solution(problem)]
        print(json.dumps(data, indent=2))
        return
    print(problem_text(problem, with_answers=args.answers))
    if args.answers:
        print()
        print(steps_text(kinds.worked_solution(problem)))


def cmd_grade(args: argparse.Namespace) -> None:
    from problems import kinds

    problem = _problem(args)
    given = _read(args.file)
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        raise SpecError("", 'expected a JSON object of part id to answer text, e.g. {"shape_0": "26x26x32"}')
    unknown = sorted(set(given) - {p.id for p in problem.parts})
    if unknown:
        raise SpecError(unknown[0], f"no such part (parts: {', '.join(p.id for p in problem.parts)})")
    result = kinds.grade(problem, given, follow_through=not args.no_follow_through)
    print(json.dumps(result.to_json(), indent=2))


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError("the seed must be from 0 to 2**63-1")
    return value


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
    kinds_parser = sub.add_parser("kinds", help="list the problem kinds")
    kinds_parser.add_argument("--json", action="store_true", help="print JSON")
    kinds_parser.set_defaults(func=cmd_kinds)
    for name, func, help_text in (
        ("generate", cmd_generate, "print the problem (kind, difficulty, seed)"),
        ("grade", cmd_grade, "grade answers (a JSON object of part id to text) to a problem"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--kind", required=True, help="a problem kind (see `kinds`)")
        p.add_argument("--difficulty", type=int, choices=(1, 2, 3), default=1)
        p.add_argument("--seed", type=_seed, default=0)
        if name == "generate":
            p.add_argument("--json", action="store_true", help="print the problem as JSON")
            p.add_argument("--answers", action="store_true", help="add the answers and the worked solution")
        else:
            p.add_argument("file", nargs="?", help="JSON answers (default: standard input)")
            p.add_argument("--no-follow-through", action="store_true",
                           help="no credit for parts right given earlier wrong answers")
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:
        # The reader (e.g. `head`) has gone: not an error of ours.
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
