"""A small LTI 1.3 platform of our own, served on 127.0.0.1 in a thread, for the tests.

It does what Canvas or Moodle do for a tool, with real keys and real HTTP:
- `/jwks`: its public keys (RSA made with cryptography; `rotate_key()` switches to a new
  kid; `jwks_mode` "ok" | "hang" | "error" simulates an outage);
- `/auth`: the OIDC authorization endpoint: checks the tool's redirect, builds and signs
  an id_token (RS256, real LTI claims) for the user of `login_hint` and the launch of
  `lti_message_hint`, and answers with a page that auto-posts it back to the tool;
- `/token`: client credentials with a JWT assertion, checked against the tool's JWKS;
- `/lineitems` (list, create), `/lineitems/<n>` and `/lineitems/<n>/scores`, which records
  every score and can be told to fail (`score_faults`: "500", "timeout", "409",
  "record_then_500", "401", "400"), and keeps the grade the way a platform does (a score
  older than the stored one, or as old, gets 409);
- `/deep_link_return`: verifies the tool's LtiDeepLinkingResponse and keeps its items;
- `/memberships/<context>`: the course roster (Names and Role Provisioning Services 2.0,
  whose claim every launch with a context carries): `members` (each user added is an Active
  member; `add_member` adds others), `page_size` pages with `Link: <...>; rel="next"`, a
  token with the NRPS scope required (`nrps_enabled` False: the token endpoint refuses that
  scope), every request kept in `roster_requests`, and `roster_faults` ("500", "403",
  "401", "not_json", "timeout", "next_elsewhere", "next_other_port") for what goes wrong;
- LTI Dynamic Registration: `/.well-known/openid-configuration` (its OpenID configuration,
  behind `registration_token`) and `/register`, which checks the tool's client metadata,
  keeps it (`registrations`), and gives the tool a new client id and deployment id that its
  launches then use; `configuration_mode` and `registration_faults` simulate what goes wrong;
- LTI client-side postMessage storage (1EdTech "LTI Client Side postMessages"): `storage`
  per sender origin, with `post_message()` answering lti.put_data / lti.get_data /
  lti.capabilities as the platform's frame would (for the Flask test client), and `/course`,
  a course page that embeds the tool in an iframe and answers the same messages in
  JavaScript (from a named frame `/storage_frame`, or from the page itself for `_parent`),
  for the browser tests. `storage_target`, when set, is sent back in the launch form, as
  Canvas does.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
MEMBERSHIPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTRUCTOR = [ROLE + "Instructor",
              "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Faculty"]
LEARNER = [ROLE + "Learner", "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"]
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Key:
    """An RSA key pair and its kid."""

    private: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def make(cls) -> Key:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                   "platform-" + secrets.token_hex(6))

    @property
    def pem(self) -> bytes:
        return self.private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
                "e": _b64(numbers.e), "n": _b64(numbers.n)}


@dataclass
class User:
    sub: str
    name: str
    email: str | None
    roles: list[str]


@dataclass
class LaunchSpec:
    """What the platform launches for an `lti_message_hint`."""

    message_type: str = "LtiResourceLinkRequest"
    context_id: str = "course-1"
    context_title: str = "Deep Learning 101"
    context_label: str = "DL101"
    resource_link_id: str | None = "link-1"
    resource_link_title: str = "Week 1 quiz"
    custom: dict[str, Any] = field(default_factory=dict)
    lineitem: str | None = None  # a line item URL for the AGS claim
    with_lineitems: bool = True
    scopes: list[str] = field(default_factory=lambda: [SCOPE_SCORE, SCOPE_LINEITEM,
                                                       SCOPE_RESULT])
    ags: bool = True
    # The names and roles claim: the platform's own memberships URL unless `memberships_url`
    # names another; `nrps` False leaves the claim out.
    nrps: bool = True
    memberships_url: str | None = None
    nrps_versions: list[str] = field(default_factory=lambda: ["2.0"])


@dataclass
class ScoreRecord:
    """One score POST as the platform saw it."""

    lineitem: str
    path: str
    query: str
    content_type: str
    authorization: str
    payload: dict[str, Any]
    status: int


class Platform:
    """The test platform (see the module docstring). Use as a context manager."""

    def __init__(self, *, client_id: str = "cnnquiz-client", deployment_id: str = "deploy-1",
                 redirect_uri: str = "http://localhost/lti/launch",
                 tool_jwks: Callable[[], dict[str, Any]] | str | None = None) -> None:
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.redirect_uri = redirect_uri
        self.tool_jwks = tool_jwks
        self.key = Key.make()
        self.published: list[Key] = [self.key]
        self.jwks_mode = "ok"
        self.jwks_hits = 0
        self._release = threading.Event()
        self.users: dict[str, User] = {}
        self.launches: dict[str, LaunchSpec] = {"default": LaunchSpec()}
        self.line_items: dict[str, dict[str, Any]] = {}
        self.line_item_posts = 0
        self.line_item_gets = 0
        self.scores: list[ScoreRecord] = []
        self.grades: dict[tuple[str, str], dict[str, Any]] = {}
        self.score_faults: list[str] = []
        self.token_faults: list[str] = []
        self.token_requests: list[dict[str, Any]] = []
        self.tokens: dict[str, set[str]] = {}
        self.used_jti: set[str] = set()
        self.deep_links: list[dict[str, Any]] = []
        self.storage: dict[str, dict[str, str]] = {}  # sender origin -> key -> value
        self.messages: list[dict[str, Any]] = []  # every postMessage received (post_message)
        self.storage_target: str | None = None
        self.errors: list[str] = []
        self.registration_token: str | None = "reg-" + secrets.token_hex(8)
        self.configuration_mode = "ok"  # or "500", "not_json", "huge", "wrong_issuer",
        #                       "no_lti", "no_deep_linking", "odd_messages", "bad_urls", "hang"
        self.registration_faults: list[str] = []  # "400", "no_deployment", "no_client_id"
        self.registrations: list[dict[str, Any]] = []
        self.product = "moodle"
        self.timeout_seconds = 3.0  # the "timeout" fault: past the tool's LTI_HTTP_TIMEOUT
        self.members: list[dict[str, Any]] = []  # the roster (NRPS members)
        self.page_size = 0  # members per roster page; 0: all on one
        self.nrps_enabled = True
        self.roster_faults: list[str] = []
        self.roster_requests: list[dict[str, str]] = []
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.port = self._server.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ------------------------------------------------------------ life cycle

    def __enter__(self) -> Platform:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ what the tool registers

    @property
    def issuer(self) -> str:
        return self.base

    @property
    def auth_url(self) -> str:
        return f"{self.base}/auth"

    @property
    def token_url(self) -> str:
        return f"{self.base}/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.base}/jwks"

    @property
    def lineitems_url(self) -> str:
        return f"{self.base}/lineitems"

    def memberships_url(self, context_id: str = "course-1") -> str:
        return f"{self.base}/memberships/{context_id}"

    @property
    def return_url(self) -> str:
        return f"{self.base}/deep_link_return"

    @property
    def origin(self) -> str:
        """The origin of the authorization URL: where the tool's postMessages must go."""
        return self.base

    @property
    def openid_configuration_url(self) -> str:
        return f"{self.base}/.well-known/openid-configuration"

    def registration(self) -> dict[str, Any]:
        """The fields of the tool's platform registration form."""
        return {"name": "Test LMS", "issuer": self.issuer, "client_id": self.client_id,
                "auth_login_url": self.auth_url, "token_url": self.token_url,
                "key_set_url": self.jwks_url, "deployment_ids": self.deployment_id}

    # ------------------------------------------------------------ set-up helpers

    def add_user(self, login_hint: str, sub: str, name: str, email: str | None,
                 roles: list[str]) -> User:
        user = User(sub, name, email, roles)
        self.users[login_hint] = user
        self.add_member(sub, name, email, roles)
        return user

    def add_member(self, sub: str, name: str | None, email: str | None, roles: list[str],
                   status: str | None = "Active") -> dict[str, Any]:
        """A member of the course roster (a `status` of None leaves the field out)."""
        member: dict[str, Any] = {"user_id": sub, "roles": list(roles)}
        if name:
            member["name"] = name
            given, _, family = name.partition(" ")
            member.update(given_name=given, family_name=family)
        if email:
            member["email"] = email
        if status is not None:
            member["status"] = status
        self.members.append(member)
        return member

    def add_line_item(self, label: str, score_maximum: float, resource_id: str | None = None,
                      resource_link_id: str | None = None, tag: str | None = None,
                      query: str = "") -> str:
        """A line item as the platform would make it (e.g. from a deep-linking lineItem);
        its URL (with `query` appended, as Moodle's carry one)."""
        number = len(self.line_items) + 1
        url = f"{self.base}/lineitems/{number}" + (f"?{query}" if query else "")
        self.line_items[str(number)] = {"id": url, "label": label,
                                        "scoreMaximum": score_maximum,
                                        "resourceId": resource_id,
                                        "resourceLinkId": resource_link_id, "tag": tag}
        return url

    def rotate_key(self, keep_old: bool = False) -> Key:
        """Sign with a new key (a new kid); the old one is dropped unless `keep_old`."""
        self.key = Key.make()
        self.published = ([*self.published, self.key] if keep_old else [self.key])
        return self.key

    def grade_of(self, sub: str) -> dict[str, Any] | None:
        """The latest score the platform kept for `sub` (any line item)."""
        found = [v for (_, user), v in self.grades.items() if user == sub]
        return found[-1] if found else None

    # ------------------------------------------------------------ id tokens

    def claims(self, login_hint: str, nonce: str, spec: LaunchSpec | None = None
               ) -> dict[str, Any]:
        """The claims of an id_token for a user and a launch (all valid)."""
        spec = spec or self.launches["default"]
        user = self.users[login_hint]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.client_id, "sub": user.sub,
            "exp": now + 300, "iat": now, "nonce": nonce,
            "name": user.name,
            LTI + "deployment_id": self.deployment_id,
            LTI + "message_type": spec.message_type,
            LTI + "version": "1.3.0",
            LTI + "roles": user.roles,
            LTI + "target_link_uri": self.redirect_uri,
            LTI + "context": {"id": spec.context_id, "label": spec.context_label,
                              "title": spec.context_title,
                              "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"]},
            LTI + "tool_platform": {"guid": "test-platform", "name": "Test LMS",
                                    "product_family_code": "test"},
            LTI + "launch_presentation": {"document_target": "window"},
        }
        if user.email:
            claims["email"] = user.email
        if spec.custom:
            claims[LTI + "custom"] = dict(spec.custom)
        if spec.nrps:
            claims[NRPS] = {"context_memberships_url": (spec.memberships_url
                                                        or self.memberships_url(spec.context_id)),
                            "service_versions": list(spec.nrps_versions)}
        if spec.message_type == "LtiResourceLinkRequest":
            claims[LTI + "resource_link"] = {"id": spec.resource_link_id,
                                             "title": spec.resource_link_title}
            if spec.ags:
                endpoint: dict[str, Any] = {"scope": list(spec.scopes)}
                if spec.with_lineitems:
                    endpoint["lineitems"] = self.lineitems_url
                if spec.lineitem:
                    endpoint["lineitem"] = spec.lineitem
                claims[AGS] = endpoint
        else:
            claims[DL + "deep_linking_settings"] = {
                "deep_link_return_url": self.return_url,
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": False, "accept_lineitem": True,
                "data": "opaque-platform-data",
            }
        return claims

    def sign(self, claims: dict[str, Any], *, key: Key | None = None,
             headers: dict[str, Any] | None = None) -> str:
        key = key or self.key
        return jwt.encode(claims, key.pem, algorithm="RS256",
                          headers={"kid": key.kid, **(headers or {})})

    def id_token(self, login_hint: str, nonce: str, spec: LaunchSpec | None = None, /,
                 **changes: Any) -> str:
        """A signed id_token; `changes` replace claims (a value of ... removes the claim)."""
        claims = self.claims(login_hint, nonce, spec)
        for name, value in changes.items():
            name = name.replace("__", "/")
            if value is ...:
                claims.pop(name, None)
            else:
                claims[name] = value
        return self.sign(claims)

    # ------------------------------------------------------------ HTTP

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._route(request)
        except Exception as err:  # the tests read self.errors
            self.errors.append(f"{request.path}: {err!r}")
            response = Response(json.dumps({"error": "server_error",
                                            "error_description": str(err)}),
                                status=500, mimetype="application/json")
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path = request.path
        if path == "/jwks":
            return self._jwks()
        if path == "/auth":
            return self._auth(request)
        if path == "/token" and request.method == "POST":
            return self._token(request)
        if path == "/lineitems":
            return self._lineitems(request)
        match = re.fullmatch(r"/lineitems/(\d+)(/scores)?", path)
        if match:
            if match.group(2):
                return self._score(request, match.group(1))
            return self._lineitem(request, match.group(1))
        match = re.fullmatch(r"/memberships/([^/]+)", path)
        if match and request.method == "GET":
            return self._memberships(request, match.group(1))
        if path == "/deep_link_return" and request.method == "POST":
            return self._deep_link_return(request)
        if path == "/.well-known/openid-configuration":
            return self._openid_configuration(request)
        if path == "/register" and request.method == "POST":
            return self._register(request)
        if path == "/admin/register_tool":
            return self._register_tool_page(request)
        if path == "/course":
            return self._course_page(request)
        if path == "/storage_frame":
            return self._storage_frame()
        return Response("not found", status=404)

    @staticmethod
    def _json(body: Any, status: int = 200, mimetype: str = "application/json") -> Response:
        return Response(json.dumps(body), status=status, mimetype=mimetype)

    def _jwks(self) -> Response:
        self.jwks_hits += 1
        if self.jwks_mode == "hang":
            self._release.wait(10)
        if self.jwks_mode == "error":
            return Response("key service down", status=500)
        return self._json({"keys": [k.jwk for k in self.published]})

    def _auth(self, request: Request) -> Response:
        params = request.values
        expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
                    "prompt": "none", "client_id": self.client_id,
                    "redirect_uri": self.redirect_uri}
        for name, value in expected.items():
            if params.get(name) != value:
                self.errors.append(f"auth: {name}={params.get(name)!r}")
                return Response(f"bad {name}", status=400)
        if not params.get("state") or not params.get("nonce"):
            return Response("state and nonce required", status=400)
        login_hint = params.get("login_hint", "")
        if login_hint not in self.users:
            return Response("unknown login_hint", status=400)
        spec = self.launches.get(params.get("lti_message_hint") or "default")
        if spec is None:
            return Response("unknown lti_message_hint", status=400)
        token = self.id_token(login_hint, params["nonce"], spec)
        page = (
            "<!doctype html><html><body onload=\"document.forms[0].submit()\">"
            f"<form method=\"post\" action=\"{html.escape(self.redirect_uri)}\">"
            f"<input type=\"hidden\" name=\"id_token\" value=\"{html.escape(token)}\">"
            f"<input type=\"hidden\" name=\"state\" value=\"{html.escape(params['state'])}\">"
            + (f"<input type=\"hidden\" name=\"lti_storage_target\" "
               f"value=\"{html.escape(self.storage_target)}\">" if self.storage_target else "")
            + "<button type=\"submit\">Continue</button></form></body></html>"
        )
        return Response(page, mimetype="text/html")

    # ------------------------------------------------------------ platform storage

    def post_message(self, message: dict[str, Any], target_origin: str,
                     sender_origin: str) -> dict[str, Any] | None:
        """A postMessage from the tool's page (at `sender_origin`) to the platform's frame,
        with `target_origin` as the tool wrote it: None when a browser would not deliver
        it (the target origin is not ours), else the frame's answer, per the spec (data
        partitioned by the sender's origin; `.response` subject, same message_id)."""
        if target_origin != self.origin:
            return None  # window.postMessage drops it: not "*", not another origin
        self.messages.append({**message, "origin": sender_origin,
                              "target_origin": target_origin})
        subject = message.get("subject")
        answer: dict[str, Any] = {"subject": f"{subject}.response",
                                  "message_id": message.get("message_id")}
        if subject == "lti.capabilities":
            answer["supported_messages"] = [{"subject": "lti.put_data"},
                                            {"subject": "lti.get_data"}]
            return answer
        key = message.get("key")
        if subject not in ("lti.put_data", "lti.get_data") or not message.get("message_id"):
            answer["error"] = {"code": "unsupported_subject", "message": str(subject)}
            return answer
        if not isinstance(key, str) or not key:
            answer["error"] = {"code": "bad_request", "message": "key is required"}
            return answer
        store = self.storage.setdefault(sender_origin, {})
        answer["key"] = key
        if subject == "lti.put_data":
            value = message.get("value")
            if value is None:
                store.pop(key, None)
            else:
                store[key] = str(value)
            answer["value"] = value
        else:
            answer["value"] = store.get(key)
        return answer

    def _course_page(self, request: Request) -> Response:
        """A course page: the tool in an iframe (login initiation with lti_storage_target),
        and the platform's storage answering in JavaScript, from the frame
        `post_message_forwarding` (as Canvas names it) or, for `_parent`, this page."""
        target = request.args.get("target", "post_message_forwarding")
        src = request.args.get("src", "")
        # The tool's frame starts once the storage answers (its frame has loaded).
        start = f"document.getElementById('tool').src = {json.dumps(src)};"
        storage = ("" if target == "_parent" else
                   f"<iframe name=\"{html.escape(target)}\" src=\"/storage_frame\" "
                   f"style=\"display:none\" onload=\"{html.escape(start)}\"></iframe>")
        script = STORAGE_SCRIPT if target == "_parent" else ""
        page = (
            "<!doctype html><html><head><title>Test LMS course</title>"
            f"<script>{script}</script></head><body><h1>Deep Learning 101</h1>"
            "<iframe id=\"tool\" name=\"tool\" style=\"width:100%;height:640px\"></iframe>"
            + storage + (f"<script>{start}</script>" if target == "_parent" else "")
            + "</body></html>"
        )
        return Response(page, mimetype="text/html")

    def _register_tool_page(self, request: Request) -> Response:
        """The admin page of LTI Dynamic Registration, for the browser tests: the tool's
        registration URL (`url`) in a frame, opened with our configuration URL and a
        registration token; the tool's messages are kept in `window.ltiClosed`."""
        query = urlencode({"openid_configuration": self.openid_configuration_url,
                           "registration_token": self.registration_token or ""})
        src = request.args.get("url", "")
        src += ("&" if "?" in src else "?") + query
        script = ("window.ltiClosed = []; window.addEventListener('message', function (e) {"
                  " if (e.data && e.data.subject === 'org.imsglobal.lti.close') {"
                  " window.ltiClosed.push(e.origin);"
                  " document.getElementById('status').textContent = 'closed'; } });")
        page = (
            "<!doctype html><html><head><title>Test LMS: add a tool</title>"
            f"<script>{script}</script></head><body><h1>Register an LTI Advantage tool</h1>"
            "<p id=\"status\">registering</p>"
            f"<iframe id=\"tool\" src=\"{html.escape(src)}\" "
            "style=\"width:100%;height:640px\"></iframe></body></html>"
        )
        return Response(page, mimetype="text/html")

    def _storage_frame(self) -> Response:
        page = f"<!doctype html><html><head><script>{STORAGE_SCRIPT}</script></head></html>"
        return Response(page, mimetype="text/html")

    # ------------------------------------------------------------ the tool's keys and tokens

    def _tool_keys(self) -> dict[str, Any]:
        source = self.tool_jwks
        if callable(source):
            return source()
        assert isinstance(source, str), "the platform needs the tool's JWKS"
        with urllib.request.urlopen(source, timeout=5) as answer:
            return json.load(answer)

    def verify_tool_jwt(self, token: str, audience: str) -> dict[str, Any]:
        """A JWT signed by the tool, checked against the tool's JWKS (by kid)."""
        header = jwt.get_unverified_header(token)
        assert header.get("alg") == "RS256", header
        keys = {k["kid"]: k for k in self._tool_keys()["keys"]}
        jwk = keys[header["kid"]]
        key = jwt.PyJWK(jwk).key
        return jwt.decode(token, key, algorithms=["RS256"], audience=audience,
                          issuer=self.client_id, options={"require": ["exp", "iat"]})

    def _token(self, request: Request) -> Response:
        form = request.form
        self.token_requests.append(dict(form))
        if self.token_faults:
            fault = self.token_faults.pop(0)
            if fault == "500":
                return self._json({"error": "temporarily_unavailable"}, 500)
            if fault == "400":
                return self._json({"error": "invalid_client",
                                   "error_description": "unknown client"}, 400)
        if form.get("grant_type") != "client_credentials":
            return self._json({"error": "unsupported_grant_type"}, 400)
        if form.get("client_assertion_type") != (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"):
            return self._json({"error": "invalid_request"}, 400)
        try:
            claims = self.verify_tool_jwt(form.get("client_assertion", ""), self.token_url)
        except Exception as err:
            self.errors.append(f"token assertion: {err!r}")
            return self._json({"error": "invalid_client", "error_description": str(err)}, 401)
        if claims.get("sub") != self.client_id or not claims.get("jti"):
            return self._json({"error": "invalid_client", "error_description": "sub/jti"}, 401)
        if claims["jti"] in self.used_jti:
            return self._json({"error": "invalid_client", "error_description": "jti reused"}, 401)
        self.used_jti.add(claims["jti"])
        scopes = set(form.get("scope", "").split())
        allowed = {SCOPE_SCORE, SCOPE_LINEITEM, SCOPE_LINEITEM_READ, SCOPE_RESULT}
        if self.nrps_enabled:
            allowed.add(SCOPE_NRPS)
        if not scopes or not scopes <= allowed:
            return self._json({"error": "invalid_scope"}, 400)
        token = secrets.token_urlsafe(16)
        self.tokens[token] = scopes
        return self._json({"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                           "scope": " ".join(sorted(scopes))})

    # ------------------------------------------------------------ dynamic registration

    def _registration_token_ok(self, request: Request) -> bool:
        return self.registration_token is None or (
            request.headers.get("Authorization") == f"Bearer {self.registration_token}")

    def _openid_configuration(self, request: Request) -> Response:
        if not self._registration_token_ok(request):
            return self._json({"error": "invalid_token"}, 401)
        mode = self.configuration_mode
        if mode == "hang":
            self._release.wait(self.timeout_seconds)
        if mode == "500":
            return self._json({"error": "server_error",
                               "error_description": "configuration store down"}, 500)
        if mode == "not_json":
            return Response("<html>Moodle</html>", mimetype="text/html")
        if mode == "huge":
            return self._json({"issuer": self.issuer, "padding": "x" * (1 << 20)})
        messages = [{"type": "LtiResourceLinkRequest"}]
        if mode != "no_deep_linking":
            messages.append({"type": "LtiDeepLinkingRequest",
                             "placements": ["ContentArea"]})
        body: dict[str, Any] = {
            "issuer": "https://lms.elsewhere.example" if mode == "wrong_issuer" else self.issuer,
            "authorization_endpoint": self.auth_url,
            "registration_endpoint": f"{self.base}/register",
            "jwks_uri": self.jwks_url,
            "token_endpoint": self.token_url,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", SCOPE_SCORE, SCOPE_LINEITEM, SCOPE_LINEITEM_READ],
            "response_types_supported": ["id_token"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            "subject_types_supported": ["public", "pairwise"],
        }
        if mode != "no_lti":
            body["https://purl.imsglobal.org/spec/lti-platform-configuration"] = {
                "product_family_code": self.product, "version": "4.5",
                "messages_supported": 7 if mode == "odd_messages" else messages,
            }
        if mode == "bad_urls":
            body["jwks_uri"] = "https://[lms/jwks"
        return self._json(body)

    def _register(self, request: Request) -> Response:
        if not self._registration_token_ok(request):
            return self._json({"error": "invalid_token"}, 401)
        fault = self.registration_faults.pop(0) if self.registration_faults else ""
        if fault == "400":
            return self._json({"error": "invalid_client_metadata",
                               "error_description": "redirect_uris must be https"}, 400)
        body = request.get_json(silent=True)
        problems = self._check_client_metadata(body)
        if problems:
            self.errors.append(f"registration: {problems}")
            return self._json({"error": "invalid_client_metadata",
                               "error_description": "; ".join(problems)}, 400)
        self.registrations.append(body)
        self.client_id = f"dyn-client-{len(self.registrations)}"
        self.deployment_id = f"dyn-deploy-{len(self.registrations)}"
        tool = {**body["https://purl.imsglobal.org/spec/lti-tool-configuration"]}
        if fault != "no_deployment":
            tool["deployment_id"] = self.deployment_id
        reply = {**body, "client_id": self.client_id,
                 "https://purl.imsglobal.org/spec/lti-tool-configuration": tool}
        if fault == "no_client_id":
            del reply["client_id"]
        return self._json(reply)

    def _check_client_metadata(self, body: Any) -> list[str]:
        """What a platform checks of the tool's registration request (1EdTech LTI-DR)."""
        if not isinstance(body, dict):
            return ["not a JSON object"]
        problems = []
        for name, value in (("application_type", "web"),
                            ("token_endpoint_auth_method", "private_key_jwt")):
            if body.get(name) != value:
                problems.append(f"{name} must be {value}")
        if body.get("response_types") != ["id_token"]:
            problems.append("response_types must be [id_token]")
        if set(body.get("grant_types") or []) != {"implicit", "client_credentials"}:
            problems.append("grant_types")
        for name in ("initiate_login_uri", "jwks_uri", "client_name"):
            if not isinstance(body.get(name), str) or not body[name]:
                problems.append(f"{name} missing")
        if self.redirect_uri not in (body.get("redirect_uris") or []):
            problems.append("redirect_uris must hold the launch URL")
        if SCOPE_SCORE not in str(body.get("scope", "")).split():
            problems.append("scope must ask for scores")
        tool = body.get("https://purl.imsglobal.org/spec/lti-tool-configuration")
        if not isinstance(tool, dict):
            return [*problems, "lti-tool-configuration missing"]
        for name in ("domain", "target_link_uri"):
            if not tool.get(name):
                problems.append(f"lti-tool-configuration.{name} missing")
        if not any(m.get("type") == "LtiResourceLinkRequest" for m in tool.get("messages", [])):
            problems.append("no LtiResourceLinkRequest message")
        return problems

    def _authorized(self, request: Request, *scopes: str) -> bool:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        granted = self.tokens.get(token, set())
        return any(scope in granted for scope in scopes)

    # ------------------------------------------------------------ line items and scores

    def _lineitems(self, request: Request) -> Response:
        if request.method == "GET":
            if not self._authorized(request, SCOPE_LINEITEM, SCOPE_LINEITEM_READ):
                return self._json({"error": "unauthorized"}, 401)
            self.line_item_gets += 1
            items = list(self.line_items.values())
            for param, key in (("resource_id", "resourceId"), ("tag", "tag"),
                               ("resource_link_id", "resourceLinkId")):
                wanted = request.args.get(param)
                if wanted:
                    items = [i for i in items if i.get(key) in (wanted, None)]
            return self._json(items, mimetype="application/vnd.ims.lis.v2.lineitemcontainer+json")
        if request.method == "POST":
            if not self._authorized(request, SCOPE_LINEITEM):
                return self._json({"error": "unauthorized"}, 401)
            body = json.loads(request.get_data(as_text=True))
            if not isinstance(body.get("scoreMaximum"), int | float) or not body.get("label"):
                return self._json({"error": "invalid line item"}, 400)
            self.line_item_posts += 1
            url = self.add_line_item(body["label"], body["scoreMaximum"], body.get("resourceId"),
                                     body.get("resourceLinkId"), body.get("tag"))
            return self._json(self.line_items[url.rsplit("/", 1)[-1]], 201,
                              "application/vnd.ims.lis.v2.lineitem+json")
        return Response(status=405)

    def _lineitem(self, request: Request, number: str) -> Response:
        item = self.line_items.get(number)
        if item is None:
            return Response("no such line item", status=404)
        return self._json(item, mimetype="application/vnd.ims.lis.v2.lineitem+json")

    def _score(self, request: Request, number: str) -> Response:
        item = self.line_items.get(number)
        if item is None or request.method != "POST":
            return Response("no such line item", status=404)
        record = ScoreRecord(
            lineitem=item["id"], path=request.path, query=request.query_string.decode(),
            content_type=request.headers.get("Content-Type", ""),
            authorization=request.headers.get("Authorization", ""),
            payload=json.loads(request.get_data(as_text=True) or "{}"), status=0)
        self.scores.append(record)
        if not self._authorized(request, SCOPE_SCORE):
            record.status = 401
            return self._json({"error": "unauthorized"}, 401)
        fault = self.score_faults.pop(0) if self.score_faults else ""
        if fault == "timeout":
            time.sleep(self.timeout_seconds)
            record.status = 599
            return self._json({"error": "too late"}, 504)
        if fault in ("500", "401", "400", "409"):
            record.status = int(fault)
            message = {"500": "database unavailable", "401": "token expired",
                       "400": "Incorrect score received", "409": "conflict"}[fault]
            return self._json({"error": message}, int(fault))
        if record.content_type != SCORE_TYPE:
            record.status = 415
            return self._json({"error": "wrong content type"}, 415)
        problem = self._check_score(record.payload)
        if problem:
            record.status = 400
            return self._json({"error": problem}, 400)
        key = (item["id"], record.payload["userId"])
        stored = self.grades.get(key)
        moment = datetime.fromisoformat(record.payload["timestamp"])
        if stored is not None and datetime.fromisoformat(stored["timestamp"]) >= moment:
            record.status = 409
            return self._json({"error": "a score at least as new is stored"}, 409)
        self.grades[key] = dict(record.payload)
        if fault == "record_then_500":
            record.status = 500
            return self._json({"error": "stored, but the answer failed"}, 500)
        record.status = 200
        return Response("", status=200)

    @staticmethod
    def _check_score(payload: dict[str, Any]) -> str:
        for name in ("userId", "timestamp", "activityProgress", "gradingProgress"):
            if not payload.get(name):
                return f"{name} is required"
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00",
                            payload["timestamp"]):
            return "timestamp must be ISO 8601 with microseconds and a zone"
        if payload["activityProgress"] not in ("Initialized", "Started", "InProgress",
                                               "Submitted", "Completed"):
            return "bad activityProgress"
        if payload["gradingProgress"] not in ("FullyGraded", "Pending", "PendingManual",
                                              "Failed", "NotReady"):
            return "bad gradingProgress"
        if "scoreGiven" in payload:
            if not isinstance(payload.get("scoreMaximum"), int | float) or payload["scoreMaximum"] <= 0:
                return "scoreMaximum required with scoreGiven"
            if payload["scoreGiven"] < 0:
                return "scoreGiven must be >= 0"
        return ""

    # ------------------------------------------------------------ the roster (NRPS)

    def _memberships(self, request: Request, context_id: str) -> Response:
        self.roster_requests.append({
            "url": request.url, "accept": request.headers.get("Accept", ""),
            "authorization": request.headers.get("Authorization", "")})
        if not self._authorized(request, SCOPE_NRPS):
            return self._json({"error": "unauthorized",
                               "error_description": "a token with the NRPS scope is required"},
                              401)
        if MEMBERSHIPS_TYPE not in request.headers.get("Accept", ""):
            return self._json({"error": "not_acceptable"}, 406)
        fault = self.roster_faults.pop(0) if self.roster_faults else ""
        if fault == "timeout":
            time.sleep(self.timeout_seconds)
        if fault in ("500", "403", "401"):
            message = {"500": "roster service down",
                       "403": "the tool may not read this course's members",
                       "401": "token expired"}[fault]
            return self._json({"error": message}, int(fault))
        if fault == "not_json":
            return Response("<html>Maintenance</html>", mimetype="text/html")
        page = int(request.args.get("page", "1"))
        size = self.page_size or max(1, len(self.members))
        members = self.members[(page - 1) * size:page * size]
        headers = {}
        if page * size < len(self.members):
            following = f"{self.memberships_url(context_id)}?page={page + 1}"
            if fault == "next_elsewhere":
                following = f"http://lms.elsewhere.example/memberships/{context_id}?page={page + 1}"
            elif fault == "next_other_port":
                following = f"http://127.0.0.1:{self.port + 1}/memberships/{context_id}"
            headers["Link"] = f'<{following}>; rel="next"'
        body = {"id": request.url, "context": {"id": context_id, "label": "DL101",
                                               "title": "Deep Learning 101"},
                "members": members}
        return Response(json.dumps(body), status=200, mimetype=MEMBERSHIPS_TYPE,
                        headers=headers)

    # ------------------------------------------------------------ deep linking

    def _deep_link_return(self, request: Request) -> Response:
        token = request.form.get("JWT", "")
        try:
            claims = self.verify_tool_jwt(token, self.issuer)
        except Exception as err:
            self.errors.append(f"deep link: {err!r}")
            return Response(f"bad JWT: {err}", status=400)
        self.deep_links.append(claims)
        return Response("<p>Content added.</p>", mimetype="text/html")


# The platform's storage in the browser: answers lti.put_data / lti.get_data from any
# origin, keeping each sender origin's data apart, and records what it got (with the
# sender's origin) in window.ltiMessages for the test to read.
STORAGE_SCRIPT = """
window.ltiMessages = [];
var ltiStore = {};
window.addEventListener("message", function (event) {
  var data = event.data;
  if (!data || typeof data !== "object" || typeof data.subject !== "string") { return; }
  window.ltiMessages.push({subject: data.subject, key: data.key, value: data.value,
                           message_id: data.message_id, origin: event.origin});
  var store = ltiStore[event.origin] = ltiStore[event.origin] || {};
  var answer = {subject: data.subject + ".response", message_id: data.message_id};
  if (data.subject === "lti.capabilities") {
    answer.supported_messages = [{subject: "lti.put_data", frame: window.name || "_parent"},
                                 {subject: "lti.get_data", frame: window.name || "_parent"}];
  } else if (data.subject === "lti.put_data") {
    store[data.key] = data.value; answer.key = data.key; answer.value = data.value;
  } else if (data.subject === "lti.get_data") {
    answer.key = data.key;
    answer.value = Object.prototype.hasOwnProperty.call(store, data.key) ? store[data.key] : null;
  } else {
    return;
  }
  event.source.postMessage(answer, event.origin);
});
"""


# ---------------------------------------------------------------- helpers for tests


_INPUT = re.compile(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.S)
_FORM = re.compile(r'<form([^>]*)>(.*?)</form>', re.S)
_ACTION = re.compile(r'action="([^"]+)"')


# What a browser sends with a form posted from one of our own pages (frames.same_origin_request).
SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}


def form_of(page: str, form_id: str | None = None) -> tuple[str, dict[str, str]]:
    """A form of an HTML page (the first one, or the one with `form_id`): its action and
    its fields with values."""
    for attributes, body in _FORM.findall(page):
        if form_id is None or f'id="{form_id}"' in attributes:
            action = _ACTION.search(attributes)
            fields = {html.unescape(k): html.unescape(v) for k, v in _INPUT.findall(body)}
            return html.unescape(action.group(1)) if action else "", fields
    raise AssertionError(f"no form {form_id or ''} on the page")


def login_params(platform: Platform, login_hint: str, message_hint: str = "default",
                 **extra: str) -> dict[str, str]:
    """The query of a login initiation as the platform sends it."""
    params = {"iss": platform.issuer, "login_hint": login_hint,
              "target_link_uri": platform.redirect_uri, "lti_message_hint": message_hint,
              "client_id": platform.client_id, "lti_deployment_id": platform.deployment_id}
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


_ELEMENT = re.compile(r'<[a-z]+\b([^>]*\bid="([^"]+)"[^>]*)>', re.S)
_DATA = re.compile(r'\bdata-([a-z-]+)="([^"]*)"')


def data_of(page: str, element_id: str) -> dict[str, str]:
    """The data-* attributes of the element `element_id` of an HTML page (names as in the
    HTML: "state-key")."""
    for attributes, found in _ELEMENT.findall(page):
        if found == element_id:
            return {k: html.unescape(v) for k, v in _DATA.findall(attributes)}
    raise AssertionError(f"no element {element_id} on the page")


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 (to check the tool's kids independently of its code)."""
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"),
                           sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(
        b"=").decode()



# ---------------------------------------------------------------- the tool side of a test


TEST_CONFIG = {
    "BASE_URL": "http://localhost",
    "LTI_JWKS_REFRESH_COOLDOWN": 0.0,
    "LTI_JWKS_TIMEOUT": 0.5,
    # Room for a token or scores endpoint slowed by a loaded CI machine: a test that counts
    # faults must not see a slow answer turn into a timeout (the "timeout" fault sleeps longer).
    "LTI_HTTP_TIMEOUT": 2.0,
    "LTI_PASSBACK": "sync",
    "LTI_NEW_WINDOW": True,
}


class Harness:
    """Our app (Flask test client) and a running test platform, registered with each
    other."""

    def __init__(self, app: Any, platform: Platform) -> None:
        from grader.lti import launch

        self.app = app
        self.platform = platform
        app.config.update(TEST_CONFIG)
        launch.clear_key_cache()
        tool = app.test_client()
        platform.tool_jwks = lambda: tool.get("/lti/jwks").get_json()
        self.platform_id = ""

    def register(self, owner: Any = None, course: Any = None, **changes: Any) -> str:
        from grader.lti import registry

        data = {**self.platform.registration(), **changes}
        with self.app.app_context():
            self.platform_id = registry.register(data, owner=owner, course=course).public_id
        return self.platform_id

    def login(self, client: Any, login_hint: str, message_hint: str = "default",
              **extra: Any) -> Any:
        return client.get("/lti/login",
                          query_string=login_params(self.platform, login_hint, message_hint,
                                                    **extra))

    def start(self, client: Any, login_hint: str, message_hint: str = "default"
              ) -> tuple[str, str]:
        """A login initiation: the state and nonce the tool sent to the platform."""
        response = self.login(client, login_hint, message_hint)
        assert response.status_code == 302, response.get_data(as_text=True)
        query = query_of(response.headers["Location"])
        return query["state"], query["nonce"]

    TOOL_ORIGIN = "http://localhost"

    def storage_login(self, client: Any, login_hint: str, message_hint: str = "default",
                      target: str = "post_message_forwarding") -> dict[str, str]:
        """A login initiation with lti_storage_target: the storage page's data (its
        #lti-storage attributes), after doing what its script does: lti.put_data of the
        state and the nonce to the platform's frame (each answered)."""
        response = self.login(client, login_hint, message_hint, lti_storage_target=target)
        assert response.status_code == 200, response.get_data(as_text=True)
        data = data_of(response.get_data(as_text=True), "lti-storage")
        for name in ("state", "nonce"):
            answer = self.platform.post_message(
                {"subject": "lti.put_data", "key": data[f"{name}-key"], "value": data[name],
                 "message_id": f"put-{name}"}, data["origin"], self.TOOL_ORIGIN)
            assert answer is not None and "error" not in answer, answer
        return data

    def storage_read(self, page: str) -> dict[str, str]:
        """What the launch page's script posts: its form's fields, with the state and the
        nonce read back from the platform's frame (lti.get_data, as that page asks)."""
        data = data_of(page, "lti-storage")
        fields = form_of(page, "lti-storage-launch")[1]
        for name in ("state", "nonce"):
            answer = self.platform.post_message(
                {"subject": "lti.get_data", "key": data[f"{name}-key"],
                 "message_id": f"get-{name}"}, data["origin"], self.TOOL_ORIGIN)
            fields[f"stored_{name}"] = (answer or {}).get("value") or ""
        return fields

    def confirm(self, client: Any, fields: dict[str, str], **headers: str) -> Any:
        """The launch page's same-origin POST to /lti/launch/confirm."""
        headers = headers or {"Origin": self.TOOL_ORIGIN, "Sec-Fetch-Site": "same-origin"}
        return client.post("/lti/launch/confirm", data=fields, headers=headers)

    def storage_launch(self, client: Any, login_hint: str, message_hint: str = "default"
                       ) -> Any:
        """The whole flow in a browser that keeps no cookie (`client` made with
        use_cookies=False), with the platform's storage: login page and lti.put_data, the
        platform's authorization endpoint (over HTTP), the launch page and lti.get_data,
        and the confirming POST; its response."""
        import requests

        data = self.storage_login(client, login_hint, message_hint)
        page = requests.get(data["next"], timeout=5)
        assert page.status_code == 200, page.text
        action, fields = form_of(page.text)
        checking = client.post(urlsplit(action).path, data=fields)
        assert checking.status_code == 200, checking.get_data(as_text=True)
        return self.confirm(client, self.storage_read(checking.get_data(as_text=True)))

    def post(self, client: Any, token: str | None, state: str | None) -> Any:
        data = {k: v for k, v in (("id_token", token), ("state", state)) if v is not None}
        return client.post("/lti/launch", data=data, headers={"Accept": "application/json"})

    def launch(self, client: Any, login_hint: str, message_hint: str = "default") -> Any:
        """The whole flow: login initiation, the platform's real authorization endpoint
        (over HTTP), and the auto-posted form back to the tool."""
        import requests

        response = self.login(client, login_hint, message_hint)
        assert response.status_code == 302, response.get_data(as_text=True)
        page = requests.get(response.headers["Location"], timeout=5)
        assert page.status_code == 200, page.text
        action, fields = form_of(page.text)
        assert action == self.platform.redirect_uri
        return client.post(urlsplit(action).path, data=fields)


# ---------------------------------------------------------------- fixtures the LTI tests share
# (`platform` and `lti`: import the *_fixture names into a test module; a module may define
# its own `platform` instead)


@contextmanager
def course_platform() -> Iterator[Platform]:
    """A running platform with a teacher ("teacher") and a learner ("learner")."""
    with Platform() as running:
        running.add_user("teacher", "sub-teacher", "Ada Teacher", "ada@lms.example", INSTRUCTOR)
        running.add_user("learner", "sub-learner", "Lee Learner", "lee@lms.example", LEARNER)
        yield running


@pytest.fixture(name="platform")
def platform_fixture() -> Iterator[Platform]:
    with course_platform() as running:
        yield running


@pytest.fixture(name="lti")
def lti_fixture(app: Any, platform: Platform, instructor: Any) -> Harness:
    """The app with `platform` registered (owned by the instructor)."""
    harness = Harness(app, platform)
    harness.register(owner=instructor)
    return harness
