"""What the question-bank exports share: items and their seeded variants, answers written as
text an LMS can match, absolute tolerances, misconception answers, and problems as HTML.

No per-kind code: everything is read from `Part.answer_type`, the statement blocks and the
kind's optional `wrong_models`.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import numpy as np

from problems import kinds
from problems.answers import Tolerance, shape_examples
from problems.contract import line_problem
from problems.errors import SpecError
from problems.kinds.base import Part, Problem, Step, format_number
from problems.misconceptions import Misconception
from problems.misconceptions import get as misconception

DEFAULT_CATEGORY = "CNN arithmetic"
MAX_VARIANTS = 500

# Hints for answers typed into an LMS: no fractions and no thousands separators, which
# Moodle and Canvas read differently from our own parser; text answers in one order.
LMS_HINTS: dict[str, str] = {
    "int": "a whole number without separators, e.g. 18496",
    "number": "a decimal number, e.g. 1.75",  # with its precision: see hint()
    "shape": "a shape, e.g. 26x26x32",
    "grid": "one number per cell",
    "choice": "one of the choices",
    "choices": "all that apply, in the order listed, separated by commas; or none",
    "cell": "row, column (counting from 0), e.g. 1, 2",
    "cells": "(row, column) pairs in increasing order, e.g. (0, 1), (2, 3); or none",
    "range": "an inclusive range, e.g. 3 to 9",
}
_THOUSANDS_RE = re.compile(r"(?<=[0-9]),(?=[0-9]{3})")
# What a live statement, prompt or hint promises that no export can keep, and what the
# export says instead. Our own parser reads fractions (13/3, 1 1/3); a Moodle or Canvas
# number field, and the texts a Canvas blank compares, are decimals only. Each rule cuts
# the promise out of its sentence, wherever a kind words it.
LMS_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    # "a number or fraction, ..." -> "a decimal number, ..."
    (re.compile(r"\b(?:an? )?number or (?:an? )?fraction\b"), "a decimal number"),
    # "Averages to 2 decimal places or as fractions (e.g. 13/3)." -> "... decimal places."
    (re.compile(r",? or (?:as )?(?:an? )?(?:mixed numbers?|fractions?)(?: \([^)]*\))?"), ""),
    # "e.g. 1.75 or 7/4" -> "e.g. 1.75"
    (re.compile(r"(\be\.g\. -?[0-9][0-9.,]*) or -?[0-9]+(?: [0-9]+)?/[0-9]+"), r"\1"),
)
# Text answers with at most this many items are accepted in every order.
MAX_PERMUTED = 3


@dataclass(frozen=True)
class Item:
    """One question of a problem set: a kind at a difficulty, worth some points."""

    kind: str
    difficulty: int
    points: float = 1.0
    title: str = ""

    @property
    def label(self) -> str:
        """The item's title, or the kind's title and the difficulty."""
        return self.title or f"{kinds.get(self.kind).TITLE} (difficulty {self.difficulty})"


@dataclass(frozen=True)
class WrongAnswer:
    """A wrong answer that a named misconception gives."""

    value: Any
    misconception: Misconception


@dataclass(frozen=True)
class Variant:
    """One seeded variant of an item: the problem, its worked solution and its wrong answers."""

    item: Item
    number: int
    problem: Problem
    steps: tuple[Step, ...]
    wrong: Mapping[str, tuple[WrongAnswer, ...]]

    @property
    def name(self) -> str:
        """`Output shapes (difficulty 1) v3 (seed 123)`: unique within an export."""
        return f"{self.item.label} v{self.number} (seed {self.problem.seed})"

    @property
    def idnumber(self) -> str:
        """`output_shape-d1-s123`: enough to regenerate the variant with `python -m problems`."""
        p = self.problem
        return f"{p.kind}-d{p.difficulty}-s{p.seed}"


@dataclass(frozen=True)
class Bank:
    """The variants of one item: a Moodle category, a Canvas question bank."""

    item: Item
    index: int
    name: str
    variants: tuple[Variant, ...]


# ---------------------------------------------------------------- items and variants


def parse_items(data: Any) -> list[Item]:
    """Items from JSON: a list (or `{"items": [...]}`) of `{kind, difficulty, points?, title?}`."""
    if isinstance(data, Mapping) and "items" in data:
        data = data["items"]
    if not isinstance(data, list) or not data:
        got = "an empty list" if isinstance(data, list) else _json_type(data)
        raise SpecError(
            "items", f"expected a list of {{kind, difficulty, points?, title?}} objects, got {got}"
        )
    items = []
    for i, raw in enumerate(data):
        path = f"items[{i}]"
        if not isinstance(raw, Mapping):
            raise SpecError(path, "expected an object {kind, difficulty, points?, title?}")
        unknown = sorted(set(raw) - {"kind", "difficulty", "points", "title"})
        if unknown:
            raise SpecError(f"{path}.{unknown[0]}", "unknown field")
        kind = raw.get("kind")
        if not isinstance(kind, str):
            raise SpecError(f"{path}.kind", "expected the name of a problem kind")
        try:
            kinds.get(kind)
        except SpecError as err:
            raise SpecError(f"{path}.kind", err.message) from None
        if "difficulty" not in raw:
            raise SpecError(f"{path}.difficulty", "missing: give 1, 2 or 3")
        difficulty = raw["difficulty"]
        if type(difficulty) is not int or difficulty not in kinds.DIFFICULTIES:
            raise SpecError(f"{path}.difficulty", f"expected 1, 2 or 3, got {difficulty!r}")
        points = raw.get("points", 1)
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 < points < 1e6:
            raise SpecError(f"{path}.points", f"expected a positive number, got {points!r}")
        title = raw.get("title", "")
        if not isinstance(title, str):
            raise SpecError(f"{path}.title", "expected a string")
        check_line(title, f"{path}.title")
        items.append(Item(kind, difficulty, float(points), title.strip()))
    return items


def check_line(text: str, path: str) -> None:
    """Refuse `text` (a title, a category) unless it is one line of text (`line_problem`)."""
    if problem := line_problem(text):
        raise SpecError(path, problem)


def _json_type(value: Any) -> str:
    """What a JSON value is, for a message: "an object", "a string"..."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else f"a {type(value).__name__}"


