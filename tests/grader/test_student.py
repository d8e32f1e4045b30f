"""The student pages over HTTP (both engines): sets, items, drafts, submissions and their
rules, solutions by policy, who may see what, and that no answer leaks before grading."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from conftest import csrf_token, login
from sqlalchemy import func, select

from grader import db
from grader.models import AuditLog, Draft, Grade, ProblemSet, Submission, User
from grader.services import attempts, courses, problem_sets, regrade
from grader.variants import variant
from problems import kinds
from problems.kinds.base import Problem, format_answer, format_number

# ---------------------------------------------------------------- helpers


def make_set(
    app, course, items=None, *, publish=True, title="Week 1", secret=None, **settings
) -> dict[str, Any]:
    """A problem set in `course` (published unless told): its public ids and secret (a fixed
    `secret` makes the variants reproducible)."""
    items = items or [{"kind": "output_shape", "difficulty": 1, "points": 10}]
    with app.app_context():
        ps = problem_sets.create_set(course, title, items, **settings)
        if secret is not None:  # with fixed item ids too: the same variants every run
            with db.transaction() as s:
                ps = s.merge(ps)
                ps.secret = secret
                for item in ps.items:
                    item.public_id = f"{secret[:24]}-{item.position}"
        if publish:
            ps = problem_sets.publish(ps)
        return {
            "id": ps.public_id,
            "secret": ps.secret,
            "items": [(i.public_id, i.kind, i.difficulty) for i in ps.items],
        }


def problem_of(built: dict[str, Any], user, index: int = 0) -> Problem:
    item_id, kind, difficulty = built["items"][index]
    return variant(built["secret"], user.public_id, item_id, kind, difficulty)


def item_url(built: dict[str, Any], index: int = 0) -> str:
    return f"/sets/{built['id']}/items/{built['items'][index][0]}"


def form_of(answers: dict[str, str], attempt: int | str, token: str) -> dict[str, str]:
    data = {f"answers[{pid}]": text for pid, text in answers.items()}
    data.update(attempt=str(attempt), csrf_token=token)
    return data


def post_answers(client, built, answers, attempt, index=0):
    token = csrf_token(client, item_url(built, index))
    return client.post(item_url(built, index), data=form_of(answers, attempt, token))


def save_draft(client, built, answers, index=0, token=None):
    token = token if token is not None else csrf_token(client, item_url(built, index))
    return client.post(
        f"{item_url(built, index)}/draft",
        json={"answers": answers},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )


def count(app, model, **where) -> int:
    with app.app_context():
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return db.session().scalar(stmt)


def misconception_answers(problem: Problem) -> tuple[dict[str, str], str, str] | None:
    """Correct answers except one part, set to what a named misconception gives."""
    correct = kinds.self_test(problem).correct
    models = getattr(kinds.get(problem.kind), "wrong_models", None)
    for _mid, wrong in models(problem) if models else []:
        for pid, value in wrong.items():
            answers = {**correct, pid: format_answer(problem.part(pid), value)}
            result = kinds.grade(problem, answers)
            graded = next(p for p in result.parts if p.id == pid)
            if result.valid and graded.misconception is not None:
                return answers, pid, graded.misconception.id
    return None


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def signed_in(app, client, student, course):
    """`client` signed in as `student`, enrolled in `course`. The student's public id is
    fixed so that sets made with a fixed `secret` give the same variants every run."""
    with app.app_context():
        with db.transaction() as s:
            s.get(User, student.id).public_id = "student-one"
    student.public_id = "student-one"
    assert login(client, student.email).status_code == 302
    return client


# ---------------------------------------------------------------- lists


def test_my_sets_lists_published_sets_of_my_courses_with_status(
    app, signed_in, student, instructor, course
):
    shown = make_set(app, course, title="Shapes week", due_at=datetime.now(UTC) + timedelta(days=3))
    make_set(app, course, title="Draft week", publish=False)
    with app.app_context():
        elsewhere = courses.create_course("CNN202", "Elsewhere", instructor)
    make_set(app, elsewhere, title="Other course week")

    page = text_of(signed_in.get("/"))
    assert "Shapes week" in page and "CNN101" in page
    assert "Draft week" not in page and "Other course week" not in page
    assert "not started" in page and "0 / 10" in page
    assert f"/sets/{shown['id']}" in page

    problem = problem_of(shown, student)
    post_answers(signed_in, shown, kinds.self_test(problem).correct, 1)
    page = text_of(signed_in.get("/"))
    assert "done" in page and "10 / 10" in page


def test_set_page_shows_each_item_with_status_and_best_score(app, signed_in, student, course):
    built = make_set(
        app,
        course,
        [
            {"kind": "output_shape", "difficulty": 1, "points": 10},
            {"kind": "param_count", "difficulty": 1, "points": 5},
        ],
    )
    page = text_of(signed_in.get(f"/sets/{built['id']}"))
    assert page.count("not started") == 2
    assert kinds.get("output_shape").TITLE in page and kinds.get("param_count").TITLE in page

    problem = problem_of(built, student, 0)
    wrong = kinds.self_test(problem).wrong[problem.parts[0].id]
    post_answers(signed_in, built, wrong, 1)
    post_answers(signed_in, built, kinds.self_test(problem).correct, 2)
    page = text_of(signed_in.get(f"/sets/{built['id']}"))
    assert "full marks" in page
    assert "2 of 3" in page  # attempts used on item 1
    assert "10 / 10" in page  # the best attempt counts


def test_anonymous_visitor_is_sent_to_login(app, client, course):
    built = make_set(app, course)
    for url in ("/", f"/sets/{built['id']}", item_url(built)):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_instructor_home_redirects_to_teaching_pages(app, client, instructor, course):
    login(client, instructor.email)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/teach/")


# ---------------------------------------------------------------- the item page


def test_item_page_renders_parts_without_store_caching(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "param_count", "difficulty": 2, "points": 10}])
    response = signed_in.get(item_url(built))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    problem = problem_of(built, student)
    for part in problem.parts:
        assert f'name="answers[{part.id}]"' in page
    assert 'name="attempt" value="1"' in page
    assert "Layer (type)" in page  # the stack block as a summary table
    assert "<script>" not in page and "onclick" not in page  # CSP: no inline scripts


def test_grid_parts_are_one_input_per_cell(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "pooling_grid", "difficulty": 1, "points": 10}])
    page = signed_in.get(item_url(built)).get_data(as_text=True)
    problem = problem_of(built, student)
    part = next(p for p in problem.parts if p.answer_type == "grid")
    rows, cols = part.grid_shape
    assert page.count(f'name="grid[{part.id}]') == rows * cols
    # A screen reader moving from box to box hears which grid and which cell it is in.
    assert f'aria-label="{part.prompt}: row {rows - 1}, column {cols - 1}"' in page
    assert 'for=""' not in page  # no label pointing at nothing
    assert "data-grid-answer" in page and "data-window" not in page.replace(
        "data-window-target", ""
    )


def test_grid_cells_posted_without_javascript_are_joined(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "pooling_grid", "difficulty": 1, "points": 10}])
    problem = problem_of(built, student)
    part = next(p for p in problem.parts if p.answer_type == "grid")
    token = csrf_token(signed_in, item_url(built))
    data = {"attempt": "1", "csrf_token": token}
    for r, row in enumerate(problem.answers[part.id]):
        for c, value in enumerate(row):
            data[f"grid[{part.id}][{r}][{c}]"] = format_number(value)
    assert signed_in.post(item_url(built), data=data).status_code == 303
    with app.app_context():
        grade = db.session().scalars(select(Grade)).one()
        assert grade.fraction == 1.0


def _set_with_variant(app, course, student, kind, difficulty, wanted, **settings):
    """A set whose one item gives `student` a variant satisfying `wanted` (fixed secrets)."""
    for n in range(40):
        built = make_set(
            app,
            course,
            [{"kind": kind, "difficulty": difficulty, "points": 10}],
            title=f"{kind} {n}",
            secret=f"{kind[:12]}-v{n}",
            **settings,
        )
        if wanted(problem_of(built, student)):
            return built
    raise AssertionError(f"no {kind} variant as wanted in 40 secrets")


def test_field_region_is_drawn_only_after_grading(app, signed_in, student, course):
    built = _set_with_variant(
        app,
        course,
        student,
        "receptive_field",
        2,
        lambda p: any(b.get("type") == "field" for b in p.statement),
        solutions="always",
    )
    problem = problem_of(built, student)
    statement = text_of(signed_in.get(item_url(built))).split('id="solution-heading"')[0]
    assert 'class="field-drawing"' in statement and "field-region" not in statement
    post_answers(signed_in, built, kinds.self_test(problem).correct, 1)
    statement = text_of(signed_in.get(item_url(built))).split('id="solution-heading"')[0]
    rows, cols = problem.answers["rows"], problem.answers["cols"]
    assert "field-region" in statement
    assert f"rows {rows[0]} to {rows[1]}, columns {cols[0]} to {cols[1]}" in statement


def test_checkboxes_submit_every_checked_label(app, signed_in, student, course):
    built = _set_with_variant(
        app,
        course,
        student,
        "shift_invariance",
        3,
        lambda p: any(pt.answer_type == "choices" and len(p.answers[pt.id]) > 1 for pt in p.parts),
    )
    problem = problem_of(built, student)
    page = signed_in.get(item_url(built)).get_data(as_text=True)
    token = csrf_token(signed_in, item_url(built))
    data: dict[str, Any] = form_of(kinds.self_test(problem).correct, 1, token)
    for part in problem.parts:
        if part.answer_type == "choices":
            assert page.count(f'type="checkbox" name="answers[{part.id}]"') >= len(part.choices)
            data[f"answers[{part.id}]"] = list(problem.answers[part.id])  # one value per box
    assert signed_in.post(item_url(built), data=data).status_code == 303
    with app.app_context():
        assert db.session().scalars(select(Grade)).one().fraction == 1.0


def test_grid_draft_refills_the_cells(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "pooling_grid", "difficulty": 1, "points": 10}])
    part = next(p for p in problem_of(built, student).parts if p.answer_type == "grid")
    rows, cols = part.grid_shape
    text = "\n".join(" ".join(str(10 * r + c) for c in range(cols)) for r in range(rows))
    assert save_draft(signed_in, built, {part.id: text}).status_code == 200
    page = signed_in.get(item_url(built)).get_data(as_text=True)
    cell = re.compile(rf'name="grid\[{part.id}\]\[(\d+)\]\[(\d+)\]" value="(\d*)"')
    found = {(int(r), int(c)): v for r, c, v in cell.findall(page)}
    assert found == {(r, c): str(10 * r + c) for r in range(rows) for c in range(cols)}


# ---------------------------------------------------------------- drafts


def test_draft_autosave_is_restored_on_reload(app, signed_in, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    pid = problem.parts[0].id
    response = save_draft(signed_in, built, {pid: "13x13x8", "not_a_part": "x"})
    assert response.status_code == 200 and "saved_at" in response.get_json()
    response = save_draft(signed_in, built, {pid: "12x12x8"})  # an upsert, not a second row
    assert response.status_code == 200
    assert count(app, Draft) == 1
    page = signed_in.get(item_url(built)).get_data(as_text=True)
    assert 'value="12x12x8"' in page
    with app.app_context():
        assert db.session().scalars(select(Draft)).one().answers == {pid: "12x12x8"}


def test_draft_needs_the_csrf_header(app, signed_in, student, course):
    built = make_set(app, course)
    response = signed_in.post(
        f"{item_url(built)}/draft", json={"answers": {}}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["path"] == "csrf_token"
    assert count(app, Draft) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "Expected a JSON object"),
        ({"answer": {}}, "Expected a JSON object"),
        ({"answers": ["12x12"]}, "answers must be an object"),
        ({"answers": {"shape_0": 12}}, "answers.shape_0 must be text"),
        ({"answers": {"shape_0": "1" * 20_000}}, "answers.shape_0 is too long"),
    ],
)
def test_draft_with_a_bad_body_is_refused_with_the_field(app, signed_in, course, body, message):
    built = make_set(app, course)
    token = csrf_token(signed_in, item_url(built))
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    url = f"{item_url(built)}/draft"
    if isinstance(body, str):
        response = signed_in.post(
            url, data=body, headers={**headers, "Content-Type": "application/json"}
        )
    else:
        response = signed_in.post(url, json=body, headers=headers)
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]
    assert count(app, Draft) == 0


# ---------------------------------------------------------------- submitting


def test_correct_submission_gets_full_marks_and_is_recorded_once(app, signed_in, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    save_draft(signed_in, built, {problem.parts[0].id: "draft text"})
    response = post_answers(signed_in, built, kinds.self_test(problem).correct, 1)
    assert response.status_code == 303 and response.headers["Location"].endswith(item_url(built))
    page = text_of(signed_in.get(item_url(built)))
    assert "Attempt 1 recorded: 10 of 10 points" in page
    assert "You have full marks on this item" in page
    assert "Submit attempt" not in page  # nothing more to do
    with app.app_context():
        sub = db.session().scalars(select(Submission)).one()
        assert (sub.attempt, sub.kind, sub.seed, sub.source) == (
            1,
            "output_shape",
            problem.seed,
            "web",
        )
        assert sub.grade.fraction == 1.0 and sub.grade.score == 10.0
        assert sub.grade.result["valid"] is True
    assert count(app, Draft) == 0  # the submission replaces the draft


def test_wrong_submission_names_the_misconception(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "output_shape", "difficulty": 2, "points": 10}])
    problem = problem_of(built, student)
    found = misconception_answers(problem)
    assert found is not None
    answers, pid, misconception = found
    assert post_answers(signed_in, built, answers, 1).status_code == 303
    page = text_of(signed_in.get(item_url(built)))
    named = kinds.base.misconception(misconception)
    assert "Likely mistake" in page and named.name in page and named.explanation in page
    assert f'value="{answers[pid]}"' in page  # the answers stay in the inputs
    assert 'name="attempt" value="2"' in page
    assert "2 left" in page
    with app.app_context():
        grade = db.session().scalars(select(Grade)).one()
        assert misconception in grade.misconceptions and grade.fraction < 1


def test_unreadable_answer_costs_no_attempt_and_shows_the_format_error(
    app, signed_in, student, course
):
    built = make_set(app, course, [{"kind": "output_shape", "difficulty": 1, "points": 10}])
    problem = problem_of(built, student)
    tests = kinds.self_test(problem)
    pid = problem.parts[0].id
    response = post_answers(signed_in, built, tests.unparseable[pid], 1)
    assert response.status_code == 422
    page = text_of(response)
    assert "could not be read: no attempt was used" in page
    assert "Could not be read" in page
    # the readable parts were graded too, but saying so would be a free attempt
    assert "Correct" not in page and "mark-correct" not in page
    assert 'name="attempt" value="1"' in page
    assert "26 by 26 pixels" in page  # what was typed is kept
    assert count(app, Submission) == 0 and count(app, Grade) == 0
    # and kept as the draft, so a reload does not lose it
    assert "26 by 26 pixels" in text_of(signed_in.get(item_url(built)))


def test_missing_answer_is_a_format_error_not_an_attempt(app, signed_in, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    answers = dict(kinds.self_test(problem).correct)
    answers.pop(problem.parts[-1].id)
    response = post_answers(signed_in, built, answers, 1)
    assert response.status_code == 422 and "No answer given" in text_of(response)
    assert count(app, Submission) == 0


def test_double_submit_of_one_attempt_records_one_submission(app, signed_in, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    wrong = kinds.self_test(problem).wrong[problem.parts[0].id]
    first = post_answers(signed_in, built, wrong, 1)
    second = post_answers(signed_in, built, wrong, 1)  # the same answers, the same attempt
    assert first.status_code == second.status_code == 303
    assert count(app, Submission) == 1
    page = text_of(signed_in.get(item_url(built)))
    assert "This attempt was already submitted" in page


def test_other_answers_from_a_stale_tab_are_kept_and_not_graded(app, signed_in, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    tests = kinds.self_test(problem)
    first_part = problem.parts[0].id
    post_answers(signed_in, built, tests.wrong[first_part], 1)  # tab A
    response = post_answers(signed_in, built, tests.correct, 1)  # tab B, still on attempt 1
    assert response.status_code == 409
    page = text_of(response)
    assert (
        "This page was out of date: attempt 1 had already been submitted from another tab or "
        "window; your answers below were not graded. Submit them again as attempt 2." in page
    )
    assert "already submitted: here is its grade" not in page
    assert f'value="{tests.correct[first_part]}"' in page  # B's answers in the boxes
    assert count(app, Submission) == 1
    with app.app_context():
        assert db.session().scalars(select(Grade)).one().fraction < 1  # the first one stands
        assert db.session().scalars(select(Draft)).one().answers == tests.correct
    page = text_of(signed_in.get(item_url(built)))  # B's answers are the draft: a reload keeps them
    assert f'value="{tests.correct[first_part]}"' in page


def test_stale_tab_resending_the_recorded_answers_gets_that_attempt(
    app, signed_in, student, course
):
    built = make_set(app, course)
    problem = problem_of(built, student)
    tests = kinds.self_test(problem)
    wrong = tests.wrong[problem.parts[0].id]
    post_answers(signed_in, built, wrong, 1)
    post_answers(signed_in, built, tests.correct, 2)
    response = post_answers(signed_in, built, wrong, 1)  # an old tab resending attempt 1
    assert response.status_code == 303
    with app.app_context():
        first = db.session().scalars(select(Submission).where(Submission.attempt == 1)).one()
    assert response.headers["Location"].endswith(f"/submissions/{first.public_id}")
    page = text_of(signed_in.get(response.headers["Location"]))
    assert "This attempt was already submitted" in page and "looking at attempt 1" in page
    assert count(app, Submission) == 2


def test_attempt_number_ahead_of_sequence_is_refused(app, signed_in, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    response = post_answers(signed_in, built, kinds.self_test(problem).correct, 3)
    assert response.status_code == 409 and "out of date" in text_of(response)
    response = post_answers(signed_in, built, kinds.self_test(problem).correct, 99)
    page = text_of(response)
    assert response.status_code == 409 and "No attempts left" not in page
    assert "it submits attempt 99, but the next attempt is 1" in page
    response = post_answers(signed_in, built, kinds.self_test(problem).correct, "two")
    assert response.status_code == 400 and "no attempt number" in text_of(response)
    assert count(app, Submission) == 0


def test_no_attempts_left_is_refused(app, signed_in, student, course):
    built = make_set(app, course, attempts_allowed=1)
    problem = problem_of(built, student)
    tests = kinds.self_test(problem)
    post_answers(signed_in, built, tests.wrong[problem.parts[0].id], 1)
    page = text_of(signed_in.get(item_url(built)))
    assert "You have used all your attempts" in page and "Submit attempt" not in page
    response = post_answers(signed_in, built, tests.correct, 2)
    assert response.status_code == 409
    assert "No attempts left: you have used all 1 attempts" in text_of(response)
    assert count(app, Submission) == 1
    response = save_draft(signed_in, built, {problem.parts[0].id: "1x1x1"})
    assert response.status_code == 409


def test_past_due_is_refused(app, signed_in, student, course):
    built = make_set(app, course, due_at=datetime.now(UTC) - timedelta(minutes=5))
    problem = problem_of(built, student)
    response = post_answers(signed_in, built, kinds.self_test(problem).correct, 1)
    assert response.status_code == 409 and "has passed: submissions are closed" in text_of(response)
    assert count(app, Submission) == 0
    assert save_draft(signed_in, built, {problem.parts[0].id: "1x1x1"}).status_code == 409
    assert "closed" in text_of(signed_in.get("/"))


def test_an_answer_arriving_in_the_grace_period_after_the_due_date_is_graded(
        app, client, signed_in, student, instructor, course):
    # A class submitting at the deadline queues at the server: an answer sent just before the
    # due date may be read just after it (SUBMISSION_GRACE_SECONDS, 60 by default).
    assert app.config["SUBMISSION_GRACE_SECONDS"] == 60
    built = make_set(app, course, due_at=datetime.now(UTC) - timedelta(seconds=10))
    problem = problem_of(built, student)
    assert "Submit attempt" not in text_of(signed_in.get(item_url(built)))  # shown closed
    response = post_answers(signed_in, built, kinds.self_test(problem).correct, 1)
    assert response.status_code in (302, 303), text_of(response)
    assert count(app, Submission) == 1
    assert "This answer arrived" not in text_of(signed_in.get(item_url(built)))
    # the instructor sees that it came after the due date, in the grace period
    signed_in.post("/logout", data={"csrf_token": csrf_token(signed_in, "/")})
    assert login(client, instructor.email).status_code == 302
    teacher_page = text_of(client.get(
        f"/teach/sets/{built['id']}/items/{built['items'][0][0]}/students/{student.public_id}"))
    assert re.search(r"\d+\.\d s after the due date", teacher_page)


def test_a_solution_shown_after_the_due_date_waits_for_the_grace_period(
        app, signed_in, student, course):
    # Shown at the due date itself, it could be copied into a submission still taken.
    built = make_set(app, course, solutions="after_due",
                     due_at=datetime.now(UTC) - timedelta(seconds=10))
    page = text_of(signed_in.get(item_url(built)))
    assert "solution-heading" not in page and "once its last submissions are in" in page
    app.config["SUBMISSION_GRACE_SECONDS"] = 5
    assert "solution-heading" in text_of(signed_in.get(item_url(built)))


def test_a_late_answer_is_refused_saying_how_late_and_kept_for_the_instructor(
        app, client, signed_in, student, instructor, course):
    app.config["SUBMISSION_GRACE_SECONDS"] = 0
    built = make_set(app, course, due_at=datetime.now(UTC) - timedelta(seconds=5))
    problem = problem_of(built, student)
    answers = kinds.self_test(problem).correct
    response = post_answers(signed_in, built, answers, 1)
    page = text_of(response)
    assert response.status_code == 409 and "has passed: submissions are closed" in page
    assert len(re.findall(r"This answer arrived \d+\.\d s after it\.", page)) == 1
    # a page merely opened after the due date says nothing of an answer arriving
    assert "This answer arrived" not in text_of(signed_in.get(item_url(built)))
    assert count(app, Submission) == 0
    # the instructor sees what came, and when, though it was never graded
    signed_in.post("/logout", data={"csrf_token": csrf_token(signed_in, "/")})
    assert login(client, instructor.email).status_code == 302
    item_id = built["items"][0][0]
    teacher_page = text_of(client.get(
        f"/teach/sets/{built['id']}/items/{item_id}/students/{student.public_id}"))
    assert "has not submitted an answer to this item" in teacher_page
    assert "Answers typed but not submitted" in teacher_page
    assert "after the due date (and its grace period) and was refused" in teacher_page
    assert "Never graded" in teacher_page
    for text in answers.values():
        assert text in teacher_page
    # the student's own page, closed, says the answers it shows were never graded
    client.post("/logout", data={"csrf_token": csrf_token(client, "/teach/")})
    assert login(client, student.email).status_code == 302
    item = " ".join(text_of(client.get(item_url(built))).split())
    assert "but never submitted: they were not graded" in item


def test_a_submitted_answer_is_not_shown_again_as_unsubmitted(app, client, signed_in, student,
                                                             instructor, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    assert save_draft(signed_in, built, kinds.self_test(problem).correct).status_code == 200
    assert post_answers(signed_in, built, kinds.self_test(problem).correct, 1).status_code in (302, 303)
    signed_in.post("/logout", data={"csrf_token": csrf_token(signed_in, "/")})
    assert login(client, instructor.email).status_code == 302
    item_id = built["items"][0][0]
    teacher_page = text_of(client.get(
        f"/teach/sets/{built['id']}/items/{item_id}/students/{student.public_id}"))
    assert "Answers typed but not" not in teacher_page and "Attempt" in teacher_page


def test_a_points_change_not_yet_regraded_shows_the_points_the_grade_was_given_at(
        app, signed_in, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    assert post_answers(signed_in, built, kinds.self_test(problem).correct, 1).status_code in (302, 303)
    with app.app_context():
        ps = problem_sets.set_for(student, built["id"])
        problem_sets.update_item(ps.items[0], points=20)
    item = " ".join(re.sub(r"<[^>]+>", " ", text_of(signed_in.get(item_url(built)))).split())
    assert "graded when the item was worth 10 points: your instructor's regrade will update it" in item
    assert "Attempt 1: 10 of 10 points" in item
    sets = " ".join(re.sub(r"<[^>]+>", " ", text_of(signed_in.get(f"/sets/{built['id']}"))).split())
    assert "10 / 20 graded out of 10: to be regraded" in sets
    home = " ".join(re.sub(r"<[^>]+>", " ", text_of(signed_in.get("/"))).split())
    assert "10 / 20 points changed: to be regraded" in home
    with app.app_context():  # the regrade rescales it: nothing pending any more
        assert regrade.apply(problem_sets.set_for(student, built["id"])).changes
    item = " ".join(re.sub(r"<[^>]+>", " ", text_of(signed_in.get(item_url(built)))).split())
    assert "your instructor's regrade" not in item and "Attempt 1: 20 of 20 points" in item


def test_a_closed_set_speaks_of_no_attempts_left_nor_of_not_started(app, signed_in, student,
                                                                   course):
    built = make_set(app, course, due_at=datetime.now(UTC) - timedelta(minutes=5))
    item = text_of(signed_in.get(item_url(built)))
    assert "(submissions closed)" in item and " left)" not in item
    for page in (text_of(signed_in.get("/")), text_of(signed_in.get(f"/sets/{built['id']}"))):
        assert "not started" not in page
        assert "closed" in page and "nothing submitted" in page


def test_set_not_yet_open_shows_no_problem(app, signed_in, student, course):
    built = make_set(app, course, opens_at=datetime.now(UTC) + timedelta(days=1))
    problem = problem_of(built, student)
    page = text_of(signed_in.get(item_url(built)))
    assert "This problem set opens at" in page
    assert "summary-table" not in page and problem.parts[0].prompt not in page
    response = post_answers(signed_in, built, kinds.self_test(problem).correct, 1)
    assert response.status_code == 409 and count(app, Submission) == 0


def test_full_marks_refuses_further_attempts(app, signed_in, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    post_answers(signed_in, built, kinds.self_test(problem).correct, 1)
    response = post_answers(signed_in, built, kinds.self_test(problem).correct, 2)
    assert response.status_code == 409 and "already have full marks" in text_of(response)


NO_LONGER_OPEN = (
    "This set is no longer open: your instructor unpublished it. Your answers were not recorded."
)


def _unpublish(app, built) -> None:
    with app.app_context():
        ps = db.session().scalars(select(ProblemSet).where(ProblemSet.public_id == built["id"]))
        problem_sets.unpublish(ps.one())


def test_a_set_unpublished_meanwhile_shows_the_typed_answers_back(app, signed_in, student, course):
    built = make_set(
        app,
        course,
        [
            {"kind": "output_shape", "difficulty": 1, "points": 10},
            {"kind": "pooling_grid", "difficulty": 1, "points": 10},
        ],
    )
    problem = problem_of(built, student)
    answers = dict(kinds.self_test(problem).correct)
    first, last = problem.parts[0].id, problem.parts[-1].id
    answers[last] = '<b>12x12x8</b> & "more"'
    token = csrf_token(signed_in, item_url(built))  # the page is open...
    assert save_draft(signed_in, built, {first: "13x13x8"}, token=token).status_code == 200
    _unpublish(app, built)  # ...when the instructor unpublishes the set
    audits = count(app, AuditLog)

    response = signed_in.post(item_url(built), data=form_of(answers, 1, token))
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert NO_LONGER_OPEN in text_of(response)
    assert "Not Found" not in page and "not yours to see" not in page
    for part in problem.parts:  # each answer under its prompt, as typed, escaped
        assert html.escape(part.prompt, quote=False) in page
        if part.id != last:
            assert f"<pre>{answers[part.id]}</pre>" in page
    assert "<b>12x12x8</b>" not in page
    assert "<pre>&lt;b&gt;12x12x8&lt;/b&gt; &amp; &#34;more&#34;</pre>" in page
    assert f'href="/sets/{built["id"]}"' not in page  # no link to a set that is hidden
    assert count(app, Submission) == 0
    assert count(app, AuditLog) == audits  # a student of the course: not an intrusion
    with app.app_context():  # the draft saved before stays as it was
        assert db.session().scalars(select(Draft)).one().answers == {first: "13x13x8"}

    # the autosave line says why its draft is not saved (autosave.js shows error.message)
    response = save_draft(signed_in, built, {first: "12x12x8"}, token=token)
    assert response.status_code == 409
    assert response.get_json()["error"] == {
        "path": "",
        "message": "This set is no longer open: your instructor unpublished it.",
        "status": 409,
    }

    # a grid typed cell by cell comes back as rows
    grid = problem_of(built, student, 1)
    part = next(p for p in grid.parts if p.answer_type == "grid")
    cells = correct_cells(grid, part)
    response = signed_in.post(item_url(built, 1), data=grid_form(part, cells, 1, token))
    assert response.status_code == 409 and NO_LONGER_OPEN in text_of(response)
    rows, cols = part.grid_shape
    typed = "\n".join(", ".join(cells[(r, c)] for c in range(cols)) for r in range(rows))
    assert f"<pre>{typed}</pre>" in text_of(response)
    assert count(app, Submission) == 0

    # published again: the answers go in as attempt 1
    with app.app_context():
        ps = db.session().scalars(select(ProblemSet).where(ProblemSet.public_id == built["id"]))
        problem_sets.publish(ps.one())
    answers[last] = kinds.self_test(problem).correct[last]
    response = signed_in.post(item_url(built), data=form_of(answers, 1, token))
    assert response.status_code == 303 and count(app, Submission) == 1


def test_an_unpublished_set_is_still_404_to_anyone_outside_its_course(app, client, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    with app.app_context():
        courses.create_user("outsider@example.edu", "Out Sider", "correct horse battery")
    login(client, "outsider@example.edu", "correct horse battery")
    token = csrf_token(client, "/")
    _unpublish(app, built)
    response = client.post(
        item_url(built), data=form_of(kinds.self_test(problem).correct, 1, token)
    )
    assert response.status_code == 404 and "unpublished" not in text_of(response)
    assert "Week 1" not in text_of(response)
    response = client.post(
        f"{item_url(built)}/draft",
        json={"answers": {}},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert response.status_code == 404


def test_a_set_unpublished_while_grading_shows_the_answers_back(
    app, signed_in, student, course, monkeypatch
):
    built = make_set(app, course)
    problem = problem_of(built, student)
    answers = kinds.self_test(problem).correct
    token = csrf_token(signed_in, item_url(built))

    def unpublished_meanwhile(*args: Any, **kwargs: Any) -> Any:
        raise attempts.AttemptRefused("not_published", "This problem set is not published.")

    monkeypatch.setattr(attempts, "submit", unpublished_meanwhile)
    response = signed_in.post(item_url(built), data=form_of(answers, 1, token))
    assert response.status_code == 409 and NO_LONGER_OPEN in text_of(response)
    assert f"<pre>{answers[problem.parts[0].id]}</pre>" in text_of(response)


def test_an_item_removed_meanwhile_shows_the_typed_answers_back(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "output_shape", "difficulty": 1, "points": 10}] * 2)
    problem = problem_of(built, student, 1)
    answers = kinds.self_test(problem).correct
    token = csrf_token(signed_in, item_url(built, 1))
    with app.app_context():
        ps = db.session().scalars(select(ProblemSet).where(ProblemSet.public_id == built["id"]))
        problem_sets.remove_item(ps.one().items[1])
    response = signed_in.post(item_url(built, 1), data=form_of(answers, 1, token))
    assert response.status_code == 410
    page = text_of(response)
    assert (
        "This item is no longer in the set: your instructor removed it. "
        "Your answers were not recorded." in page
    )
    for part in problem.parts:  # no problem to name the parts: their ids
        assert f"<dt>{part.id}</dt>" in page and f"<pre>{answers[part.id]}</pre>" in page
    assert f'href="/sets/{built["id"]}"' in page  # the set is still there
    assert count(app, Submission) == 0
    response = save_draft(signed_in, built, answers, index=1, token=token)
    assert response.status_code == 410
    assert "your instructor removed it" in response.get_json()["error"]["message"]


def test_review_of_a_past_attempt_is_read_only(app, signed_in, student, course):
    built = make_set(app, course)
    problem = problem_of(built, student)
    tests = kinds.self_test(problem)
    wrong = tests.wrong[problem.parts[0].id]
    post_answers(signed_in, built, wrong, 1)
    post_answers(signed_in, built, tests.correct, 2)
    with app.app_context():
        first = db.session().scalars(select(Submission).where(Submission.attempt == 1)).one()
    response = signed_in.get(f"{item_url(built)}/submissions/{first.public_id}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = text_of(response)
    assert "You are looking at attempt 1" in page
    assert f'value="{wrong[problem.parts[0].id]}"' in page and "readonly" in page
    assert "Submit attempt" not in page


def test_concurrent_submits_of_one_attempt_record_one_submission(app, student, course):
    """Eight requests race on attempt 1: one insert wins, the others replay it."""
    import threading

    built = make_set(app, course)
    problem = problem_of(built, student)
    correct = kinds.self_test(problem).correct
    barrier = threading.Barrier(8)
    outcomes: list[Any] = []
    errors: list[BaseException] = []

    def racer() -> None:
        try:
            with app.test_request_context():
                ps = (
                    db.session()
                    .scalars(select(ProblemSet).where(ProblemSet.public_id == built["id"]))
                    .one()
                )
                item = ps.items[0]
                db.session().commit()  # end the read: SQLite's BEGIN IMMEDIATE holds the lock
                barrier.wait(timeout=30)
                outcome = attempts.submit(student, item, correct, 1)
                outcomes.append((outcome.submission.public_id, outcome.replayed))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=racer, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not errors, errors
    assert len({sid for sid, _ in outcomes}) == 1
    assert sorted(replayed for _, replayed in outcomes) == [False] + [True] * 7
    assert count(app, Submission) == 1 and count(app, Grade) == 1


# ---------------------------------------------------------------- worked solutions by policy


@pytest.mark.parametrize(
    ("policy", "before", "after_wrong", "after_full"),
    [
        ("never", False, False, False),
        ("always", True, True, True),
        ("after_attempts", False, False, True),
        ("after_due", False, False, False),
    ],
)
def test_worked_solution_follows_the_policy(
    app, signed_in, student, course, policy, before, after_wrong, after_full
):
    built = make_set(app, course, solutions=policy, attempts_allowed=3)
    problem = problem_of(built, student)
    tests = kinds.self_test(problem)
    heading = 'id="solution-heading"'
    assert (heading in text_of(signed_in.get(item_url(built)))) is before
    post_answers(signed_in, built, tests.wrong[problem.parts[0].id], 1)
    assert (heading in text_of(signed_in.get(item_url(built)))) is after_wrong
    post_answers(signed_in, built, tests.correct, 2)
    assert (heading in text_of(signed_in.get(item_url(built)))) is after_full


def test_solution_after_attempts_used_up_and_after_due(app, signed_in, student, course):
    used_up = make_set(app, course, solutions="after_attempts", attempts_allowed=1, title="A")
    problem = problem_of(used_up, student)
    post_answers(signed_in, used_up, kinds.self_test(problem).wrong[problem.parts[0].id], 1)
    assert "solution-heading" in text_of(signed_in.get(item_url(used_up)))

    due = make_set(app, course, solutions="after_due", title="B")
    assert "solution-heading" not in text_of(signed_in.get(item_url(due)))
    with app.app_context():
        with db.transaction() as s:
            ps = s.scalars(select(ProblemSet).where(ProblemSet.public_id == due["id"])).one()
            # past the due date and its grace period (submissions are taken until then)
            ps.due_at = datetime.now(UTC) - timedelta(seconds=61)
    page = text_of(signed_in.get(item_url(due)))
    assert "solution-heading" in page and "\\[" in page  # formulas for KaTeX


# ---------------------------------------------------------------- who may see what


def test_other_students_and_outsiders_get_404(
    app, client, student, other_student, instructor, course
):
    built = make_set(app, course)
    unpublished = make_set(app, course, publish=False, title="Hidden")
    with app.app_context():
        outsider = courses.create_user("outsider@example.edu", "Out Sider", "correct horse battery")
        other_course = courses.create_course("CNN999", "Other", instructor)
    foreign = make_set(app, other_course, title="Foreign")

    login(client, student.email)
    problem = problem_of(built, student)
    post_answers(client, built, kinds.self_test(problem).correct, 1)
    with app.app_context():
        sub = db.session().scalars(select(Submission)).one()
    own = f"{item_url(built)}/submissions/{sub.public_id}"
    assert client.get(own).status_code == 200
    # a set this student may not open, an item of another set, an unpublished set
    assert client.get(f"/sets/{foreign['id']}").status_code == 404
    assert client.get(item_url(foreign)).status_code == 404
    assert client.get(f"/sets/{built['id']}/items/{foreign['items'][0][0]}").status_code == 404
    # a set of their course that is not open says so (409), without its title
    for url in (f"/sets/{unpublished['id']}", item_url(unpublished)):
        response = client.get(url)
        assert response.status_code == 409, url
        assert "This set is not open" in text_of(response) and "Hidden" not in text_of(response)
    assert client.get("/sets/nonexistent").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})

    audit_before = count(app, AuditLog)
    login(client, other_student.email)  # same course, another student
    assert client.get(item_url(built)).status_code == 200  # their own variant
    assert client.get(own).status_code == 404  # not their submission
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})

    login(client, outsider.email)  # not enrolled at all
    token = csrf_token(client, "/")
    assert client.get(f"/sets/{built['id']}").status_code == 404
    assert client.get(item_url(built)).status_code == 404
    assert client.get(own).status_code == 404
    response = client.post(
        item_url(built), data=form_of(kinds.self_test(problem).correct, 1, token)
    )
    assert response.status_code == 404
    response = client.post(
        f"{item_url(built)}/draft",
        json={"answers": {}},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert response.status_code == 404 and response.get_json()["error"]["status"] == 404
    assert "Week 1" not in text_of(client.get(item_url(built)))
    client.post("/logout", data={"csrf_token": token})

    login(client, instructor.email)  # instructors preview through /teach, not here
    assert client.get(item_url(built)).status_code == 404
    assert count(app, Submission) == 1
    assert count(app, AuditLog) >= audit_before + 5  # failed authorisations are logged


def test_service_refuses_a_student_not_enrolled(app, course, instructor):
    built = make_set(app, course)
    with app.app_context(), app.test_request_context():
        outsider = courses.create_user("lonely@example.edu", "Lonely", "correct horse battery")
        ps = (
            db.session()
            .scalars(select(ProblemSet).where(ProblemSet.public_id == built["id"]))
            .one()
        )
        with pytest.raises(attempts.AttemptRefused) as refused:
            attempts.submit(outsider, ps.items[0], {}, 1)
        assert refused.value.reason == "not_enrolled"


# ---------------------------------------------------------------- no answers before grading


_ANSWER_FORMS = {
    "int": lambda v: {f"{int(v):,}", str(int(v))},
    "number": lambda v: {format_number(v), repr(float(v))},
    "shape": lambda v: {
        "x".join(str(int(d)) for d in v),
        str(tuple(int(d) for d in v)),
        json.dumps([int(d) for d in v]),
    },
    "range": lambda v: {f"{v[0]} to {v[1]}", json.dumps(list(v))},
    "grid": lambda v: {format_number(x) for row in v for x in row} | {json.dumps(v)},
    "cells": lambda v: {", ".join(f"({r}, {c})" for r, c in v), json.dumps(v)},
    "cell": lambda v: {f"({v[0]}, {v[1]})", json.dumps(v)},
}


def answer_tokens(problem: Problem) -> set[str]:
    """Distinctive ways each answer could be written, minus what the statement itself shows."""
    shown = json.dumps(Problem.public(problem))
    tokens: set[str] = set()
    for part in problem.parts:
        forms = _ANSWER_FORMS.get(part.answer_type)
        if forms is None:  # choices: their labels are the statement
            continue
        for token in forms(problem.answers[part.id]):
            if len(token) >= 3 and token not in shown:
                tokens.add(token)
    return tokens


def _scrubbed(page: str, *randoms: str) -> str:
    """A page without its random tokens (CSRF, public ids, times): digits occur there by chance."""
    page = re.sub(r'(content|value)="[A-Za-z0-9._-]{40,}"', "", page)
    page = re.sub(r"\d{4}-\d\d-\d\d[T ][\d:.+]+( UTC)?", "", page)  # times
    for value in randoms:
        page = page.replace(value, "")
    return page


@pytest.mark.parametrize("kind", list(kinds.KINDS))
def test_no_answer_reaches_a_students_page_before_grading(app, signed_in, student, course, kind):
    """For seeds whose answers are distinctive, neither the item page, the draft response,
    nor an unreadable submission's response contains a correct-answer token (or the seed)."""
    checked = 0
    for attempt in range(12):
        built = make_set(
            app,
            course,
            [{"kind": kind, "difficulty": 1 + attempt % 3, "points": 10}],
            title=f"Leak check {attempt}",
            secret=f"leak-{kind[:14]}-{attempt}",
        )
        problem = problem_of(built, student)
        tokens = answer_tokens(problem)
        if not tokens:
            continue
        randoms = (built["id"], built["items"][0][0], student.public_id)
        pages = {"item page": signed_in.get(item_url(built)).get_data(as_text=True)}
        first = problem.parts[0]
        pages["draft response"] = save_draft(signed_in, built, {first.id: "x"}).get_data(
            as_text=True
        )
        unreadable = kinds.self_test(problem).unparseable[first.id]
        blank = {pid: ("" if pid != first.id else text) for pid, text in unreadable.items()}
        pages["unreadable submit"] = post_answers(signed_in, built, blank, 1).get_data(as_text=True)
        for name, page in pages.items():
            page = _scrubbed(page, *randoms)
            leaked = sorted(t for t in tokens if t in page)
            assert not leaked, f"{kind}: {name} shows answer tokens {leaked}"
            assert str(problem.seed) not in page, f"{kind}: {name} shows the seed"
        # the check sees tokens when they are there: after full marks, with the answers in
        # the inputs and the worked solution shown
        assert not re.search(r'name="grid\[[^"]*"[^>]*value="[^"]', pages["item page"]), (
            f"{kind}: a grid cell is filled before grading"
        )
        correct = kinds.self_test(problem).correct
        assert post_answers(signed_in, built, correct, 1).status_code == 303
        graded = _scrubbed(signed_in.get(item_url(built)).get_data(as_text=True), *randoms)
        typed = {t for t in tokens if not t.startswith("[")}  # not only JSON dumps
        if typed:
            assert any(t in graded for t in typed), f"{kind}: the leak check cannot see {typed}"
        checked += 1
        if checked >= 3:
            break
    assert checked, f"{kind}: no variant with distinctive answers in 12 tries"


