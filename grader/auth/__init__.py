"""Sign-in, sign-out and password change; the role guard every other blueprint uses.

`current_user` is Flask-Login's (the `User` row, or an anonymous user); a session is valid
only while its stored `session_epoch` equals the user's (logging out everywhere and a
password change bump it) and its own id is not among the user's `signed_out_sessions`
(logging out on one browser adds it).
"""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from grader.auth.access import deny, login_required_role, record_audit

bp = Blueprint("auth", __name__)

from grader.auth import routes  # noqa: E402,F401  (registers the views on bp)

__all__ = ["bp", "current_user", "deny", "login_required_role", "record_audit"]
