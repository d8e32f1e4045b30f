"""LTI in an LMS frame without cookies (both engines): login and launch with the platform's
client-side postMessage storage (lti_storage_target, lti.put_data / lti.get_data), the
same-origin confirmation, every refusal of a forged, expired or replayed state (4xx with
its reason, never a 500), the nonce still used once; then the session after the launch:
the cookie check, the single-use new-window ticket, and the SameSite=None; Secure;
Partitioned cookies of LTI sessions over HTTPS."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from conftest import csrf_token, login
from lti_platform import (  # noqa: F401  (the *_fixture names are fixtures)
    SAME_ORIGIN,
    LaunchSpec,
    data_of,
    form_of,
    lti_fixture,
    platform_fixture,
    query_of,
)
from sqlalchemy import func, select, update

from grader import db
from grader.lti.models import LtiContext, LtiNonce, LtiState, LtiUser, LtiWindowTicket
from grader.models import AuditLog, Course, utcnow
from grader.services import problem_sets


@pytest.fixture
def browser(app):
    """A browser that keeps no cookie inside the LMS frame (third-party cookies blocked)."""
    return app.test_client(use_cookies=False)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model).where(*where))


def signed_in(client) -> bool:
    with client.session_transaction() as sess:
        return "_user_id" in sess


def audited(app, action: str, reason: str) -> bool:
    with app.app_context():
        details = db.session().scalars(select(AuditLog.detail).where(
            AuditLog.action == action)).all()
    return any(d.startswith(reason) for d in details)


def published_set(app, title="Week 1"):
    with app.app_context():
        course = db.session().scalar(select(Course).join(LtiContext,
                                                         LtiContext.course_id == Course.id))
        ps = problem_sets.create_set(
            course, title, [{"kind": "output_shape", "difficulty": 1, "points": 10.0}])
        return problem_sets.publish(ps)


def set_up_course(app, lti):
    """The instructor's first launch (cookies work there) makes the course; then a published
    set that the default launch opens."""
    assert lti.launch(app.test_client(), "teacher").status_code == 303
    ps = published_set(app)
    lti.platform.launches["default"].custom = {"set_id": ps.public_id}
    return ps


def checking_page(app, lti, browser, login_hint="learner", message_hint="default"):
    """Login with storage, then the platform's launch POST without a cookie: the launch
    page that asks the platform's frame (its HTML), and the login's data."""
    data = lti.storage_login(browser, login_hint, message_hint)
    page = requests.get(data["next"], timeout=5)
    action, fields = form_of(page.text)
    response = browser.post(action.replace("http://localhost", ""), data=fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True), data


# ---------------------------------------------------------------- login initiation


@pytest.mark.parametrize("target", ["post_message_forwarding", "_parent"])
def test_login_with_a_storage_target_answers_with_the_put_data_page(app, client, lti, target):
    response = lti.login(client, "learner", lti_storage_target=target)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    data = data_of(page, "lti-storage")
    with app.app_context():
        row = db.session().scalar(select(LtiState))
    assert data["mode"] == "put" and data["target"] == target
    # postMessages go to the origin of the platform's authorization URL, never "*"
    assert data["origin"] == lti.platform.origin == f"http://127.0.0.1:{lti.platform.port}"
    assert data["state"] == row.state and data["nonce"] == row.nonce
    assert data["state-key"] == "lti_state_" + row.state
    assert data["nonce-key"] == "lti_nonce_" + row.nonce
    assert row.storage_target == target
    # then on to the platform's authorization endpoint, with the same state and nonce
    assert data["next"].startswith(lti.platform.auth_url + "?")
    query = query_of(data["next"])
    assert (query["state"], query["nonce"]) == (row.state, row.nonce)
    assert query["redirect_uri"] == "http://localhost/lti/launch"
    assert query["response_mode"] == "form_post" and query["prompt"] == "none"
    # no inline script (the CSP allows our origin only), the no-JS link goes on too
    assert '<script src="/lti/static/storage.js"></script>' in page and "<script>" not in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert f'href="{data["next"]}"'.replace("&", "&amp;") in page
    assert response.headers["Cache-Control"] == "no-store"
    # the state cookie is set as well: where it comes back, no script is needed
    assert f"lti-state-{row.state}={row.state}" in response.headers["Set-Cookie"]


def test_the_storage_script_follows_the_message_formats(app, client):
    script = client.get("/lti/static/storage.js").get_data(as_text=True)
    for needle in ('subject: "lti.put_data", key: key, value: value',
                   'subject: "lti.get_data", key: key',
                   'message.subject + ".response"', "data.message_id !== id",
                   "event.origin !== origin", "frame.postMessage(message, origin)",
                   'cfg.target === "_parent"', "host.frames[cfg.target]"):
        assert needle in script, needle
    assert '"*"' not in script and "'*'" not in script


def test_a_storage_target_that_is_too_long_is_refused(app, client, lti):
    response = lti.login(client, "learner", lti_storage_target="x" * 256)
    assert response.status_code == 400 and b"lti_storage_target" in response.data
    assert count(app, LtiState) == 0


# ---------------------------------------------------------------- the launch


def test_a_launch_without_cookie_is_checked_in_the_platform_storage_and_completes(
        app, lti, browser):
    ps = set_up_course(app, lti)
    page, data = checking_page(app, lti, browser)
    checked = data_of(page, "lti-storage")
    assert checked["mode"] == "get" and checked["origin"] == lti.platform.origin
    assert checked["target"] == "post_message_forwarding"
    assert (checked["state-key"], checked["nonce-key"]) == (data["state-key"], data["nonce-key"])
    action, fields = form_of(page, "lti-storage-launch")
    assert action == "/lti/launch/confirm" and fields["state"] == data["state"]
    assert fields["id_token"] and fields["stored_state"] == fields["stored_nonce"] == ""
    assert count(app, LtiState) == 1  # read, not used up: nothing is decided yet
    assert count(app, LtiNonce) == 1  # (the instructor's launch)

    response = lti.confirm(browser, lti.storage_read(page))
    assert response.status_code == 200, response.get_data(as_text=True)
    landing = response.get_data(as_text=True)
    assert data_of(landing, "lti-landing")["next"] == f"/sets/{ps.public_id}"
    assert f"Opening {ps.title}" in landing
    assert count(app, LtiState) == 0 and count(app, LtiNonce) == 2
    assert audited(app, "lti_launch", "LtiResourceLinkRequest") and any(
        m["subject"] == "lti.get_data" for m in lti.platform.messages)
    with app.app_context():
        assert db.session().scalar(select(LtiUser).where(LtiUser.sub == "sub-learner"))
    # exactly the messages of the spec, to the platform's origin, from the tool's
    subjects = [(m["subject"], m["key"].split("_")[1]) for m in lti.platform.messages]
    assert subjects == [("lti.put_data", "state"), ("lti.put_data", "nonce"),
                        ("lti.get_data", "state"), ("lti.get_data", "nonce")]
    assert {m["origin"] for m in lti.platform.messages} == {"http://localhost"}
    assert all(m["message_id"] for m in lti.platform.messages)


def test_the_whole_flow_with_the_platform_sending_the_storage_target_back(app, lti, browser):
    ps = set_up_course(app, lti)
    lti.platform.storage_target = "post_message_forwarding"  # in the launch POST, as Canvas
    response = lti.storage_launch(browser, "learner")
    assert response.status_code == 200
    assert data_of(response.get_data(as_text=True), "lti-landing")["next"] == \
        f"/sets/{ps.public_id}"


def test_the_cookie_path_still_wins_when_the_cookie_comes_back(app, client, lti):
    """A browser that keeps cookies needs no script: the launch redirects at once."""
    ps = set_up_course(app, lti)
    data = lti.storage_login(client, "learner")
    action, fields = form_of(requests.get(data["next"], timeout=5).text)
    response = client.post("/lti/launch", data=fields)
    assert response.status_code == 303 and response.headers["Location"] == f"/sets/{ps.public_id}"
    assert signed_in(client)


@pytest.mark.parametrize("headers", [
    {},
    {"Origin": "https://evil.example"},
    {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "null"},
], ids=["no-headers", "other-origin", "cross-site", "same-site", "null-origin"])
def test_the_confirmation_must_come_from_our_own_page(app, lti, browser, headers):
    set_up_course(app, lti)
    page, _data = checking_page(app, lti, browser)
    fields = lti.storage_read(page)
    response = browser.post("/lti/launch/confirm", data=fields,
                            headers={**headers, "Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json()["error"]["reason"] == "cross_site_request"
    assert audited(app, "lti_launch_rejected", "cross_site_request")
    # nothing used up: the real page's POST still works
    assert lti.confirm(browser, fields).status_code == 200


@pytest.mark.parametrize("change", ["state", "nonce", "both", "empty"])
def test_values_not_from_the_platform_storage_are_refused(app, lti, browser, change):
    set_up_course(app, lti)
    page, _data = checking_page(app, lti, browser)
    fields = lti.storage_read(page)
    forged = dict(fields)
    if change in ("state", "both"):
        forged["stored_state"] = "someone-elses-state"
    if change in ("nonce", "both"):
        forged["stored_nonce"] = "someone-elses-nonce"
    if change == "empty":  # the platform's frame did not answer
        forged["stored_state"] = forged["stored_nonce"] = ""
    response = lti.confirm(browser, forged, Accept="application/json", **SAME_ORIGIN)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["reason"] == "state_not_in_platform_storage" and "LMS" in error["message"]
    assert count(app, LtiUser, LtiUser.sub == "sub-learner") == 0
    assert lti.confirm(browser, fields).status_code == 200


def test_another_browsers_storage_does_not_confirm_a_login(app, lti, browser):
    """Login CSRF: an attacker's own launch (id_token and state) replayed in a victim's
    browser finds nothing in the victim's platform storage."""
    set_up_course(app, lti)
    page, _data = checking_page(app, lti, browser)
    fields = lti.storage_read(page)
    lti.platform.storage.clear()  # the victim's LMS page: it never stored this login
    stolen = {**fields, "stored_state": "", "stored_nonce": ""}
    response = lti.confirm(app.test_client(use_cookies=False), stolen,
                           Accept="application/json", **SAME_ORIGIN)
    assert response.get_json()["error"]["reason"] == "state_not_in_platform_storage"