# ---------------------------------------------------------------- marks, grids, summaries


def input_class(page: str, pid: str) -> str:
    found = re.search(rf'<input type="text" id="input-{re.escape(pid)}"[^>]*?class="([^"]*)"', page)
    assert found is not None, pid
    return found.group(1)


def test_an_edited_draft_shows_no_mark_of_the_graded_attempt(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "output_shape", "difficulty": 1, "points": 10}])
    problem = problem_of(built, student)
    first, last = problem.parts[0].id, problem.parts[-1].id
    graded = kinds.self_test(problem).wrong[last]  # the first part right, the last one wrong
    assert post_answers(signed_in, built, graded, 1).status_code == 303
    assert "is-correct" in input_class(text_of(signed_in.get(item_url(built))), first)
    assert save_draft(signed_in, built, {**graded, first: "99x99x99"}).status_code == 200
    page = text_of(signed_in.get(item_url(built)))
    assert 'value="99x99x99"' in page
    assert "is-correct" not in input_class(page, first)
    assert "Changed since attempt 1: not graded yet" in page
    assert "is-wrong" in input_class(page, last)  # a box still holding its graded answer
    # typing the graded answer again brings its mark back
    assert save_draft(signed_in, built, {**graded, first: f" {graded[first]} "}).status_code == 200
    page = text_of(signed_in.get(item_url(built)))
    assert "is-correct" in input_class(page, first) and "Changed since attempt 1:" not in page


