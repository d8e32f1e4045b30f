"""OIDC login initiation and the checks of an LTI 1.3 launch (IMS Security Framework,
"Authentication Response Validation"; OIDC Core 3.1.3.7).

Nothing here creates a session or a user: `validate` returns a `Launch` only when every
check passed, and raises `LaunchError(status, reason, path, message)` otherwise.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from flask import current_app
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWTError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from grader import db
from grader.lti import frames, registry
from grader.lti.models import LtiNonce, LtiPlatform, LtiState
from grader.lti.sql import insert_ignore
from grader.models import utcnow
from problems.errors import SpecError

log = logging.getLogger("grader.lti")

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
NRPS_VERSION = "2.0"
RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
MESSAGE_TYPES = (RESOURCE_LINK, DEEP_LINKING)
VERSION = "1.3.0"
ALGORITHMS = ["RS256"]
# Keys come only from the key set URL registered for the platform, never from the token.
FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c")
STATE_COOKIE = "lti-state-"
MAX_ID = 255  # our columns for sub, context, resource link and deployment ids
# Keys of the state and nonce in the platform's storage (LTI client-side postMessage
# storage, lti.put_data / lti.get_data), as in 1EdTech's example library.
STORAGE_STATE_KEY = "lti_state_"
STORAGE_NONCE_KEY = "lti_nonce_"


class LaunchError(Exception):
    """A refused login or launch: HTTP `status`, a stable `reason`, the field `path` and a
    message for people."""

    def __init__(self, status: int, reason: str, path: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.status = status
        self.reason = reason
        self.path = path
        self.message = message


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# ---------------------------------------------------------------- login initiation


@dataclass(frozen=True)
class LoginRedirect:
    url: str
    state: str
    platform: LtiPlatform
    nonce: str = ""
    # The platform frame for lti.put_data ("_parent" or a frame name), when it offers one.
    storage_target: str = ""

    @property
    def platform_origin(self) -> str:
        return platform_origin(self.platform)


def platform_origin(platform: LtiPlatform) -> str:
    """The origin of the platform's OIDC authorization URL: the only origin our pages send
    postMessages to, and accept answers from (LTI client-side postMessages)."""
    return url_origin(platform.auth_login_url) or ""


def url_origin(url: str) -> str | None:
    """The origin of an absolute http(s) URL as a browser serializes it (what
    MessageEvent.origin is compared with, and what a CSP source may name): no user info, no
    default port. None for anything else, a host that could break out of a CSP header
    (quotes, spaces, separators) included."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # no valid host or port
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or any(
            c.isspace() or c in "'\";," for c in host):
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    default = {"https": 443, "http": 80}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def _param(params: Mapping[str, str], name: str, required: bool = True) -> str:
    value = str(params.get(name) or "").strip()
    if required and not value:
        raise LaunchError(400, "login_parameter_missing", name,
                          f"The login request has no {name}.")
    if len(value) > 2000:
        raise LaunchError(400, "login_parameter_too_long", name, f"{name} is too long.")
    return value


def url_scheme(url: str) -> str:
    """The URL's scheme; "" for text that is no URL (a host like "[x")."""
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def platform_for_login(issuer: str, client_id: str) -> LtiPlatform:
    """The registration a login names (client_id is needed when an issuer has several)."""
    found = registry.find(issuer, client_id or None)
    if not found:
        path = "client_id" if client_id and registry.find(issuer) else "iss"
        raise LaunchError(400, "platform_not_registered", path,
                          f"No platform with issuer {issuer!r}"
                          + (f" and client id {client_id!r}" if client_id else "")
                          + " is registered with this tool.")
    if len(found) > 1:
        raise LaunchError(400, "client_id_required", "client_id",
                          "Several registrations share this issuer: the login must name the "
                          "client_id.")
    return found[0]


