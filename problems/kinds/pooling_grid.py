"""Pool a small grid by hand: max, average or min pooling with kernel, stride, padding,
"same" padding, dilation and ceil mode, answered cell by cell."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from problems.answers import Tolerance
from problems.errors import SpecError
from problems.kinds.base import Draft, Part, Problem, Step, WrongModel, format_number
from problems.kinds.draws import Draws
from problems.kinds.stacks import pick, text_block
from problems.pooling import pool2d
from problems.windows import AxisWindows, axis_windows

NAME = "pooling_grid"
TITLE = "Pooling a grid"
SUMMARY = "Compute a max, average or min pooled grid by hand, window by window."

PART_ID = "output"
# Averages are typed with two decimals (or as fractions). Maxima and minima are whole, so
# the same slack accepts nothing wrong there, and lets a max answered with rounded averages
# be named for what it is.
GRID_TOLERANCE = Tolerance(absolute=0.01)

# The misconceptions a student's same-shaped grid can be named with (the tests check each).
# `wrong_models` also yields floor_for_ceil and ceil_for_floor: those always change the
# output's shape, which the shaped grid part refuses as a format error before matching.
CLAIMED_MISCONCEPTIONS = (
    "max_for_avg", "avg_for_max", "min_for_max", "avg_counts_padding", "avg_ignores_padding",
    "padding_forgotten", "grid_transposed", "overlap_ignored", "dilation_ignored",
    "stride_forgotten",
)

_OP_NAMES = {"max": "Max pooling", "avg": "Average pooling", "min": "Min pooling"}

# (input side, kernel, stride, padding), chosen so every output stays small by hand.
_GEOMETRY_2 = ((3, 2, 0), (3, 2, 1), (2, 1, 0), (2, 2, 1))
# Ceil mode: rows where it adds a partial window, plus (5, 2, 2, 1) where the extra window
# would start in the right padding and is dropped, and (5, 3, 2, 0) where it changes nothing.
_CEIL_3 = ((5, 2, 2, 0), (6, 3, 2, 0), (6, 3, 2, 1), (4, 3, 2, 0), (5, 2, 2, 1), (5, 3, 2, 0))
# "same" padding with a nonzero total padding (otherwise it would just be "valid").
_SAME_3 = ((5, 2, 2), (5, 3, 2), (6, 3, 2), (5, 3, 1))
# Dilation 2 (max pooling): (input side, kernel, stride, padding).
_DILATED_3 = ((5, 2, 1, 0), (6, 2, 1, 0), (6, 2, 2, 0), (5, 2, 2, 1), (6, 2, 2, 1), (6, 3, 1, 0),
              (5, 3, 1, 1))


# ---------------------------------------------------------------- pooling through pool2d

def pooled(params: Mapping[str, Any], **changes: Any) -> np.ndarray:
    """The pooled 2-D grid of `params` (with some settings changed) by `pool2d`."""
    p = {**params, **changes}
    padding = p["padding"]
    pads = padding if isinstance(padding, str) else (padding, padding)
    result = pool2d(
        np.asarray(p["input"], dtype=np.float64)[None], p["op"], (p["kernel"], p["kernel"]),
        (p["stride"], p["stride"]), pads, (p["dilation"], p["dilation"]), p["ceil_mode"],
        p["count_include_pad"],
    )
    return result.output[0]


def _try_pooled(params: Mapping[str, Any], **changes: Any) -> list[list[float]] | None:
    """`pooled(...)` as lists, or None where the changed settings cannot be pooled."""
    try:
        return pooled(params, **changes).tolist()
    except SpecError:
        return None


def axes(params: Mapping[str, Any]) -> tuple[AxisWindows, AxisWindows]:
    """The windows along rows and columns (square input and settings: the same twice)."""
    grid = params["input"]
    return tuple(  # type: ignore[return-value]
        axis_windows(size, params["kernel"], params["stride"], params["padding"],
                     params["dilation"], params["ceil_mode"])
        for size in (len(grid), len(grid[0]))
    )


def axis_cells(windows: AxisWindows, index: int) -> list[int]:
    """The real input coordinates window `index` covers along one axis."""
    start = windows.window_start(index)
    return [start + t * windows.dilation for t in range(windows.kernel)
            if 0 <= start + t * windows.dilation < windows.size]


def window_cells(params: Mapping[str, Any]) -> list[list[list[list[int]]]]:
    """For each output cell, the real input cells `[r, c]` of its window (row-major)."""
    return [[[list(cell) for cell in cells] for cells in row] for row in windows_of(*axes(params))]


@lru_cache(maxsize=256)
def windows_of(rows: AxisWindows, cols: AxisWindows) -> tuple[tuple[tuple[tuple[int, int], ...], ...], ...]:
    """`window_cells` as tuples, for reading only (cached: variants share their settings)."""
    col_cells = [axis_cells(cols, j) for j in range(cols.out)]
    return tuple(tuple(tuple((r, c) for r in axis_cells(rows, i) for c in col_cells[j])
                       for j in range(cols.out))
                 for i in range(rows.out))


def cell_windows(problem: Problem, part_id: str) -> list[list[list[list[int]]]] | None:
    """For the grid part: each output cell's window (real input cells only)."""
    return window_cells(problem.params) if part_id == PART_ID else None


