"""Sign-in, sessions, CSRF, rate limits, the role guard and error pages (both engines)."""

from __future__ import annotations

import re
import time

import pytest
from argon2 import PasswordHasher
from conftest import TEST_PASSWORD, csrf_token, login
from sqlalchemy import select, update

from grader import db
from grader.auth import login_required_role
from grader.auth.routes import CSRF_MESSAGE, LOGIN_FAILED
from grader.models import AuditLog, User

SESSION = "session"


@pytest.fixture
def probes(app):
    """Routes guarded by role, and one that fails, added before the first request."""

    def teach_only() -> str:
        return "instructor area"

    def students_only() -> str:
        return "student area"

    def boom() -> str:
        raise RuntimeError("database password is hunter2")

    app.add_url_rule("/_probe/teach", "probe_teach", login_required_role("instructor")(teach_only))
    app.add_url_rule("/_probe/study", "probe_study", login_required_role("student")(students_only))
    app.add_url_rule("/_probe/boom", "probe_boom", boom)
    return app


def _cookie(client) -> str | None:
    cookie = client.get_cookie(SESSION)
    return cookie.value if cookie else None


def _client_with_cookie(app, value: str):
    other = app.test_client()
    other.set_cookie(SESSION, value, domain="localhost")
    return other


def _signed_in(client) -> bool:
    response = client.get("/account/password")
    return response.status_code == 200


# ---------------------------------------------------------------- login


