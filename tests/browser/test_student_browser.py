"""A student in a real Chromium: opens a set, fills a summary table and a grid with the
keyboard, sees the draft saved and restored, submits, and reads the feedback."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from problems import kinds
from problems.kinds.base import Problem, format_answer

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - see conftest: only CI insists
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("playwright is not installed in this environment", allow_module_level=True)


# As the server writes its times (attempts.format_time), not the browser's local clock.
SAVED = re.compile(r"^Draft saved \d{4}-\d\d-\d\d \d\d:\d\d UTC$")


def _problem(built: dict[str, Any], user: Any, item: Any) -> Problem:
    from grader.variants import variant

    return variant(built["set"].secret, user.public_id, item.public_id, item.kind, item.difficulty)


def _misconception_answers(problem: Problem) -> tuple[dict[str, str], str, str] | None:
    """Correct answers except one part, which is what a named misconception gives:
    (answers, that part's id, the misconception's name); None if the kind names none here."""
    correct = kinds.self_test(problem).correct
    models = getattr(kinds.get(problem.kind), "wrong_models", None)
    for _mid, wrong in models(problem) if models else []:
        for pid, value in wrong.items():
            answers = {**correct, pid: format_answer(problem.part(pid), value)}
            result = kinds.grade(problem, answers)
            graded = next(p for p in result.parts if p.id == pid)
            if result.valid and graded.misconception is not None:
                return answers, pid, graded.misconception.name
    return None


def _type_in(page: Any, selector: str, text: str) -> None:
    page.click(selector)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def _submission_count(live_server: Any, user: Any) -> int:
    from sqlalchemy import func, select

    from grader import db
    from grader.models import Submission

    with live_server.context():
        return db.session().scalar(
            select(func.count()).select_from(Submission).where(Submission.user_id == user.id)
        )


def test_student_answers_a_table_and_a_grid_with_drafts_and_feedback(
    live_server, page, make_user, build_course, browser_login, screenshot
):
    teacher = make_user("browser-teacher@example.edu", "Tess Teacher", instructor=True)
    student = make_user("browser-student@example.edu", "Sam Student")
    built = build_course(
        teacher,
        [student],
        [
            {"kind": "output_shape", "difficulty": 1, "points": 10},
            {"kind": "pooling_grid", "difficulty": 1, "points": 10},
        ],
        attempts_allowed=3,
        solutions="after_attempts",
    )
    stack_item, grid_item = built["items"]
    stack_problem = _problem(built, student, stack_item)
    grid_problem = _problem(built, student, grid_item)
    found = _misconception_answers(stack_problem)
    assert found is not None, "an output-shape variant always has a named wrong model"
    stack_answers, wrong_part, misconception = found

    browser_login(page, "browser-student@example.edu")
    page.goto(live_server.url + "/")
    assert page.locator("h1").inner_text() == "My problem sets"
    assert page.get_by_role("link", name="Week 1: shapes and pooling").is_visible()
    assert "not started" in page.locator("table.sets-table").inner_text()
    screenshot(page, "student-sets")

    page.get_by_role("link", name="Week 1: shapes and pooling").click()
    page.wait_for_load_state("load")
    assert page.locator("table.items-table tbody tr").count() == 2
    screenshot(page, "student-set")

    # --- the summary table, with the keyboard: one answer per cell, Tab to the next
    page.locator("table.items-table a").first.click()
    page.wait_for_load_state("load")
    first_cell = page.locator("table.summary-table input.cell-input").first
    first_cell.click()
    for index, part in enumerate(stack_problem.parts):
        if index:
            page.keyboard.press("Tab")
        page.keyboard.type(stack_answers[part.id])
    status = page.locator("[data-autosave-status]")
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)
    assert status.inner_text().startswith("Draft saved")
    screenshot(page, "student-item-table-draft")

    page.reload()
    for part in stack_problem.parts:
        assert (
            page.locator(f"input[name='answers[{part.id}]']").input_value()
            == stack_answers[part.id]
        )

    page.get_by_role("button", name=re.compile("Submit attempt 1")).click()
    page.wait_for_load_state("load")
    assert "Attempt 1 recorded" in page.locator(".flashes").inner_text()
    wrong_cell = page.locator(f"td.answer-cell:has(input[name='answers[{wrong_part}]'])")
    assert "mark-wrong" in (wrong_cell.get_attribute("class") or "")
    feedback = page.locator(f"#feedback-{wrong_part}")
    assert misconception in feedback.inner_text()
    assert "Likely mistake" in feedback.inner_text()
    # answers stay in the inputs after grading
    assert (
        page.locator(f"input[name='answers[{wrong_part}]']").input_value()
        == stack_answers[wrong_part]
    )
    assert page.locator("[data-attempts-used]").inner_text() == "1"
    screenshot(page, "student-item-table-feedback")

    # --- the grid: arrow keys and Enter move between cells; one cell wrong
    page.get_by_role("link", name=re.compile("Item 2")).click()
    page.wait_for_load_state("load")
    grid_part = next(p for p in grid_problem.parts if p.answer_type == "grid")
    values = [
        [format_answer(grid_part, [[v]]) for v in row] for row in grid_problem.answers[grid_part.id]
    ]
    values[0][0] = str(int(float(values[0][0])) + 7)
    values[-1][-1] = str(int(float(values[-1][-1])) + 3)
    page.locator("input.grid-cell").first.click()
    rows, cols = len(values), len(values[0])
    for r in range(rows):
        for c in range(cols):
            page.keyboard.type(values[r][c])
            if c + 1 < cols:
                page.keyboard.press("ArrowRight")
            elif r + 1 < rows:
                page.keyboard.press("Enter")  # to the next row's first cell, never a submit
    assert page.url.endswith(grid_item.public_id), "Enter must not submit the form"
    page.keyboard.press("ArrowUp")
    focused = page.evaluate("document.activeElement.getAttribute('data-row')")
    assert focused == str(rows - 2)
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)
    screenshot(page, "student-item-grid-draft")
    page.reload()
    cells = page.locator("input.grid-cell")
    assert cells.nth(0).input_value() == values[0][0]
    assert cells.nth(rows * cols - 1).input_value() == values[-1][-1]

    page.get_by_role("button", name=re.compile("Submit attempt 1")).click()
    page.wait_for_load_state("load")
    assert page.locator(".grid-input td.mark-wrong").count() == 2
    assert page.locator(".grid-input td.mark-right").count() == rows * cols - 2
    assert "2 cells not right" in page.locator(f"#feedback-{grid_part.id}").inner_text()

    def window() -> set[str]:
        lit = page.locator("[data-window-target] td.in-window")
        return {lit.nth(i).get_attribute("data-rc") for i in range(lit.count())}

    first_window = window()
    assert first_window  # the first wrong cell's window, lit from the start
    page.locator("input.grid-cell").nth(rows * cols - 1).hover()  # the other wrong cell
    assert window() and window() != first_window
    screenshot(page, "student-item-grid-feedback")
    assert _submission_count(live_server, student) == 2


def test_autosave_shows_offline_and_a_double_click_submits_once(
    live_server, context, page, make_user, build_course, browser_login, screenshot
):
    teacher = make_user("browser-teacher2@example.edu", "Tess Teacher", instructor=True)
    student = make_user("browser-student2@example.edu", "Sam Student")
    built = build_course(
        teacher, [student], [{"kind": "output_shape", "difficulty": 1, "points": 10}]
    )
    problem = _problem(built, student, built["items"][0])
    correct = kinds.self_test(problem).correct

    browser_login(page, "browser-student2@example.edu")
    page.goto(f"{live_server.url}/sets/{built['set_id']}/items/{built['item_ids'][0]}")
    context.set_offline(True)
    _type_in(page, "input.cell-input >> nth=0", correct[problem.parts[0].id])
    expect(page.locator("[data-autosave-status]")).to_have_text(re.compile("Not saved .* offline"))
    screenshot(page, "student-item-offline")
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)

    # an answer that cannot be read comes back with its message and costs no attempt
    _type_in(page, "input.cell-input >> nth=0", "26 by 26 pixels")
    page.get_by_role("button", name=re.compile("Submit attempt 1")).click()
    page.wait_for_load_state("load")
    assert "no attempt was used" in page.locator(".flashes").inner_text()
    assert page.locator(".feedback-invalid").count() == len(problem.parts)  # the rest: empty
    assert "No answer given" in page.locator(".table-feedback").inner_text()
    assert page.locator("[data-attempts-used]").inner_text() == "0"
    screenshot(page, "student-item-format-error")

    for index, part in enumerate(problem.parts):
        _type_in(page, f"input.cell-input >> nth={index}", correct[part.id])
    page.get_by_role("button", name=re.compile("Submit attempt 1")).dblclick()
    page.wait_for_load_state("load")
    page.wait_for_selector(".attempt-summary")
    assert _submission_count(live_server, student) == 1
    assert "full marks" in page.locator(".closed-note").inner_text().lower()
    # full marks under "after_attempts": the worked solution, its formulas drawn by KaTeX
    assert page.locator(".solution .katex").count() >= 1
    screenshot(page, "student-item-full-marks-solution")


def _fill_answers(page: Any, answers: dict[str, str]) -> None:
    """Put answer texts in their boxes, checkboxes and grid cells (a grid's text in rows of
    numbers split at spaces), as a student would have typed them."""
    page.evaluate(
        """(answers) => {
            for (const [id, text] of Object.entries(answers)) {
              const boxes = document.querySelectorAll(`[name="answers[${id}]"]`);
              boxes.forEach((box) => {
                if (box.type === 'radio' || box.type === 'checkbox') {
                  const picked = text.split(',').map((t) => t.trim().toLowerCase());
                  box.checked = picked.includes(box.value.toLowerCase());
                } else { box.value = text; }
              });
              const grid = document.querySelector(`[data-grid-answer][data-part="${id}"]`);
              if (grid) {
                const rows = text.split('\\n').map((l) => l.trim().split(/\\s+/));
                grid.querySelectorAll('input.grid-cell').forEach((cell) => {
                  const row = rows[+cell.dataset.row] || [];
                  cell.value = row[+cell.dataset.col] || '';
                });
                grid.querySelector('[data-grid-text]').value = text;
              }
            }
        }""",
        answers,
    )


def test_every_kind_renders_for_a_student(
    live_server, page, make_user, build_course, browser_login, screenshot
):
    """Each kind's page before grading, then after a correct submission with the worked
    solution (policy always), screenshotted for a look."""
    teacher = make_user("browser-teacher3@example.edu", "Tess Teacher", instructor=True)
    student = make_user("browser-student3@example.edu", "Sam Student")
    built = build_course(
        teacher,
        [student],
        [{"kind": kind, "difficulty": 2, "points": 10} for kind in kinds.KINDS],
        solutions="always",
        title="Every kind",
    )
    browser_login(page, "browser-student3@example.edu")
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    for item in built["items"]:
        problem = _problem(built, student, item)
        page.goto(f"{live_server.url}/sets/{built['set_id']}/items/{item.public_id}")
        assert page.locator(".problem").count() == 1
        screenshot(page, f"kind-{item.kind}")
        correct = kinds.self_test(problem).correct
        _fill_answers(page, correct)
        page.get_by_role("button", name=re.compile("Submit attempt")).click()
        page.wait_for_load_state("load")
        summary = page.locator(".attempt-summary h2").inner_text()
        assert "10 of 10 points" in summary, (item.kind, summary)
        assert page.locator(".solution").count() == 1
        screenshot(page, f"kind-{item.kind}-graded")
    assert not errors, errors


def _page_width(page: Any) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _scrolling_tables(page: Any) -> list[str]:
    """The classes of the tables that scroll sideways in their frame."""
    return page.evaluate(
        "Array.from(document.querySelectorAll('.table-wrap'))"
        ".filter((wrap) => wrap.scrollWidth > wrap.clientWidth + 1)"
        ".map((wrap) => wrap.querySelector('table').className)"
    )


def _cut_off(page: Any, selector: str) -> list[str]:
    """The shown elements matching `selector` that reach past the screen's sides (cut off
    by the frame of a table that scrolls, or by the screen)."""
    return page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector))
            .filter((el) => el.getClientRects().length > 0)
            .filter((el) => {
              const box = el.getBoundingClientRect();
              return box.left < 0 || box.right > document.documentElement.clientWidth;
            })
            .map((el) => el.outerHTML.slice(0, 120))""",
        selector,
    )


