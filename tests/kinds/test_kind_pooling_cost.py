"""pooling_cost: the pool's activations, the MACs with and without it, and the ratios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from problems import kinds
from problems.kinds import pooling_cost
from problems.kinds.base import Problem
from problems.kinds.stacks import solve_stack

ROOT = Path(__file__).resolve().parents[2]
KIND = pooling_cost.NAME
CLAIMED = (
    "macs_without_kernel",
    "input_channels_forgotten",
    "stride_forgotten",
    "off_by_one_windows",
    "ratio_inverted",
    "pool_area_ratio",
    "unchanged_layers_forgotten",
)
# 12x12x1 -> conv 3x3, 8 filters (10x10x8) -> [max pool 2: 5x5x8] -> conv 3x3, 16 filters
# (A: 8x8x16, B: 3x3x16). MACs per output of the second conv: 3*3*8 = 72.
CONFIG = {
    "layout": "HWC",
    "input": [12, 12, 1],
    "first": {"type": "conv2d", "filters": 8, "kernel": 3},
    "pool": {"type": "maxpool2d", "kernel": 2},
    "second": {"type": "conv2d", "filters": 16, "kernel": 3},
}


def fixed_problem(with_totals: bool = True) -> Problem:
    draft = pooling_cost.draft_for(CONFIG, with_totals=with_totals)
    return Problem(
        KIND, 2, 0, draft.title, draft.statement, draft.parts, draft.answers, draft.params
    )


def part(result, part_id):
    return next(p for p in result.parts if p.id == part_id)


def test_fixed_problem_answers_are_the_solvers():
    answers = fixed_problem().answers
    assert answers["macs_first"] == 10 * 10 * 8 * 9 == 7_200
    assert answers["pool_activations"] == 5 * 5 * 8
    assert answers["macs_without"] == 8 * 8 * 16 * 72 == 73_728
    assert answers["macs_with"] == 3 * 3 * 16 * 72 == 10_368
    assert answers["ratio"] == pytest.approx(64 / 9)
    a, b = pooling_cost._stacks(CONFIG)
    assert answers["total_ratio"] == pytest.approx(
        solve_stack(a).total_macs / solve_stack(b).total_macs
    )
    assert set(fixed_problem(with_totals=False).answers) == {
        "pool_activations",
        "macs_without",
        "macs_with",
        "ratio",
    }


@pytest.mark.parametrize(
    ("part_id", "typed", "named"),
    [
        ("macs_without", "1024", "macs_without_kernel"),  # 8*8*16 outputs only
        ("macs_with", "1296", "input_channels_forgotten"),  # 3*3*16 * 3*3: the 8 channels left out
        ("pool_activations", "648", "stride_forgotten"),  # stride 1: 9x9x8
        ("macs_with", "56448", "stride_forgotten"),  # 7*7*16*72
        ("pool_activations", "288", "off_by_one_windows"),  # 6x6x8
        ("ratio", "0.140625", "ratio_inverted"),  # 10368 / 73728
        ("ratio", "9/64", "ratio_inverted"),
        ("ratio", "4", "pool_area_ratio"),
        ("total_ratio", "7.111", "unchanged_layers_forgotten"),
    ],
)
def test_each_mistake_on_the_fixed_problem_is_named(part_id, typed, named):
    problem = fixed_problem()
    result = kinds.grade(problem, {**kinds.self_test(problem).correct, part_id: typed})
    assert part(result, part_id).score == 0
    assert part(result, part_id).misconception is not None
    assert part(result, part_id).misconception.id == named


def test_ratio_is_accepted_within_one_percent_and_as_a_fraction():
    problem = fixed_problem()
    correct = kinds.self_test(problem).correct
    for typed, ok in (
        ("7.1", True),
        ("64/9", True),
        ("7 1/9", True),
        ("7.05", True),
        ("7.0", False),
    ):
        assert part(kinds.grade(problem, {**correct, "ratio": typed}), "ratio").correct is ok, typed


def test_a_ratio_just_outside_the_tolerance_is_called_close_and_still_scores_0():
    problem = fixed_problem()  # the ratio is 64/9 = 7.11
    correct = kinds.self_test(problem).correct
    graded = part(kinds.grade(problem, {**correct, "ratio": "7.0"}), "ratio")  # 1.6% off
    assert graded.score == 0 and not graded.correct and graded.format_error is None
    assert graded.feedback == "Close, but not within the tolerance: give the value to within 1%."
    graded = part(kinds.grade(problem, {**correct, "ratio": "6.5"}), "ratio")
    assert graded.score == 0 and graded.feedback == "Not right."


def test_ratios_get_follow_through_from_the_students_own_macs():
    problem = fixed_problem()
    answers = {**kinds.self_test(problem).correct, "macs_with": "9000", "macs_first": "7000"}
    result = kinds.grade(
        problem,
        {
            **answers,
            "ratio": str(73_728 / 9000),
            "total_ratio": str((7000 + 73_728) / (7000 + 9000)),
        },
    )
    assert part(result, "macs_with").score == 0 and part(result, "macs_first").score == 0
    assert part(result, "ratio").follow_through and part(result, "total_ratio").follow_through
    assert result.earned == result.max_points - 2




def test_parts_by_difficulty_and_sizes_fit_by_hand_work():
    for seed in range(200):
        one = kinds.generate(KIND, 1, seed)
        assert [p.id for p in one.parts] == [
            "pool_activations",
            "macs_without",
            "macs_with",
            "ratio",
        ]
        assert one.params["input"][0] <= 20 and "padding" not in one.params["first"]
        assert one.answers["ratio"] > 1
        for difficulty in (2, 3):
            problem = kinds.generate(KIND, difficulty, seed)
            assert [p.id for p in problem.parts] == [
                "macs_first",
                "pool_activations",
                "macs_without",
                "macs_with",
                "ratio",
                "total_ratio",
            ]
            assert 1 < problem.answers["total_ratio"] < problem.answers["ratio"]
            if difficulty == 2:
                assert max(problem.params["input"]) <= 32


@pytest.mark.parametrize("misconception", CLAIMED)
def test_every_claimed_misconception_is_named_in_the_feedback(misconception):
    for seed in range(100):
        for difficulty in (1, 2, 3):
            problem = kinds.generate(KIND, difficulty, seed)
            correct = kinds.self_test(problem).correct
            for mid, wrong in pooling_cost.wrong_models(problem):
                if mid != misconception:
                    continue
                for part_id, value in wrong.items():
                    result = kinds.grade(problem, {**correct, part_id: str(value)})
                    named = part(result, part_id).misconception
                    if named is not None and named.id == misconception:
                        assert part(result, part_id).score == 0
                        return
    pytest.fail(f"{misconception} never named")


def test_wrong_models_give_only_answers_the_grader_would_refuse():
    for seed in range(100):
        for difficulty in (1, 2, 3):
            problem = kinds.generate(KIND, difficulty, seed)
            correct = kinds.self_test(problem).correct
            for _mid, wrong in pooling_cost.wrong_models(problem):
                for part_id, value in wrong.items():
                    assert not part(
                        kinds.grade(problem, {**correct, part_id: str(value)}), part_id
                    ).correct




def test_worked_solution_substitutes_the_numbers():
    steps = kinds.worked_solution(fixed_problem())
    math = " ".join(m for step in steps for m in step.math)
    assert "8\\cdot8\\cdot16\\cdot3\\cdot3\\cdot8 = 73{,}728" in math
    assert "3\\cdot3\\cdot16\\cdot3\\cdot3\\cdot8 = 10{,}368" in math
    assert "5\\cdot5\\cdot8 = 200" in math
    assert "= 7.1111" in math
    json.dumps([s.to_json() for s in steps])




def test_the_ratio_hint_states_the_one_percent_that_grading_accepts():
    RATIO_TOLERANCE = pooling_cost.RATIO_TOLERANCE  # noqa: N806
    assert RATIO_TOLERANCE.relative == 0.01 and RATIO_TOLERANCE.absolute == 0
    checked = 0
    for seed in range(20):
        problem = kinds.generate("pooling_cost", 3, seed)
        for part in problem.parts:
            if part.answer_type == "number":
                checked += 1
                assert "within 1%" in part.hint and "within 1%" in part.to_json()["hint"]
                truth = problem.answers[part.id]
                assert RATIO_TOLERANCE.accepts(truth * 1.0099, truth)
                assert not RATIO_TOLERANCE.accepts(truth * 1.0101, truth)
    assert checked >= 20
