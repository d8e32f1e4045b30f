"""param_count: Param # per layer and the totals, graded with follow-through and named mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from problems import kinds
from problems.kinds import param_count
from problems.kinds.base import Problem
from problems.kinds.stacks import solve_stack

ROOT = Path(__file__).resolve().parents[2]
KIND = param_count.NAME
CLAIMED = (
    "bias_forgotten",
    "bias_per_input_channel",
    "groups_ignored",
    "batchnorm_trainable_only",
    "input_channels_forgotten",
    "pooling_has_params",
    "flatten_wrong_size",
    "global_pool_as_flatten",
    "batchnorm_stats_trainable",
)
# 10x10x1 -> conv 3x3, 8 filters (8x8x8) -> batch norm -> max pool 2 (4x4x8) -> conv 3x3, 16 filters
# in 2 groups (2x2x16) -> flatten (64) -> dense 10.
STACK = {
    "layout": "HWC",
    "input": [10, 10, 1],
    "layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3},
        {"type": "batchnorm"},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "conv2d", "filters": 16, "kernel": 3, "groups": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
}


def fixed_problem(asked=(True, True, True, True, False, True)) -> Problem:
    draft = param_count.draft_for(STACK, list(asked), show_shapes=True, ask_trainable=True)
    return Problem(
        KIND, 2, 0, draft.title, draft.statement, draft.parts, draft.answers, draft.params
    )


def correct_texts(problem: Problem) -> dict[str, str]:
    return kinds.self_test(problem).correct


def part(result, part_id):
    return next(p for p in result.parts if p.id == part_id)


def test_fixed_stack_answers_are_the_solvers():
    problem = fixed_problem()
    solution = solve_stack(STACK)
    assert problem.answers == {
        "params_0": 80,
        "params_1": 32,
        "params_2": 0,
        "params_3": 592,
        "params_5": 650,
        "total": 1354,
        "trainable": 1338,
    }
    assert problem.answers["total"] == solution.total_params
    assert problem.answers["trainable"] == solution.trainable_params


@pytest.mark.parametrize(
    ("part_id", "typed", "named"),
    [
        ("params_0", "72", "bias_forgotten"),  # 3*3*1*8
        ("params_0", "73", "bias_per_input_channel"),  # 72 + 1 input channel
        ("params_1", "16", "batchnorm_trainable_only"),  # 2*8
        ("params_3", "1168", "groups_ignored"),  # 3*3*8*16 + 16
        ("params_3", "160", "input_channels_forgotten"),  # 3*3*16 + 16
        ("params_2", "32", "pooling_has_params"),  # a 2x2 kernel per channel: 2*2*8
        ("params_2", "264", "pooling_has_params"),  # a 2x2 conv with 8 filters: 2*2*8*8 + 8
        ("params_5", "50", "flatten_wrong_size"),  # flatten of 2x2x16 taken as 2*2: 4*10 + 10
        ("trainable", "1354", "batchnorm_stats_trainable"),
    ],
)
def test_each_mistake_on_the_fixed_stack_is_named(part_id, typed, named):
    problem = fixed_problem()
    result = kinds.grade(problem, {**correct_texts(problem), part_id: typed})
    assert part(result, part_id).misconception is not None
    assert part(result, part_id).misconception.id == named
    assert not part(result, part_id).correct


def test_total_gets_follow_through_from_the_students_own_layers():
    problem = fixed_problem()
    answers = {**correct_texts(problem), "params_0": "72", "params_3": "1168"}
    own_total = 72 + 32 + 0 + 1168 + 0 + 650
    result = kinds.grade(
        problem, {**answers, "total": str(own_total), "trainable": str(own_total - 16)}
    )
    assert part(result, "params_0").score == 0 and part(result, "params_3").score == 0
    assert part(result, "total").follow_through and part(result, "total").score == 1
    assert part(result, "trainable").follow_through and part(result, "trainable").score == 1
    strict = kinds.grade(problem, {**answers, "total": str(own_total)}, follow_through=False)
    assert part(strict, "total").score == 0


def test_follow_through_message_names_only_the_earlier_answers_that_were_wrong():
    problem = fixed_problem()
    right = correct_texts(problem)
    prompts = {p.id: p.prompt for p in problem.parts}
    one_wrong = {**right, "params_3": "1168"}
    count = lambda part_id: int(right[part_id].replace(",", ""))  # noqa: E731
    own_total = count("total") - count("params_3") + 1168
    result = kinds.grade(problem, {**one_wrong, "total": str(own_total)})
    feedback = part(result, "total").feedback
    assert part(result, "total").follow_through
    assert feedback.startswith(f"Correct given your earlier answer ({prompts['params_3']}), which was wrong")
    assert prompts["params_0"] not in feedback and prompts["params_5"] not in feedback

    two_wrong = {**one_wrong, "params_0": "72"}
    own_total += 72 - count("params_0")
    feedback = part(kinds.grade(problem, {**two_wrong, "total": str(own_total)}), "total").feedback
    assert feedback.startswith(
        f"Correct given your earlier answers ({prompts['params_0']}; {prompts['params_3']}), which were wrong")
    assert prompts["params_1"] not in feedback and prompts["params_5"] not in feedback


def test_total_follow_through_counts_shown_rows_at_their_shown_value():
    problem = fixed_problem()
    assert (
        param_count.follow_through(
            problem,
            "total",
            {
                "params_0": 80,
                "params_1": 32,
                "params_2": 5,
                "params_3": 592,
                "params_5": 650,
            },
        )
        == 1354 + 5
    )




def test_difficulty_one_is_small_and_shows_layers_without_weights_as_zero():
    for seed in range(200):
        problem = kinds.generate(KIND, 1, seed)
        stack = problem.params["stack"]
        convs = [layer for layer in stack["layers"] if layer["type"] == "conv2d"]
        assert 2 <= len(convs) <= 3 and stack["layers"][-2:][0]["type"] == "flatten"
        assert max(stack["input"][:2]) <= 16
        assert all(layer.get("padding") is None and layer.get("stride") is None for layer in convs)
        assert problem.answers["total"] < 50_000
        for layer, asked in zip(stack["layers"], problem.params["asked"], strict=True):
            assert asked == (layer["type"] in ("conv2d", "dense"))
        rows = problem.statement[1]["rows"]
        assert all(
            row["cells"]["param_count"] == {"text": "0"}
            for row, asked in zip(rows, problem.params["asked"], strict=True)
            if not asked
        )


def test_from_difficulty_two_pooling_and_batchnorm_are_asked_sometimes():
    asked_pools = trainable = groups = no_bias = 0
    for seed in range(300):
        for difficulty in (2, 3):
            problem = kinds.generate(KIND, difficulty, seed)
            layers = problem.params["stack"]["layers"]
            asked_pools += sum(
                a and "pool" in layer["type"]
                for layer, a in zip(layers, problem.params["asked"], strict=True)
            )
            trainable += "trainable" in problem.answers
            groups += any(layer.get("groups", 1) > 1 for layer in layers)
            no_bias += any(layer.get("bias") is False for layer in layers)
            if "trainable" in problem.answers:
                assert any(layer["type"] == "batchnorm" for layer in layers)
    assert asked_pools > 100 and trainable > 100 and groups > 50 and no_bias > 100


@pytest.mark.parametrize("misconception", CLAIMED)
def test_every_claimed_misconception_is_named_in_the_feedback(misconception):
    for seed in range(200):
        for difficulty in (1, 2, 3):
            problem = kinds.generate(KIND, difficulty, seed)
            correct = correct_texts(problem)
            for mid, wrong in param_count.wrong_models(problem):
                if mid != misconception:
                    continue
                for part_id, value in wrong.items():
                    result = kinds.grade(problem, {**correct, part_id: str(value)})
                    named = part(result, part_id).misconception
                    if named is not None and named.id == misconception:
                        assert part(result, part_id).score == 0
                        return
    pytest.fail(f"{misconception} never named")


def test_wrong_models_only_give_values_that_differ_from_the_answers():
    for seed in range(100):
        problem = kinds.generate(KIND, 3, seed)
        for _mid, wrong in param_count.wrong_models(problem):
            for part_id, value in wrong.items():
                assert value != problem.answers[part_id]




def test_worked_solution_substitutes_the_numbers():
    steps = kinds.worked_solution(fixed_problem())
    math = " ".join(m for step in steps for m in step.math)
    assert "3\\cdot3\\cdot1\\cdot8 + 8 = 80" in math
    assert "3\\cdot3\\cdot\\frac{8}{2}\\cdot16 + 16 = 592" in math
    assert "4C = 4\\cdot8 = 32" in math
    assert "H\\cdot W\\cdot C = 2\\cdot2\\cdot16 = 64" in math
    assert "= 1{,}354" in math
    json.dumps([s.to_json() for s in steps])


