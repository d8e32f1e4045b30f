"""Grade passback to LTI platforms (Assignment and Grade Services 2.0) through an outbox.

What is sent: one line item per problem set and resource link; the score is the student's
set total (best current grade per item), out of the set's points. `activityProgress` is
"Completed" when every item is finished (full marks or no attempt left), else "Submitted"
(submitted, more attempts possible); `gradingProgress` is always "FullyGraded".

How: `enqueue` is called inside the submission's transaction and writes an `LtiScore` row
with the score and a timestamp fixed there, so the row commits (or not) with the
submission. A newer row for the same user and link supersedes older pending ones: nothing
stale is sent after something newer. Delivery (`deliver_due`: the `flask lti-outbox`
worker, plus one best-effort attempt right after the commit) claims a row, gets a service
token (client credentials with a JWT assertion signed by our key; cached until it expires),
finds or creates the line item when the launch named none, and POSTs the score to
`{lineitem}/scores`. Failures are retried with exponential backoff, always with the same
timestamp; a 409 counts as delivered (the platform has this score or a newer one).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from flask import Flask, current_app
from sqlalchemy import CursorResult, delete, event, func, or_, select, update
from sqlalchemy.orm import Session

from grader import db
from grader.models import Grade, Item, ProblemSet, Submission, User, utcnow

log = logging.getLogger("grader.passback")

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
LINEITEM_READ_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LINE_ITEM_TAG = "cnnquiz-set"
FULL_MARKS = 1.0 - 1e-9
LOCK_SECONDS = 120
TOKEN_MARGIN = 60  # a cached token is not used in its last minute
MAX_PAGES = 20
STATUSES = ("pending", "sent", "failed", "superseded")


# ---------------------------------------------------------------- the score of a set


@dataclass(frozen=True)
class SetScore:
    """A student's standing on a set, as sent to the LMS."""

    given: float
    maximum: float
    activity_progress: str
    submitted: bool


def set_score(s: Session, user_id: int, problem_set_id: int) -> SetScore:
    """Best current grade per item summed over the set, out of the set's points."""
    problem_set = s.get(ProblemSet, problem_set_id)
    assert problem_set is not None
    items = s.execute(select(Item.id, Item.points).where(Item.problem_set_id == problem_set_id)
                      ).all()
    item_ids = [i for i, _ in items]
    latest = (
        select(Grade.submission_id, func.max(Grade.id).label("grade_id"))
        .join(Submission, Submission.id == Grade.submission_id)
        .where(Submission.user_id == user_id, Submission.item_id.in_(item_ids))
        .group_by(Grade.submission_id)
        .subquery()
    )
    rows = s.execute(
        select(Submission.item_id, Grade.score, Grade.fraction)
        .join(latest, latest.c.submission_id == Submission.id)
        .join(Grade, Grade.id == latest.c.grade_id)
    ).all() if item_ids else []
    best: dict[int, tuple[float, float]] = {}
    used: dict[int, int] = {}
    for item_id, score, fraction in rows:
        used[item_id] = used.get(item_id, 0) + 1
        if item_id not in best or score > best[item_id][0]:
            best[item_id] = (float(score), float(fraction))
    finished = [
        (item_id in best and best[item_id][1] >= FULL_MARKS)
        or used.get(item_id, 0) >= problem_set.attempts_allowed
        for item_id in item_ids
    ]
    given = round(sum(score for score, _ in best.values()), 6)
    maximum = round(float(sum(points for _, points in items)), 6)
    progress = "Completed" if item_ids and all(finished) else "Submitted"
    return SetScore(given, maximum, progress, bool(rows))


# ---------------------------------------------------------------- enqueueing


