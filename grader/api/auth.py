"""Who is calling: the bearer API key (`Authorization: Bearer cnnq_...`), cached for the
request, and the rate-limit identity derived from it.

The API never reads the session cookie: a browser's session is not a credential here, so
a cookie without a key gets 401 (and CSRF cannot apply, since nothing is done on a cookie's
authority).
"""

from __future__ import annotations

import logging
import math
import time

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from grader import db
from grader.api.errors import ApiError
from grader.models import AuditLog
from grader.services import api_keys
from grader.services.api_keys import Caller

log = logging.getLogger("grader.api")
_NO_KEY = "no-key"
CHALLENGE = 'Bearer realm="cnnquiz-api"'


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401, "Authorization", "expected `Authorization: Bearer <API key>`",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    return token.strip()


def caller_or_none() -> Caller | None:
    """The authenticated key of this request, None without an Authorization header.
    Raises ApiError(401) for a header that does not authenticate. Cached per request."""
    cached = g.get("api_caller", _NO_KEY)
    if isinstance(cached, ApiError):
        raise cached
    if cached is not _NO_KEY:
        return cached  # type: ignore[return-value]
    try:
        token = _bearer()
        caller = api_keys.authenticate(token) if token is not None else None
    except api_keys.AuthError as err:
        refusal = ApiError(
            401, "Authorization", err.message,
            headers={"WWW-Authenticate": CHALLENGE + ', error="invalid_token"'},
        )
        g.api_caller = refusal
        raise refusal from None
    except ApiError as err:
        g.api_caller = err
        raise
    g.api_caller = caller
    return caller


def require_caller() -> Caller:
    """The authenticated key; 401 naming `Authorization` without one."""
    caller = caller_or_none()
    if caller is None:
        raise ApiError(
            401, "Authorization",
            "an API key is required: send `Authorization: Bearer <API key>` (instructors "
            "create keys on their course's API keys page); session cookies are not accepted",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    return caller


def not_found(path: str, label: str, detail: str) -> ApiError:
    """A 404 naming `path` ("no <label> with this id in the key's course") for another
    course's or a missing object, logged and audited like the pages' refusals."""
    caller = g.get("api_caller")
    key = caller.public_id if isinstance(caller, Caller) else "-"
    log.warning("api_access_denied: key %s: %s", key, detail)
    try:
        with db.transaction() as s:
            s.add(AuditLog(user_id=None, action="api_access_denied",
                           detail=f"key {key}: {detail}"[:2000]))
    except Exception:  # pragma: no cover - the database is down; the log line exists
        log.exception("could not write audit row")
    return ApiError(404, path, f"no {label} in the API key's course")


# ---------------------------------------------------------------- rate limits


def rate_limit_key() -> str:
    """Per API key when the request authenticates, else per client address."""
    try:
        caller = caller_or_none()
    except ApiError:
        caller = None
    if caller is not None:
        return f"key:{caller.key_id}"
    return f"ip:{get_remote_address()}"


def rate_limit_value() -> str:
    """API_RATE_LIMIT for a key, API_ANON_RATE_LIMIT for anyone else."""
    try:
        keyed = caller_or_none() is not None
    except ApiError:
        keyed = False
    name = "API_RATE_LIMIT" if keyed else "API_ANON_RATE_LIMIT"
    return str(current_app.config[name])


def retry_after(reset_at: float | None) -> str:
    """Seconds until the window resets (at least 1)."""
    if reset_at is None:
        return "60"
    return str(max(1, math.ceil(reset_at - time.time())))
