"""Importing the LMS roster (Names and Role Provisioning Services 2.0) against the test
platform (both engines): the claim a launch stores, the import of active students (run
twice: the same result, no duplicates) and the members it skips, paging, the platform's
errors shown with nothing imported, the button's page and its refusals (no CSRF token,
not an instructor of the course), and the flask command."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from conftest import csrf_token, login
from lti_platform import (  # noqa: F401  (the *_fixture names are fixtures)
    LEARNER,
    MEMBERSHIPS_TYPE,
    NRPS,
    ROLE,
    SCOPE_NRPS,
    Harness,
    course_platform,
    lti_fixture,
)
from sqlalchemy import func, select

from grader import db
from grader.lti import registry
from grader.lti.models import LtiContext, LtiUser
from grader.models import Course, Enrollment, User
from grader.services import problem_sets

MENTOR = [ROLE + "Mentor"]
TA = [ROLE + "Instructor#TeachingAssistant"]


@pytest.fixture
def platform():
    """The course's roster: the teacher and the learner (who launch), three more active
    learners (one without email or status), a teaching assistant, an inactive and a deleted
    learner, and a mentor."""
    with course_platform() as running:
        running.add_member("sub-amy", "Amy Active", "amy@lms.example", LEARNER)
        running.add_member("sub-bo", "Bo Nostatus", None, [ROLE + "Learner"], status=None)
        running.add_member("sub-cy", "Cy Short", "cy@lms.example", ["Learner"])
        running.add_member("sub-tia", "Tia Assistant", "tia@lms.example", TA)
        running.add_member("sub-ina", "Ina Inactive", "ina@lms.example", LEARNER,
                           status="Inactive")
        running.add_member("sub-del", "Del Deleted", "del@lms.example", LEARNER,
                           status="Deleted")
        running.add_member("sub-men", "Men Tor", "men@lms.example", MENTOR)
        yield running


class LmsCourse:
    """The LMS course linked to ours by the teacher's launch, its link opening a published
    set (so that students can launch too)."""

    def __init__(self, app: Any, lti: Harness) -> None:
        self.app = app
        self.lti = lti
        self.teacher = app.test_client()
        assert lti.launch(self.teacher, "teacher").status_code == 303
        with app.app_context():
            context = db.session().scalar(select(LtiContext))
            self.context_pk = context.id
            self.course_id = context.course.public_id
            self.course_code = context.course.code
            ps = problem_sets.publish(problem_sets.create_set(context.course, "Week 1", [
                {"kind": "output_shape", "difficulty": 1, "points": 10}]))
        lti.platform.launches["default"].custom = {"set_id": ps.public_id}
        self.sync = f"/teach/lti/courses/{self.course_id}/sync"
        self.action = f"/teach/lti/courses/{self.course_id}/roster/{self.context_pk}/import"

    def import_roster(self, client: Any = None) -> Any:
        """The button's POST (with the page's CSRF token); the sync page it leads to."""
        client = client or self.teacher
        response = client.post(self.action, data={"csrf_token": csrf_token(client, self.sync)})
        assert response.status_code == 302, response.get_data(as_text=True)
        assert response.headers["Location"].endswith(self.sync)
        return client.get(self.sync).get_data(as_text=True)

    def enrolled(self) -> dict[str, str]:
        """sub -> role of the LTI users enrolled in the course."""
        with self.app.app_context():
            rows = db.session().execute(
                select(LtiUser.sub, Enrollment.role)
                .join(Enrollment, Enrollment.user_id == LtiUser.user_id)
                .join(Course, Course.id == Enrollment.course_id)
                .where(Course.public_id == self.course_id)).all()
        return dict(rows)


def _count(app: Any, model: Any) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model)) or 0


# ---------------------------------------------------------------- the claim and the scope


def test_a_launch_stores_the_courses_memberships_url(app, lti):
    lms = LmsCourse(app, lti)
    with app.app_context():
        context = db.session().get(LtiContext, lms.context_pk)
        assert context.memberships_url == lti.platform.memberships_url("course-1")
    page = lms.teacher.get(lms.sync).get_data(as_text=True)
    assert "Import the LMS roster" in page and lms.action in page
    assert registry.NRPS_SCOPE == SCOPE_NRPS and SCOPE_NRPS in registry.TOOL_SCOPES


@pytest.mark.parametrize("claim", [
    {"context_memberships_url": "http://lms.example/memberships", "service_versions": ["2.0"]},
    {"context_memberships_url": "https://lms.example/memberships", "service_versions": ["1.0"]},
    {"context_memberships_url": "not a url", "service_versions": ["2.0"]},
    "https://lms.example/memberships",
])
def test_an_unusable_claim_is_ignored_with_a_log_line_never_a_failed_launch(
        app, lti, claim, caplog):
    lti.platform.claims = _with_claim(lti.platform.claims, claim)  # type: ignore[method-assign]
    teacher = app.test_client()
    with caplog.at_level(logging.WARNING, logger="grader.lti"):
        assert lti.launch(teacher, "teacher").status_code == 303
    assert "names and roles claim" in caplog.text
    with app.app_context():
        context = db.session().scalar(select(LtiContext))
        assert context.memberships_url is None
        sync = f"/teach/lti/courses/{context.course.public_id}/sync"
    text = teacher.get(sync).get_data(as_text=True)
    assert "Import the LMS roster" not in text
    assert "launch the tool once from the LMS course" in text


def _with_claim(original: Any, claim: Any) -> Any:
    def claims(login_hint: str, nonce: str, spec: Any = None) -> dict[str, Any]:
        made = original(login_hint, nonce, spec)
        made[NRPS] = claim
        return made
    return claims


def test_a_later_launch_without_the_claim_keeps_the_url(app, lti):
    lms = LmsCourse(app, lti)
    lti.platform.launches["default"].nrps = False
    assert lti.launch(app.test_client(), "teacher").status_code == 303
    with app.app_context():
        assert db.session().get(LtiContext, lms.context_pk).memberships_url
    lti.platform.launches["default"].nrps = True
    lti.platform.launches["default"].memberships_url = f"{lti.platform.base}/memberships/moved"
    assert lti.launch(app.test_client(), "teacher").status_code == 303
    with app.app_context():
        assert db.session().get(LtiContext, lms.context_pk).memberships_url.endswith("/moved")


# ---------------------------------------------------------------- the import


def test_import_enrolls_active_students_and_is_idempotent(app, lti):
    lms = LmsCourse(app, lti)
    users_before = _count(app, User)
    page = lms.import_roster()
    # learner, amy, bo, cy added; tia (a TA, instructor as her launch would make her) added;
    # the teacher already enrolled; ina and del inactive; the mentor has no learner role
    assert ("LMS roster of Deep Learning 101 imported: 5 added, 1 already enrolled, "
            "2 skipped (inactive), 1 skipped (no learner role), 0 errors.") in page
    assert lms.enrolled() == {"sub-teacher": "instructor", "sub-learner": "student",
                              "sub-amy": "student", "sub-bo": "student", "sub-cy": "student",
                              "sub-tia": "instructor"}
    assert _count(app, User) == users_before + 5
    [request] = lti.platform.roster_requests
    assert request["accept"] == MEMBERSHIPS_TYPE and request["authorization"].startswith("Bearer ")
    assert any(SCOPE_NRPS == r.get("scope") for r in lti.platform.token_requests)
    with app.app_context():
        s = db.session()
        amy = s.scalar(select(User).join(LtiUser).where(LtiUser.sub == "sub-amy"))
        assert (amy.name, amy.email, amy.is_instructor) == ("Amy Active", "amy@lms.example",
                                                            False)
        bo = s.scalar(select(User).join(LtiUser).where(LtiUser.sub == "sub-bo"))
        assert bo.name == "Bo Nostatus" and bo.email.endswith("@lti.invalid")
        assert s.scalar(select(User.is_instructor).join(LtiUser)
                        .where(LtiUser.sub == "sub-tia")) is True

    again = lms.import_roster()
    assert ("0 added, 6 already enrolled, 2 skipped (inactive), 1 skipped (no learner role), "
            "0 errors.") in again
    assert _count(app, User) == users_before + 5
    assert len(lms.enrolled()) == 6
    # the token was cached: one token request for the two imports
    assert sum(r.get("scope") == SCOPE_NRPS for r in lti.platform.token_requests) == 1


def test_an_imported_student_is_the_user_their_first_launch_finds(app, lti):
    lms = LmsCourse(app, lti)
    lti.platform.add_user("amy", "sub-amy", "Amy Active", "amy@lms.example", LEARNER)
    lms.import_roster()
    users = _count(app, User)
    assert lti.launch(app.test_client(), "amy").status_code == 303
    assert _count(app, User) == users
    assert lms.enrolled()["sub-amy"] == "student"


def test_import_never_unenrolls_nor_demotes(app, lti):
    lms = LmsCourse(app, lti)
    lms.import_roster()
    for member in lti.platform.members:  # the LMS drops everyone but the learners
        if member["user_id"] == "sub-tia":
            member["roles"] = LEARNER
    lti.platform.members = [m for m in lti.platform.members
                            if m["user_id"] not in ("sub-amy", "sub-teacher")]
    lms.import_roster()
    enrolled = lms.enrolled()
    assert enrolled["sub-amy"] == "student" and enrolled["sub-teacher"] == "instructor"
    assert enrolled["sub-tia"] == "instructor"


def test_paging_is_followed(app, lti):
    lms = LmsCourse(app, lti)
    lti.platform.page_size = 2  # 9 members: 5 pages
    page = lms.import_roster()
    assert "5 added, 1 already enrolled" in page
    assert len(lti.platform.roster_requests) == 5
    assert lti.platform.roster_requests[-1]["url"].endswith("?page=5")


def test_a_refused_token_is_renewed_once(app, lti):
    lms = LmsCourse(app, lti)
    lti.platform.roster_faults = ["401"]
    assert "5 added" in lms.import_roster()
    assert len(lti.platform.roster_requests) == 2


def test_members_the_tool_cannot_use_are_reported_as_errors(app, lti):
    lms = LmsCourse(app, lti)
    lti.platform.members.append({"roles": LEARNER, "name": "No Id"})
    lti.platform.members.append({"user_id": "x" * 300, "roles": LEARNER})
    page = lms.import_roster()
    assert "5 added" in page and "2 errors: a member without a user_id; user_id" in page
    assert "is longer than 255 characters" in page


@pytest.mark.parametrize("fault, message", [
    ("500", "The LMS refused the roster request (HTTP 500: roster service down)"),
    ("403", "HTTP 403: the tool may not read this course&#39;s members"),
    ("not_json", "The LMS&#39;s roster answer is not JSON"),
    ("next_elsewhere", "must use https"),
    ("next_other_port", "is neither https nor on the roster&#39;s own host"),
])
def test_a_platform_error_is_shown_and_nothing_is_imported(app, lti, fault, message):
    lms = LmsCourse(app, lti)
    lti.platform.page_size = 3
    lti.platform.roster_faults = [fault]
    before = lms.enrolled()
    page = lms.import_roster()
    assert "The LMS roster was not imported" in page and message in page
    assert "nothing was imported" in page
    assert lms.enrolled() == before


def test_a_roster_that_does_not_answer_in_time(app, lti):
    lms = LmsCourse(app, lti)
    app.config["LTI_HTTP_TIMEOUT"] = 0.5
    lti.platform.timeout_seconds = 1.5
    lti.platform.roster_faults = ["timeout"]
    page = lms.import_roster()
    assert "did not answer the roster request within 0.5 s" in page


def test_a_platform_that_grants_no_roster_scope(app, lti):
    lms = LmsCourse(app, lti)
    lti.platform.nrps_enabled = False
    page = lms.import_roster()
    assert "gave no token to read the roster" in page and "invalid_scope" in page
    assert "Names and Role Provisioning" in page
    assert lti.platform.roster_requests == []


# ---------------------------------------------------------------- who may import


def test_import_without_csrf_token_is_refused(app, lti):
    lms = LmsCourse(app, lti)
    assert lms.teacher.post(lms.action).status_code == 400
    assert lms.teacher.post(lms.action, data={"csrf_token": "forged"}).status_code == 400
    assert lti.platform.roster_requests == []


def test_only_the_courses_instructors_may_import(app, lti, client, course, instructor):
    lms = LmsCourse(app, lti)
    student = app.test_client()
    assert lti.launch(student, "learner").status_code == 303
    token = csrf_token(student, "/")
    assert student.post(lms.action, data={"csrf_token": token}).status_code == 404
    assert student.get(lms.sync).status_code == 404
    # another instructor, not in the LMS course
    assert login(client, instructor.email).status_code == 302
    token = csrf_token(client, "/teach/")
    assert client.post(lms.action, data={"csrf_token": token}).status_code == 404
    # the LMS course through the URL of a course the instructor does teach
    other = f"/teach/lti/courses/{course.public_id}/roster/{lms.context_pk}/import"
    assert client.post(other, data={"csrf_token": token}).status_code == 404
    assert lti.platform.roster_requests == []


# ---------------------------------------------------------------- the command


def test_the_command_imports_the_roster(app, lti, runner):
    lms = LmsCourse(app, lti)
    result = runner.invoke(args=["lti-import-roster", lms.course_code])
    assert result.exit_code == 0, result.output
    assert "Deep Learning 101: 5 added, 1 already enrolled" in result.output
    lti.platform.roster_faults = ["500"]
    result = runner.invoke(args=["lti-import-roster", lms.course_id])
    assert result.exit_code == 2
    assert "roster service down" in result.output


def test_the_command_without_a_roster_service(app, lti, runner, course):
    result = runner.invoke(args=["lti-import-roster", course.code])
    assert result.exit_code == 2
    assert "launch the tool once from the LMS course" in result.output
    result = runner.invoke(args=["lti-import-roster", "NO-SUCH-COURSE"])
    assert result.exit_code == 2 and "no course" in result.output


def test_commands_refuse_a_code_two_lms_courses_share_naming_their_ids(app, lti, runner, instructor):
    # Two LMS courses labelled alike give two courses of one code (each launch makes one).
    with app.app_context(), db.transaction() as s:
        first, second = Course(code="DL101", title="Deep learning A"), Course(code="DL101", title="Deep learning B")
        s.add_all([first, second])
        s.flush()
        ids = first.public_id, second.public_id
    for args in (["lti-import-roster", "dl101"],
                 ["lti-registration-link", "--owner", instructor.email, "--course", "DL101"],
                 ["lti-register-platform", "--issuer", "https://lms.example.edu", "--client-id", "c",
                  "--auth-url", "https://lms.example.edu/auth", "--token-url", "https://lms.example.edu/token",
                  "--jwks-url", "https://lms.example.edu/jwks", "--deployment", "d1", "--course", "DL101"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
        assert "error: course: several courses have the code 'DL101'" in result.output
        assert f"Deep learning A (id {ids[0]})" in result.output and ids[1] in result.output
        assert "Give the id of the one you mean" in result.output
