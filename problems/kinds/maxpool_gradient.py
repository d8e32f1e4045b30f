"""Backpropagation through max pooling: which input cells receive the gradient (argmax
routing, ties to the first cell in row-major order) and how it accumulates where windows
overlap."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from problems.answers import Tolerance
from problems.kinds.base import Draft, Part, Problem, Step, WrongModel, format_number
from problems.kinds.draws import Draws
from problems.kinds.pooling_grid import axes, window_cells, windows_of
from problems.kinds.stacks import pick, text_block
from problems.pooling import pool2d

NAME = "maxpool_gradient"
TITLE = "Gradient through max pooling"
SUMMARY = "Route the upstream gradient through a max pool to the winning input cells."

CELLS_ID = "cells"
GRID_ID = "gradient"
# The true gradients are whole numbers; the slack lets a typed 0.33 match a wrong model's 1/3.
GRID_TOLERANCE = Tolerance(absolute=0.01)
CLAIMED_MISCONCEPTIONS = ("gradient_to_all_cells", "ties_all_win", "overlap_ignored")

TIE_RULE = "On ties, the first cell in row-major order wins, as PyTorch does."

# (input side, kernel, stride, padding) per difficulty: disjoint windows first, then
# overlapping ones where a cell can win several windows.
_GEOMETRY = {
    1: ((4, 2, 2, 0),),
    2: ((4, 2, 1, 0), (5, 2, 1, 0), (5, 3, 2, 0)),
    3: ((5, 3, 1, 0), (5, 3, 2, 1), (6, 3, 2, 1), (6, 3, 2, 0), (6, 2, 1, 0)),
}


# ---------------------------------------------------------------- the routing, by pool2d

def _pool_params(grid: Any, kernel: int, stride: int, padding: int) -> dict[str, Any]:
    """Settings in the shape `pooling_grid`'s window helpers read."""
    return {"input": grid, "op": "max", "kernel": kernel, "stride": stride, "padding": padding,
            "dilation": 1, "ceil_mode": False, "count_include_pad": True}


