"""Importing an LMS course's roster (LTI Names and Role Provisioning Services 2.0), so that
the gradebook lists every student from the start, not only those who have launched the tool.

How: a launch stores the course's `context_memberships_url` (grader.lti.launch). The import
gets a service token for the read-only membership scope (grader.services.passback's token
code: client credentials with a JWT assertion signed by our key), GETs the memberships, and
follows the `Link: <...>; rel="next"` pages: at most MAX_PAGES pages and MAX_MEMBERS
members, every request with a timeout (LTI_HTTP_TIMEOUT), no redirects followed, a bounded
body, and a deadline for the whole read. The roster is read whole before anything is
written: a platform error (HTTP 4xx/5xx, an answer that is not a membership container, a
next page at a place we would not send our token) stops the import with nothing imported.

Then each member is mapped exactly as their first launch would map them (grader.lti.accounts:
the LTI user of platform + `user_id`, its name and email when given), each in a small
transaction of its own: an import that stops half-way (a database error) leaves every
member either imported or untouched, and running it again finishes it. Active members
(a missing status is Active) with a learner role are enrolled as students; instructors,
teaching assistants and the other roles a launch makes instructors are enrolled as
instructors, as their launch would; Inactive and Deleted members, and members with neither
kind of role, are skipped and counted. Nobody is ever unenrolled, and nobody loses the
instructor role here (only their own launch can change it).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from grader import db
from grader.lti import accounts, registry
from grader.lti.launch import MAX_ID, url_origin
from grader.lti.models import LtiContext, LtiPlatform
from grader.services import passback
from problems.errors import SpecError

log = logging.getLogger("grader.lti")

NRPS_SCOPE = registry.NRPS_SCOPE
MEMBERSHIPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 100
MAX_MEMBERS = 10_000
MAX_PAGE_BYTES = 8 * 1024 * 1024
MAX_SECONDS = 120.0  # reading the whole roster
SHOWN_ERRORS = 5  # member errors named in the summary


class RosterError(Exception):
    """The roster could not be read: nothing was imported. `message` says why, for people
    (with the platform's own words when it gave some)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class RosterReport:
    """What an import did. `added` and `already_enrolled` count students and the
    instructors a launch would enroll; `errors` names the members that could not be
    imported."""

    context_title: str = ""
    added: int = 0
    already_enrolled: int = 0
    skipped_inactive: int = 0
    skipped_no_role: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.added} added, {self.already_enrolled} already enrolled, "
                f"{self.skipped_inactive} skipped (inactive), {self.skipped_no_role} skipped "
                f"(no learner role), {len(self.errors)} error{'s' if len(self.errors) != 1 else ''}")
        if self.errors:
            text += ": " + "; ".join(self.errors[:SHOWN_ERRORS])
            if len(self.errors) > SHOWN_ERRORS:
                text += f"; and {len(self.errors) - SHOWN_ERRORS} more"
        return text


@dataclass(frozen=True)
class _Target:
    """An LMS course and its platform, read before any network call (a passback.TokenClient)."""

    context_pk: int
    context_id: str
    title: str
    memberships_url: str
    platform_id: int
    platform_name: str
    client_id: str
    token_url: str
    token_audience: str


@dataclass(frozen=True)
class _Page:
    members: list[Any]
    next_url: str | None


# ---------------------------------------------------------------- which courses


def roster_contexts(course_id: int) -> list[LtiContext]:
    """The LMS courses mapped to this course (each may have a roster service or not)."""
    return list(db.session().scalars(select(LtiContext).where(LtiContext.course_id == course_id)
                                     .order_by(LtiContext.id)))