def test_an_edited_box_hides_its_mark_and_pages_fit_a_phone(
    live_server, context, page, make_user, build_course, browser_login, screenshot
):
    teacher = make_user("browser-teacher4@example.edu", "Tess Teacher", instructor=True)
    student = make_user("browser-student4@example.edu", "Sam Student")
    built = build_course(
        teacher,
        [student],
        [
            {"kind": "output_shape", "difficulty": 1, "points": 10},
            {"kind": "receptive_field", "difficulty": 3, "points": 10},
            {"kind": "pooling_cost", "difficulty": 2, "points": 10},
            {"kind": "param_count", "difficulty": 2, "points": 10},
            {"kind": "pooling_grid", "difficulty": 3, "points": 10},
        ],
        solutions="always",
        title="A set with a rather long title to see how it wraps",
    )
    problem = _problem(built, student, built["items"][0])
    tests = kinds.self_test(problem)
    first, last = problem.parts[0].id, problem.parts[-1].id
    graded = tests.wrong[last]  # the first part right, the last one wrong
    browser_login(page, "browser-student4@example.edu")
    item_url = f"{live_server.url}/sets/{built['set_id']}/items/{built['item_ids'][0]}"
    page.goto(item_url)
    for index, part in enumerate(problem.parts):
        _type_in(page, f"input.cell-input >> nth={index}", graded[part.id])
    page.get_by_role("button", name=re.compile("Submit attempt 1")).click()
    page.wait_for_load_state("load")
    cell = page.locator(f"td.answer-cell:has(input[name='answers[{first}]'])")
    assert "mark-correct" in (cell.get_attribute("class") or "")
    assert cell.locator(".mark-icon").is_visible()

    # editing the box hides its mark at once; typing the graded answer back shows it again
    _type_in(page, f"input[name='answers[{first}]']", "99x99x99")
    assert not cell.locator(".mark-icon").is_visible()
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)
    screenshot(page, "student-item-edited-box")
    _type_in(page, f"input[name='answers[{first}]']", graded[first])
    assert cell.locator(".mark-icon").is_visible()
    _type_in(page, f"input[name='answers[{first}]']", "99x99x99")
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)
    page.reload()  # the server agrees: no mark on the edited draft
    assert not cell.locator(".mark-icon").is_visible()
    assert "Changed since attempt 1" in cell.inner_text()

    # a grid cell too: its green or red mark goes once it is edited, and comes back with the
    # graded value
    grid_problem = _problem(built, student, built["items"][4])
    grid_part = next(p for p in grid_problem.parts if p.answer_type == "grid")
    values = [
        [format_answer(grid_part, [[v]]) for v in row] for row in grid_problem.answers[grid_part.id]
    ]
    right_value = values[0][0]
    values[0][0] = str(int(float(right_value)) + 7)  # one cell wrong
    page.goto(f"{live_server.url}/sets/{built['set_id']}/items/{built['item_ids'][4]}")
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            page.fill(f"input[name='grid[{grid_part.id}][{r}][{c}]']", value)
    page.get_by_role("button", name=re.compile("Submit attempt 1")).click()
    page.wait_for_load_state("load")
    wrong_td = page.locator(".grid-input td.mark-wrong")
    assert wrong_td.count() == 1
    wrong_box = wrong_td.locator("input.grid-cell")
    right_box = page.locator(".grid-input td.mark-right input.grid-cell").first
    part_box = page.locator(f"[data-part-id='{grid_part.id}']")

    def colours(box: Any) -> tuple[str, str, str]:
        return box.evaluate(
            "(el) => { const s = getComputedStyle(el);"
            " return [s.borderTopColor, s.borderTopWidth, s.backgroundColor]; }"
        )

    wrong_look, right_look = colours(wrong_box), colours(right_box)
    assert wrong_look != right_look
    assert "(not right)" in (wrong_box.get_attribute("aria-label") or "")
    assert part_box.locator(".mark-icon").is_visible()
    _type_in(page, f"input[name='grid[{grid_part.id}][0][0]']", right_value)  # now right
    assert "is-changed" in (wrong_td.get_attribute("class") or "")
    assert colours(wrong_box) not in (wrong_look, right_look)  # unmarked: neither colour
    assert "(not right)" not in (wrong_box.get_attribute("aria-label") or "")
    assert not part_box.locator(".mark-icon").is_visible()  # the part's ✗ and feedback too
    assert not part_box.locator(".feedback").is_visible()
    screenshot(page, "student-item-edited-grid-cell")
    _type_in(page, f"input[name='grid[{grid_part.id}][0][0]']", values[0][0])  # graded value
    assert colours(wrong_box) == wrong_look
    assert "(not right)" in (wrong_box.get_attribute("aria-label") or "")
    assert part_box.locator(".mark-icon").is_visible()
    right_td = page.locator(".grid-input td.mark-right").first
    right_box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("99")  # a right cell edited loses its green
    assert "is-changed" in (right_td.get_attribute("class") or "")
    assert colours(right_box) not in (wrong_look, right_look)

    # a phone: no page is wider than the screen, before and after grading (with solutions)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(live_server.url + "/")
    assert _page_width(page) <= 375
    assert _scrolling_tables(page) == []  # my sets: a list of rows, not a table to scroll
    for item, item_id in zip(built["items"], built["item_ids"], strict=True):
        url = f"{live_server.url}/sets/{built['set_id']}/items/{item_id}"
        page.goto(url)
        assert _page_width(page) <= 375, url
        assert _scrolling_tables(page) == [], url
        _fill_answers(page, {p.id: "" for p in _problem(built, student, item).parts})
        page.get_by_role("button", name=re.compile("Submit attempt")).click()
        page.wait_for_load_state("load")
        assert page.locator(".feedback-invalid").count() >= 1, url  # nothing typed
        assert _page_width(page) <= 375, url
        assert _cut_off(page, "input[type=text], .feedback") == [], url
        # a graded attempt: the last part wrong, the others right
        item_problem = _problem(built, student, item)
        _fill_answers(page, kinds.self_test(item_problem).wrong[item_problem.parts[-1].id])
        page.get_by_role("button", name=re.compile("Submit attempt")).click()
        page.wait_for_load_state("load")
        assert "recorded" in page.locator(".flashes").inner_text(), url
        page.wait_for_load_state("networkidle")
        assert _page_width(page) <= 375, url
        screenshot(page, f"phone-{item.kind}")
        # answer tables are stacked (and the attempts too): nothing scrolls sideways, no
        # answer box or mark is cut off at the screen's edge
        assert _scrolling_tables(page) == [], url
        assert page.locator(".mark-icon:visible, .grid-input td.mark-wrong").count() >= 1, url
        assert _cut_off(page, "input[type=text], .mark-icon, .changed-icon") == [], url
    page.goto(f"{live_server.url}/sets/{built['set_id']}")
    assert _page_width(page) <= 375
    assert _scrolling_tables(page) == []
    assert _cut_off(page, "table.items-table td, table.items-table th") == []
    score = page.locator("table.items-table td[data-label=Score]").first
    assert score.is_visible() and score.bounding_box()["x"] + score.bounding_box()["width"] <= 375
    screenshot(page, "phone-student-set")

    # the instructor's forms reflow too
    context.clear_cookies()
    browser_login(page, "browser-teacher4@example.edu")
    course_id = built["course"].public_id
    for path in (
        f"/teach/courses/{course_id}/sets/new",
        f"/teach/sets/{built['set_id']}",
        f"/teach/courses/{course_id}/api-keys",
        f"/teach/courses/{course_id}",
        f"/teach/sets/{built['set_id']}/gradebook",
    ):
        assert page.goto(live_server.url + path).status == 200, path
        assert _page_width(page) <= 375, path
        screenshot(page, "phone-teach-" + path.strip("/").replace("/", "-"))
        wide = page.locator(".table-wrap.is-scrollable")
        for index in range(wide.count()):  # a table wider than the screen says so
            note = wide.nth(index).locator("xpath=preceding-sibling::*[1]")
            assert "scroll it sideways" in note.inner_text()
        if path.endswith("/gradebook"):
            assert wide.count() == 1  # the gradebook does scroll on a phone
    # a new API key, shown once, fits too
    page.goto(f"{live_server.url}/teach/courses/{course_id}/api-keys")
    page.get_by_label("Name").fill("Canvas sync")
    page.get_by_role("button", name=re.compile("Create")).click()
    page.wait_for_load_state("load")
    assert re.fullmatch(r"cnnq_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", page.locator("#new-key").inner_text())
    assert _page_width(page) <= 375
    screenshot(page, "phone-teach-new-api-key")


