"""Course API keys: create (the key is shown once), list, revoke, and authenticate a bearer.

A key is `cnnq_<public-id>_<secret>`: the public id (16 hex digits) finds the row, the
secret (`secrets.token_urlsafe(32)`, 256 bits) is checked against its stored SHA-256 with
`hmac.compare_digest`. A 256-bit random secret needs no slow KDF (ASVS 6.5.2).

A key's id, course, name and secret hash never change, so each process keeps them once read
(`_Seen`) and checks a bearer's secret without the database. Revocation does change: it is
read from the database on every request (`check_not_revoked`), or, on the grading path,
checked by the grading INSERT itself, atomically with recording (grader/api/grading.py). So
a revocation takes effect at the key's next request, in every process.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value

from grader import db
from grader.api import connection
from grader.api.models import ApiKey
from grader.models import AuditLog, Course, User, utcnow
from problems.contract import line_problem
from problems.errors import SpecError

PREFIX = "cnnq_"
MAX_NAME = 100
# last_used_at is written at most this often per key (a write per request would cost the
# busiest keys a database write each).
LAST_USED_RESOLUTION = timedelta(minutes=1)
_KEY = re.compile(r"^cnnq_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    """A key just created: `token` is the full key, shown once and never stored."""

    key: ApiKey
    token: str


@dataclass(frozen=True)
class Caller:
    """An authenticated API key: which key and which course it reaches."""

    key_id: int
    public_id: str
    course_id: int
    name: str
    # False while the key's revocation has not been read in this request (see the module's
    # docstring): `check_not_revoked` reads it.
    revocation_checked: bool = True


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(public id, secret) of a well-formed key, else None."""
    match = _KEY.match(token)
    return (match.group(1), match.group(2)) if match else None


def create_key(course: Course, name: str, created_by: User | None = None) -> NewKey:
    """A new key for `course`. Raises SpecError("name", ...) for an empty, long or
    multi-line name, or one an active key of the course has (any case): the key page and
    the gradebook tell keys apart by name, and the name is what revoking is decided on."""
    name = " ".join(name.split())
    if not name:
        raise SpecError("name", "is required: say what the key is for (e.g. 'Moodle sync')")
    if len(name) > MAX_NAME:
        raise SpecError("name", f"is longer than {MAX_NAME} characters")
    if problem := line_problem(name):
        raise SpecError("name", problem)
    public_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with db.transaction() as s:
        active = s.scalars(select(ApiKey.name).where(
            ApiKey.course_id == course.id, ApiKey.revoked_at.is_(None)))
        if name.casefold() in {other.casefold() for other in active}:
            raise SpecError("name", "is already used by an active key of this course: choose "
                                    "another, or revoke that key first")
        key = ApiKey(
            public_id=public_id,
            course_id=course.id,
            name=name,
            secret_hash=_hash(secret),
            created_by=created_by.id if created_by else None,
        )
        s.add(key)
        s.flush()
        s.add(AuditLog(
            user_id=created_by.id if created_by else None,
            action="api_key_created",
            detail=f"key {public_id} ({name}) for course {course.public_id}",
        ))
    return NewKey(key, f"{PREFIX}{public_id}_{secret}")


def keys_of(course: Course) -> list[ApiKey]:
    """The course's keys, active first, newest first."""
    keys = db.session().scalars(
        select(ApiKey).where(ApiKey.course_id == course.id).order_by(ApiKey.id.desc())
    )
    return sorted(keys, key=lambda k: k.revoked_at is not None)


def key_of(course: Course, public_id: str) -> ApiKey | None:
    """One of the course's keys by public id (None if it is another course's or unknown)."""
    return db.session().scalar(
        select(ApiKey).where(ApiKey.course_id == course.id, ApiKey.public_id == public_id)
    )


def find_key(ref: str) -> ApiKey | None:
    """A key by public id or by the full key text (admin and CLI use only: not scoped)."""
    parsed = parse_token(ref.strip())
    public_id = parsed[0] if parsed else ref.strip().removeprefix(PREFIX).split("_", 1)[0]
    return db.session().scalar(select(ApiKey).where(ApiKey.public_id == public_id))