# ---------------------------------------------------------------- generating

def _settings(draws: Draws, difficulty: int) -> dict[str, Any]:
    """The pooling settings and input side for a difficulty (no grid yet)."""
    s: dict[str, Any] = {"dilation": 1, "ceil_mode": False, "count_include_pad": True}
    padding: int | str
    if difficulty == 1:
        s.update(side=4, op=pick(draws, ("max", "avg")), kernel=2, stride=2, padding=0)
        return s
    if difficulty == 2:
        kernel, stride, padding = pick(draws, _GEOMETRY_2)
        s.update(side=pick(draws, (5, 6)), op=pick(draws, ("max", "max", "avg", "avg", "min")),
                 kernel=kernel, stride=stride, padding=padding)
    else:
        feature = pick(draws, ("ceil", "same", "dilation"))
        if feature == "ceil":
            side, kernel, stride, padding = pick(draws, _CEIL_3)
            s.update(op=pick(draws, ("max", "avg", "min")), ceil_mode=True)
        elif feature == "same":
            side, kernel, stride = pick(draws, _SAME_3)
            padding = "same"
            s.update(op=pick(draws, ("max", "avg", "min")))
        else:
            side, kernel, stride, padding = pick(draws, _DILATED_3)
            s.update(op="max", dilation=2)
        s.update(side=side, kernel=kernel, stride=stride, padding=padding)
    if s["op"] == "avg" and isinstance(s["padding"], int) and s["padding"] > 0:
        s["count_include_pad"] = draws.random() < 0.5
    return s


def _digits(draws: Draws, side: int) -> list[list[int]]:
    """A side x side grid of uniform digits 0-9."""
    grid: list[list[int]] = draws.integer_rows(0, 10, side, side)
    return grid


def _nice_average_grid(draws: Draws, side: int) -> list[list[int]]:
    """Digits whose disjoint 2x2 window sums are multiples of 4 (whole averages)."""
    grid = _digits(draws, side)
    for i in range(0, side, 2):
        for j in range(0, side, 2):
            r, c = i + draws.below(2), j + draws.below(2)
            rest = sum(sum(row[j:j + 2]) for row in grid[i:i + 2]) - grid[r][c]
            fits = [v for v in range(10) if (rest + v) % 4 == 0]
            grid[r][c] = fits[draws.below(len(fits))]
    return grid


def _acceptable(grid: list[list[int]], output: np.ndarray) -> bool:
    """Not degenerate: the input varies and the output has at least three distinct values
    (two for a tiny output), so no variant is answered by one repeated number."""
    distinct = len(set(output.ravel().tolist()))
    return len({v for row in grid for v in row}) > 1 and distinct >= min(3, output.size)


def generate(rng: np.random.Generator, difficulty: int) -> Draft:
    """A random grid and pooling settings; one grid part answered cell by cell."""
    draws = Draws(rng)
    settings = _settings(draws, difficulty)
    side = settings.pop("side")
    for _attempt in range(200):
        if difficulty == 1 and settings["op"] == "avg":
            grid = _nice_average_grid(draws, side)
        else:
            grid = _digits(draws, side)
        params = {"input": grid, **settings}
        output = pooled(params)
        if _acceptable(grid, output):
            break
    else:  # pragma: no cover - an author's mistake in the tables above
        raise RuntimeError(f"no acceptable grid for {settings}")
    part = Part(
        PART_ID, "The pooled output grid", "grid", grid_shape=output.shape,
        tolerance=GRID_TOLERANCE,
    )
    statement = (
        text_block(_task_text(params)),
        text_block(_settings_text(params)),
        {"type": "grid", "label": "Input", "values": params["input"]},
    )
    return Draft(f"{_OP_NAMES[params['op']]} of a {side}x{side} grid", statement, (part,),
                 {PART_ID: output.tolist()}, params)


def _padding_text(params: Mapping[str, Any]) -> str:
    padding = params["padding"]
    if padding == "same":
        return '"same" (TensorFlow)'
    return f"{padding} on every side" if padding else "none"


