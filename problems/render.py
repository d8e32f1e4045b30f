"""Problems as plain text, for the command line (the service renders the same blocks as HTML)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from problems.kinds.base import Part, Problem, Step, format_answer, format_number
from problems.tables import grid_text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "   ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return [line(header), "-" * len(line(header)), *(line(r) for r in rows)]


def _stack_lines(block: Mapping[str, Any], parts: Mapping[str, Part], answers: Mapping[str, Any] | None) -> list[str]:
    columns = [c["key"] for c in block["columns"]]
    header = ["Layer (type)", *(c["title"] for c in block["columns"])]

    def cell(spec: Mapping[str, Any] | None) -> str:
        if spec is None:
            return ""
        if "part" in spec:
            part_id = spec["part"]
            if answers is not None:
                return format_answer(parts[part_id], answers[part_id])
            return f"[{part_id}]"
        return str(spec.get("text", ""))

    rows = [["input " + "x".join(map(str, block["input"])), *([""] * len(columns))]]
    for row in block["rows"]:
        rows.append([f"{row['index']} {row['label']}", *(cell(row["cells"].get(k)) for k in columns)])
    for foot in block.get("footer", []):
        rows.append([foot["label"], cell({"part": foot["part"]}), *([""] * (len(columns) - 1))])
    note = [str(block["note"])] if block.get("note") else []
    return _table(header, rows) + [f"(layout {block['layout']})", *note]


def _block_lines(block: Mapping[str, Any], parts: Mapping[str, Part], answers: Mapping[str, Any] | None) -> list[str]:
    kind = block["type"]
    if kind == "text":
        return [block["text"]]
    if kind == "stack":
        return _stack_lines(block, parts, answers)
    if kind == "grid":
        values = np.asarray(block["values"], dtype=float)
        return [f"{block.get('label', 'Grid')}:", grid_text(values)]
    if kind == "field":
        return [f"{block.get('label', 'Input')}: a {block['height']}x{block['width']} grid (rows and columns from 0)."]
    return [f"({kind} block)"]


def problem_text(problem: Problem, with_answers: bool = False) -> str:
    """The statement, the parts with their format hints, and optionally the answers."""
    parts = {p.id: p for p in problem.parts}
    lines = [f"{problem.title}  [{problem.kind}, difficulty {problem.difficulty}, seed {problem.seed}]", ""]
    for block in problem.statement:
        lines += _block_lines(block, parts, problem.answers if with_answers else None)
        lines.append("")
    lines.append("Answer:")
    for p in problem.parts:
        points = f"{p.points:g} pt" + ("s" if p.points != 1 else "")
        lines.append(f"  [{p.id}] {p.prompt} ({points}; {p.hint})")
        if p.choices:
            lines += [f"      - {c}" for c in p.choices]
        if with_answers:
            answer = format_answer(p, problem.answers[p.id]).replace("\n", "\n        ")
            lines.append(f"      = {answer}")
    return "\n".join(lines)


def _marked_grid(grid: Mapping[str, Any]) -> str:
    """A worked-solution grid with the window's cells in brackets."""
    values = np.asarray(grid["values"], dtype=float)
    if values.ndim != 2:
        return grid_text(values)
    marked = {tuple(cell) for cell in grid.get("highlight", [])}
    cells = [[format_number(v) for v in row] for row in values]
    width = max(len(c) for row in cells for c in row) + 2
    return "\n".join(
        " ".join((f"[{c}]" if (r, k) in marked else f" {c} ").rjust(width) for k, c in enumerate(row))
        for r, row in enumerate(cells)
    )


def steps_text(steps: Sequence[Step]) -> str:
    """A worked solution as numbered steps (formulas in LaTeX)."""
    lines = ["Worked solution:"]
    for n, step in enumerate(steps, 1):
        lines.append(f"{n}. {step.title}")
        if step.text:
            lines.append(f"   {step.text}")
        lines += [f"   $ {m}" for m in step.math]
        if step.grid is not None and "values" in step.grid:
            lines += ["   " + row for row in _marked_grid(step.grid).splitlines()]
            # A step may carry "result": None (a grid with no single value to show).
            if step.grid.get("result") is not None:
                lines.append(f"   -> {format_number(step.grid['result'])}")
    return "\n".join(lines)