def test_a_set_unpublished_while_its_page_is_open_says_so_and_keeps_the_answers(
    live_server, page, make_user, build_course, browser_login, screenshot
):
    from grader.services import problem_sets

    teacher = make_user("browser-teacher5@example.edu", "Tess Teacher", instructor=True)
    student = make_user("browser-student5@example.edu", "Sam Student")
    built = build_course(
        teacher, [student], [{"kind": "output_shape", "difficulty": 1, "points": 10}]
    )
    problem = _problem(built, student, built["items"][0])
    answers = kinds.self_test(problem).correct
    browser_login(page, "browser-student5@example.edu")
    page.goto(f"{live_server.url}/sets/{built['set_id']}/items/{built['item_ids'][0]}")
    _type_in(page, "input.cell-input >> nth=0", answers[problem.parts[0].id])
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)

    with live_server.context():
        problem_sets.unpublish(built["set"])
    # the autosave line says why the next draft is not saved
    _type_in(page, "input.cell-input >> nth=1", answers[problem.parts[1].id])
    expect(page.locator("[data-autosave-status]")).to_have_text(
        "Not saved \u2014 This set is no longer open: your instructor unpublished it."
    )
    for index, part in enumerate(problem.parts):
        _type_in(page, f"input.cell-input >> nth={index}", answers[part.id])
    page.get_by_role("button", name=re.compile("Submit attempt 1")).click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "Your answers were not recorded"
    assert (
        "This set is no longer open: your instructor unpublished it. "
        "Your answers were not recorded." in page.locator("[role=alert]").inner_text()
    )
    typed = page.locator(".typed-answers pre").all_inner_texts()
    assert typed == [answers[part.id] for part in problem.parts]
    assert _submission_count(live_server, student) == 0
    screenshot(page, "student-answers-not-recorded")


