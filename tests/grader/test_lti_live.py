"""End to end over real HTTP: our app served on 127.0.0.1 and the test platform, talking to
each other like an LMS and a tool on the web (the platform fetches our JWKS by URL, the
browser is a requests session with cookies). Login → platform auth → launch → the student
submits in the page → the score arrives at the platform (the background attempt after the
commit). SQLite, and once on PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import re
import threading

import pytest
import requests
from lti_platform import INSTRUCTOR, LEARNER, SCORE_TYPE, Platform, form_of, login_params
from sqlalchemy import select
from werkzeug.serving import make_server

from grader import db
from grader.lti import launch as lti_launch
from grader.lti.models import LtiContext, LtiScore, LtiUser
from grader.models import Course, Item, User
from grader.services import attempts, passback, problem_sets
from problems import kinds

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def live(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config.update(SERVER_NAME=base.split("//", 1)[1], BASE_URL=base, LTI_PASSBACK="thread",
                      LTI_JWKS_REFRESH_COOLDOWN=0.0, LTI_HTTP_TIMEOUT=5.0)
    lti_launch.clear_key_cache()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    passback.wait_for_background()
    server.shutdown()
    server.server_close()


def browser_launch(base: str, platform: Platform, hint: str) -> tuple[requests.Session, str]:
    """A browser: the LMS sends it to our login, we send it to the platform, the platform's
    page posts the id_token back to us. The session and where we sent it."""
    browser = requests.Session()
    started = browser.get(f"{base}/lti/login", params=login_params(platform, hint),
                          allow_redirects=False, timeout=10)
    assert started.status_code == 302, started.text
    auth = browser.get(started.headers["Location"], timeout=10)
    assert auth.status_code == 200, auth.text
    action, fields = form_of(auth.text)
    landed = browser.post(action, data=fields, allow_redirects=False, timeout=10)
    assert landed.status_code == 303, landed.text
    return browser, landed.headers["Location"]


def test_launch_submit_and_the_grade_reaches_the_platform(app, live, instructor):
    with Platform(redirect_uri=f"{live}/lti/launch", tool_jwks=f"{live}/lti/jwks") as platform:
        platform.add_user("teacher", "sub-t", "Ada Teacher", "ada@lms.example", INSTRUCTOR)
        platform.add_user("learner", "sub-l", "Lee Learner", "lee@lms.example", LEARNER)
        with app.app_context():
            from grader.lti import registry

            registry.register(platform.registration(), owner=instructor)

        _teacher, where = browser_launch(live, platform, "teacher")
        assert "/teach/lti/links/" in where
        with app.app_context():
            course = db.session().scalar(select(Course).join(LtiContext))
            ps = problem_sets.publish(problem_sets.create_set(
                course, "Week 1", [{"kind": "output_shape", "difficulty": 1, "points": 10}]))
        spec = platform.launches["default"]
        spec.custom = {"set_id": ps.public_id}
        spec.lineitem = platform.add_line_item("Week 1", 10.0, ps.public_id)

        student, where = browser_launch(live, platform, "learner")
        assert where == f"/sets/{ps.public_id}"
        assert student.get(f"{live}{where}", timeout=10).status_code == 200
        with app.app_context():
            s = db.session()
            user = s.scalar(select(User).join(LtiUser).where(LtiUser.sub == "sub-l"))
            item = s.scalar(select(Item).where(Item.problem_set_id == ps.id))
            answers = kinds.self_test(attempts.problem_for(user, item)).correct
        item_url = f"{live}/sets/{ps.public_id}/items/{item.public_id}"
        page = student.get(item_url, timeout=10)
        data = {f"answers[{pid}]": text for pid, text in answers.items()}
        data.update(attempt="1", csrf_token=CSRF.search(page.text).group(1))
        submitted = student.post(item_url, data=data, allow_redirects=False, timeout=10)
        assert submitted.status_code == 303, submitted.text

        passback.wait_for_background()
        assert not platform.errors, platform.errors
        [record] = [r for r in platform.scores if r.status == 200]
        assert record.content_type == SCORE_TYPE
        assert record.payload["userId"] == "sub-l"
        assert record.payload["scoreGiven"] == 10.0 and record.payload["scoreMaximum"] == 10.0
        assert record.payload["activityProgress"] == "Completed"
        assert record.payload["gradingProgress"] == "FullyGraded"
        with app.app_context():
            row = db.session().scalar(select(LtiScore))
            assert row.status == "sent" and row.timestamp == record.payload["timestamp"]
        # the platform checked our client assertion against our JWKS, fetched over HTTP
        assert len(platform.token_requests) == 1
