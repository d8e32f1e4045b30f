"""The tool inside an LMS frame, where browsers block or partition third-party cookies.

- `FrameSessionInterface`: a session that began with an LTI launch is sent as
  `SameSite=None; Secure; Partitioned` (CHIPS) when the app is served over HTTPS, so the
  pages after the launch keep their session (and its CSRF token) inside the LMS frame in
  browsers that partition third-party cookies (Chrome, Firefox, Edge; Safari since 18.4
  (not checked here)). Sessions from the sign-in form keep the configured attributes
  (`SESSION_COOKIE_SAMESITE`, Lax by default). The JSON API's requests get no session at
  all (it takes no cookie as a credential), which also spares them reading and signing one.
- Window tickets: where even a partitioned cookie is refused (older Safari, a strict browser
  setting), the launch page cannot keep the student signed in inside the frame; it offers
  "Open in a new window" with a single-use ticket (256 bits, only its SHA-256 stored, a few
  minutes) that signs the same user in at the top level, where our cookie is first-party.
- `same_origin_request()`: the steps that follow a launch (finishing a launch checked in the
  platform's storage, using a ticket) are accepted only from our own pages, by the
  browser's `Origin` / `Sec-Fetch-Site` headers, which another site cannot forge.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import delete, select, update

from grader import db
from grader.auth.access import local_path
from grader.lti.models import LtiWindowTicket, token_digest
from grader.models import User, utcnow

FRAME_KEY = "lti_frame"  # in the session: it began with an LTI launch
_SESSIONLESS = re.compile(r"/api/v\d+/(?!docs$)")


def served_securely(app: Flask) -> bool:
    return bool(app.config.get("SESSION_COOKIE_SECURE")) or (
        has_request_context() and request.is_secure)


class FrameSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session; an LTI session's cookie is `SameSite=None; Secure;
    Partitioned` over HTTPS (see the module docstring). `LTI_PARTITIONED_COOKIES=0` keeps
    `SameSite=None; Secure` without `Partitioned`."""

    def open_session(self, app: Flask, request: Any) -> Any:
        if _SESSIONLESS.match(request.path):
            # The JSON API never uses a session (a cookie is not an API credential): no
            # cookie is read or written, and any attempt to store something fails loudly.
            # (Its docs page is a page of the site, with the site's session.)
            return self.make_null_session(app)
        opened = super().open_session(app, request)
        # Remembered so that a cleared LTI session (logout, a new sign-in in the same frame)
        # is replaced or deleted with the attributes it was set with: a partitioned cookie
        # is only replaced by a partitioned one.
        g._lti_frame_cookie = opened is not None and FRAME_KEY in opened
        return opened

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if session and g.get("_lti_frame_cookie") and FRAME_KEY not in session:
            session[FRAME_KEY] = True
        super().save_session(app, session, response)

    def _framed(self, app: Flask) -> bool:
        if not has_request_context() or not served_securely(app):
            return False
        if session:  # (`in`, not .get(): reading it must not mark the session accessed)
            return FRAME_KEY in session
        return bool(g.get("_lti_frame_cookie"))

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "None" if self._framed(app) else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app: Flask) -> bool:
        return True if self._framed(app) else super().get_cookie_secure(app)

    def get_cookie_partitioned(self, app: Flask) -> bool:
        if self._framed(app) and app.config.get("LTI_PARTITIONED_COOKIES", True):
            return True
        return super().get_cookie_partitioned(app)


def mark_framed_session() -> None:
    """This (fresh) session began with an LTI launch: its cookie may live in an LMS frame.
    Not when the browser says the launch is a top-level page (`Sec-Fetch-Dest: document`,
    the LMS opened a new window): that session keeps the configured (Lax) cookie."""
    if request.headers.get("Sec-Fetch-Dest") != "document":
        session[FRAME_KEY] = True


def cookie_attributes() -> dict[str, Any]:
    """Attributes for our other cookies set inside an LMS frame (the login state): always
    `SameSite=None` (the launch is a cross-site POST), and over HTTPS `Secure; Partitioned`."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    secure = served_securely(app)
    return {"secure": secure, "samesite": "None", "httponly": True,
            "partitioned": secure and bool(app.config.get("LTI_PARTITIONED_COOKIES", True))}


# ---------------------------------------------------------------- same-origin steps


def own_origins() -> set[str]:
    """Our origins: BASE_URL's, and the one this request was addressed to."""
    base = urlsplit(str(current_app.config.get("BASE_URL", "")))
    found = {f"{request.scheme}://{request.host}".lower()}
    if base.scheme and base.netloc:
        found.add(f"{base.scheme}://{base.netloc}".lower())
    return found


def same_origin_request() -> bool:
    """The request comes from a page of ours (a browser says so in `Origin`, which our
    `Referrer-Policy: same-origin` keeps, or `Sec-Fetch-Site`); a form another site makes
    the browser post, or a client that says nothing, is refused."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin.lower() in own_origins()
    return site == "same-origin"


# ---------------------------------------------------------------- window tickets



def issue_ticket(user: User, target: str) -> str:
    """A ticket that signs `user` in once, in a window of their own, and opens `target`."""
    if not local_path(target):
        raise ValueError(f"not a local path: {target!r}")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    ttl = int(current_app.config["LTI_WINDOW_TTL"])
    with db.transaction() as s:
        s.execute(delete(LtiWindowTicket).where(LtiWindowTicket.expires_at < now))
        s.add(LtiWindowTicket(token_hash=token_digest(token), user_id=user.id, target=target,
                              created_at=now, expires_at=now + timedelta(seconds=ttl)))
    return token


class TicketError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Ticket:
    user: User
    target: str


def use_ticket(token: str) -> Ticket:
    """Use a ticket up (atomically: a second use, even a concurrent one, is refused)."""
    if not token or len(token) > 100:
        raise TicketError(400, "ticket_unknown", "This link is not known: open the activity "
                                                 "again from the LMS.")
    now = utcnow()
    digest = token_digest(token)
    with db.transaction() as s:
        used = s.execute(
            update(LtiWindowTicket)
            .where(LtiWindowTicket.token_hash == digest, LtiWindowTicket.used_at.is_(None),
                   LtiWindowTicket.expires_at > now)
            .values(used_at=now)
            .returning(LtiWindowTicket.user_id, LtiWindowTicket.target)
        ).first()
        if used is None:
            row = s.scalar(select(LtiWindowTicket).where(LtiWindowTicket.token_hash == digest))
            if row is None:
                raise TicketError(400, "ticket_unknown", "This link is not known: open the "
                                                         "activity again from the LMS.")
            if row.used_at is not None:
                raise TicketError(410, "ticket_used", "This link was already used: open the "
                                                      "activity again from the LMS.")
            raise TicketError(410, "ticket_expired", "This link has expired: open the "
                                                     "activity again from the LMS.")
        user = s.get(User, used.user_id)
    if user is None or not local_path(used.target):  # pragma: no cover - cascades, checks
        raise TicketError(400, "ticket_unknown", "This link is not known: open the activity "
                                                 "again from the LMS.")
    return Ticket(user, used.target)