def test_what_is_typed_after_being_signed_out_elsewhere_comes_back_after_signing_in(
    live_server, page, make_user, build_course, browser_login, browser, screenshot
):
    """Signed out everywhere from another device while answering: the autosave line says
    so, Submit leads to the sign-in page, and after signing in the typed answer is back in
    the form, then saved as a draft. Another user in the same tab gets nothing of it."""
    teacher = make_user("browser-teacher6@example.edu", "Tia Teacher", instructor=True)
    student = make_user("browser-student6@example.edu", "Sid Student")
    other = make_user("browser-student7@example.edu", "Ola Other")
    built = build_course(teacher, [student, other],
                         [{"kind": "output_shape", "difficulty": 1, "points": 10}])
    item_url = f"{live_server.url}/sets/{built['set_id']}/items/{built['item_ids'][0]}"
    browser_login(page, "browser-student6@example.edu")
    page.goto(item_url)
    _type_in(page, "input.cell-input >> nth=0", "12x12x8")
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)

    elsewhere = browser.new_context()  # the student's other device: log out everywhere
    try:
        phone = elsewhere.new_page()
        browser_login(phone, "browser-student6@example.edu")
        phone.goto(f"{live_server.url}/logout")
        phone.get_by_role("button", name="Log out everywhere").click()
        phone.wait_for_load_state("load")
    finally:
        elsewhere.close()

    _type_in(page, "input.cell-input >> nth=0", "13x13x8")
    expect(page.locator("[data-autosave-status]")).to_have_text(
        re.compile("Not saved .*kept in this tab until you sign in again"))
    _type_in(page, "input.cell-input >> nth=1", "6x6x8")
    page.get_by_role("button", name=re.compile("Submit attempt")).click()
    page.wait_for_load_state("load")
    assert "/login" in page.url
    # someone else signing in in this tab first (a shared computer) gets none of it
    page.fill("input[name=email]", "browser-student7@example.edu")
    page.fill("input[name=password]", "browser test password")
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url.startswith(item_url)
    assert page.locator("input.cell-input >> nth=0").input_value() == ""
    page.locator("form[action='/logout'] button").first.click()
    page.wait_for_load_state("load")

    browser_login(page, "browser-student6@example.edu")
    page.goto(item_url)
    assert page.locator("input.cell-input >> nth=0").input_value() == "13x13x8"
    assert page.locator("input.cell-input >> nth=1").input_value() == "6x6x8"
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)
    screenshot(page, "student-item-restored-after-sign-in")
    assert _submission_count(live_server, student) == 0  # nothing was submitted unseen


