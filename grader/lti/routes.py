"""/lti: what an LMS and the browsers it sends call. Thin: the checks live in
grader.lti.launch, the accounts in grader.lti.accounts, deep linking in
grader.lti.deep_linking.

These routes take no CSRF token: login is a redirect, the launch is protected by state
(cookie + single-use row), nonce and the platform's signature, and the deep-linking forms by
their 256-bit single-purpose token.

Inside an LMS frame without cookies (LTI client-side postMessage storage, 1EdTech "OIDC Login
with LTI Client Side postMessages"): when the login names `lti_storage_target`, /lti/login
answers with a page that stores state and nonce in the platform's frame (lti.put_data) and
then goes to the platform; a launch without our state cookie then gets a page that reads
them back (lti.get_data) and posts them, with the id_token, to /lti/launch/confirm, which
accepts only a same-origin POST from that page. After such a launch the landing page asks
/lti/session whether the session cookie was kept, and otherwise offers a new window
(/lti/open, with a single-use ticket).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from grader import content_security_policy, db
from grader.auth.access import local_path, record_audit
from grader.auth.routes import start_session
from grader.lti import accounts, bp, deep_linking, dynamic, frames, keys, registry
from grader.lti.deep_linking import DeepLinkError
from grader.lti.launch import (
    DEEP_LINKING,
    STATE_COOKIE,
    STORAGE_NONCE_KEY,
    STORAGE_STATE_KEY,
    Launch,
    LaunchError,
    StorageProof,
    platform_origin,
    start_login,
    storage_check,
    url_origin,
    validate,
)
from grader.lti.models import LtiPlatform
from grader.models import ProblemSet, User

log = logging.getLogger("grader.lti")


@bp.after_request
def _no_store(response: Response) -> Response:
    if request.endpoint != "lti.jwks" and request.endpoint != "lti.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _refuse(err: LaunchError, action: str = "lti_launch_rejected") -> Any:
    """A 4xx (or 502/503) with the specific reason, logged and audited; no session."""
    detail = f"{err.reason} ({err.path}): {err.message} [ip {request.remote_addr}]"
    log.warning("%s: %s", action, detail)
    record_audit(action, detail, user_id=None)
    if _wants_json():
        body = {"error": {"path": err.path, "message": err.message, "reason": err.reason,
                          "status": err.status}}
        return jsonify(body), err.status
    return render_template("lti/refused.html", error=err, action=action), err.status


# ---------------------------------------------------------------- keys and configuration


@bp.get("/jwks")
def jwks() -> Any:
    """Our public keys (the current signing key and the retired ones still published)."""
    with db.transaction() as s:
        document = keys.jwks(s)
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/canvas.json")
def canvas_config() -> Any:
    """A Canvas developer-key JSON configuration (paste the URL or the JSON in Canvas)."""
    urls = registry.tool_urls()
    title = current_app.config["LTI_TOOL_TITLE"]
    domain = urlsplit(urls.launch).hostname or ""
    placement = {"message_type": "LtiDeepLinkingRequest", "target_link_uri": urls.deep_linking,
                 "text": title, "selection_height": 600, "selection_width": 800}
    return jsonify({
        "title": title,
        "description": registry.TOOL_DESCRIPTION,
        "oidc_initiation_url": urls.login,
        "target_link_uri": urls.launch,
        "public_jwk_url": urls.jwks,
        "scopes": list(registry.TOOL_SCOPES),
        "extensions": [{
            "platform": "canvas.instructure.com",
            "domain": domain,
            "privacy_level": "public",
            "settings": {
                "text": title,
                "placements": [
                    {**placement, "placement": "assignment_selection"},
                    {**placement, "placement": "link_selection"},
                ],
            },
        }],
        "custom_fields": {},
    })


# ---------------------------------------------------------------- dynamic registration


@bp.get("/register/<token>")
def register(token: str) -> Any:
    """LTI Dynamic Registration, opened by the LMS with its `openid_configuration` (and
    `registration_token`): register with it, then tell it we are done (grader.lti.dynamic)."""
    config_url = request.args.get("openid_configuration", "")
    try:
        done = dynamic.register(token, config_url, request.args.get("registration_token"))
    except LaunchError as err:
        response = make_response(_refuse(err, "lti_registration_refused"))
    else:
        platform = done.platform
        record_audit("lti_platform_registered",
                     f"{platform.public_id} {platform.issuer} client {platform.client_id} "
                     f"(dynamic registration)", platform.owner_id)
        response = make_response(render_template(
            "lti/registered.html", platform=platform, deployment_id=done.deployment_id,
            product=done.product))
    # The LMS shows this page in a frame of its own (on the host of its configuration).
    ancestors = current_app.config["FRAME_ANCESTORS"]
    lms_origin = url_origin(config_url)
    if lms_origin:
        ancestors = f"{ancestors} {lms_origin}"
    response.headers["Content-Security-Policy"] = content_security_policy(ancestors)
    return response


# ---------------------------------------------------------------- login and launch


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """OIDC third-party login initiation: state and nonce, then off to the platform (at
    once, or after storing them in the platform's frame when it offers
    `lti_storage_target`)."""
    params = request.values.to_dict()
    if not params.get("lti_deployment_id") and params.get("deployment_id"):
        params["lti_deployment_id"] = params["deployment_id"]
    try:
        started = start_login(params)
    except LaunchError as err:
        return _refuse(err, "lti_login_rejected")
    response: Any
    if started.storage_target:
        response = make_response(render_template(
            "lti/storage_login.html", started=started,
            state_key=STORAGE_STATE_KEY + started.state,
            nonce_key=STORAGE_NONCE_KEY + started.nonce))
    else:
        response = redirect(started.url, code=302)
    # Also when the platform keeps them: a cookie that comes back needs no script. SameSite=
    # None: the launch is a cross-site POST (Partitioned over HTTPS: see grader.lti.frames).
    response.set_cookie(
        STATE_COOKIE + started.state, started.state,
        max_age=int(current_app.config["LTI_STATE_TTL"]), path="/lti/",
        **frames.cookie_attributes(),
    )
    return response


def _landing(launch: Launch, made: accounts.Provisioned) -> str:
    """Where a resource-link launch goes: the set's student or instructor page (or the
    page to pick a set for a new link). LaunchError when a student cannot go anywhere."""
    problem_set = made.problem_set
    if made.role == "instructor":
        if problem_set is None:
            assert made.link is not None
            return url_for("lti_admin.link", link_id=made.link.public_id)
        return url_for("instructor.edit_set", set_id=problem_set.public_id)
    if made.user.is_instructor:
        raise LaunchError(409, "instructor_account", "id_token.roles",
                          "Your CNN Quiz account is an instructor account; open this link "
                          "with an instructor role in the LMS.")
    if problem_set is None:
        raise LaunchError(409, "link_not_set_up", "id_token.resource_link.id",
                          "This link has no problem set yet: your instructor has to open it "
                          "once and choose one.")
    if not problem_set.published:
        raise LaunchError(409, "set_not_published", "id_token.custom.set_id",
                          f"The problem set {problem_set.title!r} is not published yet.")
    return url_for("student.problem_set", set_id=problem_set.public_id)


def _forget_state(response: Response, launch_state: str) -> None:
    response.delete_cookie(STATE_COOKIE + launch_state, path="/lti/",
                           **frames.cookie_attributes())


def _complete(proof: StorageProof | None) -> Any:
    """Every check, then accounts, then a fresh session and the landing page (or the
    deep-linking picker). `proof`: the state and nonce read back from the platform's
    storage, for a browser whose state cookie did not come back."""
    try:
        valid = validate(request.form, request.cookies, proof)
        if (valid.message_type == DEEP_LINKING
                and accounts.course_role(valid.roles) != "instructor"):
            raise LaunchError(403, "deep_linking_not_allowed", "id_token.roles",
                              "Only instructors can add CNN Quiz problem sets to a course.")
        made = accounts.provision(valid)
        target = _landing(valid, made) if valid.message_type != DEEP_LINKING else ""
    except LaunchError as err:
        return _refuse(err)
    start_session(made.user)
    frames.mark_framed_session()
    record_audit("lti_launch", f"{valid.message_type} platform {valid.platform.public_id} "
                               f"course {made.course.public_id} as {made.role}"
                               + (" (platform storage)" if proof else ""), made.user.id)
    response: Any
    if valid.message_type == DEEP_LINKING:
        token = deep_linking.begin(valid, made.user.id, made.course)
        response = make_response(_picker(token, made.course.id, made.user))
    elif proof is not None:
        # This browser did not send our SameSite=None cookie with the launch: it may well
        # not keep the session either. A page that checks, with a new-window way out.
        title = made.problem_set.title if made.problem_set is not None else "CNN Quiz"
        response = make_response(render_template(
            "lti/landing.html", target=target, title=title, user=made.user,
            ticket=frames.issue_ticket(made.user, target)))
    else:
        response = redirect(target, code=303)
    _forget_state(response, valid.state)
    return response


@bp.post("/launch")
def launch() -> Any:
    """The platform's form POST (id_token, state). With our state cookie: every check, and
    the landing page. Without it, when the login kept state and nonce in the platform's
    frame: a page that reads them back from there and posts them to /lti/launch/confirm."""
    try:
        login = storage_check(request.form, request.cookies)
    except LaunchError as err:
        return _refuse(err)
    if login is None:
        return _complete(None)
    assert login.storage_target is not None
    with db.transaction() as s:
        platform = s.get(LtiPlatform, login.platform_id)
    if platform is None:
        return _refuse(LaunchError(400, "platform_not_registered", "iss",
                                   "The platform of this login is no longer registered."))
    return render_template(
        "lti/storage_launch.html", id_token=request.form["id_token"], state=login.state,
        target=login.storage_target, origin=platform_origin(platform),
        state_key=STORAGE_STATE_KEY + login.state, nonce_key=STORAGE_NONCE_KEY + login.nonce)


@bp.post("/launch/confirm")
def launch_confirm() -> Any:
    """The launch page's own POST: the id_token and state as the platform sent them, with
    what the platform's frame answered to lti.get_data for the state and the nonce."""
    if not frames.same_origin_request():
        return _refuse(LaunchError(
            403, "cross_site_request", "Origin",
            "This step of the launch must come from CNN Quiz's own page: start the launch "
            "again from the LMS."))
    proof = StorageProof(state=request.form.get("stored_state", ""),
                         nonce=request.form.get("stored_nonce", ""))
    return _complete(proof)