def test_a_forged_state_is_refused_clearly(app, lti, browser):
    set_up_course(app, lti)
    page, data = checking_page(app, lti, browser)
    fields = lti.storage_read(page)
    forged = {**fields, "state": "forged-state", "stored_state": "forged-state"}
    response = lti.confirm(browser, forged, Accept="application/json", **SAME_ORIGIN)
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "state_unknown"
    # and at the launch itself: no cookie, a state we never issued
    response = browser.post("/lti/launch", data={"id_token": fields["id_token"],
                                                 "state": "forged-state"},
                            headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "state_unknown"
    response = browser.post("/lti/launch", data={"id_token": fields["id_token"],
                                                 "state": "x" * 500})
    assert response.status_code == 400 and b"state_unknown" in response.data


def test_an_expired_state_is_refused_at_the_launch_and_at_the_confirmation(app, lti, browser):
    set_up_course(app, lti)
    page, data = checking_page(app, lti, browser)
    fields = lti.storage_read(page)
    with app.app_context(), db.transaction() as s:
        s.execute(update(LtiState).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = lti.confirm(browser, fields, Accept="application/json", **SAME_ORIGIN)
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "state_expired"
    # a launch POST for an expired login does not get the checking page either
    data = lti.storage_login(browser, "learner")
    with app.app_context(), db.transaction() as s:
        s.execute(update(LtiState).values(expires_at=utcnow() - timedelta(seconds=1)))
    action, launch_fields = form_of(requests.get(data["next"], timeout=5).text)
    response = browser.post("/lti/launch", data=launch_fields)
    assert response.status_code == 400 and b"state_expired" in response.data


def test_a_replayed_confirmation_and_a_replayed_nonce_are_refused(app, lti, browser):
    set_up_course(app, lti)
    page, data = checking_page(app, lti, browser)
    fields = lti.storage_read(page)
    assert lti.confirm(browser, fields).status_code == 200
    again = lti.confirm(browser, fields, Accept="application/json", **SAME_ORIGIN)
    assert again.status_code == 400
    assert again.get_json()["error"]["reason"] == "state_unknown"
    # the same id_token under a fresh login (also with storage): its nonce was used
    page2, _data2 = checking_page(app, lti, browser)
    fields2 = lti.storage_read(page2)
    replay = {**fields2, "id_token": fields["id_token"]}
    response = lti.confirm(browser, replay, Accept="application/json", **SAME_ORIGIN)
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "nonce_replayed"
    assert count(app, LtiNonce, LtiNonce.nonce == data["nonce"]) == 1


def test_a_login_without_storage_still_needs_its_cookie(app, lti, browser):
    set_up_course(app, lti)
    state, nonce = lti.start(browser, "learner")
    token = lti.platform.id_token("learner", nonce)
    response = lti.post(browser, token, state)
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "state_cookie_missing"
    # and no storage proof can stand in for the cookie of such a login
    response = lti.confirm(browser, {"id_token": token, "state": state, "stored_state": state,
                                     "stored_nonce": nonce},
                           Accept="application/json", **SAME_ORIGIN)
    assert response.get_json()["error"]["reason"] == "state_cookie_missing"


def test_every_id_token_check_still_applies_after_the_storage_check(app, lti, browser):
    set_up_course(app, lti)
    page, data = checking_page(app, lti, browser)
    fields = lti.storage_read(page)
    fields["id_token"] = lti.platform.id_token("learner", data["nonce"], aud="another-tool")
    response = lti.confirm(browser, fields, Accept="application/json", **SAME_ORIGIN)
    assert response.status_code == 400
    assert response.get_json()["error"]["reason"] == "aud_mismatch"
    assert count(app, LtiUser, LtiUser.sub == "sub-learner") == 0


def test_deep_linking_through_the_platform_storage(app, lti, browser):
    lti.platform.launches["dl"] = LaunchSpec(message_type="LtiDeepLinkingRequest",
                                             resource_link_id=None)
    response = lti.storage_launch(browser, "teacher", "dl")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Add a problem set to the LMS" in page
    token = form_of(page, "picker-refresh")[1]["token"]
    assert browser.post("/lti/deep-link", data={"token": token}).status_code == 200


# ---------------------------------------------------------------- the session afterwards


def test_the_landing_page_checks_the_session_and_offers_a_new_window(app, lti, browser):
    ps = set_up_course(app, lti)
    response = lti.storage_launch(browser, "learner")
    page = response.get_data(as_text=True)
    landing = data_of(page, "lti-landing")
    assert '<script src="/lti/static/landing.js"></script>' in page
    # this browser kept no cookie: the check says so
    assert browser.get(landing["check"]).get_json() == {"signed_in": False}
    action, fields = form_of(page, "lti-open-window")
    assert action == "/lti/open" and len(fields["ticket"]) >= 43
    assert 'target="_blank"' in page
    # the new window (a top-level page: a first-party cookie) is signed in and opens the set
    window = app.test_client()
    opened = window.post(action, data=fields, headers=SAME_ORIGIN)
    assert opened.status_code == 303 and opened.headers["Location"] == f"/sets/{ps.public_id}"
    assert window.get(opened.headers["Location"]).status_code == 200
    assert window.get(landing["check"]).get_json() == {"signed_in": True}
    assert audited(app, "lti_new_window", "opened /sets/")
    # once only
    again = app.test_client().post(action, data=fields,
                                   headers={**SAME_ORIGIN, "Accept": "application/json"})
    assert again.status_code == 410 and again.get_json()["error"]["reason"] == "ticket_used"
    with app.app_context():
        row = db.session().scalar(select(LtiWindowTicket))
        assert row.token_hash != fields["ticket"] and len(row.token_hash) == 64


def test_a_browser_that_kept_the_cookie_is_told_so(app, lti):
    """Same flow, but the browser keeps (partitioned) cookies after all: the landing page's
    check says yes and the page goes straight on."""
    set_up_course(app, lti)
    keeper = app.test_client()
    data = lti.storage_login(keeper, "learner")
    action, fields = form_of(requests.get(data["next"], timeout=5).text)
    keeper.delete_cookie(f"lti-state-{data['state']}", path="/lti/")  # not sent cross-site
    page = keeper.post("/lti/launch", data=fields).get_data(as_text=True)
    response = lti.confirm(keeper, lti.storage_read(page))
    landing = data_of(response.get_data(as_text=True), "lti-landing")
    assert keeper.get(landing["check"]).get_json() == {"signed_in": True}
    assert keeper.get(landing["check"].replace("user=", "user=x")).get_json() == {
        "signed_in": False}
    assert keeper.get(landing["next"]).status_code == 200


@pytest.mark.parametrize("case", ["cross-site", "unknown", "expired", "empty"])
def test_new_window_tickets_are_refused_clearly(app, lti, browser, case):
    set_up_course(app, lti)
    page = lti.storage_launch(browser, "learner").get_data(as_text=True)
    action, fields = form_of(page, "lti-open-window")
    headers = {**SAME_ORIGIN, "Accept": "application/json"}
    if case == "cross-site":
        headers = {"Origin": "https://evil.example", "Accept": "application/json"}
    elif case == "unknown":
        fields["ticket"] = "guessed-" + fields["ticket"][8:]
    elif case == "empty":
        fields["ticket"] = ""
    else:
        with app.app_context(), db.transaction() as s:
            s.execute(update(LtiWindowTicket).values(expires_at=utcnow() - timedelta(seconds=1)))
    window = app.test_client()
    response = window.post(action, data=fields, headers=headers)
    expected = {"cross-site": (403, "cross_site_request"), "unknown": (400, "ticket_unknown"),
                "empty": (400, "ticket_unknown"), "expired": (410, "ticket_expired")}[case]
    assert (response.status_code, response.get_json()["error"]["reason"]) == expected
    assert not signed_in(window)


def _cookie(response, name: str) -> str:
    found = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "=")]
    assert found, f"no {name} cookie in {response.headers.getlist('Set-Cookie')}"
    return found[-1]


