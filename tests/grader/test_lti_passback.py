"""Grade passback (AGS) through the outbox, against the test platform (both engines): the
score a student's submission sends and its payload, the outbox when the platform is down
(the same timestamp on every retry; 409 counts as delivered), newer scores superseding
pending ones, line items found or created once, the worker command, the background
attempt, and the instructor's sync log with its resend buttons."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from conftest import csrf_token
from lti_platform import (  # noqa: F401  (the *_fixture names are fixtures)
    LEARNER,
    SCOPE_LINEITEM,
    SCOPE_SCORE,
    SCORE_TYPE,
    Harness,
    Platform,
    course_platform,
    lti_fixture,
)
from sqlalchemy import func, select

from grader import db
from grader.lti import keys
from grader.lti.models import LtiContext, LtiResourceLink, LtiScore, LtiUser
from grader.models import Course, Item, ProblemSet, User, utcnow
from grader.services import attempts, passback, problem_sets
from problems import kinds

ISO_MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")


# ---------------------------------------------------------------- set-up


@pytest.fixture
def platform():
    with course_platform() as running:
        running.add_user("learner2", "sub-learner-2", "Kim Learner", None, LEARNER)
        yield running


class Course2:
    """An LMS course linked to ours: a published two-item set (10 points each) that the
    default launch opens, with a line item from the platform (its URL has a query string,
    as Moodle's do)."""

    def __init__(self, app, lti: Harness, *, lineitem: bool = True,
                 scopes: list[str] | None = None) -> None:
        self.app = app
        self.lti = lti
        self.teacher = app.test_client()
        assert lti.launch(self.teacher, "teacher").status_code == 303
        with app.app_context():
            s = db.session()
            course = s.scalar(select(Course).join(LtiContext, LtiContext.course_id == Course.id))
            ps = problem_sets.create_set(course, "Week 1", [
                {"kind": "output_shape", "difficulty": 1, "points": 10},
                {"kind": "output_shape", "difficulty": 1, "points": 10}])
            ps = problem_sets.publish(ps)
        self.course_id = course.public_id
        self.set_id = ps.public_id
        spec = lti.platform.launches["default"]
        spec.custom = {"set_id": ps.public_id}
        if scopes is not None:
            spec.scopes = scopes
        self.lineitem = (lti.platform.add_line_item("Week 1", 20.0, ps.public_id, "link-1",
                                                    query="type_id=7") if lineitem else None)
        spec.lineitem = self.lineitem
        self.students: dict[str, Any] = {}

    def launch(self, hint: str = "learner") -> Any:
        client = self.app.test_client()
        response = self.lti.launch(client, hint)
        assert response.status_code == 303, response.get_data(as_text=True)
        self.students[hint] = client
        return client


def _user(sub: str) -> User:
    return db.session().scalar(select(User).join(LtiUser).where(LtiUser.sub == sub))


def submit(app, sub: str, position: int, correct: bool = True) -> Any:
    """A graded attempt through the service (the same `submit` the pages call)."""
    with app.app_context():
        s = db.session()
        user = _user(sub) if sub.startswith("sub-") else s.scalar(select(User).where(
            User.email == sub))
        item = s.scalar(select(Item).join(ProblemSet).where(Item.position == position)
                        .order_by(ProblemSet.id.desc()))
        problem = attempts.problem_for(user, item)
        tests = kinds.self_test(problem)
        answers = tests.correct if correct else {p: tests.wrong[p][p] for p in tests.correct}
        used = attempts.progress(user, [item])[item.id].attempts_used
        outcome = attempts.submit(user, item, answers, used + 1)
        assert outcome.submission is not None, outcome
        return outcome


def rows(app) -> list[LtiScore]:
    with app.app_context():
        return list(db.session().scalars(select(LtiScore).order_by(LtiScore.id)))


def accepted(platform: Platform) -> list[Any]:
    return [r for r in platform.scores if r.status == 200]


# ---------------------------------------------------------------- the happy path


def test_a_submission_sends_the_set_score_with_the_right_payload(app, lti):
    lms = Course2(app, lti)
    student = lms.launch()
    # through the student's page, as in the browser
    with app.app_context():
        user = _user("sub-learner")
        item = db.session().scalar(select(Item).where(Item.position == 0))
        answers = kinds.self_test(attempts.problem_for(user, item)).correct
        item_url = f"/sets/{lms.set_id}/items/{item.public_id}"
    data = {f"answers[{pid}]": text for pid, text in answers.items()}
    data.update(attempt="1", csrf_token=csrf_token(student, item_url))
    assert student.post(item_url, data=data).status_code == 303

    [record] = lti.platform.scores
    assert record.status == 200
    assert record.path == "/lineitems/1/scores" and record.query == "type_id=7"
    assert record.content_type == SCORE_TYPE
    assert record.authorization.startswith("Bearer ")
    [row] = rows(app)
    assert record.payload == {
        "userId": "sub-learner", "scoreGiven": 10.0, "scoreMaximum": 20.0,
        "activityProgress": "Submitted", "gradingProgress": "FullyGraded",
        "timestamp": row.timestamp,
    }
    assert ISO_MICRO.fullmatch(row.timestamp)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert row.reason == "submit" and row.submission_id is not None
    # the token request carried our signed assertion and asked for score + lineitem
    [token_request] = lti.platform.token_requests
    assert set(token_request["scope"].split()) == {SCOPE_SCORE, SCOPE_LINEITEM}
    assert not lti.platform.errors

    submit(app, "sub-learner", 1)
    latest = lti.platform.scores[-1]
    assert latest.payload["scoreGiven"] == 20.0
    assert latest.payload["activityProgress"] == "Completed"
    assert latest.payload["timestamp"] > record.payload["timestamp"]
    assert len(lti.platform.token_requests) == 1  # the token is cached
    assert lti.platform.grade_of("sub-learner")["scoreGiven"] == 20.0


def test_best_score_per_item_counts_and_attempts_used_up_complete_the_set(app, lti):
    Course2(app, lti).launch()
    submit(app, "sub-learner", 0, correct=True)
    for _ in range(3):
        submit(app, "sub-learner", 1, correct=False)
    payload = lti.platform.scores[-1].payload
    with app.app_context():
        s = db.session()
        user = _user("sub-learner")
        items = s.scalars(select(Item).order_by(Item.position)).all()
        best = [max(sub.grade.score for sub in attempts.progress(user, [it])[it.id].submissions)
                for it in items]
    assert best[0] == 10.0 and best[1] < 10.0
    assert payload["scoreGiven"] == round(sum(best), 6)
    assert payload["activityProgress"] == "Completed"  # full marks, and no attempt left


def test_users_without_an_lti_launch_queue_nothing(app, lti, course, student):
    Course2(app, lti)
    with app.app_context():
        ps = problem_sets.publish(problem_sets.create_set(
            course, "Local", [{"kind": "output_shape", "difficulty": 1, "points": 10}]))
    assert ps.published
    submit(app, student.email, 0)
    assert rows(app) == [] and lti.platform.scores == []


def test_no_passback_when_the_platform_granted_no_score_scope(app, lti):
    Course2(app, lti, scopes=[SCOPE_LINEITEM]).launch()
    submit(app, "sub-learner", 0)
    assert rows(app) == []


# ---------------------------------------------------------------- the platform misbehaves


def test_platform_down_queues_the_score_and_retries_with_the_same_timestamp(app, lti):
    Course2(app, lti).launch()
    lti.platform.score_faults = ["500", "500"]
    submit(app, "sub-learner", 0)
    [row] = rows(app)
    assert row.status == "pending" and row.attempts == 1 and row.last_status == 500
    assert "HTTP 500" in row.last_error and "database unavailable" in row.last_error
    first_retry = row.next_attempt_at
    with app.app_context():
        assert passback.deliver_due().claimed == 0  # not due yet: backoff
        report = passback.deliver_due(now=utcnow() + timedelta(hours=1))
    assert report.retrying == 1
    [row] = rows(app)
    assert row.attempts == 2 and row.next_attempt_at > first_retry  # backoff grows
    with app.app_context():
        assert passback.deliver_due(now=utcnow() + timedelta(hours=2)).sent == 1
    [row] = rows(app)
    assert row.status == "sent" and row.attempts == 3
    stamps = {r.payload["timestamp"] for r in lti.platform.scores}
    assert stamps == {row.timestamp} and len(lti.platform.scores) == 3
    assert lti.platform.grade_of("sub-learner")["scoreGiven"] == row.score_given == 10.0
    with app.app_context():  # never sent again
        assert passback.deliver_due(now=utcnow() + timedelta(days=9)).claimed == 0


def test_a_queued_score_survives_a_restart(app, lti):
    from grader import create_app

    Course2(app, lti).launch()
    lti.platform.score_faults = ["500"]
    submit(app, "sub-learner", 0)
    assert rows(app)[0].status == "pending"
    # a new process on the same database (the old one is gone, and its memory with it)
    restarted = create_app({k: app.config[k] for k in (
        "TESTING", "DATABASE_URL", "SECRET_KEY", "SERVER_NAME", "BASE_URL",
        "LTI_HTTP_TIMEOUT", "LTI_PASSBACK")})
    try:
        with restarted.app_context():
            assert passback.deliver_due(now=utcnow() + timedelta(hours=1)).sent == 1
    finally:
        restarted.extensions["engine"].dispose()
    [row] = rows(app)
    assert row.status == "sent"
    assert lti.platform.grade_of("sub-learner")["timestamp"] == row.timestamp


def test_a_timeout_is_retried_later(app, lti):
    Course2(app, lti).launch()
    lti.platform.score_faults = ["timeout"]
    submit(app, "sub-learner", 0)
    [row] = rows(app)
    assert row.status == "pending" and "did not answer within 2 s" in row.last_error
    with app.app_context():
        assert passback.deliver_due(now=utcnow() + timedelta(hours=1)).sent == 1
    assert lti.platform.grade_of("sub-learner")["timestamp"] == row.timestamp


def test_a_409_on_retry_counts_as_delivered(app, lti):
    Course2(app, lti).launch()
    lti.platform.score_faults = ["record_then_500"]  # stored, but the answer was lost
    submit(app, "sub-learner", 0)
    assert rows(app)[0].status == "pending"
    with app.app_context():
        report = passback.deliver_due(now=utcnow() + timedelta(hours=1))
    assert report.sent == 1
    [row] = rows(app)
    assert row.status == "sent" and row.last_status == 409 and "409" in row.last_error
    assert [r.status for r in lti.platform.scores] == [500, 409]
    assert lti.platform.grade_of("sub-learner")["scoreGiven"] == 10.0


def test_a_newer_score_supersedes_a_pending_one_and_the_final_grade_is_the_latest(app, lti):
    Course2(app, lti).launch()
    lti.platform.score_faults = ["500", "500"]
    submit(app, "sub-learner", 0, correct=False)
    submit(app, "sub-learner", 0, correct=True)
    first, second = rows(app)
    assert first.status == "superseded" and second.status == "pending"
    assert second.timestamp > first.timestamp
    with app.app_context():
        assert passback.deliver_due(now=utcnow() + timedelta(hours=1)).sent == 1
    delivered = accepted(lti.platform)
    assert [r.payload["timestamp"] for r in delivered] == [second.timestamp]
    assert lti.platform.grade_of("sub-learner")["scoreGiven"] == 10.0
    assert rows(app)[0].status == "superseded"


def test_a_400_fails_at_once_with_the_platforms_message(app, lti):
    Course2(app, lti).launch()
    lti.platform.score_faults = ["400"]
    submit(app, "sub-learner", 0)
    [row] = rows(app)
    assert row.status == "failed" and row.last_status == 400
    assert "Incorrect score received" in row.last_error
    with app.app_context():
        assert passback.deliver_due(now=utcnow() + timedelta(days=1)).claimed == 0


def test_a_401_gets_a_fresh_token_and_tries_again_at_once(app, lti):
    Course2(app, lti).launch()
    lti.platform.score_faults = ["401"]
    submit(app, "sub-learner", 0)
    assert rows(app)[0].status == "sent"
    assert len(lti.platform.token_requests) == 2


def test_token_endpoint_down_is_retried(app, lti):
    Course2(app, lti).launch()
    lti.platform.token_faults = ["500"]
    submit(app, "sub-learner", 0)
    [row] = rows(app)
    assert row.status == "pending" and "access token request" in row.last_error
    with app.app_context():
        assert passback.deliver_due(now=utcnow() + timedelta(hours=1)).sent == 1


def test_an_unreadable_signing_key_is_logged_and_retried(app, lti):
    Course2(app, lti).launch()
    with app.app_context(), db.transaction() as s:
        keys.signing_key(s)  # sealed under the SECRET_KEY the launch ran with
    secret = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "a SECRET_KEY the signing key was not sealed with"
    submit(app, "sub-learner", 0)
    [row] = rows(app)
    assert row.status == "pending" and "cannot be decrypted with this SECRET_KEY" in row.last_error
    app.config["SECRET_KEY"] = secret
    with app.app_context():
        assert passback.deliver_due(now=utcnow() + timedelta(hours=1)).sent == 1


def test_retries_stop_after_the_configured_attempts(app, lti):
    app.config["LTI_MAX_ATTEMPTS"] = 2
    Course2(app, lti).launch()
    lti.platform.score_faults = ["500", "500"]
    submit(app, "sub-learner", 0)
    with app.app_context():
        passback.deliver_due(now=utcnow() + timedelta(hours=1))
    [row] = rows(app)
    assert row.status == "failed" and row.last_error.startswith("gave up after 2 attempts")


# ---------------------------------------------------------------- line items


def test_a_line_item_is_created_once_when_the_launch_names_none(app, lti):
    lms = Course2(app, lti, lineitem=False)
    lms.launch()
    submit(app, "sub-learner", 0)
    assert lti.platform.line_item_gets == 1 and lti.platform.line_item_posts == 1
    [item] = lti.platform.line_items.values()
    assert item["resourceId"] == lms.set_id and item["tag"] == "cnnquiz-set"
    assert item["scoreMaximum"] == 20.0 and item["resourceLinkId"] == "link-1"
    submit(app, "sub-learner", 1)
    lms.launch("learner2")
    submit(app, "sub-learner-2", 0)
    assert lti.platform.line_item_gets == 1 and lti.platform.line_item_posts == 1
    assert len(accepted(lti.platform)) == 3
    assert {r.lineitem for r in accepted(lti.platform)} == {item["id"]}
    with app.app_context():
        link = db.session().scalar(select(LtiResourceLink))
        assert link.resolved_lineitem_url == item["id"] and link.lineitem_url is None


def test_an_existing_line_item_is_found_not_duplicated(app, lti):
    lms = Course2(app, lti, lineitem=False)
    existing = lti.platform.add_line_item("Week 1", 20.0, lms.set_id, "link-1", "cnnquiz-set")
    lti.platform.add_line_item("Other", 5.0, "another-set")
    lms.launch()
    submit(app, "sub-learner", 0)
    assert lti.platform.line_item_posts == 0
    assert accepted(lti.platform)[0].lineitem == existing


def test_no_line_item_and_no_line_item_scope_fails_clearly(app, lti):
    Course2(app, lti, lineitem=False, scopes=[SCOPE_SCORE]).launch()
    submit(app, "sub-learner", 0)
    [row] = rows(app)
    assert row.status == "failed" and "line-item scope" in row.last_error


def test_scores_url_appends_to_the_path_before_the_query():
    assert passback.scores_url("https://lms.example/li/7?type_id=3") == \
        "https://lms.example/li/7/scores?type_id=3"
    assert passback.scores_url("https://lms.example/li/7/") == "https://lms.example/li/7/scores"


# ---------------------------------------------------------------- how delivery runs


def test_the_outbox_row_commits_with_the_submission_or_not_at_all(app, lti):
    Course2(app, lti).launch()
    app.config["LTI_PASSBACK"] = "off"
    with app.app_context():
        user = _user("sub-learner")
        item = db.session().scalar(select(Item).where(Item.position == 0))
        with pytest.raises(RuntimeError), db.transaction() as s:
            assert passback.enqueue(s, user, item) != []
            raise RuntimeError("the submission failed")
        assert db.session().scalar(select(func.count()).select_from(LtiScore)) == 0
    assert lti.platform.scores == []


def test_the_worker_command_delivers_what_is_due(app, lti, runner):
    Course2(app, lti).launch()
    app.config["LTI_PASSBACK"] = "off"
    submit(app, "sub-learner", 0)
    assert rows(app)[0].status == "pending" and lti.platform.scores == []
    result = runner.invoke(args=["lti-outbox", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 sent, 0 to retry, 0 failed" in result.output
    assert rows(app)[0].status == "sent" and len(accepted(lti.platform)) == 1
    result = runner.invoke(args=["lti-outbox", "--once"])
    assert "0 sent" in result.output and len(lti.platform.scores) == 1


def test_the_background_attempt_after_commit_delivers(app, lti):
    Course2(app, lti).launch()
    app.config["LTI_PASSBACK"] = "thread"
    submit(app, "sub-learner", 0)
    passback.wait_for_background()
    assert rows(app)[0].status == "sent" and len(accepted(lti.platform)) == 1


# ---------------------------------------------------------------- the sync log


def test_sync_log_shows_each_score_and_resend_sends_the_current_one(app, lti):
    lms = Course2(app, lti)
    lms.launch()
    lms.launch("learner2")
    lti.platform.score_faults = ["400"]
    submit(app, "sub-learner", 0)
    submit(app, "sub-learner-2", 0, correct=False)
    teacher = lms.teacher
    page = teacher.get(f"/teach/lti/courses/{lms.course_id}/sync")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Lee Learner" in text and "Kim Learner" in text and "Incorrect score received" in text
    assert "failed" in text and "sent" in text
    # scores shown with at most two decimals, as everywhere; the exact one sent in the title
    shown = re.findall(r'title="sent as ([\d.]+) / [\d.]+">([\d.]+) / ', text)
    assert shown and all(float(cell) == round(float(sent), 2) for sent, cell in shown)
    assert all(len(cell.partition(".")[2]) <= 2 for _, cell in shown)
    assert teacher.get(f"/teach/lti/courses/{lms.course_id}/sync?status=failed").status_code == 200
    assert teacher.get(f"/teach/lti/courses/{lms.course_id}/sync?status=bogus").status_code == 400

    failed = next(r for r in rows(app) if r.status == "failed")
    token = csrf_token(teacher, f"/teach/lti/courses/{lms.course_id}/sync")
    response = teacher.post(
        f"/teach/lti/courses/{lms.course_id}/sync/{failed.public_id}/resend",
        data={"csrf_token": token})
    assert response.status_code == 302
    resent = rows(app)[-1]
    assert resent.reason == "resend" and resent.status == "sent"
    assert resent.timestamp > failed.timestamp
    assert lti.platform.grade_of("sub-learner")["scoreGiven"] == 10.0

    before = len(rows(app))
    response = teacher.post(f"/teach/lti/courses/{lms.course_id}/sync/resend-all",
                            data={"csrf_token": token})
    assert response.status_code == 302
    new = rows(app)[before:]
    assert len(new) == 2 and {r.status for r in new} == {"sent"}
    assert all(r.reason == "resend" for r in new)
    kim = [r for r in new if r.score_given != 10.0]
    assert lti.platform.grade_of("sub-learner-2")["scoreGiven"] == kim[0].score_given < 10.0


def test_sync_log_is_only_for_the_courses_instructors(app, lti, client, course, instructor):
    from conftest import login

    lms = Course2(app, lti)
    lms.launch()
    submit(app, "sub-learner", 0)
    row = rows(app)[0]
    # another instructor (the local one, not in the LMS course)
    assert login(client, instructor.email).status_code == 302
    assert client.get(f"/teach/lti/courses/{lms.course_id}/sync").status_code == 404
    token = csrf_token(client, "/teach/")
    assert client.post(f"/teach/lti/courses/{lms.course_id}/sync/{row.public_id}/resend",
                       data={"csrf_token": token}).status_code == 404
    # the row of this course does not resend from another course's page
    assert client.post(f"/teach/lti/courses/{course.public_id}/sync/{row.public_id}/resend",
                       data={"csrf_token": token}).status_code == 404
    # a student
    student = lms.students["learner"]
    assert student.get(f"/teach/lti/courses/{lms.course_id}/sync").status_code == 404


def test_resend_without_csrf_token_is_refused(app, lti):
    lms = Course2(app, lti)
    lms.launch()
    submit(app, "sub-learner", 0)
    response = lms.teacher.post(f"/teach/lti/courses/{lms.course_id}/sync/resend-all")
    assert response.status_code == 400
    assert len(rows(app)) == 1


def test_course_page_links_to_the_sync_log(app, lti):
    lms = Course2(app, lti)
    page = lms.teacher.get(f"/teach/courses/{lms.course_id}").get_data(as_text=True)
    assert f"/teach/lti/courses/{lms.course_id}/sync" in page