def test_an_answer_typed_just_before_submit_survives_a_session_ended_elsewhere(
    live_server, page, make_user, build_course, browser_login, browser
):
    """Submit clicked before autosave has heard of the ended session: the answers are kept
    in the tab all the same, and come back after signing in."""
    teacher = make_user("browser-teacher8@example.edu", "Tom Teacher", instructor=True)
    student = make_user("browser-student8@example.edu", "Sue Student")
    built = build_course(teacher, [student],
                         [{"kind": "output_shape", "difficulty": 1, "points": 10}])
    item_url = f"{live_server.url}/sets/{built['set_id']}/items/{built['item_ids'][0]}"
    browser_login(page, "browser-student8@example.edu")
    page.goto(item_url)
    elsewhere = browser.new_context()
    try:
        phone = elsewhere.new_page()
        browser_login(phone, "browser-student8@example.edu")
        phone.goto(f"{live_server.url}/logout")
        phone.get_by_role("button", name="Log out everywhere").click()
        phone.wait_for_load_state("load")
    finally:
        elsewhere.close()
    page.fill("input.cell-input >> nth=0", "9x9x8")  # no pause for autosave
    page.get_by_role("button", name=re.compile("Submit attempt")).click()
    page.wait_for_load_state("load")
    assert "/login" in page.url
    browser_login(page, "browser-student8@example.edu")
    page.goto(item_url)
    assert page.locator("input.cell-input >> nth=0").input_value() == "9x9x8"
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)


