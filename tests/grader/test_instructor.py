"""The instructor's pages and services (both engines): courses and rosters, the builder,
preview, gradebook and CSV, item statistics, regrades, the access matrix and the CLI."""

from __future__ import annotations

import csv
import io
import math
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from conftest import TEST_PASSWORD, csrf_token, login
from markupsafe import escape
from sqlalchemy import func, select

from grader import db
from grader.models import AuditLog, Course, Enrollment, Grade, Item, ProblemSet, Submission, User
from grader.passwords import verify_password
from grader.services import attempts, courses, gradebook, problem_sets, regrade, stats
from grader.variants import variant_seed
from problems import kinds
from problems.errors import SpecError
from problems.kinds import output_shape
from problems.kinds.base import format_answer

KIND = "output_shape"


# ---------------------------------------------------------------- helpers


def _html(response) -> str:
    return response.get_data(as_text=True)


def _make_set(
    app,
    course: Course,
    n_items: int = 2,
    points: float = 10.0,
    publish: bool = True,
    **settings: Any,
) -> ProblemSet:
    with app.app_context():
        ps = problem_sets.create_set(
            course,
            settings.pop("title", "Week 1: shapes"),
            [{"kind": KIND, "difficulty": 1, "points": points} for _ in range(n_items)],
            **settings,
        )
        if publish:
            ps = problem_sets.publish(ps)
        db.session().refresh(ps, ["items"])
        return ps


def _items(app, ps: ProblemSet) -> list[Item]:
    with app.app_context():
        return list(
            db.session().scalars(
                select(Item).where(Item.problem_set_id == ps.id).order_by(Item.position)
            )
        )


def _post(client, url: str, data: dict[str, Any] | None = None, token_from: str = "/teach/", **kw):
    payload = {"csrf_token": csrf_token(client, token_from), **(data or {})}
    return client.post(url, data=payload, **kw)


def _correct(user: User, item: Item) -> dict[str, str]:
    problem = kinds.generate(
        item.kind,
        item.difficulty,
        variant_seed(item.problem_set.secret, user.public_id, item.public_id),
    )
    return {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}


def _wrong(user: User, item: Item) -> dict[str, str]:
    problem = kinds.generate(
        item.kind,
        item.difficulty,
        variant_seed(item.problem_set.secret, user.public_id, item.public_id),
    )
    return {p.id: "1x1x1" for p in problem.parts}


def _submit(app, user: User, ps: ProblemSet, position: int, answers: str, attempt: int):
    """Submit through the student service (G2's attempts.submit)."""
    with app.app_context():
        item = db.session().scalar(
            select(Item).where(Item.problem_set_id == ps.id, Item.position == position)
        )
        texts = _correct(user, item) if answers == "correct" else _wrong(user, item)
        outcome = attempts.submit(db.session().get(User, user.id), item, texts, attempt)
        assert outcome.submission is not None, outcome
        return outcome


def _record(
    app,
    user: User,
    item: Item,
    attempt: int,
    fraction: float,
    *,
    seed: int = 1,
    misconceptions: tuple[str, ...] = (),
    extra_grades: tuple[float, ...] = (),
) -> None:
    """A submission and its grade rows straight into the models (for constructed datasets)."""
    with app.app_context():
        s = db.session()
        points = s.get(Item, item.id).points
        sub = Submission(
            item_id=item.id,
            user_id=user.id,
            attempt=attempt,
            kind=KIND,
            difficulty=1,
            seed=seed,
            answers={},
        )
        s.add(sub)
        s.flush()
        for f in (fraction, *extra_grades):
            s.add(
                Grade(
                    submission_id=sub.id,
                    score=f * points,
                    fraction=f,
                    result={"parts": []},
                    misconceptions=list(misconceptions),
                )
            )
            s.flush()
        s.commit()


def _student(app, course: Course, email: str, name: str) -> User:
    with app.app_context():
        user = courses.create_user(email, name, TEST_PASSWORD)
        courses.enroll(course, user, "student")
        return user


@pytest.fixture
def teacher(client, instructor, course):
    """`client` signed in as the course's instructor."""
    assert login(client, instructor.email).status_code == 302
    return client


@pytest.fixture
def rival(app):
    """Another instructor with a course of their own."""
    with app.app_context():
        other = courses.create_user(
            "rival@example.edu", "Rita Rival", TEST_PASSWORD, is_instructor=True
        )
        courses.create_course("ML200", "Machine learning", other)
        return other


# ---------------------------------------------------------------- access matrix


def _urls(course: Course, ps: ProblemSet, item: Item, student: User) -> list[tuple[str, str]]:
    c, s = course.public_id, ps.public_id
    return [
        ("GET", f"/teach/courses/{c}"),
        ("GET", f"/teach/courses/{c}/sets/new"),
        ("GET", f"/teach/courses/{c}/gradebook"),
        ("GET", f"/teach/courses/{c}/gradebook.csv"),
        ("GET", f"/teach/sets/{s}"),
        ("GET", f"/teach/sets/{s}/preview"),
        ("GET", f"/teach/sets/{s}/gradebook"),
        ("GET", f"/teach/sets/{s}/gradebook.csv"),
        ("GET", f"/teach/sets/{s}/stats"),
        ("GET", f"/teach/sets/{s}/regrade"),
        ("GET", f"/teach/sets/{s}/items/{item.public_id}/students/{student.public_id}"),
        ("POST", f"/teach/courses/{c}/students"),
        ("POST", f"/teach/courses/{c}/roster"),
        ("POST", f"/teach/courses/{c}/sets/new"),
        ("POST", f"/teach/sets/{s}"),
        ("POST", f"/teach/sets/{s}/publish"),
        ("POST", f"/teach/sets/{s}/unpublish"),
        ("POST", f"/teach/sets/{s}/regrade"),
        ("GET", f"/teach/courses/{c}/students/{student.public_id}/password"),
        ("POST", f"/teach/courses/{c}/students/{student.public_id}/password"),
        ("GET", f"/teach/sets/{s}/delete"),
        ("GET", f"/teach/sets/{s}/export?format=gift&variants=1"),
        ("POST", f"/teach/sets/{s}/delete"),
        ("GET", f"/teach/courses/{c}/students/{student.public_id}/remove"),
        ("POST", f"/teach/courses/{c}/students/{student.public_id}/remove"),
    ]


def test_anonymous_visitors_are_sent_to_login(app, client, course, student):
    ps = _make_set(app, course)
    item = _items(app, ps)[0]
    for method, url in [("GET", "/teach/"), *_urls(course, ps, item, student)]:
        response = client.open(
            url,
            method=method,
            data={"csrf_token": csrf_token(client, "/login")} if method == "POST" else None,
        )
        assert response.status_code == 302, (method, url)
        assert "/login" in response.headers["Location"], (method, url)


def test_students_get_404_everywhere_under_teach(app, client, course, student):
    ps = _make_set(app, course)
    item = _items(app, ps)[0]
    login(client, student.email)
    token = csrf_token(client, "/account/password")
    for method, url in [("GET", "/teach/"), *_urls(course, ps, item, student)]:
        response = client.open(
            url, method=method, data={"csrf_token": token} if method == "POST" else None
        )
        assert response.status_code == 404, (method, url)
    with app.app_context():
        denied = db.session().scalar(
            select(func.count(AuditLog.id)).where(
                AuditLog.action == "access_denied", AuditLog.user_id == student.id
            )
        )
    assert denied >= len(_urls(course, ps, item, student))


def test_instructor_of_another_course_gets_404_and_changes_nothing(
    app, client, course, student, rival
):
    ps = _make_set(app, course, publish=False)
    item = _items(app, ps)[0]
    login(client, rival.email)
    token = csrf_token(client, "/teach/")
    for method, url in _urls(course, ps, item, student):
        data = {
            "csrf_token": token,
            "title": "Hijacked",
            "attempts_allowed": "3",
            "solutions": "always",
            "items-0-kind": KIND,
            "items-0-difficulty": "1",
            "items-0-points": "1",
            "email": "x@example.edu",
            "name": "X",
            "password": "hijacked password",
        }
        data["confirm"] = "yes"
        response = client.open(url, method=method, data=data if method == "POST" else None)
        assert response.status_code == 404, (method, url)
    with app.app_context():
        assert db.session().scalar(
            select(func.count(Enrollment.id)).where(Enrollment.user_id == student.id)
        ) == 1
        fresh = db.session().get(ProblemSet, ps.id)
        assert fresh.title == "Week 1: shapes" and fresh.published_at is None
        assert verify_password(db.session().get(User, student.id).password_hash, TEST_PASSWORD)
        assert db.session().scalar(select(func.count(ProblemSet.id))) == 1
        logged = (
            db.session()
            .scalars(
                select(AuditLog.detail).where(
                    AuditLog.action == "access_denied", AuditLog.user_id == rival.id
                )
            )
            .all()
        )
    assert any(course.public_id in d for d in logged) and any(ps.public_id in d for d in logged)
    # Their own course list does not show the other course.
    assert course.public_id not in _html(client.get("/teach/"))


