"""The LTI pages under /teach/lti (tool URLs, platform registration, a link's set) and the
LTI flask commands (register, tool URLs, key rotation), on both engines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jwt
import pytest
from conftest import csrf_token, login
from lti_platform import INSTRUCTOR, LEARNER, Harness, Platform
from sqlalchemy import func, select

from grader import db
from grader.lti import keys, registry
from grader.lti.models import LtiContext, LtiKey, LtiPlatform, LtiResourceLink, LtiUser
from grader.models import Course, User, utcnow
from grader.services import courses, problem_sets

FORM = {
    "name": "University Canvas",
    "issuer": "https://canvas.instructure.com",
    "client_id": "10000000000042",
    "auth_login_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "token_url": "https://canvas.example.edu/login/oauth2/token",
    "key_set_url": "https://sso.canvaslms.com/api/lti/security/jwks",
    "token_audience": "",
    "deployment_ids": "1:abc\n2:def\n1:abc",
}


@pytest.fixture
def teacher(app, client, instructor):
    assert login(client, instructor.email).status_code == 302
    return client


def post_form(client, path, **changes):
    data = {**FORM, **changes, "csrf_token": csrf_token(client, "/teach/lti/")}
    return client.post(path, data={k: v for k, v in data.items() if v is not None})


# ---------------------------------------------------------------- pages


def test_the_tool_page_shows_every_url_to_paste(app, teacher):
    app.config["BASE_URL"] = "https://quiz.example.edu/"
    page = teacher.get("/teach/lti/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    for url in ("https://quiz.example.edu/lti/login", "https://quiz.example.edu/lti/launch",
                "https://quiz.example.edu/lti/jwks", "https://quiz.example.edu/lti/canvas.json"):
        assert f'value="{url}"' in text
    with app.app_context():
        kid = db.session().scalar(select(LtiKey.kid))
    assert kid and kid in text
    assert "/lti/static/copy.js" in text and "<script>" not in text


def test_lti_pages_are_for_instructors(app, client, student):
    assert client.get("/teach/lti/").status_code == 302  # to the login page
    assert login(client, student.email).status_code == 302
    assert client.get("/teach/lti/").status_code == 404
    assert client.get("/teach/lti/platforms/new").status_code == 404


def test_register_a_platform_with_the_form(app, teacher, instructor):
    assert teacher.get("/teach/lti/platforms/new").status_code == 200
    response = post_form(teacher, "/teach/lti/platforms/new")
    assert response.status_code == 302
    with app.app_context():
        platform = db.session().scalar(select(LtiPlatform))
        assert platform.owner_id == instructor.id and platform.course_id is None
        assert platform.deployment_ids == ["1:abc", "2:def"]
        assert platform.token_audience is None
    page = teacher.get("/teach/lti/").get_data(as_text=True)
    assert "University Canvas" in page and "10000000000042" in page


@pytest.mark.parametrize("changes, field, message", [
    ({"issuer": ""}, "issuer", "Issuer is required."),
    ({"issuer": "not a url"}, "issuer", "Issuer: &#39;not a url&#39; is not an absolute"),
    ({"issuer": "https://lms.example.edu/?x=1"}, "issuer", "must not have a query"),
    ({"client_id": "  "}, "client_id", "Client ID is required."),
    ({"auth_login_url": "http://lms.example.edu/auth"}, "auth_login_url",
     "Authentication request URL must use https"),
    ({"token_url": "not a url"}, "token_url", "Access token URL: &#39;not a url&#39; is not an absolute"),
    ({"key_set_url": "ftp://lms.example.edu/jwks"}, "key_set_url", "not an absolute"),
    ({"key_set_url": "https://[lms.example.edu/jwks"}, "key_set_url", "Public keyset URL: "),
    ({"token_url": "https://lms.example.edu:99999/token"}, "token_url", "not a valid URL"),
    ({"deployment_ids": "\n \n"}, "deployment_ids", "Deployment IDs: enter at least one."),
    ({"deployment_ids": "1\n" + "x" * 256}, "deployment_ids",
     "Deployment IDs: one is longer than 255 characters."),
    ({"name": "Canvas\tprod"}, "name", "Name must be on one line."),
    ({"course": "not-mine"}, "course", "Course: choose one of your courses"),
])
def test_registration_errors_are_shown_beside_the_field(app, teacher, changes, field, message):
    response = post_form(teacher, "/teach/lti/platforms/new", **changes)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    shown = re.search(rf'<p class="field-error" id="error-{field}">([^<]*)</p>', text)
    assert shown and message in shown.group(1), text[-3000:]
    assert shown.group(1).endswith(".")
    with app.app_context():
        assert db.session().scalar(select(LtiPlatform)) is None


def test_an_empty_registration_names_every_missing_field_at_once(app, teacher):
    response = teacher.post("/teach/lti/platforms/new",
                            data={"csrf_token": csrf_token(teacher, "/teach/lti/platforms/new")})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    fields = ("issuer", "client_id", "auth_login_url", "token_url", "key_set_url",
              "deployment_ids")
    for field in fields:
        assert f'id="error-{field}"' in text, field
    assert f"Nothing was saved: {len(fields)} fields need attention" in text
    assert 'id="error-name"' not in text and 'id="error-token_audience"' not in text
    # Each message a sentence naming its field, as the other forms say it.
    shown = dict(re.findall(r'<p class="field-error" id="error-(\w+)">([^<]*)</p>', text))
    assert shown == {
        "issuer": "Issuer is required.",
        "client_id": "Client ID is required.",
        "auth_login_url": "Authentication request URL is required.",
        "token_url": "Access token URL is required.",
        "key_set_url": "Public keyset URL is required.",
        "deployment_ids": "Deployment IDs: enter at least one.",
    }


def test_the_optional_fields_of_the_platform_form_say_so(teacher):
    text = teacher.get("/teach/lti/platforms/new").get_data(as_text=True)
    assert '<label for="name">Name (optional)</label>' in text
    assert '<label for="token_audience">Token audience (optional)</label>' in text
    for required in ("issuer", "client_id", "auth_login_url", "token_url", "key_set_url",
                     "deployment_ids"):
        label = re.search(rf'<label for="{required}">([^<]*)</label>', text)
        assert label and "optional" not in label.group(1), required


def test_a_registration_is_unique_per_issuer_and_client_id(app, teacher):
    assert post_form(teacher, "/teach/lti/platforms/new").status_code == 302
    response = post_form(teacher, "/teach/lti/platforms/new")
    assert response.status_code == 422
    assert b"Client ID: this issuer and client id are already registered." in response.data
    assert post_form(teacher, "/teach/lti/platforms/new", client_id="other").status_code == 302


def test_http_is_accepted_for_loopback_platforms_only(app, teacher):
    local = {k: v.replace("https://sso.canvaslms.com", "http://127.0.0.1:8080")
             for k, v in FORM.items() if k.endswith("url")}
    assert post_form(teacher, "/teach/lti/platforms/new", **local).status_code == 302


def test_edit_and_delete_a_platform(app, teacher, instructor):
    with app.app_context():
        course = courses.create_course("CNN200", "Advanced", instructor)
    post_form(teacher, "/teach/lti/platforms/new")
    with app.app_context():
        platform_id = db.session().scalar(select(LtiPlatform.public_id))
    path = f"/teach/lti/platforms/{platform_id}"
    page = teacher.get(path).get_data(as_text=True)
    assert "1:abc\n2:def" in page
    response = post_form(teacher, path, deployment_ids="3:xyz", course=course.public_id,
                         token_audience="https://canvas.instructure.com/login/oauth2/token")
    assert response.status_code == 302
    with app.app_context():
        platform = db.session().scalar(select(LtiPlatform))
        assert platform.deployment_ids == ["3:xyz"] and platform.course_id == course.id
        assert platform.token_audience.endswith("/oauth2/token")
    token = csrf_token(teacher, path)
    refused = teacher.post(f"{path}/delete", data={"csrf_token": token, "confirm": "wrong"})
    assert refused.status_code == 302
    with app.app_context():
        assert db.session().scalar(select(LtiPlatform)) is not None
    teacher.post(f"{path}/delete", data={"csrf_token": token, "confirm": FORM["client_id"]})
    with app.app_context():
        assert db.session().scalar(select(LtiPlatform)) is None


def test_another_instructors_platform_is_a_404(app, client, teacher):
    post_form(teacher, "/teach/lti/platforms/new")
    with app.app_context():
        platform_id = db.session().scalar(select(LtiPlatform.public_id))
        courses.create_user("other@example.edu", "Other Teacher", "correct horse battery",
                            is_instructor=True)
    other = client.application.test_client()
    assert login(other, "other@example.edu").status_code == 302
    assert other.get(f"/teach/lti/platforms/{platform_id}").status_code == 404
    token = csrf_token(other, "/teach/lti/")
    assert other.post(f"/teach/lti/platforms/{platform_id}/delete",
                      data={"csrf_token": token, "confirm": FORM["client_id"]}).status_code == 404
    assert "University Canvas" not in other.get("/teach/lti/").get_data(as_text=True)


def test_canvas_configuration_json(client, app):
    app.config["BASE_URL"] = "https://quiz.example.edu"
    body = client.get("/lti/canvas.json").get_json()
    assert body["oidc_initiation_url"] == "https://quiz.example.edu/lti/login"
    assert body["target_link_uri"] == "https://quiz.example.edu/lti/launch"
    assert body["public_jwk_url"] == "https://quiz.example.edu/lti/jwks"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in body["scopes"]
    placements = body["extensions"][0]["settings"]["placements"]
    assert {p["placement"] for p in placements} == {"assignment_selection", "link_selection"}
    assert all(p["message_type"] == "LtiDeepLinkingRequest" for p in placements)


# ---------------------------------------------------------------- a link's problem set


def test_an_instructor_chooses_the_set_of_a_new_lms_link(app, instructor):
    with Platform() as platform:
        platform.add_user("teacher", "sub-t", "Ada Teacher", "ada@lms.example", INSTRUCTOR)
        platform.add_user("learner", "sub-l", "Lee Learner", None, LEARNER)
        harness = Harness(app, platform)
        harness.register(owner=instructor)
        teacher = app.test_client()
        response = harness.launch(teacher, "teacher")
        link_page = response.headers["Location"]
        assert link_page.startswith("/teach/lti/links/")
        page = teacher.get(link_page)
        assert page.status_code == 200 and b"has no problem set yet" in page.data
        with app.app_context():
            link = db.session().scalar(select(LtiResourceLink))
            course = link.context.course
            ps = problem_sets.publish(problem_sets.create_set(
                course, "Pooling", [{"kind": "output_shape", "difficulty": 1, "points": 4}]))
        token = csrf_token(teacher, link_page)
        bad = teacher.post(link_page, data={"csrf_token": token, "set_id": "nope"})
        assert bad.status_code == 422
        chosen = teacher.post(link_page, data={"csrf_token": token, "set_id": ps.public_id})
        assert chosen.headers["Location"] == f"/teach/sets/{ps.public_id}"
        student = app.test_client()
        assert harness.launch(student, "learner").headers["Location"] == f"/sets/{ps.public_id}"
        # not the page of another instructor
        stranger = app.test_client()
        assert login(stranger, instructor.email).status_code == 302
        assert stranger.get(link_page).status_code == 404
        # deleting the registration drops the LMS mappings; the course and people stay
        with app.app_context():
            registry.remove(registry.find(platform.issuer)[0])
            s = db.session()
            assert s.scalar(select(LtiResourceLink)) is None
            assert s.scalar(select(func.count()).select_from(LtiUser)) == 0
            assert s.get(Course, course.id) is not None
            assert s.scalar(select(func.count()).select_from(User)) == 3


# ---------------------------------------------------------------- commands


def test_register_platform_command_and_adding_deployments(app, runner, instructor):
    args = ["lti-register-platform", "--issuer", "https://moodle.example.edu",
            "--client-id", "AbC123", "--auth-url", "https://moodle.example.edu/mod/lti/auth.php",
            "--token-url", "https://moodle.example.edu/mod/lti/token.php",
            "--jwks-url", "https://moodle.example.edu/mod/lti/certs.php",
            "--deployment", "4", "--owner", instructor.email, "--name", "Moodle"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "registered platform" in result.output and "/lti/login" in result.output
    result = runner.invoke(args=[*args[:-6], "--deployment", "5"])
    assert result.exit_code == 0 and "updated platform" in result.output
    with app.app_context():
        [platform] = registry.find("https://moodle.example.edu")
        assert platform.deployment_ids == ["4", "5"] and platform.owner_id == instructor.id
    listed = runner.invoke(args=["lti-platforms"])
    assert json.loads(listed.output.splitlines()[0])["client_id"] == "AbC123"


@pytest.mark.parametrize("changes, expected", [
    ({"--jwks-url": "http://moodle.example.edu/certs.php"}, "error: key_set_url: must use https"),
    ({"--owner": "nobody@example.edu"}, "error: owner: no instructor"),
    ({"--course": "NOPE"}, "error: course: no course"),
])
def test_register_platform_command_errors(app, runner, changes, expected):
    options = {"--issuer": "https://lms.example.edu", "--client-id": "c",
               "--auth-url": "https://lms.example.edu/auth",
               "--token-url": "https://lms.example.edu/token",
               "--jwks-url": "https://lms.example.edu/jwks", "--deployment": "1"}
    options.update(changes)
    result = runner.invoke(args=["lti-register-platform",
                                 *[x for kv in options.items() for x in kv]])
    assert result.exit_code == 2 and expected in result.output
    with app.app_context():
        assert registry.find("https://lms.example.edu") == []


def test_key_rotation_keeps_old_keys_published_until_dropped(app, client, runner):
    first = client.get("/lti/jwks").get_json()["keys"][0]["kid"]
    result = runner.invoke(args=["lti-rotate-key"])
    assert result.exit_code == 0, result.output
    kids = [k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]]
    assert len(kids) == 2 and first in kids
    with app.app_context(), db.transaction() as s:
        token = keys.sign(s, {"iss": "x"})
    assert jwt.get_unverified_header(token)["kid"] == kids[1] != first
    # "--": a kid (a base64url thumbprint) starts with "-" once in 64 keys
    assert runner.invoke(args=["lti-drop-key", "--", kids[1]]).exit_code == 2  # the signing key
    assert runner.invoke(args=["lti-drop-key", "--", first]).exit_code == 0
    assert [k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]] == [kids[1]]


def _verify(app, client, token: str) -> dict:
    """The claims of `token`, verified with the key of our JWKS its header names."""
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [k for k in client.get("/lti/jwks").get_json()["keys"] if k["kid"] == kid]
    public = jwt.PyJWK(jwk).key
    return jwt.decode(token, public, algorithms=["RS256"], options={"verify_aud": False})


def test_the_private_key_is_stored_encrypted_and_signs(app, client):
    with app.app_context(), db.transaction() as s:
        token = keys.sign(s, {"iss": "x"})
        stored = s.scalar(select(LtiKey.private_pem))
    assert stored.startswith(keys.ENCRYPTED) and "PRIVATE KEY" not in stored
    assert _verify(app, client, token) == {"iss": "x"}


def test_a_key_stored_in_clear_is_encrypted_when_it_next_signs(app, client):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    made = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = made.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")
    jwk = keys.public_jwk(made)
    retired = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    old = keys.public_jwk(retired)
    with app.app_context(), db.transaction() as s:  # as an earlier version stored them
        s.add(LtiKey(kid=old["kid"], public_jwk=old, retired_at=utcnow(), private_pem=(
            retired.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode("ascii"))))
        s.add(LtiKey(kid=jwk["kid"], private_pem=pem, public_jwk=jwk))
    with app.app_context(), db.transaction() as s:
        token = keys.sign(s, {"iss": "y"})
    with app.app_context():
        stored = db.session().scalars(select(LtiKey.private_pem)).all()
    assert len(stored) == 2  # the retired key is sealed as well
    assert all(k.startswith(keys.ENCRYPTED) and "PRIVATE KEY" not in k for k in stored)
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    assert _verify(app, client, token) == {"iss": "y"}
    with app.app_context(), db.transaction() as s:  # and it still signs once encrypted
        assert _verify(app, client, keys.sign(s, {"iss": "z"})) == {"iss": "z"}


def test_another_secret_key_cannot_sign_until_a_new_key_is_made(app, client, runner):
    with app.app_context(), db.transaction() as s:
        keys.sign(s, {"iss": "x"})
    app.config["SECRET_KEY"] = "another secret key entirely"
    with app.app_context(), db.transaction() as s, pytest.raises(keys.KeyUnreadable) as refused:
        keys.sign(s, {"iss": "x"})
    assert "cannot be decrypted with this SECRET_KEY" in str(refused.value)
    assert "flask lti-rotate-key" in str(refused.value)
    assert runner.invoke(args=["lti-rotate-key"]).exit_code == 0
    with app.app_context(), db.transaction() as s:
        assert _verify(app, client, keys.sign(s, {"iss": "x"})) == {"iss": "x"}


def test_tool_urls_command(app, runner):
    app.config["BASE_URL"] = "https://quiz.example.edu"
    output = runner.invoke(args=["lti-tool-urls"]).output
    assert "https://quiz.example.edu/lti/login" in output
    assert "https://quiz.example.edu/lti/jwks" in output


def test_base_url_is_where_run_sh_last_served_the_instance(tmp_path, monkeypatch):
    from grader import config

    monkeypatch.setattr(config, "INSTANCE", tmp_path)
    monkeypatch.delenv("BASE_URL", raising=False)
    assert config.Config().BASE_URL == "http://127.0.0.1:5000"  # never served
    (tmp_path / "base_url").write_text("http://127.0.0.1:5102\n")  # as scripts/run.sh writes it
    assert config.Config().BASE_URL == "http://127.0.0.1:5102"
    monkeypatch.setenv("BASE_URL", "https://quiz.example.edu")  # the environment comes first
    assert config.Config().BASE_URL == "https://quiz.example.edu"
    script = (Path(__file__).resolve().parents[2] / "scripts" / "run.sh").read_text()
    assert '> "$GRADER_INSTANCE/base_url"' in script


def test_the_registering_admin_is_told_whose_lms_courses_theirs_are(app, teacher, instructor):
    assert post_form(teacher, "/teach/lti/platforms/new").status_code == 302
    text = teacher.get("/teach/lti/").get_data(as_text=True)
    assert "No course of yours is linked" in text and "linked through your platforms" not in text
    with app.app_context():  # an LMS instructor's first launch made a course of theirs
        lms_teacher = courses.create_user("lms-teacher@lti.invalid", "LMS Teacher", is_instructor=True)
        theirs = courses.create_course("DL101", "Deep learning", lms_teacher)
        with db.transaction() as s:
            platform = s.scalar(select(LtiPlatform))
            s.add(LtiContext(platform_id=platform.id, context_id="ctx-1", course_id=theirs.id))
    text = " ".join(teacher.get("/teach/lti/").get_data(as_text=True).split())
    assert "1 course linked through your platforms belongs to the LMS instructors" in text
    assert "choose it in the platform" in text
