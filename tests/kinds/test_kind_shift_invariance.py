"""The shift_invariance kind: self-test, variants, answers against a brute-force twin,
misconceptions, windows, worked solutions and reproducibility."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from problems import kinds
from problems.kinds import shift_invariance
from problems.kinds.base import Problem, format_answer
from problems.windows import axis_windows

NAME = shift_invariance.NAME
ROOT = Path(__file__).resolve().parents[2]
SEEDS = range(200)
CLAIMED = {
    "shift_always_changes", "overlap_ignored", "pooled_cell_off_by_one", "vacated_window_ignored",
    "padding_forgotten", "same_as_valid", "dilation_ignored", "floor_for_ceil", "avg_for_max",
    "min_for_max", "grid_transposed",
}
K2S2 = {"kernel": 2, "stride": 2, "padding": 0}
K3S2 = {"kernel": 3, "stride": 2, "padding": 0}


def _problem(difficulty: int, seed: int) -> Problem:
    return kinds.generate(NAME, difficulty, seed)


def _hand(grid: list[list[int]], feature: tuple[int, int], pool: dict, labels: list[str],
          asked: str, with_pooled: bool = False) -> Problem:
    """A problem built from hand-picked settings by the kind's own builder."""
    draft = shift_invariance.draft_for(np.asarray(grid), feature, pool, labels, asked,
                                       with_pooled=with_pooled)
    return Problem(NAME, 2, 0, draft.title, draft.statement, draft.parts, draft.answers,
                   draft.params)


def _typed(problem: Problem, **values: Any) -> dict[str, str]:
    answers = {**problem.answers, **values}
    return {p.id: format_answer(p, answers[p.id]) for p in problem.parts}


def _quiet_map(side: int, feature: tuple[int, int], value: int = 9) -> list[list[int]]:
    """A map of ones with the strong value at `feature`."""
    grid = [[1] * side for _ in range(side)]
    grid[feature[0]][feature[1]] = value
    return grid


def test_registered_in_the_catalogue() -> None:
    assert kinds.get(NAME) is shift_invariance
    assert NAME in [entry["name"] for entry in kinds.catalogue()]




@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_variants_are_small_with_one_strong_value_and_something_to_find(difficulty: int) -> None:
    with_invariant = 0
    for seed in SEEDS:
        problem = _problem(difficulty, seed)
        grid = np.asarray(problem.params["grid"])
        r, c = problem.params["feature"]
        value = problem.params["value"]
        assert grid.shape[0] == grid.shape[1] <= (6 if difficulty <= 2 else 9)
        assert grid[r, c] == value >= 7 and (grid == value).sum() == 1
        others = np.delete(grid.ravel(), r * grid.shape[1] + c)
        assert others.min() >= 0 and others.max() <= 3
        assert problem.answers["changed"], seed  # the move asked about changes something
        assert problem.answers["invariant"] != sorted(problem.params["moves"])
        assert [p.id for p in problem.parts] == (["pooled"] if difficulty == 1 else []) + ["changed", "invariant"]
        with_invariant += problem.answers["invariant"] != ["none"]
        if difficulty == 1:
            assert problem.params["pool"] == K2S2 and len(problem.params["moves"]) == 3
    assert with_invariant >= (0.95 if difficulty == 1 else 0.3) * len(SEEDS)


def _brute_max_pool(grid: np.ndarray, pool: dict) -> np.ndarray:
    """Max pooling by explicit loops over the windows (padding never wins)."""
    rows, cols = (axis_windows(size, pool["kernel"], pool["stride"], pool.get("padding", 0),
                               pool.get("dilation", 1), pool.get("ceil_mode", False))
                  for size in grid.shape)
    out = np.full((rows.out, cols.out), -np.inf)
    for i in range(rows.out):
        for j in range(cols.out):
            for t in range(rows.kernel):
                for u in range(cols.kernel):
                    r = rows.window_start(i) + t * rows.dilation
                    c = cols.window_start(j) + u * cols.dilation
                    if 0 <= r < grid.shape[0] and 0 <= c < grid.shape[1]:
                        out[i, j] = max(out[i, j], grid[r, c])
    return out


