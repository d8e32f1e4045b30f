"""The maxpool_gradient kind: argmax routing with ties and overlaps, misconceptions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from problems import kinds
from problems.kinds import maxpool_gradient
from problems.kinds.base import Part, Problem, format_answer

NAME = maxpool_gradient.NAME
SEEDS = range(200)


def _problem(difficulty: int, seed: int) -> Problem:
    return kinds.generate(NAME, difficulty, seed)


def _problem_with(grid: list, kernel: int, stride: int, padding: int, upstream: list) -> Problem:
    """A hand-made variant, answered through pool2d as generate does."""
    params = {"input": grid, "op": "max", "kernel": kernel, "stride": stride,
              "padding": padding, "dilation": 1, "ceil_mode": False,
              "count_include_pad": True, "upstream": upstream}
    gradient = maxpool_gradient.input_gradient(params)
    cells = sorted([int(r), int(c)] for r, c in zip(*np.nonzero(gradient), strict=True))
    parts = (Part("cells", "cells", "cells"),
             Part("gradient", "grid", "grid", grid_shape=gradient.shape,
                  tolerance=maxpool_gradient.GRID_TOLERANCE))
    return Problem(NAME, 2, 0, "t", (), parts, {"cells": cells, "gradient": gradient.tolist()},
                   params)


def _brute_gradient(params: dict) -> np.ndarray:
    """A plain-loop twin: every window's first maximal cell in row-major order."""
    x = np.asarray(params["input"], float)
    k, s, p = params["kernel"], params["stride"], params["padding"]
    out = (x.shape[0] + 2 * p - k) // s + 1
    grad = np.zeros_like(x)
    for i in range(out):
        for j in range(out):
            best = None
            for r in range(i * s - p, i * s - p + k):
                for c in range(j * s - p, j * s - p + k):
                    if 0 <= r < x.shape[0] and 0 <= c < x.shape[1]:
                        if best is None or x[r, c] > x[best]:
                            best = (r, c)
            grad[best] += params["upstream"][i][j]
    return grad


def test_registered_in_the_catalogue() -> None:
    assert kinds.get(NAME) is maxpool_gradient




@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_gradient_matches_a_brute_force_twin_and_variants_are_sound(difficulty: int) -> None:
    ties = 0
    for seed in SEEDS:
        problem = _problem(difficulty, seed)
        params = problem.params
        grid = np.asarray(params["input"])
        gradient = _brute_gradient(params)
        cells = sorted([int(r), int(c)] for r, c in zip(*np.nonzero(gradient), strict=True))
        assert problem.answers["cells"] == cells
        assert [p.id for p in problem.parts] == (["cells"] if difficulty == 1
                                                 else ["cells", "gradient"])
        if difficulty >= 2:
            assert problem.answers["gradient"] == gradient.tolist()
            assert problem.parts[1].grid_shape == grid.shape
        assert grid.shape[0] <= 6 and grid.min() >= 0 and grid.max() <= 9
        assert len(np.unique(grid)) > 1
        assert np.asarray(params["upstream"]).min() >= 1
        if difficulty == 1:
            assert (params["kernel"], params["stride"]) == (2, 2)
            assert np.all(np.asarray(params["upstream"]) == 1)
        else:
            # Overlapping windows: some cell wins more than one and accumulates.
            assert params["stride"] < params["kernel"]
            assert gradient.max() > np.asarray(params["upstream"]).max() or \
                len(cells) < np.asarray(params["upstream"]).size
        ties += any("tie" in step.text for step in kinds.worked_solution(problem))
        assert "first cell in row-major order" in problem.statement[0]["text"]
    assert ties >= len(SEEDS) // 3  # ties are planted in about half of the variants






# A 4x4 grid with a tie in the top-left window and a cell (1, 2) that wins four of the nine
# windows of a 2x2, stride-1 pool.
TIED = [[5, 5, 1, 0], [2, 3, 9, 1], [0, 1, 2, 4], [6, 0, 3, 8]]


def _named(problem: Problem, part_id: str, value: object) -> str | None:
    texts = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
    texts[part_id] = format_answer(problem.part(part_id), value)
    result = kinds.grade(problem, texts)
    assert result.valid and result.fraction < 1.0
    found = next(p for p in result.parts if p.id == part_id).misconception
    return None if found is None else found.id


def test_tie_goes_to_the_first_cell_in_row_major_order() -> None:
    problem = _problem_with(TIED, 2, 2, 0, [[1, 1], [1, 1]])
    assert problem.answers["cells"] == [[0, 0], [1, 2], [3, 0], [3, 3]]


