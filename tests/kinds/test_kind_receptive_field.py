"""The receptive_field kind: self-test, sub-questions by difficulty, answers against a
brute-force twin, misconceptions, follow-through, worked solutions and reproducibility."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from problems import kinds
from problems.kinds import receptive_field
from problems.kinds.base import Problem, format_answer
from problems.kinds.stacks import solve_stack, stack_json
from problems.windows import axis_windows

NAME = receptive_field.NAME
ROOT = Path(__file__).resolve().parents[2]
SEEDS = range(400)
CLAIMED = {
    "rf_without_jump", "rf_stride_as_growth", "stride_forgotten", "dilation_ignored",
    "padding_forgotten", "same_as_valid", "rf_off_by_one",
}
CONV3 = {"type": "conv2d", "filters": 8, "kernel": 3}
POOL2 = {"type": "maxpool2d", "kernel": 2}


def _problem(difficulty: int, seed: int) -> Problem:
    return kinds.generate(NAME, difficulty, seed)


def _hand(asked: tuple[str, ...], layers: list[dict] | None = None, layer: int | None = None,
          unit: tuple[int, int] | None = None, side: int = 16, **options: Any) -> Problem:
    """A problem built from hand-picked settings by the kind's own builder."""
    stack = stack_json([side, side, 1], layers) if layers is not None else None
    draft = receptive_field.draft_for(asked, stack, layer, unit, **options)
    assert draft is not None
    return Problem(NAME, 2, 0, draft.title, draft.statement, draft.parts, draft.answers,
                   draft.params)


def _typed(problem: Problem, **values: Any) -> dict[str, str]:
    """The correct answers as typed, with some parts replaced by `values`."""
    answers = {**problem.answers, **values}
    return {p.id: format_answer(p, answers[p.id]) for p in problem.parts}


def _wrong(problem: Problem) -> dict[str, list[tuple[str, Any]]]:
    found: dict[str, list[tuple[str, Any]]] = {}
    for name, values in receptive_field.wrong_models(problem):
        for part_id, value in values.items():
            found.setdefault(part_id, []).append((name, value))
    return found


def test_registered_in_the_catalogue() -> None:
    assert kinds.get(NAME) is receptive_field
    assert NAME in [entry["name"] for entry in kinds.catalogue()]




@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_one_sub_question_at_difficulty_1_and_several_above(difficulty: int) -> None:
    seen = set()
    for seed in SEEDS:
        problem = _problem(difficulty, seed)
        asked = tuple(problem.params["asked"])
        seen.add(asked)
        assert len(asked) == 1 if difficulty == 1 else len(asked) >= 2
        expected = {"a": {"size", "jump"}, "b": {"rows", "cols"}, "c": {"layers"}}
        assert {p.id for p in problem.parts} == set().union(*(expected[q] for q in asked))
        fields = [b for b in problem.statement if b["type"] == "field"]
        assert len(fields) == ("b" in asked)
        if "b" in asked:
            depends = problem.part("rows").depends_on
            assert depends == (("size", "jump") if "a" in asked else ())
    assert len(seen) == (3 if difficulty == 1 else 4)


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_stacks_are_square_and_small_enough_by_hand(difficulty: int) -> None:
    for seed in SEEDS:
        problem = _problem(difficulty, seed)
        if "stack" not in problem.params:
            continue
        stack = problem.params["stack"]
        windowed = [layer for layer in stack["layers"] if "kernel" in layer]
        side = stack["input"][0 if stack["layout"] == "HWC" else 1]
        assert all(isinstance(layer["kernel"], int) for layer in windowed)
        solution = solve_stack(stack)
        for result in solution.layers:
            field = result.receptive_field
            assert field.size[0] == field.size[1] and field.jump[0] == field.jump[1]
            shape = result.output_shape
            assert min(shape[:2] if stack["layout"] == "HWC" else shape[1:]) >= 3
        if difficulty <= 2:
            assert side <= 32 and len(stack["layers"]) <= 4
        if difficulty == 1:
            assert all(set(layer) <= {"type", "filters", "kernel"} for layer in windowed)
        if "size" in problem.answers:
            assert problem.answers["size"] >= 2 and problem.answers["jump"] >= 1