def grid_form(part, cells: dict[tuple[int, int], str], attempt: int, token: str) -> dict:
    data = {"attempt": str(attempt), "csrf_token": token, f"answers[{part.id}]": "ignored"}
    rows, cols = part.grid_shape
    for r in range(rows):
        for c in range(cols):
            data[f"grid[{part.id}][{r}][{c}]"] = cells.get((r, c), "")
    return data


def correct_cells(problem: Problem, part) -> dict[tuple[int, int], str]:
    return {
        (r, c): format_number(v)
        for r, row in enumerate(problem.answers[part.id])
        for c, v in enumerate(row)
    }


def test_empty_grid_cells_are_named_from_zero_and_marked(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "pooling_grid", "difficulty": 1, "points": 10}])
    problem = problem_of(built, student)
    part = next(p for p in problem.parts if p.answer_type == "grid")
    cells = correct_cells(problem, part)
    del cells[(0, 1)]
    cells[(1, 0)] = "x"
    token = csrf_token(signed_in, item_url(built))
    response = signed_in.post(item_url(built), data=grid_form(part, cells, 1, token))
    assert response.status_code == 422
    page = text_of(response)
    assert '"?"' not in page and "Row 1, cell" not in page
    assert (
        '2 cells need an answer: row 0, column 1 is empty; row 1, column 0: "x" is not a number.'
        in page
    )
    invalid = re.findall(
        rf'name="grid\[{part.id}\]\[(\d+)\]\[(\d+)\]"[^>]*aria-invalid="true"', page
    )
    assert sorted(invalid) == [("0", "1"), ("1", "0")]
    assert page.count('class="mark-invalid"') == 2
    assert count(app, Submission) == 0
    cells[(1, 0)] = correct_cells(problem, part)[(1, 0)]
    response = signed_in.post(item_url(built), data=grid_form(part, cells, 1, token))
    assert "Row 0, column 1 is empty." in text_of(response)


