"""LTI 1.3 tool: OIDC login, launch, deep linking, our key set, and grade passback (AGS).

Two blueprints: `lti` (/lti: what the platform and the browser coming from it call; no
CSRF token there, the state, nonce and signed id_token protect it) and `lti_admin`
(/teach/lti: instructors' pages for platforms, tool URLs and the grade sync log).
`init_app(app)` registers both, the settings' defaults and the flask commands, and installs
the session interface that lets a session begun by an LTI launch live in an LMS frame
(grader.lti.frames).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask

bp = Blueprint("lti", __name__, url_prefix="/lti", static_folder="static",
               static_url_path="/static")
admin_bp = Blueprint("lti_admin", __name__, url_prefix="/teach/lti")


def _env(name: str, default: Any, kind: Callable[[str], Any] = int) -> Any:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return kind(value)


DEFAULTS: dict[str, tuple[Any, Callable[[str], Any]]] = {
    # Login state (and so nonce) lifetime; the id_token's iat may not be older either.
    "LTI_STATE_TTL": (300, int),
    "LTI_CLOCK_LEEWAY": (60, int),
    # The platforms' key sets: fetch timeout, cache lifetime, and the shortest gap between
    # two forced refetches for an unknown kid (one refetch per gap per platform and worker).
    "LTI_JWKS_TIMEOUT": (5.0, float),
    "LTI_JWKS_LIFESPAN": (300, int),
    "LTI_JWKS_REFRESH_COOLDOWN": (5.0, float),
    # Token, line-item and score requests to the platform.
    "LTI_HTTP_TIMEOUT": (10.0, float),
    # After a commit that queued scores: "thread" (a background attempt), "sync" (in the
    # request, for tests and single-process setups) or "off" (the worker alone).
    "LTI_PASSBACK": ("thread", str),
    "LTI_RETRY_BASE": (30, int),
    "LTI_RETRY_MAX": (3600, int),
    "LTI_MAX_ATTEMPTS": (12, int),
    "LTI_DEEP_LINK_TTL": (1800, int),
    # Lifetime of an instructor's LTI Dynamic Registration link (single use).
    "LTI_REGISTRATION_TTL": (86400, int),
    # Platform URLs must be https, except on loopback hosts, unless this is set.
    "LTI_ALLOW_HTTP": (False, lambda v: str(v).strip().lower() in ("1", "true", "yes", "on")),
    # Ask the LMS to open deep-linked sets in a new window (a session cookie works there).
    "LTI_NEW_WINDOW": (True, lambda v: str(v).strip().lower() in ("1", "true", "yes", "on")),
    # Over HTTPS, the cookies of a session begun by a launch (and the login state cookie) are
    # SameSite=None; Secure, and Partitioned (CHIPS) unless this is off.
    "LTI_PARTITIONED_COOKIES": (True, lambda v: str(v).strip().lower() in ("1", "true", "yes",
                                                                            "on")),
    # Lifetime of the "Open in a new window" ticket offered when a frame keeps no cookie.
    "LTI_WINDOW_TTL": (300, int),
    "LTI_TOOL_TITLE": ("CNN Quiz", str),
}


def init_app(app: Flask) -> None:
    """Register the LTI blueprints and commands, with settings from the environment."""
    from grader.extensions import csrf
    from grader.lti import admin, commands, routes  # noqa: F401  (registers the views)
    from grader.lti.frames import FrameSessionInterface

    for name, (default, kind) in DEFAULTS.items():
        app.config.setdefault(name, _env(name, default, kind))
    app.session_interface = FrameSessionInterface()
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
    commands.register(app)