def _brute_move(grid: np.ndarray, feature: tuple[int, int], label: str) -> np.ndarray:
    distance, direction = label.split()
    new = grid.copy()
    new[feature] = 0
    dr, dc = (0, int(distance)) if direction == "right" else (int(distance), 0)
    new[feature[0] + dr, feature[1] + dc] = grid[feature]
    return new


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_answers_match_a_brute_force_twin(difficulty: int) -> None:
    for seed in range(60):
        problem = _problem(difficulty, seed)
        grid = np.asarray(problem.params["grid"])
        feature = tuple(problem.params["feature"])
        pool = problem.params["pool"]
        before = _brute_max_pool(grid, pool)
        if "pooled" in problem.answers:
            assert np.array_equal(before, problem.answers["pooled"])
        same = []
        for label in problem.params["moves"]:
            differs = np.argwhere(before != _brute_max_pool(_brute_move(grid, feature, label), pool))
            if label == problem.params["asked"]:
                assert differs.tolist() == problem.answers["changed"]
            if not len(differs):
                same.append(label)
        assert problem.answers["invariant"] == (sorted(same) or ["none"])


def test_disjoint_windows_by_hand() -> None:
    problem = _hand(_quiet_map(6, (0, 0)), (0, 0), K2S2, ["1 right", "1 down", "2 right", "2 down"],
                    "2 right", with_pooled=True)
    assert problem.answers["pooled"] == [[9, 1, 1], [1, 1, 1], [1, 1, 1]]
    assert problem.answers["changed"] == [[0, 0], [0, 1]]
    assert problem.answers["invariant"] == ["1 down", "1 right"]
    result = kinds.grade(problem, _typed(problem, changed=[[0, 1]]))
    assert result.parts[1].misconception.id == "vacated_window_ignored"
    result = kinds.grade(problem, _typed(problem, invariant=["none"]))
    assert result.parts[2].misconception.id == "shift_always_changes"


def test_overlapping_windows_by_hand() -> None:
    # 3x3 windows at stride 2 overlap on column 2: the 9 there is in windows 0 and 1.
    problem = _hand(_quiet_map(6, (0, 2)), (0, 2), K3S2, ["1 right", "2 right"], "1 right")
    assert problem.answers["changed"] == [[0, 0]]
    assert problem.answers["invariant"] == ["none"]  # column 4 is in window 1 only
    wrong = dict(shift_invariance.wrong_models(problem))
    # Seen as blocks of 2 (kernel = stride), columns 2 and 3 share a block: nothing changes.
    assert wrong["overlap_ignored"]["invariant"] == ["1 right"]
    result = kinds.grade(problem, _typed(problem, invariant=["1 right"]))
    assert result.parts[1].misconception.id == "overlap_ignored"


def test_none_is_an_answer_when_every_move_changes_the_output() -> None:
    problem = _hand(_quiet_map(6, (1, 1)), (1, 1), {"kernel": 2, "stride": 1, "padding": 0},
                    ["1 right", "1 down"], "1 right")
    assert problem.answers["invariant"] == ["none"]
    for typed in ("none", "None", "NONE"):
        assert kinds.grade(problem, {**_typed(problem), "invariant": typed}).fraction == 1.0


@pytest.mark.parametrize("typed", ["1 down, none", "none, 1 right", "None; 1 right, 1 down"])
def test_none_with_a_move_contradicts_itself_and_costs_no_attempt(typed: str) -> None:
    # The web joins the ticked boxes with commas: "none" ticked with a move reads so.
    every_move_changes = _hand(_quiet_map(6, (1, 1)), (1, 1),
                               {"kernel": 2, "stride": 1, "padding": 0}, ["1 right", "1 down"],
                               "1 right")
    two_moves_change_nothing = _hand(_quiet_map(6, (0, 0)), (0, 0), K2S2,
                                     ["1 right", "1 down", "2 right"], "2 right")
    assert every_move_changes.answers["invariant"] == ["none"]
    assert two_moves_change_nothing.answers["invariant"] == ["1 down", "1 right"]
    for problem in (every_move_changes, two_moves_change_nothing):
        result = kinds.grade(problem, {**_typed(problem), "invariant": typed})
        graded = next(p for p in result.parts if p.id == "invariant")
        assert not result.valid and graded.score == 0 and not graded.correct
        assert graded.format_error == graded.feedback == (
            "\u201cnone\u201d cannot be chosen together with other choices: choose \u201cnone\u201d "
            "alone, or only the choices that apply.")