def _timestamp(moment: datetime) -> str:
    """ISO 8601, UTC, with microseconds (AGS wants sub-second precision and a zone)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _targets(s: Session, user_id: int, problem_set_id: int) -> list[tuple[int, int]]:
    """(resource link, LTI user) pairs that take this user's scores on this set."""
    from grader.lti.models import LtiLinkUser, LtiResourceLink, LtiUser

    rows = s.execute(
        select(LtiResourceLink.id, LtiUser.id, LtiResourceLink.ags_scopes,
               LtiResourceLink.lineitem_url, LtiResourceLink.lineitems_url)
        .join(LtiLinkUser, LtiLinkUser.resource_link_id == LtiResourceLink.id)
        .join(LtiUser, LtiUser.id == LtiLinkUser.lti_user_id)
        .where(LtiUser.user_id == user_id, LtiResourceLink.problem_set_id == problem_set_id)
        .order_by(LtiResourceLink.id)
    ).all()
    return [(link_id, lti_user_id) for link_id, lti_user_id, scopes, one, many in rows
            if SCORE_SCOPE in (scopes or []) and (one or many)]


def _add(s: Session, link_id: int, lti_user_id: int, problem_set_id: int, score: SetScore,
         submission_id: int | None, reason: str) -> int:
    from grader.lti.models import LtiScore

    now = utcnow()
    moment = now
    last = s.scalar(select(LtiScore.timestamp)
                    .where(LtiScore.resource_link_id == link_id, LtiScore.lti_user_id == lti_user_id)
                    .order_by(LtiScore.id.desc()).limit(1))
    if last:  # every version strictly newer than the one before, even within a microsecond
        previous = datetime.fromisoformat(last)
        if previous >= moment:
            moment = previous + timedelta(microseconds=1)
    s.execute(update(LtiScore)
              .where(LtiScore.resource_link_id == link_id, LtiScore.lti_user_id == lti_user_id,
                     LtiScore.status.in_(("pending", "failed")))
              .values(status="superseded"))
    row = LtiScore(resource_link_id=link_id, lti_user_id=lti_user_id,
                   problem_set_id=problem_set_id, submission_id=submission_id, reason=reason,
                   score_given=score.given, score_maximum=score.maximum,
                   activity_progress=score.activity_progress, grading_progress="FullyGraded",
                   timestamp=_timestamp(moment), status="pending", attempts=0,
                   next_attempt_at=now, created_at=now)
    s.add(row)
    s.flush()
    return row.id


def enqueue(s: Session, user: User, item: Item, submission_id: int | None = None) -> list[int]:
    """Queue the user's current score on the item's set for every LTI link they launched it
    from, in the caller's transaction (a no-op without such a link). Returns the row ids;
    delivery is attempted once the transaction commits."""
    s.flush()
    targets = _targets(s, user.id, item.problem_set_id)
    if not targets:
        return []
    score = set_score(s, user.id, item.problem_set_id)
    if score.maximum <= 0:
        return []
    ids = [_add(s, link_id, lti_user_id, item.problem_set_id, score, submission_id, "submit")
           for link_id, lti_user_id in targets]
    _deliver_after_commit(s, ids)
    return ids


def resend(score_public_id: str, course_id: int) -> int | None:
    """Queue the current score of that row's user and link again (a new version, a new
    timestamp); None if the row is not of this course or its link has no set any more."""
    from grader.lti.models import LtiResourceLink, LtiScore

    with db.transaction() as s:
        row = s.scalar(select(LtiScore).join(ProblemSet, ProblemSet.id == LtiScore.problem_set_id)
                       .where(LtiScore.public_id == score_public_id,
                              ProblemSet.course_id == course_id))
        if row is None:
            return None
        link = s.get(LtiResourceLink, row.resource_link_id)
        if link is None or link.problem_set_id is None:
            return None
        score = set_score(s, row.lti_user.user_id, link.problem_set_id)
        if score.maximum <= 0:
            return None
        new_id = _add(s, link.id, row.lti_user_id, link.problem_set_id, score, None, "resend")
        _deliver_after_commit(s, [new_id])
        return new_id