def test_submitting_after_logging_out_in_another_tab_signs_in_and_comes_back(
    live_server, page, make_user, build_course, browser_login
):
    """Log out in a second tab of the same browser, then Submit in the first: the sign-in
    page says why (not "reload and try again"), and signing in leads back to the item
    with the typed answer."""
    teacher = make_user("browser-teacher9@example.edu", "Tom Teacher", instructor=True)
    student = make_user("browser-student9@example.edu", "Sue Student")
    built = build_course(teacher, [student],
                         [{"kind": "output_shape", "difficulty": 1, "points": 10}])
    item_url = f"{live_server.url}/sets/{built['set_id']}/items/{built['item_ids'][0]}"
    browser_login(page, "browser-student9@example.edu")
    page.goto(item_url)
    other_tab = page.context.new_page()
    other_tab.goto(f"{live_server.url}/")
    other_tab.locator("form[action='/logout'] button").first.click()
    other_tab.wait_for_load_state("load")
    other_tab.close()
    page.fill("input.cell-input >> nth=0", "9x9x8")
    page.get_by_role("button", name=re.compile("Submit attempt")).click()
    page.wait_for_load_state("load")
    assert "/login" in page.url
    expect(page.locator(".flash").first).to_contain_text("You were signed out before this was sent")
    page.fill("input[name=email]", "browser-student9@example.edu")
    page.fill("input[name=password]", "browser test password")  # make_user's (conftest)
    page.locator("main button[type=submit]").first.click()
    page.wait_for_load_state("load")
    assert page.url.split("?")[0] == item_url
    assert page.locator("input.cell-input >> nth=0").input_value() == "9x9x8"
    expect(page.locator("[data-autosave-status]")).to_have_text(SAVED)