def start_login(params: Mapping[str, str]) -> LoginRedirect:
    """Check a third-party login initiation, store a fresh state and nonce, and build the
    redirect to the platform's authorization endpoint."""
    issuer = _param(params, "iss")
    login_hint = _param(params, "login_hint")
    target = _param(params, "target_link_uri")
    client_id = _param(params, "client_id", required=False)
    message_hint = _param(params, "lti_message_hint", required=False)
    deployment_id = _param(params, "lti_deployment_id", required=False)
    storage_target = _param(params, "lti_storage_target", required=False)
    if len(storage_target) > 255:
        raise LaunchError(400, "login_parameter_too_long", "lti_storage_target",
                          "lti_storage_target is too long.")
    platform = platform_for_login(issuer, client_id)
    if deployment_id and deployment_id not in platform.deployment_ids:
        raise LaunchError(403, "unknown_deployment", "lti_deployment_id",
                          f"Deployment {deployment_id!r} is not registered for this platform.")
    # 256 bits each from the OS CSPRNG (the floor is 128).
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    ttl = int(current_app.config["LTI_STATE_TTL"])
    with db.transaction() as s:
        s.execute(delete(LtiState).where(LtiState.expires_at < now))
        s.execute(delete(LtiNonce).where(LtiNonce.expires_at < now))
        s.add(LtiState(state=state, nonce=nonce, platform_id=platform.id,
                       target_link_uri=target[:2000], storage_target=storage_target or None,
                       created_at=now, expires_at=now + timedelta(seconds=ttl)))
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": registry.tool_urls().launch,
        "login_hint": login_hint,
        "state": state,
        "nonce": nonce,
    }
    if message_hint:
        query["lti_message_hint"] = message_hint
    return LoginRedirect(_with_query(platform.auth_login_url, query), state, platform, nonce,
                         storage_target)


# ---------------------------------------------------------------- the platforms' keys

_clients: dict[tuple[Any, ...], tuple[jwt.PyJWKClient, float]] = {}
_clients_lock = threading.Lock()
CLIENT_MAX_AGE = 3600.0  # a new client now and then: a key the platform withdrew is forgotten


def key_client(url: str) -> jwt.PyJWKClient:
    """The (cached) JWKS client of a platform's key set URL."""
    cfg = current_app.config
    key = (url, float(cfg["LTI_JWKS_TIMEOUT"]), int(cfg["LTI_JWKS_LIFESPAN"]),
           float(cfg["LTI_JWKS_REFRESH_COOLDOWN"]))
    now = time.monotonic()
    with _clients_lock:
        cached = _clients.get(key)
        if cached is None or now - cached[1] > CLIENT_MAX_AGE:
            client = jwt.PyJWKClient(url, cache_keys=True, lifespan=key[2], timeout=key[1],
                                     cooldown_duration=key[3])
            _clients[key] = cached = (client, now)
        return cached[0]


def clear_key_cache() -> None:
    """Forget every cached key set (tests; after editing a platform's key set URL)."""
    with _clients_lock:
        _clients.clear()


def signing_key(platform: LtiPlatform, kid: str) -> Any:
    """The platform's public key `kid` from its registered key set URL (refetched once
    when the kid is unknown); LaunchError 502/503 when the key set cannot be had."""
    timeout = current_app.config["LTI_JWKS_TIMEOUT"]
    try:
        return key_client(platform.key_set_url).get_signing_key(kid).key
    except PyJWKClientConnectionError as err:
        cause = err.__cause__
        if isinstance(cause, HTTPError):
            raise LaunchError(502, "jwks_error", "kid",
                              f"The platform's key set URL answered HTTP {cause.code}; "
                              "try again later.") from err
        timed_out = isinstance(cause, TimeoutError) or (
            isinstance(cause, URLError) and isinstance(cause.reason, TimeoutError))
        message = (f"The platform's key set URL did not answer within {timeout:g} s."
                   if timed_out else "The platform's key set URL could not be reached.")
        raise LaunchError(503, "jwks_unreachable", "kid", message + " Try again later.") from err
    except PyJWKClientError as err:
        if "Unable to find a signing key" in str(err):
            raise LaunchError(400, "unknown_kid", "id_token.header.kid",
                              f"The platform's key set has no key {kid!r}.") from err
        raise LaunchError(502, "jwks_invalid", "kid",
                          "The platform's key set is not a usable JWKS.") from err
    except (PyJWTError, ValueError) as err:
        raise LaunchError(502, "jwks_invalid", "kid",
                          "The platform's key set is not a usable JWKS.") from err


