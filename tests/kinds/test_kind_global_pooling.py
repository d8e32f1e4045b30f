"""The global_pooling kind: self-test, the rip-versus-wrinkles story, misconceptions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from problems import kinds
from problems.kinds import global_pooling
from problems.kinds.base import Problem, format_answer

NAME = global_pooling.NAME
SEEDS = range(200)


def _problem(difficulty: int, seed: int) -> Problem:
    return kinds.generate(NAME, difficulty, seed)


def test_registered_in_the_catalogue() -> None:
    assert kinds.get(NAME) is global_pooling




@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_maps_tell_the_rip_and_wrinkles_story(difficulty: int) -> None:
    for seed in SEEDS:
        problem = _problem(difficulty, seed)
        maps = np.asarray(problem.params["maps"], dtype=float)
        roles = problem.params["roles"]
        rip, wrinkles = roles.index("rip"), roles.index("wrinkles")
        answers = problem.answers
        # Brute-force twin of global_pool: numpy's max and mean.
        for c, grid in enumerate(maps):
            assert answers[global_pooling.max_id(c)] == grid.max()
            assert answers[global_pooling.avg_id(c)] == pytest.approx(grid.mean())
            assert len(np.unique(grid)) > 1
        assert all(maps[rip].max() >= maps[c].max() + 3 for c in range(len(roles)) if c != rip)
        assert (maps[rip] >= maps[rip].max() / 2).sum() == 1  # one strong cell
        assert all(maps[wrinkles].mean() >= maps[c].mean() + 1
                   for c in range(len(roles)) if c != wrinkles)
        assert answers["larger_avg"] == f"channel {wrinkles}"
        assert answers["detector"] == global_pooling.MAX_POOL
        side = maps.shape[1]
        assert side in {1: (3, 4), 2: (4, 5), 3: (5, 6)}[difficulty]
        assert len(roles) in {1: (2,), 2: (2, 3), 3: (3,)}[difficulty]
        assert maps.min() >= 0 and maps.max() <= (9 if difficulty == 1 else 20)




def test_roles_land_on_every_channel() -> None:
    rips = {_problem(3, seed).params["roles"].index("rip") for seed in range(100)}
    assert rips == {0, 1, 2}




def _grade_with(problem: Problem, part_id: str, value: object):
    texts = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
    texts[part_id] = format_answer(problem.part(part_id), value)
    result = kinds.grade(problem, texts)
    assert result.valid and result.fraction < 1.0
    return next(p for p in result.parts if p.id == part_id)


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_max_typed_for_the_average_and_back_are_named(difficulty: int) -> None:
    for seed in range(40):
        problem = _problem(difficulty, seed)
        for c in range(len(problem.params["roles"])):
            top = problem.answers[global_pooling.max_id(c)]
            mean = problem.answers[global_pooling.avg_id(c)]
            got = _grade_with(problem, global_pooling.avg_id(c), top)
            assert got.misconception is not None and got.misconception.id == "max_for_avg"
            # The average rounded to 2 decimals, as the statement asks, still names the mistake.
            got = _grade_with(problem, global_pooling.max_id(c), round(mean, 2))
            assert got.misconception is not None and got.misconception.id == "avg_for_max"


def test_average_as_the_spike_detector_is_named() -> None:
    for seed in range(40):
        problem = _problem(2, seed)
        rip = problem.params["roles"].index("rip")
        got = _grade_with(problem, "detector", global_pooling.AVG_POOL)
        assert got.misconception is not None
        assert got.misconception.id == "global_avg_flags_spike"
        got = _grade_with(problem, "larger_avg", f"channel {rip}")
        assert got.misconception is not None
        assert got.misconception.id == "global_avg_flags_spike"


def test_every_claimed_misconception_comes_from_wrong_models() -> None:
    problem = _problem(3, 5)
    named = {mid for mid, _ in global_pooling.wrong_models(problem)}
    assert named == set(global_pooling.CLAIMED_MISCONCEPTIONS)


def test_an_average_rounded_too_coarsely_is_called_close_and_still_scores_0() -> None:
    checked = 0
    for seed in range(40):
        problem = _problem(1, seed)
        statement = " ".join(block.get("text", "") for block in problem.public()["statement"])
        assert "Averages to 2 decimal places" in statement  # the precision, stated
        right = kinds.self_test(problem).correct
        for part in problem.parts:
            truth = problem.answers[part.id]
            if part.id.startswith("avg_") and round(truth, 1) != round(truth, 2):
                checked += 1
                for typed in (f"{truth:.1f}", f"{truth * 1.015:.3f}"):
                    result = kinds.grade(problem, {**right, part.id: typed})
                    graded = next(p for p in result.parts if p.id == part.id)
                    assert result.valid and graded.score == 0 and not graded.correct, typed
                    assert graded.feedback == ("Close, but not within the tolerance: give the "
                                               "value to 2 decimal places (\u00b10.01).")
                result = kinds.grade(problem, {**right, part.id: f"{truth:.2f}"})
                assert next(p for p in result.parts if p.id == part.id).correct
                result = kinds.grade(problem, {**right, part.id: f"{truth + 1:.2f}"})
                assert next(p for p in result.parts if p.id == part.id).feedback == "Not right."
    assert checked >= 20


def test_choices_accept_letters_and_any_case() -> None:
    problem = _problem(1, 3)
    texts = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
    texts["detector"] = "a"
    texts["larger_avg"] = problem.answers["larger_avg"].upper()
    assert kinds.grade(problem, texts).fraction == 1.0


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_worked_solution_highlights_the_max_cell_and_the_whole_map(difficulty: int) -> None:
    for seed in range(40):
        problem = _problem(difficulty, seed)
        steps = kinds.worked_solution(problem)
        count = len(problem.params["roles"])
        assert len(steps) == 2 * count + 1
        for c in range(count):
            grid = problem.params["maps"][c]
            top, mean = steps[2 * c], steps[2 * c + 1]
            (r, k), = top.grid["highlight"]
            assert grid[r][k] == top.grid["result"] == problem.answers[global_pooling.max_id(c)]
            assert len(mean.grid["highlight"]) == len(grid) ** 2
            assert mean.grid["result"] == problem.answers[global_pooling.avg_id(c)]
        for step in steps:
            json.dumps(step.to_json())
            for formula in step.math:
                assert formula.count("{") == formula.count("}"), formula