def test_a_student_of_another_course_cannot_be_previewed_or_inspected(app, teacher, course, rival):
    ps = _make_set(app, course)
    item = _items(app, ps)[0]
    with app.app_context():
        rival_course = courses.courses_for(rival)[0]
    outsider = _student(app, rival_course, "outsider@example.edu", "Out Sider")
    assert (
        teacher.get(f"/teach/sets/{ps.public_id}/preview?student={outsider.public_id}").status_code
        == 404
    )
    assert (
        teacher.get(
            f"/teach/sets/{ps.public_id}/items/{item.public_id}/students/{outsider.public_id}"
        ).status_code
        == 404
    )
    assert teacher.get(f"/teach/sets/{ps.public_id}/preview?item=nope").status_code == 404


def test_posts_without_a_csrf_token_are_refused(app, teacher, course):
    ps = _make_set(app, course, publish=False)
    response = teacher.post(f"/teach/sets/{ps.public_id}/publish")
    assert response.status_code == 400
    with app.app_context():
        assert db.session().get(ProblemSet, ps.id).published_at is None


def test_pages_are_not_cached(teacher, course):
    response = teacher.get(f"/teach/courses/{course.public_id}")
    assert response.headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------- courses and rosters


def test_course_list_shows_own_courses_and_creates_one(app, teacher, rival):
    page = _html(teacher.get("/teach/"))
    assert ">CNN101</a>" in page and "ML200" not in page
    response = _post(teacher, "/teach/courses", {"code": "CNN201", "title": "Deeper networks"})
    assert response.status_code == 302
    created = response.headers["Location"]
    assert "/teach/courses/" in created
    page = _html(teacher.get(created))
    assert "CNN201: Deeper networks" in page and "Course CNN201 created" in page


def test_course_form_says_what_is_missing_next_to_each_field(app, teacher):
    response = _post(teacher, "/teach/courses", {"code": " ", "title": ""})
    assert response.status_code == 422
    page = _html(response)
    assert 'id="error-code"' in page and "Give the course a code" in page
    assert 'id="error-title"' in page and "Give the course a title" in page
    with app.app_context():
        assert db.session().scalar(select(func.count(Course.id))) == 1


def test_add_one_student_new_and_existing(app, teacher, course):
    url = f"/teach/courses/{course.public_id}/students"
    response = _post(
        teacher,
        url,
        {
            "email": "New.Person@Example.edu",
            "name": "New Person",
            "password": "a long enough password",
        },
    )
    assert response.status_code == 302
    page = _html(teacher.get(response.headers["Location"]))
    assert "new.person@example.edu added" in page and "New Person" in page
    with app.app_context():
        courses.create_user("known@example.edu", "Known Person", TEST_PASSWORD)
    response = _post(teacher, url, {"email": "known@example.edu", "name": ""})
    assert response.status_code == 302
    with app.app_context():
        emails = {u.email for u in courses.members(db.session().get(Course, course.id), "student")}
    assert {"new.person@example.edu", "known@example.edu"} <= emails
    # The new student can sign in with the password given, then chooses their own.
    other = app.test_client()
    response = login(other, "new.person@example.edu", "a long enough password")
    assert response.status_code == 302 and response.headers["Location"] == "/account/password"


def test_adding_an_enrolled_student_again_says_so_and_keeps_their_password(app, teacher, course, student):
    url = f"/teach/courses/{course.public_id}/students"
    response = _post(teacher, url, {"email": student.email, "name": "", "password": "another password"})
    assert response.status_code == 302
    page = _html(teacher.get(response.headers["Location"]))
    assert f"{student.email} is already enrolled in this course; nothing changed." in page
    assert "already had an account and is now enrolled" not in page
    assert "initial password you gave was not applied" in page
    with app.app_context():
        assert verify_password(db.session().get(User, student.id).password_hash, TEST_PASSWORD)


def test_instructor_sets_a_generated_password_shown_once(app, teacher, course, student):
    student_client = app.test_client()
    assert login(student_client, student.email).status_code == 302
    url = f"/teach/courses/{course.public_id}/students/{student.public_id}/password"
    assert url in _html(teacher.get(f"/teach/courses/{course.public_id}"))
    form = _html(teacher.get(url))
    assert "Set the password" in form and 'name="csrf_token"' in form
    # Without the CSRF token nothing happens.
    assert teacher.post(url, data={}).status_code == 400
    response = _post(teacher, url, {}, token_from=url)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    shown = re.search(r"<code>([a-z0-9-]{19})</code>", _html(response))
    assert shown, _html(response)
    other = app.test_client()
    assert login(other, student.email, shown.group(1)).status_code == 302
    assert login(app.test_client(), student.email).status_code == 401  # the old one is gone
    assert student_client.get("/").status_code == 302  # their old session is signed out
    with app.app_context():
        assert db.session().scalar(
            select(func.count(AuditLog.id)).where(AuditLog.action == "password_reset")
        ) == 1
    assert shown.group(1) not in _html(teacher.get(f"/teach/courses/{course.public_id}"))


def test_instructor_sets_a_typed_password_or_is_told_what_is_wrong(app, teacher, course, student):
    url = f"/teach/courses/{course.public_id}/students/{student.public_id}/password"
    response = _post(teacher, url, {"password": "short"}, token_from=url)
    assert response.status_code == 422
    assert re.search(r'id="error-password">The password must be at least 8', _html(response))
    response = _post(teacher, url, {"password": "chosen by teacher"}, token_from=url)
    assert response.status_code == 302
    assert "has a new password" in _html(teacher.get(response.headers["Location"]))
    response = login(app.test_client(), student.email, "chosen by teacher")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/password"  # to choose their own first


def test_no_password_reset_for_the_instructor_or_a_stranger(app, teacher, course, instructor, rival):
    for user in (instructor, rival):
        url = f"/teach/courses/{course.public_id}/students/{user.public_id}/password"
        assert teacher.get(url).status_code == 404
        assert _post(teacher, url, {"password": "taken over now"}).status_code == 404
    assert login(app.test_client(), rival.email).status_code == 302


def test_an_email_starting_an_error_is_not_capitalised(app, teacher, course):
    with app.app_context():
        courses.create_user("Demo-teacher@example.edu", "Demo", TEST_PASSWORD, is_instructor=True)
        courses.enroll(db.session().get(Course, course.id),
                       courses.user_by_email("demo-teacher@example.edu"), "instructor")
    response = _post(teacher, f"/teach/courses/{course.public_id}/students",
                     {"email": "Demo-teacher@example.edu", "name": "D"})
    assert response.status_code == 422
    assert ">demo-teacher@example.edu is an instructor of this course.<" in _html(response)


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"email": "", "name": "X"}, "email", "Enter the student"),
        ({"email": "not-an-email", "name": "X"}, "email", "not an email address"),
        ({"email": "fresh@example.edu", "name": ""}, "name", "Name is required"),
        ({"email": "teacher@example.edu", "name": "T"}, "email", "instructor of this course"),
    ],
)
def test_add_student_errors_name_the_field(app, teacher, course, data, field, message):
    response = _post(teacher, f"/teach/courses/{course.public_id}/students", data)
    assert response.status_code == 422
    page = _html(response)
    error = re.search(rf'<p class="field-error" id="error-{field}">([^<]*)</p>', page)
    assert error and message in error.group(1), page[-2000:]


def test_add_student_reports_every_problem_at_once_with_a_summary_and_focus(app, teacher, course):
    """Below the roster, the form's errors were out of sight and came one per submit: now a
    summary at the top links to the form, and the first field to fix takes the focus."""
    url = f"/teach/courses/{course.public_id}/students"
    response = _post(teacher, url, {"email": "fresh@example.edu", "name": "", "password": "short"})
    assert response.status_code == 422
    page = _html(response)
    errors = dict(re.findall(r'<p class="field-error" id="error-(\w+)">([^<]*)</p>', page))
    assert errors == {
        "name": "Name is required for a new user.",
        "password": "Password must be at least 8 characters long.",
    }
    summary = page.index('id="form-problems"')
    assert summary < page.index('id="sets-heading"')  # at the top, not below the fold
    assert "Nothing was saved: 2 fields need attention" in page
    assert 'href="#add-student"' in page and 'id="add-student"' in page
    assert re.findall(r'<input id="([\w-]+)"[^>]* autofocus', page) == ["student-name"]
    with app.app_context():
        assert courses.user_by_email("fresh@example.edu") is None

    response = _post(teacher, url, {"email": "not-an-email", "name": " ", "password": ""})
    page = _html(response)
    assert response.status_code == 422 and "Nothing was saved: 2 fields need attention" in page
    assert 'id="error-email"' in page and 'id="error-name"' in page
    assert 'id="error-password"' not in page  # an initial password is optional
    assert re.findall(r'<input id="([\w-]+)"[^>]* autofocus', page) == ["student-email"]


