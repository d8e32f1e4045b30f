"""LTI Dynamic Registration against the test platform over real HTTP: an instructor's link,
the platform's OpenID configuration, our client registration, the stored platform, a launch
with the client id and deployment id the platform gave; and each refusal, which stores
nothing and (except for the link's own refusals) leaves the link usable again. Both engines."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import csrf_token, login
from lti_platform import (  # noqa: F401  (the *_fixture names are fixtures)
    SCOPE_SCORE,
    Harness,
    platform_fixture,
)
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from grader import db
from grader.lti import dynamic
from grader.lti.models import LtiContext, LtiPlatform, LtiRegistrationLink
from grader.models import AuditLog, utcnow

TOOL = "https://purl.imsglobal.org/spec/lti-tool-configuration"


@pytest.fixture
def teacher(app, client, instructor):
    assert login(client, instructor.email).status_code == 302
    return client


@pytest.fixture
def harness(app, platform) -> Harness:
    return Harness(app, platform)  # the test settings and our key set, nothing registered


def make_link(teacher, course=None) -> str:
    """The registration URL the instructor's page shows (once)."""
    data = {"csrf_token": csrf_token(teacher, "/teach/lti/"), "course": course or ""}
    response = teacher.post("/teach/lti/registration-links", data=data)
    assert response.status_code == 200, response.get_data(as_text=True)
    found = re.search(r'id="registration-url" type="text" value="([^"]+)"',
                      response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)
    return found.group(1)


def open_link(client, url: str, platform, **params):
    """What the LMS does: open the link with its configuration URL and registration token."""
    query = {"openid_configuration": platform.openid_configuration_url,
             "registration_token": platform.registration_token, **params}
    return client.get(url.replace("http://localhost", ""),
                      query_string={k: v for k, v in query.items() if v is not None},
                      headers={"Accept": "text/html"})


def platforms(app) -> list[LtiPlatform]:
    with app.app_context():
        return list(db.session().scalars(
            select(LtiPlatform).options(selectinload(LtiPlatform.deployments))))


def refusal(response) -> str:
    text = response.get_data(as_text=True)
    found = re.search(r"Reason: <code>([a-z_]+)</code>", text)
    assert found, text
    return found.group(1)


def test_the_lms_registers_the_tool_and_its_launches_then_work(app, teacher, instructor,
                                                                 harness, platform):
    url = make_link(teacher)
    assert url.startswith("http://localhost/lti/register/") and len(url) > 60
    response = open_link(app.test_client(), url, platform)  # the LMS's frame: no session
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "CNN Quiz is registered with Moodle at 127.0.0.1" in page
    assert "dyn-client-1" in page and "dyn-deploy-1" in page
    assert "registered.js" in page  # the button that tells the LMS we are done
    assert f"frame-ancestors 'self' {platform.base}" in response.headers[
        "Content-Security-Policy"]

    # What we asked the platform for.
    (sent,) = platform.registrations
    assert sent["initiate_login_uri"] == "http://localhost/lti/login"
    assert sent["redirect_uris"] == ["http://localhost/lti/launch"]
    assert sent["jwks_uri"] == "http://localhost/lti/jwks"
    assert SCOPE_SCORE in sent["scope"].split()
    messages = [m["type"] for m in sent[TOOL]["messages"]]
    assert messages == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert not platform.errors

    # What we stored: the instructor's platform, with what the platform gave.
    (stored,) = platforms(app)
    assert (stored.issuer, stored.client_id, stored.deployment_ids) == (
        platform.issuer, "dyn-client-1", ["dyn-deploy-1"])
    assert (stored.auth_login_url, stored.token_url, stored.key_set_url) == (
        platform.auth_url, platform.token_url, platform.jwks_url)
    assert stored.owner_id == instructor.id
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "lti_platform_registered")) == 1

    # A launch with the new client id and deployment id signs the LMS's teacher in.
    launch = harness.launch(app.test_client(), "teacher")
    assert launch.status_code == 303, launch.get_data(as_text=True)
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(LtiContext)) == 1

    # The link registered once: opening it again is refused, and registers nothing.
    again = open_link(app.test_client(), url, platform)
    assert again.status_code == 410 and refusal(again) == "registration_link_used"
    assert "this link cannot register anything" in again.get_data(as_text=True)
    assert "still works" not in again.get_data(as_text=True)
    assert len(platforms(app)) == 1 and len(platform.registrations) == 1


def test_a_configuration_without_a_list_of_messages_gets_a_launch_only(app, teacher, harness,
                                                                       platform):
    """`messages_supported` that is no list offers nothing we can read: register the
    resource-link launch, which every LTI platform has."""
    platform.configuration_mode = "odd_messages"
    assert open_link(app.test_client(), make_link(teacher), platform).status_code == 200
    (sent,) = platform.registrations
    assert [m["type"] for m in sent[TOOL]["messages"]] == ["LtiResourceLinkRequest"]


