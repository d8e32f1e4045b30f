"""What `_problem.html` draws: a problem's public JSON, the typed answers and (after grading)
the feedback, arranged by block type and answer type. No per-kind code.

`problem_context(...)` is used by the student pages and by the instructor preview:

    {% from "_problem.html" import problem_body %}{{ problem_body(ctx) }}

Grading marks (`result`), the input windows of wrong grid cells (`windows`) and the worked
solution's region on a field drawing (`regions`) are passed only after grading; before
that the context holds nothing the statement does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from problems import kinds
from problems.answers import (
    NUMBER_HINT,
    AnswerFormatError,
    means_nothing,
    parse_choice,
    parse_choices,
    parse_number,
)
from problems.kinds.base import TICK_HINT, Part, Problem, format_number

_ROW_SPLIT = re.compile(r"[\n;]")
_CELL_SPLIT = re.compile(r"[\s,]+")
# The cells of a grid typed in the page are joined with this: a cell may hold spaces (a mixed
# number such as 5 1/2) but no comma (`grid_cell_errors` refuses one).
CELL_JOIN = ", "
# Older drafts marked an empty cell with this; it is read back as an empty cell.
EMPTY_CELL = "?"
# At most this many bad cells are named one by one in a grid's format error.
MAX_NAMED_CELLS = 8
# A field drawing is at most this wide (px); cells shrink to fit, down to a minimum.
FIELD_MAX_PX = 420


def answer_name(part_id: str) -> str:
    """The form field that carries a part's answer text."""
    return f"answers[{part_id}]"


def cell_name(part_id: str, row: int, col: int) -> str:
    """The form field of one cell of a grid part (joined into the answer text)."""
    return f"grid[{part_id}][{row}][{col}]"


def form_answers(form: Any, parts: Sequence[Part]) -> dict[str, str]:
    """The answer texts from a submitted form: `answers[<id>]` (several values, as from
    checkboxes, are joined with commas); a grid typed in its cells is rebuilt from the cell
    fields (the cells, not the joined copy a script keeps, are what the student typed)."""
    texts: dict[str, str] = {}
    for part in parts:
        if part.answer_type == "grid" and part.grid_shape and _has_cells(form, part.id):
            texts[part.id] = join_cells(form, part.id, part.grid_shape)
            continue
        values = [v for v in form.getlist(answer_name(part.id)) if v.strip()]
        if len(values) > 1 and part.answer_type == "choices":
            values = _separable(values, part.choices)
        text = ", ".join(values) if len(values) > 1 else (values[0] if values else "")
        texts[part.id] = text
    return texts


_FIELD = re.compile(r"^(?:answers\[(?P<answer>[^\]]*)\]|grid\[(?P<grid>[^\]]*)\]\[(\d+)\]\[(\d+)\])$")
# At most this many cells a side are read back from a grid of a form no part describes.
_MAX_CELLS_SIDE = 64


def typed_answers(form: Any, parts: Sequence[Part] | None = None) -> list[dict[str, str]]:
    """What a student typed in a submitted form, to show back when it cannot be recorded:
    `[{"label", "text"}]` for each part with an answer. With the problem's `parts`: labelled
    by their prompts, in order (as `form_answers` reads them); without (the item is gone):
    by the form's part ids, in the form's order, a grid's cells rebuilt from their fields."""
    if parts is not None:
        texts = form_answers(form, parts)
        return [
            {"label": part.prompt, "text": texts[part.id]} for part in parts if texts[part.id]
        ]
    order: list[str] = []
    shapes: dict[str, tuple[int, int]] = {}
    for name in form.keys():
        match = _FIELD.match(name)
        if match is None:
            continue
        pid = match["answer"] if match["answer"] is not None else match["grid"]
        if pid not in order:
            order.append(pid)
        if match["grid"] is not None:
            r, c = int(match[3]), int(match[4])
            if r < _MAX_CELLS_SIDE and c < _MAX_CELLS_SIDE:
                rows, cols = shapes.get(pid, (0, 0))
                shapes[pid] = (max(rows, r + 1), max(cols, c + 1))
    found = []
    for pid in order:
        if pid in shapes:
            text = join_cells(form, pid, shapes[pid])
        else:
            text = ", ".join(v for v in form.getlist(answer_name(pid)) if v.strip())
        if text:
            found.append({"label": pid, "text": text})
    return found


def _has_cells(form: Any, part_id: str) -> bool:
    prefix = f"grid[{part_id}]["
    return any(name.startswith(prefix) for name in form.keys())