@pytest.mark.parametrize("difficulty", [1, 2])
def test_units_at_low_difficulty_see_only_the_image(difficulty: int) -> None:
    for seed in SEEDS:
        problem = _problem(difficulty, seed)
        if "rows" in problem.answers:
            side = problem.params["stack"]["input"][0 if problem.params["stack"]["layout"] == "HWC" else 1]
            for key in ("rows", "cols"):
                low, high = problem.answers[key]
                assert 0 <= low <= high <= side - 1, (seed, key)


def test_difficulty_3_asks_unclipped_ranges_that_reach_into_the_padding() -> None:
    outside = 0
    for seed in SEEDS:
        problem = _problem(3, seed)
        if "rows" in problem.answers:
            assert problem.params["unclipped"]
            assert "unclipped" in " ".join(b.get("text", "") for b in problem.statement)
            outside += problem.answers["rows"][0] < 0 or problem.answers["cols"][0] < 0
    assert outside >= 10


def _seen_rows(stack: dict, layer: int, unit: int) -> set[int]:
    """Brute force: the input rows unit `unit` of `layer` depends on, following every tap of
    every window back to the input (padding taps depend on nothing)."""
    side = stack["input"][0 if stack["layout"] == "HWC" else 1]
    sides = [side]
    for result in solve_stack(stack).layers:
        shape = result.output_shape
        sides.append(shape[0] if stack["layout"] == "HWC" else shape[1])
    wanted = {unit}
    for index in range(layer, -1, -1):
        spec = stack["layers"][index]
        if "kernel" not in spec:
            continue
        pool = spec["type"] != "conv2d"
        windows = axis_windows(sides[index], spec["kernel"], spec.get("stride", spec["kernel"] if pool else 1),
                               spec.get("padding", "valid"), spec.get("dilation", 1), spec.get("ceil_mode", False))
        wanted = {x for i in wanted for t in range(windows.kernel)
                  if 0 <= (x := windows.window_start(i) + t * windows.dilation) < sides[index]}
    return wanted


@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_ranges_match_a_brute_force_walk_back_to_the_input(difficulty: int) -> None:
    checked = 0
    for seed in SEEDS:
        problem = _problem(difficulty, seed)
        if "rows" not in problem.answers:
            continue
        stack = problem.params["stack"]
        if any(layer.get("dilation", 1) != 1 for layer in stack["layers"]):
            continue  # dilated taps leave holes: the range is their hull, checked elsewhere
        side = stack["input"][0 if stack["layout"] == "HWC" else 1]
        for key, unit in (("rows", problem.params["unit"][0]), ("cols", problem.params["unit"][1])):
            seen = _seen_rows(stack, problem.params["layer"], unit)
            low, high = problem.answers[key]
            # The spec's range is the field clipped to the image; padding in a later layer
            # can hide some of its pixels from the unit, never add any.
            assert max(low, 0) <= min(seen) and max(seen) <= min(high, side - 1), (seed, key)
            later_padding = any(
                layer.get("padding", 0) not in (0, [0, 0], "valid")
                for layer in stack["layers"][1 : problem.params["layer"] + 1]
            )
            if not later_padding:
                assert (min(seen), max(seen)) == (max(low, 0), min(high, side - 1)), (seed, key)
            if "size" in problem.answers and 0 <= low and high < side:
                assert len(seen) == problem.answers["size"] == high - low + 1
        checked += 1
    assert checked >= 20


def test_conv_pool_conv_by_hand() -> None:
    problem = _hand(("a", "b"), [CONV3, POOL2, CONV3], 2, (1, 2))
    assert problem.answers == {"size": 8, "jump": 2, "rows": [2, 9], "cols": [4, 11]}
    wrong = _wrong(problem)
    assert ("rf_without_jump", 6) in wrong["size"]  # 1 + 2 + 1 + 2
    assert ("rf_stride_as_growth", 9) in wrong["size"]  # the pool adds 1*2, the conv 2*2
    assert ("stride_forgotten", 1) in wrong["jump"]
    assert ("rf_off_by_one", [2, 10]) in wrong["rows"]


def test_padding_shifts_the_range_and_forgetting_it_is_named() -> None:
    padded = {**CONV3, "padding": 1}
    problem = _hand(("b",), [padded, POOL2, CONV3], 2, (0, 3))
    assert problem.answers == {"rows": [-1, 6], "cols": [5, 12]}
    result = kinds.grade(problem, _typed(problem, rows=[0, 7]))
    assert result.parts[0].misconception.id == "padding_forgotten"
    same = {**CONV3, "padding": "same"}
    problem = _hand(("b",), [same, POOL2, CONV3], 2, (0, 3))
    result = kinds.grade(problem, _typed(problem, rows=[0, 7]))
    assert result.parts[0].misconception.id == "same_as_valid"