def test_lti_sessions_are_partitioned_cookies_over_https(app, lti):
    set_up_course(app, lti)
    app.config["SESSION_COOKIE_SECURE"] = True
    client = app.test_client()
    login = lti.login(client, "learner")
    state = query_of(login.headers["Location"])["state"]
    state_cookie = _cookie(login, f"lti-state-{state}")
    for attribute in ("Secure", "SameSite=None", "Partitioned", "HttpOnly"):
        assert attribute in state_cookie, state_cookie
    response = lti.launch(client, "learner")
    assert response.status_code == 303
    session_cookie = _cookie(response, "session")
    for attribute in ("Secure", "SameSite=None", "Partitioned", "HttpOnly"):
        assert attribute in session_cookie, session_cookie
    # logging out replaces it with the same attributes (a partitioned cookie is replaced
    # only by a partitioned one), signed out
    token = csrf_token(client, response.headers["Location"])
    out = client.post("/logout", data={"csrf_token": token})
    replaced = _cookie(out, "session")
    assert "Partitioned" in replaced and "SameSite=None" in replaced
    assert not signed_in(client)


def test_password_sessions_keep_the_configured_cookie(app, lti, student):
    app.config["SESSION_COOKIE_SECURE"] = True
    response = login(app.test_client(), "student1@example.edu")
    assert response.status_code == 302
    cookie = _cookie(response, "session")
    assert "SameSite=Lax" in cookie and "Partitioned" not in cookie and "Secure" in cookie


