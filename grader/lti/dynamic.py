"""LTI Dynamic Registration (1EdTech LTI Dynamic Registration 1.0): the LMS registers the
tool by itself, so nobody copies client ids, URLs and deployment ids between two admin
screens.

1. An instructor makes a registration link on /teach/lti (`make_link`): single use, valid
   LTI_REGISTRATION_TTL seconds, only its SHA-256 stored. Whoever holds it may register a
   platform in the instructor's name, as the instructor could on the form; the LMS
   administrator pastes it into the LMS (Moodle: "Tool URL" under "Manage tools"; Canvas:
   Developer Keys, "+ LTI Registration").
2. The LMS opens the link (`/lti/register/<token>`) with `openid_configuration` (the URL of
   its configuration) and, usually, `registration_token`.
3. `register` claims the link (atomically: two tabs cannot both use it), reads the
   platform's OpenID configuration (its issuer must be on the host the configuration came
   from), checks it supports what we need (RS256 id_tokens, private_key_jwt, LTI launches),
   and posts our client registration to its `registration_endpoint`: our login, launch and
   key-set URLs, the AGS and NRPS (roster) scopes, a resource-link launch and, when the
   platform offers it, deep linking. The platform answers with our client id and (Moodle;
   Canvas only once the tool is deployed) a deployment id.
4. The registration is stored as if made on the form (owner, target course). Anything that
   fails releases the link for another try and says what failed, naming the field; the
   platform's own error message is shown.

Every request to the platform has a timeout (LTI_HTTP_TIMEOUT) and follows no redirects.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import delete, select, update

from grader import db
from grader.lti import registry
from grader.lti.launch import DEEP_LINKING, LaunchError
from grader.lti.models import LtiPlatform, LtiRegistrationLink, token_digest
from grader.models import Course, User, utcnow
from grader.services.passback import reply_message
from problems.errors import SpecError

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
RESOURCE_LINK = "LtiResourceLinkRequest"
CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")
MAX_REPLY_BYTES = 256 * 1024  # of the platform's configuration or registration
_REMAKE = "make a new registration link on CNN Quiz's LMS page (Teach → LMS)"



def link_url(token: str) -> str:
    return f"{registry.base_url()}/lti/register/{token}"


def make_link(owner: User, course: Course | None = None) -> tuple[str, LtiRegistrationLink]:
    """A new registration link of `owner` (into `course`, when given): its URL, shown
    once, and its row. Expired links are deleted on the way."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    ttl = int(current_app.config["LTI_REGISTRATION_TTL"])
    with db.transaction() as s:
        s.execute(delete(LtiRegistrationLink).where(LtiRegistrationLink.expires_at < now,
                                                    LtiRegistrationLink.platform_id.is_(None)))
        row = LtiRegistrationLink(token_hash=token_digest(token), owner_id=owner.id,
                                  course_id=course.id if course else None, created_at=now,
                                  expires_at=now + timedelta(seconds=ttl))
        s.add(row)
    return link_url(token), row


def open_links(owner: User) -> list[LtiRegistrationLink]:
    """The owner's links not used yet and not expired, newest first."""
    return list(db.session().scalars(
        select(LtiRegistrationLink).where(
            LtiRegistrationLink.owner_id == owner.id, LtiRegistrationLink.used_at.is_(None),
            LtiRegistrationLink.expires_at > utcnow())
        .order_by(LtiRegistrationLink.id.desc())))


def cancel_link(owner: User, link_id: int) -> bool:
    """Delete an unused link of the owner's; False if there is none."""
    with db.transaction() as s:
        gone = s.execute(delete(LtiRegistrationLink).where(
            LtiRegistrationLink.id == link_id, LtiRegistrationLink.owner_id == owner.id,
            LtiRegistrationLink.used_at.is_(None)))
    return bool(gone.rowcount)


def _claim(token: str) -> int:
    """Take the link for one registration (atomically); its id. 404/410 with the reason."""
    if not token or len(token) > 100:
        raise LaunchError(404, "registration_link_unknown", "token",
                          f"This registration link is not known: {_REMAKE}.")
    now = utcnow()
    digest = token_digest(token)
    with db.transaction() as s:
        claimed = s.execute(
            update(LtiRegistrationLink)
            .where(LtiRegistrationLink.token_hash == digest,
                   LtiRegistrationLink.used_at.is_(None),
                   LtiRegistrationLink.expires_at > now)
            .values(used_at=now)
            .returning(LtiRegistrationLink.id)
        ).first()
        if claimed is not None:
            return int(claimed.id)
        row = s.scalar(select(LtiRegistrationLink).where(LtiRegistrationLink.token_hash == digest))
    if row is None:  # never made here, or cancelled (a cancelled link is deleted)
        raise LaunchError(404, "registration_link_unknown", "token",
                          f"This registration link is not known, or was cancelled: {_REMAKE}.")
    if row.used_at is not None:
        raise LaunchError(410, "registration_link_used", "token",
                          "This registration link was already used (a link registers one "
                          f"platform once): {_REMAKE}.")
    raise LaunchError(410, "registration_link_expired", "token",
                      f"This registration link has expired: {_REMAKE}.")


