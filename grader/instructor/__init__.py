"""The instructor's pages under /teach: courses and rosters, the problem-set builder and
preview, the gradebook, item statistics and regrades. Instructors of a course only."""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user

from grader.auth.access import deny
from grader.extensions import login_manager

bp = Blueprint("instructor", __name__, url_prefix="/teach")


@bp.before_request
def _instructors_only() -> object:
    """Anonymous → login; signed in but not an instructor → 404 (logged). Each view then
    checks the course is this instructor's own."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_instructor:
        deny(f"instructor pages: {request.method} {request.path}")
    return None


from grader.instructor import routes  # noqa: E402,F401  (registers the views on bp)
