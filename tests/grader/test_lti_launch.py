"""LTI 1.3 login and launch against a real test platform on 127.0.0.1 (both engines): the
login redirect, the whole flow, every rejection of the id_token matrix (4xx, a specific
reason, audited, no session), the platform's key set (rotation, outage), and what a launch
makes on our side (course, user, enrollment, link)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from lti_platform import (  # noqa: F401  (the *_fixture names are fixtures)
    DL,
    LTI,
    SAME_ORIGIN,
    Harness,
    Key,
    LaunchSpec,
    Platform,
    form_of,
    login_params,
    lti_fixture,
    platform_fixture,
    query_of,
)
from sqlalchemy import func, select, update

from grader import db
from grader.lti.accounts import course_role
from grader.lti.models import (
    LtiContext,
    LtiDeepLink,
    LtiNonce,
    LtiResourceLink,
    LtiState,
    LtiUser,
)
from grader.models import AuditLog, Course, Enrollment, User, utcnow
from grader.services import courses, problem_sets

# ---------------------------------------------------------------- fixtures and helpers


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model).where(*where))


def signed_in(client) -> bool:
    with client.session_transaction() as sess:
        return "_user_id" in sess


def audited(app, reason: str) -> bool:
    with app.app_context():
        details = db.session().scalars(select(AuditLog.detail).where(
            AuditLog.action == "lti_launch_rejected")).all()
    return any(d.startswith(reason + " ") for d in details)


def lms_course(app) -> Course:
    with app.app_context():
        return db.session().scalar(select(Course).join(LtiContext,
                                                       LtiContext.course_id == Course.id))


def published_set(app, course, title="Week 1", points=10.0, items=1):
    with app.app_context():
        ps = problem_sets.create_set(
            course, title, [{"kind": "output_shape", "difficulty": 1, "points": points}] * items)
        return problem_sets.publish(ps)


def set_up_course(app, lti, client) -> Any:
    """The instructor's first launch makes the LMS course here; then a published set that
    the default launch opens (custom set_id, as deep linking makes it)."""
    response = lti.launch(client, "teacher")
    assert response.status_code == 303, response.get_data(as_text=True)
    ps = published_set(app, lms_course(app))
    lti.platform.launches["default"].custom = {"set_id": ps.public_id}
    return ps


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def part(data: Any) -> str:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.{part(signature) if signature else ''}"


# ---------------------------------------------------------------- login initiation


def test_login_redirects_to_the_platform_with_state_nonce_and_oidc_parameters(app, client, lti):
    response = lti.login(client, "learner", "hint-7")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(lti.platform.auth_url + "?")
    query = query_of(location)
    assert query["scope"] == "openid"
    assert query["response_type"] == "id_token"
    assert query["response_mode"] == "form_post"
    assert query["prompt"] == "none"
    assert query["client_id"] == lti.platform.client_id
    assert query["redirect_uri"] == "http://localhost/lti/launch"
    assert query["login_hint"] == "learner"
    assert query["lti_message_hint"] == "hint-7"
    # 32 random bytes each (>= 128 bits), different from each other
    assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43
    assert query["state"] != query["nonce"]
    cookie = response.headers["Set-Cookie"]
    assert f"lti-state-{query['state']}={query['state']}" in cookie
    assert "SameSite=None" in cookie and "HttpOnly" in cookie and "Path=/lti/" in cookie
    assert "Secure" not in cookie  # plain http in tests
    with app.app_context():
        row = db.session().scalar(select(LtiState).where(LtiState.state == query["state"]))
        assert row.nonce == query["nonce"]
        lifetime = row.expires_at - row.created_at
        assert timedelta(0) < lifetime <= timedelta(minutes=5)


def test_login_by_post_and_a_secure_cookie_when_sessions_are_secure(app, client, lti):
    app.config["SESSION_COOKIE_SECURE"] = True
    params = {"iss": lti.platform.issuer, "login_hint": "learner",
              "target_link_uri": lti.platform.redirect_uri,
              "client_id": lti.platform.client_id}
    response = client.post("/lti/login", data=params)
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]
    assert "lti_message_hint" not in query_of(response.headers["Location"])


@pytest.mark.parametrize("changes, status, reason, path", [
    ({"iss": "https://unknown.example"}, 400, "platform_not_registered", "iss"),
    ({"client_id": "someone-else"}, 400, "platform_not_registered", "client_id"),
    ({"login_hint": ""}, 400, "login_parameter_missing", "login_hint"),
    ({"target_link_uri": ""}, 400, "login_parameter_missing", "target_link_uri"),
    ({"lti_deployment_id": "deploy-unknown"}, 403, "unknown_deployment", "lti_deployment_id"),
])
def test_login_refusals_name_the_parameter(app, client, lti, changes, status, reason, path):
    params = {**login_params(lti.platform, "learner"), **changes}
    response = client.get("/lti/login", query_string=params,
                          headers={"Accept": "application/json"})
    assert response.status_code == status
    body = response.get_json()
    assert body["error"]["reason"] == reason and body["error"]["path"] == path
    assert count(app, LtiState) == 0
    assert audited_login(app, reason)


def audited_login(app, reason: str) -> bool:
    with app.app_context():
        details = db.session().scalars(select(AuditLog.detail).where(
            AuditLog.action == "lti_login_rejected")).all()
    return any(d.startswith(reason + " ") for d in details)


def test_an_issuer_with_two_registrations_needs_the_client_id(app, client, lti):
    lti.register(client_id="second-client")
    response = lti.login(client, "learner", client_id=None)
    assert response.status_code == 400
    assert b"client_id" in response.data
    assert lti.login(client, "learner").status_code == 302


# ---------------------------------------------------------------- the whole flow


def test_instructor_launch_creates_the_course_and_asks_which_set_the_link_opens(
        app, client, lti):
    response = lti.launch(client, "teacher")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/teach/lti/links/")
    assert signed_in(client)
    course = lms_course(app)
    with app.app_context():
        s = db.session()
        user = s.scalar(select(User).join(LtiUser).where(LtiUser.sub == "sub-teacher"))
        assert user.is_instructor and user.email == "ada@lms.example" and user.name == "Ada Teacher"
        assert (course.code, course.title) == ("DL101", "Deep Learning 101")
        assert courses.role_in(user, course) == "instructor"
        link = s.scalar(select(LtiResourceLink))
        assert link.resource_link_id == "link-1" and link.problem_set_id is None
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and b"Which problem set" in page.data
    # a second launch finds everything: nothing duplicated
    assert lti.launch(client, "teacher").status_code == 303
    assert count(app, User, User.email == "ada@lms.example") == 1
    assert count(app, Course) == 1 and count(app, LtiResourceLink) == 1


def test_student_launch_lands_on_the_set_with_a_fresh_session(app, client, lti):
    ps = set_up_course(app, lti, client)
    student_client = app.test_client()
    with student_client.session_transaction() as sess:
        sess["planted"] = "fixation"
    response = lti.launch(student_client, "learner")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/sets/{ps.public_id}"
    with student_client.session_transaction() as sess:
        assert "planted" not in sess  # session.clear() before login
        assert "session_epoch" in sess
    page = student_client.get(response.headers["Location"])
    assert page.status_code == 200 and b"Week 1" in page.data
    course = lms_course(app)
    with app.app_context():
        user = db.session().scalar(select(User).join(LtiUser).where(LtiUser.sub == "sub-learner"))
        assert not user.is_instructor and user.password_hash is None
        assert courses.role_in(user, course) == "student"
    # the state cookie is gone once used
    assert "lti-state-" in response.headers["Set-Cookie"]
    assert "Max-Age=0" in response.headers["Set-Cookie"] or "expires=Thu, 01 Jan 1970" in \
        response.headers["Set-Cookie"]


def test_instructor_with_a_set_lands_on_the_sets_instructor_page(app, client, lti):
    ps = set_up_course(app, lti, client)
    response = lti.launch(app.test_client(), "teacher")
    assert response.headers["Location"] == f"/teach/sets/{ps.public_id}"


def test_the_ags_endpoint_is_stored_from_every_launch(app, client, lti):
    set_up_course(app, lti, client)
    spec = lti.platform.launches["default"]
    spec.lineitem = lti.platform.add_line_item("Week 1", 10)
    lti.launch(app.test_client(), "learner")
    spec.lineitem = second = lti.platform.add_line_item("Week 1 (moved)", 10)
    lti.launch(app.test_client(), "learner")
    with app.app_context():
        link = db.session().scalar(select(LtiResourceLink))
        assert link.lineitem_url == second
        assert link.lineitems_url == lti.platform.lineitems_url
        assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in link.ags_scopes


def test_a_student_before_any_instructor_launch_is_refused(app, client, lti):
    response = lti.launch(client, "learner")
    assert response.status_code == 403
    assert b"course_not_set_up" in response.data
    assert not signed_in(client)
    assert count(app, LtiUser) == 0 and count(app, Course) == 0


def test_student_on_a_link_without_set_or_unpublished_set_gets_no_session(app, client, lti):
    lti.launch(client, "teacher")
    response = lti.launch(app.test_client(), "learner")
    assert response.status_code == 409 and b"link_not_set_up" in response.data
    course = lms_course(app)
    with app.app_context():
        draft = problem_sets.create_set(course, "Draft set",
                                        [{"kind": "output_shape", "difficulty": 1, "points": 5}])
    lti.platform.launches["default"].custom = {"set_id": draft.public_id}
    other = app.test_client()
    response = lti.launch(other, "learner")
    assert response.status_code == 409 and b"set_not_published" in response.data
    assert not signed_in(other)


def test_a_set_of_another_course_in_custom_is_refused(app, client, lti, course):
    lti.launch(client, "teacher")
    foreign = published_set(app, course, "Not yours")
    lti.platform.launches["default"].custom = {"set_id": foreign.public_id}
    response = lti.launch(app.test_client(), "teacher")
    assert response.status_code == 404 and b"set_not_found" in response.data


def test_an_lms_email_never_takes_over_an_existing_account(app, client, lti):
    with app.app_context():
        courses.create_user("lee@lms.example", "Local Lee", "correct horse battery")
    set_up_course(app, lti, client)
    assert lti.launch(app.test_client(), "learner").status_code == 303
    with app.app_context():
        s = db.session()
        lti_user = s.scalar(select(User).join(LtiUser).where(LtiUser.sub == "sub-learner"))
        assert lti_user.email.endswith("@lti.invalid") and lti_user.name == "Lee Learner"
        local = courses.user_by_email("lee@lms.example")
        assert local.id != lti_user.id and local.name == "Local Lee"


def test_roles_map_to_course_roles():
    membership = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
    assert course_role([membership + "Instructor"]) == "instructor"
    assert course_role(["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor"
                        "#TeachingAssistant"]) == "instructor"
    assert course_role([membership + "ContentDeveloper"]) == "instructor"
    assert course_role(["http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"]
                       ) == "instructor"
    assert course_role([membership + "Learner"]) == "student"
    assert course_role(["Learner"]) == "student" and course_role(["Instructor"]) == "instructor"
    # a faculty member who is a Learner here is a student here
    assert course_role(["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor",
                        membership + "Learner"]) == "student"
    assert course_role([membership + "Mentor"]) is None
    assert course_role([]) is None


def test_a_launch_with_no_usable_role_is_refused(app, client, lti):
    lti.platform.add_user("mentor", "sub-mentor", "Meg Mentor", None, [LTI + "x#Mentor"])
    response = lti.launch(client, "mentor")
    assert response.status_code == 403 and b"role_not_supported" in response.data
    assert not signed_in(client)


# ---------------------------------------------------------------- the rejection matrix


def _now() -> int:
    return int(time.time())


def _alg_none(lti: Harness, nonce: str) -> str:
    return unsigned({"alg": "none", "typ": "JWT", "kid": lti.platform.key.kid},
                    lti.platform.claims("teacher", nonce))


def _hs256_with_public_key(lti: Harness, nonce: str) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": lti.platform.key.kid}
    body = unsigned(header, lti.platform.claims("teacher", nonce))[:-1]
    mac = hmac.new(lti.platform.key.public_pem, body.encode(), hashlib.sha256).digest()
    return body + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _header(**headers: Any):
    def make(lti: Harness, nonce: str) -> str:
        return lti.platform.sign(lti.platform.claims("teacher", nonce), headers=headers)
    return make


def _claims(**changes: Any):
    def make(lti: Harness, nonce: str) -> str:
        resolved = {k: (v() if callable(v) else v) for k, v in changes.items()}
        resolved = {k.replace("CLAIM_", LTI): v for k, v in resolved.items()}
        return lti.platform.id_token("teacher", nonce, **resolved)
    return make


def _other_key_same_kid(lti: Harness, nonce: str) -> str:
    impostor = Key.make()
    impostor.kid = lti.platform.key.kid
    return lti.platform.sign(lti.platform.claims("teacher", nonce), key=impostor)


def _unknown_kid(lti: Harness, nonce: str) -> str:
    return lti.platform.sign(lti.platform.claims("teacher", nonce), key=Key.make())


MATRIX = [
    ("iss", _claims(iss="https://evil.example"), 400, "iss_mismatch"),
    ("aud without our client_id", _claims(aud="another-tool"), 400, "aud_mismatch"),
    ("several aud, no azp", _claims(aud=["cnnquiz-client", "another-tool"]), 400,
     "azp_missing"),
    ("several aud, wrong azp", _claims(aud=["cnnquiz-client", "another-tool"],
                                       azp="another-tool"), 400, "azp_mismatch"),
    ("expired", _claims(exp=lambda: _now() - 120), 400, "token_expired"),
    ("iat in the future", _claims(iat=lambda: _now() + 600, exp=lambda: _now() + 900), 400,
     "iat_in_future"),
    ("iat older than the login", _claims(iat=lambda: _now() - 3600), 400, "iat_too_old"),
    ("no nonce", _claims(nonce=...), 400, "nonce_missing"),
    ("another nonce", _claims(nonce="not-the-one-sent"), 400, "nonce_mismatch"),
    ("unknown deployment", _claims(CLAIM_deployment_id="deploy-unknown"), 403,
     "unknown_deployment"),
    ("wrong message type", _claims(CLAIM_message_type="LtiSubmissionReviewRequest"), 400,
     "message_type_unsupported"),
    ("wrong version", _claims(CLAIM_version="1.1.0"), 400, "version_unsupported"),
    ("no resource link", _claims(CLAIM_resource_link=...), 400, "resource_link_missing"),
    ("no roles", _claims(CLAIM_roles=...), 400, "roles_missing"),
    ("no sub", _claims(sub=...), 400, "sub_missing"),
    ("other target", _claims(CLAIM_target_link_uri="http://localhost/elsewhere"), 400,
     "target_link_uri_mismatch"),
    ("alg none", _alg_none, 400, "alg_not_allowed"),
    ("HS256 with the public key", _hs256_with_public_key, 400, "alg_not_allowed"),
    ("jku header", _header(jku="http://127.0.0.1:1/evil-jwks"), 400, "header_not_allowed"),
    ("jwk header", _header(jwk=Key.make().jwk), 400, "header_not_allowed"),
    ("x5u header", _header(x5u="http://127.0.0.1:1/cert.pem"), 400, "header_not_allowed"),
    ("signed by another key", _other_key_same_kid, 400, "bad_signature"),
    ("kid not in the key set", _unknown_kid, 400, "unknown_kid"),
    ("not a JWT", lambda lti, nonce: "not.a.jwt", 400, "malformed_token"),
]


@pytest.mark.parametrize("name, make, status, reason", MATRIX, ids=[m[0] for m in MATRIX])
def test_each_bad_id_token_is_refused_with_its_reason_and_no_session(
        app, client, lti, name, make, status, reason):
    state, nonce = lti.start(client, "teacher")
    response = lti.post(client, make(lti, nonce), state)
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["reason"] == reason and error["message"] and error["path"]
    assert not signed_in(client)
    assert audited(app, reason)
    assert count(app, LtiUser) == 0 and count(app, Enrollment) == 0
    # the state was used up by the refused launch: the untouched token cannot follow it
    again = lti.post(client, lti.platform.id_token("teacher", nonce), state)
    assert again.status_code == 400 and not signed_in(client)


def test_the_untouched_token_is_accepted(app, client, lti):
    state, nonce = lti.start(client, "teacher")
    response = lti.post(client, lti.platform.id_token("teacher", nonce), state)
    assert response.status_code == 303 and signed_in(client)


def test_missing_or_mismatched_state_is_refused(app, client, lti):
    state, nonce = lti.start(client, "teacher")
    token = lti.platform.id_token("teacher", nonce)
    cases = [
        (client, None, "state_missing"),
        (client, "forged-" + state[:20], "state_mismatch"),
        (app.test_client(), state, "state_cookie_missing"),  # another browser
    ]
    for who, sent, reason in cases:
        response = lti.post(who, token, sent)
        assert response.status_code == 400
        assert response.get_json()["error"]["reason"] == reason
        assert not signed_in(who)
    # the real state was not consumed by those attempts: the launch still works
    assert lti.post(client, token, state).status_code == 303


def test_a_missing_state_cookie_over_plain_http_says_to_serve_https(app, client, lti):
    """Browsers refuse a SameSite=None cookie without Secure: over http, the refusal says
    why the launch cannot work there; over https it does not."""
    state, nonce = lti.start(client, "teacher")
    token = lti.platform.id_token("teacher", nonce)
    over_http = lti.post(app.test_client(), token, state).get_json()["error"]["message"]
    assert "served over plain http" in over_http and "BASE_URL" in over_http
    app.config["SESSION_COOKIE_SECURE"] = True
    over_https = lti.post(app.test_client(), token, state).get_json()["error"]["message"]
    assert "state cookie is missing" in over_https and "plain http" not in over_https


def test_a_replayed_nonce_is_refused(app, client, lti):
    state, nonce = lti.start(client, "teacher")
    token = lti.platform.id_token("teacher", nonce)
    assert lti.post(client, token, state).status_code == 303
    attacker = app.test_client()
    state2, _nonce2 = lti.start(attacker, "teacher")
    response = lti.post(attacker, token, state2)
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "nonce_replayed"
    assert not signed_in(attacker)
    assert count(app, LtiNonce) == 1


def test_an_expired_state_is_refused(app, client, lti):
    state, nonce = lti.start(client, "teacher")
    with app.app_context(), db.transaction() as s:
        s.execute(update(LtiState).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = lti.post(client, lti.platform.id_token("teacher", nonce), state)
    assert response.get_json()["error"]["reason"] == "state_expired"


def test_a_platform_error_instead_of_a_token_is_reported(app, client, lti):
    state, _ = lti.start(client, "teacher")
    response = client.post("/lti/launch", data={"error": "login_required", "state": state,
                                                "error_description": "no session"},
                           headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "login_required" in response.get_json()["error"]["message"]


def test_refusal_page_for_browsers_names_the_reason(app, client, lti):
    state, nonce = lti.start(client, "teacher")
    response = client.post("/lti/launch", data={
        "state": state, "id_token": lti.platform.id_token("teacher", nonce, aud="x")})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "aud_mismatch" in text and "Request id" in text and "Traceback" not in text


# ---------------------------------------------------------------- the platform's key set


def test_a_rotated_platform_key_is_fetched_once_then_accepted(app, client, lti):
    assert lti.launch(client, "teacher").status_code == 303
    assert lti.platform.jwks_hits == 1
    assert lti.launch(app.test_client(), "teacher").status_code == 303
    assert lti.platform.jwks_hits == 1  # cached
    lti.platform.rotate_key()
    assert lti.launch(app.test_client(), "teacher").status_code == 303
    assert lti.platform.jwks_hits == 2  # exactly one refetch for the new kid


def test_an_unknown_kid_is_refetched_once_then_refused(app, client, lti):
    assert lti.launch(client, "teacher").status_code == 303
    hits = lti.platform.jwks_hits
    state, nonce = lti.start(client, "teacher")
    response = lti.post(client, _unknown_kid(lti, nonce), state)
    assert response.get_json()["error"]["reason"] == "unknown_kid"
    assert lti.platform.jwks_hits == hits + 1


def test_a_hanging_key_set_fails_within_the_timeout_with_503(app, client, lti):
    lti.platform.jwks_mode = "hang"
    state, nonce = lti.start(client, "teacher")
    response = lti.post(client, lti.platform.id_token("teacher", nonce), state)
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["reason"] == "jwks_unreachable" and "0.5 s" in error["message"]
    assert not signed_in(client)


def test_a_failing_key_set_gives_a_clear_502(app, client, lti):
    lti.platform.jwks_mode = "error"
    state, nonce = lti.start(client, "teacher")
    response = lti.post(client, lti.platform.id_token("teacher", nonce), state)
    assert response.status_code == 502
    assert response.get_json()["error"]["reason"] == "jwks_error"
    assert "HTTP 500" in response.get_json()["error"]["message"]


# ---------------------------------------------------------------- deep linking


def _deep_link_spec(platform: Platform) -> LaunchSpec:
    spec = LaunchSpec(message_type="LtiDeepLinkingRequest", resource_link_id=None)
    platform.launches["dl"] = spec
    return spec


def test_deep_linking_round_trip(app, client, lti):
    _deep_link_spec(lti.platform)
    response = lti.launch(client, "teacher", "dl")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "no problem set yet" in page and signed_in(client)
    # create a set (as on the instructor pages), then refresh the picker
    ps = published_set(app, lms_course(app), "Receptive fields", points=7.5, items=2)
    token = form_of(page, "picker-refresh")[1]["token"]
    refreshed = client.post("/lti/deep-link", data={"token": token})
    assert refreshed.status_code == 200 and "Receptive fields" in refreshed.get_data(as_text=True)
    answer = client.post("/lti/deep-link", data={"token": token, "set_id": ps.public_id})
    assert answer.status_code == 200
    csp = answer.headers["Content-Security-Policy"]
    assert f"form-action 'self' {lti.platform.base}" in csp and "'unsafe-inline'" not in \
        csp.split("script-src")[1].split(";")[0]
    html_text = answer.get_data(as_text=True)
    assert "<script src=\"/lti/static/autopost.js\"" in html_text
    assert "Continue to the LMS" in html_text and "<script>" not in html_text
    action, fields = form_of(html_text, "lti-autopost")
    assert action == lti.platform.return_url
    import requests

    assert requests.post(action, data={"JWT": fields["JWT"]}, timeout=5).status_code == 200
    claims = lti.platform.deep_links[-1]
    assert claims["iss"] == lti.platform.client_id and claims["aud"] == lti.platform.issuer
    assert claims["nonce"] and claims[LTI + "deployment_id"] == lti.platform.deployment_id
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[DL + "data"] == "opaque-platform-data"
    [item] = claims[DL + "content_items"]
    assert item["type"] == "ltiResourceLink" and item["title"] == "Receptive fields"
    assert item["url"] == "http://localhost/lti/launch"
    assert item["custom"] == {"set_id": ps.public_id}
    assert item["lineItem"] == {"scoreMaximum": 15.0, "label": "Receptive fields",
                                "resourceId": ps.public_id, "tag": "cnnquiz-set"}
    # used once
    again = client.post("/lti/deep-link", data={"token": token, "set_id": ps.public_id},
                        headers={"Accept": "application/json"})
    assert again.status_code == 410
    assert again.get_json()["error"]["reason"] == "deep_link_used"
    # the platform now launches the new link: students land on the set
    lti.platform.launches["default"] = LaunchSpec(
        resource_link_id="dl-link", custom=item["custom"],
        lineitem=lti.platform.add_line_item(item["title"], 15.0, ps.public_id))
    student = app.test_client()
    assert lti.launch(student, "learner").headers["Location"] == f"/sets/{ps.public_id}"


def test_deep_linking_says_so_when_the_signing_key_cannot_be_read(app, client, lti):
    _deep_link_spec(lti.platform)
    page = lti.launch(client, "teacher", "dl").get_data(as_text=True)
    ps = published_set(app, lms_course(app), "Receptive fields", points=7.5, items=2)
    token = form_of(page, "picker-refresh")[1]["token"]
    assert client.get("/lti/jwks").status_code == 200  # the signing key exists, sealed
    secret = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "not the key the signing key was sealed with"
    refused = client.post("/lti/deep-link", data={"token": token, "set_id": ps.public_id},
                          headers={"Accept": "application/json"})
    assert refused.status_code == 503
    error = refused.get_json()["error"]
    assert error["reason"] == "signing_key_unreadable" and "lti-rotate-key" in error["message"]
    # Nothing was used up: with the right SECRET_KEY the same selection goes through.
    app.config["SECRET_KEY"] = secret
    answer = client.post("/lti/deep-link", data={"token": token, "set_id": ps.public_id})
    assert answer.status_code == 200 and "Continue to the LMS" in answer.get_data(as_text=True)


def test_deep_linking_picker_rejects_unknown_tokens_and_foreign_sets(app, client, lti, course):
    _deep_link_spec(lti.platform)
    page = lti.launch(client, "teacher", "dl").get_data(as_text=True)
    token = form_of(page, "picker-refresh")[1]["token"]
    foreign = published_set(app, course, "Someone else's")
    response = client.post("/lti/deep-link", data={"token": token, "set_id": foreign.public_id})
    assert response.status_code == 422 and b"Choose one of the problem sets" in response.data
    response = app.test_client().post("/lti/deep-link", data={"token": "guess"},
                                      headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "deep_link_unknown"
    with app.app_context(), db.transaction() as s:
        s.execute(update(LtiDeepLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = client.post("/lti/deep-link", data={"token": token})
    assert response.status_code == 410


def test_continue_signs_the_instructor_in_a_window_of_their_own(app, client, lti):
    _deep_link_spec(lti.platform)
    page = lti.launch(client, "teacher", "dl").get_data(as_text=True)
    token = form_of(page, "picker-refresh")[1]["token"]
    course = lms_course(app)
    new_window = app.test_client()  # no cookie from the LMS frame
    response = new_window.post("/lti/continue", headers=SAME_ORIGIN, data={
        "token": token, "next": f"/teach/courses/{course.public_id}/sets/new"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/teach/courses/{course.public_id}/sets/new"
    assert new_window.get(response.headers["Location"]).status_code == 200
    for evil_next in ("https://evil.example/", "/teach//evil.example", "//[evil.example",
                      "/teach/\\evil.example"):
        evil = app.test_client().post("/lti/continue", headers=SAME_ORIGIN,
                                      data={"token": token, "next": evil_next})
        assert evil.headers["Location"] == f"/teach/courses/{course.public_id}", evil_next


@pytest.mark.parametrize("headers", [
    {},  # a client that says nothing
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_continue_refuses_a_form_posted_from_another_site(app, client, lti, headers):
    """Another site's form posting an instructor's token would sign the browser in as that
    instructor (login CSRF): only the picker's own page may post it."""
    _deep_link_spec(lti.platform)
    page = lti.launch(client, "teacher", "dl").get_data(as_text=True)
    token = form_of(page, "picker-refresh")[1]["token"]
    victim = app.test_client()
    response = victim.post("/lti/continue", data={"token": token}, headers=headers)
    assert response.status_code == 403 and b"cross_site_request" in response.data
    assert b"own page" in response.data
    assert not signed_in(victim)