def test_a_registration_into_a_course_and_without_deep_linking(app, teacher, course, harness,
                                                                 platform):
    platform.configuration_mode = "no_deep_linking"
    platform.product = "canvas"
    url = make_link(teacher, course.public_id)
    response = open_link(app.test_client(), url, platform)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "turn the new developer key <strong>On</strong>" in response.get_data(as_text=True)
    (sent,) = platform.registrations
    assert [m["type"] for m in sent[TOOL]["messages"]] == ["LtiResourceLinkRequest"]
    (stored,) = platforms(app)
    assert stored.course_id == course.id and stored.name == "Canvas at 127.0.0.1"


def test_without_a_deployment_id_launches_wait_until_the_instructor_adds_it(
        app, teacher, instructor, harness, platform):
    platform.registration_faults = ["no_deployment"]
    response = open_link(app.test_client(), make_link(teacher), platform)
    assert response.status_code == 200
    assert "none yet" in response.get_data(as_text=True)
    (stored,) = platforms(app)
    assert stored.deployment_ids == []
    refused = harness.login(app.test_client(), "teacher")  # the LMS names its deployment
    assert refused.status_code == 403 and b"unknown_deployment" in refused.data
    # The instructor adds it on the platform's page; then launches work.
    data = {"name": stored.name, "issuer": stored.issuer, "client_id": stored.client_id,
            "auth_login_url": stored.auth_login_url, "token_url": stored.token_url,
            "key_set_url": stored.key_set_url, "token_audience": "",
            "deployment_ids": platform.deployment_id, "course": "",
            "csrf_token": csrf_token(teacher, "/teach/lti/")}
    saved = teacher.post(f"/teach/lti/platforms/{stored.public_id}", data=data)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert harness.launch(app.test_client(), "teacher").status_code == 303


@pytest.mark.parametrize(("mode", "status", "reason", "words"), [
    ("500", 502, "registration_platform_refused", "configuration store down"),
    ("not_json", 502, "registration_platform_refused", "not a JSON object"),
    ("huge", 502, "registration_platform_refused", "larger than 256 KiB"),
    ("wrong_issuer", 422, "registration_configuration_invalid", "not on the host"),
    ("no_lti", 422, "registration_configuration_invalid", "not an LTI platform"),
    ("bad_urls", 422, "registration_configuration_invalid", "jwks_uri"),
    ("hang", 504, "registration_platform_timeout", "did not answer within 2 s"),
])
def test_a_bad_platform_configuration_registers_nothing(app, teacher, harness, platform, mode,
                                                        status, reason, words):
    platform.configuration_mode = mode
    url = make_link(teacher)
    response = open_link(app.test_client(), url, platform)
    assert response.status_code == status, response.get_data(as_text=True)
    assert refusal(response) == reason and words in response.get_data(as_text=True)
    assert "The registration with the LMS failed" in response.get_data(as_text=True)
    assert "the registration link still works" in response.get_data(as_text=True)
    assert platforms(app) == [] and platform.registrations == []
    # The link was not spent: once the platform is fixed, the same link registers it.
    platform.configuration_mode = "ok"
    assert open_link(app.test_client(), url, platform).status_code == 200
    assert len(platforms(app)) == 1


@pytest.mark.parametrize(("fault", "reason", "words"), [
    ("400", "registration_platform_refused", "redirect_uris must be https"),
    ("no_client_id", "registration_platform_refused", "sent no client_id"),
])
def test_a_refused_registration_shows_the_platform_s_words(app, teacher, harness, platform,
                                                           fault, reason, words):
    platform.registration_faults = [fault]
    url = make_link(teacher)
    response = open_link(app.test_client(), url, platform)
    assert response.status_code == 502 and refusal(response) == reason
    assert words in response.get_data(as_text=True)
    assert platforms(app) == []
    assert open_link(app.test_client(), url, platform).status_code == 200


def test_a_wrong_registration_token_is_the_platform_s_refusal(app, teacher, harness, platform):
    response = open_link(app.test_client(), make_link(teacher), platform,
                         registration_token="forged")
    assert response.status_code == 502 and "invalid_token" in response.get_data(as_text=True)
    assert platforms(app) == []