def _target(context: LtiContext) -> _Target:
    with db.transaction() as s:
        found = s.get(LtiContext, context.id)
        if found is None:
            raise RosterError("This LMS course is no longer linked to CNN Quiz.")
        if not found.memberships_url:
            raise RosterError(f"The LMS course {found.title or found.context_id!r} has not told "
                              "CNN Quiz where its roster is: launch the tool once from the LMS "
                              "course (if it still does not, enable the Names and Role "
                              "Provisioning service for the tool in the LMS).")
        platform = found.platform
        return _Target(
            context_pk=found.id, context_id=found.context_id,
            title=found.title or found.context_id, memberships_url=found.memberships_url,
            platform_id=platform.id, platform_name=platform.name, client_id=platform.client_id,
            token_url=platform.token_url,
            token_audience=platform.token_audience or platform.token_url)


# ---------------------------------------------------------------- reading the roster


def _token(s: Any, target: _Target) -> str:
    try:
        return passback.access_token(s, target, NRPS_SCOPE)
    except passback.DeliveryError as err:
        raise RosterError(f"{target.platform_name} gave no token to read the roster "
                          f"({err.message}). Does the tool's registration in the LMS allow "
                          "the Names and Role Provisioning service?") from None


def _fetch(url: str, token: str, deadline: float) -> tuple[requests.Response, bytes]:
    """One GET with a timeout, no redirects, a bounded body, and the overall deadline."""
    timeout = float(current_app.config["LTI_HTTP_TIMEOUT"])
    headers = {"Accept": MEMBERSHIPS_TYPE, "Authorization": f"Bearer {token}"}
    try:
        with requests.get(url, headers=headers, timeout=timeout, allow_redirects=False,
                          stream=True) as response:
            content = b""
            for chunk in response.iter_content(64 * 1024):
                content += chunk
                if len(content) > MAX_PAGE_BYTES:
                    raise RosterError(f"A page of the LMS roster is larger than "
                                      f"{MAX_PAGE_BYTES // (1024 * 1024)} MB: not imported.")
                if time.monotonic() > deadline:
                    raise RosterError(f"Reading the LMS roster took longer than "
                                      f"{MAX_SECONDS:g} s: nothing was imported; try again later.")
            return response, content
    except requests.Timeout:
        raise RosterError(f"The LMS did not answer the roster request within {timeout:g} s: "
                          "nothing was imported; try again later.") from None
    except requests.RequestException as err:
        raise RosterError(f"Could not reach the LMS's roster service ({type(err).__name__}): "
                          "nothing was imported; try again later.") from None


def _page(target: _Target, url: str, deadline: float) -> _Page:
    """One page of the roster, with a fresh token and one more try when the platform
    refuses ours (401)."""
    with current_app.extensions["sessionmaker"]() as s:
        for attempt in (1, 2):
            response, content = _fetch(url, _token(s, target), deadline)
            if response.status_code != 401 or attempt == 2:
                break
            passback.drop_token(s, target.platform_id, NRPS_SCOPE)
    text = content.decode("utf-8", "replace")
    if response.status_code != 200:
        raise RosterError("The LMS refused the roster request ("
                          f"{passback.reply_message(response.status_code, text)}): nothing was "
                          "imported.")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise RosterError("The LMS's roster answer is not JSON: nothing was imported.") from None
    members = body.get("members") if isinstance(body, dict) else None
    if not isinstance(members, list):
        raise RosterError("The LMS's roster answer has no members list: nothing was imported.")
    context = body.get("context")
    other = context.get("id") if isinstance(context, dict) else None
    if isinstance(other, str | int) and str(other) != target.context_id:
        raise RosterError(f"The LMS answered with the roster of another course ({other!r}, not "
                          f"{target.context_id!r}): nothing was imported.")
    next_url = response.links.get("next", {}).get("url")
    return _Page(members, urljoin(url, next_url) if next_url else None)