def test_every_tied_cell_winning_is_named() -> None:
    problem = _problem_with(TIED, 2, 2, 0, [[1, 1], [1, 1]])
    assert _named(problem, "cells", [[0, 0], [0, 1], [1, 2], [3, 0], [3, 3]]) == "ties_all_win"
    wrong = np.asarray(problem.answers["gradient"])
    wrong[0, 1] = 1
    assert _named(problem, "gradient", wrong.tolist()) == "ties_all_win"


def test_gradient_spread_over_the_window_is_named() -> None:
    problem = _problem_with(TIED, 2, 2, 0, [[1, 2], [3, 1]])
    everything = [[r, c] for r in range(4) for c in range(4)]
    assert _named(problem, "cells", everything) == "gradient_to_all_cells"
    spread = [[0.25, 0.25, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5],
              [0.75, 0.75, 0.25, 0.25], [0.75, 0.75, 0.25, 0.25]]
    assert _named(problem, "gradient", spread) == "gradient_to_all_cells"


def test_overlapping_wins_counted_once_is_named() -> None:
    problem = _problem_with(TIED, 2, 1, 0, [[1, 2, 3], [1, 1, 1], [2, 1, 4]])
    gradient = np.asarray(problem.answers["gradient"])
    assert gradient[1, 2] == 2 + 3 + 1 + 1  # windows (0, 1), (0, 2), (1, 1) and (1, 2)
    for kept in (2, 1):  # only its first window's gradient, or only its last one's
        once = gradient.copy()
        once[1, 2] = kept
        assert _named(problem, "gradient", once.tolist()) == "overlap_ignored"


def test_every_claimed_misconception_is_named_on_generated_variants() -> None:
    named: set[str] = set()
    for difficulty in (1, 2, 3):
        for seed in range(60):
            problem = _problem(difficulty, seed)
            for mid, wrong in maxpool_gradient.wrong_models(problem):
                for part_id, value in wrong.items():
                    got = _named(problem, part_id, value)
                    assert got is not None, (difficulty, seed, mid, part_id)
                    named.add(got)
    assert named == set(maxpool_gradient.CLAIMED_MISCONCEPTIONS)


@pytest.mark.parametrize("difficulty", [2, 3])
def test_cell_windows_cover_every_window_a_cell_belongs_to(difficulty: int) -> None:
    for seed in range(30):
        problem = _problem(difficulty, seed)
        around = kinds.cell_windows(problem, "gradient")
        assert kinds.cell_windows(problem, "cells") is None
        side = len(problem.params["input"])
        assert around is not None and len(around) == side
        for r in range(side):
            for c in range(side):
                if around[r][c]:
                    assert [r, c] in around[r][c]
        # Every winner lies in its own neighbourhood's windows.
        for r, c in problem.answers["cells"]:
            assert around[r][c]


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_worked_solution_shows_each_window_and_its_winner(difficulty: int) -> None:
    for seed in range(40):
        problem = _problem(difficulty, seed)
        steps = kinds.worked_solution(problem)
        windows = [s for s in steps if s.title.startswith("Window")]
        assert len(windows) == np.asarray(problem.params["upstream"]).size
        for step in windows:
            winner = step.grid["winner"]
            assert winner in step.grid["highlight"]
            assert problem.params["input"][winner[0]][winner[1]] == step.grid["result"]
            assert winner in problem.answers["cells"]
        for step in steps:
            json.dumps(step.to_json())
            for formula in step.math:
                assert formula.count("{") == formula.count("}"), formula


def test_part_types_are_cells_then_grid() -> None:
    problem = _problem(2, 1)
    assert [p.answer_type for p in problem.parts] == ["cells", "grid"]
    assert isinstance(problem.parts[0], Part)


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_a_cell_outside_the_input_is_unreadable_not_wrong(difficulty: int) -> None:
    """A cell the input does not have cannot be meant: it is refused unread, naming it (no
    attempt spent), not graded "not in the set"."""
    problem = _problem(difficulty, 5)
    side = len(problem.params["input"])
    right = kinds.self_test(problem).correct
    typed = {**right, "cells": f"(0, 0), ({side}, 1)"}
    result = kinds.grade(problem, typed)
    part = next(p for p in result.parts if p.id == "cells")
    assert not result.valid
    assert part.format_error == (
        f"({side}, 1) is outside the {side}x{side} grid: rows and columns count from 0 to "
        f"{side - 1}.")
    inside = kinds.grade(problem, {**right, "cells": f"({side - 1}, {side - 1})"})
    assert inside.valid  # the last cell is a cell