# ---------------------------------------------------------------- the launch


@dataclass
class Launch:
    """A launch that passed every check."""

    platform: LtiPlatform
    claims: dict[str, Any]
    state: str
    deployment_id: str
    message_type: str
    roles: list[str] = field(default_factory=list)
    # The course's roster service (NRPS 2.0), when the launch named a usable one.
    memberships_url: str | None = None

    def claim(self, name: str, default: Any = None) -> Any:
        return self.claims.get(LTI + name, default)

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    @property
    def context(self) -> dict[str, Any]:
        value = self.claim("context")
        return value if isinstance(value, dict) else {}

    @property
    def resource_link(self) -> dict[str, Any]:
        value = self.claim("resource_link")
        return value if isinstance(value, dict) else {}

    @property
    def custom(self) -> dict[str, Any]:
        value = self.claim("custom")
        return value if isinstance(value, dict) else {}

    @property
    def ags(self) -> dict[str, Any]:
        value = self.claims.get(AGS_ENDPOINT)
        return value if isinstance(value, dict) else {}

    @property
    def deep_linking(self) -> dict[str, Any]:
        value = self.claims.get(DL + "deep_linking_settings")
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class LoginState:
    """A login state (consumed, or only read by `peek_state`)."""

    state: str
    nonce: str
    platform_id: int
    target_link_uri: str
    expires_at: datetime
    storage_target: str | None = None

    @property
    def expired(self) -> bool:
        return _aware(self.expires_at) <= utcnow()


@dataclass(frozen=True)
class StorageProof:
    """What the tool's own page read back from the platform's storage (lti.get_data) in
    the browser that finishes the launch: it must be the login's state and nonce."""

    state: str
    nonce: str


_STATE_COLUMNS = (LtiState.state, LtiState.nonce, LtiState.platform_id,
                  LtiState.target_link_uri, LtiState.expires_at, LtiState.storage_target)


def peek_state(state: str) -> LoginState | None:
    """The login of `state`, read without using it up (None when unknown or used)."""
    if not state or len(state) > 64:
        return None
    with db.transaction() as s:
        row = s.execute(select(*_STATE_COLUMNS).where(LtiState.state == state)).first()
    return LoginState(*row) if row is not None else None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _check_browser(state: str, cookies: Mapping[str, str], proof: StorageProof | None) -> None:
    """The browser finishing the launch is the one that started the login: our state cookie,
    or (when the login used the platform's storage) the state and nonce read back from the
    platform's frame. Nothing is used up here, so a refusal leaves the real launch working."""
    if cookies.get(STATE_COOKIE + state) == state:
        return
    login = peek_state(state)
    if proof is not None:
        if login is None:
            raise LaunchError(400, "state_unknown", "state",
                              "Unknown or already used state: start the launch again from "
                              "the LMS.")
        if not login.storage_target:
            raise LaunchError(400, "state_cookie_missing", "state",
                              "This login did not use the LMS's storage and the browser has "
                              "no state cookie: start the launch again from the LMS.")
        if not (_same(proof.state, login.state) and _same(proof.nonce, login.nonce)):
            raise LaunchError(400, "state_not_in_platform_storage", "state",
                              "The LMS page has no record of this login in its storage (or "
                              "another one): start the launch again from the LMS in this "
                              "browser.")
        return
    if any(name.startswith(STATE_COOKIE) for name in cookies):
        raise LaunchError(400, "state_mismatch", "state",
                          "The state does not match the login this browser started.")
    if login is None:
        raise LaunchError(400, "state_unknown", "state",
                          "Unknown or already used state: start the launch again from the LMS.")
    message = ("This browser has no record of starting the login (the state cookie is "
               "missing: cookies blocked, or the login began elsewhere).")
    if not frames.served_securely(current_app._get_current_object()):  # type: ignore[attr-defined]
        message += (" This tool is served over plain http, where browsers refuse the cross-site "
                    "cookie a launch needs (SameSite=None requires Secure): serve it over https "
                    "(BASE_URL).")
    raise LaunchError(400, "state_cookie_missing", "state", message)