def routed(params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The pooled maxima `(Ho, Wo)` and the winning input cell of each window `(Ho, Wo, 2)`."""
    return _routed(np.asarray(params["input"], dtype=np.float64),
                   params["kernel"], params["stride"], params["padding"])


def _routed(grid: np.ndarray, k: int, s: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """`routed` for a grid `(H, W)` as an array."""
    result = pool2d(grid[None], "max", (k, k), (s, s), (p, p))
    if result.argmax is None:  # pragma: no cover - max pooling always has its winning cells
        raise RuntimeError("max pooling without argmax")
    return result.output[0], result.argmax[0]


def input_gradient(params: Mapping[str, Any]) -> np.ndarray:
    """dL/dx: each window's upstream gradient added to its argmax cell."""
    _, argmax = routed(params)
    grad = np.zeros(np.asarray(params["input"]).shape)
    np.add.at(grad, (argmax[..., 0], argmax[..., 1]), np.asarray(params["upstream"], float))
    return grad


def _scattered(side: int, argmax: np.ndarray, upstream: list[list[int]]) -> list[list[float]]:
    """`input_gradient(...).tolist()` from the argmax already at hand: the same sums, added
    in the same order, without numpy's per-call overhead on a grid this small."""
    grad = [[0.0] * side for _ in range(side)]
    for (r, c), amount in zip(argmax.reshape(-1, 2).tolist(),
                              (a for row in upstream for a in row), strict=True):
        grad[r][c] += amount
    return grad


def _wins(argmax: np.ndarray) -> dict[tuple[int, int], int]:
    """How many windows each winning cell wins."""
    count: dict[tuple[int, int], int] = {}
    for r, c in argmax.reshape(-1, 2).tolist():
        count[(r, c)] = count.get((r, c), 0) + 1
    return count


Windows = tuple[tuple[tuple[tuple[int, int], ...], ...], ...]


def _tied_windows(grid: list[list[int]], windows: Windows,
                  maxima: np.ndarray) -> list[tuple[int, int]]:
    """The windows (their cells: `windows_of`) where two or more cells share the maximum."""
    top = maxima.tolist()
    return [(i, j) for i, row in enumerate(windows) for j, cells in enumerate(row)
            if [grid[r][c] for r, c in cells].count(top[i][j]) >= 2]


# ---------------------------------------------------------------- generating

def _plant_tie(draws: Draws, grid: list[list[int]], windows: Windows) -> None:
    """Copy one window's maximum onto another cell of that window (a deliberate tie; the
    windows' cells as `windows_of` lists them)."""
    i, j = draws.below(len(windows)), draws.below(len(windows[0]))
    cells = windows[i][j]
    top = max(grid[r][c] for r, c in cells)
    r, c = cells[draws.below(len(cells))]
    if grid[r][c] == top:  # already a maximum: tie it with another cell
        r, c = next(cell for cell in cells if cell != (r, c))
    grid[r][c] = top


def generate(rng: np.random.Generator, difficulty: int) -> Draft:
    """A grid, a max pool and an upstream gradient; the cells that get a gradient and, from
    difficulty 2, the whole input gradient."""
    draws = Draws(rng)
    side, kernel, stride, padding = pick(draws, _GEOMETRY[difficulty])
    tie = draws.random() < 0.5
    ones = difficulty == 1 or draws.random() < 0.5
    overlapping = stride < kernel
    # The cells of each window: the same for every grid drawn.
    windows = windows_of(*axes(_pool_params([[0] * side] * side, kernel, stride, padding)))
    for _attempt in range(200):
        grid = draws.integer_rows(0, 10, side, side)
        params = _pool_params(grid, kernel, stride, padding)
        if tie:
            _plant_tie(draws, grid, windows)
        maxima, argmax = _routed(np.array(grid, dtype=np.float64), kernel, stride, padding)
        if len({v for row in grid for v in row}) < 2 or (tie and not _tied_windows(grid, windows, maxima)):
            continue
        # Where windows overlap, make the point: some cell wins more than one window.
        if overlapping and max(_wins(argmax).values()) < 2:
            continue
        break
    else:  # pragma: no cover - an author's mistake in the tables above
        raise RuntimeError(f"no acceptable grid for {side, kernel, stride, padding}")
    rows, cols = maxima.shape
    upstream = ([[1] * cols for _ in range(rows)] if ones
                else draws.integer_rows(1, 4 if difficulty == 2 else 5, rows, cols))
    params["upstream"] = upstream
    gradient = _scattered(side, argmax, upstream)
    nonzero = [[r, c] for r in range(side) for c in range(side) if gradient[r][c] != 0]
    parts = [Part(CELLS_ID, "The input cells that receive a nonzero gradient", "cells",
                  cell_bounds=(side, side))]
    answers: dict[str, Any] = {CELLS_ID: nonzero}
    if difficulty >= 2:
        parts.append(Part(GRID_ID, "The gradient dL/dx of the input", "grid",
                          grid_shape=(side, side), tolerance=GRID_TOLERANCE))
        answers[GRID_ID] = gradient
    statement: list[dict[str, Any]] = [
        text_block(_task_text(params, ones)),
        {"type": "grid", "label": "Input x", "values": params["input"]},
    ]
    if not ones:
        statement.append({"type": "grid", "label": "Upstream gradient dL/dy",
                          "values": params["upstream"]})
    return Draft(f"Gradient through a {kernel}x{kernel} max pool", tuple(statement), tuple(parts),
                 answers, params)


def _task_text(params: Mapping[str, Any], ones: bool) -> str:
    """The pool, the routing rule with the tie rule, and the upstream gradient."""
    side = len(params["input"])
    k, s, p = params["kernel"], params["stride"], params["padding"]
    padding = f"padding {p} (padded cells never win)" if p else "no padding"
    upstream = ("The upstream gradient dL/dy is 1 for every output cell." if ones else
                "The upstream gradient dL/dy, one value per output cell, is given below.")
    return (f"The {side}x{side} input x below goes through max pooling: kernel {k}x{k}, "
            f"stride {s}, {padding}. In the backward pass each window passes its upstream "
            f"gradient to the cell that won it (its argmax). {TIE_RULE} {upstream}")


# ---------------------------------------------------------------- misconceptions

def _scatter(shape: tuple[int, int], shares: Iterable[tuple[int, int, float]]) -> list[list[float]]:
    """A gradient grid from (row, col, amount) shares, added up."""
    grad = np.zeros(shape)
    for r, c, amount in shares:
        grad[r, c] += amount
    return grad.tolist()


def wrong_models(problem: Problem) -> Iterable[WrongModel]:
    """Spreading over the window, every tied cell winning, and overlapping wins counted once;
    each from pool2d's maxima and argmax with the routing changed that way."""
    params = problem.params
    grid, upstream = params["input"], params["upstream"]
    shape = (len(grid), len(grid[0]))
    maxima, argmax = routed(params)
    windows = [(i, j, cells) for i, row in enumerate(window_cells(params))
               for j, cells in enumerate(row)]
    area = params["kernel"] ** 2
    correct = problem.answers
    models: list[tuple[str, dict[str, Any]]] = []

    covered = sorted({(r, c) for _, _, cells in windows for r, c in cells})
    models.append(("gradient_to_all_cells", {
        CELLS_ID: [list(cell) for cell in covered],
        GRID_ID: _scatter(shape, ((r, c, upstream[i][j] / area)
                                  for i, j, cells in windows for r, c in cells)),
    }))
    models.append(("gradient_to_all_cells", {GRID_ID: _scatter(shape, (
        (r, c, upstream[i][j] / len(cells)) for i, j, cells in windows for r, c in cells))}))
    models.append(("gradient_to_all_cells", {GRID_ID: _scatter(shape, (
        (r, c, upstream[i][j]) for i, j, cells in windows for r, c in cells))}))

    tied = [(i, j, [[r, c] for r, c in cells if grid[r][c] == maxima[i, j]])
            for i, j, cells in windows]
    models.append(("ties_all_win", {
        CELLS_ID: sorted({(r, c) for _, _, cells in tied for r, c in cells}),
        GRID_ID: _scatter(shape, ((r, c, upstream[i][j]) for i, j, cells in tied
                                  for r, c in cells)),
    }))
    models.append(("ties_all_win", {GRID_ID: _scatter(shape, (
        (r, c, upstream[i][j] / len(cells)) for i, j, cells in tied for r, c in cells))}))

    # Counted once: each winning cell keeps one window's gradient, the first (or, as a
    # plain assignment `dx[argmax] = dy` does, the last) window it wins in row-major order.
    for keep_last in (False, True):
        kept: dict[tuple[int, int], float] = {}
        for i in range(argmax.shape[0]):
            for j in range(argmax.shape[1]):
                cell = (int(argmax[i, j, 0]), int(argmax[i, j, 1]))
                if keep_last or cell not in kept:
                    kept[cell] = upstream[i][j]
        models.append(("overlap_ignored", {GRID_ID: _scatter(
            shape, ((r, c, amount) for (r, c), amount in kept.items()))}))

    for name, values in models:
        differing = {key: _canonical(value) for key, value in values.items()
                     if key in correct and _canonical(value) != correct[key]}
        if differing:
            yield name, differing


def _canonical(value: Any) -> Any:
    """Tuples and numpy scalars as the lists and floats of the answers."""
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def cell_windows(problem: Problem, part_id: str) -> list[list[list[list[int]]]] | None:
    """For the gradient grid: each input cell's neighbourhood, the cells of every window
    that contains it (where its gradient can come from)."""
    if part_id != GRID_ID:
        return None
    params = problem.params
    side = len(params["input"])
    around: list[list[set[tuple[int, int]]]] = [[set() for _ in range(side)] for _ in range(side)]
    for row in window_cells(params):
        for cells in row:
            for r, c in cells:
                around[r][c].update((a, b) for a, b in cells)
    return [[[list(cell) for cell in sorted(around[r][c])] for c in range(side)]
            for r in range(side)]


# ---------------------------------------------------------------- the worked solution

def worked(problem: Problem) -> list[Step]:
    """Every window with its cells and its winner, then the gradients added up per cell."""
    params = problem.params
    grid, upstream = params["input"], params["upstream"]
    maxima, argmax = routed(params)
    steps = [Step(
        "The rule",
        "Max pooling outputs y = max of each window, so dy/dx is 1 for the cell that won the "
        f"window and 0 for the others. {TIE_RULE} The chain rule sends each window's upstream "
        "gradient to its winner; a cell that wins several overlapping windows adds them up.",
        ("\\frac{\\partial L}{\\partial x_{r,c}} = \\sum_{(i,j):\\ \\arg\\max W_{ij} = (r,c)} "
         "\\frac{\\partial L}{\\partial y_{i,j}}",),
    )]
    for i, row in enumerate(window_cells(params)):
        for j, cells in enumerate(row):
            winner = [int(argmax[i, j, 0]), int(argmax[i, j, 1])]
            top = format_number(maxima[i, j])
            tied = [cell for cell in cells if grid[cell[0]][cell[1]] == maxima[i, j]]
            text = f"The max {top} is at ({winner[0]}, {winner[1]})"
            if len(tied) > 1:
                listed = ", ".join(f"({r}, {c})" for r, c in tied)
                text += f"; {listed} tie and the first in row-major order wins"
            values = ", ".join(format_number(grid[r][c]) for r, c in cells)
            steps.append(Step(
                f"Window ({i}, {j})", text + ".",
                (f"\\max({values}) = {top}",
                 f"\\frac{{\\partial L}}{{\\partial x_{{{winner[0]},{winner[1]}}}}} \\mathrel{{+}}= "
                 f"\\frac{{\\partial L}}{{\\partial y_{{{i},{j}}}}} = {format_number(upstream[i][j])}"),
                {"values": grid, "highlight": cells, "result": maxima[i, j].item(),
                 "winner": winner},
            ))
    gradient = problem.answers.get(GRID_ID) or input_gradient(params).tolist()
    matrix = " \\\\ ".join(" & ".join(format_number(v) for v in r) for r in gradient)
    cells = ", ".join(f"({r}, {c})" for r, c in problem.answers[CELLS_ID])
    several = [f"({r}, {c})" for (r, c), n in sorted(_wins(argmax).items()) if n > 1]
    text = f"Cells with a nonzero gradient: {cells}."
    if several:
        text += f" Cells that win several windows add their gradients: {', '.join(several)}."
    steps.append(Step(
        "The input gradient", text,
        (f"\\frac{{\\partial L}}{{\\partial x}} = \\begin{{bmatrix}} {matrix} \\end{{bmatrix}}",),
        {"values": gradient, "highlight": problem.answers[CELLS_ID], "result": None},
    ))
    return steps