def test_a_mixed_number_in_a_grid_cell_stays_whole(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "pooling_grid", "difficulty": 1, "points": 10}])
    problem = problem_of(built, student)
    part = next(p for p in problem.parts if p.answer_type == "grid")
    cells = {**correct_cells(problem, part), (0, 1): "5 1/2"}
    token = csrf_token(signed_in, item_url(built))
    response = signed_in.post(item_url(built), data=grid_form(part, cells, 1, token))
    assert response.status_code == 303  # read and graded: one attempt
    with app.app_context():
        submission = db.session().scalars(select(Submission)).one()
        marks = submission.grade.result["parts"]
    graded = next(p for p in marks if p["id"] == part.id)
    assert graded["format_error"] is None
    assert [row[:2] for row in graded["cells"]][0] == [True, problem.answers[part.id][0][1] == 5.5]
    page = text_of(signed_in.get(item_url(built)))
    assert re.search(rf'name="grid\[{part.id}\]\[0\]\[1\]" value="5 1/2"', page)


def test_the_summary_counts_only_the_mistakes_shown(app, signed_in, student, course):
    built = make_set(app, course, [{"kind": "output_shape", "difficulty": 2, "points": 10}])
    problem = problem_of(built, student)
    found = misconception_answers(problem)
    assert found is not None
    answers, pid, _ = found
    assert post_answers(signed_in, built, answers, 1).status_code == 303
    assert "One likely mistake is named below" in text_of(signed_in.get(item_url(built)))
    unreadable = {**answers, pid: "twenty"}
    response = post_answers(signed_in, built, unreadable, 2)
    assert response.status_code == 422
    page = text_of(response)
    assert "likely mistake" not in page.lower() and "Could not be read" in page