def resend_all(course_id: int) -> int:
    """Queue every LTI student's current score on every linked set of the course (those
    with at least one submission); the number queued."""
    from grader.lti.models import LtiLinkUser, LtiResourceLink, LtiUser

    count = 0
    with db.transaction() as s:
        pairs = s.execute(
            select(LtiResourceLink.id, LtiResourceLink.problem_set_id, LtiUser.id, LtiUser.user_id,
                   LtiResourceLink.ags_scopes, LtiResourceLink.lineitem_url,
                   LtiResourceLink.lineitems_url)
            .join(LtiLinkUser, LtiLinkUser.resource_link_id == LtiResourceLink.id)
            .join(LtiUser, LtiUser.id == LtiLinkUser.lti_user_id)
            .join(ProblemSet, ProblemSet.id == LtiResourceLink.problem_set_id)
            .where(ProblemSet.course_id == course_id, LtiLinkUser.role == "student")
            .order_by(LtiResourceLink.id, LtiUser.id)
        ).all()
        ids = []
        for link_id, set_id, lti_user_id, user_id, scopes, one, many in pairs:
            if SCORE_SCOPE not in (scopes or []) or not (one or many):
                continue
            score = set_score(s, user_id, set_id)
            if not score.submitted or score.maximum <= 0:
                continue
            ids.append(_add(s, link_id, lti_user_id, set_id, score, None, "resend"))
        count = len(ids)
        _deliver_after_commit(s, ids)
    return count


# ---------------------------------------------------------------- after the commit

_threads: list[threading.Thread] = []


def _deliver_after_commit(s: Session, ids: list[int]) -> None:
    if not ids:
        return
    s.info.setdefault("lti_passback_ids", []).extend(ids)
    if not event.contains(s, "after_commit", _after_commit):
        event.listen(s, "after_commit", _after_commit)
        event.listen(s, "after_soft_rollback", _after_rollback)


def _after_rollback(s: Session, _previous: Any) -> None:
    s.info.pop("lti_passback_ids", None)


def _after_commit(s: Session) -> None:
    ids = s.info.pop("lti_passback_ids", None)
    if not ids:
        return
    try:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    except RuntimeError:  # no app: the worker will deliver
        return
    mode = app.config.get("LTI_PASSBACK", "thread")
    if mode == "sync":
        _deliver_quietly(app, ids)
    elif mode == "thread":
        thread = threading.Thread(target=_deliver_quietly, args=(app, ids), daemon=True,
                                  name="lti-passback")
        _threads[:] = [t for t in _threads if t.is_alive()] + [thread]
        thread.start()


def _deliver_quietly(app: Flask, ids: list[int]) -> None:
    """The best-effort attempt: whatever goes wrong, the row stays for the worker."""
    try:
        with app.app_context():
            deliver_due(ids=ids)
    except Exception:  # pragma: no cover - logged; the worker retries
        log.exception("best-effort grade passback failed for rows %s", ids)


def wait_for_background(timeout: float = 30.0) -> None:
    """Wait for the best-effort delivery threads (tests, graceful shutdown)."""
    for thread in list(_threads):
        thread.join(timeout)


# ---------------------------------------------------------------- delivery