@bp.get("/session")
def session_check() -> Any:
    """For the landing page's script: did this browser send back the session of `user`?"""
    wanted = request.args.get("user", "")
    signed_in = bool(current_user.is_authenticated and wanted
                     and current_user.public_id == wanted)
    return jsonify({"signed_in": signed_in})


@bp.post("/open")
def open_window() -> Any:
    """"Open in a new window" from the landing page: the ticket signs the same user in, at
    the top level (a first-party cookie), and opens the page of the launch."""
    if not frames.same_origin_request():
        return _refuse(LaunchError(
            403, "cross_site_request", "Origin",
            "This link must be opened from CNN Quiz's own page: open the activity again from "
            "the LMS."), "lti_window_refused")
    try:
        ticket = frames.use_ticket(request.form.get("ticket", ""))
    except frames.TicketError as err:
        return _refuse(LaunchError(err.status, err.reason, "ticket", err.message),
                       "lti_window_refused")
    start_session(ticket.user)
    record_audit("lti_new_window", f"opened {ticket.target}", ticket.user.id)
    return redirect(ticket.target, code=303)


# ---------------------------------------------------------------- deep linking


def _picker(token: str, course_id: int, user: User, error: str = "", status: int = 200) -> Any:
    row = deep_linking.find(token)
    sets = deep_linking.choices(row)
    return render_template("lti/deep_link.html", token=token, course=row.course, sets=sets,
                           user=user, error=error), status


