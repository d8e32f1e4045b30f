"""Shift invariance of max pooling: a single strong activation moves a few cells, and the
student says which pooled cells change and which moves leave the pooled output as it was."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from problems.errors import SpecError
from problems.kinds.base import Draft, Part, Problem, Step, WrongModel, format_number
from problems.kinds.draws import Draws
from problems.kinds.stacks import pick, text_block
from problems.pooling import PoolOp, pool2d, pool_windows
from problems.windows import AxisWindows, axis_windows, windows_holding

NAME = "shift_invariance"
TITLE = "Shift invariance of max pooling"
SUMMARY = "Move one strong activation a few cells: which max-pooled cells change, and which moves change nothing?"

NONE = "none"
# Pooling settings by difficulty (kernel, stride, padding as an int or "same", dilation,
# ceil_mode), each with the map sides it is drawn on: "same" pads before the map only on odd
# sides here, and ceil mode keeps a partial last window only on these sides.
_CONFIGS: dict[int, tuple[tuple[dict[str, Any], tuple[int, ...]], ...]] = {
    1: (({"kernel": 2, "stride": 2, "padding": 0}, (6,)),),
    2: (({"kernel": 3, "stride": 2, "padding": 0}, (6,)),
        ({"kernel": 2, "stride": 1, "padding": 0}, (6,)),
        ({"kernel": 2, "stride": 2, "padding": 1}, (6,)),
        ({"kernel": 3, "stride": 2, "padding": 1}, (6,))),
    3: (({"kernel": 3, "stride": 2, "padding": "same"}, (7, 9)),
        ({"kernel": 3, "stride": 2, "padding": 1}, (7, 8)),
        ({"kernel": 2, "stride": 1, "padding": 1}, (7, 8)),
        ({"kernel": 2, "stride": 2, "padding": 0, "dilation": 2}, (7, 8)),
        ({"kernel": 3, "stride": 2, "padding": 0, "ceil_mode": True}, (8,)),
        ({"kernel": 2, "stride": 2, "padding": 0, "ceil_mode": True}, (7,)),
        ({"kernel": 3, "stride": 1, "padding": 1}, (7, 8))),
}
_MOVES = {"right": (0, 1), "down": (1, 0)}


# ---------------------------------------------------------------- pooling and moves

def _pooled(grids: np.ndarray, pool: Mapping[str, Any], op: PoolOp = "max") -> np.ndarray:
    """Pool every grid of `grids` (N, H, W) at once (raises SpecError)."""
    padding = pool.get("padding", 0)
    pads: Any = padding if isinstance(padding, str) else (padding, padding)
    kernel, stride, dilation = int(pool["kernel"]), int(pool["stride"]), int(pool.get("dilation", 1))
    result = pool2d(grids, op, (kernel, kernel), (stride, stride), pads, (dilation, dilation),
                    bool(pool.get("ceil_mode", False)), with_argmax=False)
    return result.output


def _label(distance: int, direction: str) -> str:
    return f"{distance} {direction}"


def _parse_label(label: str) -> tuple[int, str]:
    distance, direction = label.split()
    return int(distance), direction


def _moved(grid: np.ndarray, feature: tuple[int, int], label: str) -> np.ndarray:
    """The grid after the strong activation moves: its old cell becomes 0."""
    distance, direction = _parse_label(label)
    dr, dc = _MOVES[direction]
    r, c = feature
    new = grid.copy()
    value = new[r, c]
    new[r, c] = 0
    new[r + dr * distance, c + dc * distance] = value
    return new


def _outcome(grid: np.ndarray, feature: tuple[int, int], labels: list[str],
             pool: Mapping[str, Any], vacate: bool = True
             ) -> tuple[dict[str, list[list[int]]], list[str], np.ndarray]:
    """For every move, the cells of the pooled output that differ after it; the moves after
    which nothing differs (or [none]); and the pooled output before any move: pool2d on the
    grid and every moved grid at once, compared. Without `vacate` the value is copied to its
    new cell but also stays at the old one (the student who forgets the window it leaves)."""
    grids = np.empty((1 + len(labels), *grid.shape))
    grids[:] = grid
    r, c = feature
    value = grid[r, c]
    for n, (dr, dc) in enumerate(_steps(tuple(labels)), start=1):
        if vacate:
            grids[n, r, c] = 0
        grids[n, r + dr, c + dc] = value
    return _compared(_pooled(grids, pool), labels)


def _compared(out: np.ndarray, labels: list[str]
              ) -> tuple[dict[str, list[list[int]]], list[str], np.ndarray]:
    """`_outcome` from the pooled outputs `(1 + moves, Ho, Wo)`: before, then after each move."""
    changed: dict[str, list[list[int]]] = {label: [] for label in labels}
    # Row-major within each move, as np.argwhere lists them.
    for n, r, c in zip(*(a.tolist() for a in np.nonzero(out[1:] != out[0])), strict=True):
        changed[labels[n]].append([r, c])
    same = sorted(label for label in labels if not changed[label])
    return changed, same or [NONE], out[0]


def _pool_text(pool: Mapping[str, Any]) -> str:
    k, s = pool["kernel"], pool["stride"]
    text = f"Max pooling with a {k}x{k} window and stride {s}"
    padding = pool.get("padding", 0)
    if padding == "same":
        text += ', padding "same" (TensorFlow)'
    elif padding:
        text += f", padding {padding} on every side"
    else:
        text += ", no padding"
    if pool.get("dilation", 1) != 1:
        text += f", dilation {pool['dilation']}"
    if pool.get("ceil_mode"):
        text += ", ceil_mode (a last partial window is kept)"
    if padding:
        text += "; padded cells never win"
    return text + "."


# ---------------------------------------------------------------- generate

def generate(rng: np.random.Generator, difficulty: int) -> Draft:
    """A small activation map with one strong value, a max pooling, and moves of that value."""
    draws = Draws(rng)
    for _attempt in range(200):
        draft = _try_generate(draws, difficulty)
        if draft is not None:
            return draft
    raise RuntimeError(f"shift_invariance: no interesting variant at difficulty {difficulty}")


_PLACES = 8


def _try_generate(draws: Draws, difficulty: int) -> Draft | None:
    config, sides = pick(draws, _CONFIGS[difficulty])
    pool = dict(config)
    side = pick(draws, sides)
    value = 9 if difficulty < 3 else pick(draws, (7, 8, 9))
    directions = (pick(draws, ("right", "down")),) if difficulty == 1 else ("right", "down")
    # Room for a move of 3 along each direction asked; the other axis is free.
    rows = side - 3 if "down" in directions else side
    cols = side - 3 if "right" in directions else side
    labels = [_label(d, direction) for d in (1, 2, 3) for direction in directions]
    # Something must change and, where the pooling allows it, something must not. Eight
    # places are drawn, each on its own map; if none keeps the output, this pooling
    # (overlapping windows) likely never does, and "none" is the lesson. The draws are
    # `integers(0, rows, 8)`, `integers(0, cols, 8)` and `integers(0, 4, (8, side, side))`
    # in one call (the same numbers, floored the same way).
    cells = side * side
    uniform = draws.rng.random(2 * _PLACES + _PLACES * cells)
    at = (uniform[: 2 * _PLACES] * ([rows] * _PLACES + [cols] * _PLACES)).astype(np.int64).tolist()
    places = list(zip(at[:_PLACES], at[_PLACES:], strict=True))
    try:
        rows_windows, cols_windows = _windows(side, pool)
    except SpecError:
        return None
    holding = (windows_holding(rows_windows), windows_holding(cols_windows))
    steps = _steps(tuple(labels))
    # The first place where some move changes the output and some does not, else the last.
    for place in range(_PLACES):
        feature = places[place]
        changing = _changing(holding, feature, labels, steps)
        if 0 < len(changing) < len(labels):
            break
    if not changing:
        return None
    first = 2 * _PLACES + place * cells
    grid = (uniform[first : first + cells] * 4).astype(np.int64).reshape(side, side)
    grid[feature] = value
    asked = pick(draws, changing)
    return draft_for(grid, feature, pool, labels, asked, with_pooled=difficulty == 1)


def _windows(side: int, pool: Mapping[str, Any]) -> tuple[AxisWindows, AxisWindows]:
    """The pooling's windows on a `side`x`side` map, as pool2d lays them (raises SpecError
    where pool2d refuses them)."""
    padding = pool.get("padding", 0)
    kernel, stride, dilation = int(pool["kernel"]), int(pool["stride"]), int(pool.get("dilation", 1))
    return pool_windows((side, side), (kernel, kernel), (stride, stride),
                        padding if isinstance(padding, str) else (padding, padding),
                        (dilation, dilation), bool(pool.get("ceil_mode", False)))


def _changing(holding: tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]],
              feature: tuple[int, int], labels: list[str],
              steps: tuple[tuple[int, int], ...]) -> list[str]:
    """The moves (of `labels`, each a row and column step in `steps`) that change the
    max-pooled output, without pooling: the strong value is larger than every other cell,
    so a pooled cell changes exactly when its window holds the value's old or new cell but
    not both. The output stays as it was when both cells lie in the same windows, or both
    in none (`holding`: the windows holding each row, each column; see windows_holding)."""
    by_row, by_col = holding
    r, c = feature
    old = (by_row[r], by_col[c])
    old_held = bool(old[0] and old[1])
    changing = []
    for label, (dr, dc) in zip(labels, steps, strict=True):
        new = (by_row[r + dr], by_col[c + dc])
        if (new != old and old_held) or (not old_held and new[0] and new[1]):
            changing.append(label)
    return changing


@lru_cache(maxsize=16)
def _steps(labels: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """The row and column step of each move."""
    return tuple(_target((0, 0), label) for label in labels)


def draft_for(grid: np.ndarray, feature: tuple[int, int], pool: Mapping[str, Any],
              labels: list[str], asked: str, *, with_pooled: bool) -> Draft:
    """The problem for this map, strong cell, pooling and moves (`asked` is the move whose
    changed cells are asked for), its answers from pool2d."""
    grid = np.asarray(grid)
    value = int(grid[feature])
    changes, same, before = _outcome(grid, feature, labels, pool)
    height, width = before.shape
    side = grid.shape[0]
    distance, direction = _parse_label(asked)
    cells = "cell" if distance == 1 else "cells"
    parts: list[Part] = []
    answers: dict[str, Any] = {}
    statement = [
        text_block(f"A {side}x{grid.shape[1]} activation map has one strong activation, {value} "
                   f"(highlighted), among small values. {_pool_text(pool)} The pooled output is "
                   f"{height}x{width}; rows and columns count from 0."),
        {"type": "grid", "label": "Activation map", "values": grid.tolist(),
         "highlight": [list(feature)]},
    ]
    if with_pooled:
        parts.append(Part("pooled", "The pooled output before any move", "grid",
                          grid_shape=(height, width)))
        answers["pooled"] = before.tolist()
    statement.append(text_block(
        f"The {value} moves {distance} {cells} {direction}: its old cell becomes 0 and every other "
        f"cell keeps its value. Which cells of the pooled output change value?"))
    parts.append(Part("changed", f"Pooled cells that change when the {value} moves {asked}",
                      "cells"))
    answers["changed"] = changes[asked]
    statement.append(text_block(
        f"Each move on its own, from the original map: after which moves is the pooled output "
        f"exactly the same as before? Answer {NONE} if every move changes it."))
    parts.append(Part("invariant", "Moves that leave the pooled output unchanged", "choices",
                      choices=(*labels, NONE)))
    answers["invariant"] = same
    params = {"grid": grid.tolist(), "feature": list(feature), "value": value, "pool": dict(pool),
              "moves": list(labels), "asked": asked}
    return Draft("Max pooling and small shifts", tuple(statement), tuple(parts), answers, params)


# ---------------------------------------------------------------- grading helpers

def _setup(problem: Problem) -> tuple[np.ndarray, tuple[int, int], list[str], str, dict[str, Any]]:
    params = problem.params
    return (np.asarray(params["grid"]), (int(params["feature"][0]), int(params["feature"][1])),
            list(params["moves"]), str(params["asked"]), dict(params["pool"]))


def _pool_changes(pool: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The pooling each named mistake believes in."""
    changes: list[tuple[str, dict[str, Any]]] = []
    padding = pool.get("padding", 0)
    if pool.get("dilation", 1) == 1 and pool["kernel"] > pool["stride"]:
        # Windows taken as disjoint blocks of `stride` cells: each cell in one window only.
        disjoint = {**pool, "kernel": pool["stride"]}
        if isinstance(padding, int):
            disjoint["padding"] = min(padding, pool["stride"] // 2)
        changes.append(("overlap_ignored", disjoint))
    if isinstance(padding, int) and padding > 0:
        changes.append(("padding_forgotten", {**pool, "padding": 0}))
    if padding == "same":
        changes.append(("same_as_valid", {**pool, "padding": 0}))
    if pool.get("dilation", 1) != 1:
        changes.append(("dilation_ignored", {**pool, "dilation": 1}))
    if pool.get("ceil_mode"):
        changes.append(("floor_for_ceil", {**pool, "ceil_mode": False}))
    return changes


def wrong_models(problem: Problem) -> Iterable[WrongModel]:
    """The answers each named mistake gives: pool2d with the pooling or the moved grid changed
    the way the mistake changes them, and a few slips on the true answer."""
    grid, feature, labels, asked, pool = _setup(problem)
    answers = problem.answers
    for name, wrong_pool in _pool_changes(pool):
        try:
            changes, same, before = _outcome(grid, feature, labels, wrong_pool)
        except SpecError:
            continue
        yield name, _differing(answers, {"changed": changes[asked], "invariant": same,
                                         "pooled": before.tolist()})
    changes, same, before = _outcome(grid, feature, labels, pool, vacate=False)
    yield "vacated_window_ignored", _differing(answers, {"changed": changes[asked], "invariant": same})
    if "pooled" in answers:
        ops: tuple[tuple[str, PoolOp], ...] = (("avg_for_max", "avg"), ("min_for_max", "min"))
        for name, op in ops:
            yield name, _differing(answers, {"pooled": _pooled(grid[None].astype(float), pool, op)[0].tolist()})
        yield "grid_transposed", _differing(answers, {"pooled": np.asarray(answers["pooled"]).T.tolist()})
    height, width = before.shape
    everything = [[r, c] for r in range(height) for c in range(width)]
    yield "shift_always_changes", _differing(answers, {"changed": everything, "invariant": [NONE]})
    for wrong in _neighbour_slips(answers["changed"]):
        yield "pooled_cell_off_by_one", {"changed": wrong}


def _differing(answers: Mapping[str, Any], wrong: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in wrong.items() if key in answers and value != answers[key]}


def _neighbour_slips(cells: list[list[int]]) -> Iterable[list[list[int]]]:
    """The set with every cell moved to the same neighbour, then with one cell moved."""
    steps = ((0, 1), (0, -1), (1, 0), (-1, 0))
    seen = {_key(cells)}
    candidates = [[[r + dr, c + dc] for r, c in cells] for dr, dc in steps]
    for n in range(len(cells)):
        for dr, dc in steps:
            one = [list(cell) for cell in cells]
            one[n] = [cells[n][0] + dr, cells[n][1] + dc]
            candidates.append(one)
    for candidate in candidates:
        if min(v for cell in candidate for v in cell) < 0:
            continue
        unique = sorted({(r, c) for r, c in candidate})
        key = tuple(unique)
        if key in seen:
            continue
        seen.add(key)
        yield [list(cell) for cell in unique]


def _key(cells: list[list[int]]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted((int(r), int(c)) for r, c in cells))


# ---------------------------------------------------------------- windows and the worked solution

def _axes(problem: Problem) -> tuple[AxisWindows, AxisWindows]:
    grid, _, _, _, pool = _setup(problem)
    padding = pool.get("padding", 0)
    height, width = (
        axis_windows(size, pool["kernel"], pool["stride"], padding, int(pool.get("dilation", 1)),
                     bool(pool.get("ceil_mode", False)))
        for size in grid.shape
    )
    return height, width


def _axis_cells(windows: AxisWindows, i: int) -> list[int]:
    """The real input coordinates window `i` covers along one axis."""
    start = windows.window_start(i)
    return [x for x in (start + t * windows.dilation for t in range(windows.kernel))
            if 0 <= x < windows.size]


def _window(problem: Problem, i: int, j: int) -> list[list[int]]:
    rows, cols = _axes(problem)
    return [[r, c] for r in _axis_cells(rows, i) for c in _axis_cells(cols, j)]


def _holding(problem: Problem, cell: tuple[int, int]) -> list[list[int]]:
    """The pooled cells whose window holds input `cell`."""
    rows, cols = _axes(problem)
    r, c = cell
    if not (0 <= r < rows.size and 0 <= c < cols.size):
        return []
    return [[i, j] for i in windows_holding(rows)[r] for j in windows_holding(cols)[c]]


def cell_windows(problem: Problem, part_id: str) -> list[list[list[list[int]]]] | None:
    """For the pooled grid: the input cells each pooled cell takes its maximum over."""
    if part_id != "pooled":
        return None
    rows, cols = _axes(problem)
    return [[_window(problem, i, j) for j in range(cols.out)] for i in range(rows.out)]


def _affine(scale: int, offset: int) -> str:
    """`2i - 1`, `i`, `i + 2`."""
    text = "i" if scale == 1 else f"{scale}i"
    return text + (f" + {offset}" if offset > 0 else f" - {-offset}" if offset < 0 else "")


def _cells_text(cells: list[list[int]]) -> str:
    return ", ".join(f"({r}, {c})" for r, c in cells) if cells else "none"


def _target(feature: tuple[int, int], label: str) -> tuple[int, int]:
    distance, direction = _parse_label(label)
    dr, dc = _MOVES[direction]
    return feature[0] + dr * distance, feature[1] + dc * distance


def worked(problem: Problem) -> list[Step]:
    """The windows (each one when the pooled grid is asked), the windows that hold the strong
    value before and after each move, and the cells that differ."""
    grid, feature, labels, asked, pool = _setup(problem)
    value = problem.params["value"]
    rows, cols = _axes(problem)
    k_eff = rows.k_eff
    changes, same, before = _outcome(grid, feature, labels, pool)
    first, last = _affine(rows.stride, -rows.before), _affine(rows.stride, k_eff - 1 - rows.before)
    every = f" (dilation {rows.dilation}: cells {rows.dilation} apart)" if rows.dilation != 1 else ""
    steps = [Step(
        "Where the windows are",
        f"Pooled cell (i, j) takes the maximum over input rows {first} to {last}{every}, and the "
        "same columns; cells outside the map are padding and never win.",
        (f"\\text{{rows}}(i) = {first}, \\dots, {last}",),
    )]
    if "pooled" in problem.answers:
        for i in range(rows.out):
            for j in range(cols.out):
                window = _window(problem, i, j)
                values = ", ".join(format_number(grid[r, c]) for r, c in window)
                steps.append(Step(
                    f"Pooled cell ({i}, {j})", "",
                    (f"\\max({values}) = {format_number(before[i, j])}",),
                    grid={"values": grid.tolist(), "highlight": window, "result": float(before[i, j])},
                ))
    old = _holding(problem, feature)
    steps.append(Step(
        f"The windows that hold the {value}",
        (f"The {value} at {feature} lies in the windows of pooled cells {_cells_text(old)}: each "
         f"of them is {value}." if old else f"No window reaches the {value} at {feature}.")
        + f" A move changes a pooled cell exactly when its window holds the old "
        f"place or the new place of the {value}, but not both: the window it leaves drops to its "
        "next largest value, the window it enters rises to it.",
    ))
    for label in [asked] + [other for other in labels if other != asked]:
        target = _target(feature, label)
        new = _holding(problem, target)
        changed = changes[label]
        after = _pooled(_moved(grid, feature, label)[None].astype(float), pool)[0]
        math = tuple(f"({r}, {c}): {format_number(before[r, c])} \\to {format_number(after[r, c])}"
                     for r, c in changed)
        verdict = (f"Pooled cells that change: {_cells_text(changed)}." if changed else
                   "The same windows hold it: the pooled output does not change.")
        steps.append(Step(
            f"Move {label}" + (" (the move asked about)" if label == asked else ""),
            f"The {value} goes to {target}, in the windows of {_cells_text(new)} "
            f"(before: {_cells_text(old)}). {verdict}",
            math,
            grid={"values": _moved(grid, feature, label).tolist(),
                  "highlight": [list(feature), list(target)]},
        ))
    steps.append(Step("Moves that change nothing", ", ".join(same) + "."))
    return steps
