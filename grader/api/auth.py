"""Who is calling: the bearer API key (`Authorization: Bearer cnnq_...`), cached for the
request (`identified_caller`: its secret checked, which is enough to count its requests in
grader.api.limits; `caller_or_none` / `require_caller`: its revocation checked too, which
acting on its behalf needs).

The API never reads the session cookie: a browser's session is not a credential here, so
a cookie without a key gets 401 (and CSRF cannot apply, since nothing is done on a cookie's
authority).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from flask import g, request

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


def refuse_if_revoked(caller: Caller) -> None:
    """The 401 for a revoked key, read now even where this request has not needed it yet
    (refusal paths: a rate limit reached, a grade that recorded nothing; an admitted
    grading request has it checked by its INSERT)."""
    try:
        api_keys.check_not_revoked(replace(caller, revocation_checked=False))
    except api_keys.AuthError as err:
        raise unauthorized(err) from None


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
    if isinstance(caller, Caller) and not caller.revocation_checked:
        caller = caller_or_none()  # a revoked key is told so, not what exists (401)
    key = caller.public_id if isinstance(caller, Caller) else "-"
    log.warning("api_access_denied: key %s: %s", key, detail)
    try:
        with db.transaction() as s:
            s.add(AuditLog(user_id=None, action="api_access_denied",
                           detail=f"key {key}: {detail}"[:2000]))
    except Exception:  # pragma: no cover - the database is down; the log line exists
        log.exception("could not write audit row")
    return ApiError(404, path, f"no {label} in the API key's course")