def test_a_reader_in_another_time_zone_sees_their_local_due_time(
    browser: Any, live_server: Any, make_user: Any, build_course: Any, browser_login: Any,
) -> None:
    from datetime import UTC, datetime

    teacher = make_user("zone-teacher@example.edu", "Zoe Zone", instructor=True)
    student = make_user("zone-student@example.edu", "Zed Zone")
    built = build_course(teacher, [student], [{"kind": "output_shape", "difficulty": 1, "points": 10}],
                         title="Week 9: zones", due_at=datetime(2030, 1, 15, 23, 30, tzinfo=UTC))
    for zone, local in (("Europe/Berlin", "00:30"), ("UTC", None)):
        ctx = browser.new_context(locale="en-GB", timezone_id=zone)
        try:
            page = ctx.new_page()
            browser_login(page, "zone-student@example.edu")
            page.goto(f"{live_server.url}/sets/{built['set_id']}")
            due = page.locator("time[data-local]").first
            assert due.inner_text() == "2030-01-15 23:30 UTC"
            after = page.locator("time[data-local] + .local-time")
            if local is None:  # a reader on UTC is told nothing twice
                assert after.count() == 0
            else:  # the next day there: weekday and date come with the hour
                expect(after.first).to_contain_text(f"Wed 16 Jan, {local}")
                expect(after.first).to_contain_text("your time")
        finally:
            ctx.close()