def _settings_text(params: Mapping[str, Any]) -> str:
    """The settings as a PyTorch-style argument list, one place to read them all."""
    bits = [f"op = {params['op']}", f"kernel = {params['kernel']}x{params['kernel']}",
            f"stride = {params['stride']}", f"padding = {_padding_text(params)}"]
    if params["dilation"] != 1:
        bits.append(f"dilation = {params['dilation']}")
    if isinstance(params["padding"], int):
        bits.append(f"ceil_mode = {'true' if params['ceil_mode'] else 'false'}")
    if params["op"] == "avg" and isinstance(params["padding"], int) and params["padding"] > 0:
        bits.append(f"count_include_pad = {'true' if params['count_include_pad'] else 'false'}")
    return "Settings: " + ", ".join(bits) + "."


def _task_text(params: Mapping[str, Any]) -> str:
    """What to do and the rules that matter for these settings."""
    op = params["op"]
    side = len(params["input"])
    text = [f"{_OP_NAMES[op]} of the {side}x{side} input below. Fill in the pooled output grid."]
    if op == "avg":
        text.append("Averages to 2 decimal places or as fractions (e.g. 13/3).")
    padded = params["padding"] == "same" or params["padding"] > 0
    if padded and op != "avg":
        text.append(f"Padded cells never win the {op} (they count as "
                    f"{'minus' if op == 'max' else 'plus'} infinity).")
    if params["padding"] == "same":
        text.append('"same" padding (TensorFlow): the output has ceil(in / stride) rows and '
                    "columns; the total padding is split with the smaller half before (top, "
                    "left) and the rest after.")
        if op == "avg":
            text.append("An average counts only the real input cells of its window.")
    elif op == "avg" and padded:
        text.append("count_include_pad = true (PyTorch's default): padded cells count as zeros "
                    "and the divisor is the window's area within the padded input."
                    if params["count_include_pad"] else
                    "count_include_pad = false: the divisor is the number of real input cells "
                    "in the window.")
    if params["dilation"] != 1:
        text.append(f"Dilation {params['dilation']}: the window's cells are "
                    f"{params['dilation']} apart, so a {params['kernel']}-cell window spans "
                    f"{params['dilation'] * (params['kernel'] - 1) + 1} cells.")
    if params["ceil_mode"]:
        text.append("ceil_mode = true: the number of windows is rounded up, so a last partial "
                    "window is kept (its cells past the input are missing), unless it would "
                    "start in the right padding.")
    return " ".join(text)


# ---------------------------------------------------------------- misconceptions

def _padding_counted(params: Mapping[str, Any]) -> list[list[float]] | None:
    """Average pooling with the "same" padding counted as zeros: pad explicitly, pool valid."""
    rows, cols = axes(params)
    if rows.before + rows.after == 0 and cols.before + cols.after == 0:
        return None
    padded = np.pad(np.asarray(params["input"], dtype=np.float64),
                    ((rows.before, rows.after), (cols.before, cols.after)))
    return _try_pooled(params, input=padded.tolist(), padding=0)


def wrong_models(problem: Problem) -> Iterable[WrongModel]:
    """The grids the named mistakes give, each computed by `pool2d` with the settings (or
    the grid) changed the way the mistake changes them."""
    params = problem.params
    op, padding = params["op"], params["padding"]
    models: list[tuple[str, Any]] = []
    if op == "avg":
        models.append(("max_for_avg", lambda: _try_pooled(params, op="max")))
        if padding == "same":
            models.append(("avg_counts_padding", lambda: _padding_counted(params)))
        elif padding > 0 and params["count_include_pad"]:
            models.append(("avg_ignores_padding",
                           lambda: _try_pooled(params, count_include_pad=False)))
        elif padding > 0:
            models.append(("avg_counts_padding",
                           lambda: _try_pooled(params, count_include_pad=True)))
    else:
        if op == "max" and params["dilation"] == 1:
            models.append(("avg_for_max", lambda: _try_pooled(params, op="avg")))
            models.append(("avg_for_max",
                           lambda: _try_pooled(params, op="avg", count_include_pad=False)))
        models.append(("min_for_max",
                       lambda: _try_pooled(params, op="min" if op == "max" else "max")))
    if padding == "same":
        models.append(("padding_forgotten", lambda: _try_pooled(params, padding="valid")))
    elif padding > 0:
        models.append(("padding_forgotten", lambda: _try_pooled(params, padding=0)))
    if params["dilation"] != 1:
        models.append(("dilation_ignored", lambda: _try_pooled(params, dilation=1)))
    models.append(("grid_transposed", lambda: np.asarray(problem.answers[PART_ID]).T.tolist()))
    if params["stride"] < params["kernel"]:
        models.append(("overlap_ignored", lambda: _try_pooled(params, stride=params["kernel"])))
    # These (nearly) always change the output's shape: the shaped grid part refuses such an
    # answer as a format error before misconceptions are matched, so they name the mistake
    # only where the shape survives (or if the base ever grades wrong-shaped grids).
    if params["ceil_mode"]:
        models.append(("floor_for_ceil", lambda: _try_pooled(params, ceil_mode=False)))
    elif padding != "same":
        models.append(("ceil_for_floor", lambda: _try_pooled(params, ceil_mode=True)))
    if params["stride"] > 1:
        models.append(("stride_forgotten", lambda: _try_pooled(params, stride=1)))
    correct = problem.answers[PART_ID]
    for name, compute in models:
        wrong = compute()
        if wrong is not None and wrong != correct:
            yield name, {PART_ID: wrong}


