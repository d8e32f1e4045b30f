"""The instructor's API keys page: /teach/courses/<course>/api-keys (list, create, revoke).

Instructors of that course only (anyone else: login, or a logged 404). A new key is shown
once, in the response to the form that created it, and never again: only its SHA-256 is
stored. Forms carry the CSRF token like every other page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from grader import db
from grader.auth.access import deny
from grader.extensions import login_manager
from grader.instructor.access import own_course
from grader.models import Course
from grader.services import api_keys
from problems.errors import SpecError

bp = Blueprint("api_keys", __name__, url_prefix="/teach")


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


def _page(course: Course, *, new_key: api_keys.NewKey | None = None, name: str = "",
          errors: dict[str, str] | None = None, status: int = 200) -> Any:
    with db.transaction():
        keys = api_keys.keys_of(course)
    return render_template(
        "api/keys.html", course=course, keys=keys, new_key=new_key, name=name,
        errors=errors or {}, rate_limit=_config("API_RATE_LIMIT"),
        anon_rate_limit=_config("API_ANON_RATE_LIMIT"),
    ), status


def _config(name: str) -> str:
    from flask import current_app

    return str(current_app.config.get(name, ""))


@bp.get("/courses/<course_id>/api-keys")
def keys_page(course_id: str) -> Any:
    return _page(own_course(course_id))


@bp.post("/courses/<course_id>/api-keys")
def create_key(course_id: str) -> Any:
    course = own_course(course_id)
    name = request.form.get("name", "")
    try:
        new_key = api_keys.create_key(course, name, created_by=current_user)
    except SpecError as err:
        return _page(course, name=name, errors={err.path: f"The name {err.message}."},
                     status=422)
    return _page(course, new_key=new_key, status=201)


@bp.post("/courses/<course_id>/api-keys/<key_id>/revoke")
def revoke_key(course_id: str, key_id: str) -> Any:
    course = own_course(course_id)
    key = api_keys.key_of(course, key_id)
    if key is None:
        deny(f"API key {key_id[:40]!r} of course {course.public_id}")
    if api_keys.revoke(key, by=current_user):
        flash(f"Key “{key.name}” revoked: requests with it are refused from now on.", "success")
    else:
        flash(f"Key “{key.name}” was already revoked.", "info")
    return redirect(url_for("api_keys.keys_page", course_id=course.public_id))
