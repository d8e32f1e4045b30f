"""Who may see what: the role decorator, the 404-not-403 refusal and its audit trail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar, cast
from urllib.parse import urlsplit

from flask import abort, request
from flask_login import current_user

from grader import db
from grader.extensions import login_manager
from grader.models import AuditLog

log = logging.getLogger("grader.access")

F = TypeVar("F", bound=Callable[..., Any])
ROLES = ("instructor", "student")


def has_role(user: Any, role: str) -> bool:
    """Instructors are users flagged `is_instructor`; everyone else signed in is a student."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_instructor) if role == "instructor" else not user.is_instructor


def login_required_role(role: str) -> Callable[[F], F]:
    """Anonymous → the login page (with `next=`); signed in with another role → 404."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not has_role(current_user, role):
                deny(f"role {role} required for {request.method} {request.path}")
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def record_audit(action: str, detail: str = "", user_id: int | None = None) -> None:
    """Append an audit row in its own transaction (failed authorisations, admin actions).

    `user_id` defaults to the signed-in user. Never raises: auditing must not turn a 404
    into a 500."""
    if user_id is None and getattr(current_user, "is_authenticated", False):
        user_id = current_user.id
    try:
        with db.transaction() as s:
            s.add(AuditLog(user_id=user_id, action=action[:64], detail=detail[:2000]))
    except Exception:  # pragma: no cover - the database is down; the log line still exists
        log.exception("could not write audit row %s", action)


def local_path(target: str) -> bool:
    """`target` is a path on this site (where a user may be sent after signing in): never
    another host, a scheme, a backslash trick, control characters, or text that is no URL
    at all ("//[x" has no valid host)."""
    try:
        parts = urlsplit(target)
    except ValueError:
        return False
    return (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not parts.scheme and not parts.netloc and all(ord(c) >= 32 for c in target))


def deny(detail: str, action: str = "access_denied", user: Any = None) -> NoReturn:
    """Refuse with 404 (never 403: no oracle for what exists), logging who tried what
    (`user`, else the signed-in user)."""
    if user is not None:
        uid = user.id
    else:
        uid = current_user.id if getattr(current_user, "is_authenticated", False) else None
    log.warning("%s: user %s: %s", action, uid, detail)
    record_audit(action, detail, uid)
    abort(404)