def _consume_state(form: Mapping[str, str], cookies: Mapping[str, str],
                   proof: StorageProof | None = None) -> LoginState:
    state = str(form.get("state") or "")
    if not state:
        raise LaunchError(400, "state_missing", "state", "The launch carries no state.")
    _check_browser(state, cookies, proof)
    if len(state) > 64:
        raise LaunchError(400, "state_unknown", "state", "Unknown or already used state.")
    with db.transaction() as s:  # consumed now, whatever happens next: single use
        row = s.execute(
            delete(LtiState).where(LtiState.state == state).returning(*_STATE_COLUMNS)
        ).first()
    if row is None:
        raise LaunchError(400, "state_unknown", "state",
                          "Unknown or already used state: start the launch again from the LMS.")
    found = LoginState(*row)
    if found.expired:
        raise LaunchError(400, "state_expired", "state",
                          "The login took too long: start the launch again from the LMS.")
    return found


def storage_check(form: Mapping[str, str], cookies: Mapping[str, str]) -> LoginState | None:
    """A launch POST without our state cookie whose login kept state and nonce in the
    platform's frame: that login (read, not used up), so that a page of ours asks the frame
    for them (lti.get_data) before the launch goes on. None: the usual checks apply.
    LaunchError when that login has expired."""
    state = str(form.get("state") or "")
    if not state or not form.get("id_token") or cookies.get(STATE_COOKIE + state) == state:
        return None
    login = peek_state(state)
    if login is None or not login.storage_target:
        return None
    if login.expired:
        raise LaunchError(400, "state_expired", "state",
                          "The login took too long: start the launch again from the LMS.")
    return login


def _use_nonce(s: Session, platform: LtiPlatform, nonce: Any, expected: str) -> None:
    if not isinstance(nonce, str) or not nonce:
        raise LaunchError(400, "nonce_missing", "id_token.nonce", "The id_token has no nonce.")
    if len(nonce) > 64:
        raise LaunchError(400, "nonce_mismatch", "id_token.nonce",
                          "The nonce is not the one sent at login.")
    ttl = int(current_app.config["LTI_STATE_TTL"]) + int(current_app.config["LTI_CLOCK_LEEWAY"])
    now = utcnow()
    inserted = s.execute(insert_ignore(s, LtiNonce, ["nonce"]).values(
        nonce=nonce, platform_id=platform.id, used_at=now,
        expires_at=now + timedelta(seconds=2 * ttl)).returning(LtiNonce.id)).scalar_one_or_none()
    if inserted is None:
        raise LaunchError(400, "nonce_replayed", "id_token.nonce",
                          "This id_token's nonce was already used: a launch is accepted once.")
    if nonce != expected:
        raise LaunchError(400, "nonce_mismatch", "id_token.nonce",
                          "The nonce is not the one sent at login.")


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except PyJWTError as err:
        raise LaunchError(400, "malformed_token", "id_token",
                          "The id_token is not a well-formed JWT.") from err
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise LaunchError(400, "alg_not_allowed", "id_token.header.alg",
                          f"Algorithm {alg!r} is not accepted: only RS256.")
    for name in FORBIDDEN_HEADERS:
        if name in header:
            raise LaunchError(400, "header_not_allowed", f"id_token.header.{name}",
                              f"The {name!r} header is refused: keys come only from the "
                              "platform's registered key set URL.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise LaunchError(400, "kid_missing", "id_token.header.kid",
                          "The id_token header names no key (kid).")
    return header