def test_dilation_ignored_is_named() -> None:
    dilated = {**CONV3, "dilation": 2}
    problem = _hand(("a",), [CONV3, dilated], 1, side=20)
    assert problem.answers == {"size": 7, "jump": 1}
    result = kinds.grade(problem, _typed(problem, size=5))
    assert result.parts[0].misconception.id == "dilation_ignored"


@pytest.mark.parametrize(("spec", "needed", "without_jump"), [
    ({"kernel": 3, "pool": None, "every": 0, "target": 16}, 8, None),
    ({"kernel": 3, "pool": POOL2, "every": 2, "target": 16}, 5, 7),
    ({"kernel": 3, "pool": POOL2, "every": 2, "target": 64}, 8, None),
])
def test_depth_to_see_a_whole_input(spec: dict, needed: int, without_jump: int | None) -> None:
    problem = _hand(("c",), depth=spec)
    assert problem.answers == {"layers": needed}
    wrong = _wrong(problem)
    if without_jump is not None:
        assert ("rf_without_jump", without_jump) in wrong["layers"]
    assert ("rf_off_by_one", needed + 1) in wrong["layers"]


def test_every_claimed_misconception_is_named_on_its_own_wrong_answer() -> None:
    named: set[str] = set()
    for difficulty in (1, 2, 3):
        for seed in range(40):
            problem = _problem(difficulty, seed)
            for part_id, models in _wrong(problem).items():
                for name, value in models:
                    assert value != problem.answers[part_id], (name, part_id)
                    result = kinds.grade(problem, _typed(problem, **{part_id: value}))
                    part = next(p for p in result.parts if p.id == part_id)
                    assert result.valid and not part.correct and part.misconception is not None
                    assert part.misconception.name in part.feedback
                    named.add(part.misconception.id)
    assert named == CLAIMED


def test_follow_through_uses_the_students_own_size_and_jump() -> None:
    problem = _hand(("a", "b"), [CONV3, POOL2, CONV3], 2, (1, 2))
    # Size 6 and jump 2 from the student: unit 1 sees 2..7, unit 2 sees 4..9.
    result = kinds.grade(problem, _typed(problem, size=6, rows=[2, 7], cols=[4, 9]))
    parts = {p.id: p for p in result.parts}
    assert not parts["size"].correct and parts["jump"].correct
    assert parts["rows"].follow_through and parts["cols"].follow_through
    assert result.earned == 3
    strict = kinds.grade(problem, _typed(problem, size=6, rows=[2, 7], cols=[4, 9]), follow_through=False)
    assert strict.earned == 1


def test_no_follow_through_where_the_start_depends_on_a_wrong_jump() -> None:
    padded = {**CONV3, "padding": 1}
    problem = _hand(("a", "b"), [CONV3, POOL2, padded], 2, (1, 1))
    assert problem.answers["jump"] == 2 and problem.answers["rows"][0] != 2
    assert receptive_field.follow_through(problem, "rows", {"size": 8, "jump": 1}) is None
    assert receptive_field.follow_through(problem, "rows", {"size": 9, "jump": 2}) is not None


def test_worked_solution_substitutes_numbers_and_draws_the_field() -> None:
    problem = _hand(("a", "b", "c"), [CONV3, POOL2, CONV3], 2, (1, 2),
                    depth={"kernel": 3, "pool": POOL2, "every": 2, "target": 16})
    steps = receptive_field.worked(problem)
    math = " ".join(m for step in steps for m in step.math)
    assert "r_{2} = 4 + (3-1)\\cdot 2 = 8" in math and "j_{1} = 1\\cdot 2 = 2" in math
    field = next(step.grid for step in steps if step.grid)
    assert field == {"type": "field", "height": 16, "width": 16, "rows": [2, 9], "cols": [4, 11]}
    assert steps[-1].math == ("n = 5",)
    json.dumps([step.to_json() for step in steps])






def test_generation_takes_well_under_a_millisecond() -> None:
    start = time.perf_counter()
    for seed in range(300):
        _problem(1 + seed % 3, seed)
    assert (time.perf_counter() - start) / 300 < 2e-3
