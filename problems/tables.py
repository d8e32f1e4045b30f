"""Human-readable summaries (like Keras' `model.summary()`), apart from the computing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from problems.solver import Solution


def shape_text(shape: Sequence[int]) -> str:
    """`(None, 26, 26, 32)`: the batch dimension first, as Keras prints it."""
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


def pair_text(pair: Sequence[int] | None) -> str:
    """`7x7`, or `-` when there is no spatial receptive field."""
    return "-" if pair is None else "x".join(map(str, pair))


def summary_table(solution: Solution) -> str:
    """A summary table with a receptive-field column (Layer, Output Shape, Param #, RF size, jump)."""
    header = ("Layer (type)", "Output Shape", "Param #", "RF size", "Jump")
    rows = [("input", shape_text(solution.input_shape), "", "1x1" if len(solution.input_shape) == 3 else "-",
             "1x1" if len(solution.input_shape) == 3 else "-")]
    for layer in solution.layers:
        field = layer.receptive_field
        rows.append((
            f"{layer.index} ({layer.type})",
            shape_text(layer.output_shape),
            f"{layer.params:,}",
            pair_text(field.size if field else None),
            pair_text(field.jump if field else None),
        ))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]),
                 row[3].rjust(widths[3]), row[4].rjust(widths[4])]
        return "   ".join(cells).rstrip()

    rule = "=" * len(line(header))
    body = [line(header), rule, *(line(r) for r in rows), rule]
    body += [
        f"Layout: {solution.layout}",
        f"Total params: {solution.total_params:,}",
        f"Trainable params: {solution.trainable_params:,}",
        f"Non-trainable params: {solution.non_trainable_params:,}",
        f"Total MACs: {solution.total_macs:,}",
    ]
    return "\n".join(body)


def number_text(value: float) -> str:
    """A grid value: integers without a decimal point, others to at most 4 decimals."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def grid_text(grid: np.ndarray) -> str:
    """A 2-D grid as right-aligned columns; a 3-D one as channels one after another."""
    if grid.ndim == 3:
        return "\n\n".join(f"channel {c}:\n{grid_text(g)}" for c, g in enumerate(grid))
    cells = [[number_text(v) for v in row] for row in grid]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)