def test_no_partitioned_attribute_when_switched_off_or_over_http(app, lti):
    set_up_course(app, lti)
    over_http = _cookie(lti.launch(app.test_client(), "learner"), "session")
    assert "Partitioned" not in over_http and "SameSite=Lax" in over_http
    app.config.update(SESSION_COOKIE_SECURE=True, LTI_PARTITIONED_COOKIES=False)
    cookie = _cookie(lti.launch(app.test_client(), "learner"), "session")
    assert "SameSite=None" in cookie and "Secure" in cookie and "Partitioned" not in cookie


def test_a_launch_in_a_top_level_window_keeps_the_configured_cookie(app, lti):
    set_up_course(app, lti)
    app.config["SESSION_COOKIE_SECURE"] = True
    client = app.test_client()
    state, nonce = lti.start(client, "learner")
    response = client.post("/lti/launch", headers={"Sec-Fetch-Dest": "document"}, data={
        "id_token": lti.platform.id_token("learner", nonce), "state": state})
    assert response.status_code == 303
    cookie = _cookie(response, "session")
    assert "SameSite=Lax" in cookie and "Partitioned" not in cookie


@pytest.mark.parametrize("url, origin", [
    ("https://sso.canvaslms.com/api/lti/authorize_redirect", "https://sso.canvaslms.com"),
    ("https://LMS.Example.edu:443/mod/lti/auth.php?x=1", "https://lms.example.edu"),
    ("https://lms.example.edu:8443/auth", "https://lms.example.edu:8443"),
    ("http://127.0.0.1:8000/auth", "http://127.0.0.1:8000"),
])
def test_the_platform_origin_is_serialized_as_browsers_do(url, origin):
    from grader.lti.launch import platform_origin
    from grader.lti.models import LtiPlatform

    assert platform_origin(LtiPlatform(auth_login_url=url)) == origin