def test_the_course_page_without_errors_has_no_summary_and_no_focus(teacher, course):
    page = _html(teacher.get(f"/teach/courses/{course.public_id}"))
    assert 'id="form-problems"' not in page and "autofocus" not in page


def test_roster_upload_reports_added_existing_and_bad_lines(app, teacher, course, student):
    text = (
        "email,name\n"
        "ann@example.edu,Ann A\n"  # line 2: added
        f"{student.email},Sam Student\n"  # line 3: existing
        "not-an-email,Bad\n"  # line 4: error
        "bo@example.edu,\n"  # line 5: error (no name for a new user)
        "ann@example.edu,Ann Again\n"  # line 6: error (duplicate)
        'cy@example.edu,"Cy, Jr."\n'  # line 7: added (quoted comma)
    )
    response = _post(
        teacher,
        f"/teach/courses/{course.public_id}/roster",
        {"roster": (io.BytesIO(text.encode()), "class.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = _html(teacher.get(response.headers["Location"]))
    assert (
        "<strong>2</strong> added" in page and "<strong>0</strong> already had an account" in page
    )
    assert "<strong>1</strong> already enrolled" in page
    assert "<strong>3</strong> lines refused" in page
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td></tr>', page)
    assert [int(line) for line, _ in rows] == [4, 5, 6]
    assert "line 2" in rows[2][1]
    assert "Cy, Jr." in page
    # The report is shown once.
    assert "lines refused" not in _html(teacher.get(f"/teach/courses/{course.public_id}"))


def test_roster_upload_refuses_a_two_line_name_and_keeps_the_good_lines(app, teacher, course):
    text = (
        "email,name,password\n"
        "ann@example.edu,Ann A,\n"
        'mia@uni.edu,"Mia ""Quote"" O\'Neil\nNewline",password1\n'  # lines 3-4: refused
        'sam@example.edu,"Sam"x,\n'  # line 5: broken quote
        "tina@example.edu,Tina,\n"  # line 6: still read
    )
    response = _post(
        teacher,
        f"/teach/courses/{course.public_id}/roster",
        {"roster": (io.BytesIO(text.encode()), "class.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = _html(teacher.get(response.headers["Location"]))
    assert "<strong>2</strong> added" in page and "<strong>2</strong> lines refused" in page
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td></tr>', page)
    assert [int(line) for line, _ in rows] == [3, 5]
    assert "Tina" in page and "Ann A" in page


def test_roster_upload_without_a_file_or_with_binary_is_a_field_error(teacher, course):
    url = f"/teach/courses/{course.public_id}/roster"
    response = _post(teacher, url, {}, content_type="multipart/form-data")
    page = _html(response)
    assert response.status_code == 422 and "Choose a CSV file" in page
    # Summarised at the top (the upload form is below the roster), the file input focused.
    assert page.index('id="form-problems"') < page.index('id="sets-heading"')
    assert "Nothing was imported" in page and 'href="#upload-roster"' in page
    assert re.findall(r'<input id="([\w-]+)"[^>]* autofocus', page) == ["roster-file"]
    response = _post(
        teacher,
        url,
        {"roster": (io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "not UTF-8" in _html(response)


def test_roster_upload_reads_utf16_and_refuses_latin1_naming_the_line(app, teacher, course):
    """One decoding with `flask import-roster`: Excel's UTF-16 ("Unicode Text") is read; a
    Latin-1 file is refused whole, naming the file and the line, not guessed."""
    url = f"/teach/courses/{course.public_id}/roster"
    latin1 = "email,name\nann@example.edu,Ann\njose@example.edu,José\n".encode("latin-1")
    response = _post(
        teacher, url, {"roster": (io.BytesIO(latin1), "class.csv")},
        content_type="multipart/form-data",
    )
    page = _html(response)
    assert response.status_code == 422
    assert "class.csv line 3: not UTF-8 text; save the file as &#39;CSV UTF-8&#39;" in page
    with app.app_context():
        assert courses.user_by_email("ann@example.edu") is None  # nothing imported

    utf16 = "email\tname\r\njose@example.edu\tJosé Ñúñez\r\n".encode("utf-16")
    response = _post(
        teacher, url, {"roster": (io.BytesIO(utf16), "class.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert "<strong>1</strong> added" in _html(teacher.get(response.headers["Location"]))
    with app.app_context():
        assert courses.user_by_email("jose@example.edu").name == "José Ñúñez"


# ---------------------------------------------------------------- the builder


def _builder_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "title": "Week 2",
        "attempts_allowed": "2",
        "opens_at": "2030-12-01T09:00",
        "due_at": "2030-12-08T17:30",
        "solutions": "after_due",
        "follow_through": "on",
        "items-0-id": "",
        "items-0-kind": KIND,
        "items-0-difficulty": "1",
        "items-0-points": "10",
        "items-1-id": "",
        "items-1-kind": KIND,
        "items-1-difficulty": "3",
        "items-1-points": "5.5",
        "action": "save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_builder_lists_the_catalogue_with_titles_and_summaries(teacher, course):
    page = _html(teacher.get(f"/teach/courses/{course.public_id}/sets/new"))
    for entry in kinds.catalogue():
        assert f'value="{entry["name"]}"' in page
        assert escape(entry["title"]) in page and escape(entry["summary"]) in page
    assert "Times are in UTC" in page


def test_builder_creates_a_set_with_utc_dates(app, teacher, course):
    url = f"/teach/courses/{course.public_id}/sets/new"
    response = _post(teacher, url, _builder_data(), token_from=url)
    assert response.status_code == 302
    with app.app_context():
        ps = db.session().scalar(select(ProblemSet).where(ProblemSet.title == "Week 2"))
        assert ps.attempts_allowed == 2 and ps.solutions == "after_due" and ps.follow_through
        assert problem_sets.utc(ps.opens_at).isoformat() == "2030-12-01T09:00:00+00:00"
        assert problem_sets.utc(ps.due_at).isoformat() == "2030-12-08T17:30:00+00:00"
        assert [(i.kind, i.difficulty, i.points) for i in ps.items] == [
            (KIND, 1, 10.0),
            (KIND, 3, 5.5),
        ]
        assert ps.published_at is None
    page = _html(teacher.get(response.headers["Location"]))
    assert 'value="2030-12-01T09:00"' in page and "Draft" in page


def test_builder_row_actions_edit_the_form_without_saving(app, teacher, course):
    url = f"/teach/courses/{course.public_id}/sets/new"
    for action, expected in [
        ("add", ["1", "3", "3"]),
        ("remove-0", ["3"]),
        ("up-1", ["3", "1"]),
        ("down-0", ["3", "1"]),
    ]:
        response = _post(teacher, url, _builder_data(action=action), token_from=url)
        assert response.status_code == 200, action
        chosen = re.findall(
            r'name="items-\d+-difficulty"[^>]*>\s*(?:<option[^>]*>[^<]*</option>\s*)*',
            _html(response),
        )
        difficulties = re.findall(r'<option value="(\d)" selected>', "".join(chosen))
        assert difficulties == expected, action
    with app.app_context():
        assert db.session().scalar(select(func.count(ProblemSet.id))) == 0


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"title": ""}, "title", "Give the set a title"),
        ({"attempts_allowed": "0"}, "attempts_allowed", "from 1 to 20"),
        ({"attempts_allowed": "many"}, "attempts_allowed", "whole number"),
        ({"opens_at": "next week"}, "opens_at", "YYYY-MM-DDTHH:MM"),
        ({"due_at": "2030-11-30T09:00"}, "due_at", "after the opening date"),
        ({"solutions": "sometimes"}, "solutions", "Choose when"),
        ({"items-1-kind": "no_such_kind"}, "items-1-kind", "Choose a problem kind"),
        ({"items-0-difficulty": "7"}, "items-0-difficulty", "1, 2 or 3"),
        ({"items-1-points": "-2"}, "items-1-points", "from 0.01 to 1000"),
        ({"items-0-points": "nan"}, "items-0-points", "from 0.01 to 1000"),
        ({"items-0-points": "0.001"}, "items-0-points", "with at most two decimals"),
        ({"items-0-points": "2.505"}, "items-0-points", "with at most two decimals"),
    ],
)
def test_builder_validation_messages_sit_next_to_the_field(
    app, teacher, course, overrides, field, message
):
    url = f"/teach/courses/{course.public_id}/sets/new"
    response = _post(teacher, url, _builder_data(**overrides), token_from=url)
    assert response.status_code == 422
    page = _html(response)
    error = re.search(rf'<p class="field-error" id="error-{re.escape(field)}">([^<]*)</p>', page)
    assert error and message in error.group(1), page
    assert "Nothing was saved" in page
    with app.app_context():
        assert db.session().scalar(select(func.count(ProblemSet.id))) == 0


def test_builder_refuses_a_title_another_set_of_the_course_has(app, teacher, course):
    _make_set(app, course, title="Pooling and shapes")
    url = f"/teach/courses/{course.public_id}/sets/new"
    response = _post(teacher, url, _builder_data(title=" pooling AND shapes "), token_from=url)
    assert response.status_code == 422
    page = _html(response)
    assert "Nothing was saved: 1 field needs attention" in page
    error = re.search(r'<p class="field-error" id="error-title">([^<]*)</p>', page)
    assert error and error.group(1).startswith(
        "The title “pooling AND shapes” is already used by another problem set of this course")
    # Renaming a set to it is refused the same way; its own title stays its own.
    created = _post(teacher, url, _builder_data(title="Week 2"), token_from=url)
    assert created.status_code == 302
    edit = created.headers["Location"]
    response = _post(teacher, edit, _builder_data(title="Pooling and shapes"), token_from=edit)
    assert response.status_code == 422 and 'id="error-title"' in _html(response)
    assert _post(teacher, edit, _builder_data(title="Week 2"), token_from=edit).status_code == 302
    with app.app_context():
        titles = [ps.title for ps in problem_sets.sets_for_course(db.session().get(Course, course.id))]
    assert titles == ["Pooling and shapes", "Week 2"]
    # With another field's problem, the used title is reported too: every problem at once.
    response = _post(teacher, url, _builder_data(**{"title": "POOLING and shapes",
                                                    "items-0-points": "0.001"}), token_from=url)
    page = _html(response)
    assert response.status_code == 422 and "2 fields need attention" in page
    assert 'id="error-title"' in page and 'id="error-items-0-points"' in page


def test_builder_constraints_total_and_regrade_link_match_the_server(app, teacher, course):
    url = f"/teach/courses/{course.public_id}/sets/new"
    page = _html(teacher.get(url))
    assert 'min="0"' not in page and 'min="0.01" max="1000" step="0.01"' in page
    assert 'href="#"' not in page and "needs a regrade" in page
    refused = _post(teacher, url, _builder_data(**{"items-1-points": "1e308"}), token_from=url)
    assert refused.status_code == 422
    page = _html(refused)
    assert "Total: 10 points" in page and "1 item with invalid points left out" in page
    assert "1" + "0" * 20 not in page
    ps = _make_set(app, course, publish=False)
    page = _html(teacher.get(f"/teach/sets/{ps.public_id}"))
    assert f'href="/teach/sets/{ps.public_id}/regrade">regrade</a>' in page


def test_a_too_large_upload_says_the_limit_and_offers_a_way_back(app, teacher, course):
    app.config["MAX_CONTENT_LENGTH"] = 3 * 1024 * 1024
    course_url = f"http://localhost/teach/courses/{course.public_id}"
    response = teacher.post(
        f"/teach/courses/{course.public_id}/roster",
        data={
            "csrf_token": csrf_token(teacher, f"/teach/courses/{course.public_id}"),
            "roster": (io.BytesIO(b"a@example.edu,A\n" * 230_000), "big.csv"),
        },
        headers={"Referer": course_url},
    )
    assert response.status_code == 413
    page = _html(response)
    assert "at most 3 MB (3145728 bytes) per request" in page
    assert f'href="{course_url}">Back to the form</a>' in page
    elsewhere = teacher.post(
        f"/teach/courses/{course.public_id}/roster",
        data={"roster": (io.BytesIO(b"x" * (3 * 1024 * 1024 + 1)), "big.csv")},
        headers={"Referer": "https://evil.example/"},
    )
    assert elsewhere.status_code == 413 and "evil.example" not in _html(elsewhere)


def test_builder_refuses_a_set_without_items(app, teacher, course):
    url = f"/teach/courses/{course.public_id}/sets/new"
    data = {k: v for k, v in _builder_data().items() if not k.startswith("items-")}
    response = _post(teacher, url, data, token_from=url)
    assert response.status_code == 422 and "Add at least one item" in _html(response)


def test_editing_points_keeps_items_and_variants(app, teacher, course):
    ps = _make_set(app, course)
    before = [i.public_id for i in _items(app, ps)]
    url = f"/teach/sets/{ps.public_id}"
    data = _builder_data(
        **{
            "items-0-id": before[0],
            "items-1-id": before[1],
            "items-1-difficulty": "1",
            "items-1-points": "4",
            "title": "Renamed",
            "opens_at": "",
            "due_at": "",
        }
    )
    response = _post(teacher, url, data, token_from=url)
    assert response.status_code == 302
    after = _items(app, ps)
    assert [i.public_id for i in after] == before and after[1].points == 4.0
    with app.app_context():
        assert db.session().get(ProblemSet, ps.id).title == "Renamed"


def test_changing_points_after_submissions_asks_for_a_regrade(app, teacher, course, student):
    ps = _make_set(app, course)
    _submit(app, student, ps, 0, "correct", 1)
    items = _items(app, ps)
    url = f"/teach/sets/{ps.public_id}"
    data = _builder_data(
        opens_at="",
        due_at="",
        **{
            "items-0-id": items[0].public_id,
            "items-1-id": items[1].public_id,
            "items-1-difficulty": "1",
            "items-0-points": "20",
            "items-1-points": "10",
        },
    )
    response = _post(teacher, url, data, token_from=url)
    assert response.status_code == 302
    page = _html(teacher.get(url))
    assert "The points changed after students submitted" in page
    assert "grades keep the old scoring until you regrade" in page
    both = {**data, "items-0-points": "30", "follow_through": ""}  # and follow-through off
    assert _post(teacher, url, both, token_from=url).status_code == 302
    assert ("The points and the follow-through setting changed after students submitted"
            in _html(teacher.get(url)))
    book = _html(teacher.get(f"{url}/gradebook"))
    assert "1 grade was given when an item had other points" in book
    with app.app_context():
        regrade.apply(db.session().get(ProblemSet, ps.id))
    assert "other points" not in _html(teacher.get(f"{url}/gradebook"))


def test_editing_items_replaces_them_until_someone_submits(app, teacher, course, student):
    ps = _make_set(app, course)
    url = f"/teach/sets/{ps.public_id}"
    response = _post(teacher, url, _builder_data(opens_at="", due_at=""), token_from=url)
    assert response.status_code == 302
    items = _items(app, ps)
    assert [i.difficulty for i in items] == [1, 3]
    _submit(app, student, ps, 0, "correct", 1)
    page = _html(teacher.get(url))
    assert "items are fixed" in page and 'value="add"' not in page
    data = _builder_data(
        opens_at="",
        due_at="",
        **{
            "items-0-id": items[0].public_id,
            "items-1-id": items[1].public_id,
            "items-1-difficulty": "2",
        },
    )
    response = _post(teacher, url, data, token_from=url)
    assert response.status_code == 422
    assert re.search(r'id="error-items">[^<]*already submitted', _html(response))
    assert [i.public_id for i in _items(app, ps)] == [i.public_id for i in items]


def test_publish_and_unpublish(app, teacher, course, student):
    ps = _make_set(app, course, publish=False)
    url = f"/teach/sets/{ps.public_id}"
    response = _post(teacher, f"{url}/publish", token_from=url)
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    assert "is published" in _html(teacher.get(url))
    with app.app_context():
        assert db.session().get(ProblemSet, ps.id).published_at is not None
    response = _post(teacher, f"{url}/unpublish", token_from=url)
    assert response.status_code == 302
    page = _html(teacher.get(url))  # nobody submitted: no word of kept submissions
    assert "is hidden from students again." in page and "kept" not in page
    with app.app_context():
        assert db.session().get(ProblemSet, ps.id).published_at is None
        actions = db.session().scalars(select(AuditLog.action)).all()
    assert "set_published" in actions and "set_unpublished" in actions


def test_saving_or_publishing_a_set_whose_due_date_has_passed_warns(
    app, teacher, course, student
):
    url = f"/teach/courses/{course.public_id}/sets/new"
    past = {"opens_at": "2020-01-01T09:00", "due_at": "2020-01-08T17:30"}
    created = _post(teacher, url, _builder_data(**past), token_from=url)
    page = _html(teacher.get(created.headers["Location"]))
    warning = "is in the past: students can no longer submit answers to this set"
    assert "saved as a draft" in page and "2020-01-08 17:30 UTC" in page and warning in page
    set_url = created.headers["Location"]
    _post(teacher, f"{set_url}/publish", token_from=set_url)
    page = _html(teacher.get(set_url))
    assert "is published: its students can see it." in page and warning in page
    # A set with submissions whose due date moves into the past.
    ps = _make_set(app, course, title="Open one")
    _submit(app, student, ps, 0, "correct", 1)
    edit = f"/teach/sets/{ps.public_id}"
    data = {
        "title": "Open one", "attempts_allowed": "3", "solutions": "always",
        "follow_through": "on", "due_at": "2021-03-04T05:06",
    }
    for n, item in enumerate(_items(app, ps)):
        data |= {f"items-{n}-id": item.public_id, f"items-{n}-kind": KIND,
                 f"items-{n}-difficulty": "1", f"items-{n}-points": "10"}
    assert _post(teacher, edit, data, token_from=edit).status_code == 302
    page = _html(teacher.get(edit))
    assert "Problem set saved." in page and "2021-03-04 05:06 UTC" in page and warning in page
    # A future due date says nothing of the kind.
    data["due_at"] = "2999-01-01T00:00"
    _post(teacher, edit, data, token_from=edit)
    assert warning not in _html(teacher.get(edit))


def _variants_per_bank(fmt: str, data: bytes) -> list[int]:
    """How many variants each item's bank holds, read back from the file."""
    if fmt == "moodle":
        root = ET.fromstring(data)
        counts: list[int] = []
        for question in root.findall("question"):
            if question.get("type") == "category":
                counts.append(0)
            else:
                counts[-1] += 1
        return counts
    if fmt == "qti":
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            ET.fromstring(archive.read("imsmanifest.xml"))
            banks = sorted(
                n for n in archive.namelist() if n.endswith(".xml") and "/" in n
                and not n.endswith("assessment_meta.xml")
            )
            return [
                sum(1 for e in ET.fromstring(archive.read(n)).iter() if e.tag.endswith("}item")
                    or e.tag == "item")
                for n in banks
            ]
    text = data.decode("utf-8")
    # A GIFT bank is its $CATEGORY line then one comment line per question, naming its seed
    # (a variant with several parts is several questions of the same seed).
    return [
        len(set(re.findall(rf"^// {KIND}-d1-s(\d+):", bank, flags=re.M)))
        for bank in text.split("$CATEGORY:")[1:]
    ]


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("moodle", "application/xml", "xml"), ("qti", "application/zip", "zip"),
     ("gift", "text/plain; charset=utf-8", "txt")],
)
def test_a_set_downloads_as_a_question_bank_of_n_variants(
    app, teacher, course, fmt, content_type, extension
):
    ps = _make_set(app, course, n_items=2)
    page = _html(teacher.get(f"/teach/sets/{ps.public_id}"))
    assert f'action="/teach/sets/{ps.public_id}/export#export"' in page
    assert 'name="variants" type="number" min="1" max="200"' in page
    response = teacher.get(f"/teach/sets/{ps.public_id}/export?format={fmt}&variants=3")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="CNN101-Week-1-shapes-{fmt}-3.{extension}"'
    )
    assert _variants_per_bank(fmt, response.data) == [3, 3]
    again = teacher.get(f"/teach/sets/{ps.public_id}/export?format={fmt}&variants=3")
    if fmt != "qti":  # the same choice gives the same file (a zip stamps its own times)
        assert again.data == response.data


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [("format=moodle&variants=0", "export_variants", "a whole number from 1 to 200"),
     ("format=moodle&variants=201", "export_variants", "a whole number from 1 to 200"),
     ("format=moodle&variants=2.5", "export_variants", "a whole number from 1 to 200"),
     ("format=moodle", "export_variants", "a whole number from 1 to 200"),
     ("format=pdf&variants=3", "export_format", "choose Moodle XML, QTI 1.2 or GIFT")],
)
def test_a_bad_export_choice_is_a_field_message(app, teacher, course, query, field, message):
    ps = _make_set(app, course, n_items=1)
    response = teacher.get(f"/teach/sets/{ps.public_id}/export?{query}")
    assert response.status_code == 422 and response.mimetype == "text/html"
    page = _html(response)
    assert f'id="error-{field}"' in page and message in page


def test_a_set_without_submissions_is_deleted_after_a_confirmation(app, teacher, course, student):
    ps = _make_set(app, course, publish=False, title="Oops")
    url = f"/teach/sets/{ps.public_id}/delete"
    assert url in _html(teacher.get(f"/teach/sets/{ps.public_id}"))
    page = _html(teacher.get(url))
    assert "Delete “Oops”?" in page and "cannot be undone" in page
    # Without the confirmation field nothing happens.
    assert _post(teacher, url).status_code == 200
    with app.app_context():
        assert db.session().get(ProblemSet, ps.id) is not None
    # Without the CSRF token neither.
    assert teacher.post(url, data={"confirm": "yes"}).status_code == 400
    done = _post(teacher, url, {"confirm": "yes"})
    assert done.status_code == 302 and done.headers["Location"].endswith(
        f"/teach/courses/{course.public_id}"
    )
    with app.app_context():
        assert db.session().get(ProblemSet, ps.id) is None
        assert db.session().scalar(select(func.count(Item.id))) == 0
        assert db.session().scalar(
            select(func.count(AuditLog.id)).where(AuditLog.action == "set_deleted")
        ) == 1
    assert "“Oops” deleted." in _html(teacher.get(f"/teach/courses/{course.public_id}"))
    assert teacher.get(url).status_code == 404


def test_a_set_with_submissions_cannot_be_deleted(app, teacher, course, student):
    ps = _make_set(app, course)
    _submit(app, student, ps, 0, "correct", 1)
    url = f"/teach/sets/{ps.public_id}/delete"
    builder = " ".join(_html(teacher.get(f"/teach/sets/{ps.public_id}")).split())
    assert url not in builder  # no link to a deletion that cannot be: the reason instead
    assert "Students have submitted to this set, so it cannot be deleted" in builder
    page = _html(teacher.get(url))
    assert "cannot be deleted" in page and "1 answer to it" in page
    assert "unpublish it" in page and "due date" in page
    refused = _post(teacher, url, {"confirm": "yes"})
    assert refused.status_code == 409 and "cannot be deleted" in _html(refused)
    with app.app_context():
        assert db.session().get(ProblemSet, ps.id) is not None
        assert db.session().scalar(select(func.count(Submission.id))) == 1
        with pytest.raises(SpecError) as err:
            problem_sets.delete_set(db.session().get(ProblemSet, ps.id))
        assert err.value.path == "set" and "submitted" in err.value.message


def test_removing_a_student_keeps_their_submissions_out_of_the_gradebook(
    app, teacher, course, student, other_student
):
    ps = _make_set(app, course)
    _submit(app, student, ps, 0, "correct", 1)
    url = f"/teach/courses/{course.public_id}/students/{student.public_id}/remove"
    assert url in _html(teacher.get(f"/teach/courses/{course.public_id}"))
    page = _html(teacher.get(url))
    assert "Remove Sam Student from CNN101?" in page
    assert "1 submission is kept in the database" in page and "gradebook" in page
    assert teacher.post(url, data={"confirm": "yes"}).status_code == 400  # no CSRF token
    done = _post(teacher, url, {"confirm": "yes"})
    assert done.status_code == 302 and done.headers["Location"].endswith("#roster")
    with app.app_context():
        assert db.session().scalar(
            select(func.count(Enrollment.id)).where(Enrollment.user_id == student.id)
        ) == 0
        assert db.session().scalar(select(func.count(Submission.id))) == 1
        book = gradebook.gradebook(db.session().get(ProblemSet, ps.id))
    assert book.row_for(student.id) is None and book.row_for(other_student.id) is not None
    assert "removed from CNN101; their 1 submission is kept." in _html(
        teacher.get(f"/teach/courses/{course.public_id}")
    )
    assert teacher.get(url).status_code == 404  # no longer a student of the course


def test_removing_a_student_who_submitted_nothing_mentions_no_kept_submissions(
    app, teacher, course, student, other_student
):
    ps = _make_set(app, course)
    _submit(app, student, ps, 0, "correct", 1)
    _submit(app, student, ps, 1, "correct", 1)
    url = f"/teach/courses/{course.public_id}/students/{other_student.public_id}/remove"
    page = _html(teacher.get(url))
    assert "They have not submitted any answer." in page and "kept in the database" not in page
    assert _post(teacher, url, {"confirm": "yes"}).status_code == 302
    roster = _html(teacher.get(f"/teach/courses/{course.public_id}"))
    assert f"{other_student.email} removed from CNN101." in roster
    assert "kept" not in roster.split("removed from CNN101", 1)[1].split("</", 1)[0]
    # one who did: the count, as on their confirmation page
    url = f"/teach/courses/{course.public_id}/students/{student.public_id}/remove"
    assert "Their 2 submissions are kept in the database" in _html(teacher.get(url))
    assert _post(teacher, url, {"confirm": "yes"}).status_code == 302
    assert "removed from CNN101; their 2 submissions are kept." in _html(
        teacher.get(f"/teach/courses/{course.public_id}")
    )


# ---------------------------------------------------------------- preview


def test_preview_shows_a_students_variant_with_answers_and_solution(
    app, teacher, course, student, other_student
):
    ps = _make_set(app, course)
    item = _items(app, ps)[1]
    with app.app_context():
        item = db.session().get(Item, item.id)
        seed = variant_seed(item.problem_set.secret, other_student.public_id, item.public_id)
        problem = kinds.generate(KIND, 1, seed)
        steps = kinds.worked_solution(problem)
    url = (
        f"/teach/sets/{ps.public_id}/preview?item={item.public_id}"
        f"&student={other_student.public_id}"
    )
    page = _html(teacher.get(url))
    assert f"<code>{seed}</code>" in page and other_student.name in page
    for p in problem.parts:
        assert format_answer(p, problem.answers[p.id]) in page
    assert "Answer key" in page and steps[0].title in page
    # Without answers: the statement only.
    hidden = _html(teacher.get(url + "&answers=0"))
    assert "Answer key" not in hidden and steps[0].title not in hidden


def test_preview_defaults_to_the_first_student_and_the_first_item(
    app, teacher, course, student, other_student
):
    ps = _make_set(app, course)
    item = _items(app, ps)[0]
    first = sorted([student, other_student], key=lambda u: (u.name, u.email))[0]
    with app.app_context():
        secret = db.session().get(ProblemSet, ps.id).secret
    page = _html(teacher.get(f"/teach/sets/{ps.public_id}/preview"))
    assert f"<code>{variant_seed(secret, first.public_id, item.public_id)}</code>" in page


def test_preview_by_seed_and_random_seed(app, teacher, course):
    ps = _make_set(app, course)
    page = _html(teacher.get(f"/teach/sets/{ps.public_id}/preview?seed=12345"))
    problem = kinds.generate(KIND, 1, 12345)
    assert "<code>12345</code>" in page
    assert format_answer(problem.parts[0], problem.answers[problem.parts[0].id]) in page
    response = teacher.get(f"/teach/sets/{ps.public_id}/preview?random=1&student=x")
    assert response.status_code == 302
    location = response.headers["Location"]
    seed = int(re.search(r"seed=(\d+)", location).group(1))
    assert 0 <= seed <= kinds.MAX_SEED and "student=" not in location
    assert teacher.get(location).status_code == 200


@pytest.mark.parametrize("seed", ["-1", "abc", str(2**63)])
def test_preview_with_a_bad_seed_says_so(app, teacher, course, seed):
    ps = _make_set(app, course)
    response = teacher.get(f"/teach/sets/{ps.public_id}/preview?seed={seed}")
    assert response.status_code == 422
    assert 'id="error-seed"' in _html(response)


# ---------------------------------------------------------------- gradebook


def test_gradebook_takes_each_students_best_attempt(app, teacher, course, student, other_student):
    ps = _make_set(app, course, attempts_allowed=3)
    _submit(app, student, ps, 0, "wrong", 1)
    _submit(app, student, ps, 0, "correct", 2)
    _submit(app, student, ps, 1, "wrong", 1)
    _submit(app, other_student, ps, 1, "correct", 1)
    with app.app_context():
        book = gradebook.gradebook(db.session().get(ProblemSet, ps.id))
    sam = book.row_for(student.id)
    olive = book.row_for(other_student.id)
    assert [(c.best, c.attempts) for c in sam.cells] == [(10.0, 2), (0.0, 1)]
    assert [(c.best, c.attempts) for c in olive.cells] == [(None, 0), (10.0, 1)]
    assert sam.total == 10.0 and sam.max_total == 20.0 and sam.percentage == 50.0
    assert olive.total == 10.0
    assert book.column_means() == [10.0, 5.0]

    page = _html(teacher.get(f"/teach/sets/{ps.public_id}/gradebook"))
    assert "Sam Student" in page and "50.0%" in page and "&times;2" in page
    # The footer's Mean points to a note under the table (not in the Student column, which
    # it would widen) saying what each cell averages over: items over those who attempted
    # them (10 and 5), the total over every student ((10 + 10) / 2).
    footer = page.split("<tfoot>")[1].split("</tfoot>")[0]
    assert '<th scope="row" aria-describedby="gradebook-means">Mean' in footer
    assert "attempted" not in footer and "every student" not in footer
    note = page.split('id="gradebook-means">')[1].split("</span></p>")[0]
    assert "over the students who attempted it" in note and "over every student" in note
    assert re.findall(r'<td class="num">([^<]*)</td>', footer)[-2:] == ["10", "50.0%"]
    items = _items(app, ps)
    assert f"/items/{items[0].public_id}/students/{student.public_id}" in page
    course_page = _html(teacher.get(f"/teach/courses/{course.public_id}/gradebook"))
    assert "Week 1: shapes" in course_page and "50.0%" in course_page


def test_course_totals_count_only_published_sets_that_have_opened(
    app, teacher, course, student
):
    from datetime import UTC, datetime, timedelta

    ps = _make_set(app, course, opens_at=datetime.now(UTC) - timedelta(days=1))
    _submit(app, student, ps, 0, "correct", 1)
    _make_set(app, course, n_items=1, publish=False, title="Draft set")
    later = datetime(datetime.now(UTC).year + 2, 1, 5, 9, 0, tzinfo=UTC)
    _make_set(app, course, n_items=1, title="Next year", opens_at=later)
    with app.app_context():
        book = gradebook.gradebook(db.session().get(Course, course.id))
        own = gradebook.gradebook(db.session().scalar(
            select(ProblemSet).where(ProblemSet.title == "Draft set")))
    sam = book.row_for(student.id)
    assert len(book.columns) == 4 and [c.counted for c in book.columns] == [
        True, True, False, False
    ]
    assert (sam.total, sam.max_total, sam.percentage) == (10.0, 20.0, 50.0)
    assert book.max_total == 20.0 and book.uncounted == 2
    assert own.max_total == 10.0  # a set's own gradebook counts itself
    page = _html(teacher.get(f"/teach/courses/{course.public_id}/gradebook"))
    assert "count only the published sets that have opened" in page
    assert "draft: not counted" in page and f"opens {later:%Y-%m-%d} 09:00 UTC: not counted" in page
    assert "50.0%" in page
    rows = list(csv.reader(io.StringIO(
        teacher.get(f"/teach/courses/{course.public_id}/gradebook.csv").data.decode("utf-8-sig")
    )))
    assert rows[0][-3:] == ["Total", "Max", "Percentage"]
    assert sum("(not in Total)" in h for h in rows[0]) == 4
    body = {r[1]: r for r in rows[1:]}
    assert body["student1@example.edu"][-3:] == ["10", "20", "50"]


def test_gradebook_uses_the_latest_grade_of_a_submission(app, course, student):
    ps = _make_set(app, course, n_items=1)
    item = _items(app, ps)[0]
    _record(app, student, item, 1, 1.0, extra_grades=(0.5,))  # regraded down to half
    with app.app_context():
        book = gradebook.gradebook(db.session().get(ProblemSet, ps.id))
    assert book.row_for(student.id).cells[0].best == 5.0


def test_gradebook_csv_matches_the_submissions(app, teacher, course, student, other_student):
    ps = _make_set(app, course)
    _submit(app, student, ps, 0, "correct", 1)
    _submit(app, other_student, ps, 1, "wrong", 1)
    _submit(app, other_student, ps, 1, "correct", 2)
    response = teacher.get(f"/teach/sets/{ps.public_id}/gradebook.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert (
        'attachment; filename="CNN101-Week-1-shapes-grades.csv"'
        == response.headers["Content-Disposition"]
    )
    # UTF-8 with a byte-order mark, so that Excel on Windows reads names like Ångström right.
    assert response.data.startswith(b"\xef\xbb\xbfName,Email,")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:4] == [
        "Name",
        "Email",
        "Week 1: shapes: Q1 output_shape (10 pts)",
        "Week 1: shapes: Q1 output_shape (10 pts) attempts",
    ]
    assert rows[0][-3:] == ["Total", "Max", "Percentage"]
    body = {r[1]: r for r in rows[1:]}
    assert body["student2@example.edu"] == [
        "Olive Other",
        "student2@example.edu",
        "",
        "0",
        "10",
        "2",
        "10",
        "20",
        "50",
    ]
    assert body["student1@example.edu"] == [
        "Sam Student",
        "student1@example.edu",
        "10",
        "1",
        "",
        "0",
        "10",
        "20",
        "50",
    ]


def test_csv_neutralizes_formulas_but_leaves_numbers(app, course):
    ps = _make_set(app, course, n_items=1)
    item = _items(app, ps)[0]
    names = ['=HYPERLINK("http://x")', "+SUM(A1)", "-2+3", "@cmd", "Plain Name"]
    users = [_student(app, course, f"n{i}@example.edu", name) for i, name in enumerate(names)]
    _record(app, users[0], item, 1, 0.25)
    with app.app_context():
        text = gradebook.to_csv(gradebook.gradebook(db.session().get(ProblemSet, ps.id)))
    rows = list(csv.reader(io.StringIO(text)))
    cells = {r[1]: r[0] for r in rows[1:]}
    for i, name in enumerate(names):
        expected = name if name == "Plain Name" else "'" + name
        assert cells[f"n{i}@example.edu"] == expected
    scored = next(r for r in rows[1:] if r[1] == "n0@example.edu")
    assert scored[2:] == ["2.5", "1", "2.5", "10", "25"]
    assert gradebook.csv_safe(-1.5) == "-1.5" and gradebook.csv_safe(-3) == "-3"
    assert gradebook.csv_safe("-1.5") == "'-1.5" and gradebook.csv_safe(None) == ""
    assert gradebook.csv_safe("\tTab") == "'\tTab" and gradebook.csv_safe("\rCR") == "'\rCR"


def test_student_item_page_shows_answers_feedback_and_grade_history(app, teacher, course, student):
    ps = _make_set(app, course)
    _submit(app, student, ps, 0, "wrong", 1)
    _submit(app, student, ps, 0, "correct", 2)
    item = _items(app, ps)[0]
    with app.app_context():
        problem_sets.update_item(db.session().get(Item, item.id), points=4)
        regrade.apply(db.session().get(ProblemSet, ps.id))
    url = f"/teach/sets/{ps.public_id}/items/{item.public_id}/students/{student.public_id}"
    page = _html(teacher.get(url))
    assert "Attempt 2: 4 of 4" in page  # the best attempt is drawn by default
    assert "10 (100%) · submitted" in page and "4 (100%) · regrade" in page
    first = _html(teacher.get(url + "?attempt=1"))
    assert "Attempt 1: 0 of 4" in first and 'value="1x1x1"' in first and "Not right" in first
    other = _html(
        teacher.get(
            f"/teach/sets/{ps.public_id}/items/{_items(app, ps)[1].public_id}"
            f"/students/{student.public_id}"
        )
    )
    assert "has not submitted" in other


def _part_labels(page: str) -> list[str]:
    return re.findall(r"\((\d[\d.]* points?)\)", page) + re.findall(
        r"· ([\d.]+ of [\d.]+ points?)<", page
    )


def test_answer_view_shows_the_same_part_points_as_the_students_page(
    app, teacher, course, student
):
    ps = _make_set(app, course, n_items=1, points=7)
    item = _items(app, ps)[0]
    _submit(app, student, ps, 0, "wrong", 1)
    pupil = app.test_client()
    login(pupil, student.email)
    own_url = f"/sets/{ps.public_id}/items/{item.public_id}"
    url = f"/teach/sets/{ps.public_id}/items/{item.public_id}/students/{student.public_id}"
    labels = _part_labels(_html(pupil.get(own_url)))
    assert labels and labels == _part_labels(_html(teacher.get(url)))
    # After a change of points both pages show the new part points alike.
    with app.app_context():
        problem_sets.update_item(db.session().get(Item, item.id), points=20)
    assert _part_labels(_html(pupil.get(own_url))) == _part_labels(_html(teacher.get(url)))
    assert _part_labels(_html(teacher.get(url))) != labels


# ---------------------------------------------------------------- statistics


def test_item_statistics_on_a_constructed_dataset(app, course, student, other_student):
    ps = _make_set(app, course, n_items=2)
    q1, q2 = _items(app, ps)
    extra = [_student(app, course, f"s{i}@example.edu", f"S {i}") for i in range(2)]
    people = [student, other_student, *extra]
    # First-attempt fractions (q1, q2) per student; q1's second attempts raise two of them.
    first_q1 = [0.2, 0.5, 0.9, 1.0]
    first_q2 = [0.0, 0.4, 0.6, 0.8]
    for user, f1, f2 in zip(people, first_q1, first_q2, strict=True):
        _record(app, user, q1, 1, f1, misconceptions=("padding_forgotten",) if f1 < 0.6 else ())
        _record(
            app,
            user,
            q2,
            1,
            f2,
            misconceptions=("stride_forgotten", "padding_forgotten") if f2 < 0.5 else (),
        )
    _record(app, student, q1, 2, 1.0)
    _record(app, other_student, q1, 2, 0.7, misconceptions=("padding_forgotten",))
    _record(app, _student(app, course, "idle@example.edu", "Idle"), q1, 1, 0.0, extra_grades=())
    people.append(None)  # the idle student: one attempt at q1 only, 0

    with app.app_context():
        result = stats.set_stats(db.session().get(ProblemSet, ps.id))
    assert result.students == 5 and result.participants == 5
    one, two = result.items
    xs = [0.2, 0.5, 0.9, 1.0, 0.0]
    rest = [0.0, 4.0, 6.0, 8.0, 0.0]  # q2 first-attempt scores (points), 0 where not attempted
    assert one.n == 5 and two.n == 4
    assert one.facility == pytest.approx(sum(xs) / 5)
    assert one.mean_score == pytest.approx(10 * sum(xs) / 5)
    assert one.sd == pytest.approx(math.sqrt(sum((x - sum(xs) / 5) ** 2 for x in xs) / 5))
    mx, mr = sum(xs) / 5, sum(rest) / 5
    cov = sum((x - mx) * (r - mr) for x, r in zip(xs, rest, strict=True)) / 5
    r_expected = cov / math.sqrt(
        sum((x - mx) ** 2 for x in xs) / 5 * sum((r - mr) ** 2 for r in rest) / 5
    )
    assert one.discrimination == pytest.approx(r_expected)
    # Computed, but from 5 students not shown (the variant comparison's threshold).
    assert one.discrimination_shown is None and one.discrimination_index is None
    assert one.discrimination_note == f"shown from {stats.MIN_STUDENTS} students who " \
        "attempted the item (5 so far)"
    # Best attempts: 1.0, 0.7, 0.9, 1.0, 0.0.
    assert one.facility_best == pytest.approx(3.6 / 5) and one.full_marks == 2
    assert one.mean_attempts == pytest.approx(7 / 5)
    assert one.histogram_first == (1, 0, 1, 0, 0, 1, 0, 0, 0, 2)
    assert one.histogram_best == (1, 0, 0, 0, 0, 0, 0, 1, 0, 3)
    # q2: item x = (0, .4, .6, .8); rest = q1 first scores (2, 5, 9, 10).
    assert two.discrimination == pytest.approx(
        stats.correlation([0.0, 0.4, 0.6, 0.8], [2.0, 5.0, 9.0, 10.0])
    )
    assert [(m.id, m.students, m.submissions) for m in one.misconceptions] == [
        ("padding_forgotten", 2, 3)
    ]
    assert one.misconceptions[0].name == "Padding forgotten"
    assert [(m.id, m.students) for m in two.misconceptions] == [
        ("padding_forgotten", 2),
        ("stride_forgotten", 2),
    ]
    assert (
        result.misconceptions[0].id == "padding_forgotten"
        and result.misconceptions[0].students == 2
    )


def test_discrimination_is_shown_only_from_the_minimum_of_students(app, teacher, course):
    ps = _make_set(app, course, n_items=2)
    q1, q2 = _items(app, ps)
    people = [_student(app, course, f"d{i}@example.edu", f"D {i}") for i in range(10)]
    for i, user in enumerate(people[:2]):
        _record(app, user, q1, 1, [0.0, 1.0][i])
        _record(app, user, q2, 1, [1.0, 0.0][i])
    url = f"/teach/sets/{ps.public_id}/stats"
    page = _html(teacher.get(url))
    assert "-1.00" not in page and "index -100%" not in page
    assert f"not shown: shown from {stats.MIN_STUDENTS} students who attempted the item " \
        "(2 so far)" in page
    for i, user in enumerate(people[2:], start=2):
        _record(app, user, q1, 1, (i % 5) / 4)
        _record(app, user, q2, 1, (i % 3) / 2)
    with app.app_context():
        one = stats.set_stats(db.session().get(ProblemSet, ps.id)).items[0]
    assert one.n == stats.MIN_STUDENTS and one.discrimination_shown == one.discrimination
    page = _html(teacher.get(url))
    assert f"{one.discrimination:.2f} <span class=\"muted small\">(index " in page


def test_correlation_matches_a_hand_computed_point_biserial():
    # Point-biserial: a 0/1 item against totals: r = (M1 - M0) / s * sqrt(p q).
    item = [1, 1, 0, 1, 0, 0]
    total = [9.0, 7.0, 6.0, 8.0, 3.0, 5.0]
    m1 = (9 + 7 + 8) / 3
    m0 = (6 + 3 + 5) / 3
    mean_t = sum(total) / 6
    s = math.sqrt(sum((t - mean_t) ** 2 for t in total) / 6)
    assert stats.correlation(item, total) == pytest.approx((m1 - m0) / s * math.sqrt(0.5 * 0.5))
    assert stats.correlation([1, 1], [2, 3]) is None  # no variance
    assert stats.correlation([1], [2]) is None
    assert stats.histogram([0.0, 0.1, 0.29, 0.3, 0.7, 0.99, 1.0]) == (1, 1, 1, 1, 0, 0, 0, 1, 0, 2)


def test_a_harder_variant_is_flagged(app, course, monkeypatch):
    monkeypatch.setattr(stats, "MIN_STUDENTS", 6)
    ps = _make_set(app, course, n_items=2)
    q1, q2 = _items(app, ps)
    users = [_student(app, course, f"v{i}@example.edu", f"V {i}") for i in range(8)]
    for i, user in enumerate(users):
        hard = i < 2
        _record(app, user, q1, 1, 0.0 if hard else 0.9, seed=7 if hard else 100 + i)
        _record(app, user, q2, 1, 0.9, seed=200 + i)  # the same students do well elsewhere
    with app.app_context():
        result = stats.set_stats(db.session().get(ProblemSet, ps.id))
    one, two = result.items
    flagged = one.flagged_variants
    assert [(v.seed, v.n) for v in flagged] == [(7, 2)]
    assert flagged[0].mean_fraction == 0.0 and flagged[0].adjusted == pytest.approx(-0.9 + 0.225)
    assert one.variants[0].seed == 7  # hardest first
    assert not two.flagged_variants
    monkeypatch.setattr(stats, "MIN_STUDENTS", 20)
    with app.app_context():
        assert not stats.set_stats(db.session().get(ProblemSet, ps.id)).items[0].flagged_variants


def test_histogram_svg_is_well_formed_and_escaped():
    svg = stats.histogram_svg(
        (1, 0, 0, 0, 0, 0, 0, 0, 0, 3), (0, 0, 0, 0, 0, 0, 0, 0, 0, 4), "Q1 <b>&"
    )
    root = ET.fromstring(str(svg))
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert len(bars) == 20
    tallest = max(bars, key=lambda r: float(r.get("height")))
    assert "90-100%: 4 students" in tallest.find(f"{ns}title").text
    assert "<b>" not in str(svg) and "Q1 &lt;b&gt;&amp;" in str(svg)


def test_stats_page_shows_figures_chart_and_formulas(app, teacher, course, student, other_student):
    ps = _make_set(app, course)
    _submit(app, student, ps, 0, "correct", 1)
    _submit(app, other_student, ps, 0, "wrong", 1)
    page = _html(teacher.get(f"/teach/sets/{ps.public_id}/stats"))
    assert "2 of 2 enrolled students submitted" in page
    assert "<svg" in page and 'class="histogram"' in page
    assert "Facility, first attempt</th><td>50%" in page
    assert "rest-of-set score" in page and "No enrolled student has submitted" in page


# ---------------------------------------------------------------- regrade


def _follow_through_answers(user: User, item: Item) -> dict[str, str]:
    """Layer 0 wrong, layer 1 right given the wrong layer 0 (follow-through credit)."""
    problem = kinds.generate(
        item.kind,
        item.difficulty,
        variant_seed(item.problem_set.secret, user.public_id, item.public_id),
    )
    texts = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
    first = list(problem.answers["shape_0"])
    for bump in range(1, 6):
        wrong = [first[0], first[1] + bump, first[2] + bump] if len(first) == 3 else first
        expected = output_shape.follow_through(problem, "shape_1", {"shape_0": wrong})
        if expected is not None and expected != problem.answers["shape_1"]:
            texts["shape_0"] = format_answer(problem.parts[0], wrong)
            texts["shape_1"] = format_answer(problem.parts[1], expected)
            return texts
    raise AssertionError("no follow-through case for this variant")


def test_regrade_dry_run_then_apply_keeps_old_grades(app, teacher, course, student, other_student):
    ps = _make_set(app, course, follow_through=True)
    item = _items(app, ps)[0]
    with app.app_context():
        item = db.session().get(Item, item.id)
        answers = _follow_through_answers(student, item)
        outcome = attempts.submit(db.session().get(User, student.id), item, answers, 1)
        assert any(p["follow_through"] for p in outcome.result["parts"])
        old_score = outcome.submission.grade.score
    _submit(app, other_student, ps, 0, "correct", 1)

    with app.app_context():
        problem_sets.update_set(db.session().get(ProblemSet, ps.id), follow_through=False)
        grades_before = db.session().scalar(select(func.count(Grade.id)))
        report = regrade.dry_run(db.session().get(ProblemSet, ps.id))
        assert db.session().scalar(select(func.count(Grade.id))) == grades_before
    assert report.checked == 2 and len(report.changed) == 1
    change = report.changed[0]
    assert (change.student_email, change.item_label, change.attempt) == (student.email, "Q1", 1)
    assert change.old_score == pytest.approx(old_score) and change.new_score < change.old_score

    url = f"/teach/sets/{ps.public_id}/regrade"
    page = _html(teacher.get(url))
    assert "Sam Student" in page and "Olive Other" not in page and report.digest in page
    response = _post(teacher, url, {"digest": report.digest}, token_from=url)
    assert response.status_code == 302
    assert "Regrade applied: 1 submission got a new grade" in _html(
        teacher.get(response.headers["Location"])
    )
    with app.app_context():
        sub = db.session().scalar(select(Submission).where(Submission.user_id == student.id))
        history = [(g.reason, round(g.score, 6)) for g in sub.grades]
        assert history == [
            ("submitted", round(old_score, 6)),
            ("regrade", round(change.new_score, 6)),
        ]
        assert sub.grade.result["parts"][1]["follow_through"] is False
        assert regrade.dry_run(db.session().get(ProblemSet, ps.id)).changes == ()
        assert db.session().scalar(select(AuditLog.detail).where(AuditLog.action == "regrade"))
    assert "No submission would change" in _html(teacher.get(url))


def test_regrade_refuses_a_stale_dry_run(app, teacher, course, student):
    ps = _make_set(app, course)
    _submit(app, student, ps, 0, "correct", 1)
    item = _items(app, ps)[0]
    with app.app_context():
        problem_sets.update_item(db.session().get(Item, item.id), points=5)
    url = f"/teach/sets/{ps.public_id}/regrade"
    response = _post(teacher, url, {"digest": "0" * 16}, token_from=url)
    assert response.status_code == 302
    assert "changed since the dry run" in _html(teacher.get(url))
    with app.app_context():
        assert (
            db.session().scalar(select(func.count(Grade.id)).where(Grade.reason == "regrade")) == 0
        )
    assert _post(teacher, url, {"digest": "<script>"}, token_from=url).status_code == 400


def test_regrade_reports_variants_that_cannot_be_rebuilt(app, course, student):
    ps = _make_set(app, course, n_items=1)
    item = _items(app, ps)[0]
    _record(app, student, item, 1, 1.0)
    with app.app_context():
        sub = db.session().scalar(select(Submission))
        sub.kind = "retired_kind"
        db.session().commit()
        report = regrade.apply(db.session().get(ProblemSet, ps.id))
    assert len(report.errors) == 1 and "cannot rebuild" in report.errors[0].error
    assert report.changed == []


# ---------------------------------------------------------------- the command line


def test_cli_export_grades_regrade_and_set_stats(app, runner, course, student, tmp_path):
    ps = _make_set(app, course)
    _submit(app, student, ps, 0, "correct", 1)
    result = runner.invoke(args=["export-grades", ps.public_id])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][0] == "Name" and any(r[1] == student.email and r[2] == "10" for r in rows[1:])
    out = tmp_path / "grades.csv"
    assert runner.invoke(args=["export-grades", ps.public_id, "--output", str(out)]).exit_code == 0
    assert out.read_text().startswith("Name,Email")

    item = _items(app, ps)[0]
    with app.app_context():
        problem_sets.update_item(db.session().get(Item, item.id), points=4)
    dry = runner.invoke(args=["regrade", ps.public_id])
    assert dry.exit_code == 0 and "10 -> 4" in dry.stdout and "1 would change" in dry.stdout
    with app.app_context():
        assert (
            db.session().scalar(select(func.count(Grade.id)).where(Grade.reason == "regrade")) == 0
        )
    applied = runner.invoke(args=["regrade", ps.public_id, "--apply"])
    assert applied.exit_code == 0 and "1 regraded" in applied.stdout
    with app.app_context():
        assert (
            db.session().scalar(select(func.count(Grade.id)).where(Grade.reason == "regrade")) == 1
        )

    stats_out = runner.invoke(args=["set-stats", ps.public_id])
    assert stats_out.exit_code == 0 and "Q1" in stats_out.stdout and "facility" in stats_out.stdout

    missing = runner.invoke(args=["export-grades", "nope"])
    assert missing.exit_code == 2 and "no problem set" in missing.stderr


def test_cli_takes_set_ids_that_start_with_a_dash(app, runner, course):
    ps = _make_set(app, course, n_items=1)
    with app.app_context():
        db.session().get(ProblemSet, ps.id).public_id = "-cDashedId123456"
        db.session().commit()
    for command in (["export-grades"], ["regrade"], ["set-stats"]):
        result = runner.invoke(args=[*command, "-cDashedId123456"])
        assert result.exit_code == 0, (command, result.output)


def test_enrollment_roles_scope_the_gradebook(app, course, instructor):
    ps = _make_set(app, course, n_items=1)
    with app.app_context():
        book = gradebook.gradebook(db.session().get(ProblemSet, ps.id))
        roles = (
            db.session()
            .scalars(select(Enrollment.role).where(Enrollment.course_id == course.id))
            .all()
        )
    assert sorted(roles) == ["instructor", "student", "student"]
    assert instructor.id not in {r.user_id for r in book.rows} and len(book.rows) == 2