def _cell_values(form: Any, part_id: str, shape: Sequence[int]) -> list[list[str]]:
    rows, cols = int(shape[0]), int(shape[1])
    return [
        [" ".join((form.get(cell_name(part_id, r, c)) or "").split()) for c in range(cols)]
        for r in range(rows)
    ]


def grid_cell_errors(form: Any, parts: Sequence[Part]) -> dict[str, tuple[str, list[list[int]]]]:
    """For each grid part typed in its cells with some cell empty or not one number: the
    format error naming those cells (rows and columns from 0, as the problem counts them)
    and the bad cells as [row, col]. A grid left wholly empty is not listed (it is a
    missing answer)."""
    errors: dict[str, tuple[str, list[list[int]]]] = {}
    for part in parts:
        if part.answer_type != "grid" or not part.grid_shape or not _has_cells(form, part.id):
            continue
        cells = _cell_values(form, part.id, part.grid_shape)
        if not any(v for row in cells for v in row):
            continue
        bad: list[list[int]] = []
        named: list[str] = []
        for r, row in enumerate(cells):
            for c, value in enumerate(row):
                problem = _cell_problem(value)
                if problem is not None:
                    bad.append([r, c])
                    named.append(f"row {r}, column {c}{problem}")
        if not bad:
            continue
        if len(bad) == 1:
            message = named[0][0].upper() + named[0][1:] + "."
        else:
            shown = "; ".join(named[:MAX_NAMED_CELLS])
            more = len(named) - MAX_NAMED_CELLS
            message = f"{len(bad)} cells need an answer: {shown}"
            message += f"; and {more} more." if more > 0 else "."
        message += " Type one number per cell, such as 3, -1.5, 7/4 or 5 1/2."
        errors[part.id] = (message, bad)
    return errors


def _cell_problem(value: str) -> str | None:
    """What is wrong with one cell's text (` is empty`, `: "x" is not a number`), or None."""
    if not value:
        return " is empty"
    if "," in value or ";" in value:
        return f': "{value}" holds more than one number'
    try:
        parse_number(value)
    except AnswerFormatError as error:
        return ": " + error.message.replace(" " + NUMBER_HINT, "").rstrip(".")
    return None


def _separable(values: list[str], choices: Sequence[str]) -> list[str]:
    """Checked labels as they can be joined with commas: a label that itself holds a comma
    or semicolon is sent as its letter (a, b, ...) instead."""
    if not any(re.search(r"[,;\n]", v) for v in values) or len(choices) > 26:
        return values
    letters = {choice: chr(ord("a") + i) for i, choice in enumerate(choices)}
    return [letters.get(v, v) for v in values]


def join_cells(form: Any, part_id: str, shape: Sequence[int]) -> str:
    """A grid part's text from its cell fields: rows on lines, cells joined by `CELL_JOIN`
    (an empty cell stays empty between two commas); empty if no cell was filled."""
    cells = _cell_values(form, part_id, shape)
    if not any(v for row in cells for v in row):
        return ""
    return "\n".join(CELL_JOIN.join(row) for row in cells)


def split_grid(text: str, shape: Sequence[int]) -> list[list[str]]:
    """A grid answer's text back in cells (to refill the inputs), padded to `shape`: a row
    with commas is split at its commas only (a cell keeps its spaces, as in 5 1/2), any other
    row at its spaces."""
    rows, cols = int(shape[0]), int(shape[1])
    text = re.sub(r"\]\s*,?", "\n", text or "").replace("[", " ")  # [[1, 2], [3, 4]]
    lines = [line.strip() for line in _ROW_SPLIT.split(text)]
    lines = [line for line in lines if line]  # a row of empty cells (", , ") keeps its place
    values = []
    for line in lines:
        if "," in line:
            line = line[:-1] if line.endswith(",") else line
            values.append([v.strip() for v in line.split(",")])
        else:
            values.append(line.split())
    if len(values) == 1 and len(values[0]) == rows * cols and rows > 1:
        flat = values[0]
        values = [flat[r * cols : (r + 1) * cols] for r in range(rows)]
    out = []
    for r in range(rows):
        row = values[r] if r < len(values) else []
        out.append([(row[c] if c < len(row) and row[c] != EMPTY_CELL else "") for c in range(cols)])
    return out