def _release(link_id: int) -> None:
    with db.transaction() as s:
        s.execute(update(LtiRegistrationLink).where(LtiRegistrationLink.id == link_id,
                                                    LtiRegistrationLink.platform_id.is_(None))
                  .values(used_at=None))


# ---------------------------------------------------------------- the platform's configuration


@dataclass(frozen=True)
class PlatformConfiguration:
    """What we use of a platform's OpenID configuration."""

    url: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    authorization_server: str | None
    product: str  # product_family_code ("moodle", "canvas", ...) or ""
    deep_linking: bool  # the platform offers LtiDeepLinkingRequest


def _refused(path: str, message: str) -> LaunchError:
    return LaunchError(422, "registration_configuration_invalid", path, message)


def _scheme_and_host(url: str) -> tuple[str, str]:
    """Of a URL `_url` accepted."""
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower()


def _url(value: Any, path: str) -> str:
    try:
        return registry.check_url(value, path)
    except SpecError as err:
        raise _refused(err.path, f"the platform's configuration: {err.message}") from None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class _Reply:
    status: int
    content: bytes  # at most MAX_REPLY_BYTES + 1 bytes of the body


def _send(method: str, url: str, what: str, **kwargs: Any) -> _Reply:
    """One request to the platform: a timeout, no redirects, and at most MAX_REPLY_BYTES
    (+1, to tell a longer body) of its answer read."""
    timeout = float(current_app.config["LTI_HTTP_TIMEOUT"])
    try:
        with requests.request(method, url, timeout=timeout, allow_redirects=False, stream=True,
                              **kwargs) as response:
            content = b""
            for chunk in response.iter_content(64 * 1024):
                content += chunk
                if len(content) > MAX_REPLY_BYTES:
                    break
            return _Reply(response.status_code, content[:MAX_REPLY_BYTES + 1])
    except requests.Timeout:
        raise LaunchError(504, "registration_platform_timeout", what,
                          f"The LMS did not answer within {timeout:g} s ({url}): try again "
                          "from the LMS.") from None
    except requests.RequestException as err:
        raise LaunchError(502, "registration_platform_unreachable", what,
                          f"Could not reach the LMS at {url} ({type(err).__name__}): try "
                          "again from the LMS.") from None


def _json_reply(reply: _Reply, what: str, ok: tuple[int, ...]) -> dict[str, Any]:
    text = reply.content.decode("utf-8", "replace")
    if reply.status not in ok:
        raise LaunchError(502, "registration_platform_refused", what,
                          f"The LMS refused ({what}): {reply_message(reply.status, text)}")
    if len(reply.content) > MAX_REPLY_BYTES:
        raise LaunchError(502, "registration_platform_refused", what,
                          f"The LMS's answer ({what}) is larger than "
                          f"{MAX_REPLY_BYTES // 1024} KiB.")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise LaunchError(502, "registration_platform_refused", what,
                          f"The LMS's answer ({what}) is not a JSON object.")
    return body


def fetch_configuration(url: str, registration_token: str | None) -> PlatformConfiguration:
    """The platform's OpenID configuration at `url`, checked."""
    url = _url(url, "openid_configuration")
    if urlsplit(url).fragment or url.endswith("#"):
        raise _refused("openid_configuration", "must not have a #fragment")
    headers = {"Accept": "application/json"}
    if registration_token:
        headers["Authorization"] = f"Bearer {registration_token}"
    body = _json_reply(_send("GET", url, "openid_configuration", headers=headers),
                       "openid_configuration", (200,))
    issuer = _url(body.get("issuer"), "issuer")
    if _scheme_and_host(issuer) != _scheme_and_host(url):
        raise _refused("issuer", f"the platform's issuer {issuer!r} is not on the host its "
                                 f"configuration came from ({urlsplit(url).hostname}): refused, "
                                 "as LTI Dynamic Registration asks (register this LMS on the "
                                 "form instead)")
    methods = body.get("token_endpoint_auth_methods_supported")
    if methods is not None and "private_key_jwt" not in _strings(methods):
        raise _refused("token_endpoint_auth_methods_supported",
                       "the platform does not accept private_key_jwt client assertions, "
                       "which grade passback uses")
    algorithms = body.get("id_token_signing_alg_values_supported")
    if algorithms is not None and "RS256" not in _strings(algorithms):
        raise _refused("id_token_signing_alg_values_supported",
                       "the platform does not sign id_tokens with RS256")
    lti = body.get(PLATFORM_CONFIGURATION)
    if not isinstance(lti, dict):
        raise _refused(PLATFORM_CONFIGURATION, "missing: this is not an LTI platform's "
                                               "configuration")
    offered = lti.get("messages_supported")
    messages = [m.get("type") for m in (offered if isinstance(offered, list) else [])
                if isinstance(m, dict)]
    if messages and RESOURCE_LINK not in messages:
        raise _refused(f"{PLATFORM_CONFIGURATION}.messages_supported",
                       "the platform does not offer LTI resource-link launches")
    server = body.get("authorization_server")
    product = lti.get("product_family_code")
    return PlatformConfiguration(
        url=url, issuer=issuer,
        authorization_endpoint=_url(body.get("authorization_endpoint"),
                                    "authorization_endpoint"),
        token_endpoint=_url(body.get("token_endpoint"), "token_endpoint"),
        jwks_uri=_url(body.get("jwks_uri"), "jwks_uri"),
        registration_endpoint=_url(body.get("registration_endpoint"), "registration_endpoint"),
        authorization_server=server.strip()[:2000] if isinstance(server, str) and server.strip()
        else None,
        product=product.strip()[:40] if isinstance(product, str) else "",
        deep_linking=DEEP_LINKING in messages,
    )