def variant_seed(base_seed: int, item_index: int, item: Item, number: int) -> int:
    """The seed of variant `number` of an item: a stable hash of the base seed, the item's
    place and identity and the variant number, so two items never share variants."""
    text = f"cnnquiz-export:{base_seed}:{item_index}:{item.kind}:{item.difficulty}:{number}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") & kinds.MAX_SEED


def build_banks(items: Sequence[Item], variants: int, seed: int) -> list[Bank]:
    """Every item's `variants` variants, generated, solved and with their wrong answers."""
    if type(variants) is not int or not 1 <= variants <= MAX_VARIANTS:
        raise SpecError("variants", f"expected 1 to {MAX_VARIANTS}, got {variants!r}")
    if type(seed) is not int or not 0 <= seed <= kinds.MAX_SEED:
        raise SpecError("seed", f"expected an integer from 0 to 2**63-1, got {seed!r}")
    banks = []
    names: dict[str, int] = {}
    for index, item in enumerate(items):
        found = []
        for number in range(1, variants + 1):
            problem = kinds.generate(
                item.kind, item.difficulty, variant_seed(seed, index, item, number)
            )
            found.append(
                Variant(
                    item,
                    number,
                    problem,
                    tuple(kinds.worked_solution(problem)),
                    wrong_answers(problem),
                )
            )
        names[item.label] = names.get(item.label, 0) + 1
        name = item.label if names[item.label] == 1 else f"{item.label} #{names[item.label]}"
        banks.append(Bank(item, index, name, tuple(found)))
    return banks


def category_path(category: str, bank_name: str) -> str:
    """`$course$/top/<category>/<item>` for Moodle: `/` in the category nests; in an item's
    name it is written `//`, Moodle's escape."""
    parts = [p.strip() for p in category.replace("\n", " ").split("/") if p.strip()]
    return "/".join(["$course$", "top", *parts, bank_name.replace("\n", " ").replace("/", "//")])


# ---------------------------------------------------------------- comparing answers