def same_answer(part: Mapping[str, Any], first: str | None, second: str | None) -> bool:
    """Whether two answer texts of a part are the same answer as typed (spacing aside; a
    grid cell by cell; choices by the labels they check)."""
    first, second = first or "", second or ""
    if part.get("answer_type") == "grid" and part.get("grid_shape"):
        return split_grid(first, part["grid_shape"]) == split_grid(second, part["grid_shape"])
    if part.get("answer_type") in ("choice", "choices") and first.strip() and second.strip():
        if _checked(part, first) == _checked(part, second) and _checked(part, first):
            return True
    return " ".join(first.split()) == " ".join(second.split())


def _checked(part: Mapping[str, Any], text: str) -> set[str]:
    choices = part.get("choices") or []
    if not text.strip() or not choices:
        return set()
    try:
        if part["answer_type"] == "choice":
            return {parse_choice(text, choices)}
        return set(parse_choices(text, choices, allow_empty=True))
    except (AnswerFormatError, ValueError):
        if part["answer_type"] != "choices":
            return set()
    # Refused as a whole ("none" ticked with others): each box as it was ticked, so that
    # the student sees what was sent and can untick one.
    found = set()
    for piece in text.split(","):
        try:
            found.add(parse_choice(piece, choices))
        except (AnswerFormatError, ValueError):
            continue
    return found


def _status(result: Mapping[str, Any] | None) -> str | None:
    if result is None:
        return None
    if result.get("format_error"):
        return "invalid"
    if result.get("correct"):
        return "correct"
    return "partial" if result.get("score", 0) > 0 else "wrong"


def points_label(value: Any) -> str:
    """`1 point`, `2.5 points`, `1.67 points` (two decimals at most)."""
    text = format_number(round(float(value or 0), 2))
    return f"{text} point" if text == "1" else f"{text} points"


def item_points_scale(item_points: float, problem: Mapping[str, Any]) -> float:
    """The factor that turns a problem's part points into an item's points: the item's
    points over the problem's `max_points` (1 when the problem has none)."""
    max_points = problem.get("max_points") or 0
    return float(item_points) / max_points if max_points else 1.0


def _cell_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else ""
    if isinstance(value, (int, float)):
        return format_number(value)
    return str(value)