def _check_next(target: _Target, url: str) -> str:
    """A next page we send our token to: a URL we would call (https, or http on loopback),
    and https unless it is where the roster itself is."""
    try:
        url = registry.check_url(url, "next")
    except SpecError as err:
        raise RosterError(f"The LMS's next roster page {err.message} ({url[:200]!r}): not "
                          "followed, nothing was imported.") from None
    if (url_origin(url) != url_origin(target.memberships_url)
            and not url.lower().startswith("https://")):
        raise RosterError(f"The LMS's next roster page {url[:200]!r} is neither https nor on "
                          "the roster's own host: not followed, nothing was imported.")
    return url


def read_roster(target: _Target) -> list[Any]:
    """Every member of the roster, all pages read (bounded); RosterError otherwise."""
    deadline = time.monotonic() + MAX_SECONDS
    url: str | None = target.memberships_url
    seen: set[str] = set()
    members: list[Any] = []
    while url is not None:
        if len(seen) >= MAX_PAGES:
            raise RosterError(f"The LMS roster has more than {MAX_PAGES} pages: nothing was "
                              "imported.")
        if url in seen:
            raise RosterError("The LMS roster's pages loop back to one already read: nothing "
                              "was imported.")
        seen.add(url)
        page = _page(target, url, deadline)
        members.extend(page.members)
        if len(members) > MAX_MEMBERS:
            raise RosterError(f"The LMS roster has more than {MAX_MEMBERS:,} members: nothing "
                              "was imported.")
        url = _check_next(target, page.next_url) if page.next_url else None
    return members


# ---------------------------------------------------------------- writing it


def _member_sub(member: Any) -> str:
    """The member's user id (the `sub` of their launches); RosterError names what is wrong."""
    if not isinstance(member, dict):
        raise RosterError("a member that is not a JSON object")
    sub = member.get("user_id")
    if isinstance(sub, bool) or not isinstance(sub, str | int) or not str(sub).strip():
        raise RosterError("a member without a user_id")
    if len(str(sub)) > MAX_ID:
        raise RosterError(f"user_id {str(sub)[:40]!r}… is longer than {MAX_ID} characters")
    return str(sub)


def _import_member(target: _Target, sub: str, member: dict[str, Any], role: str) -> bool:
    """Map and enroll one member in a transaction of its own; True when newly enrolled."""
    for attempt in (1, 2):
        try:
            with db.transaction() as s:
                platform = s.get(LtiPlatform, target.platform_id)
                context = s.get(LtiContext, target.context_pk)
                if platform is None or context is None:
                    raise RosterError("The LMS course or its platform was removed during the "
                                      "import.")
                lti_user = accounts.member_user(s, platform, sub, member, role, launched=False)
                return accounts.enroll(s, context.course, lti_user.user, role, demote=False)
        except IntegrityError:
            # A concurrent launch or import made the same rows: the second pass finds them.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def import_roster(context: LtiContext) -> RosterReport:
    """Read the LMS course's roster and enroll its active members (see the module
    docstring); RosterError, with nothing imported, when the roster cannot be read."""
    target = _target(context)
    members = read_roster(target)
    report = RosterReport(context_title=target.title)
    done: set[str] = set()
    for member in members:
        try:
            sub = _member_sub(member)
        except RosterError as err:
            report.errors.append(err.message)
            continue
        if sub in done:  # listed twice (pages that overlap): counted once
            continue
        done.add(sub)
        status = member.get("status")
        if status is not None and status != "Active":
            report.skipped_inactive += 1
            continue
        roles = member.get("roles")
        role = accounts.course_role([r for r in roles if isinstance(r, str)]
                                    if isinstance(roles, list) else [])
        if role is None:
            report.skipped_no_role += 1
            continue
        try:
            added = _import_member(target, sub, member, role)
        except IntegrityError:
            log.exception("roster import of %s: member %r", target.context_id, sub)
            report.errors.append(f"user_id {sub[:40]!r}: could not be saved (try again)")
            continue
        if added:
            report.added += 1
        else:
            report.already_enrolled += 1
    log.info("roster import of LMS course %s (platform %s): %s", target.context_id,
             target.platform_id, report.summary())
    return report