def test_the_self_tests_wrong_moves_never_pair_none_with_a_move() -> None:
    for difficulty in (1, 2, 3):
        for seed in range(60):
            problem = _problem(difficulty, seed)
            wrong = kinds.self_test(problem).wrong["invariant"]["invariant"]
            if problem.answers["invariant"] == ["none"]:
                assert wrong in problem.params["moves"], (difficulty, seed, wrong)
            else:
                assert "none" not in wrong, (difficulty, seed, wrong)
            assert kinds.grade(problem, kinds.self_test(problem).wrong["invariant"]).valid


def test_ceil_mode_and_same_padding_mistakes_by_hand() -> None:
    # 2x2 windows at stride 2 on 7 columns: ceil mode keeps a last window on column 6 alone.
    ceil = {"kernel": 2, "stride": 2, "padding": 0, "ceil_mode": True}
    problem = _hand(_quiet_map(7, (0, 3)), (0, 3), ceil, ["1 right", "3 right"], "3 right")
    assert problem.answers["changed"] == [[0, 1], [0, 3]]
    result = kinds.grade(problem, _typed(problem, changed=[[0, 1]]))
    assert result.parts[0].misconception.id == "floor_for_ceil"
    # "same" 3x3 windows at stride 2 on 7 columns start at -1, "valid" ones at 0.
    same = {"kernel": 3, "stride": 2, "padding": "same"}
    problem = _hand(_quiet_map(7, (0, 0)), (0, 0), same, ["1 right", "2 right"], "2 right")
    assert problem.answers == {"changed": [[0, 0], [0, 1]], "invariant": ["none"]}
    # Valid windows [0, 2] and [2, 4] both hold column 2: only window 1 would seem to change.
    result = kinds.grade(problem, _typed(problem, changed=[[0, 1]]))
    assert result.parts[0].misconception.id == "same_as_valid"


def test_every_claimed_misconception_is_named_on_its_own_wrong_answer() -> None:
    named: set[str] = set()
    for difficulty in (1, 2, 3):
        for seed in range(60):
            problem = _problem(difficulty, seed)
            tried: dict[str, int] = {}
            for name, values in shift_invariance.wrong_models(problem):
                tried[name] = tried.get(name, 0) + 1
                if tried[name] > 2:  # the many neighbour slips: a few are enough
                    continue
                for part_id, value in values.items():
                    result = kinds.grade(problem, _typed(problem, **{part_id: value}))
                    part = next(p for p in result.parts if p.id == part_id)
                    assert result.valid and not part.correct and part.misconception is not None
                    assert part.misconception.name in part.feedback
                    named.add(part.misconception.id)
    # floor_for_ceil and same_as_valid are rare in random variants: pinned by hand above.
    assert named | {"floor_for_ceil", "same_as_valid"} == CLAIMED


def test_cell_windows_cover_each_pooled_cell() -> None:
    problem = _problem(1, 3)
    windows = kinds.cell_windows(problem, "pooled")
    grid = np.asarray(problem.params["grid"])
    pooled = problem.answers["pooled"]
    assert len(windows) == len(pooled) and len(windows[0]) == len(pooled[0])
    for i, row in enumerate(windows):
        for j, cells in enumerate(row):
            assert len(cells) == 4 and max(grid[r, c] for r, c in cells) == pooled[i][j]
    assert kinds.cell_windows(problem, "changed") is None


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_worked_solution_shows_windows_and_moves(difficulty: int) -> None:
    for seed in range(20):
        problem = _problem(difficulty, seed)
        steps = kinds.worked_solution(problem)
        json.dumps([step.to_json() for step in steps])
        windows = [step for step in steps if step.grid and "result" in step.grid]
        if difficulty == 1:
            flat = [v for row in problem.answers["pooled"] for v in row]
            assert [step.grid["result"] for step in windows] == flat
            assert all(step.math[0].startswith("\\max(") for step in windows)
        asked = next(step for step in steps if "the move asked about" in step.title)
        for r, c in problem.answers["changed"]:
            assert f"({r}, {c})" in asked.text
        assert steps[-1].text.rstrip(".") == ", ".join(problem.answers["invariant"])






def test_generation_takes_well_under_a_millisecond() -> None:
    start = time.perf_counter()
    for seed in range(300):
        _problem(1 + seed % 3, seed)
    assert (time.perf_counter() - start) / 300 < 2e-3
