"""`python -m problems.exports`: write a question bank of seeded variants for an LMS."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from problems.contract import load_json
from problems.errors import SpecError
from problems.exports import DEFAULT_CATEGORY, FORMATS, export
from problems.exports.common import MAX_VARIANTS
from problems.exports.output import check_output, write_output

EXIT_REFUSED = 2


def build_parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(
        prog="python -m problems.exports",
        description="Export N seeded variants of problem kinds as a question bank: "
        "Moodle XML, QTI 1.2 for Canvas (a zip) or GIFT.",
    )
    parser.add_argument("--format", required=True, choices=sorted(FORMATS))
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--kind", help="one problem kind (see `python -m problems kinds`)")
    what.add_argument(
        "--items",
        metavar="FILE.json",
        help='a JSON list of {"kind", "difficulty", "points"?, "title"?}',
    )
    parser.add_argument(
        "--difficulty", type=int, choices=(1, 2, 3), default=1, help="with --kind (default 1)"
    )
    parser.add_argument("--points", type=float, default=1.0, help="with --kind (default 1)")
    parser.add_argument("--title", default="", help="with --kind: the item's title")
    parser.add_argument(
        "--variants",
        type=int,
        default=5,
        help=f"variants per item, 1 to {MAX_VARIANTS} (default 5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument(
        "--category",
        default=DEFAULT_CATEGORY,
        help=f"category / bank name; `/` nests in Moodle (default {DEFAULT_CATEGORY!r})",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="-",
        help="output file, written whole or not at all (default: standard output; "
        "a QTI zip is not written to a terminal)",
    )
    return parser


def check_destination(fmt: str, output: str) -> None:
    """Refuse, before the work, an output that cannot take the bank: a path that cannot be a
    file, or a zip (QTI) going to a terminal, where it would print as garbage."""
    if output != "-":
        check_output(output)
    elif fmt == "qti" and sys.stdout.isatty():
        raise SpecError(
            "-o/--output", "a QTI bank is a zip file: give -o FILE.zip (or redirect the output)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; 0 on success, 2 on a refused input."""
    args = build_parser().parse_args(argv)
    try:
        check_destination(args.format, args.output)
        if args.items:
            try:
                with open(args.items, "rb") as f:
                    raw = f.read()
            except OSError as err:
                raise SpecError("items", f"cannot read {args.items}: {err.strerror}") from None
            try:  # strict JSON, as the solver reads: a key given twice, a NaN... refused
                items = load_json(raw)
            except SpecError as err:
                place = "items" + (("" if err.path.startswith("[") else ".") + err.path
                                   if err.path else "")
                raise SpecError(place, f"{args.items}: {err.message}") from None
        else:
            items = [
                {
                    "kind": args.kind,
                    "difficulty": args.difficulty,
                    "points": args.points,
                    "title": args.title,
                }
            ]
        data = export(args.format, items, args.variants, args.seed, args.category)
        if args.output != "-":
            write_output(args.output, data)
    except SpecError as err:
        if err.path == "category" or (not args.items and err.path.startswith("items[0].")):
            err = SpecError("--" + err.path.split(".")[-1], err.message)  # the option's name
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        print(f"wrote {args.output} ({len(data):,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