# ---------------------------------------------------------------- the worked solution

def _size_math(params: Mapping[str, Any], windows: AxisWindows) -> tuple[str, ...]:
    """The output-size computation of one axis (rows and columns are alike)."""
    k, s, d, n, out = windows.kernel, windows.stride, windows.dilation, windows.size, windows.out
    math = []
    if d != 1:
        math.append(f"k_{{eff}} = {d}\\cdot({k}-1)+1 = {windows.k_eff}")
    if params["padding"] == "same":
        total = windows.before + windows.after
        math.append(f"\\text{{out}} = \\left\\lceil \\frac{{{n}}}{{{s}}} \\right\\rceil = {out}")
        math.append(f"p_{{total}} = \\max(({out}-1)\\cdot {s} + {windows.k_eff} - {n},\\ 0) = "
                    f"{total} \\Rightarrow {windows.before} \\text{{ before, }} "
                    f"{windows.after} \\text{{ after}}")
        return tuple(math)
    p = params["padding"]
    left, right = ("\\lceil", "\\rceil") if params["ceil_mode"] else ("\\lfloor", "\\rfloor")
    raw = (n + 2 * p - windows.k_eff + (s - 1 if params["ceil_mode"] else 0)) // s + 1
    formula = (f"\\text{{out}} = \\left{left} \\frac{{{n} + 2\\cdot {p} - {windows.k_eff}}}{{{s}}}"
               f" \\right{right} + 1 = {raw}")
    if raw != out:
        formula += (f"\\text{{; the last window would start at }} {(raw - 1) * s - p} \\geq {n}"
                    f"\\text{{, in the right padding: dropped, so }} {out}")
    math.append(formula)
    return tuple(math)


def _divisor(params: Mapping[str, Any], rows: AxisWindows, cols: AxisWindows, i: int, j: int,
             real: int) -> tuple[int, str]:
    """The divisor of average window (i, j) and why (for the explanation only)."""
    include = params["count_include_pad"] and params["padding"] != "same"
    if not include or (rows.before == 0 and rows.after == 0 and cols.before == 0
                       and cols.after == 0):
        return real, "the real input cells of the window"

    def extent(windows: AxisWindows, index: int) -> int:
        start = windows.window_start(index)
        return min(start + windows.kernel, windows.size + windows.after) - start

    area = extent(rows, i) * extent(cols, j)
    return area, "the window's area within the padded input (padding counted as zeros)"


def _cells_text(count: int) -> str:
    return "one real cell" if count == 1 else f"{count} real cells"


def worked(problem: Problem) -> list[Step]:
    """The output size, then every window with its cells highlighted and its value."""
    params = problem.params
    op = params["op"]
    grid = params["input"]
    output = problem.answers[PART_ID]
    rows, cols = axes(params)
    steps = [Step(
        "Output size",
        f"Rows and columns follow the same rule here: {rows.out} x {cols.out} windows.",
        _size_math(params, rows),
    )]
    windows = window_cells(params)
    for i in range(rows.out):
        for j in range(cols.out):
            cells = windows[i][j]
            values = [format_number(grid[r][c]) for r, c in cells]
            result = format_number(output[i][j])
            if op == "avg":
                divisor, why = _divisor(params, rows, cols, i, j, len(cells))
                math = f"\\frac{{{' + '.join(values)}}}{{{divisor}}} = {result}"
                text = f"Sum of the {_cells_text(len(cells))} divided by {divisor}, {why}."
            else:
                math = f"\\{op}({', '.join(values)}) = {result}"
                text = f"The {op} of the {_cells_text(len(cells))} of the window."
            steps.append(Step(
                f"Output cell ({i}, {j})", text, (math,),
                {"values": grid, "highlight": cells, "result": output[i][j]},
            ))
    matrix = " \\\\ ".join(" & ".join(format_number(v) for v in row) for row in output)
    steps.append(Step("The output grid", "", (f"\\begin{{bmatrix}} {matrix} \\end{{bmatrix}}",)))
    return steps