def test_login_sends_instructor_to_teach_and_student_home(client, instructor, student):
    response = login(client, instructor.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/teach/"

    other = client.application.test_client()
    response = login(other, student.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_accepts_email_in_any_case_and_with_spaces(client, student):
    response = login(client, "  Student1@EXAMPLE.edu ")
    assert response.status_code == 302
    assert _signed_in(client)


def test_wrong_password_and_unknown_email_get_the_same_answer(client, student):
    wrong = login(client, student.email, "not the password")
    unknown = login(client, "nobody@example.edu", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert LOGIN_FAILED in response.get_data(as_text=True)
        assert "Location" not in response.headers
    assert not _signed_in(client)


def test_failed_login_is_audited(app, client, student):
    login(client, student.email, "not the password")
    with app.app_context():
        rows = db.session().scalars(select(AuditLog).where(AuditLog.action == "login_failed")).all()
        assert [row.user_id for row in rows] == [student.id]


def test_login_page_keeps_the_typed_email_but_never_the_password(client, student):
    response = login(client, student.email, "my-secret-guess")
    html = response.get_data(as_text=True)
    assert f'value="{student.email}"' in html
    assert "my-secret-guess" not in html


def test_signed_in_user_visiting_login_goes_home(client, instructor):
    login(client, instructor.email)
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/teach/"


@pytest.mark.parametrize("target, expected", [
    ("/account/password", "/account/password"),
    ("/account/password?x=1", "/account/password?x=1"),
    ("https://evil.example/phish", "/"),
    ("//evil.example/phish", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("http://[evil.example/phish", "/"),  # no valid host: no URL at all (it was a 500)
    ("//[evil.example", "/"),
])
def test_next_only_ever_leads_to_a_local_page(client, student, target, expected):
    assert client.get("/login", query_string={"next": target}).status_code == 200
    response = login(client, student.email, next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_password_hashed_with_old_costs_is_rehashed_at_login(app, client, student):
    with app.app_context():
        with db.transaction() as s:
            user = s.get(User, student.id)
            user.password_hash = PasswordHasher(time_cost=3, memory_cost=2048).hash(TEST_PASSWORD)
    assert login(client, student.email).status_code == 302
    with app.app_context():
        new_hash = db.session().get(User, student.id).password_hash
    assert "m=1024,t=1" in new_hash  # the test config's costs


def test_user_without_password_cannot_sign_in(app, client):
    from grader.services import courses

    with app.app_context():
        courses.create_user("nopass@example.edu", "No Pass")
    assert login(client, "nopass@example.edu", "").status_code == 422  # "Enter your password."
    assert login(client, "nopass@example.edu", "anything at all").status_code == 401
    assert not _signed_in(client)


def _field_errors(response) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([\w]+)-error">([^<]*)</p>',
                           response.get_data(as_text=True)))


def test_an_empty_sign_in_field_is_named_and_is_no_failed_attempt(app, client, student):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "2 per minute"
    for _ in range(3):
        both = login(client, "  ", "")
        assert both.status_code == 422
        assert _field_errors(both) == {"email": "Enter your email.", "password": "Enter your password."}
        assert LOGIN_FAILED not in both.get_data(as_text=True)
        no_password = login(client, student.email, "")
        assert _field_errors(no_password) == {"password": "Enter your password."}
        html = no_password.get_data(as_text=True)
        assert f'value="{student.email}"' in html
        assert re.search(r'<input id="password"[^>]*autofocus[^>]*aria-describedby="password-error"', html)
        assert _field_errors(login(client, "", TEST_PASSWORD)) == {"email": "Enter your email."}
    with app.app_context():
        assert db.session().scalar(select(AuditLog).where(AuditLog.action == "login_failed")) is None
    assert login(client, student.email).status_code == 302  # the limits are untouched


# ---------------------------------------------------------------- sessions


def test_login_replaces_the_session_and_a_planted_cookie_stays_anonymous(app, client, student):
    client.get("/login")
    planted = _cookie(client)
    assert planted
    assert login(client, student.email).status_code == 302
    assert _cookie(client) != planted
    assert _signed_in(client)
    assert not _signed_in(_client_with_cookie(app, planted))


def test_logout_revokes_a_replayed_cookie(app, client, student):
    login(client, student.email)
    stolen = _cookie(client)
    assert _signed_in(_client_with_cookie(app, stolen))

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/account/password")})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not _signed_in(client)
    replay = _client_with_cookie(app, stolen).get("/account/password")
    assert replay.status_code == 302
    assert replay.headers["Location"].startswith("/login?next=")


def test_logout_signs_out_this_browser_only(app, client, student):
    """Another device stays signed in; a copy of the signed-out cookie does not."""
    other = app.test_client()
    login(other, student.email)
    login(client, student.email)
    copy = _cookie(client)
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/account/password")})
    assert response.status_code == 302 and not _signed_in(client)
    assert not _signed_in(_client_with_cookie(app, copy))
    assert _signed_in(other)
    # Signing in again on this browser is a new session, not the signed-out one.
    login(client, student.email)
    assert _signed_in(client) and _signed_in(other)


def test_logout_everywhere_signs_out_every_session(app, client, student):
    other = app.test_client()
    login(other, student.email)
    login(client, student.email)
    response = client.post("/logout", data={
        "csrf_token": csrf_token(client, "/account/password"), "everywhere": "1"})
    assert response.status_code == 302
    assert not _signed_in(client) and not _signed_in(other)
    assert "signed out on every device" in client.get("/login").get_data(as_text=True)
    with app.app_context():
        assert db.session().get(User, student.id).signed_out_sessions == ""


def test_signed_out_sessions_too_old_to_sign_in_are_forgotten(app, client, student):
    with app.app_context():
        user = db.session().get(User, student.id)
        with db.transaction():
            user.signed_out_sessions = " ancient@1000 recent@" + str(int(time.time()) - 60)
    login(client, student.email)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/password")})
    with app.app_context():
        entries = db.session().get(User, student.id).signed_out_sessions.split()
    assert [e.split("@")[0] for e in entries][:1] == ["recent"] and len(entries) == 2


def test_two_sign_outs_at_once_both_count(app, client, student):
    """The list is replaced only if unchanged since read: a concurrent sign-out's entry,
    written in between, is kept (the second one appends)."""
    from grader.auth.routes import _sign_out_session

    with app.test_request_context():
        user = db.session().scalar(select(User).where(User.id == student.id))
        assert user.signed_out_sessions == ""  # read before the other worker writes
        with app.extensions["engine"].begin() as conn:  # another worker signs out meanwhile
            conn.execute(update(User).where(User.id == student.id).values(
                signed_out_sessions=" first@" + str(int(time.time()))))
        _sign_out_session(user, "second")  # its "" is stale: the entry is appended
    with app.app_context():
        text = db.session().get(User, student.id).signed_out_sessions
    assert " first@" in text and " second@" in text


def test_logout_page_asks_before_signing_out(client, student):
    login(client, student.email)
    response = client.get("/logout")
    assert response.status_code == 200
    assert 'action="/logout"' in response.get_data(as_text=True)
    assert _signed_in(client)


def test_logout_without_csrf_token_is_refused(client, student):
    login(client, student.email)
    assert client.post("/logout").status_code == 400
    assert _signed_in(client)


def test_password_change_signs_out_other_sessions_only(app, client, student):
    login(client, student.email)
    laptop = app.test_client()
    login(laptop, student.email)
    assert _signed_in(laptop)

    new_password = "a brand new passphrase"
    response = client.post("/account/password", data={
        "current_password": TEST_PASSWORD, "new_password": new_password,
        "confirm_password": new_password, "csrf_token": csrf_token(client, "/account/password"),
    })
    assert response.status_code == 302
    assert _signed_in(client)
    assert not _signed_in(laptop)

    fresh = app.test_client()
    assert login(fresh, student.email, TEST_PASSWORD).status_code == 401
    assert login(fresh, student.email, new_password).status_code == 302


@pytest.mark.parametrize("form, field, message", [
    ({"current_password": "wrong guess!", "new_password": "long enough pw", "confirm_password": "long enough pw"},
     "current_password", "This is not your current password."),
    ({"current_password": "", "new_password": "long enough pw", "confirm_password": "long enough pw"},
     "current_password", "Enter your current password."),
    ({"current_password": TEST_PASSWORD, "new_password": "", "confirm_password": ""},
     "new_password", "Enter a new password."),
    ({"current_password": TEST_PASSWORD, "new_password": "short", "confirm_password": "short"},
     "new_password", "at least 8 characters"),
    ({"current_password": TEST_PASSWORD, "new_password": "long enough pw", "confirm_password": "long enough pX"},
     "confirm_password", "not the same"),
    ({"current_password": TEST_PASSWORD, "new_password": TEST_PASSWORD, "confirm_password": TEST_PASSWORD},
     "new_password", "must differ"),
])
def test_password_change_names_the_bad_field(client, student, form, field, message):
    login(client, student.email)
    response = client.post("/account/password",
                           data={**form, "csrf_token": csrf_token(client, "/account/password")})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert message in html
    assert _signed_in(client)


def test_an_empty_current_password_is_no_failed_attempt(client, student):
    """The password page allows 10 wrong current passwords an hour; an empty one is none."""
    login(client, student.email)
    token = csrf_token(client, "/account/password")
    for _ in range(11):
        response = client.post("/account/password", data={
            "current_password": "", "new_password": "long enough pw",
            "confirm_password": "long enough pw", "csrf_token": token})
        assert response.status_code == 422
        assert _field_errors(response) == {"current_password": "Enter your current password."}
    response = client.post("/account/password", data={
        "current_password": TEST_PASSWORD, "new_password": "long enough pw",
        "confirm_password": "long enough pw", "csrf_token": token})
    assert response.status_code == 302


def _set_for(app, user, password: str, **options) -> None:
    """`user`'s password set by someone else (an instructor's reset, by default)."""
    from grader.services import courses

    with app.app_context():
        courses.set_password(db.session().get(User, user.id), password, **options)


def _must_change(app, user) -> bool:
    with app.app_context():
        return db.session().get(User, user.id).must_change_password


def test_a_password_someone_else_set_is_replaced_before_anything_else(app, client, student):
    _set_for(app, student, "set by the teacher")
    assert _must_change(app, student)
    response = login(client, student.email, "set by the teacher", next_url="/sets/x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/password"
    page = client.get("/account/password").get_data(as_text=True)
    assert 'id="own-password-first"' in page and "choose your own to continue" in page
    # Every other page leads there; a JSON request is told why; signing out still works.
    for path in ("/", "/teach/", "/sets/x"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/account/password", path
    refused = client.get("/", headers={"Accept": "application/json"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["path"] == "password"
    assert client.get("/logout").status_code == 200

    new_password = "my very own passphrase"
    response = client.post("/account/password", data={
        "current_password": "set by the teacher", "new_password": new_password,
        "confirm_password": new_password, "csrf_token": csrf_token(client, "/account/password"),
    })
    # on to where they were going when they signed in
    assert response.status_code == 302 and response.headers["Location"] == "/sets/x"
    assert not _must_change(app, student)
    assert client.get("/").status_code == 200
    assert 'id="own-password-first"' not in client.get("/account/password").get_data(as_text=True)
    assert login(app.test_client(), student.email, new_password).headers["Location"] == "/"


def test_a_wrong_answer_on_the_password_page_keeps_the_user_there(app, client, student):
    _set_for(app, student, "set by the teacher")
    login(client, student.email, "set by the teacher")
    response = client.post("/account/password", data={
        "current_password": "set by the teacher", "new_password": "short",
        "confirm_password": "short", "csrf_token": csrf_token(client, "/account/password"),
    })
    assert response.status_code == 422
    assert 'id="own-password-first"' in response.get_data(as_text=True)
    assert _must_change(app, student)
    assert client.get("/").headers["Location"] == "/account/password"


def test_only_a_password_sign_in_is_held_back(app, client, student):
    # An LTI launch signs a user in without a password: such a session is not held back
    # (the password the instructor set is not what it was opened with).
    from grader.auth.routes import PASSWORD_SIGN_IN

    _set_for(app, student, "set by the teacher")
    login(client, student.email, "set by the teacher")
    with client.session_transaction() as s:
        s.pop(PASSWORD_SIGN_IN)
    assert client.get("/").status_code == 200


def test_a_reset_for_ones_own_account_need_not_be_changed(app, client, student):
    _set_for(app, student, "kept as it is", must_change=False)
    assert login(client, student.email, "kept as it is").headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_password_page_needs_a_signed_in_user(client):
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account/password"


def test_anonymous_json_request_gets_401_json(client):
    response = client.get("/account/password", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.get_json()["error"]["status"] == 401


# ---------------------------------------------------------------- CSRF


def test_form_post_without_csrf_token_is_400_with_a_clear_message(client, student):
    response = client.post("/login", data={"email": student.email, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert CSRF_MESSAGE in response.get_data(as_text=True)
    assert not _signed_in(client)


def test_csrf_token_from_another_session_is_refused(app, client, student):
    foreign = csrf_token(app.test_client(), "/login")
    response = client.post("/login", data={"email": student.email, "password": TEST_PASSWORD,
                                           "csrf_token": foreign})
    assert response.status_code == 400


def test_fetch_without_csrf_header_gets_json_400(client, student):
    login(client, student.email)
    response = client.post("/logout", json={}, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == CSRF_MESSAGE


def test_every_page_exposes_the_csrf_token_for_fetch(client, student):
    login(client, student.email)
    html = client.get("/account/password").get_data(as_text=True)
    assert '<meta name="csrf-token" content="' in html


# ---------------------------------------------------------------- rate limits


def test_failed_logins_from_one_address_hit_429_with_retry_after(app, client, student):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    statuses = [login(client, f"user{i}@example.edu", "wrong password").status_code for i in range(3)]
    assert statuses == [401, 401, 401]
    blocked = login(client, student.email)  # even the right password waits now
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 61
    assert "Too many failed sign-in attempts" in blocked.get_data(as_text=True)


def test_failed_logins_for_one_account_are_limited_across_addresses(app, student, other_student):
    app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "2 per minute"
    for i in range(2):
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = f"10.0.0.{i + 1}"
        assert login(c, student.email, "wrong password").status_code == 401
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert login(c, student.email).status_code == 429
    assert login(c, other_student.email).status_code == 302


def test_successful_logins_do_not_use_up_the_limit(app, student):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    for _ in range(4):
        assert login(app.test_client(), student.email).status_code == 302


# ---------------------------------------------------------------- roles


def test_role_guard_sends_anonymous_users_to_login_with_next(probes, client):
    response = client.get("/_probe/teach?tab=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/_probe/teach?tab%3D2"


def test_role_guard_answers_404_to_the_wrong_role_and_audits_it(probes, client, student, instructor):
    login(client, student.email)
    assert client.get("/_probe/study").status_code == 200
    denied = client.get("/_probe/teach")
    assert denied.status_code == 404
    assert "instructor area" not in denied.get_data(as_text=True)
    with probes.app_context():
        row = db.session().scalar(select(AuditLog).where(AuditLog.action == "access_denied"))
        assert row is not None and row.user_id == student.id and "/_probe/teach" in row.detail

    teacher = probes.test_client()
    login(teacher, instructor.email)
    assert teacher.get("/_probe/teach").status_code == 200
    assert teacher.get("/_probe/study").status_code == 404


def test_role_guard_rejects_unknown_roles():
    with pytest.raises(ValueError):
        login_required_role("admin")


# ---------------------------------------------------------------- headers and errors


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Request-Id"]
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_unexpected_error_shows_a_generic_page_without_details(probes, client):
    response = client.get("/_probe/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong on our side" in html
    assert response.headers["X-Request-Id"] in html
    assert "hunter2" not in html and "Traceback" not in html and "RuntimeError" not in html


def test_unexpected_error_as_json_carries_the_request_id(probes, client):
    response = client.get("/_probe/boom", headers={"Accept": "application/json", "X-Request-Id": "abc123"})
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"]["request_id"] == "abc123"
    assert "hunter2" not in response.get_data(as_text=True)


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "nothing here" in response.get_data(as_text=True)
