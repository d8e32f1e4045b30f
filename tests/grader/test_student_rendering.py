"""The problem renderer's helpers (no per-kind code): answer texts from forms, grids split
back into cells, field drawings, and what the context holds before and after grading."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from grader.student import rendering
from problems import kinds
from problems.kinds.base import Part, format_answer


def _seed_with(kind: str, difficulty: int, wanted) -> int:
    """The first seed whose problem satisfies `wanted` (kinds draw their variants at random)."""
    for seed in range(500):
        if wanted(kinds.generate(kind, difficulty, seed)):
            return seed
    raise AssertionError(f"no {kind} variant as wanted in 500 seeds")


def test_checked_boxes_are_joined_with_commas():
    part = Part("pick", "Which?", "choices", choices=("1 down", "2 right", "none"))
    form = MultiDict([("answers[pick]", "1 down"), ("answers[pick]", "2 right")])
    assert rendering.form_answers(form, [part]) == {"pick": "1 down, 2 right"}


def test_labels_holding_commas_are_sent_as_letters():
    part = Part("pick", "Which?", "choices", choices=("max, then avg", "avg", "min"))
    form = MultiDict([("answers[pick]", "max, then avg"), ("answers[pick]", "min")])
    text = rendering.form_answers(form, [part])["pick"]
    assert text == "a, c"
    from problems.answers import parse_choices

    assert parse_choices(text, part.choices) == {"max, then avg", "min"}


def test_grid_cells_are_joined_with_commas_keeping_each_cell_whole():
    part = Part("g", "Grid", "grid", grid_shape=(2, 2))
    form = MultiDict(
        {
            "answers[g]": "",
            "grid[g][0][0]": "1",
            "grid[g][0][1]": "2.5",
            "grid[g][1][0]": "",
            "grid[g][1][1]": " 5  1/2 ",
        }
    )
    assert rendering.form_answers(form, [part]) == {"g": "1, 2.5\n, 5 1/2"}
    assert rendering.form_answers(MultiDict({"answers[g]": ""}), [part]) == {"g": ""}
    # the cells are what was typed: a script's joined copy of them does not override them
    typed = MultiDict({"answers[g]": "1 2\n3 4", "grid[g][0][0]": "9"})
    assert rendering.form_answers(typed, [part]) == {"g": "9, \n, "}
    # without cells (an API client, a textarea) the text is taken as sent
    assert rendering.form_answers(MultiDict({"answers[g]": "1 2\n3 4"}), [part]) == {
        "g": "1 2\n3 4"
    }


@pytest.mark.parametrize(
    ("text", "cells"),
    [
        ("1 2\n3 4", [["1", "2"], ["3", "4"]]),
        ("1, 2; 3, 4", [["1", "2"], ["3", "4"]]),
        ("[[1, 2], [3, 4]]", [["1", "2"], ["3", "4"]]),
        ("1 2 3 4", [["1", "2"], ["3", "4"]]),
        ("1 ?\n? 4", [["1", ""], ["", "4"]]),
        ("5", [["5", ""], ["", ""]]),
        ("", [["", ""], ["", ""]]),
        ("5 1/2, 3\n, 4", [["5 1/2", "3"], ["", "4"]]),  # as the page joins its cells
        (", \n1, 2", [["", ""], ["1", "2"]]),  # a row of empty cells keeps its place
    ],
)
def test_a_grid_text_splits_back_into_its_cells(text, cells):
    assert rendering.split_grid(text, (2, 2)) == cells


def test_field_drawing_shades_the_region_and_widens_for_padding():
    plain = rendering.field_drawing(8, 8)
    assert plain["region"] is None and not plain["padded"]
    inside = rendering.field_drawing(8, 8, {"rows": [2, 4], "cols": [1, 3]})
    assert inside["region"]["text"] == "rows 2 to 4, columns 1 to 3" and not inside["padded"]
    outside = rendering.field_drawing(8, 8, {"rows": [-1, 3], "cols": [5, 9]})
    assert outside["padded"] and outside["w"] > plain["w"] and outside["h"] > plain["h"]


def test_points_are_shown_in_the_items_scale():
    assert rendering.points_label(1) == "1 point"
    assert rendering.points_label(10 / 6) == "1.67 points"
    problem = kinds.generate("output_shape", 1, 3)
    ctx = rendering.problem_context(problem.public(), points_scale=10 / problem.max_points)
    assert ctx["parts"][problem.parts[0].id]["points_label"] == rendering.points_label(
        10 / problem.max_points
    )


def test_stack_answer_cells_are_inputs_and_other_parts_are_listed():
    problem = kinds.generate("param_count", 2, 11)
    ctx = rendering.problem_context(problem.public())
    stack = next(b for b in ctx["blocks"] if b["type"] == "stack")
    placed = {c["part"]["id"] for row in stack["rows"] for c in row["cells"] if c.get("part")}
    placed |= {f["part"]["id"] for f in stack["footer"]}
    assert placed == {p.id for p in problem.parts}
    assert ctx["loose_parts"] == [] and not ctx["graded"]
    assert "whole number" in stack["hint"]


def test_grading_marks_wrong_grid_cells_and_their_windows():
    seed = _seed_with("pooling_grid", 1, lambda p: True)
    problem = kinds.generate("pooling_grid", 1, seed)
    part = next(p for p in problem.parts if p.answer_type == "grid")
    wrong = [list(row) for row in problem.answers[part.id]]
    wrong[0][0] += 5
    answers = {**kinds.self_test(problem).correct, part.id: format_answer(part, wrong)}
    result = kinds.grade(problem, answers).to_json()

    before = rendering.problem_context(problem.public(), answers)
    assert not any(
        cell["window"] or cell["mark"] for row in before["parts"][part.id]["grid"] for cell in row
    )
    windows = rendering.grading_windows(problem, result)
    after = rendering.problem_context(problem.public(), answers, result, windows=windows)
    cells = after["parts"][part.id]["grid"]
    assert cells[0][0]["mark"] == "wrong" and cells[0][0]["window"]
    assert all(
        c["mark"] == "right" and not c["window"]
        for row in cells
        for c in row
        if (c["row"], c["col"]) != (0, 0)
    )
    grid_block = next(b for b in after["blocks"] if b["type"] == "grids")["grids"][0]
    lit = {c["rc"] for t in grid_block["tables"] for row in t["rows"] for c in row if c["window"]}
    assert lit == set(cells[0][0]["window"].split())


def test_worked_solution_regions_reach_the_field_drawing():
    seed = _seed_with(
        "receptive_field", 2, lambda p: any(b.get("type") == "field" for b in p.statement)
    )
    problem = kinds.generate("receptive_field", 2, seed)
    steps = [s.to_json() for s in kinds.worked_solution(problem)]
    regions = rendering.solution_regions(steps)
    assert regions and regions[0]["rows"] == problem.answers["rows"]
    ctx = rendering.problem_context(problem.public(), regions=regions)
    field = next(b for b in ctx["blocks"] if b["type"] == "field")
    assert field["drawing"]["region"] is not None
    plain = rendering.problem_context(problem.public())
    assert next(b for b in plain["blocks"] if b["type"] == "field")["drawing"]["region"] is None
    drawn = rendering.solution_context(steps)
    assert any(step["drawing"] for step in drawn) and all(
        isinstance(s["math"], list) for s in drawn
    )


def test_a_choices_part_offers_none_unless_a_label_says_none():
    ours = Part("p", "Which?", "choices", choices=("a lot", "a little"))
    theirs = Part("q", "Which?", "choices", choices=("1 down", "none"))
    problem = {"parts": [ours.to_json(), theirs.to_json()], "statement": []}
    ctx = rendering.problem_context(problem, {"p": "none", "q": "none"})
    assert ctx["parts"]["p"]["offer_none"] and ctx["parts"]["p"]["none_checked"]
    assert not ctx["parts"]["q"]["offer_none"] and ctx["parts"]["q"]["checked"] == {"none"}


def test_boxes_sent_together_with_none_come_back_ticked_as_sent():
    """"none" with another choice is refused unread: the page shows every box as it was
    ticked, so the student can untick one."""
    ours = Part("p", "Which?", "choices", choices=("a lot", "a little"))
    theirs = Part("q", "Which?", "choices", choices=("1 down", "1 right", "none"))
    problem = {"parts": [ours.to_json(), theirs.to_json()], "statement": []}
    ctx = rendering.problem_context(problem, {"p": "a lot, none", "q": "1 right, none"})
    assert ctx["parts"]["p"]["checked"] == {"a lot"} and ctx["parts"]["p"]["none_checked"]
    assert ctx["parts"]["q"]["checked"] == {"1 right", "none"}


def test_a_choices_part_says_tick_on_the_page_and_keeps_the_typed_form_for_the_api():
    part = Part("p", "Which?", "choices", choices=("a lot", "a little"))
    assert "separated by commas" in part.to_json()["hint"]  # the API and exports: typed text
    ctx = rendering.problem_context({"parts": [part.to_json()], "statement": []})
    assert ctx["parts"]["p"]["hint"] == "tick every choice that applies"
    shape = Part("s", "Shape?", "shape")
    ctx = rendering.problem_context({"parts": [shape.to_json()], "statement": []})
    assert ctx["parts"]["s"]["hint"] == shape.hint


def test_row_and_column_boxes_sit_under_their_drawing_before_the_next_question():
    generated = (kinds.generate("receptive_field", 3, seed) for seed in range(60))
    problem = next(
        p
        for p in generated
        if any("Another question" in (b.get("text") or "") for b in p.public()["statement"])
    )
    ctx = rendering.problem_context(problem.public())
    kinds_in_order = [b["type"] for b in ctx["blocks"]]
    field = ctx["blocks"][kinds_in_order.index("field")]
    assert [part["id"] for part in field["parts"]] == ["rows", "cols"]
    after = ctx["blocks"][kinds_in_order.index("field") + 1]
    assert after["type"] == "text" and after["text"].startswith("Another question")
    assert [part["id"] for part in ctx["loose_parts"]] == ["layers"]


def test_footer_boxes_sit_under_the_column_of_the_answers():
    problem = kinds.generate("param_count", 2, 3)
    ctx = rendering.problem_context(problem.public())
    stack = next(b for b in ctx["blocks"] if b["type"] == "stack")
    titles = [c["title"] for c in stack["columns"]]
    for foot in stack["footer"]:
        assert foot["before"] == titles.index("Param #")
        assert foot["before"] + 1 + foot["after"] == len(titles)


def test_typed_answers_are_read_back_under_their_prompts_skipping_empty_ones():
    parts = [
        Part("a", "Shape of layer 0", "shape"),
        Part("b", "Shape of layer 1", "shape"),
        Part("g", "The pooled grid", "grid", grid_shape=(2, 2)),
    ]
    form = MultiDict(
        [
            ("answers[a]", "<b>12x12</b>"),
            ("answers[b]", "  "),
            ("answers[g]", "script's joined copy"),
            ("grid[g][0][0]", "1"),
            ("grid[g][0][1]", "5 1/2"),
            ("grid[g][1][0]", ""),
            ("grid[g][1][1]", "4"),
            ("attempt", "1"),
            ("csrf_token", "x"),
        ]
    )
    assert rendering.typed_answers(form, parts) == [
        {"label": "Shape of layer 0", "text": "<b>12x12</b>"},  # escaped by the template
        {"label": "The pooled grid", "text": "1, 5 1/2\n, 4"},
    ]


def test_typed_answers_of_a_form_no_problem_describes_keep_the_forms_order():
    form = MultiDict(
        [
            ("csrf_token", "x"),
            ("answers[shape_1]", "8x8x3"),
            ("answers[out]", ""),
            ("grid[out][0][0]", "1"),
            ("grid[out][0][1]", "2"),
            ("grid[out][1][1]", "4"),
            ("answers[pick]", "a"),
            ("answers[pick]", "c"),
            ("answers[blank]", ""),
            ("grid[huge][999][0]", "9"),  # beyond any real grid: not read back as 1000 rows
        ]
    )
    assert rendering.typed_answers(form) == [
        {"label": "shape_1", "text": "8x8x3"},
        {"label": "out", "text": "1, 2\n, 4"},
        {"label": "pick", "text": "a, c"},
    ]


def test_the_students_graded_range_is_outlined_on_the_field_drawing():
    """Before the solution may be shown, the drawing still shows the student where the rows
    and columns they answered lie; an edited answer (not what was graded) is not drawn, nor
    one far outside the image."""
    seed = _seed_with(
        "receptive_field", 2, lambda p: any(b.get("type") == "field" for b in p.statement)
    )
    problem = kinds.generate("receptive_field", 2, seed)
    rows, cols = problem.answers["rows"], problem.answers["cols"]
    answers = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
    answers["rows"] = f"{rows[0] + 1} to {rows[1] + 1}"  # a row off
    result = kinds.grade(problem, answers).to_json()

    def field(typed, graded):
        ctx = rendering.problem_context(problem.public(), typed, result, graded_answers=graded)
        return next(b for b in ctx["blocks"] if b["type"] == "field")["drawing"]

    drawing = field(answers, answers)
    assert drawing["region"] is None  # the solution is not shown yet
    assert drawing["given"]["text"] == (
        f"rows {rows[0] + 1} to {rows[1] + 1}, columns {cols[0]} to {cols[1]}")
    edited = {**answers, "cols": f"{cols[0]} to {cols[1] + 2}"}
    assert field(edited, answers)["given"] is None
    far = {**answers, "rows": "500 to 900"}
    far_result = kinds.grade(problem, far).to_json()
    ctx = rendering.problem_context(problem.public(), far, far_result, graded_answers=far)
    assert next(b for b in ctx["blocks"] if b["type"] == "field")["drawing"]["given"] is None
