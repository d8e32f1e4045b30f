"""The pooling_grid kind: self-test, variety, misconceptions, windows and worked solutions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from problems import kinds
from problems.kinds import pooling_grid
from problems.kinds.base import Part, Problem, format_answer

NAME = pooling_grid.NAME
SEEDS = range(200)


def _problem(difficulty: int, seed: int) -> Problem:
    return kinds.generate(NAME, difficulty, seed)


def _problem_with(params: dict) -> Problem:
    """A problem with hand-picked settings, its answer from pool2d as generate does."""
    output = pooling_grid.pooled(params)
    part = Part(
        pooling_grid.PART_ID, "grid", "grid", grid_shape=output.shape,
        tolerance=pooling_grid.GRID_TOLERANCE,
    )
    return Problem(NAME, 3, 0, "t", (), (part,), {pooling_grid.PART_ID: output.tolist()}, params)


def _settings(**changes: object) -> dict:
    base = {"op": "max", "kernel": 2, "stride": 2, "padding": 0, "dilation": 1,
            "ceil_mode": False, "count_include_pad": True}
    return {**base, **changes}


def test_registered_in_the_catalogue() -> None:
    assert kinds.get(NAME) is pooling_grid
    assert NAME in [entry["name"] for entry in kinds.catalogue()]


def test_spec_example_pools_to_the_spec_answer() -> None:
    params = _settings(input=[[1, 3, 1, 0], [2, 8, 2, 4], [1, 3, 1, 5], [0, 0, 6, 2]])
    assert pooling_grid.pooled(params).tolist() == [[8, 4], [3, 6]]




@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_variants_are_small_varied_and_never_constant(difficulty: int) -> None:
    for seed in SEEDS:
        problem = _problem(difficulty, seed)
        grid = np.asarray(problem.params["input"])
        output = np.asarray(problem.answers[pooling_grid.PART_ID])
        assert grid.shape[0] == grid.shape[1] <= 6 and grid.shape[0] >= 4
        assert grid.min() >= 0 and grid.max() <= 9 and len(np.unique(grid)) > 1
        assert output.ndim == 2 and min(output.shape) >= 1
        assert len(np.unique(output)) >= min(3, output.size), seed
        assert problem.parts[0].grid_shape == output.shape
        if difficulty == 1:
            assert grid.shape == (4, 4) and output.shape == (2, 2)
            assert problem.params["op"] in ("max", "avg")


def test_difficulty_1_averages_are_whole_numbers() -> None:
    found = 0
    for seed in SEEDS:
        problem = _problem(1, seed)
        if problem.params["op"] == "avg":
            found += 1
            output = np.asarray(problem.answers[pooling_grid.PART_ID])
            assert np.all(output == np.round(output))
    assert found > 50


def test_difficulty_3_covers_ceil_same_and_dilation() -> None:
    seen = {"ceil": 0, "same": 0, "dilation": 0}
    for seed in SEEDS:
        params = _problem(3, seed).params
        seen["ceil"] += params["ceil_mode"]
        seen["same"] += params["padding"] == "same"
        seen["dilation"] += params["dilation"] == 2
        if params["dilation"] == 2:
            assert params["op"] == "max"
    assert min(seen.values()) > 30, seen






def _named(problem: Problem, value: list) -> str | None:
    part = problem.parts[0]
    result = kinds.grade(problem, {part.id: format_answer(part, value)})
    assert result.valid
    assert result.fraction < 1.0
    found = result.parts[0].misconception
    return None if found is None else found.id


def test_every_claimed_misconception_is_named_on_some_variant() -> None:
    named: set[str] = set()
    for difficulty in (1, 2, 3):
        for seed in range(300):
            problem = _problem(difficulty, seed)
            shape = np.asarray(problem.answers[pooling_grid.PART_ID]).shape
            for mid, wrong in pooling_grid.wrong_models(problem):
                value = wrong[pooling_grid.PART_ID]
                if np.asarray(value).shape != shape:
                    continue
                got = _named(problem, value)
                assert got is not None, (difficulty, seed, mid)
                named.add(got)
        if named >= set(pooling_grid.CLAIMED_MISCONCEPTIONS):
            break
    assert set(pooling_grid.CLAIMED_MISCONCEPTIONS) <= named


GRID_5 = [[1, 7, 3, 0, 5], [4, 2, 9, 6, 1], [8, 0, 2, 3, 7], [5, 6, 1, 4, 2], [3, 9, 0, 8, 6]]


@pytest.mark.parametrize(("mid", "settings", "changes"), [
    ("max_for_avg", _settings(op="avg"), {"op": "max"}),
    ("avg_for_max", _settings(), {"op": "avg"}),
    ("min_for_max", _settings(), {"op": "min"}),
    ("min_for_max", _settings(op="min"), {"op": "max"}),
    ("avg_ignores_padding", _settings(op="avg", kernel=3, padding=1),
     {"count_include_pad": False}),
    ("avg_counts_padding", _settings(op="avg", kernel=3, padding=1, count_include_pad=False),
     {"count_include_pad": True}),
    ("padding_forgotten", _settings(padding=1, ceil_mode=True), {"padding": 0}),
    ("overlap_ignored", _settings(kernel=3, ceil_mode=True), {"stride": 3}),
    ("dilation_ignored", _settings(padding=1, dilation=2), {"dilation": 1}),
    ("stride_forgotten", _settings(input=[row[:4] for row in GRID_5[:4]], kernel=3,
                                   ceil_mode=True), {"stride": 1}),
])
def test_misconception_answer_is_named(mid: str, settings: dict, changes: dict) -> None:
    params = {"input": GRID_5, **settings}
    problem = _problem_with(params)
    wrong = pooling_grid.pooled(params, **changes).tolist()
    assert np.asarray(wrong).shape == np.asarray(problem.answers["output"]).shape
    assert _named(problem, wrong) == mid


def test_same_padding_counted_as_zeros_is_named() -> None:
    params = {"input": GRID_5, **_settings(op="avg", kernel=3, padding="same")}
    problem = _problem_with(params)
    padded = np.pad(np.asarray(GRID_5, float), 1)  # "same" for k3 s2 on 5: one cell each side
    wrong = pooling_grid.pooled({**params, "input": padded.tolist(), "padding": 0}).tolist()
    assert _named(problem, wrong) == "avg_counts_padding"


def test_transposed_grid_is_named() -> None:
    problem = _problem_with({"input": GRID_5, **_settings(stride=1)})
    correct = np.asarray(problem.answers["output"])
    assert not np.array_equal(correct, correct.T)
    assert _named(problem, correct.T.tolist()) == "grid_transposed"


def test_wrong_shape_from_floor_for_ceil_is_a_format_error_with_the_shape() -> None:
    params = {"input": GRID_5, **_settings(ceil_mode=True)}
    problem = _problem_with(params)
    floor = pooling_grid.pooled(params, ceil_mode=False).tolist()
    assert ("floor_for_ceil", {"output": floor}) in list(pooling_grid.wrong_models(problem))
    result = kinds.grade(problem, {"output": format_answer(problem.parts[0], floor)})
    assert not result.valid and "3x3 grid" in result.parts[0].format_error


def test_cells_just_outside_the_tolerance_are_called_close_without_changing_the_score() -> None:
    problem = _problem_with({"input": GRID_5, **_settings(op="avg", kernel=3, stride=1)})
    correct = problem.answers["output"]
    assert correct[0][0] == 4 and correct[1][0] == pytest.approx(37 / 9)  # 4.11
    part = problem.parts[0]

    def graded(grid: list[list[float]]):
        return kinds.grade(problem, {part.id: format_answer(part, grid)}).parts[0]

    coarse = [row[:] for row in correct]
    coarse[1][0] = 4.1  # to 1 decimal: outside the ±0.01 the statement asks for
    one = graded(coarse)
    assert one.score == pytest.approx(8 / 9) and one.cells[1][0] is False
    assert one.feedback == ("1 cell not right (marked). It is close, but not within the tolerance: "
                            "give values to 2 decimal places (\u00b10.01).")
    coarse[0][0] += 5
    two = graded(coarse)
    assert two.score == pytest.approx(7 / 9)
    assert two.feedback == ("2 cells not right (marked). 1 of them is close, but not within the "
                            "tolerance: give values to 2 decimal places (\u00b10.01).")
    rounded = graded([[round(v, 1) for v in row] for row in correct])
    assert rounded.feedback.endswith("They are all close, but not within the tolerance: give "
                                     "values to 2 decimal places (\u00b10.01).")
    coarse[1][0] = correct[1][0]
    assert graded(coarse).feedback == "1 cell not right (marked)."


def test_wrong_models_never_repeat_the_correct_answer() -> None:
    for difficulty in (1, 2, 3):
        for seed in range(100):
            problem = _problem(difficulty, seed)
            for _mid, wrong in pooling_grid.wrong_models(problem):
                assert wrong["output"] != problem.answers["output"]


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_cell_windows_are_the_real_cells_each_output_pools(difficulty: int) -> None:
    for seed in range(100):
        problem = _problem(difficulty, seed)
        params = problem.params
        grid = np.asarray(params["input"], float)
        windows = kinds.cell_windows(problem, pooling_grid.PART_ID)
        output = np.asarray(problem.answers[pooling_grid.PART_ID])
        assert windows is not None and len(windows) == output.shape[0]
        for i, row in enumerate(windows):
            assert len(row) == output.shape[1]
            for j, cells in enumerate(row):
                values = [grid[r, c] for r, c in cells]
                assert cells and all(0 <= r < grid.shape[0] and 0 <= c < grid.shape[1]
                                     for r, c in cells)
                if params["op"] == "max":
                    assert max(values) == output[i, j]
                elif params["op"] == "min":
                    assert min(values) == output[i, j]
                elif params["padding"] == "same" or params["padding"] == 0 \
                        or not params["count_include_pad"]:
                    assert sum(values) / len(values) == pytest.approx(output[i, j])
    assert kinds.cell_windows(problem, "nope") is None


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_worked_solution_shows_every_window_and_its_value(difficulty: int) -> None:
    for seed in range(60):
        problem = _problem(difficulty, seed)
        steps = kinds.worked_solution(problem)
        windows = [cells for row in pooling_grid.cell_windows(problem, "output") for cells in row]
        output = [v for row in problem.answers["output"] for v in row]
        window_steps = [s for s in steps if s.grid is not None]
        assert len(window_steps) == len(windows)
        for step, cells, value in zip(window_steps, windows, output, strict=True):
            assert step.grid["highlight"] == cells and step.grid["result"] == value
            assert step.grid["values"] == problem.params["input"]
        for step in steps:
            json.dumps(step.to_json())
            for formula in step.math:
                assert formula.count("{") == formula.count("}"), formula


def test_worked_average_divisor_matches_pool2d() -> None:
    # The divisor the explanation shows must be the one pool2d used (padding, ceil overhang).
    for difficulty in (2, 3):
        for seed in range(300):
            problem = _problem(difficulty, seed)
            if problem.params["op"] != "avg":
                continue
            for step in kinds.worked_solution(problem)[1:-1]:
                formula = step.math[0]
                numerator, denominator = formula[len("\\frac{"):].split("} = ")[0].split("}{")
                total = sum(float(v) for v in numerator.split(" + "))
                assert total / int(denominator) == pytest.approx(step.grid["result"])
