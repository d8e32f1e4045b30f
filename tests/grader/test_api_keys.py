"""API keys: the service (format, hash, revocation), the instructor's page (list, create
shown once, revoke; CSRF; instructors of the course only) and the flask commands."""

from __future__ import annotations

import hashlib
import re

import pytest
from conftest import csrf_token, login
from sqlalchemy import select
from test_api_helpers import get, other_course_fixture  # noqa: F401  (fixture)

from grader import db
from grader.api.models import ApiKey
from grader.models import AuditLog
from grader.services import api_keys, courses
from problems.errors import SpecError

KEY = re.compile(r"cnnq_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


def page_url(course) -> str:
    return f"/teach/courses/{course.public_id}/api-keys"


@pytest.fixture
def teacher(client, instructor, course):
    """The course's instructor, signed in."""
    assert login(client, instructor.email).status_code == 302
    return client


# ---------------------------------------------------------------- the service


def test_a_key_is_shown_once_and_stored_only_as_a_hash(app, course, instructor):
    with app.app_context():
        new = api_keys.create_key(course, "  Moodle   sync ", created_by=instructor)
        row = db.session().get(ApiKey, new.key.id)
    assert KEY.fullmatch(new.token)
    public_id, secret = api_keys.parse_token(new.token)
    assert row.public_id == public_id and row.name == "Moodle sync"
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in row.prefix and row.prefix == f"cnnq_{public_id}_…"
    with app.app_context():
        caller = api_keys.authenticate(new.token)
        assert caller.course_id == course.id and caller.key_id == row.id
        assert db.session().scalar(select(AuditLog.action)) == "api_key_created"


@pytest.mark.parametrize(("name", "words"), [("", "is required"), ("x" * 101, "longer than 100")])
def test_a_key_needs_a_short_name(app, course, name, words):
    with app.app_context(), pytest.raises(SpecError) as err:
        api_keys.create_key(course, name)
    assert err.value.path == "name" and words in err.value.message


def test_authentication_refuses_bad_tokens_and_revoked_keys(app, course):
    with app.app_context():
        new = api_keys.create_key(course, "k")
        for token in ("", "cnnq_", new.token + "x", new.token.replace("cnnq_", "cnnx_"),
                      new.token[:-1] + ("A" if new.token[-1] != "A" else "B")):
            with pytest.raises(api_keys.AuthError):
                api_keys.authenticate(token)
        assert api_keys.revoke(new.key) is True
        assert api_keys.revoke(new.key) is False
        with pytest.raises(api_keys.AuthError, match="revoked"):
            api_keys.authenticate(new.token)


def test_keys_are_listed_active_first_then_newest(app, course):
    with app.app_context():
        old = api_keys.create_key(course, "old").key
        api_keys.create_key(course, "middle")
        api_keys.create_key(course, "new")
        api_keys.revoke(old)
        assert [k.name for k in api_keys.keys_of(course)] == ["new", "middle", "old"]


# ---------------------------------------------------------------- the page


def test_the_page_creates_a_key_shown_once_that_works(app, teacher, course):
    page = teacher.get(page_url(course))
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "No key yet" in page.get_data(as_text=True)
    token = csrf_token(teacher, page_url(course))
    created = teacher.post(page_url(course), data={"name": "Canvas", "csrf_token": token})
    # post/redirect/get: the key is shown on the page the form redirects to
    assert created.status_code == 302
    assert created.headers["Location"].endswith(page_url(course) + "#new-key")
    assert not KEY.search(created.get_data(as_text=True))
    html = teacher.get(page_url(course)).get_data(as_text=True)
    key = KEY.search(html).group(0)
    assert "shown only this once" in html and "Key “Canvas” created" in html
    assert get(teacher, "/sets", key).status_code == 200
    # A reload makes no second key and does not show the secret again.
    later = teacher.get(page_url(course)).get_data(as_text=True)
    assert "Canvas" in later and key not in later and key.split("_", 2)[2] not in later
    assert "created" not in later.split("Keys</h2>")[0]
    with app.app_context():
        assert [k.name for k in api_keys.keys_of(course)] == ["Canvas"]


def test_the_new_key_is_not_readable_in_the_session_cookie(app, teacher, course):
    """The session cookie is signed, not encrypted: the key waits in it sealed, and a page
    drawn too late says the key can no longer be shown instead of showing it."""
    token = csrf_token(teacher, page_url(course))
    created = teacher.post(page_url(course), data={"name": "Canvas", "csrf_token": token})
    cookie = created.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    with app.test_request_context():
        data = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert data["new_api_key"]["name"] == "Canvas"
    with app.app_context():
        [key] = api_keys.keys_of(course)
    prefix = f"cnnq_{key.public_id}_"  # the public part: the secret follows it
    for text in (cookie, repr(data)):
        assert not KEY.search(text) and prefix not in text
    # The page shows it (the previous test); once the seal is too old, it does not.
    with app.test_request_context():
        from grader.api import ui

        sealed = ui._cipher().encrypt_at_time(b"cnnq_0123456789abcdef_" + b"x" * 43, 0)
    with teacher.session_transaction() as sess:
        sess["new_api_key"] = {**data["new_api_key"], "sealed": sealed.decode()}
    html = teacher.get(page_url(course)).get_data(as_text=True)
    assert not KEY.search(html) and "created but can no longer be shown" in html
    assert "Revoke it and create another" in html


def test_the_page_refuses_an_empty_name(app, teacher, course):
    token = csrf_token(teacher, page_url(course))
    response = teacher.post(page_url(course), data={"name": "  ", "csrf_token": token})
    assert response.status_code == 422
    assert "The name is required" in response.get_data(as_text=True)
    with app.app_context():
        assert api_keys.keys_of(course) == []


def test_an_active_key_name_is_not_given_twice_in_a_course(app, course, other_course):
    with app.app_context():
        first = api_keys.create_key(course, "Moodle sync")
        with pytest.raises(SpecError) as err:
            api_keys.create_key(course, "  MOODLE   Sync ")
        assert err.value.path == "name" and "already used by an active key" in err.value.message
        api_keys.create_key(other_course, "Moodle sync")  # another course's keys are apart
        api_keys.revoke(first.key, None)
        assert api_keys.create_key(course, "Moodle sync").key.name == "Moodle sync"
        with pytest.raises(SpecError) as err:
            api_keys.create_key(course, "Moodle\x01sync")
        assert "control characters (found U+0001)" in err.value.message


def test_the_page_refuses_a_name_in_use_and_keeps_it_in_the_field(app, teacher, course):
    with app.app_context():
        api_keys.create_key(course, "Canvas")
    token = csrf_token(teacher, page_url(course))
    response = teacher.post(page_url(course), data={"name": "canvas", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The name is already used by an active key of this course" in html
    assert 'value="canvas"' in html
    with app.app_context():
        assert [k.name for k in api_keys.keys_of(course)] == ["Canvas"]


def test_revoking_on_the_page_refuses_the_key_at_its_next_request(app, teacher, course):
    with app.app_context():
        new = api_keys.create_key(course, "Script")
    assert get(teacher, "/sets", new.token).status_code == 200
    url = f"{page_url(course)}/{new.key.public_id}/revoke"
    # The list's Revoke is a link to a confirmation page, not an immediate POST.
    assert url in teacher.get(page_url(course)).get_data(as_text=True)
    confirm = teacher.get(url)
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert "Revoke the key “Script”?" in html and "cannot be undone" in html
    assert 'name="confirm" value="yes"' in html
    # A POST without the confirmation only leads to that page.
    unconfirmed = teacher.post(url, data={"csrf_token": csrf_token(teacher, page_url(course))})
    assert unconfirmed.status_code == 302 and unconfirmed.headers["Location"].endswith(url)
    assert get(teacher, "/sets", new.token).status_code == 200
    response = teacher.post(
        url, data={"csrf_token": csrf_token(teacher, page_url(course)), "confirm": "yes"}
    )
    assert response.status_code == 302
    assert get(teacher, "/sets", new.token).status_code == 401
    page = teacher.get(page_url(course)).get_data(as_text=True)
    assert "revoked" in page and "Revoked" in page


def test_the_page_forms_need_the_csrf_token(app, teacher, course):
    with app.app_context():
        new = api_keys.create_key(course, "Script")
    assert teacher.post(page_url(course), data={"name": "No token"}).status_code == 400
    assert teacher.post(f"{page_url(course)}/{new.key.public_id}/revoke",
                        data={"confirm": "yes"}).status_code == 400
    with app.app_context():
        assert [k.name for k in api_keys.keys_of(course)] == ["Script"]
        assert api_keys.find_key(new.token).revoked_at is None


def test_only_the_courses_instructors_see_its_keys(app, client, course, other_course, student):
    with app.app_context():
        rival = courses.create_user("rival@example.edu", "Rival", "correct horse battery",
                                    is_instructor=True)
        theirs = courses.create_course("X1", "Rival course", rival)
        key = api_keys.create_key(course, "Mine").key
    anonymous = client.get(page_url(course))
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(client, rival.email)
    assert client.get(page_url(course)).status_code == 404
    token = csrf_token(client, page_url(theirs))
    confirmed = {"csrf_token": token, "confirm": "yes"}
    assert client.get(f"{page_url(course)}/{key.public_id}/revoke").status_code == 404
    revoke = client.post(f"{page_url(course)}/{key.public_id}/revoke", data=confirmed)
    assert revoke.status_code == 404
    # Another course's key cannot be revoked through one's own course either.
    assert client.get(f"{page_url(theirs)}/{key.public_id}/revoke").status_code == 404
    revoke = client.post(f"{page_url(theirs)}/{key.public_id}/revoke", data=confirmed)
    assert revoke.status_code == 404
    with app.app_context():
        assert api_keys.find_key(key.public_id).revoked_at is None
    client.post("/logout", data={"csrf_token": token})
    login(client, student.email)
    assert client.get(page_url(course)).status_code == 404


def test_the_course_page_links_to_the_keys(teacher, course):
    html = teacher.get(f"/teach/courses/{course.public_id}").get_data(as_text=True)
    assert page_url(course) in html


# ---------------------------------------------------------------- commands


def test_create_api_key_prints_the_key_once(app, runner, course):
    result = runner.invoke(args=["create-api-key", "CNN101", "Nightly sync"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert KEY.fullmatch(key)
    assert "not shown again" in result.stderr
    with app.app_context():
        assert api_keys.authenticate(key).course_id == course.id


@pytest.mark.parametrize(("args", "words"), [
    (["create-api-key", "NOPE", "x"], "error: course: no course"),
    (["create-api-key", "CNN101", ""], "error: name: is required"),
    (["revoke-api-key", "0123456789abcdef"], "error: KEY_ID: no API key"),
])
def test_key_commands_refuse_with_status_2(runner, course, args, words):
    result = runner.invoke(args=args)
    assert result.exit_code == 2 and words in result.stderr


def test_revoke_api_key_by_id_or_whole_key(app, runner, course):
    with app.app_context():
        first = api_keys.create_key(course, "one")
        second = api_keys.create_key(course, "two")
    result = runner.invoke(args=["revoke-api-key", first.key.public_id])
    assert result.exit_code == 0 and "revoked key" in result.stdout
    result = runner.invoke(args=["revoke-api-key", second.token])
    assert result.exit_code == 0 and "revoked key" in result.stdout
    again = runner.invoke(args=["revoke-api-key", second.key.public_id])
    assert again.exit_code == 0 and "already revoked" in again.stdout
    with app.app_context():
        assert all(k.revoked for k in api_keys.keys_of(course))
