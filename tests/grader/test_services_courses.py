"""Users, courses, enrollments, roster import and scoped lookups (both engines)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from grader import db
from grader.models import AuditLog, Enrollment, User
from grader.passwords import password_problem, verify_password
from grader.services import courses
from problems.errors import SpecError


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield app


def _count(model) -> int:
    return db.session().scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- users


def test_create_user_normalises_email_and_hashes_the_password(ctx):
    user = courses.create_user("  Ada@Example.EDU ", " Ada Lovelace ", "analytical engine")
    assert user.email == "ada@example.edu"
    assert user.name == "Ada Lovelace"
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "analytical engine")
    assert not user.is_instructor
    assert courses.user_by_email("ADA@example.edu").id == user.id


@pytest.mark.parametrize("email, name, password, path", [
    ("", "A", None, "email"),
    ("not-an-email", "A", None, "email"),
    ("a@b", "A", None, "email"),
    ("a b@example.edu", "A", None, "email"),
    ("a@example.edu", "  ", None, "name"),
    ("a@example.edu", "A", "short", "password"),
    ("a\x00b@example.edu", "A", None, "email"),  # NUL: a 500 on PostgreSQL
    ("a@example.edu", "A\x00", None, "name"),
    ("a@example.edu", "Ada\nLovelace", None, "name"),
])
def test_create_user_names_the_bad_field(ctx, email, name, password, path):
    with pytest.raises(SpecError) as err:
        courses.create_user(email, name, password)
    assert err.value.path == path
    assert _count(User) == 0


@pytest.mark.parametrize("code, title, path", [("C\x00", "T", "code"), ("C1", "T\x00", "title"),
                                              ("C1", "Two\nlines", "title")])
def test_create_course_refuses_control_characters(ctx, instructor, code, title, path):
    with pytest.raises(SpecError, match="one line of text") as err:
        courses.create_course(code, title, instructor)
    assert err.value.path == path


def test_duplicate_email_is_refused_in_any_case(ctx):
    courses.create_user("a@example.edu", "A")
    with pytest.raises(SpecError, match="already exists") as err:
        courses.create_user("A@EXAMPLE.EDU", "Another A")
    assert err.value.path == "email"


def test_set_password_revokes_sessions(ctx, student):
    user = db.session().get(User, student.id)
    epoch = user.session_epoch
    courses.set_password(user, "reset by admin")
    assert verify_password(user.password_hash, "reset by admin")
    assert user.session_epoch == epoch + 1
    with pytest.raises(SpecError):
        courses.set_password(user, "x")


# ---------------------------------------------------------------- courses and enrollment


def test_create_course_enrolls_its_instructor(ctx, instructor):
    course = courses.create_course(" ML200 ", " Deep learning ", instructor)
    assert (course.code, course.title) == ("ML200", "Deep learning")
    assert courses.role_in(instructor, course) == "instructor"
    assert [c.id for c in courses.courses_for(instructor)] == [course.id]


def test_a_course_code_names_one_course(ctx, instructor, course):
    """Commands and pages find a course by its code: a second course with the same code (in
    any case) is refused, naming the code."""
    with pytest.raises(SpecError) as err:
        courses.create_course(f" {course.code.lower()} ", "Again", instructor)
    assert err.value.path == "code" and "is already used by a course" in err.value.message
    assert courses.find_course(course.code).id == course.id


def test_only_instructors_can_teach(ctx, student, instructor):
    with pytest.raises(SpecError) as err:
        courses.create_course("X1", "X", student)
    assert err.value.path == "instructor"
    course = courses.create_course("X1", "X", instructor)
    with pytest.raises(SpecError) as err:
        courses.enroll(course, student, "instructor")
    assert err.value.path == "role"
    with pytest.raises(SpecError):
        courses.enroll(course, student, "auditor")


@pytest.mark.parametrize("code, title, path", [("", "T", "code"), ("C" * 65, "T", "code"),
                                               ("C", "", "title")])
def test_create_course_names_the_bad_field(ctx, instructor, code, title, path):
    with pytest.raises(SpecError) as err:
        courses.create_course(code, title, instructor)
    assert err.value.path == path


def test_enroll_twice_keeps_one_enrollment(ctx, course, student):
    first = db.session().scalar(select(Enrollment).where(Enrollment.user_id == student.id))
    again = courses.enroll(course, student, "student")
    assert again.id == first.id
    assert _count(Enrollment) == 3


def test_unenroll(ctx, course, student):
    assert courses.unenroll(course, student)
    assert not courses.unenroll(course, student)
    assert courses.role_in(student, course) is None


def test_members_by_role(ctx, course, instructor, student, other_student):
    assert [u.email for u in courses.members(course, "student")] == [other_student.email, student.email]
    assert [u.email for u in courses.members(course, "instructor")] == [instructor.email]


def test_courses_for_lists_only_my_courses(ctx, course, instructor, student):
    other = courses.create_user("t2@example.edu", "T2", is_instructor=True)
    courses.create_course("ZZZ", "Not yours", other)
    assert [c.code for c in courses.courses_for(student)] == ["CNN101"]
    assert [c.code for c in courses.courses_for(instructor)] == ["CNN101"]


def test_course_for_returns_a_course_i_am_in(ctx, course, student, instructor):
    assert courses.course_for(student, course.public_id).id == course.id
    assert courses.course_for(instructor, course.public_id, role="instructor").id == course.id


def test_course_for_is_404_for_outsiders_and_wrong_roles_and_logs_it(ctx, course, student):
    outsider = courses.create_user("out@example.edu", "Outsider")
    with pytest.raises(NotFound):
        courses.course_for(outsider, course.public_id)
    with pytest.raises(NotFound):
        courses.course_for(student, course.public_id, role="instructor")
    with pytest.raises(NotFound):
        courses.course_for(student, "no-such-course")
    rows = db.session().scalars(select(AuditLog).where(AuditLog.action == "access_denied")).all()
    assert len(rows) == 3
    assert rows[0].user_id == outsider.id


def test_find_course_by_public_id_or_code(ctx, course):
    assert courses.find_course(course.public_id).id == course.id
    assert courses.find_course("CNN101").id == course.id
    assert courses.find_course("nope") is None


# ---------------------------------------------------------------- roster import


def test_roster_adds_good_lines_and_reports_bad_ones_by_line(ctx, course, student):
    csv_text = (
        "email,name,password\n"
        "new1@example.edu,New One,first password\n"          # 2: added, can sign in
        "new2@example.edu,\"Two, New\",\n"                   # 3: added, no password
        "not-an-email,Bad,\n"                                # 4: bad email
        "\n"                                                 # 5: blank, skipped
        f"{student.email.upper()},Ignored Name,\n"           # 6: known user
        "new1@example.edu,Again,\n"                          # 7: duplicate
        "new3@example.edu,,\n"                               # 8: no name
        "new4@example.edu,Short Pw,abc\n"                    # 9: short password
        "new5@example.edu,Too,Many,Cells\n"                  # 10: too many cells
        "new6\x00@example.edu,Nul,\n"                         # 11: NUL (a 500 on PostgreSQL)
        "new7@example.edu,N\x00ul,\n"                         # 12: NUL in the name
    )
    report = courses.import_roster(course, csv_text)
    assert report.added == ["new1@example.edu", "new2@example.edu"]
    assert report.existing == report.already_enrolled == [student.email]
    assert [line for line, _ in report.errors] == [4, 7, 8, 9, 10, 11, 12]
    messages = dict(report.errors)
    assert "not an email address" in messages[4]
    assert "line 2" in messages[7]
    assert "name is required" in messages[8]
    assert "at least 8" in messages[9]
    assert "columns" in messages[10]
    assert "NUL character" in messages[11] and "NUL character" in messages[12]

    new1 = courses.user_by_email("new1@example.edu")
    assert verify_password(new1.password_hash, "first password")
    assert courses.user_by_email("new2@example.edu").name == "Two, New"
    assert courses.user_by_email("new2@example.edu").password_hash is None
    assert db.session().get(User, student.id).name == student.name
    assert {u.email for u in courses.members(course, "student")} >= {"new1@example.edu", "new2@example.edu"}


def test_student_problems_names_every_bad_field_at_once(ctx, course, instructor, student):
    assert courses.student_problems(course, "new@example.edu", "", "short") == {
        "name": "name is required for a new user",
        "password": "password must be at least 8 characters long",
    }
    assert set(courses.student_problems(course, "nope", "A\tB", "")) == {"email", "name"}
    assert courses.student_problems(course, "new@example.edu", "New One", "long enough pw") == {}
    # A known account keeps its own name and password: neither is needed nor checked.
    assert courses.student_problems(course, student.email.upper(), "", "short") == {}
    assert courses.student_problems(course, instructor.email, "", "") == {
        "email": f"{instructor.email} is an instructor of this course"}


def test_roster_enrolls_a_known_user_from_another_course(ctx, instructor):
    other_course = courses.create_course("B", "B", instructor)
    known = courses.create_user("known@example.edu", "Known")
    report = courses.import_roster(other_course, "email,name\nknown@example.edu,Known\n")
    assert report.existing == ["known@example.edu"] and report.added == [] and report.ok
    assert courses.role_in(known, other_course) == "student"
    again = courses.import_roster(other_course, "email,name\nknown@example.edu,Known\n")
    assert again.existing == again.already_enrolled == ["known@example.edu"] and again.ok


def test_roster_refuses_the_course_instructor(ctx, course, instructor):
    report = courses.import_roster(course, f"email,name\n{instructor.email},Me\n")
    assert report.errors == [(2, f"{instructor.email} is an instructor of this course")]


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("a@example.edu,A\n", "header"),
    ("email,fullname\na@example.edu,A\n", "unknown column 'fullname'"),
    ("email,name,email\n", "appears twice"),
])
def test_roster_without_a_proper_header_imports_nothing(ctx, course, text, fragment):
    report = courses.import_roster(course, text)
    assert report.added == [] and len(report.errors) == 1
    line, message = report.errors[0]
    assert line == 1 and fragment in message
    assert _count(User) == 3


def test_roster_accepts_bom_semicolons_column_order_and_crlf(ctx, course):
    text = "\ufeffName;Email\r\nÉmile Zola;emile@example.edu\r\n"
    report = courses.import_roster(course, text)
    assert report.added == ["emile@example.edu"] and report.ok
    assert courses.user_by_email("emile@example.edu").name == "Émile Zola"


def test_roster_reports_a_broken_quote(ctx, course):
    report = courses.import_roster(course, 'email,name\nok@example.edu,Ok\nx@example.edu,"Unclosed\n')
    assert report.added == ["ok@example.edu"]
    assert report.errors and report.errors[0][0] == 3 and "CSV" in report.errors[0][1]


def test_roster_refuses_a_quoted_two_line_name_and_imports_the_rest(ctx, course):
    text = ('email,name,password\n'
            'ok@example.edu,Ok,\n'
            'mia@example.edu,"Mia ""Quote"" O\'Neil\nNewline",password1\n'  # lines 3-4
            'last@example.edu,Last,\n')                                       # line 5
    report = courses.import_roster(course, text)
    assert report.added == ["ok@example.edu", "last@example.edu"]
    assert len(report.errors) == 1
    line, message = report.errors[0]
    assert line == 3 and "name" in message and "lines 3-4" in message and "one line" in message
    assert courses.user_by_email("mia@example.edu") is None


def test_roster_refuses_a_name_with_a_tab_as_a_line_not_a_crash(ctx, course):
    report = courses.import_roster(course, "email,name\nt@example.edu,Tab\tName\nu@example.edu,U\n")
    assert report.added == ["u@example.edu"]
    assert report.errors == [(2, "name must be one line of text, without control characters (found U+0009)")]


def test_roster_reads_on_after_a_broken_quote(ctx, course):
    text = ("email,name\n"
            "rick@example.edu,Rick\n"
            'sam@example.edu,"Sam"x\n'        # line 3: broken quote
            "tina@example.edu,Tina\n"
            'vic@example.edu,"Unclosed\n'     # line 5: a quote never closed
            "uma@example.edu,Uma\n")
    report = courses.import_roster(course, text)
    assert report.added == ["rick@example.edu", "tina@example.edu", "uma@example.edu"]
    assert [line for line, _ in report.errors] == [3, 5]
    assert "not valid CSV" in report.errors[0][1] and "not closed" in report.errors[1][1]


def test_roster_header_error_quotes_the_line_as_typed(ctx, course):
    report = courses.import_roster(course, "mike@uni.edu,Mike\n")
    (line, message), = report.errors
    assert line == 1 and "got 'mike@uni.edu,Mike'" in message


def test_generated_passwords_are_long_readable_and_random(ctx):
    first, second = courses.generate_password(), courses.generate_password()
    assert first != second and password_problem(first) is None
    assert re.fullmatch(r"[a-km-np-z2-9]{4}(-[a-km-np-z2-9]{4}){3}", first)


def test_roster_calls_progress_for_each_line(ctx, course):
    seen = []
    courses.import_roster(course, "email,name\na@example.edu,A\nb@example.edu,B\n", progress=seen.append)
    assert seen == [1, 1]


def test_roster_import_is_one_transaction(ctx, course, monkeypatch):
    calls = {"n": 0}
    real = courses._enroll

    def failing_enroll(s, c, user, role):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(s, c, user, role)

    monkeypatch.setattr(courses, "_enroll", failing_enroll)
    with pytest.raises(RuntimeError):
        courses.import_roster(course, "email,name\na@example.edu,A\nb@example.edu,B\n")
    db.session().rollback()
    assert courses.user_by_email("a@example.edu") is None


# ---------------------------------------------------------------- roster file encodings


ROSTER = "email,name\r\njose@example.edu,José Ñúñez\r\nann@example.edu,Ann\r\n"


@pytest.mark.parametrize("raw", [
    ROSTER.encode("utf-8"),
    ROSTER.encode("utf-8-sig"),                 # Excel's "CSV UTF-8"
    ROSTER.encode("utf-16"),                    # with its BOM (little-endian here)
    b"\xfe\xff" + ROSTER.encode("utf-16-be"),   # big-endian, with its BOM
], ids=["utf-8", "utf-8 with BOM", "utf-16 le", "utf-16 be"])
def test_decode_roster_reads_utf8_and_utf16_with_a_bom(raw):
    assert courses.decode_roster(raw, "r.csv") == ROSTER  # the BOM removed


@pytest.mark.parametrize("raw, line", [
    (b"email,name\njose@example.edu,Jos\xe9\n", 2),              # Latin-1 / Windows-1252
    (b"email,name\r\na@example.edu,A\r\nb@example.edu,\x93B\x94\r\n", 3),  # cp1252 quotes
    (b"email,name\ra@example.edu,A\rb@example.edu,B\xff\r", 3),  # old Mac line ends
    (b"\xe9mail,name\n", 1),
])
def test_decode_roster_refuses_other_encodings_naming_the_file_and_line(raw, line):
    with pytest.raises(SpecError) as err:
        courses.decode_roster(raw, "r.csv")
    assert err.value.path == f"r.csv line {line}"
    assert err.value.message == "not UTF-8 text; save the file as 'CSV UTF-8' and try again"


def test_decode_roster_refuses_broken_utf16():
    raw = "email,name\na@example.edu,A\n".encode("utf-16") + b"\x00"  # an odd byte at the end
    with pytest.raises(SpecError) as err:
        courses.decode_roster(raw, "r.csv")
    assert err.value.path == "r.csv line 3" and err.value.message.startswith("not UTF-16 text")