# A picker refusal's status (400 for a bad token); only a bad token names the `token` field.
_PICKER_STATUS = {"deep_link_used": 410, "deep_link_expired": 410, "signing_key_unreadable": 503}


def _picker_error(err: DeepLinkError) -> Any:
    status = _PICKER_STATUS.get(err.reason, 400)
    path = "" if status == 503 else "token"
    return _refuse(LaunchError(status, err.reason, path, err.message), "lti_deep_link_refused")


@bp.post("/deep-link")
def deep_link() -> Any:
    """The picker's form: without `set_id` it shows the list again (refresh); with one, it
    answers the platform with a signed LtiDeepLinkingResponse, auto-posted."""
    token = request.form.get("token", "")
    try:
        row = deep_linking.find(token)
    except DeepLinkError as err:
        return _picker_error(err)
    set_id = request.form.get("set_id", "").strip()
    if not set_id:
        return _picker(token, row.course_id, row.user)
    problem_set = db.session().scalar(select(ProblemSet).where(
        ProblemSet.public_id == set_id, ProblemSet.course_id == row.course_id))
    if problem_set is None:
        return _picker(token, row.course_id, row.user,
                       error="Choose one of the problem sets listed.", status=422)
    try:
        answer = deep_linking.respond(row, problem_set)
    except DeepLinkError as err:
        return _picker_error(err)
    record_audit("lti_deep_link", f"set {problem_set.public_id} to platform "
                                  f"{row.platform.public_id}", row.user_id)
    response = make_response(render_template("lti/deep_link_post.html", answer=answer,
                                             problem_set=problem_set))
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(answer.return_url))
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"frame-ancestors {current_app.config['FRAME_ANCESTORS']}; base-uri 'self'; "
        f"form-action 'self' {origin}"
    )
    return response


@bp.post("/continue")
def continue_in_window() -> Any:
    """From the deep-linking picker (which may sit in an LMS frame without our cookie): sign
    the same instructor in, in a window of their own, and open an instructor page. Only
    from the picker's own form: another site's form posting someone's token would sign the
    browser in as that instructor (login CSRF)."""
    if not frames.same_origin_request():
        return _refuse(LaunchError(
            403, "cross_site_request", "Origin",
            "This button must be used from CNN Quiz's own page: open the picker again from "
            "the LMS."), "lti_window_refused")
    token = request.form.get("token", "")
    try:
        row = deep_linking.find(token)
    except DeepLinkError as err:
        return _picker_error(err)
    start_session(row.user)
    target = request.form.get("next", "")
    if not (target.startswith("/teach/") and "//" not in target
            and local_path(target)):
        target = url_for("instructor.course", course_id=row.course.public_id)
    return redirect(target, code=303)
