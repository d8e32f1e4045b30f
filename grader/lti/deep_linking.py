"""Deep Linking 2.0: an instructor picks a problem set in the LMS; we answer with a signed
LtiDeepLinkingResponse holding one ltiResourceLink (with a line item) for it.

The request waits in `LtiDeepLink` under a random token that travels in the picker's
form: the LMS shows the picker in a frame, where our session cookie may not be sent.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from grader import db
from grader.lti import keys, registry
from grader.lti.launch import DL, LTI, VERSION, Launch
from grader.lti.models import LtiDeepLink, token_digest
from grader.models import Course, ProblemSet, utcnow
from grader.services.problem_sets import sets_for_course, total_points

LINE_ITEM_TAG = "cnnquiz-set"
RESPONSE_TTL = 600


class DeepLinkError(Exception):
    """The picker's token is unknown, used or expired (`message` says which)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message



def begin(launch: Launch, user_id: int, course: Course) -> str:
    """Store the request; the token for the picker's form."""
    settings = launch.deep_linking
    token = secrets.token_urlsafe(32)
    data = settings.get("data")
    now = utcnow()
    with db.transaction() as s:
        s.add(LtiDeepLink(
            token_hash=token_digest(token), platform_id=launch.platform.id,
            deployment_id=launch.deployment_id, user_id=user_id, course_id=course.id,
            return_url=str(settings["deep_link_return_url"]),
            data=json.dumps(data) if data is not None else None,
            accept_lineitem=settings.get("accept_lineitem") is not False,
            created_at=now,
            expires_at=now + timedelta(seconds=int(current_app.config["LTI_DEEP_LINK_TTL"])),
        ))
    return token


def find(token: str) -> LtiDeepLink:
    """The waiting request of `token`; DeepLinkError when there is none, or it is used or
    expired."""
    if not token or len(token) > 100:
        raise DeepLinkError("deep_link_unknown", "This selection is not known: start it again "
                                                 "from the LMS.")
    row = db.session().scalar(select(LtiDeepLink).where(LtiDeepLink.token_hash == token_digest(token)))
    if row is None:
        raise DeepLinkError("deep_link_unknown", "This selection is not known: start it again "
                                                 "from the LMS.")
    if row.used_at is not None:
        raise DeepLinkError("deep_link_used", "This selection was already sent to the LMS.")
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires <= utcnow():
        raise DeepLinkError("deep_link_expired", "This selection has expired: start it again "
                                                 "from the LMS.")
    return row


def choices(row: LtiDeepLink) -> list[ProblemSet]:
    """The problem sets the instructor may link: every set of the course."""
    return sets_for_course(row.course)


def content_item(problem_set: ProblemSet, with_line_item: bool) -> dict[str, Any]:
    """The ltiResourceLink for a set: our launch URL, the set in `custom`, and a line item
    (one gradebook column per set) scored out of the set's points."""
    item: dict[str, Any] = {
        "type": "ltiResourceLink",
        "title": problem_set.title,
        "url": registry.tool_urls().launch,
        "custom": {"set_id": problem_set.public_id},
    }
    maximum = total_points(problem_set)
    if with_line_item and maximum > 0:
        item["lineItem"] = {
            "scoreMaximum": maximum,
            "label": problem_set.title,
            "resourceId": problem_set.public_id,
            "tag": LINE_ITEM_TAG,
        }
    if current_app.config.get("LTI_NEW_WINDOW"):
        item["window"] = {"targetName": "_blank"}
    return item


@dataclass(frozen=True)
class Response:
    return_url: str
    jwt: str


def respond(row: LtiDeepLink, problem_set: ProblemSet) -> Response:
    """The signed LtiDeepLinkingResponse for `problem_set`; the request is then used up."""
    now = int(time.time())
    with db.transaction() as s:
        used = s.execute(update(LtiDeepLink).where(LtiDeepLink.id == row.id,
                                                   LtiDeepLink.used_at.is_(None))
                         .values(used_at=utcnow()))
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise DeepLinkError("deep_link_used", "This selection was already sent to the LMS.")
        claims: dict[str, Any] = {
            "iss": row.platform.client_id,
            "aud": row.platform.issuer,
            "iat": now,
            "exp": now + RESPONSE_TTL,
            "nonce": secrets.token_urlsafe(32),
            LTI + "deployment_id": row.deployment_id,
            LTI + "message_type": "LtiDeepLinkingResponse",
            LTI + "version": VERSION,
            DL + "content_items": [content_item(problem_set, row.accept_lineitem)],
        }
        if row.data is not None:
            claims[DL + "data"] = json.loads(row.data)
        try:
            token = keys.sign(s, claims)
        except keys.KeyUnreadable as err:  # rolled back: the selection can be sent again
            raise DeepLinkError("signing_key_unreadable", f"The tool cannot sign its answer "
                                f"to the LMS: {err}. Tell the tool's administrator.") from None
    return Response(row.return_url, token)