def test_deep_linking_is_for_instructors_only(app, client, lti):
    _deep_link_spec(lti.platform)
    response = lti.launch(client, "learner", "dl")
    assert response.status_code == 403 and b"deep_linking_not_allowed" in response.data
    assert not signed_in(client) and count(app, LtiUser) == 0


@pytest.mark.parametrize("return_url", [None, "ftp://lms.example/return",
                                        "https://[lms.example/return"])
def test_deep_linking_requires_a_return_url(app, client, lti, return_url):
    state, nonce = lti.start(client, "teacher", "dl")
    spec = _deep_link_spec(lti.platform)
    claims = lti.platform.claims("teacher", nonce, spec)
    if return_url is None:
        claims[DL + "deep_linking_settings"].pop("deep_link_return_url")
    else:
        claims[DL + "deep_linking_settings"]["deep_link_return_url"] = return_url
    response = lti.post(client, lti.platform.sign(claims), state)
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "deep_linking_settings_missing"


def test_our_key_set_publishes_thumbprint_kids(client, lti):
    from lti_platform import thumbprint

    response = client.get("/lti/jwks")
    assert response.status_code == 200
    [key] = response.get_json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"] == thumbprint(key) and "d" not in key and "p" not in key
    assert "max-age" in response.headers["Cache-Control"]

