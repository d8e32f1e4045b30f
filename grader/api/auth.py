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
from functools import lru_cache

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

from grader import db
from grader.api.errors import ApiError
from grader.api.openapi import current_operation
from grader.extensions import limiter
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


def identified_caller() -> Caller | None:
    """The key of this request, its secret checked, None without an Authorization header;
    its revocation is not necessarily checked (`caller.revocation_checked`): enough to
    count its requests, not to act on its behalf. Raises ApiError(401) for a header that
    does not authenticate. Cached per request."""
    cached = g.get("api_caller", _NO_KEY)
    if isinstance(cached, ApiError):
        raise cached
    if cached is not _NO_KEY:
        return cached  # type: ignore[return-value]
    try:
        token = _bearer()
        caller = (api_keys.authenticate(token, check_revoked=False) if token is not None
                  else None)
    except api_keys.AuthError as err:
        g.api_caller = unauthorized(err)
        raise g.api_caller from None
    except ApiError as err:
        g.api_caller = err
        raise
    g.api_caller = caller
    return caller


def caller_or_none() -> Caller | None:
    """The authenticated, unrevoked key of this request, None without an Authorization
    header. Raises ApiError(401) for a header that does not authenticate."""
    caller = identified_caller()
    if caller is None or caller.revocation_checked:
        return caller
    try:
        caller = api_keys.check_not_revoked(caller)
    except api_keys.AuthError as err:
        g.api_caller = unauthorized(err)
        raise g.api_caller from None
    g.api_caller = caller
    return caller


def unauthorized(err: api_keys.AuthError) -> ApiError:
    """The 401 for a bearer token that does not authenticate."""
    return ApiError(
        401, "Authorization", err.message,
        headers={"WWW-Authenticate": CHALLENGE + ', error="invalid_token"'},
    )


def require_caller(*, revocation_checked_by_caller: bool = False) -> Caller:
    """The authenticated key; 401 naming `Authorization` without one. The key's revocation
    is checked, unless the caller checks it itself, atomically with what it does (the
    grading INSERT does)."""
    caller = identified_caller() if revocation_checked_by_caller else caller_or_none()
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


def check_rate_limit() -> None:
    """The API's rate limit, checked before every view of the blueprint: one budget per API
    key (API_RATE_LIMIT) or, without a key, per client address (API_ANON_RATE_LIMIT),
    shared by every route except those declared `rate_limited=False`; a 429 with
    Retry-After beyond it.

    The count is Flask-Limiter's: its configured strategy and storage (`limiter.limiter`;
    Redis when REDIS_URL is set, so every worker shares it), called here directly rather
    than through a decorated shared limit, whose per-request resolution cost more than the
    count itself on the grading path. A storage that fails lets the request through
    (logged): grading must not stop because Redis did."""
    if not limiter.enabled or not current_operation().rate_limited:
        return
    try:
        caller = identified_caller()  # a revoked key still spends its own budget
    except ApiError:
        caller = None
    if caller is not None:
        setting, who = "API_RATE_LIMIT", f"key:{caller.key_id}"
    else:
        setting, who = "API_ANON_RATE_LIMIT", f"ip:{get_remote_address()}"
    strategy = limiter.limiter
    for limit in _limits(str(current_app.config[setting])):
        try:
            allowed = strategy.hit(limit, "api", who)
            reset_at = None if allowed else strategy.get_window_stats(limit, "api", who).reset_time
        except Exception:  # noqa: BLE001 - the storage is down: count nothing, serve
            log.exception("rate limit storage failed; request %s let through", request.path)
            return
        if not allowed:
            wait = retry_after(reset_at)
            raise ApiError(429, "", f"rate limit reached ({limit}): retry in {wait} s",
                           headers={"Retry-After": wait})


@lru_cache(maxsize=64)
def _limits(text: str) -> tuple[RateLimitItem, ...]:
    """A rate-limit setting ("600 per minute", or several separated by ";") parsed."""
    return tuple(parse_many(text))


def retry_after(reset_at: float | None) -> str:
    """Seconds until the window resets (at least 1)."""
    if reset_at is None:
        return "60"
    return str(max(1, math.ceil(reset_at - time.time())))