@pytest.mark.parametrize(("how", "status", "reason"), [
    ("unknown", 404, "registration_link_unknown"),
    ("expired", 410, "registration_link_expired"),
    ("cancelled", 404, "registration_link_unknown"),
])
def test_only_a_live_link_registers(app, teacher, harness, platform, how, status, reason):
    url = make_link(teacher)
    if how == "unknown":
        url = url[:-4] + "AAAA"
    elif how == "expired":
        with app.app_context(), db.transaction() as s:
            s.execute(update(LtiRegistrationLink).values(
                expires_at=utcnow() - timedelta(seconds=1)))
    else:
        with app.app_context():
            link_id = db.session().scalar(select(LtiRegistrationLink.id))
        response = teacher.post(f"/teach/lti/registration-links/{link_id}/cancel",
                                data={"csrf_token": csrf_token(teacher, "/teach/lti/")})
        assert response.status_code == 302
    response = open_link(app.test_client(), url, platform)
    assert response.status_code == status and refusal(response) == reason
    assert platforms(app) == [] and platform.registrations == []


def test_a_link_opened_without_the_lms_registers_nothing_and_stays_usable(
        app, teacher, harness, platform):
    """A link checker or a person opening the link: told what it is for, link kept."""
    url = make_link(teacher)
    response = app.test_client().get(url.replace("http://localhost", ""))
    assert response.status_code == 400 and refusal(response) == "registration_request_invalid"
    assert "paste it into your LMS" in response.get_data(as_text=True)
    for wrong in ("ftp://lms/config", platform.openid_configuration_url + "#x"):
        bad = open_link(app.test_client(), url, platform, openid_configuration=wrong)
        assert bad.status_code == 422, bad.get_data(as_text=True)
        assert "openid_configuration" in bad.get_data(as_text=True)
    assert open_link(app.test_client(), url, platform).status_code == 200


def test_the_instructor_page_offers_links_and_lists_the_open_ones(app, teacher, instructor,
                                                                   student):
    page = teacher.get("/teach/lti/").get_data(as_text=True)
    assert "Make a registration link" in page and "Links not used yet" not in page
    refused = teacher.post("/teach/lti/registration-links", data={
        "course": "not-mine", "csrf_token": csrf_token(teacher, "/teach/lti/")})
    assert refused.status_code == 302
    page = teacher.get(refused.headers["Location"]).get_data(as_text=True)
    assert ("No registration link was made. Course: choose one of your courses, or a new "
            "course per LMS course.") in page
    url = make_link(teacher)
    page = teacher.get("/teach/lti/").get_data(as_text=True)
    assert "Links not used yet" in page
    token = url.rsplit("/", 1)[1]
    assert token not in page  # shown once, never again
    with app.app_context():
        stored = db.session().scalar(select(LtiRegistrationLink))
        assert stored.token_hash != token and len(stored.token_hash) == 64
    # Students may not make links (404, as for every instructor page: no oracle).
    browser = app.test_client()
    assert login(browser, student.email).status_code == 302
    refused = browser.post("/teach/lti/registration-links",
                           data={"csrf_token": csrf_token(browser, "/")})
    assert refused.status_code == 404
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(LtiRegistrationLink)) == 1


@pytest.mark.parametrize("link_id", ["99999999999999999999", "2147483648", "-1", "x"])
def test_cancelling_a_link_that_cannot_exist_is_a_404(app, teacher, link_id):
    response = teacher.post(f"/teach/lti/registration-links/{link_id}/cancel",
                            data={"csrf_token": csrf_token(teacher, "/teach/lti/")})
    assert response.status_code == 404


def test_a_link_cannot_be_cancelled_by_another_instructor(app, teacher, instructor):
    make_link(teacher)
    with app.app_context():
        link_id = db.session().scalar(select(LtiRegistrationLink.id))
        from grader.services import courses

        other = courses.create_user("other@example.edu", "Other", "password 123456",
                                    is_instructor=True)
        assert dynamic.cancel_link(other, link_id) is False
        assert dynamic.cancel_link(instructor, link_id) is True


def test_the_command_prints_a_link_that_registers(app, runner, instructor, course, harness,
                                                  platform):
    result = runner.invoke(args=["lti-registration-link", "--owner", instructor.email,
                                 "--course", course.code])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("http://localhost/lti/register/") and "single use" in result.stderr
    assert open_link(app.test_client(), url, platform).status_code == 200
    (stored,) = platforms(app)
    assert stored.owner_id == instructor.id and stored.course_id == course.id


@pytest.mark.parametrize(("args", "expected"), [
    (["--owner", "nobody@example.edu"], "error: owner: no instructor"),
    (["--owner", "student1@example.edu"], "error: owner: no instructor"),
    (["--owner", "teacher@example.edu", "--course", "NOPE"], "error: course: no course"),
])
def test_the_command_refuses_naming_the_option(app, runner, course, args, expected):
    result = runner.invoke(args=["lti-registration-link", *args])
    assert result.exit_code == 2 and expected in result.output
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(LtiRegistrationLink)) == 0