_DECODE_ERRORS: list[tuple[type[Exception], str, str, str]] = [
    (jwt.ExpiredSignatureError, "token_expired", "id_token.exp", "The id_token has expired."),
    (jwt.ImmatureSignatureError, "iat_in_future", "id_token.iat",
     "The id_token is issued in the future (check the clocks)."),
    (jwt.InvalidIssuerError, "iss_mismatch", "id_token.iss",
     "The id_token's issuer is not the platform this login was started with."),
    (jwt.InvalidAudienceError, "aud_mismatch", "id_token.aud",
     "The id_token's audience does not contain this tool's client id."),
    (jwt.InvalidSignatureError, "bad_signature", "id_token",
     "The id_token's signature does not verify with the platform's key."),
]


def _decode(token: str, platform: LtiPlatform, key: Any) -> dict[str, Any]:
    leeway = int(current_app.config["LTI_CLOCK_LEEWAY"])
    try:
        return jwt.decode(
            token, key, algorithms=ALGORITHMS, audience=platform.client_id,
            issuer=platform.issuer, leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.MissingRequiredClaimError as err:
        raise LaunchError(400, "claim_missing", f"id_token.{err.claim}",
                          f"The id_token has no {err.claim} claim.") from err
    except PyJWTError as err:
        for kind, reason, path, message in _DECODE_ERRORS:
            if isinstance(err, kind):
                raise LaunchError(400, reason, path, message) from err
        raise LaunchError(400, "invalid_token", "id_token",
                          f"The id_token is not valid: {err}.") from err


def _string_claim(claims: dict[str, Any], name: str, path: str, reason: str,
                  label: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise LaunchError(400, reason, path, f"The id_token has no {label}.")
    if len(value) > MAX_ID:
        raise LaunchError(400, "claim_too_long", path, f"The {label} is longer than {MAX_ID} "
                          "characters.")
    return value


def validate(form: Mapping[str, str], cookies: Mapping[str, str],
             proof: StorageProof | None = None) -> Launch:
    """Every check of a launch POST, in order; a `Launch` or a LaunchError. `proof`: the
    state and nonce read back from the platform's storage, in place of the state cookie."""
    if form.get("error") and not form.get("id_token"):
        description = str(form.get("error_description") or "")[:300]
        raise LaunchError(400, "platform_error", "error",
                          f"The platform refused the login: {str(form['error'])[:80]}"
                          + (f" ({description})" if description else "") + ".")
    state = _consume_state(form, cookies, proof)
    token = str(form.get("id_token") or "")
    if not token:
        raise LaunchError(400, "id_token_missing", "id_token", "The launch carries no id_token.")
    header = _header(token)
    # Read what we need and end the transaction: no database lock is held while the
    # platform's key set is fetched (SQLite has one writer at a time).
    with db.transaction() as s:
        platform = s.get(LtiPlatform, state.platform_id)
        if platform is not None:
            platform.deployment_ids  # noqa: B018  (loaded now, used after the fetch)
    if platform is None:
        raise LaunchError(400, "platform_not_registered", "iss",
                          "The platform of this login is no longer registered.")
    claims = _decode(token, platform, signing_key(platform, header["kid"]))

    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else list(aud)
    if len(audiences) > 1 and "azp" not in claims:
        raise LaunchError(400, "azp_missing", "id_token.azp",
                          "The id_token has several audiences but no azp.")
    if "azp" in claims and claims["azp"] != platform.client_id:
        raise LaunchError(400, "azp_mismatch", "id_token.azp",
                          "The id_token's azp is not this tool's client id.")
    max_age = int(current_app.config["LTI_STATE_TTL"]) + int(current_app.config["LTI_CLOCK_LEEWAY"])
    if time.time() - float(claims["iat"]) > max_age:
        raise LaunchError(400, "iat_too_old", "id_token.iat",
                          "The id_token was issued before this login started.")
    with db.transaction() as tx:
        _use_nonce(tx, platform, claims.get("nonce"), state.nonce)

    deployment_id = _string_claim(claims, LTI + "deployment_id", "id_token.deployment_id",
                                  "deployment_id_missing", "deployment_id")
    if deployment_id not in platform.deployment_ids:
        raise LaunchError(403, "unknown_deployment", "id_token.deployment_id",
                          f"Deployment {deployment_id!r} is not registered for this platform.")
    version = claims.get(LTI + "version")
    if version != VERSION:
        raise LaunchError(400, "version_unsupported", "id_token.version",
                          f"LTI version {version!r} is not supported: only {VERSION}.")
    message_type = claims.get(LTI + "message_type")
    if message_type not in MESSAGE_TYPES:
        raise LaunchError(400, "message_type_unsupported", "id_token.message_type",
                          f"Message type {message_type!r} is not supported: "
                          f"{' or '.join(MESSAGE_TYPES)}.")
    target = claims.get(LTI + "target_link_uri")
    if (isinstance(target, str) and target and state.target_link_uri
            and target.rstrip("/") != state.target_link_uri.rstrip("/")):
        raise LaunchError(400, "target_link_uri_mismatch", "id_token.target_link_uri",
                          "The target_link_uri is not the one the login was started for.")
    _string_claim(claims, "sub", "id_token.sub", "sub_missing", "sub (user id)")
    roles = claims.get(LTI + "roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise LaunchError(400, "roles_missing", "id_token.roles",
                          "The id_token has no roles claim (a list).")
    launch = Launch(platform, claims, state.state, deployment_id, message_type, roles)
    if message_type == RESOURCE_LINK:
        _string_claim(launch.resource_link, "id", "id_token.resource_link.id",
                      "resource_link_missing", "resource_link.id")
    else:
        settings = launch.deep_linking
        return_url = settings.get("deep_link_return_url")
        if not isinstance(return_url, str) or url_scheme(return_url) not in ("http", "https"):
            raise LaunchError(400, "deep_linking_settings_missing",
                              "id_token.deep_linking_settings.deep_link_return_url",
                              "The deep-linking request has no return URL.")
        accepted = settings.get("accept_types")
        if isinstance(accepted, list) and "ltiResourceLink" not in accepted:
            raise LaunchError(400, "deep_linking_type_unsupported",
                              "id_token.deep_linking_settings.accept_types",
                              "The platform does not accept LTI resource links here.")
    context = launch.context
    if context:
        _string_claim(context, "id", "id_token.context.id", "context_missing", "context.id")
        launch.memberships_url = memberships_url(claims)
    return launch


def memberships_url(claims: dict[str, Any]) -> str | None:
    """The context_memberships_url of the Names and Role Provisioning Services claim, when
    it offers version 2.0 at a URL we would call (https, or http on loopback). A claim that
    is not usable is logged and ignored: the launch goes on, only the roster import is not
    offered."""
    claim = claims.get(NRPS_CLAIM)
    if claim is None:
        return None
    problem = ""
    url = claim.get("context_memberships_url") if isinstance(claim, dict) else None
    versions = claim.get("service_versions") if isinstance(claim, dict) else None
    if not isinstance(claim, dict):
        problem = "is not an object"
    elif not isinstance(versions, list) or NRPS_VERSION not in versions:
        problem = f"offers service versions {versions!r}, not {NRPS_VERSION!r}"
    else:
        try:
            url = registry.check_url(url, "context_memberships_url")
        except SpecError as err:
            problem = f"{err.path} {err.message}"
    if problem:
        log.warning("launch from %s: the names and roles claim %s: ignored (no roster "
                    "import for this course)", claims.get("iss"), problem[:300])
        return None
    return url
