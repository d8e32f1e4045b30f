"""The instructor's API keys page: /teach/courses/<course>/api-keys (list, create, revoke).

Instructors of that course only (anyone else: login, or a logged 404). Creating a key
redirects to the page (post/redirect/get), which shows the new key once: it waits in the
session only until that page is drawn (sealed with a key derived from SECRET_KEY: the session
cookie is signed, not encrypted, and the key must not be readable in it), and only its
SHA-256 is stored. Revoking asks for a
confirmation first (a page of its own: no JavaScript needed). Forms carry the CSRF token
like every other page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from grader import db, sealing
from grader.auth.access import deny
from grader.extensions import login_manager
from grader.instructor.access import own_course
from grader.models import Course
from grader.services import api_keys
from problems.errors import SpecError

bp = Blueprint("api_keys", __name__, url_prefix="/teach")
# A new key waits here (sealed, in the signed session) between the create POST and the page
# showing it, for at most NEW_KEY_SECONDS.
NEW_KEY = "new_api_key"
NEW_KEY_SECONDS = 600
SEALED_FOR = "new api key in the session"


@bp.before_request
def _instructors_only() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_instructor:
        deny(f"API keys page: {request.method} {request.path}")
    return None


@bp.after_request
def _no_store(response: WerkzeugResponse) -> WerkzeugResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"when": when}


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _page(course: Course, *, new_key: dict[str, str] | None = None, name: str = "",
          errors: dict[str, str] | None = None, status: int = 200) -> Any:
    with db.transaction():
        keys = api_keys.keys_of(course)
    return render_template(
        "api/keys.html", course=course, keys=keys, new_key=new_key, name=name,
        errors=errors or {}, rate_limit=_config("API_RATE_LIMIT"),
        anon_rate_limit=_config("API_ANON_RATE_LIMIT"),
    ), status


def _config(name: str) -> str:
    return str(current_app.config.get(name, ""))


@bp.get("/courses/<course_id>/api-keys")
def keys_page(course_id: str) -> Any:
    course = own_course(course_id)
    return _page(course, new_key=_new_key(course))


def _cipher() -> Fernet:
    return sealing.fernet(str(current_app.config["SECRET_KEY"]), SEALED_FOR)


def _new_key(course: Course) -> dict[str, str] | None:
    """The key created just before for `course` (its name and token), taken from the
    session; None when there is none, or it is for another course, or too old to show."""
    waiting = session.pop(NEW_KEY, None)
    if not isinstance(waiting, dict) or waiting.get("course") != course.public_id:
        return None
    try:
        token = _cipher().decrypt(str(waiting.get("sealed", "")), ttl=NEW_KEY_SECONDS)
    except InvalidToken:
        flash(f"The key “{waiting.get('name', '')}” was created but can no longer be shown "
              "(the page came too late). Revoke it and create another.", "error")
        return None
    return {"name": str(waiting.get("name", "")), "token": token.decode("ascii")}


@bp.post("/courses/<course_id>/api-keys")
def create_key(course_id: str) -> Any:
    course = own_course(course_id)
    name = request.form.get("name", "")
    try:
        new_key = api_keys.create_key(course, name, created_by=current_user)
    except SpecError as err:
        return _page(course, name=name, errors={err.path: f"The name {err.message}."},
                     status=422)
    # Shown once by the page after the redirect, so a reload neither makes another key nor
    # shows this one again.
    session[NEW_KEY] = {"course": course.public_id, "name": new_key.key.name,
                        "sealed": _cipher().encrypt(new_key.token.encode("ascii")).decode("ascii")}
    return redirect(url_for("api_keys.keys_page", course_id=course.public_id) + "#new-key")


def _key(course: Course, key_id: str) -> Any:
    key = api_keys.key_of(course, key_id)
    if key is None:
        deny(f"API key {key_id[:40]!r} of course {course.public_id}")
    return key


@bp.get("/courses/<course_id>/api-keys/<key_id>/revoke")
def confirm_revoke(course_id: str, key_id: str) -> Any:
    """Ask before revoking: what stops working, and that it cannot be undone."""
    course = own_course(course_id)
    return render_template("api/revoke_key.html", course=course, key=_key(course, key_id))


@bp.post("/courses/<course_id>/api-keys/<key_id>/revoke")
def revoke_key(course_id: str, key_id: str) -> Any:
    course = own_course(course_id)
    key = _key(course, key_id)
    if request.form.get("confirm") != "yes":
        return redirect(url_for("api_keys.confirm_revoke", course_id=course.public_id,
                                key_id=key.public_id))
    if api_keys.revoke(key, by=current_user):
        flash(f"Key “{key.name}” revoked: requests with it are refused from now on.", "success")
    else:
        flash(f"Key “{key.name}” was already revoked.", "info")
    return redirect(url_for("api_keys.keys_page", course_id=course.public_id))