# ---------------------------------------------------------------- our registration


def client_metadata(config: PlatformConfiguration) -> dict[str, Any]:
    """What we ask the platform to register (OpenID Connect client metadata with the LTI
    tool configuration)."""
    urls = registry.tool_urls()
    title = str(current_app.config["LTI_TOOL_TITLE"])
    messages: list[dict[str, Any]] = [{"type": RESOURCE_LINK, "target_link_uri": urls.launch,
                                       "label": title}]
    if config.deep_linking:
        deep: dict[str, Any] = {"type": DEEP_LINKING, "target_link_uri": urls.deep_linking,
                                "label": title}
        if config.product == "canvas":
            deep["placements"] = ["assignment_selection", "link_selection"]
        messages.append(deep)
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls.login,
        "redirect_uris": [urls.launch],
        "client_name": title,
        "jwks_uri": urls.jwks,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(registry.TOOL_SCOPES),
        TOOL_CONFIGURATION: {
            "domain": urlsplit(urls.launch).netloc,
            "target_link_uri": urls.launch,
            "description": registry.TOOL_DESCRIPTION,
            "claims": list(CLAIMS),
            "messages": messages,
        },
    }


@dataclass(frozen=True)
class Registered:
    platform: LtiPlatform
    deployment_id: str | None
    product: str


def _client(body: dict[str, Any]) -> tuple[str, str | None]:
    client_id = body.get("client_id")
    if not isinstance(client_id, (str, int)) or not str(client_id).strip():
        raise LaunchError(502, "registration_platform_refused", "client_id",
                          "The LMS registered the tool but sent no client_id.")
    tool = body.get(TOOL_CONFIGURATION)
    deployment = tool.get("deployment_id") if isinstance(tool, dict) else None
    deployment_id = str(deployment).strip() if isinstance(deployment, (str, int)) else ""
    return str(client_id).strip(), deployment_id or None


def _name(config: PlatformConfiguration) -> str:
    host = urlsplit(config.issuer).hostname or config.issuer
    return f"{config.product.capitalize()} at {host}" if config.product else host


def register(token: str, openid_configuration: str, registration_token: str | None
             ) -> Registered:
    """The whole registration (the module docstring); LaunchError naming what failed."""
    if not openid_configuration.strip():
        raise LaunchError(400, "registration_request_invalid", "openid_configuration",
                          "This is CNN Quiz's registration link: paste it into your LMS as "
                          "the tool's registration URL (LTI Dynamic Registration); the LMS "
                          "opens it with its openid_configuration.")
    link_id = _claim(token)
    try:
        config = fetch_configuration(openid_configuration, registration_token)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if registration_token:
            headers["Authorization"] = f"Bearer {registration_token}"
        reply = _json_reply(
            _send("POST", config.registration_endpoint, "registration_endpoint",
                  json=client_metadata(config), headers=headers),
            "registration_endpoint", (200, 201))
        client_id, deployment_id = _client(reply)
        with db.transaction() as s:
            link = s.get(LtiRegistrationLink, link_id)
            assert link is not None  # claimed by us, and a claimed link is never deleted
            owner, course = link.owner, link.course
        try:
            platform = registry.register({
                "name": _name(config), "issuer": config.issuer, "client_id": client_id,
                "auth_login_url": config.authorization_endpoint,
                "token_url": config.token_endpoint, "key_set_url": config.jwks_uri,
                "token_audience": config.authorization_server,
                "deployment_ids": [deployment_id] if deployment_id else [],
            }, owner=owner, course=course, deployment_required=False)
        except SpecError as err:
            raise LaunchError(422, "registration_invalid", err.path,
                              f"The LMS's registration could not be stored: {err.message}"
                              ) from None
        with db.transaction() as s:
            s.execute(update(LtiRegistrationLink).where(LtiRegistrationLink.id == link_id)
                      .values(platform_id=platform.id))
    except BaseException:
        _release(link_id)
        raise
    return Registered(platform, deployment_id, config.product)
