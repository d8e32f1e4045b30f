"""An instructor in a real Chromium: create a course, add a student, build a two-item set,
preview a variant, publish, and read the gradebook after the student submits.
Screenshots of each page go to test-artifacts/screenshots/instructor-*.png."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from grader import db
from grader.models import Item, ProblemSet, User
from grader.services import attempts, courses
from grader.variants import variant_seed
from problems import kinds
from problems.kinds import output_shape
from problems.kinds.base import format_answer

STUDENT_PASSWORD = "student browser password"


def test_instructor_builds_previews_publishes_and_reads_the_gradebook(
    live_server: Any,
    page: Any,
    make_user: Any,
    browser_login: Any,
    screenshot: Any,
) -> None:
    base = live_server.url
    make_user("builder@example.edu", "Bea Builder", instructor=True)
    browser_login(page, "builder@example.edu")
    assert page.url.endswith("/teach/")

    # A course.
    page.fill("#code", "CNN301")
    page.fill("#title", "Convolutional networks in practice")
    page.click("button:has-text('Create course')")
    page.wait_for_selector("h1:has-text('CNN301')")
    course_url = page.url

    # A student, added with an initial password.
    page.fill("#student-email", "pat@example.edu")
    page.fill("#student-name", "Pat Learner")
    page.fill("#student-password", STUDENT_PASSWORD)
    # the password typed for the student can be checked before it is given out
    assert page.get_attribute("#student-password", "type") == "password"
    page.get_by_label("Show the password").check()
    assert page.get_attribute("#student-password", "type") == "text"
    assert page.input_value("#student-password") == STUDENT_PASSWORD
    page.get_by_label("Show the password").uncheck()
    assert page.get_attribute("#student-password", "type") == "password"
    page.click("button:has-text('Add student')")
    page.wait_for_selector("text=pat@example.edu added to the course")
    assert page.locator("#roster tbody tr", has_text="pat@example.edu").count() == 1
    screenshot(page, "instructor-course")

    # The builder: a validation error first, then two items.
    page.click("text=New problem set")
    page.fill("#title", "")
    page.click("button.primary:has-text('Create problem set')")
    page.wait_for_selector("#error-title")
    assert "Give the set a title" in page.inner_text("#error-title")
    # the first field to fix has the focus: typing goes there
    assert page.evaluate("document.activeElement.id") == "title"
    screenshot(page, "instructor-builder-error")

    page.fill("#title", "Week 3: output shapes")
    page.fill("#attempts_allowed", "2")
    page.fill("#due_at", "2030-06-01T17:00")
    page.click("button:has-text('Add item')")
    page.wait_for_selector("select[name='items-1-kind']")
    kind = kinds.catalogue()[-1]["name"]
    page.select_option("select[name='items-1-kind']", kind)
    page.select_option("select[name='items-1-difficulty']", "2")
    page.fill("input[name='items-1-points']", "5")
    page.select_option("select[name='items-0-difficulty']", "1")
    screenshot(page, "instructor-builder")
    # On a phone each item is a block of its own: its points field is on the screen.
    page.set_viewport_size({"width": 375, "height": 800})
    points = page.locator("input[name='items-1-points']")
    points.scroll_into_view_if_needed()
    box = points.bounding_box()
    assert 0 <= box["x"] and box["x"] + box["width"] <= 375, box
    screenshot(page, "instructor-builder-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("button.primary:has-text('Create problem set')")
    page.wait_for_selector("text=saved as a draft")
    set_url = page.url
    set_id = set_url.rstrip("/").rsplit("/", 1)[1]
    with live_server.context():
        ps = db.session().scalar(select(ProblemSet).where(ProblemSet.public_id == set_id))
        items = [(i.public_id, i.kind, i.difficulty, i.points) for i in ps.items]
        secret = ps.secret
        student = db.session().scalar(select(User).where(User.email == "pat@example.edu"))
        student_public_id = student.public_id
    assert [(k, d, p) for _, k, d, p in items] == [
        (kinds.catalogue()[0]["name"], 1, 10.0),
        (kind, 2, 5.0),
    ]
    assert page.input_value("#due_at") == "2030-06-01T17:00"

    # Preview Pat's variant of item 2, with its answers and worked solution.
    page.click("nav.tabs >> text=Preview")
    page.select_option("#item", items[1][0])
    page.click("button:has-text('Show')")
    page.wait_for_selector("text=Answer key")
    seed = variant_seed(secret, student_public_id, items[1][0])
    problem = kinds.generate(kind, 2, seed)
    assert str(seed) in page.inner_text("#variant-info")
    key = page.inner_text("table.answer-key")
    for p in problem.parts:
        assert format_answer(p, problem.answers[p.id]).split("\n")[0] in key
    page.wait_for_timeout(300)  # KaTeX renders the solution's formulas
    screenshot(page, "instructor-preview")

    # Publish.
    page.click("nav.tabs >> text=Builder")
    page.click("button:has-text('Publish')")
    page.wait_for_selector("text=is published")
    assert page.locator("h1 .badge").inner_text() == "Published"

    # Pat submits item 1 twice (wrong, then right) through the student service.
    with live_server.context():
        item = db.session().scalar(select(Item).where(Item.public_id == items[0][0]))
        pat = db.session().scalar(select(User).where(User.public_id == student_public_id))
        first = attempts.problem_for(pat, item)
        wrong = {p.id: "1x1x1" for p in first.parts}
        right = {p.id: format_answer(p, first.answers[p.id]) for p in first.parts}
        assert attempts.submit(pat, item, wrong, 1).submission is not None
        assert attempts.submit(pat, item, right, 2).submission is not None

    # The gradebook: 10 of 15 points, two attempts, and the drill-down to Pat's answers.
    page.click("nav.tabs >> text=Gradebook")
    page.wait_for_selector("table.gradebook")
    row = page.locator("table.gradebook tbody tr").first
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert "Pat Learner" in row.locator("th").inner_text()
    assert re.fullmatch(r"10\s*×2", cells[0]) and cells[1] == "—"
    assert cells[2] == "10" and cells[3] == "66.7%"
    screenshot(page, "instructor-gradebook")
    with page.expect_download() as download:
        page.click("text=Download CSV")
    csv_text = open(download.value.path(), encoding="utf-8").read()
    assert "Pat Learner,pat@example.edu,10,2,,0,10,15,66.67" in csv_text

    row.locator("td a").first.click()
    page.wait_for_selector("#attempt-heading")
    assert "Attempt 2: 10 of 10" in page.inner_text("#attempt-heading")
    screenshot(page, "instructor-student-item")

    # Eleven more students answer item 1, some with a named mistake, for the statistics.
    _class_submits(live_server, course_url.rstrip("/").rsplit("/", 1)[1], items[0][0])
    page.goto(f"{base}/teach/sets/{set_id}/stats")
    page.wait_for_selector("svg.histogram")
    figures = page.inner_text("table.figures")
    assert "Students who attempted\t12" in figures
    assert page.locator("text=Most frequent misconceptions in this set").count() == 1
    screenshot(page, "instructor-stats")
    page.goto(f"{base}/teach/sets/{set_id}/regrade")
    page.wait_for_selector("text=No submission would change")

    # Students have submitted: the items are fixed, but Q1's points can change; then regrade.
    page.click("nav.tabs >> text=Builder")
    page.wait_for_selector("text=items are fixed")
    assert page.locator("button:has-text('Add item')").count() == 0
    page.fill("input[name='items-0-points']", "20")
    screenshot(page, "instructor-builder-locked")
    page.click("button.primary:has-text('Save changes')")
    page.wait_for_selector("text=Problem set saved")
    page.click("nav.tabs >> text=Regrade")
    page.wait_for_selector("table.regrade-changes")
    changed = page.locator("table.regrade-changes tbody tr").count()
    assert changed >= 8  # every submission that scored above 0
    pat_row = page.locator("table.regrade-changes tbody tr", has_text="Pat Learner")
    assert [c.strip() for c in pat_row.locator("td").all_inner_texts()][3:6] == [
        "10 / 10",  # the old score out of the old points
        "20 / 20",
        "+10.00",
    ]
    screenshot(page, "instructor-regrade")
    page.click("button:has-text('Apply: record')")
    page.wait_for_selector(f"text=Regrade applied: {changed} submissions got a new grade")
    assert page.locator("text=No submission would change").count() == 1
    page.click("nav.tabs >> text=Gradebook")
    pat_cells = page.locator("table.gradebook tbody tr", has_text="Pat Learner").locator("td")
    assert pat_cells.nth(2).inner_text().strip() == "20"
    page.goto(course_url)
    assert page.locator("text=Week 3: output shapes").count() >= 1


def _class_submits(live_server: Any, course_id: str, item_id: str) -> None:
    """Students 1-11: a third right, a third with a named mistake, a third wrong, and the
    mistaken ones right on their second attempt."""
    with live_server.context():
        course = courses.find_course(course_id)
        item = db.session().scalar(select(Item).where(Item.public_id == item_id))
        for n in range(1, 12):
            user = courses.create_user(
                f"learner{n}@example.edu", f"Learner {n:02d}", STUDENT_PASSWORD
            )
            courses.enroll(course, user, "student")
            problem = attempts.problem_for(user, item)
            right = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
            if n % 3 == 0:
                answers = right
            elif n % 3 == 1:
                mistake = next(
                    w
                    for _, w in output_shape.wrong_models(problem)
                    if set(w) == set(problem.answers) and w != problem.answers
                )
                answers = {p.id: format_answer(p, mistake[p.id]) for p in problem.parts}
            else:
                answers = {**right, problem.parts[-1].id: "1x1x1"}
            attempts.submit(user, item, answers, 1)
            if n % 3 == 1:
                attempts.submit(user, item, right, 2)


def test_a_gradebook_of_nine_items_keeps_its_columns_on_a_laptop_screen(
    live_server: Any,
    page: Any,
    make_user: Any,
    build_course: Any,
    browser_login: Any,
    screenshot: Any,
) -> None:
    """At 1280x900 the Student column stays narrow (the footer's Mean explains itself in a
    note under the table, not in its row header) and every item's column is on the screen."""
    teacher = make_user("wide-book@example.edu", "Wade Wide", instructor=True)
    students = [make_user(f"wide-student{n}@example.edu", f"Student Number {n}") for n in range(3)]
    built = build_course(
        teacher,
        students,
        [{"kind": kind, "difficulty": 2, "points": 10} for kind in kinds.KINDS],
        title="Every kind, one of each",
    )
    assert len(built["items"]) >= 9
    with live_server.context():
        items = [
            db.session().scalar(select(Item).where(Item.public_id == item_id))
            for item_id in built["item_ids"]
        ]
        for n, student in enumerate(students):
            for k, item in enumerate(items):
                if (n + k) % 3 == 2:
                    continue  # some not attempted
                problem = attempts.problem_for(student, item)
                tests = kinds.self_test(problem)
                answers = tests.correct if k % 2 else tests.wrong[problem.parts[-1].id]
                assert attempts.submit(student, item, answers, 1).submission is not None

    browser_login(page, "wide-book@example.edu")
    assert page.viewport_size == {"width": 1280, "height": 900}
    page.goto(f"{live_server.url}/teach/sets/{built['set_id']}/gradebook")
    page.wait_for_load_state("networkidle")
    screenshot(page, "instructor-gradebook-nine-items")
    student_header = page.locator("table.gradebook thead th").first
    assert student_header.inner_text() == "Student"
    assert student_header.bounding_box()["width"] < 260
    mean = page.locator("table.gradebook tfoot th")
    assert mean.inner_text().strip() == "Mean*"
    note = page.locator("#gradebook-means")
    assert mean.get_attribute("aria-describedby") == "gradebook-means"
    assert "over the students who attempted it" in note.inner_text()
    assert "over every student" in note.inner_text()
    frame = page.locator(".table-wrap").bounding_box()
    headers = page.locator("table.gradebook thead th[title]")
    assert headers.count() == len(built["items"])
    for index in range(headers.count()):  # each item's column in the frame, not beyond it
        box = headers.nth(index).bounding_box()
        assert box["x"] + box["width"] <= frame["x"] + frame["width"] + 1, index

    # On a phone (375 px) the scores scroll sideways under the Student column, which stays in
    # view: the row's name is still beside the last item's score.
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/teach/sets/{built['set_id']}/gradebook")
    page.wait_for_load_state("networkidle")
    wrap = page.locator(".table-wrap")
    wrap.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    name = page.locator("table.gradebook tbody th[scope=row]").first
    frame = wrap.bounding_box()
    box = name.bounding_box()
    assert frame["x"] - 1 <= box["x"] <= frame["x"] + 2 and box["width"] <= 9.5 * 16 + 1
    last = page.locator("table.gradebook tbody tr").first.locator("td").last
    assert last.bounding_box()["x"] + last.bounding_box()["width"] <= frame["x"] + frame["width"] + 1
    screenshot(page, "instructor-gradebook-phone-scrolled")


def test_a_refused_export_puts_the_focus_on_its_field_in_view(
    live_server: Any, page: Any, make_user: Any, build_course: Any, browser_login: Any,
) -> None:
    teacher = make_user("export-focus@example.edu", "Ezra Export", instructor=True)
    built = build_course(teacher, [], [{"kind": "output_shape", "difficulty": 1, "points": 10}])
    browser_login(page, "export-focus@example.edu")
    page.goto(f"{live_server.url}/teach/sets/{built['set_id']}")
    page.fill("#export-variants", "0")
    page.click("#export button[type=submit]")
    page.wait_for_selector("#export-variants[aria-invalid=true]")
    # the address ends in #export: the browser's scroll to it must not take the focus away
    page.wait_for_load_state("load")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'export-variants'")
    box = page.locator("#export-variants").bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= page.viewport_size["height"]