def _canonical(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def same_answer(part: Part, given: Any, reference: Any) -> bool:
    """Whether the grader would take `given` for `reference` (tolerance around the reference)."""
    if part.answer_type == "number":
        return part.tolerance.accepts(float(given), float(reference))
    if part.answer_type == "grid":
        a, b = np.asarray(given, dtype=float), np.asarray(reference, dtype=float)
        return a.shape == b.shape and bool(part.tolerance.accepts_all(a, b).all())
    return bool(_canonical(given) == _canonical(reference))


def wrong_answers(problem: Problem) -> dict[str, tuple[WrongAnswer, ...]]:
    """Per part, the distinct wrong answers the kind's named misconceptions give (the first
    misconception giving a value names it, as in grading)."""
    models = getattr(kinds.get(problem.kind), "wrong_models", None)
    found: dict[str, list[WrongAnswer]] = {}
    for misconception_id, values in models(problem) if models else ():
        for part_id, value in values.items():
            try:
                part = problem.part(part_id)
            except KeyError:
                continue
            if same_answer(part, value, problem.answers[part_id]):
                continue
            known = found.setdefault(part_id, [])
            if not any(same_answer(part, value, w.value) for w in known):
                known.append(WrongAnswer(value, misconception(misconception_id)))
    return {k: tuple(v) for k, v in found.items()}


def cell_wrong_answers(
    part: Part, correct: Any, wrong: Iterable[WrongAnswer]
) -> dict[tuple[int, int], list[WrongAnswer]]:
    """For a grid part: per cell, the distinct wrong values of whole wrong grids of the right
    shape (a cell-level hint, weaker than a whole-grid diagnosis)."""
    truth = np.asarray(correct, dtype=float)
    cells: dict[tuple[int, int], list[WrongAnswer]] = {}
    for w in wrong:
        grid = np.asarray(w.value, dtype=float)
        if grid.shape != truth.shape:
            continue
        for (r, c), value in np.ndenumerate(grid):
            if part.tolerance.accepts(float(value), float(truth[r, c])):
                continue
            known = cells.setdefault((r, c), [])
            if not any(part.tolerance.accepts(float(value), float(k.value)) for k in known):
                known.append(WrongAnswer(float(value), w.misconception))
    return cells


def misconception_feedback(m: Misconception, *, cell: bool = False) -> str:
    """The grader's feedback for an answer that matches a misconception (plain text)."""
    what = "This cell is" if cell else "Not right: this is"
    return f"{what} what you get with the mistake \u201c{m.name}\u201d. {m.explanation}"


# ---------------------------------------------------------------- answers as text


def is_single_number(problem: Problem) -> bool:
    """One part, a number: a numerical question in every LMS."""
    return len(problem.parts) == 1 and problem.parts[0].answer_type in ("int", "number")


def number_text(value: float) -> str:
    """A number as an LMS reads it: no separators, every digit needed to round-trip."""
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def absolute_tolerance(part: Part, value: float) -> float:
    """The part's tolerance around `value` as one absolute margin (0 for whole numbers)."""
    if part.answer_type == "int":
        return 0.0
    return max(part.tolerance.absolute, part.tolerance.relative * abs(float(value)))


def number_roundings(part: Part, value: float) -> list[str]:
    """`value` as text, the canonical form first, then the ways of shortening it that are
    within the tolerance (for LMS fields that compare text, not numbers): to 0 to 6
    decimals and to 1 to 6 significant figures, rounded (half to even or half up) or cut.
    So an answer given as `tolerance_text` asks is among them."""
    v = float(value)
    if part.answer_type == "int":
        return _unique([number_text(v), f"{int(v):,}"])
    texts = [format_number(v), number_text(v)]
    texts += [f"{v:.{decimals}f}" for decimals in range(7)]  # half to even, as floats round
    if math.isfinite(v):
        exact = Decimal(repr(v))  # the decimal a student reads: 2.675, not 2.67499999...
        exponents = [-d for d in range(7)]
        if exact:
            exponents += [exact.adjusted() - s + 1 for s in range(1, 7)]
        for exponent in dict.fromkeys(exponents):
            for mode in (ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_DOWN):
                try:
                    texts.append(format(exact.quantize(Decimal(1).scaleb(exponent), mode), "f"))
                except InvalidOperation:  # more digits than a decimal context holds
                    continue
    written = []
    for text in texts:
        # Each with and without its trailing zeros; a cut -0.004 is "-0.00", also "0.00".
        for t in [text, *([text[1:]] if text.startswith("-") and float(text) == 0 else [])]:
            written += [t.rstrip("0").rstrip(".") if "." in t else t, t]
    return _unique(t for t in written if part.tolerance.accepts(float(t), v))


def _unique(texts: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for t in texts:
        seen.setdefault(t, None)
    return list(seen)


def _orders(items: Sequence[str]) -> list[Sequence[str]]:
    if len(items) <= MAX_PERMUTED:
        return [items, *(p for p in itertools.permutations(items) if list(p) != list(items))]
    return [items]


def accepted_texts(part: Part, value: Any) -> list[str]:
    """Texts a student may type for `value` in an LMS that compares strings, the canonical
    one first. Every one of them is accepted by our own parser too (see the tests)."""
    kind = part.answer_type
    if kind in ("int", "number"):
        return number_roundings(part, value)
    if kind == "shape":
        dims = [str(int(v)) for v in value]
        listed = ", ".join(dims)
        return _unique(
            [
                "x".join(dims),
                " x ".join(dims),
                f"({listed})",
                listed,
                f"(None, {listed})",
                f"[{listed}]",
            ]
        )
    if kind == "choice":
        return [str(value)]
    if kind == "choices":
        if not value:
            return ["none"]
        chosen = [c for c in part.choices if c in set(value)] or sorted(value)
        return _unique(sep.join(order) for order in _orders(chosen) for sep in (", ", ","))
    if kind == "cell":
        r, c = int(value[0]), int(value[1])
        return [f"{r}, {c}", f"({r}, {c})", f"{r},{c}"]
    if kind == "cells":
        if not value:
            return ["none"]
        pairs = sorted((int(r), int(c)) for r, c in value)
        spaced = [f"({r}, {c})" for r, c in pairs]
        tight = [f"({r},{c})" for r, c in pairs]
        texts = [", ".join(o) for o in _orders(spaced)] + [",".join(o) for o in _orders(tight)]
        return _unique(texts)
    if kind == "range":
        lo, hi = int(value[0]), int(value[1])
        return _unique([f"{lo} to {hi}", f"{lo}..{hi}", *([str(lo)] if lo == hi else [])])
    if kind == "grid":
        return ["\n".join(" ".join(format_number(v) for v in row) for row in value)]
    raise ValueError(f"part {part.id}: unknown answer type {kind!r}")


def lms_text(text: str) -> str:
    """A statement's, prompt's or hint's text as an export says it: without the answer
    spellings (fractions) that no LMS field of the exports accepts (`LMS_REWRITES`)."""
    for pattern, replacement in LMS_REWRITES:
        text = pattern.sub(replacement, text)
    return text


def tolerance_text(tolerance: Tolerance) -> str:
    """How to write a decimal answer so that every export takes it, the same words for every
    variant: `rounded to 2 decimal places` (an absolute margin, 0.01), else `rounded to 3
    significant figures` (a relative one, 1%); "" for an exact answer. Rounded or cut, the
    answer is within the margin, and it is one of the `number_roundings` a Canvas blank
    lists (where a number is matched as text, not by its distance)."""
    if tolerance.absolute > 0:
        places = max(0, math.ceil(-math.log10(tolerance.absolute) - 1e-9))
        if places == 0:
            return "rounded to a whole number"
        return f"rounded to {places} decimal place{'s' if places > 1 else ''}"
    if tolerance.relative > 0:
        figures = max(1, math.ceil(1 - math.log10(tolerance.relative) - 1e-9))
        return f"rounded to {figures} significant figure{'s' if figures > 1 else ''}"
    return ""


def hint(part: Part) -> str:
    """How to type this part's answer into an LMS: what every export format accepts."""
    if part.answer_type == "grid" and part.grid_shape:
        rows, cols = part.grid_shape[0], part.grid_shape[1]
        precision = tolerance_text(part.tolerance)
        return f"a {rows}x{cols} grid, one number per cell" + (
            f", {precision}" if precision else ""
        )
    if part.answer_type == "number":
        # Not the part's own hint: its margin in words (pooling_cost's "right to within
        # 1%") is kept by a numerical field but not by a Canvas blank, which lists texts.
        precision = tolerance_text(part.tolerance)
        return f"a decimal number{' ' + precision if precision else ''}, e.g. 1.75"
    if part.answer_type in ("choice", "choices") and part.choices:
        listed = "; ".join(part.choices)
        return f"{LMS_HINTS[part.answer_type]}: {listed}"
    if part.answer_type == "shape" and len(part.axes) == 3:
        # The example in the problem's layout (32x26x26 when channels come first).
        return f"a shape, e.g. {shape_examples(part.axes).split(' or ')[0]}"
    if part.answer_type == "int" and part.hint_text:
        # The part's own example (7 for a receptive field), its digits without separators.
        return _THOUSANDS_RE.sub("", part.hint_text)
    return LMS_HINTS[part.answer_type]


def points_text(points: float) -> str:
    """`1 point`, `2.5 points`."""
    text = format_number(points)
    return f"{text} point" if text == "1" else f"{text} points"


# ---------------------------------------------------------------- HTML

_MARKUP_REFS = str.maketrans({"{": "&#123;", "}": "&#125;", "[": "&#91;", "]": "&#93;"})


def text_html(text: str) -> str:
    """Plain text as HTML, with braces and brackets as character references, so that no
    LMS markup (a cloze `{1:...}`, a Canvas blank `[name]`) can start inside it."""
    return html.escape(text, quote=True).translate(_MARKUP_REFS)


def say(text: str) -> str:
    """A statement's or prompt's words as HTML, as the exports say them (`lms_text`)."""
    return text_html(lms_text(text))


# What goes where a part is answered: the HTML of its field (for a grid, the whole grid).
FieldRenderer = Callable[[Part], str]


def _grid_tables(values: Any, highlight: Iterable[Any] = (), channels: Any = None) -> str:
    grid = np.asarray(values, dtype=float)
    lit = {tuple(int(v) for v in cell) for cell in highlight or ()}
    stacks = grid if grid.ndim == 3 else grid[None]
    out = []
    for ch, plane in enumerate(stacks):
        rows = []
        for r, row in enumerate(plane):
            cells = []
            for c, value in enumerate(row):
                on = ((ch, r, c) if grid.ndim == 3 else (r, c)) in lit
                style = ' style="font-weight:bold;background:#fde68a"' if on else ""
                cells.append(f"<td{style}>{text_html(format_number(value))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        caption = ""
        if grid.ndim == 3:
            name = (
                channels[ch]
                if isinstance(channels, list) and ch < len(channels)
                else f"channel {ch}"
            )
            caption = f"<caption>{text_html(str(name))}</caption>"
        out.append(
            f'<table border="1" cellpadding="4" style="border-collapse:collapse;text-align:center">'
            f"{caption}{''.join(rows)}</table>"
        )
    return "".join(out)


def grid_size(part: Part, correct: Any) -> tuple[int, int]:
    """Rows and columns of a grid part's answer."""
    rows = len(correct)
    return rows, (len(correct[0]) if rows else 0)


def field_grid_html(rows: int, cols: int, cell_field: Callable[[int, int], str]) -> str:
    """A grid part as a table of answer fields, one per cell."""
    body = "".join(
        "<tr>" + "".join(f"<td>{cell_field(r, c)}</td>" for c in range(cols)) + "</tr>"
        for r in range(rows)
    )
    return f'<table border="1" cellpadding="4" style="border-collapse:collapse">{body}</table>'


def _stack_html(
    block: Mapping[str, Any], parts: Mapping[str, Part], field: FieldRenderer, placed: set[str]
) -> str:
    columns = [c["key"] for c in block["columns"]]
    head = ["Layer (type)", *(c["title"] for c in block["columns"])]

    def cell(spec: Mapping[str, Any] | None) -> str:
        if spec is None:
            return ""
        if "part" in spec and spec["part"] in parts:
            placed.add(spec["part"])
            return field(parts[spec["part"]])
        return say(str(spec.get("text", "")))

    rows = [[text_html("input " + "x".join(map(str, block["input"]))), *([""] * len(columns))]]
    for row in block["rows"]:
        rows.append(
            [
                text_html(f"{row['index']} {row['label']}"),
                *(cell(row["cells"].get(k)) for k in columns),
            ]
        )
    for foot in block.get("footer", []):
        rows.append(
            [text_html(foot["label"]), cell({"part": foot["part"]}), *([""] * (len(columns) - 1))]
        )
    header = "".join(f"<th>{text_html(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    note = f" {say(str(block['note']))}" if block.get("note") else ""
    layout = f"<p><small>Layout {text_html(str(block['layout']))}.{note}</small></p>"
    return (
        f'<table border="1" cellpadding="4" style="border-collapse:collapse">'
        f"<tr>{header}</tr>{body}</table>{layout}"
    )


def _block_html(
    block: Mapping[str, Any], parts: Mapping[str, Part], field: FieldRenderer, placed: set[str]
) -> str:
    kind = block.get("type")
    if kind == "text":
        return f"<p>{say(str(block['text']))}</p>"
    if kind == "stack":
        return _stack_html(block, parts, field, placed)
    if kind == "grid":
        label = f"<p><b>{text_html(str(block.get('label', 'Grid')))}</b></p>"
        return label + _grid_tables(
            block["values"], block.get("highlight") or (), block.get("channels")
        )
    if kind == "field":
        return (
            f"<p>{text_html(str(block.get('label', 'Input')))}: a {int(block['height'])}x"
            f"{int(block['width'])} grid (rows and columns count from 0).</p>"
        )
    return ""


def question_html(
    problem: Problem,
    field: FieldRenderer,
    *,
    ask: Sequence[Part] | None = None,
    list_placed: bool = False,
    after: FieldRenderer | None = None,
) -> str:
    """The statement as HTML with `field(part)` in the table cells it answers, then the
    asked parts not answered in a table, each with its prompt, format, points and
    `after(part)` (default `field`).

    `list_placed` lists the asked parts answered in a table too (for one-part questions)."""
    after = after or field
    parts = {p.id: p for p in problem.parts}
    asked = list(problem.parts if ask is None else ask)
    placed: set[str] = set()
    out = [_block_html(block, parts, field, placed) for block in problem.statement]
    in_tables = [p for p in asked if p.id in placed]
    if in_tables and not list_placed:
        formats = _unique(hint(p) for p in in_tables)
        out.append(f"<p><small>In the table: {text_html('; '.join(formats))}.</small></p>")
    for p in asked:
        if p.id in placed and not list_placed:
            continue
        out.append(
            f"<p><b>{say(p.prompt)}</b> <small>({text_html(hint(p))}; "
            f"{points_text(p.points)})</small></p>"
        )
        if p.id not in placed:
            out.append(after(p))
    return "".join(out)


def steps_html(steps: Sequence[Step], problem: Problem | None = None) -> str:
    """A worked solution as an HTML list, formulas in `\\( ... \\)` for MathJax; then the
    answers if `problem` is given."""
    items = []
    for step in steps:
        body = [f"<b>{text_html(step.title)}</b>"]
        if step.text:
            body.append(f"<br>{text_html(step.text)}")
        body += [f"<br>\\( {html.escape(m, quote=False)} \\)" for m in step.math]
        grid = step.grid
        if grid is not None and "values" in grid:
            body.append(_grid_tables(grid["values"], grid.get("highlight") or ()))
            if "result" in grid:
                body.append(
                    f"&rarr; {text_html(format_number(float(grid['result'])))}"
                    if isinstance(grid["result"], (int, float))
                    else f"&rarr; {text_html(str(grid['result']))}"
                )
        elif grid is not None and grid.get("rows") and grid.get("cols"):
            (r0, r1), (c0, c1) = grid["rows"], grid["cols"]
            body.append(f"<br>{text_html(f'rows {r0} to {r1}, columns {c0} to {c1}')}")
        items.append("<li>" + "".join(body) + "</li>")
    out = "<p><b>Worked solution</b></p><ol>" + "".join(items) + "</ol>"
    if problem is not None:
        out += answers_html(problem)
    return out


def answers_html(problem: Problem) -> str:
    """The answers of every part, as a list."""
    rows = []
    for p in problem.parts:
        value = problem.answers[p.id]
        if p.answer_type == "grid":
            shown = _grid_tables(value)
        else:
            shown = text_html(accepted_texts(p, value)[0])
        rows.append(f"<li>{text_html(p.prompt)}: {shown}</li>")
    return "<p><b>Answers</b></p><ul>" + "".join(rows) + "</ul>"


def own_answer_html(part: Part, value: Any) -> str:
    """The answer of one question split from a multi-part variant, and nothing else (its
    feedback): `value` is the part's answer, or for a grid part the one cell asked."""
    if part.answer_type == "grid":
        shown = number_roundings(part, float(value))[0]
    else:
        shown = accepted_texts(part, value)[0]
    return f"<p><b>Answer:</b> {text_html(shown)}</p>"


def mistakes_html(variant: Variant) -> str:
    """The misconceptions' wrong answers and what each one means (for LMS formats that
    cannot attach feedback to a wrong answer); grids are left out."""
    rows = []
    for p in variant.problem.parts:
        if p.answer_type == "grid":
            continue
        for w in variant.wrong.get(p.id, ()):
            given = accepted_texts(p, w.value)[0]
            rows.append(
                f"<li>{text_html(f'{p.prompt}: {given}')} &mdash; "
                f"<b>{text_html(w.misconception.name)}</b>: "
                f"{text_html(w.misconception.explanation)}</li>"
            )
    if not rows:
        return ""
    return "<p><b>Common mistakes and the answers they give</b></p><ul>" + "".join(rows) + "</ul>"