def test_footer_answers_sit_under_their_own_column(app, signed_in, student, course):
    for kind, title in (("param_count", "Param #"), ("pooling_cost", "MACs")):
        built = make_set(app, course, [{"kind": kind, "difficulty": 2, "points": 10}], title=kind)
        page = text_of(signed_in.get(item_url(built)))
        for table in re.findall(r"<table class=\"summary-table\">.*?</table>", page, re.S):
            if "<tfoot>" not in table:
                continue
            heads = re.findall(r'<th scope="col">([^<]*)</th>', table)
            assert title in heads, (kind, heads)
            for row in re.findall(r"<tfoot>.*?</tfoot>", table, re.S)[0].split("<tr>")[1:]:
                span = re.search(r'<th scope="row"(?: colspan="(\d+)")?>', row)
                before = int(span.group(1) or 1)
                assert before == heads.index(title), (kind, before, heads)


def test_a_form_sent_after_signing_out_in_another_tab_leads_to_sign_in_and_back(
        app, signed_in, student, course):
    """Log out in one tab, then Submit (or autosave) in another: the session and its form
    token are gone. Not 'sent from elsewhere; reload' (reloading sends it again): the
    sign-in page, then back to the item, where the tab's kept answers come back."""
    built = make_set(app, course)
    problem = problem_of(built, student)
    token = csrf_token(signed_in, item_url(built))
    signed_in.post("/logout", data={"csrf_token": csrf_token(signed_in, "/")})
    answers = kinds.self_test(problem).correct
    response = signed_in.post(item_url(built), data=form_of(answers, 1, token),
                              headers={"Referer": f"http://localhost{item_url(built)}"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert unquote(response.headers["Location"].split("next=", 1)[1]) == item_url(built)
    page = text_of(signed_in.get(response.headers["Location"]))
    assert "You were signed out before this was sent" in page and "reload" not in page
    draft = save_draft(signed_in, built, {problem.parts[0].id: "1x1x1"}, token=token)
    assert draft.status_code == 401  # autosave keeps the answers in the tab at a 401
    assert "sign in again" in draft.get_json()["error"]["message"]
    assert count(app, Submission) == 0