def _grid_tables(block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A grid block as tables of cells: one per channel for a 3-D grid."""
    values = block.get("values") or []
    highlight = {tuple(int(v) for v in cell) for cell in block.get("highlight") or []}
    three_d = (
        bool(values)
        and isinstance(values[0], list)
        and values[0]
        and isinstance(values[0][0], list)
    )
    grids = values if three_d else [values]
    names = block.get("channels")
    tables = []
    for ch, grid in enumerate(grids):
        if three_d:
            caption = (
                str(names[ch]) if isinstance(names, list) and ch < len(names) else f"channel {ch}"
            )
        else:
            caption = ""
        rows = []
        for r, row in enumerate(grid):
            cells = []
            for c, value in enumerate(row):
                lit = (ch, r, c) in highlight if three_d else (r, c) in highlight
                cells.append({"text": _cell_text(value), "rc": f"{r},{c}", "highlight": lit})
            rows.append(cells)
        tables.append({"caption": caption, "rows": rows, "cols": len(grid[0]) if grid else 0})
    return tables


def field_drawing(
    height: int, width: int, region: Mapping[str, Any] | None = None,
    given: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An SVG drawing of an input grid, with a region's rows x cols (inclusive) shaded (the
    worked solution's) and another outlined (`given`: the student's graded answer, drawn
    only if it lies near the image); padding rows and columns a region reaches beyond the
    image are drawn dashed."""
    height, width = max(1, int(height)), max(1, int(width))
    top, left, bottom, right = 0, 0, height - 1, width - 1
    box = given_box = None
    if region and region.get("rows") and region.get("cols"):
        r0, r1 = (int(v) for v in region["rows"])
        c0, c1 = (int(v) for v in region["cols"])
        top, bottom = min(top, r0), max(bottom, r1)
        left, right = min(left, c0), max(right, c1)
        box = (r0, r1, c0, c1)
    if given and given.get("rows") and given.get("cols"):
        r0, r1 = (int(v) for v in given["rows"])
        c0, c1 = (int(v) for v in given["cols"])
        if -height <= r0 <= r1 < 2 * height and -width <= c0 <= c1 < 2 * width:
            top, bottom = min(top, r0), max(bottom, r1)
            left, right = min(left, c0), max(right, c1)
            given_box = (r0, r1, c0, c1)
    rows, cols = bottom - top + 1, right - left + 1
    cell = max(4.0, min(28.0, FIELD_MAX_PX / max(rows, cols)))
    margin = 22.0
    label_every = 1 if max(rows, cols) <= 16 else (5 if max(rows, cols) <= 80 else 10)

    def x(col: int) -> float:
        return margin + (col - left) * cell

    def y(row: int) -> float:
        return margin + (row - top) * cell

    grid_lines = []
    if cell >= 6:
        for r in range(top, bottom + 2):
            grid_lines.append((x(left), y(r), x(right + 1), y(r)))
        for c in range(left, right + 2):
            grid_lines.append((x(c), y(top), x(c), y(bottom + 1)))
    ticks_r = [(r, y(r) + cell / 2) for r in range(top, bottom + 1) if r % label_every == 0]
    ticks_c = [(c, x(c) + cell / 2) for c in range(left, right + 1) if c % label_every == 0]
    drawing: dict[str, Any] = {
        "w": margin + cols * cell + 4,
        "h": margin + rows * cell + 4,
        "cell": cell,
        "image": (x(0), y(0), width * cell, height * cell),
        "padded": (top < 0 or left < 0 or bottom >= height or right >= width),
        "outer": (x(left), y(top), cols * cell, rows * cell),
        "lines": grid_lines,
        "ticks_r": ticks_r,
        "ticks_c": ticks_c,
        "margin": margin,
        "font": max(7.0, min(11.0, cell * 0.6 if label_every == 1 else 11.0)),
        "region": None,
        "given": None,
        "height": height,
        "width": width,
    }
    for key, found in (("region", box), ("given", given_box)):
        if found:
            r0, r1, c0, c1 = found
            drawing[key] = {
                "x": x(c0),
                "y": y(r0),
                "w": (c1 - c0 + 1) * cell,
                "h": (r1 - r0 + 1) * cell,
                "text": f"rows {r0} to {r1}, columns {c0} to {c1}",
            }
    return drawing


def _given_region(problem: Mapping[str, Any], by_result: Mapping[str, Any],
                  stale: set[str]) -> dict[str, Any] | None:
    """The student's graded answer as a region of the field drawing: the rows and the
    columns the problem's two range parts (rows, then columns) were answered with, when
    both were read and graded as they still stand in the form."""
    ranges = [p["id"] for p in problem.get("parts", []) if p["answer_type"] == "range"]
    if len(ranges) != 2 or any(pid in stale for pid in ranges):
        return None
    given = [(by_result.get(pid) or {}).get("given") for pid in ranges]
    if not all(isinstance(g, list) and len(g) == 2 for g in given):
        return None
    return {"rows": given[0], "cols": given[1]}


def solution_regions(steps: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The field regions a worked solution draws (its steps' `grid` of type field)."""
    regions = []
    for step in steps or []:
        grid = step.get("grid")
        if (
            isinstance(grid, Mapping)
            and grid.get("type") == "field"
            and grid.get("rows")
            and grid.get("cols")
        ):
            regions.append(dict(grid))
    return regions


def grading_windows(problem: Problem, result: Mapping[str, Any] | None) -> dict[str, Any]:
    """For each graded grid part with wrong cells: the input cells each answer cell pools
    over (`problems.kinds.cell_windows`). Only to be called after grading."""
    if not result:
        return {}
    windows: dict[str, Any] = {}
    for part in result.get("parts", []):
        if part.get("cells") and not part.get("correct"):
            found = kinds.cell_windows(problem, part["id"])
            if found:
                windows[part["id"]] = found
    return windows


def problem_context(
    problem: Mapping[str, Any],
    answers: Mapping[str, str] | None = None,
    result: Mapping[str, Any] | None = None,
    *,
    windows: Mapping[str, Any] | None = None,
    regions: Sequence[Mapping[str, Any]] | None = None,
    readonly: bool = False,
    points_scale: float = 1.0,
    graded_answers: Mapping[str, str] | None = None,
    graded_attempt: int | None = None,
    invalid_cells: Mapping[str, Sequence[Sequence[int]]] | None = None,
) -> dict[str, Any]:
    """The render-ready view of a problem: `problem` is `Problem.public()` (without the seed
    for students); `answers` the texts to put in the inputs; `result` a GradeResult JSON
    (after grading); `windows` from `grading_windows`; `regions` from `solution_regions`
    (only when the worked solution may be shown); `points_scale` turns part points into the
    item's points (item points / problem max points). `graded_answers` are the answers
    `result` graded (attempt `graded_attempt`): a part whose text differs from them (an
    edited draft) shows no mark. `invalid_cells` are the grid cells to mark as unreadable."""
    answers = answers or {}
    by_result = {p["id"]: p for p in (result or {}).get("parts", [])}
    windows = windows or {}
    invalid_cells = invalid_cells or {}
    stale: set[str] = set()  # parts edited since their grade: they show no mark
    parts: dict[str, dict[str, Any]] = {}
    for part in problem.get("parts", []):
        pid = part["id"]
        text = answers.get(pid) or ""
        feedback = by_result.get(pid)
        changed = None
        if (
            feedback is not None
            and graded_answers is not None
            and not same_answer(part, text, graded_answers.get(pid))
        ):
            feedback, changed = None, graded_attempt or True
            stale.add(pid)
        view = {
            **part,
            "name": answer_name(pid),
            "dom_id": f"part-{pid}",
            "value": text,
            "checked": _checked(part, text),
            "offer_none": part["answer_type"] == "choices"
            # a part with a choice meaning "no choice" needs no extra "None of these" box
            and not any(means_nothing(c) for c in part.get("choices") or []),
            "none_checked": part["answer_type"] == "choices"
            and any(piece.strip().lower() == "none" for piece in text.split(",")),
            # Checkboxes here: the part's own hint is for typed answers.
            "hint": TICK_HINT if part["answer_type"] == "choices" else part.get("hint", ""),
            "feedback": feedback,
            "status": _status(feedback),
            "changed": changed,
            "graded_attempt": graded_attempt,
            "grid": None,
            "points_label": points_label(part.get("points", 0) * points_scale),
            "earned_label": (
                format_number(round(feedback.get("earned", 0) * points_scale, 2))
                if feedback
                else ""
            ),
        }
        shape = part.get("grid_shape")
        if part["answer_type"] == "grid" and shape:
            marks = feedback.get("cells") if feedback else None
            part_windows = windows.get(pid) if feedback else None
            bad_cells = {(int(r), int(c)) for r, c in invalid_cells.get(pid) or []}
            cells = split_grid(text, shape)
            grid_rows = []
            for r, row in enumerate(cells):
                out_row = []
                for c, value in enumerate(row):
                    mark = None
                    window = ""
                    if marks and r < len(marks) and c < len(marks[r]):
                        mark = "right" if marks[r][c] else "wrong"
                        if (
                            mark == "wrong"
                            and part_windows
                            and r < len(part_windows)
                            and c < len(part_windows[r])
                        ):
                            window = " ".join(f"{a},{b}" for a, b in part_windows[r][c])
                    if (r, c) in bad_cells:
                        mark = "invalid"
                    out_row.append(
                        {
                            "value": value,
                            "name": cell_name(pid, r, c),
                            "mark": mark,
                            "window": window,
                            "row": r,
                            "col": c,
                        }
                    )
                grid_rows.append(out_row)
            view["grid"] = grid_rows
            view["has_windows"] = any(cell["window"] for row in grid_rows for cell in row)
        parts[pid] = view

    placed: set[str] = set()
    blocks = []
    first_grid = True
    first_window = _first_window(parts)
    for index, block in enumerate(problem.get("statement", [])):
        kind = block.get("type")
        out: dict[str, Any] = {"type": kind, "index": index, "label": block.get("label", "")}
        if kind == "text":
            out["text"] = block.get("text", "")
        elif kind == "stack":
            columns = block.get("columns", [])
            rows = []
            for row in block.get("rows", []):
                cells = []
                for col in columns:
                    cell = (row.get("cells") or {}).get(col["key"])
                    if cell and cell.get("part") in parts:
                        placed.add(cell["part"])
                        cells.append({"part": parts[cell["part"]]})
                    elif cell and "text" in cell:
                        cells.append({"text": cell["text"]})
                    else:
                        cells.append({})
                rows.append(
                    {"index": row.get("index"), "label": row.get("label", ""), "cells": cells}
                )
            footer = []
            answer_col = _answer_column(rows, len(columns))
            for foot in block.get("footer", []):
                if foot.get("part") in parts:
                    placed.add(foot["part"])
                    footer.append(
                        {
                            "label": foot.get("label", ""),
                            "part": parts[foot["part"]],
                            "before": answer_col,
                            "after": max(0, len(columns) - answer_col - 1),
                        }
                    )
            hints = [c["part"]["hint"] for r in rows for c in r["cells"] if c.get("part")]
            hints += [f["part"]["hint"] for f in footer]
            out.update(
                hint="; ".join(dict.fromkeys(hints)),
                layout=block.get("layout", ""),
                input=block.get("input", []),
                columns=columns,
                rows=rows,
                footer=footer,
                input_text="x".join(str(v) for v in block.get("input", [])),
                note=block.get("note", ""),
            )
        elif kind == "grid":
            out["tables"] = _grid_tables(block)
            out["window_target"] = first_grid
            if first_grid and first_window:
                for table in out["tables"]:
                    for row in table["rows"]:
                        for cell in row:
                            cell["window"] = cell["rc"] in first_window
            first_grid = False
        elif kind == "field":
            region = next(
                (
                    r
                    for r in regions or []
                    if int(r.get("height", -1)) == int(block.get("height", 0))
                ),
                None,
            )
            out["drawing"] = field_drawing(block.get("height", 1), block.get("width", 1), region,
                                           _given_region(problem, by_result, stale))
        else:
            out["text"] = block.get("text", "")
        blocks.append(out)

    blocks = _group_grids(blocks)
    # Ranges of input rows and columns answer about a field drawing: their boxes sit right
    # under the (first) drawing, before any further question of the statement.
    field = next((b for b in blocks if b["type"] == "field"), None)
    near_field: set[str] = set()
    if field is not None:
        field["parts"] = [
            parts[p["id"]]
            for p in problem.get("parts", [])
            if p["id"] not in placed and p["answer_type"] == "range"
        ]
        near_field = {view["id"] for view in field["parts"]}
    loose = [
        parts[p["id"]]
        for p in problem.get("parts", [])
        if p["id"] not in placed and p["id"] not in near_field
    ]
    # Under a table, only what needs words: a plain right answer has its tick in its cell.
    # Each table's feedback sits under that table, before the rest of the statement.
    stack_feedback = []
    for block in blocks:
        if block["type"] != "stack":
            continue
        in_block = [c["part"] for r in block["rows"] for c in r["cells"] if c.get("part")]
        in_block += [f["part"] for f in block["footer"]]
        block["feedback"] = [
            view
            for view in in_block
            if view["feedback"]
            and (view["status"] != "correct" or view["feedback"].get("follow_through"))
        ]
        stack_feedback += block["feedback"]
    return {
        "title": problem.get("title", ""),
        "named_mistakes": sum(
            1 for view in parts.values() if view["feedback"] and view["feedback"].get("misconception")
        ),
        "max_points": problem.get("max_points"),
        "blocks": blocks,
        "parts": parts,
        "loose_parts": loose,
        "placed_feedback": stack_feedback,
        "graded": result is not None,
        "readonly": readonly,
    }


def _answer_column(rows: Sequence[Mapping[str, Any]], n_columns: int) -> int:
    """The column a table's footer answers sit under: the last one whose rows hold answer
    boxes (the column a total sums), else the last column."""
    found = max(
        (i for row in rows for i, cell in enumerate(row["cells"]) if cell.get("part")),
        default=n_columns - 1,
    )
    return max(0, found)


def _group_grids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive grid blocks side by side: one "grids" block holding them."""
    grouped: list[dict[str, Any]] = []
    for block in blocks:
        if block["type"] == "grid" and grouped and grouped[-1]["type"] == "grids":
            grouped[-1]["grids"].append(block)
        elif block["type"] == "grid":
            grouped.append({"type": "grids", "index": block["index"], "grids": [block]})
        else:
            grouped.append(block)
    return grouped


def _first_window(parts: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The input cells of the first wrong grid cell's window (highlighted from the start)."""
    for part in parts.values():
        for row in part.get("grid") or []:
            for cell in row:
                if cell["window"]:
                    return set(cell["window"].split())
    return set()


def solution_context(steps: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Worked-solution steps ready to draw: formulas as LaTeX, a step's grid as tables (with
    its window highlighted and its result) or its field region as a drawing."""
    out = []
    for step in steps or []:
        view: dict[str, Any] = {
            "title": step.get("title", ""),
            "text": step.get("text", ""),
            "math": list(step.get("math") or []),
            "tables": None,
            "drawing": None,
            "result": None,
        }
        grid = step.get("grid")
        if isinstance(grid, Mapping):
            if grid.get("type") == "field":
                view["drawing"] = field_drawing(grid.get("height", 1), grid.get("width", 1), grid)
            elif grid.get("values"):
                view["tables"] = _grid_tables(grid)
                if grid.get("result") is not None:
                    view["result"] = _cell_text(grid["result"]) or None
        out.append(view)
    return out