class DeliveryError(Exception):
    """A failed delivery step: `retry` when it may work later (platform down, timeout)."""

    def __init__(self, message: str, *, retry: bool, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry
        self.status = status
        self.retry_after = retry_after


@dataclass
class DeliveryReport:
    """What one pass of the outbox did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    claimed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed, "
                f"{self.skipped} skipped")


@dataclass(frozen=True)
class _Job:
    """One outbox row with everything delivery needs, read before any network call."""

    row_id: int
    payload: dict[str, Any]
    attempts: int
    link_id: int
    resource_link_id: str
    link_title: str
    lineitem_url: str | None
    lineitems_url: str | None
    scopes: tuple[str, ...]
    set_public_id: str
    set_title: str
    platform_id: int
    client_id: str
    token_url: str
    token_audience: str


def _config(name: str) -> Any:
    return current_app.config[name]


def _timeout() -> float:
    return float(_config("LTI_HTTP_TIMEOUT"))


def _sessionmaker() -> Any:
    return current_app.extensions["sessionmaker"]


def deliver_due(now: datetime | None = None, limit: int = 200,
                ids: Sequence[int] | None = None) -> DeliveryReport:
    """Deliver the pending scores that are due (only `ids`, when given), each claimed so
    that two workers never send the same row at once. Needs an app context."""
    from grader.lti.models import LtiScore

    now = now or utcnow()
    report = DeliveryReport()
    with _sessionmaker()() as s:
        with s.begin():
            query = (select(LtiScore.id)
                     .where(LtiScore.status == "pending", LtiScore.next_attempt_at <= now)
                     .order_by(LtiScore.id).limit(limit))
            if ids is not None:
                query = query.where(LtiScore.id.in_(list(ids)))
            candidates = list(s.scalars(query))
        for row_id in candidates:
            if not _claim(s, row_id, now):
                report.skipped += 1
                continue
            report.claimed += 1
            _deliver(s, row_id, now, report)
    return report


def _claim(s: Session, row_id: int, now: datetime) -> bool:
    from grader.lti.models import LtiScore

    with s.begin():
        result: CursorResult[Any] = s.execute(  # type: ignore[assignment]
            update(LtiScore)
            .where(LtiScore.id == row_id, LtiScore.status == "pending",
                   LtiScore.next_attempt_at <= now,
                   or_(LtiScore.locked_until.is_(None), LtiScore.locked_until < now))
            .values(locked_until=now + timedelta(seconds=LOCK_SECONDS),
                    attempts=LtiScore.attempts + 1)
        )
    return result.rowcount == 1


def _job(s: Session, row_id: int) -> _Job | None:
    from grader.lti.models import LtiScore

    s.expire_all()  # rows were changed by UPDATE statements since they were loaded
    with s.begin():
        row = s.get(LtiScore, row_id)
        if row is None:  # deleted meanwhile (its platform or set was removed)
            return None
        link = row.resource_link
        platform = link.platform
        problem_set = row.problem_set
        return _Job(
            row_id=row.id,
            payload=payload_of(row),
            attempts=row.attempts,
            link_id=link.id,
            resource_link_id=link.resource_link_id,
            link_title=link.title,
            lineitem_url=link.line_item,
            lineitems_url=link.lineitems_url,
            scopes=tuple(link.ags_scopes or ()),
            set_public_id=problem_set.public_id,
            set_title=problem_set.title,
            platform_id=platform.id,
            client_id=platform.client_id,
            token_url=platform.token_url,
            token_audience=platform.token_audience or platform.token_url,
        )


def payload_of(row: Any) -> dict[str, Any]:
    """The score JSON of an outbox row (the same bytes on every retry)."""
    return {
        "userId": row.lti_user.sub,
        "scoreGiven": row.score_given,
        "scoreMaximum": row.score_maximum,
        "activityProgress": row.activity_progress,
        "gradingProgress": row.grading_progress,
        "timestamp": row.timestamp,
    }


def _deliver(s: Session, row_id: int, now: datetime, report: DeliveryReport) -> None:
    from grader.lti.models import LtiScore

    job = _job(s, row_id)
    if job is None:
        report.skipped += 1
        return
    status: int | None = None
    try:
        try:
            lineitem = _line_item(s, job, now)
            status = _post_score(s, job, lineitem)
        except DeliveryError:
            raise
        except Exception as err:  # a bug or a database error: keep the row, retry later
            log.exception("grade passback row %s: unexpected error", row_id)
            raise DeliveryError(f"internal error ({type(err).__name__}); will retry",
                                retry=True) from err
    except DeliveryError as err:
        give_up = not err.retry or job.attempts >= int(_config("LTI_MAX_ATTEMPTS"))
        message = err.message if not (err.retry and give_up) else (
            f"gave up after {job.attempts} attempts: {err.message}")
        values: dict[str, Any] = {"locked_until": None, "last_status": err.status,
                                  "last_error": message[:2000]}
        if give_up:
            values["status"] = "failed"
            report.failed += 1
        else:
            delay = min(float(_config("LTI_RETRY_MAX")),
                        float(_config("LTI_RETRY_BASE")) * 2 ** max(0, job.attempts - 1))
            if err.retry_after:
                delay = max(delay, min(err.retry_after, float(_config("LTI_RETRY_MAX"))))
            values["next_attempt_at"] = now + timedelta(seconds=delay)
            report.retrying += 1
        report.errors.append(message)
        log.warning("grade passback row %s: %s", row_id, message)
        with s.begin():
            s.execute(update(LtiScore).where(LtiScore.id == row_id).values(**values))
        return
    note = ("the platform answered 409: it already has this score or a newer one"
            if status == 409 else None)
    with s.begin():
        s.execute(update(LtiScore).where(LtiScore.id == row_id).values(
            status="sent", sent_at=utcnow(), locked_until=None, last_status=status,
            last_error=note))
    report.sent += 1


# ---------------------------------------------------------------- HTTP helpers


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def scores_url(lineitem: str) -> str:
    """`{lineitem}/scores`, appended to the path (before any query string)."""
    parts = urlsplit(lineitem)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/scores",
                       parts.query, parts.fragment))


def platform_message(response: requests.Response) -> str:
    """The platform's own words about an error (JSON error fields, else the text)."""
    return reply_message(response.status_code, response.text or "")


def reply_message(status: int, text: str) -> str:
    """`platform_message` of a reply with this status and text."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "error_description", "message", "reason")
                 if body.get(k)]
        if isinstance(body.get("error"), dict):
            parts = [json.dumps(body["error"])[:300]]
        if parts:
            text = ": ".join(parts)
    text = " ".join(text.split())[:300]
    return f"HTTP {status}" + (f": {text}" if text else "")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def _request(method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
    timeout = _timeout()
    try:
        return requests.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.Timeout as err:
        raise DeliveryError(f"{what}: the platform did not answer within {timeout:g} s",
                            retry=True) from err
    except requests.RequestException as err:
        raise DeliveryError(f"{what}: could not reach the platform ({type(err).__name__})",
                            retry=True) from err


def _check(response: requests.Response, what: str, ok: Iterable[int] = (200, 201)) -> None:
    if response.status_code in ok:
        return
    code = response.status_code
    retry = code >= 500 or code in (408, 425, 429)
    raise DeliveryError(f"{what}: {platform_message(response)}", retry=retry, status=code,
                        retry_after=_retry_after(response))


# ---------------------------------------------------------------- access tokens


def _token_scopes(job: _Job) -> str:
    wanted = [SCORE_SCOPE]
    if LINEITEM_SCOPE in job.scopes:
        wanted.append(LINEITEM_SCOPE)
    elif LINEITEM_READ_SCOPE in job.scopes:
        wanted.append(LINEITEM_READ_SCOPE)
    return " ".join(sorted(wanted))


class TokenClient(Protocol):
    """What asking a platform for a service token needs: an outbox job, or the platform
    of another service call (grader.lti.roster)."""

    @property
    def platform_id(self) -> int: ...
    @property
    def client_id(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def token_audience(self) -> str: ...


def drop_token(s: Session, platform_id: int, scope: str) -> None:
    """Forget the cached token for `scope` (the platform refused it: 401)."""
    from grader.lti.models import LtiAccessToken

    with s.begin():
        s.execute(delete(LtiAccessToken).where(LtiAccessToken.platform_id == platform_id,
                                               LtiAccessToken.scope == scope))


def access_token(s: Session, job: TokenClient, scope: str) -> str:
    """A bearer token for `scope` from the platform's token endpoint (client credentials
    with a JWT assertion signed by our key), cached until shortly before it expires.
    `s`: a session outside any transaction (each step here is one of its own)."""
    from grader.lti import keys
    from grader.lti.models import LtiAccessToken

    now = utcnow()
    with s.begin():
        cached = s.scalar(select(LtiAccessToken.token).where(
            LtiAccessToken.platform_id == job.platform_id, LtiAccessToken.scope == scope,
            LtiAccessToken.expires_at > now + timedelta(seconds=TOKEN_MARGIN)))
    if cached:
        return cached
    issued = int(time.time())
    try:
        with s.begin():
            assertion = keys.sign(s, {
                "iss": job.client_id, "sub": job.client_id, "aud": job.token_audience,
                "iat": issued, "exp": issued + 300, "jti": secrets.token_urlsafe(24),
            })
    except keys.KeyUnreadable as err:  # kept and retried: restoring SECRET_KEY fixes it
        raise DeliveryError(str(err), retry=True) from None
    what = "access token request"
    response = _request("POST", job.token_url, what, headers={"Accept": "application/json"}, data={
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": scope,
    })
    _check(response, what, ok=(200,))
    try:
        body = response.json()
        token = str(body["access_token"])
        expires_in = int(body.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError) as err:
        raise DeliveryError(f"{what}: the platform's answer has no access_token", retry=True,
                            status=response.status_code) from err
    with s.begin():
        s.execute(delete(LtiAccessToken).where(LtiAccessToken.platform_id == job.platform_id,
                                               LtiAccessToken.scope == scope))
        s.add(LtiAccessToken(platform_id=job.platform_id, scope=scope, token=token,
                             expires_at=utcnow() + timedelta(seconds=max(0, expires_in))))
    return token


def _authorized(s: Session, job: _Job, method: str, url: str, what: str,
                **kwargs: Any) -> requests.Response:
    """A request with our bearer token; on 401 a fresh token and one more try."""
    scope = _token_scopes(job)
    headers = dict(kwargs.pop("headers", {}))
    response = None
    for _ in range(2):
        headers["Authorization"] = f"Bearer {access_token(s, job, scope)}"
        response = _request(method, url, what, headers=headers, **kwargs)
        if response.status_code != 401:
            return response
        drop_token(s, job.platform_id, scope)
    assert response is not None
    return response


# ---------------------------------------------------------------- line items and scores


def _line_item(s: Session, job: _Job, now: datetime) -> str:
    """The line item URL: from the launch, else found by resource id or created once."""
    from grader.lti.models import LtiResourceLink

    if job.lineitem_url:
        return job.lineitem_url
    if not job.lineitems_url:
        raise DeliveryError("the platform gave this link neither a line item nor a line-items "
                            "service: grades cannot be sent to it", retry=False)
    with s.begin():
        got = s.execute(  # type: ignore[attr-defined]
            update(LtiResourceLink)
            .where(LtiResourceLink.id == job.link_id,
                   LtiResourceLink.resolved_lineitem_url.is_(None),
                   or_(LtiResourceLink.lineitem_lock_until.is_(None),
                       LtiResourceLink.lineitem_lock_until < now))
            .values(lineitem_lock_until=now + timedelta(seconds=LOCK_SECONDS))
        ).rowcount
    if got != 1:
        with s.begin():
            resolved = s.scalar(select(LtiResourceLink.resolved_lineitem_url)
                                .where(LtiResourceLink.id == job.link_id))
        if resolved:
            return resolved
        raise DeliveryError("another worker is creating this link's line item", retry=True)
    url = None
    try:
        url = _find_or_create_line_item(s, job)
    finally:
        with s.begin():
            s.execute(update(LtiResourceLink).where(LtiResourceLink.id == job.link_id)
                      .values(lineitem_lock_until=None, resolved_lineitem_url=url))
    return url


def _find_or_create_line_item(s: Session, job: _Job) -> str:
    writable = LINEITEM_SCOPE in job.scopes
    if not writable and LINEITEM_READ_SCOPE not in job.scopes:
        raise DeliveryError("the launch named no line item and the platform granted no "
                            "line-item scope to find or create one", retry=False)
    assert job.lineitems_url is not None
    url: str | None = _with_query(job.lineitems_url, {
        "resource_link_id": job.resource_link_id, "resource_id": job.set_public_id})
    pages = 0
    while url and pages < MAX_PAGES:
        pages += 1
        response = _authorized(s, job, "GET", url, "line items lookup",
                               headers={"Accept": CONTAINER_TYPE})
        _check(response, "line items lookup", ok=(200,))
        try:
            items = response.json()
        except ValueError as err:
            raise DeliveryError("line items lookup: the platform's answer is not JSON",
                                retry=True) from err
        for candidate in items if isinstance(items, list) else []:
            if (isinstance(candidate, dict) and candidate.get("resourceId") == job.set_public_id
                    and candidate.get("resourceLinkId") in (None, job.resource_link_id)
                    and candidate.get("tag") in (None, LINE_ITEM_TAG)
                    and isinstance(candidate.get("id"), str)):
                return candidate["id"]
        url = response.links.get("next", {}).get("url")
    if not writable:
        raise DeliveryError("no line item for this set on the platform, and the platform did not "
                            "grant the scope to create one", retry=False)
    maximum = job.payload["scoreMaximum"]
    response = _authorized(
        s, job, "POST", job.lineitems_url, "line item creation",
        headers={"Content-Type": LINEITEM_TYPE, "Accept": LINEITEM_TYPE},
        data=json.dumps({"scoreMaximum": maximum, "label": job.link_title or job.set_title,
                         "resourceId": job.set_public_id, "tag": LINE_ITEM_TAG,
                         "resourceLinkId": job.resource_link_id}),
    )
    _check(response, "line item creation")
    try:
        created = response.json()["id"]
    except (ValueError, KeyError, TypeError) as err:
        raise DeliveryError("line item creation: the platform's answer has no id",
                            retry=True) from err
    return str(created)


def _post_score(s: Session, job: _Job, lineitem: str) -> int:
    response = _authorized(
        s, job, "POST", scores_url(lineitem), "score",
        headers={"Content-Type": SCORE_TYPE, "Accept": "application/json"},
        data=json.dumps(job.payload),
    )
    if response.status_code == 409:
        return 409
    _check(response, "score", ok=(200, 201, 202, 204))
    return response.status_code


# ---------------------------------------------------------------- the sync log


@dataclass(frozen=True)
class SyncRow:
    """One outbox row as the instructor's sync log shows it."""

    public_id: str
    student: str
    email: str
    set_title: str
    link_title: str
    score_given: float
    score_maximum: float
    activity_progress: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    reason: str
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None


