"""pool_vs_strided_conv: shapes, parameters and receptive fields of a max pool against a
stride-2 convolution, and which of them learns its downsampling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from problems import kinds
from problems.kinds import pool_vs_strided_conv
from problems.kinds.base import Problem, format_answer

ROOT = Path(__file__).resolve().parents[2]
KIND = pool_vs_strided_conv.NAME
CLAIMED = (
    "pooling_has_params",
    "bias_forgotten",
    "input_channels_forgotten",
    "rf_without_jump",
    "rf_stride_as_growth",
    "stride_forgotten",
    "layout_swapped",
    "off_by_one_windows",
    "padding_forgotten",
    "same_as_valid",
    "dilation_ignored",
)
# 8x12x12 (CHW) -> conv 3x3, 8 filters (8x10x10) -> A: max pool 2 (8x5x5) | B: conv 3x3 stride 2,
# 8 filters (8x4x4).
CONFIG = {
    "layout": "CHW",
    "input": [8, 12, 12],
    "pre": {"type": "conv2d", "filters": 8, "kernel": 3},
    "pool": {"type": "maxpool2d", "kernel": 2},
    "conv": {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 2},
}


def fixed_problem(with_next: bool = True) -> Problem:
    draft = pool_vs_strided_conv.draft_for(CONFIG, with_next=with_next)
    return Problem(
        KIND, 2, 0, draft.title, draft.statement, draft.parts, draft.answers, draft.params
    )


def part(result, part_id):
    return next(p for p in result.parts if p.id == part_id)


def test_fixed_problem_answers_are_the_solvers():
    assert fixed_problem().answers == {
        "pool_shape": [8, 5, 5],
        "conv_shape": [8, 4, 4],
        "pool_params": 0,
        "conv_params": 3 * 3 * 8 * 8 + 8,
        "pool_rf": 4,
        "conv_rf": 5,
        "pool_rf_next": 8,
        "conv_rf_next": 9,
        "learns": "the strided convolution",
    }
    assert "pool_rf_next" not in fixed_problem(with_next=False).answers


@pytest.mark.parametrize(
    ("part_id", "typed", "named"),
    [
        ("pool_params", "32", "pooling_has_params"),  # a 2x2 kernel per channel
        ("pool_params", "264", "pooling_has_params"),  # a 2x2 conv with 8 filters and biases
        ("conv_params", "576", "bias_forgotten"),
        ("conv_params", "80", "input_channels_forgotten"),  # 3*3*8 + 8
        ("pool_rf_next", "6", "rf_without_jump"),  # 4 + 2, the jump of 2 ignored
        ("conv_rf_next", "7", "rf_without_jump"),
        ("pool_rf", "5", "rf_stride_as_growth"),  # 3 + 1*2
        ("conv_rf", "7", "rf_stride_as_growth"),  # 3 + 2*2
        ("pool_shape", "8x9x9", "stride_forgotten"),
        ("conv_shape", "8x8x8", "stride_forgotten"),
        ("pool_shape", "5x5x8", "layout_swapped"),
        ("conv_shape", "8x5x5", "off_by_one_windows"),
    ],
)
def test_each_mistake_on_the_fixed_problem_is_named(part_id, typed, named):
    problem = fixed_problem()
    result = kinds.grade(problem, {**kinds.self_test(problem).correct, part_id: typed})
    assert part(result, part_id).score == 0
    assert part(result, part_id).misconception is not None
    assert part(result, part_id).misconception.id == named


def test_next_receptive_field_gets_follow_through_from_the_students_own():
    problem = fixed_problem()
    correct = kinds.self_test(problem).correct
    result = kinds.grade(problem, {**correct, "pool_rf": "3", "pool_rf_next": "7"})
    assert part(result, "pool_rf").score == 0
    assert part(result, "pool_rf_next").follow_through and part(result, "pool_rf_next").score == 1


def test_the_choice_takes_a_letter_or_the_label():
    problem = fixed_problem()
    correct = kinds.self_test(problem).correct
    for typed in ("b", "(b)", "The Strided Convolution"):
        assert part(kinds.grade(problem, {**correct, "learns": typed}), "learns").correct
    assert not part(kinds.grade(problem, {**correct, "learns": "a"}), "learns").correct




def test_shape_parts_give_their_example_in_the_layout_and_refuse_a_batch_of_1():
    problem = fixed_problem()  # CHW
    correct = kinds.self_test(problem).correct
    for part_id in ("pool_shape", "conv_shape"):
        assert problem.part(part_id).hint == "a shape, e.g. 32x26x26 or (None, 32, 26, 26)"
        result = kinds.grade(problem, {**correct, part_id: "(1, 8, 5, 5)"})
        assert not result.valid and part(result, part_id).format_error.startswith(
            "Expected 3 sizes (channels, height, width), got 4: if the leading 1 is the batch")
        result = kinds.grade(problem, {**correct, part_id: "(None, None, 8, 5, 5)"})
        assert not result.valid and "got 4 after the batch size" in part(result, part_id).feedback
    hwc = pool_vs_strided_conv.draft_for({**CONFIG, "layout": "HWC", "input": [12, 12, 8]},
                                         with_next=False)
    assert {p.id: p.hint for p in hwc.parts}["pool_shape"] == "a shape, e.g. 26x26x32 or (None, 26, 26, 32)"


def test_parts_by_difficulty_and_the_filters_match_the_input_channels():
    for seed in range(200):
        one = kinds.generate(KIND, 1, seed)
        assert "pool_rf_next" not in one.answers and one.params["layout"] == "HWC"
        assert max(one.params["input"]) <= 18
        for difficulty in (2, 3):
            problem = kinds.generate(KIND, difficulty, seed)
            assert {"pool_rf_next", "conv_rf_next"} <= set(problem.answers)
            assert (
                problem.answers["pool_params"] == 0
                and problem.answers["learns"] == "the strided convolution"
            )
            channels = problem.params["input"][0 if problem.params["layout"] == "CHW" else 2]
            assert problem.params["conv"]["filters"] == channels == problem.params["pre"]["filters"]
            shapes = problem.answers["pool_shape"] + problem.answers["conv_shape"]
            assert min(shapes) >= 2


@pytest.mark.parametrize("misconception", CLAIMED)
def test_every_claimed_misconception_is_named_in_the_feedback(misconception):
    for seed in range(100):
        for difficulty in (1, 2, 3):
            problem = kinds.generate(KIND, difficulty, seed)
            correct = kinds.self_test(problem).correct
            for mid, wrong in pool_vs_strided_conv.wrong_models(problem):
                if mid != misconception:
                    continue
                for part_id, value in wrong.items():
                    typed = format_answer(problem.part(part_id), value)
                    named = part(
                        kinds.grade(problem, {**correct, part_id: typed}), part_id
                    ).misconception
                    if named is not None and named.id == misconception:
                        return
    pytest.fail(f"{misconception} never named")


def test_wrong_models_only_give_values_that_differ_from_the_answers():
    for seed in range(100):
        for difficulty in (1, 2, 3):
            problem = kinds.generate(KIND, difficulty, seed)
            for _mid, wrong in pool_vs_strided_conv.wrong_models(problem):
                for part_id, value in wrong.items():
                    assert value != problem.answers[part_id]




def test_worked_solution_substitutes_the_numbers():
    steps = kinds.worked_solution(fixed_problem())
    math = " ".join(m for step in steps for m in step.math)
    assert "\\lfloor (10 + 2\\cdot0 - 2) / 2 \\rfloor + 1 = 5" in math
    assert "\\lfloor (10 + 2\\cdot0 - 3) / 2 \\rfloor + 1 = 4" in math
    assert "3\\cdot3\\cdot8\\cdot8 + 8 = 584" in math
    assert "r = 4 + (3-1)\\cdot2 = 8" in math and "r = 5 + (3-1)\\cdot2 = 9" in math
    json.dumps([s.to_json() for s in steps])