def revoke(key: ApiKey, by: User | None = None) -> bool:
    """Revoke `key` (from its next request on); False if it was already revoked."""
    now = utcnow()
    with db.transaction() as s:
        done = s.execute(
            update(ApiKey)
            .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
        if done:
            s.add(AuditLog(
                user_id=by.id if by else None,
                action="api_key_revoked",
                detail=f"key {key.public_id} ({key.name})",
            ))
    if done:  # the caller's object shows it too (without another UPDATE)
        set_committed_value(key, "revoked_at", now)
    return bool(done)


class AuthError(Exception):
    """A bearer token that does not authenticate; `message` says why (never echoes it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_BY_PUBLIC_ID = select(
    ApiKey.id, ApiKey.course_id, ApiKey.name, ApiKey.secret_hash, ApiKey.revoked_at,
    ApiKey.last_used_at,
).where(ApiKey.public_id == bindparam("public_id"))
_REVOKED_AT = select(ApiKey.revoked_at).where(ApiKey.id == bindparam("key_id"))
_MARK_USED = (
    update(ApiKey).where(ApiKey.id == bindparam("key_id")).values(last_used_at=bindparam("now"))
)
_UNKNOWN_HASH = "0" * 64
_MAX_FACTS = 10_000  # keys remembered per process (then forgotten all at once)
REVOKED = "the API key was revoked"


@dataclass(frozen=True)
class _Facts:
    """What never changes about a key (cached per process, by public id)."""

    key_id: int
    course_id: int
    name: str
    secret_hash: str


class _Seen:
    """Per app (so per database): keys' facts by public id, and when this process last
    wrote each key's last_used_at."""

    def __init__(self) -> None:
        self.facts: dict[str, _Facts] = {}
        self.marked: dict[int, datetime] = {}


def _seen() -> _Seen:
    seen = current_app.extensions.get("api_keys_seen")
    if seen is None:
        seen = current_app.extensions["api_keys_seen"] = _Seen()
    return seen


def authenticate(token: str, now: datetime | None = None, *,
                 check_revoked: bool = True) -> Caller:
    """The caller behind a bearer token. Raises AuthError (malformed, unknown, wrong secret,
    revoked). Marks the key used, at most once per LAST_USED_RESOLUTION and process.

    Runs on every API request. A key seen before in this process costs no database read,
    except the revocation check; with `check_revoked=False` the caller's
    `revocation_checked` may be False, and whoever acts on it must check (see
    `check_not_revoked`)."""
    parsed = parse_token(token)
    if parsed is None:
        raise AuthError("the API key is malformed: expected cnnq_<id>_<secret>")
    public_id, secret = parsed
    seen = _seen()
    facts = seen.facts.get(public_id)
    revoked_at: datetime | None = None
    fetched = facts is None
    if facts is None:
        row = connection.first(_BY_PUBLIC_ID, {"public_id": public_id})
        if row is not None:
            facts = _Facts(row.id, row.course_id, row.name, row.secret_hash)
            revoked_at = row.revoked_at
            if row.last_used_at is not None:
                seen.marked.setdefault(row.id, _aware(row.last_used_at))
    # Compare even for an unknown id, so timing does not tell which ids exist.
    stored = facts.secret_hash if facts is not None else _UNKNOWN_HASH
    if not hmac.compare_digest(_hash(secret), stored) or facts is None:
        raise AuthError("the API key is not valid")
    if fetched:
        if len(seen.facts) >= _MAX_FACTS:
            seen.facts.clear()
        seen.facts[public_id] = facts  # only a key whose secret matched
    caller = Caller(facts.key_id, public_id, facts.course_id, facts.name,
                    revocation_checked=fetched)
    if revoked_at is not None:
        raise AuthError(REVOKED)
    if check_revoked and not fetched:
        caller = check_not_revoked(caller)
    _mark_used(seen, facts.key_id, now or utcnow())
    return caller


def check_not_revoked(caller: Caller) -> Caller:
    """`caller`, its revocation read from the database now. Raises AuthError if revoked
    (or if the key no longer exists)."""
    if caller.revocation_checked:
        return caller
    row = connection.first(_REVOKED_AT, {"key_id": caller.key_id})
    if row is None:
        _seen().facts.pop(caller.public_id, None)
        raise AuthError("the API key is not valid")
    if row.revoked_at is not None:
        raise AuthError(REVOKED)
    return replace(caller, revocation_checked=True)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


def _mark_used(seen: _Seen, key_id: int, now: datetime) -> None:
    last = seen.marked.get(key_id)
    if last is None or now - _aware(last) >= LAST_USED_RESOLUTION:
        connection.first(_MARK_USED, {"key_id": key_id, "now": now})
        if len(seen.marked) >= _MAX_FACTS:
            seen.marked.clear()
        seen.marked[key_id] = now