def sync_log(course_id: int, status: str | None = None, limit: int = 300) -> list[SyncRow]:
    """The newest outbox rows of a course's sets (optionally of one status)."""
    from grader.lti.models import LtiResourceLink, LtiScore, LtiUser

    query = (
        select(LtiScore, User.name, User.email, ProblemSet.title, LtiResourceLink.title)
        .join(ProblemSet, ProblemSet.id == LtiScore.problem_set_id)
        .join(LtiUser, LtiUser.id == LtiScore.lti_user_id)
        .join(User, User.id == LtiUser.user_id)
        .join(LtiResourceLink, LtiResourceLink.id == LtiScore.resource_link_id)
        .where(ProblemSet.course_id == course_id)
        .order_by(LtiScore.id.desc()).limit(limit)
    )
    if status in STATUSES:
        query = query.where(LtiScore.status == status)
    rows = []
    for score, name, email, set_title, link_title in db.session().execute(query).all():
        rows.append(SyncRow(
            public_id=score.public_id, student=name, email=email, set_title=set_title,
            link_title=link_title or "", score_given=score.score_given,
            score_maximum=score.score_maximum, activity_progress=score.activity_progress,
            status=score.status, attempts=score.attempts, last_status=score.last_status,
            last_error=score.last_error, reason=score.reason, created_at=score.created_at,
            sent_at=score.sent_at,
            next_attempt_at=score.next_attempt_at if score.status == "pending" else None,
        ))
    return rows


def status_counts(course_id: int) -> dict[str, int]:
    """How many outbox rows of the course are in each status."""
    from grader.lti.models import LtiScore

    counts = dict.fromkeys(STATUSES, 0)
    for status, n in db.session().execute(
        select(LtiScore.status, func.count())
        .join(ProblemSet, ProblemSet.id == LtiScore.problem_set_id)
        .where(ProblemSet.course_id == course_id).group_by(LtiScore.status)
    ).all():
        counts[status] = int(n)
    return counts


def has_links(course_id: int) -> bool:
    """Whether any LMS resource link opens a set of this course."""
    from grader.lti.models import LtiResourceLink

    return (db.session().scalar(
        select(func.count()).select_from(LtiResourceLink)
        .join(ProblemSet, ProblemSet.id == LtiResourceLink.problem_set_id)
        .where(ProblemSet.course_id == course_id)
    ) or 0) > 0

