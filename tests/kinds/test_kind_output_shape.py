"""The output_shape kind: shape answers read in the problem's layout, with a batch
dimension written in any way a student might, and hints whose example fits the layout."""

from __future__ import annotations

import pytest

from problems import kinds
from problems.answers import CHW_AXES, HWC_AXES
from problems.kinds import output_shape
from problems.kinds.base import FORMAT_HINTS, Problem
from problems.kinds.stacks import VECTOR_AXES, shape_axes, shape_hint

NAME = output_shape.NAME


def _with_layout(layout: str, difficulty: int = 3) -> Problem:
    """The first variant in `layout`."""
    for seed in range(100):
        problem = kinds.generate(NAME, difficulty, seed)
        if problem.params["stack"]["layout"] == layout:
            return problem
    raise AssertionError(f"no {layout} variant")  # pragma: no cover


def _graded(problem: Problem, part_id: str, typed: str):
    result = kinds.grade(problem, {**kinds.self_test(problem).correct, part_id: typed})
    return result, next(p for p in result.parts if p.id == part_id)


@pytest.mark.parametrize(("layout", "example"), [("HWC", "26x26x32 or (None, 26, 26, 32)"),
                                                  ("CHW", "32x26x26 or (None, 32, 26, 26)")])
def test_the_hint_gives_an_example_in_the_problems_layout(layout: str, example: str) -> None:
    problem = _with_layout(layout)
    axes = HWC_AXES if layout == "HWC" else CHW_AXES
    for part in problem.parts:
        assert part.hint == f"a shape, e.g. {example}"
        assert part.to_json()["hint"] == part.hint
        assert part.axes == axes
    # A typo is refused with the same example.
    result, graded = _graded(problem, problem.parts[0].id, "26 x banana")
    assert not result.valid and graded.format_error.endswith(f"Expected a shape, e.g. {example}.")
    if layout == "HWC":  # the answer type's own hint, as before
        assert problem.parts[0].hint == FORMAT_HINTS["shape"] and not problem.parts[0].hint_text


@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_an_open_size_after_the_batch_says_how_many_sizes_are_expected(layout: str) -> None:
    problem = _with_layout(layout)
    part = problem.parts[0]
    sizes = ", ".join(map(str, problem.answers[part.id]))
    result, graded = _graded(problem, part.id, f"(None, None, {sizes})")
    order = "height, width, channels" if layout == "HWC" else "channels, height, width"
    assert not result.valid and graded.score == 0
    assert graded.format_error == (f"Expected 3 sizes ({order}), got 4 after the batch size. "
                                   "Only the first (batch) dimension may be left open.")


@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_a_batch_written_as_1_is_refused_not_graded(layout: str) -> None:
    problem = _with_layout(layout)
    for part in problem.parts:
        sizes = ", ".join(map(str, problem.answers[part.id]))
        for typed in (f"(1, {sizes})", "1x" + "x".join(map(str, problem.answers[part.id])),
                      f"torch.Size([1, {sizes}])"):
            result, graded = _graded(problem, part.id, typed)
            assert not result.valid and graded.score == 0 and not graded.correct, typed
            assert f"write it as None, as in (None, {sizes})" in graded.format_error
        # With the batch as None, or left out, the same sizes are right.
        for typed in (f"(None, {sizes})", f"({sizes})"):
            assert _graded(problem, part.id, typed)[1].correct


def test_a_wrong_number_of_sizes_without_a_batch_is_still_graded() -> None:
    problem = _with_layout("HWC")
    part = problem.parts[0]
    sizes = ", ".join(map(str, problem.answers[part.id]))
    result, graded = _graded(problem, part.id, f"({sizes}, 4)")
    assert result.valid and graded.score == 0
    assert graded.feedback == "Not right: this output has 3 dimensions (no batch dimension), you gave 4."
    result, graded = _graded(problem, part.id, f"(None, 1, {sizes})")  # the batch is the None
    assert result.valid and graded.score == 0


def test_shape_axes_and_hints_by_layout_and_rank() -> None:
    assert shape_axes("HWC", 3) == HWC_AXES and shape_axes("CHW", 3) == CHW_AXES
    assert shape_axes("CHW", 1) == shape_axes("HWC", 1) == VECTOR_AXES
    with pytest.raises(ValueError):
        shape_axes("HWC", 2)
    assert shape_hint("HWC") == ""  # the answer type's own
    assert shape_hint("CHW") == "a shape, e.g. 32x26x26 or (None, 32, 26, 26)"


def test_correct_shapes_typed_in_arabic_indic_digits_are_right() -> None:
    problem = _with_layout("CHW")
    arabic = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    typed = {pid: text.translate(arabic) for pid, text in kinds.self_test(problem).correct.items()}
    assert kinds.grade(problem, typed).fraction == 1.0


def test_a_mistake_that_would_have_changed_a_right_earlier_shape_is_not_named() -> None:
    """24x24x1 -> conv 3x3 -> 22x22x8 (given right) -> maxpool 2x2 -> 11x11x8. "Same" padding
    everywhere gives 24 -> 12, so 12x12x8 is its answer for the pool, but this student got
    22x22x8 right: their 12 is a window off by one, not "same" padding."""
    problem = kinds.generate(NAME, 1, 8)
    assert problem.answers["shape_0"] == [22, 22, 8] and problem.answers["shape_1"] == [11, 11, 8]
    result = kinds.grade(problem, {"shape_0": "22x22x8", "shape_1": "12x12x8",
                                   "shape_2": "8x8x32"})
    pool = result.parts[1]
    assert pool.misconception is not None and pool.misconception.id == "off_by_one_windows"
    assert "same" not in pool.feedback.lower()
    # The student who did take "valid" for "same" everywhere is told so where it was wrong
    # (the pool is right given their 24x24x8: follow-through).
    conv, pool, last = kinds.grade(problem, {"shape_0": "24x24x8", "shape_1": "12x12x8",
                                             "shape_2": "12x12x32"}).parts
    assert conv.misconception.id == last.misconception.id == "valid_as_same"
    assert pool.follow_through and pool.misconception is None


def test_a_strided_convolution_rounded_up_is_named_so_not_off_by_one() -> None:
    # 8x8 through a 5x5 convolution with stride 2: (8 - 5) / 2 = 1.5, so 2 windows; a
    # student who rounds up gives 3, with the +1 counted once.
    found = 0
    for difficulty in (2, 3):
        for seed in range(300):
            problem = kinds.generate("output_shape", difficulty, seed)
            stack = problem.params["stack"]
            for index, layer in enumerate(stack["layers"]):
                if layer["type"] != "conv2d":
                    continue
                part_id = f"shape_{index}"
                before = stack["input"] if index == 0 else problem.answers[f"shape_{index - 1}"]
                rounded = output_shape._conv_rounded_up(layer, list(before), stack["layout"])
                if rounded is None or rounded == list(problem.answers[part_id]):
                    continue
                _, graded = _graded(problem, part_id, "x".join(map(str, rounded)))
                assert graded.score == 0 and graded.misconception is not None, (seed, index)
                # another named mistake may give the same shape ("valid" taken for "same":
                # ceil(in / s)); what it may no longer be is "the +1 counted twice"
                assert graded.misconception.id != "off_by_one_windows", (seed, index)
                if graded.misconception.id == "ceil_for_floor":
                    assert "rounded down (floor), not up" in graded.feedback
                    found += 1
    assert found >= 5
