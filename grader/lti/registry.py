"""Registering platforms: validation with field paths, deployments, lookups by owner, and the
URLs of the tool an administrator pastes into the LMS."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader import db
from grader.lti.models import LtiContext, LtiDeployment, LtiPlatform, LtiResourceLink
from grader.models import Course, Enrollment, User, utcnow
from problems.errors import SpecError

MAX_DEPLOYMENTS = 200
# Reading an LMS course's roster (Names and Role Provisioning Services 2.0).
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
# What the tool asks an LMS for (Assignment and Grade Services, and the roster: dynamic
# registration and the Canvas JSON config ask for these), and how it describes itself.
TOOL_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    NRPS_SCOPE,
)
TOOL_DESCRIPTION = ("Randomized, auto-graded problem sets on CNN arithmetic: shapes, parameters, "
                    "receptive fields and pooling. Grades return to the LMS.")


@dataclass(frozen=True)
class ToolUrls:
    """What the LMS administrator pastes in (all under BASE_URL)."""

    login: str
    launch: str
    jwks: str
    deep_linking: str
    canvas_config: str

    def as_dict(self) -> dict[str, str]:
        return {
            "login": self.login,
            "launch": self.launch,
            "jwks": self.jwks,
            "deep_linking": self.deep_linking,
            "canvas_config": self.canvas_config,
        }


def base_url() -> str:
    return str(current_app.config["BASE_URL"]).rstrip("/")


def tool_urls() -> ToolUrls:
    """Login initiation, launch (redirect), JWKS and deep-linking URLs of this tool."""
    base = base_url()
    return ToolUrls(
        login=f"{base}/lti/login",
        launch=f"{base}/lti/launch",
        jwks=f"{base}/lti/jwks",
        deep_linking=f"{base}/lti/launch",
        canvas_config=f"{base}/lti/canvas.json",
    )


# ---------------------------------------------------------------- validation


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: Any, path: str) -> str:
    """An absolute https URL (http only on loopback hosts or with LTI_ALLOW_HTTP)."""
    text = str(value or "").strip()
    if not text:
        raise SpecError(path, "is required")
    if len(text) > 2000:
        raise SpecError(path, "is longer than 2000 characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises for a port out of range)
    except ValueError as err:  # "https://[abc": no valid host
        raise SpecError(path, f"{text[:200]!r} is not a valid URL ({err})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SpecError(path, f"{text!r} is not an absolute http(s) URL")
    if any(ch.isspace() for ch in text):
        raise SpecError(path, "must not contain spaces")
    if parts.scheme == "http" and not (
        _loopback(parts.hostname) or current_app.config.get("LTI_ALLOW_HTTP")
    ):
        raise SpecError(path, "must use https (http is only accepted for localhost)")
    return text


def _text(value: Any, path: str, limit: int = 255, required: bool = True) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise SpecError(path, "is required")
    if len(text) > limit:
        raise SpecError(path, f"is longer than {limit} characters")
    if any(ord(ch) < 32 for ch in text):
        raise SpecError(path, "must be on one line")
    return text


def parse_deployments(value: Any, path: str = "deployment_ids") -> list[str]:
    """Deployment ids from a list or a text with one per line (or comma-separated)."""
    if isinstance(value, str):
        raw = [part for line in value.splitlines() for part in line.split(",")]
    elif isinstance(value, Iterable):
        raw = [str(v) for v in value]
    else:
        raise SpecError(path, "must be a list of deployment ids")
    ids: list[str] = []
    for index, item in enumerate(raw):
        text = item.strip()
        if not text:
            continue
        if len(text) > 255:
            raise SpecError(f"{path}[{index}]", "is longer than 255 characters")
        if text not in ids:
            ids.append(text)
    if len(ids) > MAX_DEPLOYMENTS:
        raise SpecError(path, f"at most {MAX_DEPLOYMENTS} deployment ids")
    return ids


@dataclass
class PlatformFields:
    """A validated registration."""

    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    token_url: str
    key_set_url: str
    token_audience: str | None
    deployment_ids: list[str]


class RegistrationErrors(SpecError):
    """Every bad field of a registration (`errors`: field -> message, in the form's order);
    as a SpecError it names the first, for callers that show one."""

    def __init__(self, errors: dict[str, str]) -> None:
        path, message = next(iter(errors.items()))
        super().__init__(path, message)
        self.errors = errors


def check_issuer(value: Any, path: str = "issuer") -> str:
    """The platform's issuer: compared exactly with the `iss` of its id_tokens, which LTI
    1.3 (after OpenID Connect) makes an https URL with a host and no query or fragment
    (http only where check_url allows it)."""
    text = check_url(_text(value, path), path)
    parts = urlsplit(text)
    if parts.query or parts.fragment:
        raise SpecError(path, f"{text[:200]!r} must not have a query (?) or fragment (#): "
                              "copy the issuer exactly as the LMS shows it")
    return text


def validate(data: dict[str, Any], deployment_required: bool = True) -> PlatformFields:
    """Check a registration; raises RegistrationErrors naming every bad field. A
    registration made by the platform itself (grader.lti.dynamic) may come without a
    deployment id: the LMS tells it once the tool is deployed, and it is added then."""
    errors: dict[str, str] = {}

    def check(name: str, read: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return read(data.get(name), name, *args, **kwargs)
        except SpecError as err:
            errors.setdefault(err.path.split("[")[0], err.message)
            return None

    issuer = check("issuer", check_issuer)
    fields = PlatformFields(
        name=check("name", _text, required=False) or issuer or "",
        issuer=issuer or "",
        client_id=check("client_id", _text) or "",
        auth_login_url=check("auth_login_url", check_url) or "",
        token_url=check("token_url", check_url) or "",
        key_set_url=check("key_set_url", check_url) or "",
        token_audience=check("token_audience", _text, 2000, required=False) or None,
        deployment_ids=check("deployment_ids",
                             lambda value, path: parse_deployments(value or [], path)) or [],
    )
    if deployment_required and not fields.deployment_ids and "deployment_ids" not in errors:
        errors["deployment_ids"] = "at least one deployment id is required"
    if errors:
        raise RegistrationErrors(errors)
    return fields


# ---------------------------------------------------------------- writes


def _check_course(s: Session, owner: User | None, course: Course | None) -> None:
    if course is None or owner is None:
        return
    role = s.scalar(select(Enrollment.role).where(
        Enrollment.course_id == course.id, Enrollment.user_id == owner.id))
    if role != "instructor":
        raise SpecError("course", "must be a course you teach")


def _unique(s: Session, issuer: str, client_id: str, exclude: int | None = None) -> None:
    query = select(LtiPlatform.id).where(LtiPlatform.issuer == issuer,
                                         LtiPlatform.client_id == client_id)
    found = s.scalar(query)
    if found is not None and found != exclude:
        raise SpecError("client_id", "this issuer and client id are already registered")


def _set_deployments(s: Session, platform: LtiPlatform, ids: list[str]) -> None:
    keep = set(ids)
    for dep in list(platform.deployments):
        if dep.deployment_id not in keep:
            platform.deployments.remove(dep)
    have = {d.deployment_id for d in platform.deployments}
    for dep_id in ids:
        if dep_id not in have:
            platform.deployments.append(LtiDeployment(deployment_id=dep_id))
    s.flush()


def register(data: dict[str, Any], owner: User | None = None,
             course: Course | None = None, deployment_required: bool = True) -> LtiPlatform:
    """A new platform registration; SpecError for a bad field or a duplicate."""
    fields = validate(data, deployment_required)
    with db.transaction() as s:
        _unique(s, fields.issuer, fields.client_id)
        _check_course(s, owner, course)
        platform = LtiPlatform(
            name=fields.name, issuer=fields.issuer, client_id=fields.client_id,
            auth_login_url=fields.auth_login_url, token_url=fields.token_url,
            key_set_url=fields.key_set_url, token_audience=fields.token_audience,
            owner_id=owner.id if owner else None, course_id=course.id if course else None,
        )
        s.add(platform)
        s.flush()
        _set_deployments(s, platform, fields.deployment_ids)
    return platform


def update(platform: LtiPlatform, data: dict[str, Any], course: Course | None = None,
           actor: User | None = None) -> LtiPlatform:
    """Change a registration (deployments replaced by the given list)."""
    fields = validate(data)
    with db.transaction() as s:
        platform = s.merge(platform)
        _unique(s, fields.issuer, fields.client_id, exclude=platform.id)
        _check_course(s, actor, course)
        platform.name = fields.name
        platform.issuer = fields.issuer
        platform.client_id = fields.client_id
        platform.auth_login_url = fields.auth_login_url
        platform.token_url = fields.token_url
        platform.key_set_url = fields.key_set_url
        platform.token_audience = fields.token_audience
        platform.course_id = course.id if course else None
        platform.updated_at = utcnow()
        _set_deployments(s, platform, fields.deployment_ids)
    return platform


def add_deployments(platform: LtiPlatform, ids: list[str]) -> LtiPlatform:
    """Add deployment ids to a registration (those it has stay)."""
    with db.transaction() as s:
        platform = s.merge(platform)
        _set_deployments(s, platform, platform.deployment_ids + [i for i in ids
                                                                 if i not in platform.deployment_ids])
    return platform


def remove(platform: LtiPlatform) -> None:
    """Delete a registration and its LMS mappings (our courses, users and grades stay)."""
    with db.transaction() as s:
        s.delete(s.merge(platform))


# ---------------------------------------------------------------- reads


def find(issuer: str, client_id: str | None = None) -> list[LtiPlatform]:
    """Registrations with this issuer (and client id, when given)."""
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
    if client_id:
        query = query.where(LtiPlatform.client_id == client_id)
    return list(db.session().scalars(query.order_by(LtiPlatform.id)))


def owned_by(user: User) -> list[LtiPlatform]:
    return list(db.session().scalars(
        select(LtiPlatform).where(LtiPlatform.owner_id == user.id).order_by(LtiPlatform.name)))


def owned_platform(user: User, public_id: str) -> LtiPlatform:
    """A platform `user` registered; anything else is a logged 404."""
    from grader.auth.access import deny

    platform = db.session().scalar(select(LtiPlatform).where(
        LtiPlatform.public_id == public_id, LtiPlatform.owner_id == user.id))
    if platform is None:
        deny(f"LTI platform {public_id[:40]!r}", user=user)
    return platform


def usage(platform: LtiPlatform) -> dict[str, int]:
    """How many LMS courses and resource links this registration has mapped."""
    s = db.session()
    contexts = s.scalar(select(func.count()).select_from(LtiContext)
                        .where(LtiContext.platform_id == platform.id)) or 0
    links = s.scalar(select(func.count()).select_from(LtiResourceLink)
                     .where(LtiResourceLink.platform_id == platform.id)) or 0
    return {"contexts": int(contexts), "links": int(links)}


def describe(platform: LtiPlatform) -> dict[str, Any]:
    """A registration as JSON (for the CLI)."""
    return {
        "id": platform.public_id,
        "name": platform.name,
        "issuer": platform.issuer,
        "client_id": platform.client_id,
        "auth_login_url": platform.auth_login_url,
        "token_url": platform.token_url,
        "key_set_url": platform.key_set_url,
        "token_audience": platform.token_audience,
        "deployment_ids": platform.deployment_ids,
    }
