"""Question-bank exports of a problem set: N seeded variants of each item, with answers,
tolerances and misconception feedback, as Moodle XML, QTI 1.2 for Canvas, or GIFT.

    export("moodle", [{"kind": "output_shape", "difficulty": 1}], variants=5, seed=0)

Pure Python (no Flask, no database); `python -m problems.exports --help` for the command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from problems.errors import SpecError
from problems.exports.common import (
    DEFAULT_CATEGORY,
    Bank,
    Item,
    build_banks,
    check_line,
    parse_items,
)
from problems.exports.gift import gift_text
from problems.exports.moodle import moodle_xml
from problems.exports.qti import qti_zip

FORMATS: dict[str, tuple[str, str]] = {
    "moodle": (".xml", "application/xml"),
    "qti": (".zip", "application/zip"),
    "gift": (".txt", "text/plain; charset=utf-8"),
}

__all__ = ["DEFAULT_CATEGORY", "FORMATS", "Bank", "Item", "build_banks", "export", "parse_items"]


def export(
    fmt: str,
    items: Sequence[Item | Mapping[str, Any]] | Mapping[str, Any],
    variants: int,
    seed: int,
    category: str = DEFAULT_CATEGORY,
) -> bytes:
    """The export file's bytes: `fmt` is "moodle" (XML), "qti" (a zip) or "gift" (text).
    `items` is a list of items, or JSON as `parse_items` reads it (`{"items": [...]}`)."""
    if fmt not in FORMATS:
        raise SpecError("format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
    # Only a list is read item by item: a JSON object (read from a file) goes to parse_items
    # whole, which takes {"items": [...]} and refuses any other as "items", not "items[0]".
    parsed = parse_items(
        [_item_json(i) for i in items] if isinstance(items, (list, tuple)) else items
    )
    check_line(str(category).replace("\t", " "), "category")
    category = " ".join(str(category).split()) or DEFAULT_CATEGORY
    banks = build_banks(parsed, variants, seed)
    if fmt == "moodle":
        return moodle_xml(banks, category)
    if fmt == "qti":
        return qti_zip(banks, category)
    return gift_text(banks, category)


def _item_json(item: Any) -> Any:
    if isinstance(item, Item):
        return {
            "kind": item.kind,
            "difficulty": item.difficulty,
            "points": item.points,
            "title": item.title,
        }
    return item
